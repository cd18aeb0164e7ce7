"""The board keeps itself up to date card by card, without a reload, at phone and desktop widths."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select

from billing.models import Invoice, InvoiceStatus, db, utcnow
from tests.browser.conftest import screenshot
from tests.browser.test_invoices import column, settled, world  # noqa: F401 (fixture)
from tests.factories import insert_invoices


def test_cards_move_on_facture_envoyee_and_when_a_payment_arrives(sized_page, live_server, world):
    page, app = sized_page, live_server.app
    app.config["BOARD_POLL_SECONDS"] = 1
    with app.app_context():
        insert_invoices(world["client"], count=2, status=InvoiceStatus.TO_SEND)
        db.session.commit()
        first, second = db.session.scalars(select(Invoice.id).order_by(Invoice.id)).all()
    page.goto(live_server.url + "/")
    page.evaluate("window.__marker = 'same page'")

    column(page, "sending").locator(f"#card-{first}").get_by_role(
        "button", name="Facture envoyée"
    ).click()
    follow_up = column(page, "follow_up")
    expect(follow_up.locator(f"#card-{first}")).to_contain_text("Paiement attendu")
    expect(page.locator("#tab-sending small")).to_have_text("1")
    expect(page.locator("#totals-follow_up")).to_contain_text("1 facture")
    settled(page)
    screenshot(page, "board-refresh-01-moved")

    with app.app_context():  # e.g. a Stripe payment recorded by a webhook
        invoice = db.session.get(Invoice, second)
        invoice.status, invoice.paid_cents, invoice.updated_at = (
            InvoiceStatus.PAID, invoice.total_cents, utcnow())
        db.session.commit()
    archives = page.locator("#cards-archives")
    expect(archives.locator(f"#card-{second}")).to_contain_text("Payée", timeout=10_000)
    expect(page.locator("#cards-sending .invoice-card")).to_have_count(0)
    expect(page.locator("#column-sending .empty-column")).to_be_visible()
    assert page.evaluate("window.__marker") == "same page"
