"""A batch of 100 invoices from « Facturier email » to a real SMTP server, over one connection."""

import io
from email import message_from_bytes, policy

from pypdf import PdfReader
from sqlalchemy import select

from billing import outbox
from billing.models import Invoice, InvoiceStatus, Message, MessageState, db
from tests.factories import insert_invoices, make_client
from tests.unit.test_outbox import Scripted, serve
from tests.web.test_registers import configure_smtp, html, send

CLIENTS = [  # name, address, language: 25 invoices each
    ("Boulangerie Martin", "compta@martin.fr", "fr"),
    ("Café Lune", "factures@lune.fr", "fr"),
    ("Hexalis Ltd", "accounts@hexalis.co.uk", "en"),
    ("Garage Dupont", "garage@dupont.be", "fr"),
]


def test_a_hundred_invoices_leave_the_email_register_in_one_batch_over_one_connection(
        app, auth_client, owner):
    with app.app_context():
        for n, (name, address, language) in enumerate(CLIENTS):
            client = make_client(name, emails=(address,), language=language)
            insert_invoices(client.id, count=25, start=1 + 25 * n, status=InvoiceStatus.TO_SEND)
        db.session.commit()
        invoice_ids = db.session.scalars(select(Invoice.id).order_by(Invoice.id)).all()
    assert len(invoice_ids) == 100

    with serve(Scripted()) as server:
        configure_smtp(app, server)
        response = send(auth_client, invoice_ids)
        assert response.status_code == 303
        assert server.messages == []  # the request only queued them
        batch_id = response.location.rsplit("/", 1)[1]
        assert "0 / 100 envoyées" in html(auth_client.get(response.location))

        with app.app_context():
            assert outbox.deliver_due() == 100
        received = list(server.messages)
        sessions = list(server.sessions)

    assert len(received) == 100
    assert len(sessions) == 1  # one SMTP connection for the whole batch
    with app.app_context():
        messages = db.session.scalars(select(Message).order_by(Message.id)).all()
        assert len(messages) == 100 and {m.batch for m in messages} == {batch_id}
        assert {m.state for m in messages} == {MessageState.SENT}
        assert sorted(m.invoice_id for m in messages) == invoice_ids
        invoices = db.session.scalars(select(Invoice)).all()
        assert {i.status for i in invoices} == {InvoiceStatus.AWAITING_PAYMENT}
        expected = {m.message_id: (m.invoice.number, m.invoice.client) for m in messages}

    emails = [message_from_bytes(mail.data, policy=policy.default) for mail in received]
    assert sorted(email["Message-ID"] for email in emails) == sorted(expected)  # each once
    for mail, email in zip(received, emails):
        number, client = expected[email["Message-ID"]]
        assert mail.rcpt_tos == client.emails  # each client's own defaults
        title = "Invoice" if client.language == "en" else "Facture"
        assert email["Subject"] == f"{title} {number}"
        [pdf] = email.iter_attachments()
        assert pdf.get_filename() == f"{title}-{number}.pdf"
    first = next(email for email in emails if expected[email["Message-ID"]][0] == "F-00001")
    pdf = PdfReader(io.BytesIO(next(first.iter_attachments()).get_content()))
    assert "F-00001" in pdf.pages[0].extract_text()

    done = html(auth_client.get(response.location))
    assert "100 / 100 envoyées" in done and done.count("Envoyée au client") == 100
    assert "hx-trigger" not in done
