"""Sending with the business's own SMTP settings, against real SMTP servers on loopback."""

from contextlib import contextmanager
from email import message_from_bytes
from email.header import decode_header, make_header

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from billing import mailer, settings
from billing.models import SmtpSecurity
from tests.conftest import free_port


@pytest.fixture
def business(app, owner):
    with app.app_context():
        row = settings.business()
        row.smtp_security = SmtpSecurity.NONE
        row.smtp_sender = "factures@atelier.fr"
        yield row


def use_server(row, host, port):
    row.smtp_host, row.smtp_port = host, port


@contextmanager
def server(handler, **kwargs):
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **kwargs)
    controller.start()
    try:
        yield controller.port
    finally:
        controller.stop()


def header(raw: bytes, name: str) -> str:
    return str(make_header(decode_header(message_from_bytes(raw)[name])))


def test_send_test_reaches_the_server_with_from_to_and_subject(business, smtp_server):
    use_server(business, smtp_server.host, smtp_server.port)
    mailer.send_test(business, "moi@example.fr")
    [received] = smtp_server.messages
    assert received.mail_from == "factures@atelier.fr"
    assert received.rcpt_tos == ["moi@example.fr"]
    assert header(received.data, "From") == "Atelier Conseil <factures@atelier.fr>"
    assert header(received.data, "To") == "moi@example.fr"
    assert header(received.data, "Subject") == "Facturier : message de test"


def test_send_puts_blind_copies_in_the_envelope_only(business, smtp_server):
    use_server(business, smtp_server.host, smtp_server.port)
    message = mailer.message(business, ["client@example.fr"], "Facture F-1", "Bonjour",
                             bcc=["owner@example.fr"])
    mailer.send(business, message)
    [received] = smtp_server.messages
    assert sorted(received.rcpt_tos) == ["client@example.fr", "owner@example.fr"]
    assert b"owner@example.fr" not in received.data


def test_sender_falls_back_to_the_business_email(business, smtp_server):
    business.smtp_sender = ""
    use_server(business, smtp_server.host, smtp_server.port)
    mailer.send_test(business, "moi@example.fr")
    assert smtp_server.messages[0].mail_from == "owner@example.fr"


def test_signature_ends_the_test_message(business, smtp_server):
    business.email_signature = "Marie — Atelier Conseil"
    use_server(business, smtp_server.host, smtp_server.port)
    mailer.send_test(business, "moi@example.fr")
    body = message_from_bytes(smtp_server.messages[0].data).get_payload(decode=True).decode()
    assert body.endswith("-- \r\nMarie — Atelier Conseil\r\n")


def test_without_smtp_host_send_explains_the_outbox_folder(business):
    business.smtp_host = ""
    with pytest.raises(mailer.NotConfigured, match="instance/mail-outbox"):
        mailer.send_test(business, "moi@example.fr")


def test_a_closed_port_gives_a_french_message(business):
    port = free_port()
    use_server(business, "127.0.0.1", port)
    with pytest.raises(mailer.MailError, match=f"Connexion refusée par 127.0.0.1:{port}"):
        mailer.send_test(business, "moi@example.fr")


def test_starttls_on_a_server_without_it_points_to_the_security_mode(business, smtp_server):
    use_server(business, smtp_server.host, smtp_server.port)
    business.smtp_security = SmtpSecurity.STARTTLS
    with pytest.raises(mailer.MailError, match="vérifiez le mode de sécurité"):
        mailer.send_test(business, "moi@example.fr")
    assert smtp_server.messages == []


class Rejecting:
    async def handle_DATA(self, _server, _session, _envelope):
        return "554 5.7.1 Message refusé"


@pytest.fixture
def rejecting_server():
    with server(Rejecting()) as port:
        yield port


def test_a_5xx_answer_is_reported_with_its_code(business, rejecting_server):
    use_server(business, "127.0.0.1", rejecting_server)
    with pytest.raises(mailer.MailError, match=r"refusé le message \(554 5\.7\.1 Message refusé\)"):
        mailer.send_test(business, "moi@example.fr")


class Accepting:
    async def handle_DATA(self, _server, _session, _envelope):
        return "250 OK"


@pytest.fixture
def auth_server():
    def authenticator(_server, _session, _envelope, _mechanism, auth_data):
        ok = auth_data.login == b"marie" and auth_data.password == b"bon"
        return AuthResult(success=ok, handled=False)

    with server(Accepting(), authenticator=authenticator, auth_require_tls=False) as port:
        yield port


def test_a_wrong_smtp_password_is_reported(business, auth_server):
    use_server(business, "127.0.0.1", auth_server)
    business.smtp_username, business.smtp_password = "marie", "mauvais"
    with pytest.raises(mailer.MailError, match="Identifiant ou mot de passe SMTP refusé"):
        mailer.send_test(business, "moi@example.fr")


def test_the_right_smtp_password_logs_in(business, auth_server):
    use_server(business, "127.0.0.1", auth_server)
    business.smtp_username, business.smtp_password = "marie", "bon"
    mailer.send_test(business, "moi@example.fr")


def test_an_unknown_host_is_reported(business):
    use_server(business, "smtp.invalid", 25)
    with pytest.raises(mailer.MailError, match="introuvable|joindre"):
        mailer.send_test(business, "moi@example.fr")


def test_a_server_with_an_untrusted_certificate_is_refused_before_login(business, tmp_path):
    """STARTTLS to a self-signed certificate: no password leaves, no message is sent."""
    import ssl
    import subprocess

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=evil.invalid", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    received = []

    class Handler:
        async def handle_DATA(self, _server, _session, envelope):
            received.append(envelope)
            return "250 OK"

    business.smtp_security = SmtpSecurity.STARTTLS
    business.smtp_username, business.smtp_password = "me", "secret password"
    with server(Handler(), tls_context=tls, require_starttls=True) as port:
        use_server(business, "127.0.0.1", port)
        with pytest.raises(mailer.MailError, match="certificat du serveur SMTP"):
            mailer.send_test(business, "client@example.fr")
    assert received == []
