"""Form fields that read what people type: amounts, rates, lists of emails.

Each keeps the raw text on error so nothing typed is lost, and raises a
French message shown next to the field.
"""

from __future__ import annotations

import re

from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_wtf.file import FileField
from wtforms import PasswordField, StringField, ValidationError
from wtforms.validators import DataRequired, EqualTo, Length, StopValidation

from billing import accounts, money

REQUIRED = _l("Ce champ est obligatoire.")
DATE_FORMATS = ["%Y-%m-%d", "%d/%m/%Y"]  # a date input, or a date typed by hand in French
TOO_LONG = _l("Au plus %(max)d caractères.")


def new_password_field(label) -> PasswordField:
    """A new password, long enough."""
    return PasswordField(
        label,
        validators=[
            DataRequired(REQUIRED),
            Length(min=accounts.MIN_PASSWORD_LENGTH, message=_l("Au moins 10 caractères.")),
        ],
    )


def password_again_field(label, first: str) -> PasswordField:
    """The same password typed again: must equal the field named `first`."""
    return PasswordField(
        label,
        validators=[
            DataRequired(REQUIRED),
            EqualTo(first, message=_l("Les deux mots de passe ne sont pas identiques.")),
        ],
    )


def strip(value):
    """A filter for text fields: no leading or trailing spaces."""
    return value.strip() if isinstance(value, str) else value


def value_required(_form, field):
    """Required, for a parsed field: unreadable text keeps its own message."""
    if field.data is None and not field.errors:
        raise StopValidation(REQUIRED)

_EMAIL_SEPARATORS = re.compile(r"[,;\s]+")


class _TextParsedField(StringField):
    """A text input whose value is parsed; the raw text is shown back on error."""

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return "" if self.data is None else self.format(self.data)

    def process_formdata(self, valuelist):
        self.raw_data = valuelist
        text = (valuelist[0] if valuelist else "").strip()
        if not text:
            self.data = None
            return
        try:
            self.data = self.parse(text)
        except money.InvalidNumber as error:
            self.data = None
            raise ValueError(self.invalid_message) from error

    def format(self, value) -> str:
        return str(value)

    def parse(self, text: str):
        raise NotImplementedError


class AmountField(_TextParsedField):
    """An amount of money typed as « 1 234,56 »; data is integer cents."""

    invalid_message = _l("Montant invalide : utilisez des chiffres, par exemple 1 234,56.")

    def __init__(self, *args, allow_negative: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.allow_negative = allow_negative

    def format(self, value: int) -> str:
        return money.format_plain(value)

    def parse(self, text: str) -> int:
        cents = money.parse_amount(text)
        if cents < 0 and not self.allow_negative:
            raise ValueError(_("Le montant ne peut pas être négatif."))
        return cents


class RateField(_TextParsedField):
    """A percentage with up to 3 decimals (« 9,975 »); data is thousandths of a percent."""

    invalid_message = _l("Taux invalide : un pourcentage avec au plus 3 décimales, par exemple 9,975.")

    def format(self, value: int) -> str:
        return money.format_rate_plain(value)

    def parse(self, text: str) -> int:
        rate = money.parse_rate(text.rstrip("%").strip())
        if rate < 0 or rate > 100_000:
            raise ValueError(_("Le taux doit être compris entre 0 et 100 %."))
        return rate


def split_emails(text: str) -> list[str]:
    """« a@x.fr; b@y.fr , a@x.fr » → ['a@x.fr', 'b@y.fr'] (order kept, duplicates removed)."""
    seen: dict[str, str] = {}
    for part in _EMAIL_SEPARATORS.split(text or ""):
        if part and part.lower() not in seen:
            seen[part.lower()] = part
    return list(seen.values())


class EmailListField(StringField):
    """Several addresses separated by « , » or « ; »; data is a list; each is validated."""

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return ", ".join(self.data or [])

    def process_formdata(self, valuelist):
        self.raw_data = valuelist
        self.data = split_emails(valuelist[0] if valuelist else "")

    def pre_validate(self, form):
        bad = []
        for address in self.data:
            try:
                validate_email(address, check_deliverability=False)
            except EmailNotValidError:
                bad.append(address)
        if bad:
            raise ValidationError(
                ngettext(
                    "Adresse email invalide : %(addresses)s",
                    "Adresses email invalides : %(addresses)s",
                    len(bad),
                    addresses=", ".join(bad),
                )
            )


class LimitedFileField(FileField):
    """An upload with a size limit and a list of accepted types (checked on the bytes)."""

    def __init__(self, *args, max_bytes: int, kinds: dict[str, bytes], **kwargs):
        super().__init__(*args, **kwargs)
        self.max_bytes = max_bytes
        self.kinds = kinds  # name shown to people -> magic bytes the file must start with

    def pre_validate(self, form):
        upload = self.data
        if not upload or not getattr(upload, "filename", ""):
            return
        upload.stream.seek(0, 2)
        size = upload.stream.tell()
        upload.stream.seek(0)
        if size > self.max_bytes:
            megabytes = f"{size / 1_048_576:.1f}".replace(".", ",")
            raise ValidationError(
                _(
                    "Fichier trop volumineux (%(size)s Mo) : %(max)s Mo au maximum.",
                    size=megabytes,
                    max=self.max_bytes // 1_048_576,
                )
            )
        head = upload.stream.read(16)
        upload.stream.seek(0)
        if not any(head.startswith(magic) for magic in self.kinds.values()):
            or_word = _("ou")
            kinds = f" {or_word} ".join(self.kinds)
            raise ValidationError(_("Type de fichier refusé : %(kinds)s attendu.", kinds=kinds))


PNG_OR_JPEG = {"PNG": b"\x89PNG\r\n\x1a\n", "JPEG": b"\xff\xd8\xff"}
PDF = {"PDF": b"%PDF-"}
