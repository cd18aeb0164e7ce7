"""From the send form to a real SMTP server that fails: what the owner then sees.

421 then success (delivered once after a retry), 550 (*Abandonnée* at once, with the
server's reason), a server down through every retry (*Abandonnée* and the red banner).
"""

from datetime import timedelta

from sqlalchemy import select

from billing import outbox
from billing.models import Message, MessageState, db, utcnow
from tests.conftest import free_port
from tests.unit.test_outbox import Scripted, serve
from tests.web.test_outbox_banner import banner
from tests.web.test_send_modal import form_data, invoice_id, post, text  # noqa: F401
from tests.web.test_send_history import history_items
from tests.web.test_settings_emails import configure_smtp

FOLLOW_UP = "/invoices/{}?step=follow_up"


def the_message(app) -> Message:
    with app.app_context():
        message = db.session.scalars(select(Message)).one()
        db.session.expunge(message)
        return message


def test_a_421_is_tried_again_a_minute_later_and_the_client_gets_it_once(
    app, auth_client, invoice_id  # noqa: F811
):
    with serve(Scripted(data_replies=["421 4.3.2 Service momentanément indisponible"])) as server:
        configure_smtp(app, server.host, server.port)
        assert post(auth_client, invoice_id, form_data()).status_code == 303
        now = utcnow()
        with app.app_context():
            assert outbox.deliver_due(now) == 0
        assert the_message(app).state is MessageState.PROCESSING
        [line] = history_items(text(auth_client.get(FOLLOW_UP.format(invoice_id))))[:1]
        assert "En traitement" in line
        assert "Nouvel essai prévu : Le serveur SMTP a refusé le message (421 4.3.2" in line

        with app.app_context():
            assert outbox.deliver_due(now + timedelta(minutes=1)) == 1
            assert outbox.deliver_due(now + timedelta(hours=10)) == 0
        received = list(server.messages)

    message = the_message(app)
    assert (message.state, message.attempts, message.error) == (MessageState.SENT, 2, "")
    assert len(received) == 1 and message.message_id.encode() in received[0].data
    page = text(auth_client.get(FOLLOW_UP.format(invoice_id)))
    assert "Envoyée au client" in history_items(page)[0]
    assert banner(text(auth_client.get("/"))) == ""


def test_a_550_abandons_at_once_and_the_owner_sees_the_servers_reason(
    app, auth_client, invoice_id  # noqa: F811
):
    refusal = "550 5.1.1 Utilisateur inconnu"
    with serve(Scripted(rcpt_replies={"compta@martin.fr": refusal})) as server:
        configure_smtp(app, server.host, server.port)
        post(auth_client, invoice_id, form_data())
        with app.app_context():
            assert outbox.deliver_due() == 0
        assert server.messages == []

    message = the_message(app)
    assert (message.state, message.attempts) == (MessageState.ABANDONED, 1)
    reason = f"Destinataire refusé par le serveur SMTP : compta@martin.fr ({refusal})."
    assert message.error == reason
    page = text(auth_client.get(FOLLOW_UP.format(invoice_id)))
    [line] = [item for item in history_items(page) if "Abandonnée" in item]
    assert reason in line
    for path in ("/", f"/invoices/{invoice_id}"):
        shown = banner(text(auth_client.get(path)))
        assert "Abandonnée" in shown and refusal in shown
    assert refusal in text(auth_client.get(f"/messages/{message.id}"))


def test_a_server_down_through_every_retry_abandons_the_message_with_the_banner(
    app, auth_client, invoice_id  # noqa: F811
):
    port = free_port()  # nobody listens there
    configure_smtp(app, "127.0.0.1", port)
    post(auth_client, invoice_id, form_data())
    now = utcnow()
    for _try in range(app.config["BILLING_MAX_ATTEMPTS"] - 1):
        with app.app_context():
            assert outbox.deliver_due(now) == 0
        assert the_message(app).state is MessageState.PROCESSING
        assert banner(text(auth_client.get("/"))) == ""  # not yet: it will be tried again
        now += timedelta(hours=5)
    with app.app_context():
        assert outbox.deliver_due(now) == 0

    message = the_message(app)
    assert message.state is MessageState.ABANDONED
    tries = app.config["BILLING_MAX_ATTEMPTS"]
    reason = (f"Abandonnée après {tries} tentatives : Connexion refusée par 127.0.0.1:{port} : "
              "vérifiez l&#39;adresse et le port du serveur SMTP.")
    for path in ("/", f"/invoices/{invoice_id}"):
        shown = banner(text(auth_client.get(path)))
        assert 'class="flash flash-error outbox-banner"' in shown
        assert "Facture F-2026-0001" in shown and reason in shown
