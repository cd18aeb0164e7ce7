"""« Relevé » in a real browser, at phone and desktop widths.

From the client page: « Créer » → « Relevé » opens the modal; « Début » and « Fin »
changed, « N'afficher que les factures impayées » checked, « Aperçu » shows the
statement under the form; « Envoyer le relevé » turns the modal into the send form,
whose « Aperçu » lists the statement's PDF; « Envoyer le message » brings back the
client page, and the outbox delivers the email to a real SMTP server. A client with
one invoice gets a greyed-out « Relevé » with the reason.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from email import message_from_bytes, policy

from playwright.sync_api import expect

from billing import invoices, outbox, payments, settings
from billing.models import PaymentMethod, SmtpSecurity, db
from tests.browser.conftest import screenshot
from tests.browser.test_foundation import EMAIL, create_owner, log_in
from tests.browser.test_invoices import fits_the_screen, settled
from tests.conftest import TODAY
from tests.factories import make_client, make_invoice


def issued(client, day, cents):
    invoice = make_invoice(client, lines=((1, cents),), issue_date=day,
                           due_date=day + timedelta(days=30))
    invoices.finalize(invoice, day)
    invoices.mark_sent(invoice)
    return invoice


def clients_with_invoices(app, smtp_server) -> dict:
    """SMTP set to the test server. Boulangerie Martin: F-2026-0001 (paid), F-2026-0002 and
    F-2026-0003 (open), F-2026-0004 in December; Solo: one invoice."""
    create_owner(app)
    with app.app_context():
        business = settings.business()
        business.smtp_host, business.smtp_port = smtp_server.host, smtp_server.port
        business.smtp_security, business.smtp_sender = SmtpSecurity.NONE, "factures@atelier.fr"
        martin = make_client("Boulangerie Martin", emails=("compta@martin.fr",))
        paid = issued(martin, date(2026, 2, 3), 10_000)
        payments.add(paid, date(2026, 2, 20), 10_000, PaymentMethod.CHEQUE, TODAY)
        issued(martin, date(2026, 3, 4), 20_000)
        issued(martin, date(2026, 6, 30), 30_000)
        issued(martin, date(2026, 7, 1), 40_000)
        solo = make_client("Solo", emails=("solo@x.fr",))
        issued(solo, date(2026, 7, 2), 1_000)
        db.session.commit()
        return {"martin": martin.id, "solo": solo.id}


def open_create_menu(page, url: str):
    page.goto(url)
    page.locator("details.create-menu summary").click()
    return page.locator(".create-menu-items")


def test_a_statement_from_the_client_page_to_the_clients_mailbox(sized_page, live_server, smtp_server):
    page = sized_page
    app = live_server.app
    ids = clients_with_invoices(app, smtp_server)
    log_in(page, live_server.url)

    menu = open_create_menu(page, f"{live_server.url}/clients/{ids['martin']}")
    menu.get_by_role("link", name="Relevé").click()
    dialog = page.locator("dialog#statement-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Début")).to_have_value("2026-01-01")
    expect(dialog.get_by_label("Fin")).to_have_value(settings_today(app).isoformat())
    settled(page)
    dialog.get_by_label("Début").fill("2026-02-01")
    dialog.get_by_label("Fin").fill("2026-06-30")
    dialog.get_by_label("N'afficher que les factures impayées").check()
    fits_the_screen(page)
    screenshot(page, "statement-01-modal")

    dialog.get_by_role("button", name="Aperçu").click()
    statement = dialog.locator("#statement")
    expect(statement).to_contain_text("du 01/02/2026 au 30/06/2026")
    expect(statement).to_contain_text("Solde dû au 30/06/2026")
    expect(statement).to_contain_text("500,00 €")
    expect(statement.locator("td.number")).to_have_text(["F-2026-0002", "F-2026-0003"])
    expect(statement).to_contain_text("1 facture réglée non détaillée.")
    expect(dialog.get_by_label("N'afficher que les factures impayées")).to_be_checked()
    settled(page)
    fits_the_screen(page)
    screenshot(page, "statement-02-preview")

    dialog.get_by_role("link", name="Envoyer le relevé").click()
    send = page.locator("dialog#send-dialog")
    expect(send.get_by_role("heading", name="Envoyer le relevé")).to_be_visible()
    expect(page.locator("dialog#statement-dialog")).to_have_count(0)
    expect(send.get_by_label("Destinataires")).to_have_value("compta@martin.fr")
    expect(send.get_by_label("Titre")).to_have_value("Relevé de compte")
    expect(send.get_by_label("Message", exact=True)).to_have_value(re.compile("du 01/02/2026 au 30/06/2026"))
    settled(page)
    send.get_by_label("M'envoyer le message en CCI").check()
    send.get_by_role("button", name="Aperçu").click()
    preview = send.locator("#send-preview")
    expect(preview).to_contain_text("Relevé-2026-02-01-2026-06-30.pdf")
    expect(preview).to_contain_text(EMAIL)
    settled(page)
    fits_the_screen(page)
    screenshot(page, "statement-03-send-preview")

    preview.get_by_role("button", name="Envoyer le message").click()
    expect(page.get_by_text("Relevé en cours d'envoi à compta@martin.fr.")).to_be_visible()
    expect(page).to_have_url(f"{live_server.url}/clients/{ids['martin']}")
    expect(page.locator("dialog")).to_have_count(0)

    with app.app_context():
        assert outbox.deliver_due() == 1
    [received] = smtp_server.messages
    assert sorted(received.rcpt_tos) == sorted(["compta@martin.fr", EMAIL])
    email = message_from_bytes(received.data, policy=policy.default)
    assert email["Subject"] == "Relevé de compte"
    assert [part.get_filename() for part in email.iter_attachments()] == [
        "Relevé-2026-02-01-2026-06-30.pdf"]


def test_the_statement_is_greyed_out_for_a_client_with_one_invoice(sized_page, live_server,
                                                                   smtp_server):
    page = sized_page
    ids = clients_with_invoices(live_server.app, smtp_server)
    log_in(page, live_server.url)
    menu = open_create_menu(page, f"{live_server.url}/clients/{ids['solo']}")
    button = menu.get_by_role("button", name="Relevé")
    expect(button).to_be_disabled()
    expect(menu).to_contain_text("ce client n'en a qu'une, envoyez-la directement.")
    fits_the_screen(page)
    screenshot(page, "statement-04-one-invoice")


def settings_today(app) -> date:
    with app.app_context():
        return settings.today()


def test_imprimer_prints_the_statement_page(sized_page, live_server, smtp_server):
    page = sized_page
    ids = clients_with_invoices(live_server.app, smtp_server)
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/clients/{ids['martin']}/statement?start=2026-01-01&end=2026-06-30")
    page.evaluate("window.print = () => { window.__printed = true; }")
    page.get_by_role("link", name="Imprimer").click()
    assert page.evaluate("window.__printed") is True
    assert page.url.endswith("end=2026-06-30")  # printed where it was, no navigation
