"""The outbox: building the message, delivering it through real SMTP servers, retries, leases."""

from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from datetime import timedelta
from email import message_from_bytes, policy
from email.header import decode_header, make_header

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from sqlalchemy import select

from billing import accounts, mailer, numbering, outbox, sending, settings
from billing.models import Message, MessageState, SmtpSecurity, db, utcnow
from tests.conftest import OWNER_EMAIL, OWNER_PASSWORD, SmtpRecorder, free_port, make_app
from tests.factories import make_client, make_invoice

PDF = b"%PDF-1.4\n% a small invoice\n%%EOF\n"


class Scripted(SmtpRecorder):
    """The test SMTP server, with replies chosen per recipient and per DATA, counting connections.

    `rcpt_replies` answers RCPT for some addresses; `data_replies` answers the next DATA
    commands in turn (a message answered that way is not recorded).
    """

    def __init__(self, rcpt_replies=None, data_replies=()):
        super().__init__()
        self.rcpt_replies = dict(rcpt_replies or {})
        self.data_replies = list(data_replies)
        self.sessions: list = []

    def _seen(self, session):
        if not any(seen is session for seen in self.sessions):
            self.sessions.append(session)

    async def handle_RCPT(self, _server, session, envelope, address, _options):
        self._seen(session)
        if address in self.rcpt_replies:
            return self.rcpt_replies[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self._seen(session)
        if self.data_replies:
            return self.data_replies.pop(0)
        return await super().handle_DATA(server, session, envelope)


@contextmanager
def serve(handler, **kwargs):
    handler.host, handler.port = "127.0.0.1", free_port()
    controller = Controller(handler, hostname=handler.host, port=handler.port, **kwargs)
    controller.start()
    try:
        yield handler
    finally:
        controller.stop()


@pytest.fixture
def business(app, owner):
    """An app context with the business's SMTP settings left empty (set by `use`)."""
    with app.app_context():
        row = settings.business()
        row.smtp_security = SmtpSecurity.NONE
        row.smtp_sender = "factures@atelier.fr"
        db.session.commit()
        yield row


def use(server) -> None:
    row = settings.business()
    row.smtp_host, row.smtp_port = server.host, server.port
    db.session.commit()


def queue(subject="Facture F-2026-0001", recipients=("client@example.fr",), files=(), **fields):
    message = sending.new_message(
        sender=mailer.sender(settings.business()),
        recipients=list(recipients),
        subject=subject,
        text_body="Bonjour,\n\nVoici la facture F-2026-0001.\n",
        html_body="<p>Bonjour,</p><p>Voici la facture <strong>F-2026-0001</strong>.</p>",
        files=list(files),
        **fields,
    )
    db.session.commit()
    return message.id


def reload(message_id: int) -> Message:
    """The message as in the database now (pending changes are committed first)."""
    db.session.commit()
    return db.session.get(Message, message_id)


def header(raw: bytes, name: str) -> str:
    return str(make_header(decode_header(message_from_bytes(raw)[name])))


# --- build ----------------------------------------------------------------------


def test_build_has_the_headers_the_bodies_and_the_attachments(business):
    message_id = queue(
        recipients=["a@x.fr", "b@y.com"],
        cc=["compta@x.fr"],
        bcc=[OWNER_EMAIL],
        files=[sending.File("F-2026-0001.pdf", "application/pdf", PDF, "invoice"),
               sending.File("Conditions générales.pdf", "application/pdf", b"%PDF-cgv", "terms")],
    )
    message = reload(message_id)
    raw = outbox.build(message, business).as_bytes()
    parsed = message_from_bytes(raw, policy=policy.default)

    assert parsed["From"] == "Atelier Conseil <factures@atelier.fr>"
    assert parsed["To"] == "a@x.fr, b@y.com"
    assert parsed["Cc"] == "compta@x.fr"
    assert parsed["Bcc"] is None and OWNER_EMAIL.encode() not in raw
    assert parsed["Subject"] == "Facture F-2026-0001"
    assert parsed["Message-ID"] == message.message_id
    assert parsed["Date"].datetime is not None
    assert parsed.get_content_type() == "multipart/mixed"
    body, *attachments = parsed.iter_parts()
    assert body.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in body.iter_parts()] == ["text/plain", "text/html"]
    assert parsed.get_body(("plain",)).get_content().splitlines() == [
        "Bonjour,", "", "Voici la facture F-2026-0001."]
    assert "<strong>F-2026-0001</strong>" in parsed.get_body(("html",)).get_content()
    assert [(part.get_filename(), part.get_content_type(), part.get_content())
            for part in attachments] == [("F-2026-0001.pdf", "application/pdf", PDF),
                                         ("Conditions générales.pdf", "application/pdf", b"%PDF-cgv")]


