"""An invoice's life in a real browser, at phone and desktop widths.

From the board: a new draft, a client, a catalog line and a free line, totals
that follow without a reload; finalized, downloaded as a PDF, marked sent, and
seen moving across the board's columns. A quantity that is not a number is
answered in French and changes nothing. A screenshot tour of the invoice pages
with long names checks nothing is wider than a phone or too small to tap.
"""

from __future__ import annotations

import io
import re
import time
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from pypdf import PdfReader

from billing import invoices, settings
from billing.models import Client, Invoice, InvoiceLine, TaxRate, db
from tests.browser.conftest import WIDTHS, screenshot
from tests.browser.test_foundation import SMALL_TARGETS, create_owner, flat, log_in
from tests.factories import make_client, make_invoice, make_item, make_job, make_tax_rate


@pytest.fixture
def world(live_server, sized_page):
    """An owner logged in through the login page; a French business with TVA 20 %, a client
    with an email and a catalog item at 600,00 € HT carrying that rate."""
    app = live_server.app
    create_owner(app)
    with app.app_context():
        tva = make_tax_rate("TVA 20 %", 20_000)
        client = make_client("Boulangerie Martin", emails=("compta@martin.fr",))
        make_item("Conseil (journée)", unit_price_cents=60_000, unit="jour", tax_rates=[tva])
        db.session.commit()
        ids = {"client": client.id, "tax": tva.id, "year": settings.today().year}
    log_in(sized_page, live_server.url)
    return ids


def settled(page) -> None:
    """Wait until htmx has finished swapping: new content gets its listeners ~20 ms after it
    appears, when htmx takes off its `htmx-added` class."""
    expect(
        page.locator(".htmx-request, .htmx-swapping, .htmx-settling, .htmx-added")
    ).to_have_count(0)


