"""From the send form to a real SMTP server (aiosmtpd on loopback), and the client's click."""

import io
import re
from email import message_from_bytes, policy

from pypdf import PdfReader
from sqlalchemy import select

from billing import outbox
from billing.models import Message, MessageState, db
from tests.conftest import OWNER_EMAIL
from tests.web.test_send_modal import PDF_BYTES, form_data, invoice_id, post, with_files  # noqa: F401
from tests.web.test_settings_emails import configure_smtp


def test_the_form_reaches_the_smtp_server_as_one_complete_email(
    app, auth_client, smtp_server, invoice_id  # noqa: F811
):
    configure_smtp(app, smtp_server.host, smtp_server.port)
    set_terms(auth_client, smtp_server, "CGV 2026.pdf")
    data = with_files(
        form_data(recipients="a@x.fr; b@y.com,c@z.be", cc="dg@martin.fr", bcc_me="y",
                  subject="Votre facture F-2026-0001",
                  body="Bonjour {client},\n\nFacture {numero} de {montant}, échéance {echeance}."
                       "\nLe lien : {lien}"),
        ("Devis signé.pdf", PDF_BYTES), ("notes.txt", b"Compte rendu"),
    )
    assert post(auth_client, invoice_id, data).status_code == 303
    assert smtp_server.messages == []  # the request only wrote the message

    with app.app_context():
        assert outbox.deliver_due() == 1
        message = db.session.scalars(select(Message)).one()
        assert message.state is MessageState.SENT
        message_id, token = message.message_id, message.link_token

    [received] = smtp_server.messages
    assert received.mail_from == "factures@atelier.fr"
    assert sorted(received.rcpt_tos) == sorted(
        ["a@x.fr", "b@y.com", "c@z.be", "dg@martin.fr", OWNER_EMAIL])
    email = message_from_bytes(received.data, policy=policy.default)
    assert email["To"] == "a@x.fr, b@y.com, c@z.be" and email["Cc"] == "dg@martin.fr"
    assert email["Bcc"] is None
    headers = "\n".join(f"{name}: {value}" for name, value in email.items())
    assert OWNER_EMAIL not in headers  # the blind copy is in the envelope only
    assert OWNER_EMAIL.encode() not in received.data
    assert email["Subject"] == "Votre facture F-2026-0001"
    assert email["Message-ID"] == message_id and re.fullmatch(r"<[^<>@\s]+@[^<>@\s]+>", message_id)

    assert email.get_content_type() == "multipart/mixed"
    alternative = next(part for part in email.iter_parts()
                       if part.get_content_type() == "multipart/alternative")
    plain, html = (part.get_content().replace("\r\n", "\n") for part in alternative.iter_parts())
    link = f"http://localhost/p/{token}"
    assert plain == ("Bonjour Boulangerie Martin,\n\nFacture F-2026-0001 de 100,00\xa0€, "
                     f"échéance 24/12/2026.\nLe lien : {link}\n")
    assert f'href="{link}"' in html and "Voir et payer la facture" in html
    assert "100,00\xa0€" in html and "24/12/2026" in html

    attachments = {part.get_filename(): part for part in email.iter_attachments()}
    assert [(name, part.get_content_type()) for name, part in attachments.items()] == [
        ("Facture-F-2026-0001.pdf", "application/pdf"),
        ("CGV 2026.pdf", "application/pdf"),
        ("Devis signé.pdf", "application/pdf"),
        ("notes.txt", "text/plain"),
    ]
    invoice_pdf = attachments["Facture-F-2026-0001.pdf"].get_content()
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(invoice_pdf)).pages)
    assert "F-2026-0001" in text
    assert attachments["CGV 2026.pdf"].get_content() == PDF_BYTES
    assert attachments["Devis signé.pdf"].get_content() == PDF_BYTES
    assert attachments["notes.txt"].get_content() == "Compte rendu"


def set_terms(auth_client, smtp_server, filename):
    """The terms-and-conditions PDF of the settings (« Emails »), kept with the SMTP settings."""
    response = auth_client.post("/settings/emails", content_type="multipart/form-data", data={
        "email_subject_template": "Facture {numero}", "email_body_template": "{lien}",
        "smtp_host": smtp_server.host, "smtp_port": str(smtp_server.port), "smtp_security": "none",
        "smtp_sender": "factures@atelier.fr", "terms": (io.BytesIO(PDF_BYTES), filename)})
    assert response.status_code == 303


def test_the_terms_pdf_of_the_settings_leaves_with_the_invoice(
    app, auth_client, smtp_server, invoice_id  # noqa: F811
):
    configure_smtp(app, smtp_server.host, smtp_server.port)
    set_terms(auth_client, smtp_server, "CGV 2026.pdf")
    post(auth_client, invoice_id, form_data())
    with app.app_context():
        outbox.deliver_due()
    email = message_from_bytes(smtp_server.messages[0].data, policy=policy.default)
    parts = [(p.get_filename(), p.get_content_type()) for p in email.iter_attachments()]
    assert parts == [("Facture-F-2026-0001.pdf", "application/pdf"), ("CGV 2026.pdf", "application/pdf")]


def test_opening_the_link_of_the_received_email_records_the_click(
    app, auth_client, client, smtp_server, invoice_id  # noqa: F811
):
    configure_smtp(app, smtp_server.host, smtp_server.port)
    post(auth_client, invoice_id, form_data())
    with app.app_context():
        outbox.deliver_due()
    email = message_from_bytes(smtp_server.messages[0].data, policy=policy.default)
    link = re.search(r"http://localhost(/p/\S+)", email.get_body(("plain",)).get_content()).group(1)
    assert client.get(link).status_code == 200
    page = auth_client.get(f"/invoices/{invoice_id}?step=follow_up").get_data(as_text=True)
    assert "Le client a cliqué sur le lien · " in page
