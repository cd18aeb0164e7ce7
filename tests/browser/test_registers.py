"""« Facturier email » in a real browser on a phone: pick two invoices, « Envoyer par email », and
watch the progress page reach 2 / 2 as the outbox delivers them to a real SMTP server."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from billing import invoices, outbox, settings
from billing.models import Message, SmtpSecurity, db
from tests.browser.conftest import screenshot
from tests.browser.test_foundation import create_owner, log_in, open_menu
from tests.browser.test_invoices import fits_the_screen
from tests.conftest import TODAY as DAY
from tests.factories import make_client, make_invoice


@pytest.fixture
def two_to_send(live_server, smtp_server):
    """Two invoices « À envoyer » of clients by email, and SMTP pointed at the test server."""
    app = live_server.app
    create_owner(app)
    with app.app_context():
        business = settings.business()
        business.smtp_host, business.smtp_port = smtp_server.host, smtp_server.port
        business.smtp_security, business.smtp_sender = SmtpSecurity.NONE, "factures@atelier.fr"
        numbers = []
        for name, address in [("Boulangerie Martin", "compta@martin.fr"),
                              ("Café Lune", "a@lune.fr")]:
            invoice = make_invoice(make_client(name, emails=(address,)), today=DAY)
            invoices.finalize(invoice, DAY)
            numbers.append(invoice.number)
        db.session.commit()
    return numbers


@pytest.mark.parametrize("sized_page", ["phone"], indirect=True)
def test_two_invoices_sent_from_the_email_register(sized_page, live_server, smtp_server,
                                                   two_to_send):
    page = sized_page
    log_in(page, live_server.url)
    open_menu(page, "Facturier")
    page.get_by_role("navigation", name="Registres").get_by_role("link", name="Facturier email").click()
    expect(page.get_by_role("heading", name="Facturier email")).to_be_visible()
    expect(page.get_by_text("Non envoyée", exact=True)).to_have_count(2)
    for number in two_to_send:
        page.get_by_label(number).check()
    fits_the_screen(page)
    screenshot(page, "register-email-selected")

    page.get_by_role("button", name="Envoyer par email").click()
    expect(page.get_by_role("heading", name="Envoi par email")).to_be_visible()
    expect(page.locator(".batch-count")).to_have_text("0 / 2 envoyées")
    expect(page.get_by_text("En traitement", exact=True)).to_have_count(2)
    screenshot(page, "register-batch-processing")

    with live_server.app.app_context():
        assert outbox.deliver_due() == 2
    expect(page.locator(".batch-count")).to_have_text("2 / 2 envoyées", timeout=10_000)
    expect(page.get_by_text("Envoyée au client", exact=True)).to_have_count(2)
    assert sorted(mail.rcpt_tos[0] for mail in smtp_server.messages) == [
        "a@lune.fr", "compta@martin.fr"
    ]
    fits_the_screen(page)
    screenshot(page, "register-batch-done")

    page.get_by_role("link", name="← Facturier email").click()
    expect(page.get_by_text("Non envoyée", exact=True)).to_have_count(0)
    expect(page.locator("tr.sent .badge.ok", has_text="Envoyée le")).to_have_count(2)


@pytest.mark.parametrize("sized_page", ["phone"], indirect=True)
def test_one_invoice_opens_the_send_modal_with_its_text(sized_page, live_server, two_to_send):
    page = sized_page
    log_in(page, live_server.url)
    page.goto(live_server.url + "/registers/email")
    page.get_by_label(two_to_send[0]).check()
    page.get_by_role("button", name="Envoyer par email").click()
    dialog = page.get_by_role("dialog", name=f"Envoyer la facture {two_to_send[0]}")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Titre")).to_have_value(f"Facture {two_to_send[0]}")
    assert page.url.endswith("/registers/email")


@pytest.mark.parametrize("sized_page", ["phone"], indirect=True)
def test_a_double_click_on_envoyer_par_email_sends_the_batch_once(sized_page, live_server,
                                                                  two_to_send):
    page = sized_page
    log_in(page, live_server.url)
    page.goto(live_server.url + "/registers/email")
    for number in two_to_send:
        page.get_by_label(number).check()
    page.get_by_role("button", name="Envoyer par email").dblclick()
    expect(page.locator(".batch-count")).to_have_text("0 / 2 envoyées")
    page.wait_for_load_state("networkidle")  # a second request, if any, has been answered
    with live_server.app.app_context():
        batches = db.session.scalars(select(Message.batch)).all()
    assert len(batches) == 2 and len(set(batches)) == 1
