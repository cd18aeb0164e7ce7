"""The registers « Facturier », « Facturier email », « Facturier papier »: lists, batch sending,
its progress, and the combined PDF to print."""

from __future__ import annotations

import io
import json
import re

from flask import Blueprint, abort, redirect, request, send_file, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from billing import documents, lifecycle, outbox, registers, settings
from billing.models import Client, db, read_first, write_lock
from blueprints import base_url, db_int, htmx, render
from blueprints.board import chosen

bp = Blueprint("registers", __name__, url_prefix="/registers")

PER_PAGE = 50
REGISTER = f"<any({', '.join(registers.REGISTERS)}):register>"
TITLES = {
    "all": _l("Facturier"),
    "email": _l("Facturier email"),
    "paper": _l("Facturier papier"),
}
# What a selection can become in each register: « Envoyer par email », « Imprimer ».
ACTIONS = {"all": ("send", "print"), "email": ("send",), "paper": ("print",)}
_BATCH = re.compile(r"[0-9a-f]{32}")
REFUSED_KEY = "register_refused"  # the invoices the last batch could not send, for its page
REFUSED_KEPT = 20  # reasons kept in the session cookie (it must stay small); the rest are counted


@bp.get("/")
def home():
    return redirect(url_for("registers.index", register="all"))


@bp.get(f"/{REGISTER}")
def index(register: str):
    return _page(register, selected=None if request.args.get("all") == "1" else [])


def _selection(register: str, action: str):
    """The ids ticked in `register` for `action` and their invoices, or the page again (422)
    saying why the selection cannot be used; 404 for an action the register does not offer
    or an invoice that is not in it. The PDFs come next: no write lock is held yet."""
    if action not in ACTIONS[register]:
        abort(404)
    read_first()
    chosen_ids = _ids(request.form)
    try:
        return chosen_ids, registers.selection(register, chosen_ids), None
    except registers.UnknownInvoice:
        abort(404)
    except registers.SelectionError as error:
        return chosen_ids, [], _page(register, chosen_ids, [str(error)], 422)


@bp.post(f"/{REGISTER}/send")
def send(register: str):
    """« Envoyer par email »: one invoice opens the send form, several go in one batch."""
    chosen_ids, selection, refused = _selection(register, "send")
    if refused:
        return refused
    if len(selection) == 1:
        return _open_send_form(selection[0])
    for invoice in selection:  # the long part, before taking the write lock: PDFs to the cache
        if lifecycle.is_numbered(invoice):
            documents.invoice_pdf(invoice)
    write_lock()
    batch = registers.send_batch(registers.selection(register, chosen_ids), base_url())
    if not batch.messages:
        db.session.rollback()
        errors = [_refused_line(invoice.number, reason) for invoice, reason in batch.refused]
        return _page(register, chosen_ids, errors, 422)
    refused = [[invoice.number, reason] for invoice, reason in batch.refused]
    db.session.commit()
    outbox.wake()
    session[REFUSED_KEY] = {
        "batch": batch.id,
        "invoices": refused[:REFUSED_KEPT],
        "more": len(refused[REFUSED_KEPT:]),
    }
    progress = url_for("registers.batch", batch_id=batch.id)
    if htmx:
        return "", 200, {"HX-Redirect": progress}
    return redirect(progress, 303)


def _open_send_form(invoice):
    """One invoice: its send form, where the text can be edited (in the modal with htmx)."""
    form = url_for("sending.send", invoice_id=invoice.id)
    if htmx:
        location = {"path": form, "target": "#modal", "swap": "innerHTML", "push": False}
        return "", 200, {"HX-Location": json.dumps(location)}
    return redirect(form, 303)


@bp.post(f"/{REGISTER}/print")
def print_(register: str):
    """« Imprimer »: the selected invoices in one PDF; those « À envoyer » are now sent."""
    chosen_ids, selection, refused = _selection(register, "print")
    if refused:
        return refused
    data = registers.print_pdf(selection)  # the long part, before taking the write lock
    write_lock()
    registers.record_printed(registers.selection(register, chosen_ids))
    db.session.commit()
    name = _("factures-%(day)s.pdf", day=settings.today().isoformat())
    return send_file(
        io.BytesIO(data), mimetype="application/pdf", as_attachment=True, download_name=name
    )


@bp.get("/batches/<batch_id>")
def batch(batch_id: str):
    """The progress of a batch; it asks again every 2 s (htmx) while a message is on its way."""
    if not _BATCH.fullmatch(batch_id):
        abort(404)
    progress = registers.progress(batch_id)
    if not progress.messages:
        abort(404)
    kept = session.get(REFUSED_KEY) or {}
    if kept.get("batch") != batch_id:  # the refusals are those of the last batch only
        kept = {}
    return render(
        "registers/batch.html",
        "progress",
        batch_id=batch_id,
        progress=progress,
        refused=kept.get("invoices", []),
        more_refused=kept.get("more", 0),
    )


def _page(register: str, selected: list[int] | None = None, errors: list[str] = (),
          status: int = 200):
    """The register's page; `selected` None means every row of the page checked."""
    filters, filter_errors = _filters()
    page = db.paginate(
        registers.listing(register, filters),
        page=request.args.get("page", 1, type=db_int),
        per_page=PER_PAGE,
        error_out=False,
    )
    html = render(
        "registers/index.html",
        "results",
        register=register,
        titles=TITLES,
        actions=ACTIONS[register],
        page=page,
        messages=registers.last_messages(page.items),
        clients=registers.clients(register),
        filters=filters,
        args=_args(filters),
        selected=set(selected) if selected is not None else {i.id for i in page.items},
        errors=[*filter_errors, *errors],
        max_selection=registers.MAX_SELECTION,
        today=settings.today(),
    )
    return html, 422 if filter_errors else status


def _filters() -> tuple[registers.Filters, list[str]]:
    """The client filter (an unknown one is dropped, with a message) and « non envoyées »."""
    try:
        client = chosen(Client, "client_id")
    except LookupError:
        client, errors = None, [_("Ce client n'existe pas.")]
    else:
        errors = []
    unsent = request.args.get("unsent") == "1"
    return registers.Filters(client.id if client else None, unsent), errors


def _args(filters: registers.Filters) -> dict:
    """The query string of the filters, for links (pages, tabs, actions)."""
    args = {}
    if filters.client_id is not None:
        args["client_id"] = filters.client_id
    if filters.unsent_only:
        args["unsent"] = 1
    return args


def _ids(values) -> list[int]:
    """The checked ids; one that is not an id is a 404."""
    try:
        return [db_int(value) for value in values.getlist("ids")]
    except ValueError:
        abort(404)


def _refused_line(number: str, reason: str) -> str:
    return _("%(number)s : %(reason)s", number=number, reason=reason)
