"""Sending an invoice by email in a real browser, at phone and desktop widths.

« Envoyer la facture » opens the modal; « Titre » edited, « M'envoyer le message
en CCI » checked, a document attached; « Aperçu » shows the message next to the
form (the chosen file stays chosen); « Envoyer le message » closes the modal and
the invoice is on « Suivi » with the message *En traitement*. The outbox then
delivers it to a real SMTP server (*Envoyée au client*); the client opens the
link of the received email in another browser and the owner sees *Le client a
cliqué sur le lien*; the card sits in the Suivi column of the board.
"""

from __future__ import annotations

import re
from email import message_from_bytes, policy

from playwright.sync_api import expect

from billing import invoices, outbox, settings
from billing.models import SmtpSecurity, db
from tests.browser.conftest import WIDTHS, screenshot
from tests.browser.test_foundation import EMAIL, create_owner, log_in
from tests.browser.test_invoices import column, fits_the_screen, go_to_board, settled
from tests.factories import make_client, make_invoice

PDF_BYTES = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


def an_invoice_to_send(app, smtp_server) -> tuple[int, str]:
    """SMTP set to the test server; « À envoyer »: an invoice for Boulangerie Martin."""
    create_owner(app)
    with app.app_context():
        business = settings.business()
        business.smtp_host, business.smtp_port = smtp_server.host, smtp_server.port
        business.smtp_security, business.smtp_sender = SmtpSecurity.NONE, "factures@atelier.fr"
        invoice = make_invoice(make_client("Boulangerie Martin", emails=("compta@martin.fr",)),
                               lines=[(3, 60_000)])
        invoices.finalize(invoice, settings.today())
        db.session.commit()
        return invoice.id, invoice.number


def test_send_an_invoice_from_the_modal_to_the_client_click(
    sized_page, live_server, smtp_server, browser
):
    page = sized_page
    app = live_server.app
    invoice_id, number = an_invoice_to_send(app, smtp_server)
    log_in(page, live_server.url)

    page.goto(f"{live_server.url}/invoices/{invoice_id}")
    expect(page.locator('.steps a[aria-current="page"]')).to_have_text("Envoi")
    page.get_by_role("link", name="Envoyer la facture").click()
    dialog = page.locator("dialog#send-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading", name=f"Envoyer la facture {number}")).to_be_visible()
    expect(dialog.get_by_label("Destinataires")).to_have_value("compta@martin.fr")
    expect(dialog.get_by_label("Titre")).to_have_value(f"Facture {number}")
    expect(dialog.get_by_label("Joindre le PDF")).to_be_checked()
    settled(page)
    dialog.get_by_label("Titre").fill("Votre facture de novembre")
    dialog.get_by_label("M'envoyer le message en CCI").check()
    dialog.get_by_label("Joindre un ou plusieurs documents").set_input_files(
        files=[{"name": "Devis signé.pdf", "mimeType": "application/pdf", "buffer": PDF_BYTES}]
    )
    fits_the_screen(page)
    screenshot(page, "send-01-modal")

    dialog.get_by_role("button", name="Aperçu").click()
    preview = dialog.locator("#send-preview")
    expect(preview).to_contain_text("Votre facture de novembre")
    expect(preview).to_contain_text(EMAIL)  # the blind copy, shown to the owner only
    expect(preview).to_contain_text(f"Facture-{number}.pdf")
    expect(preview).to_contain_text("Devis signé.pdf")
    settled(page)
    assert dialog.locator("#documents").evaluate("input => input.files.length") == 1
    preview.scroll_into_view_if_needed()
    fits_the_screen(page)
    screenshot(page, "send-02-preview")

    preview.get_by_role("button", name="Envoyer le message").click()
    expect(page.locator("dialog")).to_have_count(0)
    expect(page.locator('.steps a[aria-current="page"]')).to_have_text("Suivi")
    expect(page.locator("#invoice-badges")).to_have_text("Paiement attendu")
    history = page.locator("#communications")
    expect(history).to_contain_text("Votre facture de novembre")
    expect(history).to_contain_text("En traitement")
    expect(history).to_contain_text("Révision 1")
    fits_the_screen(page)
    screenshot(page, "send-03-follow-up-processing")

    with app.app_context():
        assert outbox.deliver_due() == 1
    [received] = smtp_server.messages
    assert EMAIL in received.rcpt_tos
    email = message_from_bytes(received.data, policy=policy.default)
    assert email["Subject"] == "Votre facture de novembre"
    assert [part.get_filename() for part in email.iter_attachments()] == [
        f"Facture-{number}.pdf", "Devis signé.pdf"]
    page.reload()
    expect(history).to_contain_text("Envoyée au client")

    link = re.search(r"http://\S+/p/\S+", email.get_body(("plain",)).get_content()).group(0)
    client_context = browser.new_context(viewport=WIDTHS[page.width_name], locale="fr-FR")
    client_page = client_context.new_page()
    client_page.width_name = page.width_name
    client_page.goto(link)
    expect(client_page.get_by_role("heading", name=f"Facture {number}")).to_be_visible()
    expect(client_page.get_by_role("link", name="Télécharger la facture")).to_be_visible()
    fits_the_screen(client_page)
    screenshot(client_page, "send-04-portal")
    assert client_context.cookies() == []
    client_context.close()

    page.reload()
    expect(history).to_contain_text("Le client a cliqué sur le lien")
    history.get_by_text("Documents (2)").click()
    expect(history.get_by_role("link", name="Devis signé.pdf")).to_be_visible()
    fits_the_screen(page)
    screenshot(page, "send-05-follow-up-clicked")

    go_to_board(page)
    card = column(page, "follow_up").locator(".invoice-card")
    expect(card).to_contain_text(number)