def test_build_without_html_or_attachments_is_plain_text(business):
    message = reload(queue())
    message.html_body = ""
    parsed = message_from_bytes(outbox.build(message, business).as_bytes(), policy=policy.default)
    assert parsed.get_content_type() == "text/plain"
    assert parsed.get_content().splitlines() == ["Bonjour,", "", "Voici la facture F-2026-0001."]


def test_a_line_break_in_the_subject_or_a_name_never_adds_a_header(business):
    message = reload(queue(subject="Facture F-1\r\nBcc: espion@evil.example"))
    message.sender = "Atelier\nX-Evil: 1 <factures@atelier.fr>"
    raw = outbox.build(message, business).as_bytes()
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed["Bcc"] is None and parsed["X-Evil"] is None
    assert parsed["Subject"] == "Facture F-1 Bcc: espion@evil.example"
    assert b"\r\nBcc:" not in raw and b"\r\nX-Evil:" not in raw


def test_a_line_break_in_the_subject_does_not_reach_the_envelope(business, smtp_server):
    use(smtp_server)
    queue(subject="Facture F-1\nBcc: espion@evil.example")
    outbox.deliver_due()
    [received] = smtp_server.messages
    assert received.rcpt_tos == ["client@example.fr"]


def test_non_ascii_subject_names_and_file_names_are_encoded(business):
    message = reload(queue(
        subject="Facture n° F-2026-0001 — Zoé",
        recipients=["Zoé Martin <zoe@example.fr>"],
        files=[sending.File("Relevé d’heures.pdf", "application/pdf", PDF)],
    ))
    message.sender = "Atelier Éclair <factures@atelier.fr>"
    raw = outbox.build(message, business).as_bytes()
    assert raw.isascii()
    assert header(raw, "Subject") == "Facture n° F-2026-0001 — Zoé"
    assert header(raw, "From") == "Atelier Éclair <factures@atelier.fr>"
    assert header(raw, "To") == "Zoé Martin <zoe@example.fr>"
    parsed = message_from_bytes(raw, policy=policy.default)
    assert [part.get_filename() for part in parsed.iter_attachments()] == ["Relevé d’heures.pdf"]


def test_an_unknown_content_type_is_attached_as_bytes(business):
    message = reload(queue(files=[sending.File("notes", "", b"\x00\x01")]))
    parsed = message_from_bytes(outbox.build(message, business).as_bytes(), policy=policy.default)
    [attachment] = parsed.iter_attachments()
    assert attachment.get_content_type() == "application/octet-stream"
    assert attachment.get_content() == b"\x00\x01"


# --- delivery -------------------------------------------------------------------


def test_a_due_message_is_delivered_once_to_every_recipient_with_its_message_id(business, smtp_server):
    use(smtp_server)
    message_id = queue(recipients=["a@x.fr", "b@y.com"], cc=["c@z.be"], bcc=[OWNER_EMAIL])
    assert outbox.deliver_due() == 1
    assert outbox.deliver_due() == 0

    [received] = smtp_server.messages
    assert received.mail_from == "factures@atelier.fr"
    assert received.rcpt_tos == ["a@x.fr", "b@y.com", "c@z.be", OWNER_EMAIL]
    message = reload(message_id)
    assert header(received.data, "Message-ID") == message.message_id
    assert message.state is MessageState.SENT
    assert message.sent_at is not None and message.lease_until is None
    assert (message.attempts, message.error) == (1, "")


