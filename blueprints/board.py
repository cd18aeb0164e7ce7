"""The board « Facturation »: invoices across Préparation → Envoi → Suivi → Archives."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import Blueprint, abort, g, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from billing import board, payments, settings
from billing.models import Client, Invoice, Job, db, utcnow, write_lock
from blueprints import htmx, render

bp = Blueprint("board", __name__)

TITLES = {
    "preparation": _l("Préparation"),
    "sending": _l("Envoi"),
    "follow_up": _l("Suivi"),
    "archives": _l("Archives"),
}
# Where the cards a column does not show can be found (the archives page, filtered).
MORE_STATUS = {"preparation": "draft", "sending": "to_send", "follow_up": "awaiting_payment"}
# A poll asks again for what changed a little before its last answer: a change committed while
# that answer was being made is sent twice rather than never.
POLL_OVERLAP = timedelta(seconds=5)


@bp.get("/")
def index():
    filters, errors = _filters()
    clients, jobs = board.filter_choices()
    recap = board.since(g.user.board_seen_at)
    page = render(
        "board/index.html",
        "board",
        columns=board.columns(filters),
        titles=TITLES,
        more_status=MORE_STATUS,
        filters=filters,
        clients=clients,
        jobs=jobs,
        errors=errors,
        today=settings.today(),
        since=_since_marker(),
        recap=recap,
        paid_online=recap.paid_online,
        method_labels=payments.METHOD_LABELS,
    )
    if not htmx:  # a visit, not a filter change: what is new is from now on
        write_lock()  # a GET that writes
        g.user.board_seen_at = utcnow()
        db.session.commit()
    return page, 422 if errors else 200


@bp.get("/board/changes")
def changes():
    """The poll of the board: the cards changed since `since`, swapped out of band."""
    try:
        since = datetime.fromisoformat(request.args.get("since", ""))
    except ValueError:
        abort(400)
    marker = _since_marker()
    filters, _errors = _filters()
    return refreshed(board.changed_since(since, filters), filters, marker)


def refreshed(changed: list[Invoice], filters: board.Filters | None = None, since: str = "") -> str:
    """Cards moved to their column and every column's count and totals, all out of band.

    The answer to a change made from the board (e.g. « Facture envoyée » on a card) and to its poll.
    """
    if filters is None:
        filters, _errors = _filters()
    return render_template(
        "board/_changes.html",
        changed=changed,
        summaries=board.summaries(filters),
        column_key=board.column_key,
        titles=TITLES,
        filters=filters,
        today=settings.today(),
        since=since or _since_marker(),
    )


def _since_marker() -> str:
    return (utcnow() - POLL_OVERLAP).isoformat(timespec="seconds")


def _filters() -> tuple[board.Filters, dict[str, str]]:
    """The client and job filters; an unknown one is dropped, with a message."""
    errors = {}
    try:
        client = chosen(Client, "client_id")
    except LookupError:
        errors["client_id"] = _("Ce client n'existe pas.")
        client = None
    try:
        job = chosen(Job, "job_id")
    except LookupError:
        errors["job_id"] = _("Ce dossier n'existe pas.")
        job = None
    if job is not None and client is not None and job.client_id != client.id:
        errors["job_id"] = _("Ce dossier appartient à un autre client.")
        job = None
    return board.Filters(client.id if client else None, job.id if job else None), errors


def chosen(model, name: str):
    """The row whose id is in the query string (or form) `name`: None when empty, LookupError
    when unknown."""
    text = request.values.get(name, "").strip()
    if not text:
        return None
    found = db.session.get(model, int(text)) if text.isdigit() and len(text) < 16 else None
    if found is None:
        raise LookupError(name)
    return found
