"""Email over the business's own SMTP server (its settings, not the app config).

`send` delivers one Flask-Mail `Message`; `Session` keeps one connection open
for several messages (the outbox sends a batch over it). Every failure (server
unreachable, login refused, message rejected) becomes a `MailError` with a
French message for the owner, and says whether trying again later may work
(`temporary`: no answer, disconnection, a 4xx reply) or not (a 5xx reply, every
recipient refused, a bad address, the login refused). Without an SMTP host,
`send` refuses with `NotConfigured`: the outbox then writes messages to
`instance/mail-outbox/` instead.
"""

from __future__ import annotations

import re
import smtplib
import socket
import ssl
from email.utils import formataddr
from pathlib import Path

import flask_mail
from flask import current_app
from flask_babel import gettext as _

from billing.models import Business, SmtpSecurity

TIMEOUT_SECONDS = 15


def outbox_folder() -> Path:
    """Where messages go as .eml files while no SMTP server is configured."""
    return Path(current_app.instance_path) / "mail-outbox"

class MailError(Exception):
    """A reason, in French, why a message could not be sent; `temporary` if a retry may work."""

    def __init__(self, reason: str, temporary: bool = False):
        super().__init__(reason)
        self.temporary = temporary


class NotConfigured(MailError):
    pass


class Unreachable(MailError):
    """The server could not be reached or refused the login: nothing was sent."""


class _Connection(flask_mail.Connection):
    """Flask-Mail's connection, with a timeout so a silent server cannot hang us, and
    TLS that checks the server's certificate and name (Python's smtplib does not by default)."""

    def configure_host(self):
        mail = self.mail
        tls = ssl.create_default_context()
        if mail.use_ssl:
            host = smtplib.SMTP_SSL(mail.server, mail.port, timeout=TIMEOUT_SECONDS, context=tls)
        else:
            host = smtplib.SMTP(mail.server, mail.port, timeout=TIMEOUT_SECONDS)
        try:
            if mail.use_tls:
                host.starttls(context=tls)
            if mail.username and mail.password:
                host.login(mail.username, mail.password)
        except BaseException:
            host.close()
            raise
        return host


def sender(business: Business) -> str:
    """« Atelier Conseil <factures@atelier.fr> »: the From of every message."""
    return formataddr((business.name, business.smtp_sender or business.email))


def message(business: Business, recipients: list[str], subject: str, body: str, **kwargs):
    """A Flask-Mail Message sent from the business."""
    return flask_mail.Message(
        subject=subject, recipients=recipients, body=body, sender=sender(business), **kwargs
    )


def _state(business: Business):
    return flask_mail.Mail().init_mail(
        {
            "MAIL_SERVER": business.smtp_host,
            "MAIL_PORT": business.smtp_port,
            "MAIL_USE_TLS": business.smtp_security is SmtpSecurity.STARTTLS,
            "MAIL_USE_SSL": business.smtp_security is SmtpSecurity.SSL,
            "MAIL_USERNAME": business.smtp_username or None,
            "MAIL_PASSWORD": business.smtp_password or None,
            "MAIL_SUPPRESS_SEND": False,
        }
    )


def send(business: Business, mail_message: flask_mail.Message) -> None:
    """Deliver one message with the business's SMTP server, or raise MailError."""
    if not business.smtp_configured:
        raise NotConfigured(
            _(
                "Aucun serveur SMTP n'est configuré : les messages sont écrits dans le dossier "
                "%(folder)s au lieu d'être envoyés.",
                folder=outbox_folder(),
            )
        )
    try:
        with _Connection(_state(business)) as connection:
            connection.send(mail_message, envelope_from=envelope_sender(business))
    except Exception as error:  # every failure becomes a message for the owner
        raise _failure(error, business) from error


def envelope_sender(business: Business) -> str:
    """The address in MAIL FROM: where bounces go."""
    return business.smtp_sender or business.email


class Session:
    """One connection to the business's SMTP server for several messages.

    `with Session(business) as smtp: smtp.send(...)`. Opening raises
    `Unreachable`; `send` raises `MailError` for that message only, and the
    next `send` goes on (reconnecting if the server hung up, e.g. after a 421).
    """

    def __init__(self, business: Business):
        self.business = business
        self._host: smtplib.SMTP | None = None

    def __enter__(self) -> Session:
        self._open()
        return self

    def __exit__(self, *_exc) -> None:
        if self._host is not None:
            try:
                self._host.quit()
            except (smtplib.SMTPException, OSError):
                self._host.close()
            self._host = None

    def _open(self) -> None:
        try:
            self._host = _Connection(_state(self.business)).configure_host()
        except Exception as error:  # every failure becomes a message for the owner
            failure = _failure(error, self.business)
            raise Unreachable(str(failure), failure.temporary) from error

    def send(self, envelope_from: str, recipients: list[str], data: bytes) -> dict[str, str]:
        """Deliver `data` to `recipients`; the refused ones (others got it) with the reason."""
        if self._host is None or self._host.sock is None:
            self._open()
        try:
            refused = self._host.sendmail(envelope_from, recipients, data)
        except Exception as error:  # every failure becomes a message for the owner
            raise _failure(error, self.business) from error
        return {address: _reply(code, reply) for address, (code, reply) in refused.items()}


