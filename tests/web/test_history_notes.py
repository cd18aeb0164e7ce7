"""The notes of a message in « Historique des communications »: a retry only while it is on its way."""

from billing import invoices, sending, settings
from billing.models import MessageState, db
from tests.factories import make_client, make_invoice


def test_a_sent_message_with_refused_recipients_is_not_said_to_be_retried(app, auth_client, owner):
    with app.test_request_context():
        invoice = make_invoice(make_client())
        invoices.finalize(invoice, settings.today())
        sent = sending.new_message(sender="a@b.fr", recipients=["c@d.fr"], subject="Facture A",
                                   text_body="x", invoice=invoice)
        sent.state, sent.error = MessageState.SENT, "Envoyé, mais ces destinataires ont été refusés : x@y.fr (550)."
        waiting = sending.new_message(sender="a@b.fr", recipients=["c@d.fr"], subject="Facture B",
                                      text_body="x", invoice=invoice)
        waiting.error = "Connexion refusée par smtp:25."
        db.session.commit()
        invoice_id = invoice.id
    page = auth_client.get(f"/invoices/{invoice_id}?step=follow_up").get_data(as_text=True)
    assert "Nouvel essai prévu : Envoyé, mais" not in page
    assert "Envoyé, mais ces destinataires ont été refusés : x@y.fr (550)." in page
    assert "Nouvel essai prévu : Connexion refusée par smtp:25." in page
