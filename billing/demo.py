"""Realistic demo data: a Paris consultant, French taxes, clients, a catalog and jobs.

`load()` runs one step per kind of data; each step returns what it created
in `Demo`, so a later step (invoices) can build on the earlier ones.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from sqlalchemy import func, select

from billing import accounts, settings, taxes
from billing.models import (
    Business,
    Client,
    Country,
    Item,
    Job,
    JobStatus,
    TaxRate,
    db,
)

DEMO_EMAIL = "demo@camille-laurent-conseil.fr"
VAT_NUMBER = "FR81841234560"


class DemoRefused(Exception):
    """A reason, in French, why the demo data was not loaded."""


@dataclass
class Demo:
    password: str | None = None
    taxes: dict[str, TaxRate] = field(default_factory=dict)
    clients: dict[str, Client] = field(default_factory=dict)
    items: dict[str, Item] = field(default_factory=dict)
    jobs: list[Job] = field(default_factory=list)


def load(force: bool = False) -> str:
    """Add the demo data (refused if clients exist, unless `force`); return a summary."""
    if not force and db.session.scalar(select(func.count()).select_from(Client)):
        raise DemoRefused(
            "La base contient déjà des clients : les données de démonstration n'ont pas été "
            "ajoutées. Utilisez --force pour les ajouter quand même."
        )
    demo = Demo()
    demo.password = _owner()
    business = settings.business()
    _business(business)
    demo.taxes = _tax_rates(business)
    demo.clients = _clients()
    demo.items = _catalog(demo.taxes)
    demo.jobs = _jobs(demo.clients)
    db.session.flush()
    return _summary(demo)


def _owner() -> str | None:
    """Create the demo owner when there is none; return its new password."""
    if accounts.owner_exists():
        return None
    password = secrets.token_urlsafe(12)
    accounts.create_owner(DEMO_EMAIL, password, "Camille Laurent Conseil")
    return password


def _business(business: Business) -> None:
    business.name = "Camille Laurent Conseil"
    business.email = "contact@camille-laurent-conseil.fr"
    business.address = "18 rue de la Roquette\n75011 Paris\nFrance"
    business.phone = "+33 6 12 34 56 78"
    business.country = Country.FR
    business.currency = "EUR"
    business.timezone = "Europe/Paris"
    business.siren = "841234560"
    business.vat_number = VAT_NUMBER
    business.iban = "FR7630006000011234567890189"
    business.bic = "AGRIFRPPXXX"
    business.payment_terms_days = 30
    business.vat_exempt = False
    business.legal_footer = (
        "Camille Laurent Conseil, EURL au capital de 5 000 € — RCS Paris 841 234 560 — "
        f"TVA intracommunautaire {VAT_NUMBER}"
    )
    settings.apply_country_defaults(business)


def _tax_rates(business: Business) -> dict[str, TaxRate]:
    """The French VAT preset (20, 10, 5,5 and 2,1 %), with the business's VAT number."""
    taxes.add_preset(taxes.preset(Country.FR), business)
    return {rate.name: rate for rate in taxes.all_rates()}


