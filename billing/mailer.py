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
    """A reason, in French, why a message could not be sent."""


class NotConfigured(MailError):
    pass


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
        return _("Identifiant ou mot de passe SMTP refusé par le serveur.")
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return _("Destinataire refusé par le serveur SMTP : %(recipients)s.",
                 recipients=", ".join(error.recipients))
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
