"""The business row and the owner's preferences: defaults, checks and updates.

Checks raise `SettingsError` with a French message; the `normalize_*`
helpers return the value in the form it is stored (IBAN without spaces...).
"""

from __future__ import annotations

import re
from datetime import date
from functools import cache
from pathlib import PurePath
from zoneinfo import available_timezones

from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from billing import clock, uploads
from billing.models import Business, Country, User, db

FRENCH_LATE_PAYMENT_TEXT = (
    "En cas de retard de paiement, des pénalités de retard sont exigibles au taux "
    "de trois fois le taux d'intérêt légal, ainsi qu'une indemnité forfaitaire pour "
    "frais de recouvrement de 40 € (art. L441-10 et D441-5 du Code de commerce). "
    "Pas d'escompte pour paiement anticipé."
)
VAT_EXEMPT_MENTION = "TVA non applicable, art. 293 B du CGI"

DEFAULT_SUBJECT = "Facture {numero}"
DEFAULT_BODY = (
    "Bonjour {client},\n\n"
    "Veuillez trouver ci-joint la facture {numero} d'un montant de {montant}, "
    "payable au plus tard le {echeance}.\n\n"
    "Vous pouvez la consulter et la régler en ligne : {lien}\n\n"
    "Merci de votre confiance."
)
DEFAULT_SUBJECT_EN = "Invoice {numero}"
DEFAULT_BODY_EN = (
    "Hello {client},\n\n"
    "Please find attached invoice {numero} for {montant}, due on {echeance}.\n\n"
    "You can view and pay it online: {lien}\n\n"
    "Thank you for your business."
)
# A statement of account's email (« Envoyer le relevé »): {debut} and {fin} are its period.
DEFAULT_STATEMENT_SUBJECT = "Relevé de compte"
DEFAULT_STATEMENT_BODY = (
    "Bonjour {client},\n\n"
    "Veuillez trouver ci-joint votre relevé de compte du {debut} au {fin}. "
    "Solde dû au {fin} : {montant}.\n\n"
    "Vous pouvez le consulter et tout régler en ligne : {lien}\n\n"
    "Merci de votre confiance."
)
DEFAULT_STATEMENT_SUBJECT_EN = "Statement of account"
DEFAULT_STATEMENT_BODY_EN = (
    "Hello {client},\n\n"
    "Please find attached your statement of account from {debut} to {fin}. "
    "Balance due on {fin}: {montant}.\n\n"
    "You can view it and pay everything online: {lien}\n\n"
    "Thank you for your business."
)


def business() -> Business:
    """The one business row (created with the owner account)."""
    found = db.session.scalar(select(Business).order_by(Business.id).limit(1))
    if found is None:
        raise LookupError("No business yet: create the owner account first.")
    return found


def create_business(name: str, email: str, country: Country = Country.FR) -> Business:
    row = Business(
        name=name,
        email=email,
        country=country,
        email_subject_template=DEFAULT_SUBJECT,
        email_body_template=DEFAULT_BODY,
        email_subject_template_en=DEFAULT_SUBJECT_EN,
        email_body_template_en=DEFAULT_BODY_EN,
    )
    apply_country_defaults(row)
    db.session.add(row)
    db.session.flush()
    return row


def apply_country_defaults(row: Business) -> None:
    """Fill what a business of its country is expected to have, where still empty."""
    defaults = {
        Country.FR: ("EUR", "Europe/Paris", FRENCH_LATE_PAYMENT_TEXT),
        Country.BE: ("EUR", "Europe/Brussels", ""),
        Country.CA_QC: ("CAD", "America/Toronto", ""),
    }
    if row.country not in defaults:
        return
    currency, tz, late_text = defaults[row.country]
    row.currency = row.currency or currency
    row.timezone = row.timezone or tz
    if not row.late_payment_text:
        row.late_payment_text = late_text


class SettingsError(Exception):
    """A reason, in French, why a setting was refused."""


LANGUAGES = {"fr": "Français", "en": "English"}
# {montant} and {echeance}: the amount due now and its date (the next instalment of a payment
# schedule, else the total and the due date); {solde}: the balance (see sending.placeholders).
PLACEHOLDERS = ("numero", "client", "montant", "echeance", "lien", "solde")
SECRETS = ("smtp_password", "stripe_secret_key", "stripe_webhook_secret")
_PLACEHOLDER = re.compile(r"\{([^{}\s]+)\}")
_KNOWN_PLACEHOLDER = re.compile(r"\{(" + "|".join(PLACEHOLDERS) + r")\}")
_BIC = re.compile(r"[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?")
_IBAN = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}")


