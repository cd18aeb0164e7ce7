"""Money is integer cents; quantities and rates are Decimals.

Inputs accept a comma or a dot as decimal separator and spaces (also the
narrow no-break spaces that French formatting produces) as thousands
separators. Every rounding is ROUND_HALF_UP.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from flask_babel import gettext as _

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


MAX_AMOUNT_CENTS = 100_000_000_000  # one billion: far above any invoice, far below overflow


def parse_amount(text: str) -> int:
    """Read an amount typed by a person (« 1 234,56 ») as cents (123456)."""
    cents = round_cents(parse_decimal(text, max_places=2))
    if abs(cents) > MAX_AMOUNT_CENTS:
        raise InvalidNumber(text)
    return cents


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


# --- Invoice arithmetic -----------------------------------------------------
# A line's net is quantity × unit price, rounded to the cent, minus its discount.
# An invoice-level discount is spread over the line nets in proportion to them
# (the largest line absorbs the rounding cent). Each tax is computed once, on
# the sum of the nets that carry it, then rounded: never line by line.

class AmountError(ValueError):
    """An amount that cannot be: a discount above the line, instalments that do not add up."""


@dataclass(frozen=True)
class Discount:
    """A reduction: `percent` (a Decimal, 10 = 10 %) or `cents`, never both."""

    percent: Decimal | None = None
    cents: int | None = None

    def of(self, gross_cents: int) -> int:
        if self.percent is not None:
            if not Decimal(0) <= self.percent <= Decimal(100):
                raise AmountError(_("Une remise en pourcentage doit être comprise entre 0 et 100 %."))
            return round_cents(Decimal(gross_cents) * self.percent / 100 / 100)
        cents = self.cents or 0
        if cents < 0:
            raise AmountError(_("Une remise ne peut pas être négative."))
        if cents > max(gross_cents, 0):
            raise AmountError(_("La remise dépasse le montant de la ligne."))
        return cents


NO_DISCOUNT = Discount()


@dataclass(frozen=True)
class TaxKey:
    """What identifies a tax on a document: its name, rate and registration number."""

    name: str
    rate_millis: int
    registration_number: str = ""


@dataclass(frozen=True)
class Line:
    quantity: Decimal
    unit_price_cents: int
    discount: Discount = NO_DISCOUNT
    taxes: tuple[TaxKey, ...] = ()

    @property
    def gross_cents(self) -> int:
        return round_cents(self.quantity * Decimal(self.unit_price_cents) / 100)

    @property
    def net_cents(self) -> int:
        return self.gross_cents - self.discount.of(self.gross_cents)


@dataclass(frozen=True)
class TaxTotal:
    key: TaxKey
    base_cents: int
    amount_cents: int


@dataclass(frozen=True)
class Totals:
    line_nets: tuple[int, ...]
    net_cents: int
    taxes: tuple[TaxTotal, ...] = field(default=())

    @property
    def tax_cents(self) -> int:
        return sum(tax.amount_cents for tax in self.taxes)

    @property
    def total_cents(self) -> int:
        return self.net_cents + self.tax_cents


def tax_of(base_cents: int, rate_millis: int) -> int:
    """The tax on a base, rounded half-up: 9 999 c at 9,975 % → 997 c."""
    return round_cents(Decimal(base_cents) * Decimal(rate_millis) / 100_000 / 100)


def spread(amount_cents: int, weights: list[int]) -> list[int]:
    """Split an amount in proportion to weights; the largest weight absorbs the rounding."""
    total = sum(weights)
    if not weights or total == 0:
        return [0] * len(weights)
    shares = [round_cents(Decimal(amount_cents) * w / total / 100) for w in weights]
    shares[weights.index(max(weights))] += amount_cents - sum(shares)
    return shares


def compute_totals(lines: list[Line], invoice_discount: Discount = NO_DISCOUNT) -> Totals:
    """Net, each tax on the sum of its nets, and total of an invoice."""
    nets = [line.net_cents for line in lines]
    reduction = invoice_discount.of(sum(nets))
    if reduction:
        nets = [net - share for net, share in zip(nets, spread(reduction, nets), strict=True)]
    bases: dict[TaxKey, int] = {}
    for line, net in zip(lines, nets, strict=True):
        for key in line.taxes:
            bases[key] = bases.get(key, 0) + net
    taxes = tuple(
        TaxTotal(key, base, tax_of(base, key.rate_millis)) for key, base in bases.items()
    )
    return Totals(tuple(nets), sum(nets), taxes)


@dataclass(frozen=True)
class InstalmentSpec:
    """One instalment as typed: a `percent` of the total or an amount in `cents`."""

    percent: Decimal | None = None
    cents: int | None = None


def split_instalments(total_cents: int, specs: list[InstalmentSpec]) -> list[int]:
    """Amounts of a payment schedule; they add up exactly to the total.

    Percentages must add up to 100 % (or, mixed with amounts, cover the rest
    exactly); the last instalment absorbs the rounding cent.
    """
    if not specs:
        return []
    amounts = []
    for spec in specs:
        if spec.percent is not None:
            if spec.percent <= 0:
                raise AmountError(_("Chaque échéance doit être positive."))
            amounts.append(round_cents(Decimal(total_cents) * spec.percent / 100 / 100))
        else:
            if spec.cents is None or spec.cents <= 0:
                raise AmountError(_("Chaque échéance doit être positive."))
            amounts.append(spec.cents)
    percents = [s.percent for s in specs if s.percent is not None]
    if percents and len(percents) == len(specs) and sum(percents) != 100:
        raise AmountError(
            _(
                "Les échéances totalisent %(total)s %% au lieu de 100 %%.",
                total=format_rate_plain(int(sum(percents) * 1000)),
            )
        )
    difference = total_cents - sum(amounts)
    if specs[-1].percent is not None and abs(difference) <= len(percents):
        amounts[-1] += difference
    elif difference:
        raise AmountError(
            _(
                "Les échéances ne totalisent pas le montant de la facture (écart de %(gap)s).",
                gap=format_plain(difference),
            )
        )
    if any(amount <= 0 for amount in amounts):
        raise AmountError(_("Chaque échéance doit être positive."))
    return amounts
