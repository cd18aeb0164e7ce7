"""The client portal's keys and Stripe: tokens, Checkout Sessions, webhook events.

A client reaches an invoice with a long random token: the invoice's own
(`PortalToken`, revocable) or the personal link of a message sent to them
(`Message.link_token`). Revoking gives the invoice a new token; the old one and
the links of every message sent before lead nowhere from then on.

Stripe: « Payer » creates a Checkout Session for what is due next (the balance,
or the next instalment), the invoice id in its metadata and an idempotency key,
so a double tap gives the same session. Nothing is marked paid when the client
comes back: only a webhook whose signature checks out records a payment, once
per event id and once per payment intent.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime

import stripe
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from billing import history, mailer, payments, sending, settings
from billing.formats import money_filter
from billing.models import (
    Business,
    Invoice,
    Message,
    Payment,
    PaymentMethod,
    PortalToken,
    StripeEvent,
    db,
    utcnow,
)

log = logging.getLogger(__name__)
MAX_TOKEN_LENGTH = 64


# --- Tokens -------------------------------------------------------------------------


def current_token(invoice: Invoice) -> PortalToken | None:
    """The invoice's token in use, if it has one."""
    return db.session.scalar(
        select(PortalToken)
        .where(PortalToken.invoice_id == invoice.id, PortalToken.revoked_at.is_(None))
        .order_by(PortalToken.id.desc())
        .limit(1)
    )


def token_for(invoice: Invoice) -> PortalToken:
    """The invoice's current token (made the first time it is asked for)."""
    current = current_token(invoice)
    if current is None:
        current = PortalToken(invoice=invoice, token=secrets.token_urlsafe(32))
        db.session.add(current)
        db.session.flush()
    return current


def renew(invoice: Invoice) -> PortalToken:
    """« Nouveau lien »: every link given so far stops working; returns the new token."""
    now = utcnow()
    for token in db.session.scalars(
        select(PortalToken).where(
            PortalToken.invoice_id == invoice.id, PortalToken.revoked_at.is_(None)
        )
    ):
        token.revoked_at = now
    db.session.flush()
    history.log(invoice, "portal_link_revoked")
    return token_for(invoice)


@dataclass
class Visit:
    """Who opened the portal: the invoice, and the message whose link it was (if any)."""

    invoice: Invoice
    message: Message | None = None


def find(token: str) -> Visit | None:
    """The invoice a token opens, or None for a bad, unknown or revoked one."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    found = db.session.scalar(select(PortalToken).where(PortalToken.token == token))
    if found is not None:
        return None if found.revoked_at is not None else Visit(found.invoice)
    message = db.session.scalar(select(Message).where(Message.link_token == token))
    if message is None or message.invoice is None:
        return None
    if _revoked_since(message.invoice, message.created_at):
        return None
    return Visit(message.invoice, message)


def _revoked_since(invoice: Invoice, moment: datetime) -> bool:
    return (
        db.session.scalar(
            select(PortalToken.id)
            .where(PortalToken.invoice_id == invoice.id, PortalToken.revoked_at >= moment)
            .limit(1)
        )
        is not None
    )


# --- Stripe Checkout --------------------------------------------------------------------


class PaymentUnavailable(Exception):
    """Why « Payer » is not offered (a French message for the client)."""


def client(business: Business) -> stripe.StripeClient:
    """The SDK with the business's key; STRIPE_API_BASE points it elsewhere (tests)."""
    base = current_app.config.get("STRIPE_API_BASE") or None
    return stripe.StripeClient(
        business.stripe_secret_key,
        base_addresses={"api": base} if base else None,
        max_network_retries=2,
    )


def can_pay_online(invoice: Invoice, business: Business) -> bool:
    return (
        business.stripe_configured
        and not invoice.is_credit_note
        and invoice.status in payments.PAYABLE
        and invoice.balance_cents > 0
    )


def checkout(invoice: Invoice, success_url: str, cancel_url: str) -> str:
    """A Checkout Session for what is due next; returns the URL to send the client to."""
    business = settings.business()
    if not can_pay_online(invoice, business):
        raise PaymentUnavailable(invoice.status.value)
    amount = payments.suggested_amount(invoice)
    metadata = {"invoice_id": str(invoice.id), "invoice_number": invoice.number or ""}
    session = client(business).v1.checkout.sessions.create(
        {
            "mode": "payment",
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": invoice.currency.lower(),
                        "unit_amount": amount,
                        "product_data": {"name": f"{business.name} · {invoice.number}"},
                    },
                }
            ],
            "metadata": metadata,
            "payment_intent_data": {"metadata": metadata},
            "client_reference_id": str(invoice.id),
            "success_url": success_url,
            "cancel_url": cancel_url,
        },
        # The same invoice, balance and amount: the same session, however many taps.
        {"idempotency_key": f"checkout-{invoice.id}-{invoice.paid_cents}-{amount}"},
    )
    return session.url


