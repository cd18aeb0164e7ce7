"""What may be done with an invoice now: one predicate per lifecycle rule.

Views, templates (as `lifecycle.can_edit(invoice)`) and the domain verbs ask
these, and nothing else re-derives a rule from an invoice's status.

The life of an invoice: a draft (*Brouillon*) is finalized (numbered, *À
envoyer*); until it is *issued* — emailed, marked « Facture envoyée » or
printed from the paper register — it may still change and its number too.
Once issued its fiscal content is locked: it is paid, cancelled by a credit
note, or corrected (a credit note and a new draft copied from it).
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from billing.models import Invoice, InvoiceStatus

STATUS_LABELS = {
    InvoiceStatus.DRAFT: _l("Brouillon"),
    InvoiceStatus.TO_SEND: _l("À envoyer"),
    InvoiceStatus.AWAITING_PAYMENT: _l("Paiement attendu"),
    InvoiceStatus.PAID: _l("Payée"),
    InvoiceStatus.CANCELLED: _l("Annulée"),
}
# The badge's colour class for each status.
STATUS_TONES = {
    InvoiceStatus.DRAFT: "off",
    InvoiceStatus.TO_SEND: "",
    InvoiceStatus.AWAITING_PAYMENT: "warn",
    InvoiceStatus.PAID: "ok",
    InvoiceStatus.CANCELLED: "off",
}
# Statuses an invoice can receive a payment in (before sending too: paid on the spot).
PAYABLE = (InvoiceStatus.TO_SEND, InvoiceStatus.AWAITING_PAYMENT)


def status_label(invoice: Invoice) -> str:
    """« Brouillon », « À envoyer », « Paiement attendu », « Payée », « Annulée »."""
    return str(STATUS_LABELS[invoice.status])


def status_tone(invoice: Invoice) -> str:
    return STATUS_TONES[invoice.status]


def is_issued(invoice: Invoice) -> bool:
    """Emailed, marked sent or printed for the post (which alone lead to *Paiement attendu*):
    a legal record from then on. A credit note is issued when it is made."""
    return (
        invoice.is_credit_note
        or invoice.sent_at is not None
        or invoice.status is InvoiceStatus.AWAITING_PAYMENT
    )


def is_numbered(invoice: Invoice) -> bool:
    """Finalized: it has its legal number (it may still change until issued)."""
    return invoice.status is not InvoiceStatus.DRAFT


def is_paid(invoice: Invoice) -> bool:
    """*Payée*: an invoice (not a credit note) with nothing left to pay."""
    return not invoice.is_credit_note and invoice.status is InvoiceStatus.PAID


def is_cancelled(invoice: Invoice) -> bool:
    """*Annulée* by a credit note."""
    return invoice.status is InvoiceStatus.CANCELLED


def owes(invoice: Invoice) -> bool:
    """Something is left to pay on it (how to pay is printed on its PDF)."""
    return not invoice.is_credit_note and not is_cancelled(invoice) and invoice.balance_cents > 0


def has_portal_link(invoice: Invoice) -> bool:
    """The client's link (« Lien client »): a numbered invoice, not a credit note."""
    return is_numbered(invoice) and not invoice.is_credit_note


def can_change_payments(invoice: Invoice) -> bool:
    """A payment recorded by mistake may be deleted, unless the invoice was cancelled."""
    return not is_cancelled(invoice)


def can_edit(invoice: Invoice) -> bool:
    """Its fiscal content (client, dates, currency, lines, taxes, schedule, notes) may change."""
    return not is_issued(invoice) and invoice.status in (InvoiceStatus.DRAFT, InvoiceStatus.TO_SEND)


def number_editable(invoice: Invoice) -> bool:
    """Its number may still be changed: finalized, not yet issued."""
    return invoice.status is InvoiceStatus.TO_SEND and not is_issued(invoice)


def can_finalize(invoice: Invoice) -> bool:
    return invoice.status is InvoiceStatus.DRAFT


def can_delete(invoice: Invoice) -> bool:
    """Only a draft is deleted (a numbered invoice is cancelled by a credit note), and not one
    that carries payments moved from the invoice it corrects."""
    return invoice.status is InvoiceStatus.DRAFT and not invoice.paid_cents


def can_send(invoice: Invoice) -> bool:
    """« Envoyer la facture » by email: the first time, or again (the same archived PDF)."""
    return not invoice.is_credit_note and invoice.status in (
        InvoiceStatus.TO_SEND,
        InvoiceStatus.AWAITING_PAYMENT,
    )


def can_mark_sent(invoice: Invoice) -> bool:
    """« Facture envoyée »: sent by hand or by post, not yet recorded as sent."""
    return not invoice.is_credit_note and invoice.status is InvoiceStatus.TO_SEND


def can_pay(invoice: Invoice) -> bool:
    """« Ajouter un paiement »."""
    return not invoice.is_credit_note and invoice.status in PAYABLE and invoice.balance_cents > 0


def can_cancel(invoice: Invoice) -> bool:
    """« Annuler la facture (avoir) »: numbered, unpaid (payments are deleted first)."""
    return (
        not invoice.is_credit_note
        and invoice.status in (InvoiceStatus.TO_SEND, InvoiceStatus.AWAITING_PAYMENT)
        and not invoice.paid_cents
    )


def can_correct(invoice: Invoice) -> bool:
    """« Corriger la facture »: issued and not cancelled; its payments move to the replacement."""
    return (
        not invoice.is_credit_note
        and is_issued(invoice)
        and invoice.status in (InvoiceStatus.AWAITING_PAYMENT, InvoiceStatus.PAID)
    )


def is_overdue(invoice: Invoice, today) -> bool:
    """« En retard »: sent, due date passed, something left to pay."""
    return invoice.is_overdue(today)


def is_partially_paid(invoice: Invoice) -> bool:
    """« Paiement partiel »: awaiting payment, some paid, some left."""
    return invoice.status is InvoiceStatus.AWAITING_PAYMENT and invoice.is_partially_paid


def instalments_valid(invoice: Invoice) -> bool:
    """No schedule, or one whose amounts add up exactly to the total."""
    return not invoice.instalments or (
        sum(each.amount_cents for each in invoice.instalments) == invoice.total_cents
    )