def fits_the_screen(page) -> None:
    """No page wider than the screen, no button or link too small for a thumb."""
    width = WIDTHS[page.width_name]["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width, page.url
    assert page.evaluate(SMALL_TARGETS) == [], page.url


def column(page, key: str):
    """A column of the board; on a phone, reached through its tab like a thumb would."""
    if page.width_name == "phone":
        page.locator(f'.board-tabs a[href="#column-{key}"]').click()
    section = page.locator(f"#column-{key}")
    expect(section).to_be_in_viewport(ratio=0.9)
    return section


def go_to_board(page) -> None:
    page.get_by_role("link", name="← Facturation").click()
    expect(page.get_by_role("heading", name="Facturation", exact=True)).to_be_visible()


def totals_row(page, name: str):
    return page.locator("#totals tr").filter(has=page.get_by_role("rowheader", name=name))


def test_an_invoice_from_the_board_to_awaiting_payment(sized_page, live_server, world):
    page = sized_page
    app = live_server.app
    number = f"F-{world['year']}-0001"

    expect(column(page, "preparation")).to_contain_text("Aucune facture pour le moment.")
    page.get_by_role("button", name="Nouvelle facture").click()
    expect(page.get_by_role("heading", name="Brouillon de facture")).to_be_visible()
    page.evaluate("window.__marker = 'same page'")

    page.get_by_label("Client", exact=True).select_option(label="Boulangerie Martin")
    expect(page.locator("#invoice-summary")).to_contain_text("Boulangerie Martin")
    settled(page)

    page.get_by_placeholder("Rechercher un produit ou un service").fill("conseil")
    pick = page.locator("#picker-results").get_by_role("button", name=re.compile("Conseil"))
    expect(pick).to_be_visible()
    settled(page)
    pick.click()
    lines = page.locator("form.line")
    expect(lines).to_have_count(1)
    expect(lines.first.get_by_label("Description")).to_have_value("Conseil (journée)")
    expect(totals_row(page, "Total TTC")).to_contain_text("720,00 €")
    settled(page)

    page.get_by_role("button", name="Ajouter une ligne libre").click()
    expect(lines).to_have_count(2)
    settled(page)
    free = lines.nth(1)
    free.get_by_label("Description").fill("Atelier de restitution")
    free.get_by_label("Quantité").fill("1,5")
    free.get_by_label("Prix unitaire").fill("200")
    free.get_by_role("checkbox", name=re.compile(r"^TVA 20 %")).check()
    expect(free.locator(".line-net")).to_contain_text("300,00 €")
    expect(totals_row(page, "Total HT")).to_contain_text("900,00 €")
    expect(totals_row(page, "TVA 20 % (20 %)")).to_contain_text("180,00 €")
    expect(totals_row(page, "Total TTC")).to_contain_text("1 080,00 €")
    expect(page.locator("#save-state")).to_have_text("Enregistré")
    assert page.evaluate("window.__marker") == "same page"
    fits_the_screen(page)
    screenshot(page, "invoice-01-editor")

    go_to_board(page)
    card = column(page, "preparation").locator(".invoice-card")
    expect(card).to_have_count(1)
    expect(card).to_contain_text("Brouillon")
    expect(card).to_contain_text("1 080,00 €")
    card.get_by_role("link").click()
    page.get_by_role("button", name="Finaliser la facture").click()
    expect(page.get_by_role("heading", name=f"Facture {number}")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text(f"Facture finalisée : numéro {number}.")
    expect(page.locator("#invoice-badges")).to_have_text("À envoyer")

    go_to_board(page)
    expect(page.locator("#column-preparation .invoice-card")).to_have_count(0)
    card = column(page, "sending").locator(".invoice-card")
    expect(card).to_contain_text(number)
    expect(card).to_contain_text("Boulangerie Martin")
    fits_the_screen(page)
    screenshot(page, "invoice-02-board-sending")

    card.get_by_role("link", name=number).click()
    expect(page.locator('.steps a[aria-current="page"]')).to_have_text("Envoi")
    fits_the_screen(page)
    screenshot(page, "invoice-03-sending")
    with page.expect_download() as download:
        page.get_by_role("link", name="Télécharger la facture").click()
    assert download.value.suggested_filename.endswith(".pdf")
    data = download.value.path().read_bytes()
    assert data.startswith(b"%PDF")
    text = flat(" ".join(each.extract_text() for each in PdfReader(io.BytesIO(data)).pages))
    assert number in text
    assert "1 080,00" in text

    page.get_by_role("button", name="Facture envoyée").click()
    expect(page.get_by_role("status")).to_contain_text("Facture marquée comme envoyée.")
    expect(page.locator("#invoice-badges")).to_have_text("Paiement attendu")
    expect(page.locator('.steps a[aria-current="page"]')).to_have_text("Suivi")
    expect(page.locator("ol.history")).to_contain_text("Marquée comme envoyée")
    fits_the_screen(page)
    screenshot(page, "invoice-04-follow-up")

    go_to_board(page)
    expect(page.locator("#column-sending .invoice-card")).to_have_count(0)
    card = column(page, "follow_up").locator(".invoice-card")
    expect(card).to_contain_text(number)
    expect(card.locator(".badge")).to_have_text("Paiement attendu")
    fits_the_screen(page)
    screenshot(page, "invoice-05-board-follow-up")

    with app.app_context():
        invoice = db.session.scalar(db.select(Invoice))
        assert (invoice.number, invoice.total_cents) == (number, 108_000)


def test_a_quantity_that_is_not_a_number_is_refused_in_french_and_kept(
    sized_page, live_server, world
):
    page = sized_page
    app = live_server.app
    with app.app_context():
        client = db.session.get(Client, world["client"])
        rate = db.session.get(TaxRate, world["tax"])
        invoice = make_invoice(client, lines=((1, 10_000),), taxes=(rate,))
        db.session.commit()
        invoice_id, line_id = invoice.id, invoice.lines[0].id

    page.goto(f"{live_server.url}/invoices/{invoice_id}")
    expect(totals_row(page, "Total TTC")).to_contain_text("120,00 €")
    quantity = page.get_by_label("Quantité")
    quantity.fill("abc")

    error = page.locator(f"#line-{line_id}-quantity-errors")
    expect(error).to_have_text("Quantité invalide : utilisez des chiffres, par exemple 1,5.")
    expect(page.locator("#save-state")).to_have_text("Non enregistré : corrigez le champ signalé.")
    expect(quantity).to_have_value("abc")
    expect(quantity).to_have_attribute("aria-describedby", f"line-{line_id}-quantity-errors")
    expect(quantity).to_have_attribute("aria-invalid", "true")
    expect(totals_row(page, "Total TTC")).to_contain_text("120,00 €")
    fits_the_screen(page)
    screenshot(page, "invoice-line-error")
    with app.app_context():
        line = db.session.get(InvoiceLine, line_id)
        assert (line.quantity_millis, line.invoice.total_cents) == (1000, 12_000)

    quantity.fill("2")
    expect(error).to_be_empty()
    expect(quantity).not_to_have_attribute("aria-invalid", "true")
    expect(totals_row(page, "Total TTC")).to_contain_text("240,00 €")


def test_invoice_pages_with_long_names_fit_the_screen(sized_page, live_server, world):
    """Screenshots of the editor, the steps, the board and the archives with long names and
    amounts: nothing wider than the screen, nothing too small to tap."""
    page = sized_page
    base = live_server.url
    with live_server.app.app_context():
        tva = db.session.get(TaxRate, world["tax"])
        client = make_client(
            "Établissements Dupont-Lefebvre et Associés (siège social de Clermont-Ferrand)",
            emails=("comptabilite.fournisseurs@dupont-lefebvre-associes.fr",),
        )
        job = make_job(client, "Refonte complète du site internet et de l'intranet des agences")
        today = settings.today()
        draft = make_invoice(
            client,
            lines=((1.5, 1_234_550), (12, 9_000), (0.25, 99_999_99)),
            taxes=(tva,),
            today=today,
            job=job,
            reference="BC-2026-000123456",
        )
        draft.lines[0].description = (
            "Accompagnement stratégique et conduite du changement (forfait trimestriel) : "
            "ateliers, entretiens individuels, restitution écrite et suivi mensuel."
        )
        late = make_invoice(
            client, lines=((3, 1_234_550),), taxes=(tva,), today=today - timedelta(days=60)
        )
        invoices.finalize(late, today - timedelta(days=60))
        invoices.mark_sent(late)
        to_send = make_invoice(client, lines=((2, 45_000),), taxes=(tva,), today=today)
        invoices.finalize(to_send, today)
        cancelled = make_invoice(client, lines=((1, 75_000),), taxes=(tva,), today=today)
        invoices.finalize(cancelled, today)
        note = invoices.cancel(cancelled, today)
        db.session.commit()
        ids = {"draft": draft.id, "late": late.id, "to_send": to_send.id, "note": note.id}

    def visit(name: str, path: str) -> None:
        page.goto(base + path)
        fits_the_screen(page)
        screenshot(page, f"invoice-tour-{name}")

    visit("board", "/")
    expect(page.locator("#column-follow_up .badge.danger")).to_have_text("En retard")
    expect(page.locator("#column-archives .invoice-card")).to_have_count(2)
    visit("editor", f"/invoices/{ids['draft']}")
    visit("sending", f"/invoices/{ids['to_send']}?step=sending")
    visit("follow-up", f"/invoices/{ids['late']}?step=follow_up")
    visit("editor-sent", f"/invoices/{ids['late']}?step=preparation")
    visit("credit-note", f"/invoices/{ids['note']}?step=preparation")
    expect(page.get_by_role("heading", name=re.compile("^Avoir AV-"))).to_be_visible()
    visit("archives", "/archives/")
    expect(page.locator("#archive-results tbody tr")).to_have_count(4)


def test_typing_is_kept_when_the_network_drops_and_saved_when_the_phone_sleeps(
    sized_page, live_server, world
):
    page = sized_page
    app = live_server.app
    with app.app_context():
        client = db.session.get(Client, world["client"])
        invoice = make_invoice(client, lines=((1, 10_000),))
        db.session.commit()
        invoice_id, line_id = invoice.id, invoice.lines[0].id
    page.goto(f"{live_server.url}/invoices/{invoice_id}")
    description = page.locator(f"#line-{line_id}").get_by_label("Description")
    settled(page)

    page.expected_errors += ["htmx:sendError", "htmx:afterRequest", "ERR_INTERNET_DISCONNECTED"]
    page.context.set_offline(True)  # the train enters a tunnel
    description.fill("Écrit hors ligne")
    expect(page.locator("#save-state")).to_contain_text("connexion perdue")
    expect(description).to_have_value("Écrit hors ligne")
    page.context.set_offline(False)  # back: the form saves itself again
    expect(page.locator("#save-state")).to_have_text("Enregistré")
    with app.app_context():
        assert db.session.get(InvoiceLine, line_id).description == "Écrit hors ligne"

    # Typed, then the phone is put to sleep before the autosave's pause is over.
    description.press_sequentially(" puis en veille")
    page.evaluate("""() => {
        Object.defineProperty(document, 'visibilityState', {value: 'hidden', configurable: true});
        document.dispatchEvent(new Event('visibilitychange'));
    }""")
    page.wait_for_timeout(50)  # less than the autosave's 800 ms pause: the beacon did it
    page.close()  # the page is gone: only the beacon could have saved
    with app.app_context():
        for _ in range(50):  # the beacon's request may still be on its way
            if db.session.get(InvoiceLine, line_id).description.endswith("en veille"):
                break
            db.session.rollback()
            time.sleep(0.1)
        assert db.session.get(InvoiceLine, line_id).description == "Écrit hors ligne puis en veille"
