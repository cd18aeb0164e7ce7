"""The first day with Facturier in a real browser, at phone and desktop widths.

setup → login → taxes → a client with two emails → a catalog item → a job, each
seen in its list; a bad form answered in French; and a screenshot tour of every
page that also checks nothing is wider than the screen and no button is too
small to tap.
"""

from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlalchemy import func, select

from billing import accounts, settings, taxes
from billing.models import Client, Country, db
from tests.browser.conftest import WIDTHS, screenshot
from tests.factories import make_client, make_item, make_job

EMAIL = "marie@example.fr"
PASSWORD = "un mot de passe long"


def flat(text: str) -> str:
    """Collapse every kind of space (no-break, narrow no-break) into one plain space."""
    return " ".join(text.split())


def log_in(page, base_url: str) -> None:
    page.goto(base_url + "/login")
    page.get_by_label("Adresse email").fill(EMAIL)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    expect(page.get_by_role("heading", name="Facturation", exact=True)).to_be_visible()


def open_menu(page, name: str) -> None:
    page.get_by_role("navigation", name="Navigation principale").get_by_role(
        "link", name=name, exact=True
    ).click()


def create_owner(app) -> None:
    with app.app_context():
        accounts.create_owner(EMAIL, PASSWORD, "Marie Conseil")
        db.session.commit()


def client_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Client))


def test_first_day_from_setup_to_every_list(sized_page, live_server):
    page = sized_page
    base = live_server.url

    page.goto(base + "/")
    expect(page).to_have_url(re.compile(r"/setup$"))
    screenshot(page, "01-setup")
    page.get_by_label("Adresse email").fill(EMAIL)
    page.get_by_label("Mot de passe", exact=True).fill(PASSWORD)
    page.get_by_label("Mot de passe (encore)").fill(PASSWORD)
    page.get_by_label("Nom de l'entreprise").fill("Marie Conseil")
    page.get_by_role("button", name="Créer mon compte").click()
    expect(page).to_have_url(re.compile(r"/settings/$"))
    expect(page.get_by_role("status")).to_contain_text("Bienvenue")

    page.get_by_role("button", name="Déconnexion").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_role("status")).to_contain_text("Vous êtes déconnecté.")
    screenshot(page, "02-login")
    log_in(page, base)
    for column in ("Préparation", "Envoi", "Suivi", "Archives"):
        expect(page.get_by_role("heading", name=column, exact=True)).to_be_attached()
    screenshot(page, "03-board")

    open_menu(page, "Paramètres")
    page.get_by_role("navigation", name="Sections des paramètres").get_by_role(
        "link", name="Taxes", exact=True
    ).click()
    expect(page.get_by_text("Aucune taxe pour l'instant.")).to_be_visible()
    page.get_by_role("button", name=re.compile("^Ajouter les taxes de France")).click()
    expect(page.get_by_role("status")).to_contain_text("Taxes ajoutées")
    rows = page.locator("#taxes table.list tbody tr")
    expect(rows).to_have_count(4)
    for name in ("TVA 20 %", "TVA 10 %", "TVA 5,5 %", "TVA 2,1 %"):
        expect(rows.filter(has_text=name)).to_have_count(1)
    screenshot(page, "04-taxes")

    open_menu(page, "Clients")
    page.get_by_role("link", name="Nouveau client").click()
    page.get_by_label("Nom", exact=True).fill("Boulangerie Martin")
    page.get_by_label("Adresses email de facturation").fill("a@x.fr; b@y.fr")
    screenshot(page, "05-client-form")
    page.get_by_role("button", name="Sauvegarder").click()
    expect(page).to_have_url(re.compile(r"/clients/\d+$"))
    expect(page.get_by_role("heading", name="Boulangerie Martin")).to_be_visible()
    expect(page.locator("dl.facts")).to_contain_text("a@x.fr, b@y.fr")
    screenshot(page, "06-client-page")

    open_menu(page, "Clients")
    results = page.locator("#client-results")
    expect(results.get_by_role("link", name="Boulangerie Martin")).to_be_visible()
    page.evaluate("window.__marker = 'same page'")
    search = page.get_by_role("searchbox", name="Rechercher")
    search.fill("plomberie")
    expect(results).to_contain_text("Aucun client ne correspond à « plomberie ».")
    search.fill("boulan")
    expect(results.get_by_role("link", name="Boulangerie Martin")).to_be_visible()
    expect(page).to_have_url(re.compile(r"q=boulan"))
    assert page.evaluate("window.__marker") == "same page"
    screenshot(page, "07-clients-search")

    open_menu(page, "Produits et services")
    page.get_by_role("link", name="Nouveau produit ou service").click()
    page.get_by_label("Nom", exact=True).fill("Conseil (journée)")
    page.get_by_label("Unité").fill("jour")
    page.get_by_label("Prix unitaire").fill("1 234,50")
    page.get_by_role("checkbox", name=re.compile(r"^TVA 20 %")).check()
    screenshot(page, "08-item-form")
    page.get_by_role("button", name="Sauvegarder").click()
    expect(page).to_have_url(re.compile(r"/catalog/$"))
    row = page.locator("#results tbody tr").filter(has_text="Conseil (journée)")
    expect(row).to_have_count(1)
    assert "1 234,50 €" in flat(row.locator("td.num").inner_text())
    expect(row).to_contain_text("TVA 20 %")
    screenshot(page, "09-catalog")

    open_menu(page, "Dossiers")
    expect(page.get_by_text("Aucun dossier.")).to_be_visible()
    page.get_by_role("link", name="Nouveau dossier").click()
    page.get_by_label("Nom du dossier").fill("Refonte du site")
    page.get_by_label("Client", exact=True).select_option(label="Boulangerie Martin")
    page.get_by_role("button", name="Sauvegarder").click()
    expect(page.get_by_role("heading", name="Boulangerie Martin")).to_be_visible()
    expect(page.get_by_role("link", name="Refonte du site")).to_be_visible()
    open_menu(page, "Dossiers")
    job = page.locator("#job-results tbody tr").filter(has_text="Refonte du site")
    expect(job).to_contain_text("Boulangerie Martin")
    expect(job).to_contain_text("Ouvert")
    screenshot(page, "10-jobs")


