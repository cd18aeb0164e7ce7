"""« Ajouter un paiement » in a real browser, at phone and desktop widths: from a Suivi card
of the board (the card follows, no reload) and from the invoice page (a refusal, then Suivi)."""

from __future__ import annotations

from playwright.sync_api import expect

from billing import invoices, settings
from billing.models import Client, Invoice, InvoiceStatus, db
from tests.browser.conftest import screenshot
from tests.browser.test_invoices import column, fits_the_screen, settled, world  # noqa: F401
from tests.factories import make_invoice


def sent_invoice(app, client_id) -> int:
    """A sent invoice of 1 000,00 € for the world's client."""
    with app.test_request_context():
        invoice = make_invoice(db.session.get(Client, client_id), lines=[(1, 100_000)])
        invoices.finalize(invoice, settings.today())
        invoices.mark_sent(invoice)
        db.session.commit()
        return invoice.id


def test_payments_from_a_suivi_card_move_it_without_a_reload(sized_page, live_server, world):
    page, app = sized_page, live_server.app
    invoice_id = sent_invoice(app, world["client"])
    page.goto(live_server.url + "/")
    page.evaluate("window.__marker = 'same page'")

    card = column(page, "follow_up").locator(f"#card-{invoice_id}")
    card.get_by_role("link", name="Ajouter un paiement").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Montant")).to_have_value("1000,00")
    settled(page)
    screenshot(page, "payment-01-dialog")
    fits_the_screen(page)
    dialog.get_by_label("Montant").fill("250")
    dialog.get_by_label("Méthode de paiement").select_option(label="Chèque")
    dialog.get_by_role("button", name="Ajouter le paiement").click()
    expect(dialog).to_have_count(0)
    card = page.locator(f"#cards-follow_up #card-{invoice_id}")
    expect(card).to_contain_text("Paiement partiel")
    expect(card).to_contain_text("Solde : 750,00 €")
    settled(page)

    card.get_by_role("link", name="Ajouter un paiement").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_label("Montant")).to_have_value("750,00")
    dialog.get_by_role("button", name="Ajouter le paiement").click()
    expect(page.locator(f"#cards-archives #card-{invoice_id}")).to_contain_text("Payée")
    assert page.evaluate("window.__marker") == "same page"
    with app.app_context():
        assert db.session.get(Invoice, invoice_id).status is InvoiceStatus.PAID


def test_an_over_payment_is_refused_in_the_dialog_then_suivi_lists_the_payment(
    sized_page, live_server, world
):
    page, app = sized_page, live_server.app
    invoice_id = sent_invoice(app, world["client"])
    page.goto(f"{live_server.url}/invoices/{invoice_id}?step=follow_up")
    page.get_by_role("link", name="Ajouter un paiement").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Montant").fill("2000")
    dialog.get_by_role("button", name="Ajouter le paiement").click()
    expect(dialog.locator("#amount-error")).to_contain_text("Le montant dépasse le solde dû")
    expect(dialog.get_by_label("Montant")).to_have_value("2000")
    settled(page)
    screenshot(page, "payment-02-refused")
    dialog.get_by_label("Montant").fill("400")
    dialog.get_by_label("Notes").fill("Virement reçu")
    dialog.get_by_role("button", name="Ajouter le paiement").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    payments = page.locator("#payments")
    expect(payments).to_contain_text("400,00 €")
    expect(payments).to_contain_text("Virement reçu")
    expect(page.locator("#invoice-badges")).to_contain_text("Paiement partiel")
    fits_the_screen(page)
    screenshot(page, "payment-03-follow-up")
