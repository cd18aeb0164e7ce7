"""Money, rates and dates written in the current locale (fr: 1 234,56 €, 9,975 %, 23/11/2026).

Used by the templates (as the `money`, `rate` and `day` filters) and by the domain
where it writes text for people: email bodies, history details, messages.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from babel.numbers import format_currency, format_decimal
from flask_babel import format_date, get_locale

from billing import money


def money_filter(cents: int | None, currency: str = "EUR") -> str:
    """1 234,56 € in French, €1,234.56 in English."""
    if cents is None:
        return ""
    locale = str(get_locale() or "fr")
    if locale == "fr" and currency == "CAD":
        locale = "fr_CA"  # 1 234,56 $ rather than 1 234,56 $CA
    return format_currency(money.to_decimal(cents), currency, locale=locale)


def rate_filter(rate_millis: int) -> str:
    """9 975 thousandths → « 9,975 % »."""
    value = Decimal(rate_millis) / 1000
    return format_decimal(value, format="#,##0.###", locale=str(get_locale() or "fr")) + " %"


def date_filter(value: date | datetime | None) -> str:
    """23/11/2026 in French."""
    if value is None:
        return ""
    return format_date(value, format="dd/MM/yyyy")