def test_malformed_email_among_three_is_refused_in_french_and_kept(sized_page, live_server):
    page = sized_page
    create_owner(live_server.app)
    log_in(page, live_server.url)
    open_menu(page, "Clients")
    page.get_by_role("link", name="Nouveau client").click()

    typed = "a@x.fr, pas-une-adresse, c@z.fr"
    page.get_by_label("Nom", exact=True).fill("<script>alert(1)</script> Atelier")
    page.get_by_label("Adresses email de facturation").fill(typed)
    page.get_by_role("button", name="Sauvegarder").click()

    emails = page.get_by_label("Adresses email de facturation")
    error = page.locator(".field.has-error", has=emails).locator(".error")
    expect(error).to_have_text("Adresse email invalide : pas-une-adresse")
    expect(emails).to_have_attribute("aria-describedby", "emails-error")
    expect(emails).to_have_value(typed)
    expect(page.get_by_label("Nom", exact=True)).to_have_value("<script>alert(1)</script> Atelier")
    screenshot(page, "client-form-errors")
    assert client_count(live_server.app) == 0


def seed_a_busy_business(app) -> dict:
    """An owner, French taxes, clients with long names and many emails, items, jobs."""
    create_owner(app)
    with app.app_context():
        tva = taxes.add_preset(taxes.preset(Country.FR), settings.business())[0]
        main = make_client(
            "Établissements Dupont-Lefebvre et Associés (siège social de Clermont-Ferrand)",
            emails=("comptabilite.fournisseurs@dupont-lefebvre-associes.fr",
                    "direction.administrative@dupont-lefebvre-associes.fr", "a@x.fr"),
            address="12 rue des Longues-Rues-Interminables\n63000 Clermont-Ferrand",
            company_number="123456789", vat_number="FR12123456789",
            notes="Facturer en fin de mois.",
        )
        make_client("Boulangerie Martin", emails=("compta@martin.fr",), parent=main)
        make_client("Papeterie Lenoir", emails=(), by_email=False)
        item = make_item(
            "Accompagnement stratégique et conduite du changement (forfait trimestriel)",
            unit_price_cents=1_234_550, unit="forfait", tax_rates=[tva],
            description="Ateliers, entretiens individuels, restitution écrite et suivi mensuel "
            "pendant trois mois, déplacements compris dans toute la région.",
        )
        make_item("Conseil (heure)", unit_price_cents=9_000, unit="heure", tax_rates=[tva])
        make_job(main, "Refonte complète du site internet et de l'intranet des agences")
        make_job(main, "Audit")
        db.session.commit()
        return {"client": main.id, "item": item.id, "tax": tva.id}


