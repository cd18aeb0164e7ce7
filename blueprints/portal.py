"""The client's page, `/p/<token>`: the link of an email, personal to that message.

No login and no cookie: the token is the key. Opening it records « Le client
a cliqué sur le lien » (the first time) and shows the invoice read-only, in
the client's language, with its PDF. Never indexed by search engines. An
unknown token is a bare 404 that says nothing more. (Payments come with the
next issue.)
"""

from __future__ import annotations

import io

from flask import Blueprint, render_template, send_file
from flask_babel import force_locale
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from billing import documents, history, sending, settings
from billing.models import Invoice, InvoiceLine, Message, db

bp = Blueprint("portal", __name__, url_prefix="/p")

NOINDEX = {"X-Robots-Tag": "noindex, nofollow"}
MAX_TOKEN = 64


def _find(token: str) -> Message | None:
    """The message whose link this is, with its invoice; None for anything else."""
    if len(token) > MAX_TOKEN:
        return None
    message = db.session.scalar(
        select(Message)
        .where(Message.link_token == token)
        .options(
            joinedload(Message.invoice).options(
                joinedload(Invoice.client),
                selectinload(Invoice.lines).selectinload(InvoiceLine.taxes),
                selectinload(Invoice.taxes),
            )
        )
    )
    if message is None or message.invoice is None:
        return None
    return message


def _not_found():
    return render_template("portal/not_found.html"), 404, NOINDEX


def _opened(message: Message) -> None:
    if sending.record_click(message):
        db.session.commit()


@bp.get("/<token>")
def show(token: str):
    message = _find(token)
    if message is None:
        return _not_found()
    _opened(message)
    invoice = message.invoice
    language = sending.language(invoice)
    with force_locale(language):
        html = render_template(
            "portal/invoice.html",
            invoice=invoice,
            client=invoice.client,
            business=settings.business(),
            token=token,
            lang=language,
        )
    return html, 200, NOINDEX


@bp.get("/<token>/pdf")
def pdf(token: str):
    """« Télécharger la facture »: the invoice as it stands today."""
    message = _find(token)
    if message is None:
        return _not_found()
    _opened(message)
    invoice = message.invoice
    with force_locale(sending.language(invoice)):
        data, name = documents.invoice_pdf(invoice), documents.filename(invoice)
    history.log(invoice, "downloaded", "portal")
    db.session.commit()
    response = send_file(io.BytesIO(data), mimetype="application/pdf", as_attachment=True,
                         download_name=name, max_age=0)
    response.headers.update(NOINDEX)
    return response
