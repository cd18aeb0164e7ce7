"""The client portal, `/p/<token>`: the invoice, its PDF, how to pay it, and « Payer » (Stripe).

No login and no cookie: the token is the key. It is the invoice's own
(revocable) or the personal link of a message, whose first opening records
« Le client a cliqué sur le lien ». The page speaks the client's language,
works on a phone, is never indexed, and a bad, unknown or revoked token is a
bare 404 that says nothing more. Every address is rate-limited.

« Payer » is a link (not a form: a redirect to Stripe after a form would be
blocked by our Content-Security-Policy's form-action) that creates a Checkout
Session and sends the client there; coming back says what happened, but only
the signed webhook records a payment.
"""

from __future__ import annotations

import io
import threading
import time
from collections import defaultdict, deque

import stripe
from flask import Blueprint, abort, current_app, redirect, render_template, request, send_file, url_for
from flask_babel import force_locale

from billing import documents, history, payments, portal, sending, settings, statements, uploads
from billing.models import db, write_lock

bp = Blueprint("portal", __name__, url_prefix="/p")

NOINDEX = {"X-Robots-Tag": "noindex, nofollow", "Cache-Control": "private, no-store"}


class RateLimit:
    """At most `limit` requests per `seconds` from one address (per process)."""

    def __init__(self):
        self.hits: dict[str, deque] = defaultdict(deque)
        self.lock = threading.Lock()

    def allow(self, address: str, limit: int, seconds: int) -> bool:
        now = time.monotonic()
        with self.lock:
            hits = self.hits[address]
            while hits and hits[0] <= now - seconds:
                hits.popleft()
            if len(hits) >= limit:
                return False
            hits.append(now)
            if len(self.hits) > 10_000:  # forget quiet addresses
                for quiet in [key for key, value in self.hits.items() if not value]:
                    del self.hits[quiet]
            return True


_limits = RateLimit()


@bp.before_request
def _rate_limit():
    limit, seconds = current_app.config["PORTAL_RATE_LIMIT"]
    if not _limits.allow(request.remote_addr or "-", limit, seconds):
        return render_template("portal/too_many.html"), 429, {**NOINDEX, "Retry-After": str(seconds)}
    return None


@bp.after_request
def _no_index(response):
    response.headers.update(NOINDEX)
    return response


def _visit(token: str) -> portal.Visit:
    """Who this token lets in; a link opened for the first time is recorded."""
    visit = portal.find(token)
    if visit is None:
        abort(404)
    if visit.message is not None and visit.message.clicked_at is None:
        write_lock()  # a GET that writes
        if sending.record_click(visit.message):
            db.session.commit()
    return visit


@bp.errorhandler(404)
def _not_found(_error):
    return render_template("portal/not_found.html"), 404


@bp.get("/<token>")
def show(token: str):
    invoice = _visit(token).invoice
    business = settings.business()
    return _page(
        "portal/invoice.html",
        invoice.client,
        token,
        invoice=invoice,
        transfer=documents.payment_details(invoice, business),
        can_pay=portal.can_pay_online(invoice, business),
        due=payments.due_now(invoice),
    )


@bp.app_template_global("due_now")
def due_now(invoice):
    """For templates (the portal, the invoice's « Suivi » step): `payments.due_now`."""
    return payments.due_now(invoice)


def _page(template: str, client, token: str, **context) -> str:
    """A portal page in the client's language, with the business and what came back from Stripe."""
    business = settings.business()
    language = client.language if client is not None else "fr"
    with force_locale(language):
        return render_template(
            template,
            client=client,
            business=business,
            token=token,
            lang=language,
            outcome=request.args.get("payment"),
            today=settings.today(business),
            **context,
        )


def _to_checkout(start_checkout, endpoint: str, token: str, what: str):
    """Send the client to Stripe Checkout, or back to the page with what went wrong."""
    back = url_for(endpoint, token=token, _external=True)
    try:
        checkout_url = start_checkout(back + "?payment=done", back + "?payment=cancelled")
    except portal.PaymentUnavailable:
        return redirect(url_for(endpoint, token=token), 303)
    except stripe.StripeError:
        current_app.logger.exception("Stripe Checkout failed for %s", what)
        return redirect(url_for(endpoint, token=token, payment="unavailable"), 303)
    return redirect(checkout_url, 303)


@bp.get("/<token>/pdf")
def pdf(token: str):
    """« Télécharger la facture »: the invoice as it stands today."""
    invoice = _visit(token).invoice
    with force_locale(sending.language(invoice)):
        data, name = documents.invoice_pdf(invoice), documents.filename(invoice)
    write_lock()  # a GET that writes: the download goes into the history
    history.log(invoice, "downloaded", "portal")
    db.session.commit()
    return send_file(io.BytesIO(data), mimetype="application/pdf", as_attachment=True,
                     download_name=name, max_age=0)


@bp.get("/<token>/logo")
def logo(token: str):
    """The business's logo, for the portal's header."""
    _visit(token)
    business = settings.business()
    try:
        path = uploads.path(business.logo_path)
    except FileNotFoundError:
        abort(404)
    return send_file(path, mimetype=uploads.mimetype(path.name), max_age=3600)


@bp.get("/<token>/pay")
def pay(token: str):
    """« Payer »: to Stripe Checkout for what is due next."""
    invoice = _visit(token).invoice
    return _to_checkout(
        lambda done, cancelled: portal.checkout(invoice, done, cancelled),
        "portal.show", token, f"invoice {invoice.id}",
    )


# --- A statement's page: « Tout payer » ---------------------------------------------------


def _statement(token: str):
    statement = portal.find_statement(token)
    if statement is None:
        abort(404)
    return statement


@bp.get("/s/<token>")
def statement(token: str):
    """A statement's link: what the client owes, per currency, and « Tout payer »."""
    found = _statement(token)
    return _page(
        "portal/statement.html",
        found.client,
        token,
        statement=found,
        view=statements.build(found, settings.today()),
        owed=portal.statement_invoices(found),
        can_pay=settings.business().stripe_configured,
    )


@bp.get("/s/<token>/pdf")
def statement_pdf(token: str):
    """The statement as a PDF, in the client's language."""
    view = statements.build(_statement(token), settings.today())
    data = statements.pdf(view)
    return send_file(io.BytesIO(data), mimetype="application/pdf", as_attachment=True,
                     download_name=statements.filename(view), max_age=0)


@bp.get("/s/<token>/pay/<currency>")
def pay_statement(token: str, currency: str):
    """« Tout payer »: one Stripe Checkout for everything owed in `currency`."""
    found = _statement(token)
    return _to_checkout(
        lambda done, cancelled: portal.checkout_statement(found, currency.upper(), done, cancelled),
        "portal.statement", token, f"statement {found.id}",
    )