def test_a_421_is_retried_a_minute_later_and_delivered_once(business):
    with serve(Scripted(data_replies=["421 4.3.2 Service momentanément indisponible"])) as server:
        use(server)
        message_id = queue()
        now = utcnow()
        assert outbox.deliver_due(now) == 0
        message = reload(message_id)
        assert message.state is MessageState.PROCESSING
        assert message.next_try_at == now + timedelta(minutes=1)
        assert message.lease_until is None
        assert "421 4.3.2 Service momentanément indisponible" in message.error

        assert outbox.deliver_due(now + timedelta(seconds=59)) == 0
        assert outbox.deliver_due(now + timedelta(minutes=1)) == 1
        assert len(server.messages) == 1
        message = reload(message_id)
        assert (message.state, message.attempts, message.error) == (MessageState.SENT, 2, "")


def test_a_451_recipient_is_retried_with_back_off_then_abandoned_after_the_last_try(business):
    with serve(Scripted(rcpt_replies={"client@example.fr": "451 4.2.0 Boîte pleine"})) as server:
        use(server)
        message_id = queue()
        now, waits = utcnow(), []
        for _try in range(5):
            outbox.deliver_due(now)
            message = reload(message_id)
            assert message.state is MessageState.PROCESSING
            waits.append(message.next_try_at - now)
            now = message.next_try_at
        assert waits == [timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=15),
                         timedelta(hours=1), timedelta(hours=4)]
        assert "451 4.2.0 Boîte pleine" in message.error

        outbox.deliver_due(now)
        message = reload(message_id)
        assert message.state is MessageState.ABANDONED
        assert message.attempts == 6
        assert message.error.startswith("Abandonnée après 6 tentatives : ")
        assert "client@example.fr (451 4.2.0 Boîte pleine)" in message.error
        assert server.messages == []


def test_the_number_of_tries_comes_from_the_config(tmp_path):
    app = make_app(tmp_path / "instance", BILLING_MAX_ATTEMPTS=2)
    with app.app_context():
        accounts.create_owner(OWNER_EMAIL, OWNER_PASSWORD, "Atelier Conseil")
        row = settings.business()
        row.smtp_host, row.smtp_port, row.smtp_security = "127.0.0.1", free_port(), SmtpSecurity.NONE
        message_id = queue()
        outbox.deliver_due()
        assert reload(message_id).state is MessageState.PROCESSING
        outbox.deliver_due(utcnow() + timedelta(minutes=2))
        assert reload(message_id).state is MessageState.ABANDONED
        db.engine.dispose()


def test_a_550_recipient_abandons_the_message_at_once_with_the_servers_reason(business):
    with serve(Scripted(rcpt_replies={"inconnu@example.fr": "550 5.1.1 Utilisateur inconnu"})) as server:
        use(server)
        message_id = queue(recipients=["inconnu@example.fr"])
        outbox.deliver_due()
        message = reload(message_id)
        assert message.state is MessageState.ABANDONED
        assert message.attempts == 1 and message.lease_until is None
        assert message.error == ("Destinataire refusé par le serveur SMTP : "
                                 "inconnu@example.fr (550 5.1.1 Utilisateur inconnu).")
        assert server.messages == []


def test_a_554_after_data_abandons_the_message_at_once(business):
    with serve(Scripted(data_replies=["554 5.7.1 Message refusé : spam"])) as server:
        use(server)
        message_id = queue()
        outbox.deliver_due()
        message = reload(message_id)
        assert message.state is MessageState.ABANDONED
        assert message.error == "Le serveur SMTP a refusé le message (554 5.7.1 Message refusé : spam)."


def test_a_server_down_through_every_retry_abandons_the_message(business):
    port = free_port()
    settings.business().smtp_host, settings.business().smtp_port = "127.0.0.1", port
    db.session.commit()
    message_id = queue()
    now = utcnow()
    for _try in range(6):
        outbox.deliver_due(now)
        now += timedelta(hours=5)
    message = reload(message_id)
    assert message.state is MessageState.ABANDONED
    assert message.error == (f"Abandonnée après 6 tentatives : Connexion refusée par 127.0.0.1:{port} : "
                             "vérifiez l'adresse et le port du serveur SMTP.")
    assert outbox.abandoned_alerts() == [message]


