"""Email over the business's own SMTP server (its settings, not the app config).

`send` delivers one Flask-Mail `Message`; every failure (server unreachable,
login refused, message rejected) becomes a `MailError` with a French message
for the owner. Without an SMTP host, `send` refuses with `NotConfigured`: the
outbox then writes messages to `instance/mail-outbox/` instead.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from email.utils import formataddr

import flask_mail

from billing.models import Business, SmtpSecurity

TIMEOUT_SECONDS = 15
OUTBOX_FOLDER = "instance/mail-outbox/"

class MailError(Exception):
    """A reason, in French, why a message could not be sent."""


class NotConfigured(MailError):
    pass


class _Connection(flask_mail.Connection):
    """Flask-Mail's connection, with a timeout so a silent server cannot hang us."""

    def configure_host(self):
        mail = self.mail
        smtp_class = smtplib.SMTP_SSL if mail.use_ssl else smtplib.SMTP
        host = smtp_class(mail.server, mail.port, timeout=TIMEOUT_SECONDS)
        try:
            if mail.use_tls:
                host.starttls()
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
            "Aucun serveur SMTP n'est configuré : les messages sont écrits dans le dossier "
            f"{OUTBOX_FOLDER} au lieu d'être envoyés."
        )
    envelope_from = business.smtp_sender or business.email
    try:
        with _Connection(_state(business)) as connection:
            connection.send(mail_message, envelope_from=envelope_from)
    except Exception as error:  # every failure becomes a message for the owner
        raise MailError(_explain(error, business)) from error


def _explain(error: Exception, business: Business) -> str:
    """A French sentence for what went wrong while talking to the SMTP server."""
    server = f"{business.smtp_host}:{business.smtp_port}"
    if isinstance(error, smtplib.SMTPAuthenticationError):
        return "Identifiant ou mot de passe SMTP refusé par le serveur."
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return "Destinataire refusé par le serveur SMTP : " + ", ".join(error.recipients) + "."
    if isinstance(error, smtplib.SMTPSenderRefused):
        return f"Adresse d'expéditeur refusée par le serveur SMTP : {error.sender}."
    if isinstance(error, smtplib.SMTPResponseException):
        reply = error.smtp_error
        if isinstance(reply, bytes):
            reply = reply.decode(errors="replace")
        return f"Le serveur SMTP a refusé le message ({error.smtp_code} {reply})."
    if isinstance(error, smtplib.SMTPNotSupportedError):
        return ("Le serveur SMTP ne prend pas en charge le chiffrement STARTTLS ou "
                "l'authentification demandés : vérifiez le mode de sécurité.")
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return (f"Le serveur SMTP {server} a coupé la connexion : "
                "vérifiez le port et le mode de sécurité.")
    if isinstance(error, flask_mail.BadHeaderError):
        return ("Le message contient un en-tête invalide "
                "(retour à la ligne dans le titre ou le nom).")
    if isinstance(error, ssl.SSLError):
        return (f"La connexion chiffrée avec {server} a échoué : "
                "vérifiez le port et le mode de sécurité.")
    if isinstance(error, (TimeoutError, socket.timeout)):
        return f"Le serveur SMTP {server} ne répond pas (délai de {TIMEOUT_SECONDS} s dépassé)."
    if isinstance(error, ConnectionRefusedError):
        return f"Connexion refusée par {server} : vérifiez l'adresse et le port du serveur SMTP."
    if isinstance(error, socket.gaierror):
        return f"Serveur SMTP introuvable : {business.smtp_host}."
    if isinstance(error, OSError):
        return f"Impossible de joindre le serveur SMTP {server} ({error.strerror or error})."
    return f"Échec de l'envoi : {error}."


def send_test(business: Business, to: str) -> None:
    """Send a short test message to `to` with the saved SMTP settings."""
    body = (
        "Bonjour,\n\n"
        f"Ce message confirme que Facturier peut envoyer des emails avec le serveur "
        f"{business.smtp_host}.\n"
    )
    if business.email_signature:
        body += "\n-- \n" + business.email_signature + "\n"
    send(business, message(business, [to], "Facturier : message de test", body))
