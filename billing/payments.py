"""Payments: record one (by hand or from Stripe), delete one, and the status that follows.

An invoice's `paid_cents` is the sum of its payments; its status follows the
balance: *Payée* when nothing is left, back to *Paiement attendu* (or *À envoyer*
if it never left) when a payment is deleted. Over-payment is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import contains_eager

from billing import history, invoices, lifecycle
from billing.formats import money_filter
from billing.invoices import InvoiceError
from billing.models import Client, Invoice, InvoiceStatus, Payment, PaymentMethod, db

METHOD_LABELS = {
    PaymentMethod.CREDIT_CARD: _l("Carte de crédit"),
    PaymentMethod.DEBIT_CARD: _l("Carte de débit"),
    PaymentMethod.CHEQUE: _l("Chèque"),
    PaymentMethod.CASH: _l("Comptant"),
    PaymentMethod.CREDIT: _l("Crédit"),
    PaymentMethod.ONLINE: _l("En ligne"),
    PaymentMethod.PAYPAL: _l("PayPal"),
    PaymentMethod.STRIPE: _l("Stripe"),
    PaymentMethod.BANK_TRANSFER: _l("Transfert bancaire"),
}


@dataclass(frozen=True)
class DueNow:
    """What the client should pay now, and by when; `balance_cents` is all that is left."""

    amount_cents: int
    due_date: date
    balance_cents: int

    @property
    def is_part(self) -> bool:
        """Only part of the balance is due now: the rest falls due later, by the schedule."""
        return 0 < self.amount_cents < self.balance_cents


def due_now(invoice: Invoice) -> DueNow:
    """The amount due now and its date: with a payment schedule, what is left of the first
    instalment not yet covered by the payments (taken cumulatively, earliest due date first);
    without one, the balance by the invoice's due date. Nothing left: 0."""
    balance = max(invoice.balance_cents, 0)
    due_so_far = 0
    for instalment in sorted(invoice.instalments, key=lambda each: (each.due_date, each.position)):
        due_so_far += instalment.amount_cents
        if due_so_far > invoice.paid_cents:
            amount = min(due_so_far - invoice.paid_cents, balance)
            if amount > 0:
                return DueNow(amount, instalment.due_date, balance)
            break
    return DueNow(balance, invoice.due_date, balance)


def suggested_amount(invoice: Invoice) -> int:
    """What the next payment should be: the amount due now (see `due_now`)."""
    return due_now(invoice).amount_cents


def add(
    invoice: Invoice,
    paid_on: date,
    amount_cents: int,
    method: PaymentMethod,
    today: date,
    notes: str = "",
    reference: str | None = None,
) -> Payment:
    """Record a payment; the invoice is *Payée* once its balance is zero."""
    if not lifecycle.can_pay(invoice):
        raise invoices.InvalidTransition(
            _(
                "Impossible d'ajouter un paiement à une facture au statut « %(status)s ».",
                status=lifecycle.status_label(invoice),
            )
        )
    if paid_on > today:
        raise InvoiceError(_("La date du paiement ne peut pas être dans le futur."), "paid_on")
    if amount_cents <= 0:
        raise InvoiceError(_("Le montant doit être supérieur à zéro."), "amount")
    if amount_cents > invoice.balance_cents:
        raise InvoiceError(
            _(
                "Le montant dépasse le solde dû (%(balance)s) : un paiement ne peut pas "
                "dépasser ce qui reste à payer.",
                balance=money_filter(invoice.balance_cents, invoice.currency),
            ),
            "amount",
        )
    payment = Payment(
        invoice=invoice,
        paid_on=paid_on,
        amount_cents=amount_cents,
        method=method,
        notes=notes,
        reference=reference,
    )
    db.session.add(payment)
    invoice.paid_cents += amount_cents
    _follow_balance(invoice)
    history.log(invoice, "payment_added", f"{amount_cents} {method.value}")
    db.session.flush()
    return payment


def delete(payment: Payment) -> None:
    """Remove a payment recorded by mistake; the invoice's status follows its balance."""
    invoice = payment.invoice
    if not lifecycle.can_change_payments(invoice):
        raise invoices.InvalidTransition(
            _("Cette facture est annulée : ses paiements ne changent plus.")
        )
    invoice.paid_cents -= payment.amount_cents
    _follow_balance(invoice)
    history.log(invoice, "payment_deleted", f"{payment.amount_cents} {payment.method.value}")
    db.session.delete(payment)
    db.session.flush()


def _follow_balance(invoice: Invoice) -> None:
    """*Payée* at zero, back to what it was otherwise; a draft holding the payments of the
    invoice it corrects stays a draft."""
    if not lifecycle.is_numbered(invoice):
        return
    if invoice.balance_cents <= 0:
        invoice.status = InvoiceStatus.PAID
    elif lifecycle.is_paid(invoice):
        sent = lifecycle.is_issued(invoice)
        invoice.status = InvoiceStatus.AWAITING_PAYMENT if sent else InvoiceStatus.TO_SEND


def of_invoice(invoice: Invoice) -> list[Payment]:
    return list(
        db.session.scalars(
            select(Payment)
            .where(Payment.invoice_id == invoice.id)
            .order_by(Payment.paid_on, Payment.id)
        )
    )


RECENT_PAYMENTS = 50  # on a client's page


def of_client(client: Client) -> list[Payment]:
    """The client's latest payments, newest first, with their invoice."""
    return list(
        db.session.scalars(
            select(Payment)
            .join(Payment.invoice)
            .where(Invoice.client_id == client.id)
            .options(contains_eager(Payment.invoice))
            .order_by(Payment.paid_on.desc(), Payment.id.desc())
            .limit(RECENT_PAYMENTS)
        )
    )
