"""Thin HTTP layer: one blueprint per area, and the helpers they share.

`render` is the one helper that answers with the whole page, or only the
named block when htmx asks (``HX-Request``). The same template serves both.
"""

from __future__ import annotations

from flask import Flask, abort, render_template, request
from jinja2_fragments.flask import render_block

from billing.models import db


def render(template: str, block: str | None = None, **context) -> str:
    """The page, or only `block` of it for an htmx request.

    Boosted links and history restores (htmx reloading a page it has no cache
    for) get the whole page.
    """
    headers = request.headers
    if (
        block
        and headers.get("HX-Request")
        and not headers.get("HX-Boosted")
        and not headers.get("HX-History-Restore-Request")
    ):
        return render_block(template, block, **context)
    return render_template(template, **context)


def get_or_404(model, object_id: int):
    found = db.session.get(model, object_id)
    if found is None:
        abort(404)
    return found


def register_blueprints(app: Flask) -> None:
    from blueprints import archives, auth, board, catalog, clients, invoices, jobs, settings, taxes
    from blueprints.filters import register_filters

    for module in (archives, auth, board, catalog, clients, invoices, jobs, settings, taxes):
        app.register_blueprint(module.bp)
    register_filters(app)
    from blueprints import errors

    errors.register(app)