# --- Webhook -----------------------------------------------------------------------------


class BadEvent(Exception):
    """The request is not a genuine Stripe event: bad signature, too old, not JSON."""


def verify(payload: bytes, signature: str | None, business: Business) -> stripe.Event:
    """The event, when its signature checks out with the webhook secret."""
    if not business.stripe_webhook_secret:
        raise BadEvent("no webhook secret configured")
    try:
        return stripe.Webhook.construct_event(payload, signature, business.stripe_webhook_secret)
    except (ValueError, stripe.SignatureVerificationError) as error:
        raise BadEvent(str(error)) from error


def handle(event: stripe.Event, today) -> Payment | None:
    """Record what a verified event says was paid; None when there is nothing (new) to record.

    Idempotent twice over: an event id seen before changes nothing, and a
    payment intent already recorded for the invoice is not recorded again
    (Stripe sends both `checkout.session.completed` and `payment_intent.succeeded`).
    """
    if db.session.get(StripeEvent, event.id) is not None:
        return None
    db.session.add(StripeEvent(id=event.id, type=event.type))
    found = _paid(event)
    if found is None:
        db.session.flush()
        return None
    invoice_id, intent, amount = found
    invoice = db.session.get(Invoice, invoice_id) if invoice_id.isdigit() else None
    if invoice is None:
        log.warning("Stripe event %s for an unknown invoice %r: ignored", event.id, invoice_id)
        db.session.flush()
        return None
    already = db.session.scalar(
        select(Payment.id).where(Payment.invoice_id == invoice.id, Payment.reference == intent)
    )
    if already is not None:
        db.session.flush()
        return None
    if amount > invoice.balance_cents or invoice.status not in payments.PAYABLE:
        log.warning("Stripe payment %s of %s for invoice %s not recorded: balance %s, status %s",
                    intent, amount, invoice.id, invoice.balance_cents, invoice.status.value)
        history.log(invoice, "stripe_payment_not_recorded", f"{amount} {intent}")
        db.session.flush()
        return None
    return payments.add(invoice, today, amount, PaymentMethod.STRIPE, today,
                        notes="Stripe", reference=intent)


def _paid(event: stripe.Event) -> tuple[str, str, int] | None:
    """(invoice id, payment intent id, amount in cents) of a paid session or intent."""
    data = event.data.object.to_dict()  # plain dicts all the way down
    metadata = data.get("metadata") or {}
    if event.type == "checkout.session.completed":
        if data.get("payment_status") != "paid" or not data.get("payment_intent"):
            return None
        intent = data["payment_intent"]
        intent = intent if isinstance(intent, str) else intent.get("id")
        return str(metadata.get("invoice_id", "")), intent, int(data.get("amount_total") or 0)
    if event.type == "payment_intent.succeeded":
        return str(metadata.get("invoice_id", "")), data["id"], int(data.get("amount_received") or 0)
    return None


def notify_owner(payment: Payment, invoice_url: str) -> Message | None:
    """« Paiement reçu »: an email to the business's address, through the outbox."""
    business = settings.business()
    if not business.email:
        return None
    invoice = payment.invoice
    amount = money_filter(payment.amount_cents, invoice.currency)
    client_name = invoice.client.name if invoice.client else ""
    subject = _("Paiement reçu : facture %(number)s", number=invoice.number)
    lines = [
        _("%(client)s a payé %(amount)s en ligne (Stripe) pour la facture %(number)s.",
          client=client_name, amount=amount, number=invoice.number),
        _("Solde restant : %(balance)s.",
          balance=money_filter(invoice.balance_cents, invoice.currency)),
        _("Référence Stripe : %(reference)s", reference=payment.reference),
        "",
        invoice_url,
    ]
    return sending.new_message(
        kind="notice",
        invoice=invoice,
        sender=mailer.sender(business),
        recipients=[business.email],
        subject=subject,
        text_body="\n".join(lines) + "\n",
    )
