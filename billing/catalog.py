"""The catalog (« Produits et services »): items invoices copy their lines from.

An item is never deleted, only deactivated: a deactivated item disappears
from the picker of the invoice editor but stays in the lists.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import selectinload

from billing.models import Item, TaxRate, db

PICKER_LIMIT = 20
STATUSES = ("active", "inactive", "all")


def _matching(statement: Select, query: str) -> Select:
    """Keep the items whose name or description contains `query` (case-insensitive)."""
    query = query.strip()
    if not query:
        return statement
    escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = f"%{escaped}%"
    return statement.where(
        or_(Item.name.ilike(pattern, escape="\\"), Item.description.ilike(pattern, escape="\\"))
    )


def listing(query: str = "", status: str = "active") -> Select:
    """The catalog list (with each item's tax rates), alphabetical."""
    statement = select(Item).options(selectinload(Item.tax_rates)).order_by(Item.name, Item.id)
    if status == "active":
        statement = statement.where(Item.active)
    elif status == "inactive":
        statement = statement.where(~Item.active)
    return _matching(statement, query)


def picker(query: str = "", limit: int = PICKER_LIMIT) -> list[Item]:
    """At most `limit` active items matching `query`, alphabetical, for the invoice editor."""
    return list(db.session.scalars(listing(query, "active").limit(limit)))


def choosable_rates(item: Item | None = None) -> list[TaxRate]:
    """The rates an item may default to: the active ones, plus those it already has."""
    current = {rate.id for rate in item.tax_rates} if item else set()
    statement = select(TaxRate).order_by(TaxRate.id)
    if current:
        statement = statement.where(or_(TaxRate.active, TaxRate.id.in_(current)))
    else:
        statement = statement.where(TaxRate.active)
    return list(db.session.scalars(statement))


def create(
    name: str,
    unit_price_cents: int,
    description: str = "",
    unit: str = "",
    tax_rates: Iterable[TaxRate] = (),
) -> Item:
    item = Item(name=name)
    db.session.add(item)
    update(item, name, unit_price_cents, description, unit, tax_rates)
    return item


def update(
    item: Item,
    name: str,
    unit_price_cents: int,
    description: str = "",
    unit: str = "",
    tax_rates: Iterable[TaxRate] = (),
) -> None:
    item.name = name
    item.unit_price_cents = unit_price_cents
    item.description = description
    item.unit = unit
    item.tax_rates = list(tax_rates)
    db.session.flush()


def activate(item: Item) -> None:
    item.active = True
    db.session.flush()


def deactivate(item: Item) -> None:
    item.active = False
    db.session.flush()