def test_a_refused_login_abandons_the_message_at_once(business):
    def authenticator(*_args):
        return AuthResult(success=False, handled=False)

    with serve(Scripted(), authenticator=authenticator, auth_require_tls=False) as server:
        use(server)
        row = settings.business()
        row.smtp_username, row.smtp_password = "marie", "mauvais"
        db.session.commit()
        message_id = queue()
        outbox.deliver_due()
        message = reload(message_id)
        assert message.state is MessageState.ABANDONED
        assert message.error == "Identifiant ou mot de passe SMTP refusé par le serveur."


def test_an_address_with_accents_is_abandoned_at_once(business, smtp_server):
    use(smtp_server)
    message_id = queue(recipients=["zoé@example.fr"])
    outbox.deliver_due()
    message = reload(message_id)
    assert message.state is MessageState.ABANDONED
    assert "zoé@example.fr" in message.error


def test_a_partly_refused_message_is_sent_and_names_the_refused_recipient(business):
    with serve(Scripted(rcpt_replies={"parti@example.fr": "550 5.1.1 Parti"})) as server:
        use(server)
        message_id = queue(recipients=["client@example.fr", "parti@example.fr"])
        assert outbox.deliver_due() == 1
        message = reload(message_id)
        assert message.state is MessageState.SENT
        assert message.error == ("Envoyé, mais ces destinataires ont été refusés : "
                                 "parti@example.fr (550 5.1.1 Parti).")
        assert server.messages[0].rcpt_tos == ["client@example.fr"]


def test_a_batch_goes_over_one_connection_and_each_message_gets_its_own_result(business):
    with serve(Scripted(rcpt_replies={"faux@example.fr": "550 5.1.1 Adresse inconnue"})) as server:
        use(server)
        ids = [queue(recipients=[address], batch="registre-1")
               for address in ("a@x.fr", "faux@example.fr", "c@z.be")]
        assert outbox.deliver_due() == 2
        assert len(server.sessions) == 1
        assert [received.rcpt_tos for received in server.messages] == [["a@x.fr"], ["c@z.be"]]
        states = [reload(message_id).state for message_id in ids]
        assert states == [MessageState.SENT, MessageState.ABANDONED, MessageState.SENT]


def test_a_batch_reconnects_after_the_server_hangs_up_on_one_message(business):
    with serve(Scripted(data_replies=["421 4.7.0 Trop de messages, au revoir"])) as server:
        use(server)
        first, second = (queue(batch="registre-1") for _n in range(2))
        assert outbox.deliver_due() == 1
        assert reload(first).state is MessageState.PROCESSING
        assert reload(second).state is MessageState.SENT
        assert len(server.sessions) == 2


def test_a_batch_with_the_server_down_is_retried_as_a_whole(business):
    settings.business().smtp_host, settings.business().smtp_port = "127.0.0.1", free_port()
    db.session.commit()
    ids = [queue(batch="registre-1") for _n in range(3)]
    assert outbox.deliver_due() == 0
    for message_id in ids:
        message = reload(message_id)
        assert message.state is MessageState.PROCESSING
        assert message.attempts == 1 and "Connexion refusée" in message.error


def test_messages_of_different_batches_go_over_separate_connections(business):
    with serve(Scripted()) as server:
        use(server)
        queue(batch="a")
        queue(batch="b")
        queue()
        assert outbox.deliver_due() == 3
        assert len(server.sessions) == 3


def test_without_smtp_settings_a_message_is_written_as_an_eml_file_and_counts_as_sent(business, app):
    message_id = queue(subject="Facture F-2026-0001 — Zoé",
                       files=[sending.File("F-2026-0001.pdf", "application/pdf", PDF, "invoice")])
    assert outbox.deliver_due() == 1
    message = reload(message_id)
    assert message.state is MessageState.SENT
    folder = mailer.outbox_folder()
    assert [path.name for path in folder.iterdir()] == [f"{message_id}-facture-f-2026-0001-zoe.eml"]
    parsed = message_from_bytes((folder / f"{message_id}-facture-f-2026-0001-zoe.eml").read_bytes(),
                                policy=policy.default)
    assert parsed["Message-ID"] == message.message_id
    assert parsed["Subject"] == "Facture F-2026-0001 — Zoé"
    assert [part.get_content() for part in parsed.iter_attachments()] == [PDF]


