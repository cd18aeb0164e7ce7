"""`/webhooks/stripe`: Stripe tells us a payment went through.

No login and no CSRF token (Stripe cannot have either): the signature, checked
with the webhook secret, is what proves the request. A bad signature, an old
timestamp or a body that is not JSON is a 400 and records nothing; an event
seen before, or for an unknown invoice, is a 200 that records nothing.
"""

from __future__ import annotations

from flask import Blueprint, request, url_for

from billing import outbox, portal, settings
from billing.models import db
from blueprints import base_url

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")


@bp.post("/stripe")
def stripe():
    try:
        business = settings.business()
        event = portal.verify(request.get_data(), request.headers.get("Stripe-Signature"), business)
    except (LookupError, portal.BadEvent):  # no business yet, or not a genuine event
        return {"error": "invalid event"}, 400
    paid = portal.handle(event, settings.today(business))
    portal.notify_owner(paid, _invoice_url)
    db.session.commit()
    if paid:
        outbox.wake()
    return {"received": True}


def _invoice_url(invoice) -> str:
    return base_url() + url_for("invoices.show", invoice_id=invoice.id, step="follow_up")
