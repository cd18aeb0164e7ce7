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

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime

import stripe
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from billing import history, lifecycle, mailer, payments, sending, settings
from billing.formats import money_filter
from billing.models import (
    Business,
    Client,
    Invoice,
    InvoiceKind,
    Message,
    Payment,
    PaymentMethod,
    PortalToken,
    Statement,
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
    return business.stripe_configured and lifecycle.can_pay(invoice)


def checkout(invoice: Invoice, success_url: str, cancel_url: str) -> str:
    """A Checkout Session for the amount due now (the next instalment with a payment schedule,
    else the balance: `payments.due_now`); returns the URL to send the client to."""
    business = settings.business()
    if not can_pay_online(invoice, business):
        raise PaymentUnavailable(invoice.status.value)
    amount = payments.due_now(invoice).amount_cents
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


def handle(event: stripe.Event, today) -> list[Payment]:
    """Record what a verified event says was paid: one payment per invoice it pays.

    An invoice's session pays that invoice; a statement's session (« Tout payer »)
    pays its open invoices, oldest due date first. Idempotent twice over: an
    event id seen before changes nothing, and a payment intent already recorded
    is not recorded again (Stripe sends both `checkout.session.completed` and
    `payment_intent.succeeded`). What exceeds the balances is not recorded: it is
    logged, and noted in the history, for the owner to refund.
    """
    if db.session.get(StripeEvent, event.id) is not None:
        return []
    db.session.add(StripeEvent(id=event.id, type=event.type))
    db.session.flush()
    paid = _paid(event)
    if paid is None:
        return []
    targets = _targets(paid)
    if not targets:
        log.warning("Stripe event %s for an unknown invoice or statement %s: ignored",
                    event.id, paid.metadata)
        return []
    already = db.session.scalar(
        select(Payment.id).where(
            Payment.reference == paid.intent, Payment.invoice_id.in_([each.id for each in targets])
        ).limit(1)
    )
    if already is not None:
        return []
    recorded, left = [], paid.amount
    for invoice in targets:
        share = min(left, invoice.balance_cents)
        if share <= 0 or not lifecycle.can_pay(invoice):
            continue
        recorded.append(payments.add(invoice, today, share, PaymentMethod.STRIPE, today,
                                     notes="Stripe", reference=paid.intent))
        left -= share
    if left > 0:
        log.warning("Stripe payment %s: %s cents beyond what was owed, not recorded", paid.intent, left)
        history.log(targets[0], "stripe_payment_not_recorded", f"{left} {paid.intent}")
    db.session.flush()
    return recorded


@dataclass
class _Paid:
    metadata: dict
    intent: str
    amount: int
    currency: str


def _paid(event: stripe.Event) -> _Paid | None:
    """What a paid session or payment intent says: its metadata, intent id, amount, currency."""
    data = event.data.object.to_dict()  # plain dicts all the way down
    metadata = data.get("metadata") or {}
    currency = str(data.get("currency") or "").upper()
    if event.type == "checkout.session.completed":
        if data.get("payment_status") != "paid" or not data.get("payment_intent"):
            return None
        intent = data["payment_intent"]
        intent = intent if isinstance(intent, str) else intent.get("id")
        return _Paid(metadata, intent, int(data.get("amount_total") or 0), currency)
    if event.type == "payment_intent.succeeded":
        return _Paid(metadata, data["id"], int(data.get("amount_received") or 0), currency)
    return None


def _targets(paid: _Paid) -> list[Invoice]:
    """The invoices a payment is for, in the order they are paid."""
    statement_id = str(paid.metadata.get("statement_id", ""))
    if statement_id:
        statement = db.session.get(Statement, int(statement_id)) if statement_id.isdigit() else None
        if statement is None:
            return []
        currency = str(paid.metadata.get("currency") or paid.currency)
        return statement_invoices(statement).get(currency, [])
    invoice_id = str(paid.metadata.get("invoice_id", ""))
    invoice = db.session.get(Invoice, int(invoice_id)) if invoice_id.isdigit() else None
    return [invoice] if invoice is not None else []


# --- Statements: « Tout payer » -------------------------------------------------------


def find_statement(token: str) -> Statement | None:
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    return db.session.scalar(select(Statement).where(Statement.token == token))


def statement_invoices(statement: Statement) -> dict[str, list[Invoice]]:
    """The invoices a statement's « Tout payer » pays, per currency, oldest due date first:
    every invoice of its client (and children when included) issued up to its end and
    still owing something."""
    client_ids = [statement.client_id]
    if statement.include_children:
        client_ids += list(db.session.scalars(
            select(Client.id).where(Client.parent_id == statement.client_id)))
    found = db.session.scalars(
        select(Invoice)
        .where(
            Invoice.client_id.in_(client_ids),
            Invoice.kind == InvoiceKind.INVOICE,
            Invoice.status.in_(lifecycle.PAYABLE),
            Invoice.issue_date <= statement.end,
            Invoice.total_cents - Invoice.paid_cents - Invoice.credited_cents > 0,
        )
        .order_by(Invoice.due_date, Invoice.id)
    )
    by_currency: dict[str, list[Invoice]] = {}
    for invoice in found:
        by_currency.setdefault(invoice.currency, []).append(invoice)
    return by_currency


def checkout_statement(statement: Statement, currency: str, success_url: str, cancel_url: str) -> str:
    """One Checkout Session for everything the statement's client owes in `currency`."""
    business = settings.business()
    owed = statement_invoices(statement).get(currency, [])
    total = sum(invoice.balance_cents for invoice in owed)
    if not business.stripe_configured or total <= 0:
        raise PaymentUnavailable(currency)
    metadata = {"statement_id": str(statement.id), "currency": currency}
    state = "-".join(f"{invoice.id}.{invoice.balance_cents}" for invoice in owed)
    session = client(business).v1.checkout.sessions.create(
        {
            "mode": "payment",
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": currency.lower(),
                        "unit_amount": total,
                        "product_data": {"name": f"{business.name} · {len(owed)} factures"},
                    },
                }
            ],
            "metadata": metadata,
            "payment_intent_data": {"metadata": metadata},
            "success_url": success_url,
            "cancel_url": cancel_url,
        },
        {"idempotency_key": "statement-" + hashlib.sha256(
            f"{statement.id}-{currency}-{state}".encode()).hexdigest()[:40]},
    )
    return session.url


def notify_owner(paid: list[Payment], invoice_url) -> Message | None:
    """« Paiement reçu »: one email to the business's address, through the outbox.

    `invoice_url(invoice)` is the link to an invoice's page in the app.
    """
    business = settings.business()
    if not business.email or not paid:
        return None
    first = paid[0].invoice
    client_name = first.client.name if first.client else ""
    numbers = ", ".join(payment.invoice.number or "" for payment in paid)
    subject = _("Paiement reçu : facture %(number)s", number=numbers)
    lines = []
    for payment in paid:
        invoice = payment.invoice
        lines += [
            _("%(client)s a payé %(amount)s en ligne (Stripe) pour la facture %(number)s.",
              client=client_name, amount=money_filter(payment.amount_cents, invoice.currency),
              number=invoice.number),
            _("Solde restant : %(balance)s.",
              balance=money_filter(invoice.balance_cents, invoice.currency)),
            invoice_url(invoice),
            "",
        ]
    lines.append(_("Référence Stripe : %(reference)s", reference=paid[0].reference))
    return sending.new_message(
        kind="notice",
        invoice=first,
        sender=mailer.sender(business),
        recipients=[business.email],
        subject=subject,
        text_body="\n".join(lines) + "\n",
    )
