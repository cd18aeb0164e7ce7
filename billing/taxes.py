"""Tax rates: their rules and the presets offered per country.

A rate used by a finalized invoice is `locked`: it can still be deactivated,
never changed or deleted, so an issued invoice always names a real rate.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_ngettext
from sqlalchemy import func, select

from billing.models import Business, Country, TaxRate, db, item_tax_rate


class TaxError(Exception):
    """Why a change to a tax rate was refused (a French message)."""


class RateLocked(TaxError):
    def __init__(self, action: str):
        if action == "delete":
            message = _l(
                "Cette taxe est utilisée par une facture finalisée : elle ne peut pas être "
                "supprimée. Vous pouvez la désactiver (« Désactiver »)."
            )
        else:
            message = _l(
                "Cette taxe est utilisée par une facture finalisée : elle ne peut plus être "
                "modifiée. Désactivez-la (« Désactiver ») et créez-en une nouvelle."
            )
        super().__init__(message)


class RateInUse(TaxError):
    def __init__(self, products: int):
        self.products = products
        super().__init__(
            lazy_ngettext(
                "Cette taxe est la taxe par défaut de %(num)d produit : elle ne peut pas être "
                "supprimée. Désactivez-la plutôt (« Désactiver »).",
                "Cette taxe est la taxe par défaut de %(num)d produits : elle ne peut pas être "
                "supprimée. Désactivez-la plutôt (« Désactiver »).",
                products,
            )
        )


@dataclass(frozen=True)
class PresetRate:
    name: str
    rate_millis: int
    number_field: str  # the Business attribute holding the registration number


@dataclass(frozen=True)
class Preset:
    country: Country
    label: str
    rates: tuple[PresetRate, ...]


PRESETS = (
    Preset(
        Country.CA_QC,
        _l("Ajouter les taxes du Québec (TPS 5\u00a0% + TVQ 9,975\u00a0%)"),
        (PresetRate("TPS", 5_000, "gst_number"), PresetRate("TVQ", 9_975, "qst_number")),
    ),
    Preset(
        Country.FR,
        _l("Ajouter les taxes de France (TVA 20 / 10 / 5,5 / 2,1\u00a0%)"),
        (
            PresetRate("TVA 20 %", 20_000, "vat_number"),
            PresetRate("TVA 10 %", 10_000, "vat_number"),
            PresetRate("TVA 5,5 %", 5_500, "vat_number"),
            PresetRate("TVA 2,1 %", 2_100, "vat_number"),
        ),
    ),
    Preset(
        Country.BE,
        _l("Ajouter les taxes de Belgique (TVA 21 / 12 / 6 / 0\u00a0%)"),
        (
            PresetRate("TVA 21 %", 21_000, "vat_number"),
            PresetRate("TVA 12 %", 12_000, "vat_number"),
            PresetRate("TVA 6 %", 6_000, "vat_number"),
            PresetRate("TVA 0 %", 0, "vat_number"),
        ),
    ),
)


def all_rates() -> list[TaxRate]:
    """Every rate, active ones first, in the order they were added."""
    return list(db.session.scalars(select(TaxRate).order_by(TaxRate.active.desc(), TaxRate.id)))


def active_rates() -> list[TaxRate]:
    return list(db.session.scalars(select(TaxRate).where(TaxRate.active).order_by(TaxRate.id)))


def create(name: str, rate_millis: int, registration_number: str = "") -> TaxRate:
    rate = TaxRate(name=name, rate_millis=rate_millis, registration_number=registration_number)
    db.session.add(rate)
    db.session.flush()
    return rate


def update(rate: TaxRate, name: str, rate_millis: int, registration_number: str) -> None:
    if rate.locked:
        raise RateLocked("update")
    rate.name = name
    rate.rate_millis = rate_millis
    rate.registration_number = registration_number
    db.session.flush()


def products_using(rate: TaxRate) -> int:
    """How many catalog items have this rate among their default taxes."""
    used = select(func.count()).select_from(item_tax_rate)
    return db.session.scalar(used.where(item_tax_rate.c.tax_rate_id == rate.id))


def delete(rate: TaxRate) -> None:
    if rate.locked:
        raise RateLocked("delete")
    products = products_using(rate)
    if products:
        raise RateInUse(products)
    db.session.delete(rate)
    db.session.flush()


def activate(rate: TaxRate) -> None:
    rate.active = True
    db.session.flush()


def deactivate(rate: TaxRate) -> None:
    """Always allowed, locked or not: the rate is no longer offered for new lines."""
    rate.active = False
    db.session.flush()


def presets_for(business: Business) -> list[Preset]:
    """The presets, the business's own country first."""
    return sorted(PRESETS, key=lambda preset: preset.country is not business.country)


def preset(country: Country) -> Preset | None:
    return next((found for found in PRESETS if found.country is country), None)


def add_preset(chosen: Preset, business: Business) -> list[TaxRate]:
    """Add the preset's rates not there yet (same name and rate); return the new ones."""
    existing = {(rate.name, rate.rate_millis) for rate in db.session.scalars(select(TaxRate))}
    return [
        create(wanted.name, wanted.rate_millis, getattr(business, wanted.number_field))
        for wanted in chosen.rates
        if (wanted.name, wanted.rate_millis) not in existing
    ]