def test_a_bad_address_is_named_in_the_modal_and_the_file_stays_chosen(
    sized_page, live_server, smtp_server
):
    page = sized_page
    invoice_id, _number = an_invoice_to_send(live_server.app, smtp_server)
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/invoices/{invoice_id}")
    page.get_by_role("link", name="Envoyer la facture").click()
    dialog = page.locator("dialog#send-dialog")
    expect(dialog).to_be_visible()
    settled(page)
    dialog.get_by_label("Destinataires").fill("a@x.fr; pas-une-adresse, c@z.be")
    dialog.get_by_label("Joindre un ou plusieurs documents").set_input_files(
        files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"Compte rendu"}]
    )
    dialog.get_by_role("button", name="Aperçu").click()
    expect(dialog.locator("#recipients-error")).to_have_text("Adresse email invalide : pas-une-adresse")
    settled(page)
    expect(dialog.get_by_label("Destinataires")).to_have_value("a@x.fr; pas-une-adresse, c@z.be")
    assert dialog.locator("#documents").evaluate("input => input.files[0].name") == "notes.txt"
    fits_the_screen(page)
    screenshot(page, "send-06-bad-address")
    dialog.get_by_role("button", name="Annuler").click()
    expect(page.locator("dialog")).to_have_count(0)
    assert smtp_server.messages == []


def test_documents_too_big_for_the_server_are_named_and_the_modal_keeps_what_was_typed(
    sized_page, live_server, smtp_server, tmp_path
):
    page = sized_page
    invoice_id, _number = an_invoice_to_send(live_server.app, smtp_server)
    big = tmp_path / "Annexes.pdf"
    big.write_bytes(b"%PDF-" + b"0" * (33 * 1024 * 1024))  # more than the server reads (32 Mo)
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/invoices/{invoice_id}")
    page.get_by_role("link", name="Envoyer la facture").click()
    dialog = page.locator("dialog#send-dialog")
    expect(dialog).to_be_visible()
    settled(page)
    dialog.get_by_label("Titre").fill("Votre facture et ses annexes")
    dialog.get_by_label("Joindre un ou plusieurs documents").set_input_files(big)
    dialog.get_by_role("button", name="Aperçu").click()
    expect(dialog.locator("#documents-too-large")).to_contain_text(
        "L'envoi dépasse 32 Mo, documents compris : le serveur ne l'a pas lu et rien n'a été envoyé.")
    settled(page)
    expect(dialog.get_by_label("Titre")).to_have_value("Votre facture et ses annexes")
    assert dialog.locator("#documents").evaluate("input => input.files[0].name") == "Annexes.pdf"
    fits_the_screen(page)
    screenshot(page, "send-07-too-big")
    dialog.get_by_label("Joindre un ou plusieurs documents").set_input_files([])
    dialog.get_by_role("button", name="Aperçu").click()
    expect(dialog.locator("#send-preview")).to_contain_text("Votre facture et ses annexes")
    expect(dialog.locator("#documents-too-large")).to_be_empty()
    assert smtp_server.messages == []