def _failure(error: Exception, business: Business) -> MailError:
    return MailError(_explain(error, business), temporary=_temporary(error))


def _temporary(error: Exception) -> bool:
    """Whether the same message may go through later: no answer, a hang-up or a 4xx reply."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _text in error.recipients.values()]
        return bool(codes) and all(400 <= code < 500 for code in codes)
    if isinstance(error, smtplib.SMTPResponseException):
        return 400 <= error.smtp_code < 500
    if isinstance(error, (smtplib.SMTPNotSupportedError, ssl.SSLError)):
        return False  # the settings must change first
    return isinstance(error, (smtplib.SMTPServerDisconnected, OSError))


def _reply(code: int, reply: bytes | str) -> str:
    if isinstance(reply, bytes):
        reply = reply.decode(errors="replace")
    return f"{code} {reply}"


def _explain(error: Exception, business: Business) -> str:
    """A French sentence for what went wrong while talking to the SMTP server."""
    server = f"{business.smtp_host}:{business.smtp_port}"
    if isinstance(error, smtplib.SMTPAuthenticationError):
        return _("Identifiant ou mot de passe SMTP refusé par le serveur.")
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return _("Destinataire refusé par le serveur SMTP : %(recipients)s.",
                 recipients=", ".join(f"{address} ({_reply(*answer)})"
                                      for address, answer in error.recipients.items()))
    if isinstance(error, smtplib.SMTPSenderRefused):
        return _("Adresse d'expéditeur refusée par le serveur SMTP : %(sender)s.",
                 sender=error.sender)
    if isinstance(error, smtplib.SMTPResponseException):
        reply = error.smtp_error
        if isinstance(reply, bytes):
            reply = reply.decode(errors="replace")
        return _("Le serveur SMTP a refusé le message (%(code)s %(reply)s).",
                 code=error.smtp_code, reply=reply)
    if isinstance(error, smtplib.SMTPNotSupportedError):
        return _("Le serveur SMTP ne prend pas en charge le chiffrement STARTTLS ou "
                 "l'authentification demandés : vérifiez le mode de sécurité.")
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return _("Le serveur SMTP %(server)s a coupé la connexion : "
                 "vérifiez le port et le mode de sécurité.", server=server)
    if isinstance(error, flask_mail.BadHeaderError):
        return _("Le message contient un en-tête invalide "
                 "(retour à la ligne dans le titre ou le nom).")
    if isinstance(error, ssl.SSLCertVerificationError):
        return _("Le certificat du serveur SMTP %(server)s n'est pas valide (%(reason)s) : "
                 "la connexion a été refusée pour protéger votre mot de passe.",
                 server=server, reason=error.verify_message)
    if isinstance(error, ssl.SSLError):
        return _("La connexion chiffrée avec %(server)s a échoué : "
                 "vérifiez le port et le mode de sécurité.", server=server)
    if isinstance(error, (TimeoutError, socket.timeout)):
        return _("Le serveur SMTP %(server)s ne répond pas (délai de %(seconds)s s dépassé).",
                 server=server, seconds=TIMEOUT_SECONDS)
    if isinstance(error, ConnectionRefusedError):
        return _("Connexion refusée par %(server)s : "
                 "vérifiez l'adresse et le port du serveur SMTP.", server=server)
    if isinstance(error, socket.gaierror):
        return _("Serveur SMTP introuvable : %(host)s.", host=business.smtp_host)
    if isinstance(error, UnicodeEncodeError):  # an address with accents, in MAIL or RCPT
        address = re.search(r"<(.*)>", str(error.object))
        return _("Adresse refusée : le serveur SMTP n'accepte pas les caractères accentués "
                 "(%(address)s).", address=address.group(1) if address else error.object)
    if isinstance(error, OSError):
        return _("Impossible de joindre le serveur SMTP %(server)s (%(reason)s).",
                 server=server, reason=error.strerror or error)
    return _("Échec de l'envoi : %(error)s.", error=error)


def send_test(business: Business, to: str) -> None:
    """Send a short test message to `to` with the saved SMTP settings."""
    body = _(
        "Bonjour,\n\nCe message confirme que Facturier peut envoyer des emails avec le serveur "
        "%(host)s.\n",
        host=business.smtp_host,
    )
    if business.email_signature:
        body += "\n-- \n" + business.email_signature + "\n"
    send(business, message(business, [to], _("Facturier : message de test"), body))
