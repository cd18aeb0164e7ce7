"""An issued invoice in a real browser, at phone and desktop widths: its editor is read-only,
and « Corriger la facture » issues the credit note and opens the new draft, both on the board."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from billing.models import Invoice, InvoiceKind, db
from tests.browser.conftest import screenshot
from tests.browser.test_invoices import column, fits_the_screen, settled, world  # noqa: F401
from tests.browser.test_payments import sent_invoice


def test_an_issued_invoice_is_read_only_and_corrected_by_a_credit_note_and_a_new_draft(
    sized_page, live_server, world
):
    page, app = sized_page, live_server.app
    invoice_id = sent_invoice(app, world["client"])

    page.goto(f"{live_server.url}/invoices/{invoice_id}?step=preparation")
    expect(page.get_by_text("Cette facture a été envoyée : elle ne peut plus être modifiée.")).to_be_visible()
    expect(page.locator("#header-form")).to_have_count(0)
    expect(page.get_by_role("button", name="Ajouter une ligne libre")).to_have_count(0)
    settled(page)
    screenshot(page, "correct-01-read-only")
    fits_the_screen(page)

    page.get_by_role("link", name="Corriger la facture").first.click()
    expect(page.get_by_text(
        "Cette facture a été envoyée : la corriger émet un avoir qui l'annule et prépare une "
        "nouvelle facture à partir d'elle.")).to_be_visible()
    screenshot(page, "correct-02-confirm")
    fits_the_screen(page)
    page.get_by_role("button", name="Émettre l’avoir et préparer la nouvelle facture").click()

    expect(page.get_by_text(re.compile(r"annulée par l'avoir AV-\d{4}-0001"))).to_be_visible()
    expect(page.locator("#header-form")).to_be_visible()
    with app.app_context():
        draft = db.session.scalar(db.select(Invoice).where(Invoice.replaces_id == invoice_id))
        note = db.session.scalar(db.select(Invoice).where(Invoice.kind == InvoiceKind.CREDIT_NOTE))
        draft_id, note_id, note_number = draft.id, note.id, note.number
    assert page.url.endswith(f"/invoices/{draft_id}?step=preparation")
    screenshot(page, "correct-03-new-draft")

    page.goto(live_server.url + "/")
    expect(column(page, "preparation").locator(f"#card-{draft_id}")).to_be_visible()
    archived = column(page, "archives").locator(f"#card-{note_id}")
    expect(archived).to_contain_text(note_number)
    expect(column(page, "archives").locator(f"#card-{invoice_id}")).to_contain_text("Annulée")
    screenshot(page, "correct-04-board")
