"""The business row: its creation with sensible defaults, and reading it."""

from __future__ import annotations

from sqlalchemy import select

from billing.models import Business, Country, db

FRENCH_LATE_PAYMENT_TEXT = (
    "En cas de retard de paiement, des pénalités de retard sont exigibles au taux "
    "de trois fois le taux d'intérêt légal, ainsi qu'une indemnité forfaitaire pour "
    "frais de recouvrement de 40 € (art. L441-10 et D441-5 du Code de commerce). "
    "Pas d'escompte pour paiement anticipé."
)
VAT_EXEMPT_MENTION = "TVA non applicable, art. 293 B du CGI"

DEFAULT_SUBJECT = "Facture {numero}"
DEFAULT_BODY = (
    "Bonjour {client},\n\n"
    "Veuillez trouver ci-joint la facture {numero} d'un montant de {montant}, "
    "payable au plus tard le {echeance}.\n\n"
    "Vous pouvez la consulter et la régler en ligne : {lien}\n\n"
    "Merci de votre confiance."
)


def business() -> Business:
    """The one business row (created with the owner account)."""
    found = db.session.scalar(select(Business).order_by(Business.id).limit(1))
    if found is None:
        raise LookupError("No business yet: create the owner account first.")
    return found


def create_business(name: str, email: str, country: Country = Country.FR) -> Business:
    row = Business(
        name=name,
        email=email,
        country=country,
        email_subject_template=DEFAULT_SUBJECT,
        email_body_template=DEFAULT_BODY,
    )
    apply_country_defaults(row)
    db.session.add(row)
    db.session.flush()
    return row


def apply_country_defaults(row: Business) -> None:
    """Fill what a business of its country is expected to have, where still empty."""
    defaults = {
        Country.FR: ("EUR", "Europe/Paris", FRENCH_LATE_PAYMENT_TEXT),
        Country.BE: ("EUR", "Europe/Brussels", ""),
        Country.CA_QC: ("CAD", "America/Toronto", ""),
    }
    if row.country not in defaults:
        return
    currency, tz, late_text = defaults[row.country]
    row.currency = row.currency or currency
    row.timezone = row.timezone or tz
    if not row.late_payment_text:
        row.late_payment_text = late_text
