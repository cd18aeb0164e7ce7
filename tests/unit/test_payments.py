"""Payments, verb by verb: add, delete, the status and balance that follow, the suggested amount."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from billing import invoices, money, payments
from billing.models import Event, InvoiceStatus, Payment, PaymentMethod, db
from tests.factories import make_client, make_invoice, make_tax_rate

TODAY = date(2026, 11, 24)
S = InvoiceStatus
M = PaymentMethod


@pytest.fixture
def ctx(app, owner):
    with app.test_request_context():
        yield


def sent_invoice(lines=((1, 100_000),), schedule=None):
    """A sent invoice of 1 200,00 € (TVA 20 %) by default, with an optional schedule."""
    invoice = make_invoice(make_client(), lines=lines, taxes=[make_tax_rate()])
    if schedule:
        invoices.set_instalments(invoice, schedule)
    invoices.finalize(invoice, TODAY)
    invoices.mark_sent(invoice)
    return invoice


def test_a_full_payment_makes_the_invoice_paid(ctx):
    invoice = sent_invoice()
    payment = payments.add(invoice, TODAY, 120_000, M.BANK_TRANSFER, TODAY, notes="Virement")
    assert (invoice.status, invoice.paid_cents, invoice.balance_cents) == (S.PAID, 120_000, 0)
    assert (payment.method, payment.notes, payment.paid_on) == (M.BANK_TRANSFER, "Virement", TODAY)
    kinds = db.session.scalars(select(Event.kind).where(Event.invoice_id == invoice.id)).all()
    assert "payment_added" in kinds


def test_a_partial_payment_keeps_awaiting_payment_with_the_new_balance(ctx):
    invoice = sent_invoice()
    payments.add(invoice, TODAY, 20_000, M.CHEQUE, TODAY)
    assert (invoice.status, invoice.balance_cents) == (S.AWAITING_PAYMENT, 100_000)
    assert invoice.is_partially_paid


def test_three_payments_along_a_three_instalment_schedule(ctx):
    parts = [Decimal(30), Decimal(30), Decimal(40)]
    invoice = sent_invoice(schedule=[
        (TODAY + timedelta(days=30 * n), money.InstalmentSpec(part, None))
        for n, part in enumerate(parts, start=1)
    ])
    amounts = [each.amount_cents for each in invoice.instalments]
    assert amounts == [36_000, 36_000, 48_000]
    paid = 0
    for n, amount in enumerate(amounts, start=1):
        assert payments.suggested_amount(invoice) == amount
        payments.add(invoice, TODAY, amount, M.BANK_TRANSFER, TODAY)
        paid += amount
        assert invoice.balance_cents == 120_000 - paid
        assert invoice.status is (S.PAID if n == 3 else S.AWAITING_PAYMENT)
        assert invoice.is_partially_paid is (n < 3)
    assert payments.suggested_amount(invoice) == 0


def test_deleting_a_payment_brings_a_paid_invoice_back_to_awaiting_payment(ctx):
    invoice = sent_invoice()
    first = payments.add(invoice, TODAY, 50_000, M.CASH, TODAY)
    payments.add(invoice, TODAY, 70_000, M.CASH, TODAY)
    assert invoice.status is S.PAID
    payments.delete(first)
    assert (invoice.status, invoice.balance_cents) == (S.AWAITING_PAYMENT, 50_000)
    assert db.session.scalars(select(Payment)).all() != [] and len(payments.of_invoice(invoice)) == 1
    kinds = db.session.scalars(select(Event.kind).where(Event.invoice_id == invoice.id)).all()
    assert "payment_deleted" in kinds


def test_a_payment_on_an_invoice_not_sent_yet_goes_back_to_to_send_when_deleted(ctx):
    invoice = make_invoice(make_client())
    invoices.finalize(invoice, TODAY)
    payment = payments.add(invoice, TODAY, invoice.total_cents, M.CHEQUE, TODAY)
    assert invoice.status is S.PAID
    payments.delete(payment)
    assert invoice.status is S.TO_SEND


def test_the_suggested_amount_is_the_next_instalment_after_a_partial_payment(ctx):
    invoice = sent_invoice(schedule=[
        (TODAY + timedelta(days=10), money.InstalmentSpec(Decimal(30), None)),
        (TODAY + timedelta(days=40), money.InstalmentSpec(Decimal(70), None)),
    ])
    assert payments.suggested_amount(invoice) == 36_000
    payments.add(invoice, TODAY, 10_000, M.CHEQUE, TODAY)
    assert payments.suggested_amount(invoice) == 26_000  # the rest of the first instalment
    payments.add(invoice, TODAY, 26_000, M.CHEQUE, TODAY)
    assert payments.suggested_amount(invoice) == 84_000


def test_without_a_schedule_the_suggested_amount_is_the_balance(ctx):
    invoice = sent_invoice()
    payments.add(invoice, TODAY, 20_000, M.CHEQUE, TODAY)
    assert payments.suggested_amount(invoice) == 100_000


@pytest.mark.parametrize(
    ("amount", "day", "field", "message"),
    [
        (120_001, TODAY, "amount", "Le montant dépasse le solde dû (1\u202f200,00\xa0€)"),
        (0, TODAY, "amount", "Le montant doit être supérieur à zéro."),
        (-5, TODAY, "amount", "Le montant doit être supérieur à zéro."),
        (100, TODAY + timedelta(days=1), "paid_on", "ne peut pas être dans le futur"),
    ],
)
def test_bad_payments_are_refused_and_change_nothing(ctx, amount, day, field, message):
    invoice = sent_invoice()
    with pytest.raises(invoices.InvoiceError) as refused:
        payments.add(invoice, day, amount, M.CHEQUE, TODAY)
    assert refused.value.field == field and message in refused.value.message
    assert (invoice.paid_cents, invoice.status) == (0, S.AWAITING_PAYMENT)
    assert db.session.scalars(select(Payment)).all() == []


@pytest.mark.parametrize("state", ["draft", "cancelled", "paid", "credit_note"])
def test_no_payment_on_a_draft_a_cancelled_or_paid_invoice_or_a_credit_note(ctx, state):
    invoice = make_invoice(make_client())
    if state != "draft":
        invoices.finalize(invoice, TODAY)
    if state == "cancelled":
        invoices.cancel(invoice, TODAY)
    if state == "paid":
        payments.add(invoice, TODAY, invoice.total_cents, M.CHEQUE, TODAY)
    if state == "credit_note":
        invoice = invoices.cancel(invoice, TODAY)
    with pytest.raises(invoices.InvalidTransition):
        payments.add(invoice, TODAY, 100, M.CHEQUE, TODAY)


def test_the_same_reference_is_refused_twice_for_one_invoice(ctx):
    invoice = sent_invoice()
    payments.add(invoice, TODAY, 100, M.STRIPE, TODAY, reference="pi_123")
    db.session.commit()
    with pytest.raises(Exception, match="UNIQUE"):
        payments.add(invoice, TODAY, 100, M.STRIPE, TODAY, reference="pi_123")
    db.session.rollback()


# --- The amount due now (`due_now`): it follows the payment schedule ------------------------

FIRST, SECOND, THIRD = date(2026, 12, 15), date(2027, 1, 15), date(2027, 2, 15)


def scheduled_invoice():
    """4 500,00 € (no tax) in three instalments: 30 % on 15/12/2026, 40 % on 15/01/2027,
    30 % on 15/02/2027 (the invoice's due date)."""
    invoice = make_invoice(make_client(), lines=((1, 450_000),))
    invoices.set_instalments(invoice, [
        (FIRST, money.InstalmentSpec(Decimal(30), None)),
        (SECOND, money.InstalmentSpec(Decimal(40), None)),
        (THIRD, money.InstalmentSpec(Decimal(30), None)),
    ])
    invoices.finalize(invoice, TODAY)
    return invoice


def test_the_amount_due_now_is_the_first_instalment(ctx):
    invoice = scheduled_invoice()
    assert [each.amount_cents for each in invoice.instalments] == [135_000, 180_000, 135_000]
    due = payments.due_now(invoice)
    assert due == payments.DueNow(amount_cents=135_000, due_date=FIRST, balance_cents=450_000)
    assert due.is_part
    assert payments.suggested_amount(invoice) == 135_000


def test_once_the_first_instalment_is_paid_the_second_is_due(ctx):
    invoice = scheduled_invoice()
    payments.add(invoice, TODAY, 135_000, M.BANK_TRANSFER, TODAY)
    assert payments.due_now(invoice) == payments.DueNow(180_000, SECOND, 315_000)


def test_after_a_partial_payment_what_is_left_of_the_first_instalment_is_due(ctx):
    invoice = scheduled_invoice()
    payments.add(invoice, TODAY, 100_000, M.CHEQUE, TODAY)
    assert payments.due_now(invoice) == payments.DueNow(35_000, FIRST, 350_000)


def test_payments_count_cumulatively_across_instalments(ctx):
    invoice = scheduled_invoice()
    payments.add(invoice, TODAY, 200_000, M.CHEQUE, TODAY)  # the first, and 650 € of the second
    assert payments.due_now(invoice) == payments.DueNow(115_000, SECOND, 250_000)


def test_the_last_instalment_is_the_whole_balance(ctx):
    invoice = scheduled_invoice()
    payments.add(invoice, TODAY, 315_000, M.CHEQUE, TODAY)
    due = payments.due_now(invoice)
    assert due == payments.DueNow(135_000, THIRD, 135_000)
    assert not due.is_part


def test_nothing_is_due_on_an_invoice_paid_in_full(ctx):
    invoice = scheduled_invoice()
    payments.add(invoice, TODAY, 450_000, M.CHEQUE, TODAY)
    due = payments.due_now(invoice)
    assert (due.amount_cents, due.balance_cents, due.is_part) == (0, 0, False)


def test_without_a_schedule_the_balance_is_due_by_the_invoice_due_date(ctx):
    invoice = make_invoice(make_client(), lines=((1, 450_000),))
    invoices.finalize(invoice, TODAY)
    assert payments.due_now(invoice) == payments.DueNow(450_000, date(2026, 12, 24), 450_000)
    payments.add(invoice, TODAY, 100_000, M.CHEQUE, TODAY)
    due = payments.due_now(invoice)
    assert due == payments.DueNow(350_000, date(2026, 12, 24), 350_000) and not due.is_part