# Buttons and navigation links a thumb must hit: at least 40 px high.
SMALL_TARGETS = """() => [...document.querySelectorAll('button, a.button, nav a, .actions > a')]
    .filter(e => e.offsetParent !== null && e.getBoundingClientRect().height < 40)
    .map(e => e.textContent.trim())"""


def test_screenshot_tour(sized_page, live_server):
    """Every page at both widths: screenshots for a person to look at, none wider than the
    screen, no button too small to tap."""
    page = sized_page
    width = WIDTHS[page.width_name]["width"]
    base = live_server.url
    too_wide: dict[str, int] = {}
    too_small: dict[str, list[str]] = {}

    def visit(name: str, path: str | None = None, status: int = 200) -> None:
        if path is not None:
            response = page.goto(base + path)
            assert response.status == status, path
        page.wait_for_load_state()  # styles applied before measuring
        page_width = page.evaluate("document.documentElement.scrollWidth")
        if page_width > width:
            too_wide[name] = page_width
        small = page.evaluate(SMALL_TARGETS)
        if small:
            too_small[name] = small
        screenshot(page, f"tour-{name}")

    visit("setup", "/setup")
    ids = seed_a_busy_business(live_server.app)
    visit("login", "/login")
    log_in(page, base)
    visit("board", "/")
    visit("clients", "/clients/")
    visit("client", f"/clients/{ids['client']}")
    visit("client-edit", f"/clients/{ids['client']}/edit")
    visit("client-new", "/clients/new")
    page.get_by_label("Adresses email de facturation").fill("a@x.fr, pas-une-adresse, c@z.fr")
    page.get_by_label("Délai de paiement (jours)").fill("-3")
    page.get_by_role("button", name="Sauvegarder").click()
    expect(page.locator(".field.has-error")).to_have_count(3)
    visit("client-form-errors")
    visit("jobs", "/jobs/")
    visit("job-new", f"/jobs/new?client_id={ids['client']}")
    visit("catalog", "/catalog/")
    visit("catalog-item", f"/catalog/{ids['item']}/edit")
    visit("catalog-new", "/catalog/new")
    visit("picker", "/catalog/picker?q=conseil")
    visit("settings-business", "/settings/")
    visit("settings-billing", "/settings/billing")
    visit("settings-taxes", "/settings/taxes/")
    visit("settings-tax-edit", f"/settings/taxes/{ids['tax']}/edit")
    visit("settings-emails", "/settings/emails")
    visit("settings-payment", "/settings/payment")
    visit("settings-account", "/settings/account")
    page.expected_statuses.add(404)
    visit("404", "/clients/999999", status=404)
    assert not too_wide, f"pages wider than the {width} px screen: {too_wide}"
    assert not too_small, f"buttons or links under 40 px high: {too_small}"