def test_a_message_whose_attachment_vanished_is_abandoned(business, smtp_server):
    use(smtp_server)
    message_id = queue(files=[sending.File("F-1.pdf", "application/pdf", PDF)])
    sending.attachment_path(reload(message_id).attachments[0]).unlink()
    assert outbox.deliver_due() == 0
    message = reload(message_id)
    assert message.state is MessageState.ABANDONED
    assert "pièce jointe" in message.error
    assert smtp_server.messages == []


def test_sent_and_abandoned_messages_are_never_delivered_again(business, smtp_server):
    use(smtp_server)
    sent, abandoned = queue(), queue()
    reload(sent).state = MessageState.SENT
    reload(abandoned).state = MessageState.ABANDONED
    db.session.commit()
    assert outbox.deliver_due(utcnow() + timedelta(days=1)) == 0
    assert smtp_server.messages == []


# --- leases and concurrency ----------------------------------------------------


def test_a_leased_message_is_left_to_its_worker_until_the_lease_runs_out(business, smtp_server):
    use(smtp_server)
    message_id = queue()
    now = utcnow()
    reload(message_id).lease_until = now + timedelta(seconds=300)
    db.session.commit()
    assert outbox.deliver_due(now) == 0
    assert outbox.deliver_due(now + timedelta(seconds=299)) == 0
    assert smtp_server.messages == []
    assert outbox.deliver_due(now + timedelta(seconds=301)) == 1
    assert len(smtp_server.messages) == 1


