"""Money is integer cents; quantities and rates are Decimals.

Inputs accept a comma or a dot as decimal separator and spaces (also the
narrow no-break spaces that French formatting produces) as thousands
separators. Every rounding is ROUND_HALF_UP.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")
_SPACES = re.compile(r"[\s\u00a0\u202f']")
_NUMBER = re.compile(r"^[+-]?(\d+)?([.,]\d*)?$")


class InvalidNumber(ValueError):
    """The text is not a number we can read."""


def parse_decimal(text: str, max_places: int | None = None) -> Decimal:
    """Read « 1 234,5 » or « 1234.5 » as Decimal('1234.5')."""
    cleaned = _SPACES.sub("", (text or "").strip())
    if not cleaned or not _NUMBER.match(cleaned) or cleaned in {"+", "-", ".", ","}:
        raise InvalidNumber(text)
    cleaned = cleaned.replace(",", ".")
    try:
        value = Decimal(cleaned)
    except InvalidOperation as error:
        raise InvalidNumber(text) from error
    if not value.is_finite():
        raise InvalidNumber(text)
    if max_places is not None and -value.as_tuple().exponent > max_places:
        raise InvalidNumber(text)
    return value


def round_cents(value: Decimal) -> int:
    """A Decimal amount of money (in units) rounded half-up to integer cents."""
    return int((value / CENT).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def parse_amount(text: str) -> int:
    """Read an amount typed by a person (« 1 234,56 ») as cents (123456)."""
    return round_cents(parse_decimal(text, max_places=2))


def to_decimal(cents: int) -> Decimal:
    return (Decimal(cents) * CENT).quantize(CENT)


def format_plain(cents: int) -> str:
    """Cents as an input value: 123456 → « 1234,56 » (what a form field shows)."""
    return f"{to_decimal(cents)}".replace(".", ",")


def parse_rate(text: str) -> int:
    """A percentage with up to 3 decimals (« 9,975 ») as thousandths (9975)."""
    return int(parse_decimal(text, max_places=3) * 1000)


def format_rate_plain(rate_millis: int) -> str:
    """9975 → « 9,975 »; 20000 → « 20 » (what a form field shows)."""
    text = f"{(Decimal(rate_millis) / 1000).normalize():f}"
    return text.replace(".", ",")

# Currencies offered for the business and its clients.
CURRENCIES = ("EUR", "CAD", "USD", "CHF", "GBP")
