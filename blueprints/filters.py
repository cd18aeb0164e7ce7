"""Template filters: money, dates and rates in the reader's locale (see billing/formats.py),
and the lifecycle predicates as the global `lifecycle`."""

from __future__ import annotations

from flask import Flask
from flask_babel import get_locale

from billing import invoices, lifecycle
from billing.formats import date_filter, money_filter, rate_filter

__all__ = ["date_filter", "money_filter", "rate_filter", "register_filters"]


def register_filters(app: Flask) -> None:
    app.jinja_env.filters["money"] = money_filter
    app.jinja_env.filters["rate"] = rate_filter
    app.jinja_env.filters["day"] = date_filter
    app.jinja_env.globals["current_locale"] = lambda: str(get_locale() or "fr")
    # The lifecycle rules, for templates: `lifecycle.can_edit(invoice)` and the others.
    app.jinja_env.globals["lifecycle"] = lifecycle
    app.jinja_env.globals["invoice_service"] = invoices.service_period