def today(row: Business | None = None) -> date:
    """Today in the business's time zone."""
    row = row or business()
    return clock.today(row.timezone)


@cache
def time_zones() -> list[str]:
    return sorted(available_timezones())


def check_template(text: str) -> None:
    """Refuse a subject or body using a placeholder other than the known ones (PLACEHOLDERS)."""
    unknown = [name for name in _PLACEHOLDER.findall(text) if name not in PLACEHOLDERS]
    if unknown:
        listed = ", ".join(dict.fromkeys("{" + name + "}" for name in unknown))
        allowed = ", ".join("{" + name + "}" for name in PLACEHOLDERS)
        raise SettingsError(
            _("Variable inconnue : %(listed)s. Variables permises : %(allowed)s.",
              listed=listed, allowed=allowed)
        )


def fill_template(template: str, values: dict) -> str:
    """Replace {numero}, {client}, {montant}, {echeance}, {lien}, {solde}; other braces stay."""

    def replace(match: re.Match) -> str:
        name = match.group(1)
        return str(values[name]) if name in values else match.group(0)

    return _KNOWN_PLACEHOLDER.sub(replace, template)


def _compact(text: str) -> str:
    return re.sub(r"[\s.\-]", "", text).upper()


def normalize_iban(text: str) -> str:
    """« fr76 3000 6000 0112 3456 7890 189 » → « FR7630006000011234567890189 » (mod-97 checked)."""
    iban = _compact(text)
    if not _IBAN.fullmatch(iban):
        raise SettingsError(
            _("IBAN invalide : 2 lettres, 2 chiffres puis 11 à 30 lettres ou chiffres.")
        )
    digits = "".join(str(int(c, 36)) for c in iban[4:] + iban[:4])
    if int(digits) % 97 != 1:
        raise SettingsError(
            _("IBAN invalide : la clé de contrôle ne correspond pas. Vérifiez la saisie.")
        )
    return iban


def normalize_bic(text: str) -> str:
    bic = _compact(text)
    if not _BIC.fullmatch(bic):
        raise SettingsError(
            _("BIC invalide : 8 ou 11 lettres et chiffres, par exemple BNPAFRPPXXX.")
        )
    return bic


def normalize_siren(text: str) -> str:
    siren = _compact(text)
    if not (siren.isdigit() and len(siren) == 9):
        raise SettingsError(_("Le SIREN compte 9 chiffres, par exemple 123 456 789."))
    return siren


def normalize_bce(text: str) -> str:
    number = _compact(text)
    if number.startswith("BE"):
        number = number[2:]
    if not (number.isdigit() and len(number) == 10):
        raise SettingsError(_("Le numéro BCE compte 10 chiffres, par exemple 0123.456.789."))
    return number


def update(row: Business, **fields) -> None:
    """Save the fields of one settings section.

    Switching the country fills what that country expects where still empty
    (for France: the late-payment mention).
    """
    country_changed = "country" in fields and fields["country"] is not row.country
    for name, value in fields.items():
        if name in SECRETS or not hasattr(Business, name):
            raise AttributeError(f"Not a plain business setting: {name}")
        setattr(row, name, value)
    if country_changed:
        apply_country_defaults(row)
    db.session.flush()


def update_secret(row: Business, name: str, value: str, clear: bool = False) -> None:
    """A blank value keeps the stored secret; `clear` (without a new value) erases it."""
    if name not in SECRETS:
        raise AttributeError(f"Not a secret: {name}")
    if value:
        setattr(row, name, value)
    elif clear:
        setattr(row, name, "")
    db.session.flush()


def set_logo(row: Business, upload: FileStorage) -> str | None:
    """Store a new logo (PNG or JPEG that decodes); returns the old file to delete after commit."""
    old = row.logo_path
    row.logo_path = uploads.save(upload, uploads.image_extension(upload.stream))
    db.session.flush()
    return old


def remove_logo(row: Business) -> str | None:
    old, row.logo_path = row.logo_path, None
    db.session.flush()
    return old


def set_terms(row: Business, upload: FileStorage) -> str | None:
    """Store the terms-and-conditions PDF; returns the old file to delete after commit."""
    old = row.terms_path
    row.terms_path = uploads.save(upload, "pdf")
    row.terms_filename = PurePath(upload.filename or "conditions.pdf").name[:200]
    db.session.flush()
    return old


def remove_terms(row: Business) -> str | None:
    old, row.terms_path, row.terms_filename = row.terms_path, None, None
    db.session.flush()
    return old


def set_language(user: User, language: str) -> None:
    if language not in LANGUAGES:
        raise SettingsError(_("Langue non prise en charge."))
    user.language = language
    db.session.flush()
