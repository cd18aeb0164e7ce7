"""Thin HTTP layer: one blueprint per area, and the helpers they share.

`render` is the one helper that answers with the whole page, or only the
named block when htmx asks (``HX-Request``). The same template serves both.
`htmx` (flask-htmx) tells whether a request comes from htmx (`if htmx:`) and
reads its other headers (`htmx.current_url`, `htmx.target`...).
"""

from __future__ import annotations

from flask import Flask, abort, current_app, render_template, request
from flask_htmx import HTMX
from jinja2_fragments.flask import render_block
from werkzeug.routing import IntegerConverter

from billing.models import db


def render(template: str, block: str | None = None, **context) -> str:
    """The page, or only `block` of it for an htmx request.

    Boosted links and history restores (htmx reloading a page it has no cache
    for) get the whole page.
    """
    if block and htmx and not htmx.boosted and not htmx.history_restore_request:
        return render_block(template, block, **context)
    return render_template(template, **context)


htmx = HTMX()  # initialized with the app in create_app


def base_url() -> str:
    """Where the links we give clients point: BILLING_BASE_URL, else this request's root
    (which works behind a proxy that sets X-Forwarded-*, see BILLING_TRUSTED_PROXIES)."""
    return current_app.config["BILLING_BASE_URL"] or request.url_root.rstrip("/")


MAX_ID = 2**63 - 1  # the largest integer SQLite stores


def db_int(value) -> int:
    """A positive whole number a database can hold; raises ValueError otherwise.

    Use it as `request.args.get("page", 1, type=db_int)`: a bad value falls back
    to the default instead of overflowing SQLite.
    """
    number = int(value)
    if not 1 <= number <= MAX_ID:
        raise ValueError(value)
    return number


class IdConverter(IntegerConverter):
    """`<int:...>` in URLs, bounded to what SQLite stores: a bigger id is a 404."""

    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


def get_or_404(model, object_id: int):
    found = db.session.get(model, object_id)
    if found is None:
        abort(404)
    return found


def register_blueprints(app: Flask) -> None:
    app.url_map.converters["int"] = IdConverter
    from blueprints import (archives, auth, board, catalog, clients, invoices, jobs, outbox,
                            settings, taxes)
    from blueprints.filters import register_filters

    for module in (archives, auth, board, catalog, clients, invoices, jobs, outbox, settings, taxes):
        app.register_blueprint(module.bp)
    from blueprints import registers

    app.register_blueprint(registers.bp)
    from blueprints import portal, sending

    app.register_blueprint(sending.bp)
    app.register_blueprint(portal.bp)
    from blueprints import payments, statements, webhooks

    app.register_blueprint(payments.bp)
    app.register_blueprint(webhooks.bp)
    app.register_blueprint(statements.bp)
    register_filters(app)
    from blueprints import errors

    errors.register(app)