def _clients() -> dict[str, Client]:
    group = Client(
        name="Groupe Hexalis",
        company_number="528140734",
        vat_number="FR61528140734",
        address="Tour Hexalis\n1 place de la Défense\n92400 Courbevoie",
        emails=["comptabilite@hexalis.fr", "achats@hexalis.fr"],
        payment_terms_days=45,
    )
    clients = [
        group,
        Client(
            name="Hexalis Services",
            parent=group,
            company_number="443061841",
            vat_number="FR64443061841",
            address="27 quai Perrache\n69002 Lyon",
            emails=["factures@hexalis-services.fr"],
            payment_terms_days=45,
        ),
        Client(
            name="Association Les Jardins du Onzième",
            address="5 passage Courtois\n75011 Paris",
            emails=["tresorerie@jardins-onze.org", "presidence@jardins-onze.org"],
            notes="Association loi 1901, RNA W751234567. Pas de numéro de TVA.",
        ),
        Client(
            name="Atelier Moreau",
            company_number="897654323",
            vat_number="FR93897654323",
            address="42 cours de l'Argonne\n33000 Bordeaux",
            emails=["contact@atelier-moreau.fr"],
            by_email=False,
            notes="Préfère recevoir les factures par courrier.",
        ),
        Client(
            name="Northwind Analytics Ltd",
            vat_number="IE6388047V",
            address="14 Fitzwilliam Square\nDublin 2, D02 X285\nIreland",
            emails=["accounts@northwind-analytics.ie"],
            language="en",
            notes="Autoliquidation de la TVA (client établi dans l'UE).",
        ),
        Client(
            name="Coopérative Boréale",
            company_number="1171234567",
            address="1250 rue Sainte-Catherine Ouest\nMontréal (Québec) H3G 1P1\nCanada",
            emails=["comptes@cooperative-boreale.ca"],
            currency="CAD",
            payment_terms_days=30,
        ),
    ]
    db.session.add_all(clients)
    return {client.name: client for client in clients}


def _catalog(taxes: dict[str, TaxRate]) -> dict[str, Item]:
    standard, books = [taxes["TVA 20 %"]], [taxes["TVA 5,5 %"]]
    items = [
        Item(name="Journée de conseil", unit="jour", unit_price_cents=65_000, tax_rates=standard,
             description="Accompagnement, ateliers et recommandations sur site ou à distance."),
        Item(name="Demi-journée de conseil", unit="demi-journée", unit_price_cents=35_000,
             tax_rates=standard),
        Item(name="Heure de développement", unit="heure", unit_price_cents=8_500,
             tax_rates=standard),
        Item(name="Forfait audit technique", unit="forfait", unit_price_cents=180_000,
             tax_rates=standard,
             description="Audit du code, de l'hébergement et de la sécurité, rapport écrit."),
        Item(name="Formation (journée)", unit="jour", unit_price_cents=110_000,
             tax_rates=standard, description="Jusqu'à 8 participants, supports fournis."),
        Item(name="Maintenance mensuelle", unit="mois", unit_price_cents=24_000,
             tax_rates=standard),
        Item(name="Frais de déplacement", unit="km", unit_price_cents=60, tax_rates=standard),
        Item(name="Livre « Piloter un projet numérique »", unit="exemplaire",
             unit_price_cents=2_900, tax_rates=books),
    ]
    db.session.add_all(items)
    return {item.name: item for item in items}


def _jobs(clients: dict[str, Client]) -> list[Job]:
    planned = [
        ("Groupe Hexalis", "Audit de sécurité 2025", JobStatus.CLOSED),
        ("Groupe Hexalis", "Schéma directeur du SI", JobStatus.OPEN),
        ("Hexalis Services", "Refonte de l'intranet", JobStatus.OPEN),
        ("Association Les Jardins du Onzième", "Site des adhérents", JobStatus.OPEN),
        ("Atelier Moreau", "Boutique en ligne", JobStatus.CLOSED),
        ("Northwind Analytics Ltd", "Data dashboard", JobStatus.OPEN),
        ("Coopérative Boréale", "Formation de l'équipe data", JobStatus.CLOSED),
    ]
    jobs = [Job(client=clients[owner], name=name, status=status) for owner, name, status in planned]
    db.session.add_all(jobs)
    return jobs


def _summary(demo: Demo) -> str:
    open_jobs = sum(job.status is JobStatus.OPEN for job in demo.jobs)
    lines = [
        f"Demo data loaded: {len(demo.clients)} clients, {len(demo.items)} catalog items, "
        f"{len(demo.taxes)} tax rates, {len(demo.jobs)} jobs ({open_jobs} open)."
    ]
    if demo.password:
        lines.append(f"Log in as {DEMO_EMAIL} with the password: {demo.password}")
    return "\n".join(lines)