def test_threads_delivering_at_the_same_time_send_each_message_once(app, business):
    class Slow(Scripted):
        async def handle_DATA(self, server, session, envelope):
            import asyncio

            await asyncio.sleep(0.01)
            return await super().handle_DATA(server, session, envelope)

    with serve(Slow()) as server:
        use(server)
        ids = [queue(subject=f"Facture F-{n}") for n in range(30)]
        expected = {reload(message_id).message_id for message_id in ids}
        counts, errors = [], []

        def work():
            try:
                with app.app_context():
                    counts.append(outbox.deliver_due())
            except Exception as error:  # reported below, with the thread's own traceback lost
                errors.append(error)

        threads = [threading.Thread(target=work) for _n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert errors == []
        assert sum(counts) == 30
        received = [header(mail.data, "Message-ID") for mail in server.messages]
        assert sorted(received) == sorted(expected)
        assert {reload(message_id).state for message_id in ids} == {MessageState.SENT}


# --- the worker loop and its thread --------------------------------------------


def wait_for(condition, seconds=10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def state_of(app, message_id):
    with app.app_context():
        return db.session.get(Message, message_id).state


def test_run_delivers_when_woken_without_waiting_for_the_poll(app, business, smtp_server):
    app.config["BILLING_WORKER_POLL_SECONDS"] = 60
    use(smtp_server)
    stop = threading.Event()
    thread = threading.Thread(target=outbox.run, args=(app, stop))
    thread.start()
    try:
        message_id = queue()
        outbox.wake()
        assert wait_for(lambda: state_of(app, message_id) is MessageState.SENT)
    finally:
        stop.set()
        outbox.wake(app)
        thread.join(10)
    assert not thread.is_alive()
    assert len(smtp_server.messages) == 1


@pytest.mark.timed_waits  # the worker polls: see tests/conftest.py
def test_an_error_in_the_loop_is_logged_and_the_worker_goes_on(tmp_path, smtp_server, caplog):
    app = make_app(tmp_path / "instance", BILLING_WORKER_POLL_SECONDS=0.05, BILLING_LEASE_SECONDS=0.2)
    with app.app_context():  # a message, but no business yet: every round fails
        message_id = sending.new_message(sender="Atelier <factures@atelier.fr>",
                                         recipients=["client@example.fr"],
                                         subject="Facture", text_body="Bonjour").id
        db.session.commit()
    stop = threading.Event()
    thread = threading.Thread(target=outbox.run, args=(app, stop))
    with caplog.at_level(logging.ERROR):
        thread.start()
        try:
            assert wait_for(lambda: "Outbox: delivery round failed" in caplog.text)
            assert thread.is_alive()
            with app.app_context():
                numbering.lock()  # a writer next to the worker takes the write lock first
                accounts.create_owner(OWNER_EMAIL, OWNER_PASSWORD, "Atelier Conseil")
                row = settings.business()
                row.smtp_host, row.smtp_port = smtp_server.host, smtp_server.port
                row.smtp_security = SmtpSecurity.NONE
                db.session.commit()
            assert wait_for(lambda: state_of(app, message_id) is MessageState.SENT)
        finally:
            stop.set()
            outbox.wake(app)
            thread.join(10)
            with app.app_context():
                db.engine.dispose()
    assert len(smtp_server.messages) == 1


@pytest.fixture
def live_app(tmp_path):
    """An app as served in production: the worker thread on, not in testing mode."""
    app = make_app(tmp_path / "instance", TESTING=False, BILLING_WORKER=True,
                   BILLING_WORKER_POLL_SECONDS=0.05)
    yield app
    outbox.stop_worker(app)
    with app.app_context():
        db.engine.dispose()


@pytest.mark.timed_waits  # the worker polls: see tests/conftest.py
def test_the_web_process_starts_its_worker_thread_on_the_first_request(live_app, smtp_server):
    assert "outbox_worker" not in live_app.extensions
    assert live_app.test_client().get("/healthz").status_code == 200
    thread, _stop = live_app.extensions["outbox_worker"]
    assert thread.is_alive() and thread.daemon
    live_app.test_client().get("/healthz")
    assert live_app.extensions["outbox_worker"][0] is thread

    with live_app.app_context():
        accounts.create_owner(OWNER_EMAIL, OWNER_PASSWORD, "Atelier Conseil")
        row = settings.business()
        row.smtp_host, row.smtp_port = smtp_server.host, smtp_server.port
        row.smtp_security = SmtpSecurity.NONE
        message_id = queue()
    assert wait_for(lambda: state_of(live_app, message_id) is MessageState.SENT)
    outbox.stop_worker(live_app)
    assert not thread.is_alive()


def test_cli_commands_never_start_the_worker_thread(live_app):
    result = live_app.test_cli_runner().invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert "outbox_worker" not in live_app.extensions


def test_no_worker_thread_in_testing_mode_or_when_turned_off(app, tmp_path):
    app.test_client().get("/healthz")
    assert "outbox_worker" not in app.extensions
    off = make_app(tmp_path / "off", TESTING=False, BILLING_WORKER=False)
    off.test_client().get("/healthz")
    assert "outbox_worker" not in off.extensions
    with off.app_context():
        db.engine.dispose()


def test_worker_once_delivers_what_is_due_and_exits(app, business, smtp_server):
    use(smtp_server)
    queue()
    queue()
    result = app.test_cli_runner().invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert "2 message(s) sent." in result.output
    assert len(smtp_server.messages) == 2


# --- alerts -------------------------------------------------------------------


def test_abandoned_alerts_lists_the_abandoned_messages_not_dismissed_newest_first(business):
    client = make_client()
    invoice = make_invoice(client, number="F-2026-0001")
    ids = [queue(invoice=invoice) for _n in range(4)]
    for message_id in ids[:3]:
        reload(message_id).state = MessageState.ABANDONED
    db.session.commit()
    outbox.dismiss(reload(ids[0]))
    db.session.commit()
    assert [message.id for message in outbox.abandoned_alerts()] == [ids[2], ids[1]]
    alerts, total = outbox.banner(limit=1)
    assert ([message.id for message in alerts], total) == ([ids[2]], 2)
    assert alerts[0].invoice.number == "F-2026-0001"


def test_dismiss_keeps_the_first_time(business):
    message = reload(queue())
    outbox.dismiss(message)
    first = message.dismissed_at
    outbox.dismiss(message)
    assert message.dismissed_at == first
    assert db.session.scalar(select(Message.dismissed_at)) == first
