"""The life of an invoice, verb by verb: draft, lines, finalize, send, revise, cancel."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from billing import invoices, money, numbering
from billing.models import (
    Event,
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    NumberSequence,
    db,
)
from tests.factories import make_client, make_invoice, make_item, make_tax_rate

TODAY = date(2026, 11, 24)


@pytest.fixture
def ctx(app, owner):
    with app.test_request_context():
        yield


def test_a_draft_takes_terms_and_currency_from_the_client(ctx):
    client = make_client(currency="CAD", payment_terms_days=15)
    draft = invoices.create_draft(TODAY, client)
    assert draft.status is InvoiceStatus.DRAFT and draft.number is None
    assert draft.currency == "CAD"
    assert draft.due_date == TODAY + timedelta(days=15)


def test_a_draft_without_client_terms_uses_the_settings(ctx):
    draft = invoices.create_draft(TODAY, make_client())
    assert draft.payment_terms_days == 30
    assert draft.due_date == date(2026, 12, 24)


def test_catalog_line_copies_name_price_unit_and_active_taxes(ctx):
    tps, tvq = make_tax_rate("TPS", 5_000), make_tax_rate("TVQ", 9_975)
    old = make_tax_rate("Ancienne", 1_000, active=False)
    item = make_item("Conseil", 12_000, tax_rates=[tps, tvq, old], unit="heure", description="Sur site")
    invoice = invoices.create_draft(TODAY, make_client())
    line = invoices.add_line(invoice, item)
    assert line.description == "Conseil\nSur site"
    assert (line.unit, line.unit_price_cents) == ("heure", 12_000)
    assert [t.name for t in line.taxes] == ["TPS", "TVQ"]
    assert invoice.total_cents == 12_000 + 600 + 1_197


def test_totals_are_stored_per_rate_group(ctx):
    tps, tvq = make_tax_rate("TPS", 5_000, "RT0001"), make_tax_rate("TVQ", 9_975, "TQ0001")
    invoice = make_invoice(make_client(), lines=[(1, 3_333)] * 3, taxes=[tps, tvq])
    assert invoice.net_cents == 9_999
    assert [(t.name, t.base_cents, t.amount_cents, t.registration_number) for t in invoice.taxes] == [
        ("TPS", 9_999, 500, "RT0001"),
        ("TVQ", 9_999, 997, "TQ0001"),
    ]
    assert invoice.total_cents == 11_496
    assert invoice.balance_cents == 11_496


def test_line_discounts_and_decimal_quantities(ctx):
    invoice = invoices.create_draft(TODAY, make_client())
    line = invoices.add_line(invoice)
    invoices.update_line(line, invoices.LineDetails("Audit", Decimal("1.5"), "jour", 60_000, discount_percent=Decimal(10)))
    assert line.net_cents == 81_000
    with pytest.raises(invoices.InvoiceError) as error:
        invoices.update_line(line, invoices.LineDetails("Audit", Decimal(1), "jour", 1_000, discount_cents=2_000))
    assert error.value.field == "discount"
    assert line.net_cents == 81_000  # unchanged


@pytest.mark.parametrize(
    ("quantity", "price", "field"),
    [(Decimal(0), 100, "quantity"), (Decimal("-1"), 100, "quantity"), (Decimal("0.0001"), 100, "quantity"), (Decimal(1), -500, "unit_price")],
)
def test_bad_lines_are_refused(ctx, quantity, price, field):
    invoice = make_invoice(make_client())
    line = invoice.lines[0]
    with pytest.raises(invoices.InvoiceError) as error:
        invoices.update_line(line, invoices.LineDetails("x", quantity, "", price))
    assert error.value.field == field
    assert invoice.total_cents == 10_000


def test_reorder_and_remove_lines(ctx):
    invoice = make_invoice(make_client(), lines=[(1, 100), (1, 200), (1, 300)])
    first, second, third = invoice.lines
    invoices.move_line(third, -1)
    assert [line.unit_price_cents for line in invoice.lines] == [100, 300, 200]
    invoices.remove_line(first)
    assert [line.position for line in invoice.lines] == [0, 1]
    assert invoice.total_cents == 500


def test_due_date_before_issue_date_is_refused(ctx):
    invoice = make_invoice(make_client())
    header = invoices.Header(invoice.client, None, TODAY, 30, due_date=TODAY - timedelta(days=1))
    with pytest.raises(invoices.InvoiceError) as error:
        invoices.update_header(invoice, header)
    assert error.value.field == "due_date"
    assert invoice.due_date == TODAY + timedelta(days=30)


def test_a_job_of_another_client_is_refused(ctx):
    from tests.factories import make_job

    invoice = make_invoice(make_client())
    job = make_job(make_client("Autre"))
    with pytest.raises(invoices.InvoiceError) as error:
        invoices.update_header(invoice, invoices.Header(invoice.client, job, TODAY, 30))
    assert error.value.field == "job_id"


def test_payment_schedule_must_sum_to_the_total(ctx):
    invoice = make_invoice(make_client(), lines=[(1, 10_000)])
    schedule = [(TODAY, money.InstalmentSpec(percent=Decimal(51))), (TODAY + timedelta(days=30), money.InstalmentSpec(percent=Decimal(50)))]
    with pytest.raises(invoices.InvoiceError, match="101 %"):
        invoices.set_instalments(invoice, schedule)
    assert invoice.instalments == []
    invoices.set_instalments(invoice, [(TODAY, money.InstalmentSpec(percent=Decimal("33.333")))] * 2 + [(TODAY + timedelta(days=60), money.InstalmentSpec(percent=Decimal("33.334")))])
    assert [i.amount_cents for i in invoice.instalments] == [3_333, 3_333, 3_334]
    assert invoice.due_date == TODAY + timedelta(days=60)


def test_a_schedule_in_percent_follows_a_new_total(ctx):
    invoice = make_invoice(make_client(), lines=[(1, 10_000)])
    invoices.set_instalments(invoice, [(TODAY, money.InstalmentSpec(percent=Decimal(50)))] * 2)
    invoices.add_line(invoice)
    invoices.update_line(invoice.lines[1], invoices.LineDetails("Extra", Decimal(1), "", 101))
    assert [i.amount_cents for i in invoice.instalments] == [5_051, 5_050]


def test_finalize_gives_the_next_number_and_locks_the_rates(ctx):
    rate = make_tax_rate("TVA 20 %", 20_000)
    invoice = make_invoice(make_client(), taxes=[rate])
    invoices.finalize(invoice, TODAY)
    assert invoice.number == "F-2026-0001"
    assert invoice.status is InvoiceStatus.TO_SEND
    assert rate.locked
    second = make_invoice(make_client("B"))
    invoices.finalize(second, TODAY)
    assert second.number == "F-2026-0002"


@pytest.mark.parametrize(
    ("prepare", "field"),
    [
        (lambda inv: setattr(inv, "client", None), "client_id"),
        (lambda inv: inv.lines.clear(), "lines"),
        (lambda inv: setattr(inv.client, "emails", []), "client_id"),
    ],
    ids=["no client", "no line", "no email for an email client"],
)
def test_finalize_refuses_an_incomplete_invoice_and_consumes_no_number(ctx, prepare, field):
    invoice = make_invoice(make_client())
    prepare(invoice)
    with pytest.raises(invoices.InvoiceError) as error:
        invoices.finalize(invoice, TODAY)
    assert error.value.field == field
    assert invoice.number is None and invoice.status is InvoiceStatus.DRAFT
    assert numbering.next_value("invoice", 2026) == 1


def test_a_paper_client_needs_no_email(ctx):
    invoice = make_invoice(make_client(emails=[], by_email=False))
    invoices.finalize(invoice, TODAY)
    assert invoice.number == "F-2026-0001"


def test_mark_sent_moves_to_awaiting_payment(ctx):
    invoice = make_invoice(make_client())
    with pytest.raises(invoices.InvalidTransition):
        invoices.mark_sent(invoice)  # a draft is finalized first
    invoices.finalize(invoice, TODAY)
    invoices.mark_sent(invoice)
    assert invoice.status is InvoiceStatus.AWAITING_PAYMENT
    assert invoice.sent_at is not None and invoice.sent_revision == 1


def test_overdue_and_partial_badges_are_derived(ctx):
    invoice = make_invoice(make_client())
    invoices.finalize(invoice, TODAY)
    invoices.mark_sent(invoice)
    assert not invoice.is_overdue(invoice.due_date)
    assert invoice.is_overdue(invoice.due_date + timedelta(days=1))
    invoice.paid_cents = 4_000
    assert invoice.is_partially_paid and invoice.balance_cents == 6_000


def test_number_is_editable_until_first_sending_and_the_series_goes_on(ctx):
    invoice = make_invoice(make_client())
    invoices.finalize(invoice, TODAY)
    invoices.change_number(invoice, "F-2026-0010")
    other = make_invoice(make_client("B"))
    invoices.finalize(other, TODAY)
    assert other.number == "F-2026-0011"
    with pytest.raises(invoices.InvoiceError, match="déjà utilisé"):
        invoices.change_number(invoice, "F-2026-0011")
    invoices.mark_sent(invoice)
    with pytest.raises(invoices.InvoiceError):
        invoices.change_number(invoice, "F-2026-0099")
    assert invoice.number == "F-2026-0010"


def test_a_sent_invoice_refuses_every_change_of_its_content(ctx):
    invoice = make_invoice(make_client())
    invoices.finalize(invoice, TODAY)
    invoices.update_line(invoice.lines[0], invoices.LineDetails("Avant envoi", Decimal(1), "", 10_000))
    invoices.mark_sent(invoice)
    line = invoice.lines[0]
    changes = [
        lambda: invoices.update_line(line, invoices.LineDetails("Corrigé", Decimal(2), "", 10_000)),
        lambda: invoices.add_line(invoice),
        lambda: invoices.remove_line(line),
        lambda: invoices.move_line(line, 1),
        lambda: invoices.update_header(invoice, invoices.header_of(invoice, reference="BC-1")),
        lambda: invoices.update_header(invoice, invoices.header_of(invoice, currency="USD")),
        lambda: invoices.set_instalments(invoice, []),
        lambda: invoices.change_number(invoice, "F-9"),
        lambda: invoices.delete_draft(invoice),
    ]
    for change in changes:
        with pytest.raises(invoices.InvalidTransition):
            change()
    assert (invoice.revision, invoice.total_cents, invoice.number) == (1, 10_000, "F-2026-0001")
    assert invoice.lines[0].description == "Avant envoi" and invoice.currency == "EUR"


def test_paid_and_cancelled_invoices_are_not_editable(ctx):
    invoice = make_invoice(make_client())
    invoices.finalize(invoice, TODAY)
    invoice.status = InvoiceStatus.PAID
    with pytest.raises(invoices.InvalidTransition):
        invoices.add_line(invoice)


def test_cancel_issues_a_credit_note_in_its_own_series(ctx):
    rate = make_tax_rate()
    invoice = make_invoice(make_client(), lines=[(2, 5_000)], taxes=[rate])
    invoices.finalize(invoice, TODAY)
    invoices.mark_sent(invoice)
    note = invoices.cancel(invoice, TODAY)
    assert note.kind is InvoiceKind.CREDIT_NOTE
    assert note.number == "AV-2026-0001"
    assert note.credited_invoice is invoice and note.reference == invoice.number
    assert note.total_cents == invoice.total_cents == 12_000
    assert invoice.status is InvoiceStatus.CANCELLED and invoice.balance_cents == 0
    assert note.balance_cents == 0
    with pytest.raises(invoices.InvalidTransition):
        invoices.cancel(invoice, TODAY)


def test_a_draft_can_be_deleted_a_finalized_invoice_cannot(ctx):
    draft = make_invoice(make_client())
    invoices.delete_draft(draft)
    assert db.session.scalar(select(func.count()).select_from(Invoice)) == 0
    invoice = make_invoice(make_client())
    invoices.finalize(invoice, TODAY)
    with pytest.raises(invoices.InvalidTransition):
        invoices.delete_draft(invoice)


def test_duplicate_makes_a_new_draft_with_the_same_lines(ctx):
    rate = make_tax_rate()
    invoice = make_invoice(make_client(), lines=[(1, 100), (3, 250)], taxes=[rate])
    invoices.finalize(invoice, TODAY)
    copy = invoices.duplicate(invoice, TODAY + timedelta(days=3))
    assert copy.status is InvoiceStatus.DRAFT and copy.number is None
    assert copy.issue_date == TODAY + timedelta(days=3)
    assert [(l.quantity_millis, l.unit_price_cents) for l in copy.lines] == [(1000, 100), (3000, 250)]
    assert copy.total_cents == invoice.total_cents


def test_every_step_is_in_the_history(ctx):
    invoice = make_invoice(make_client())
    invoices.finalize(invoice, TODAY)
    invoices.mark_sent(invoice)
    kinds = db.session.scalars(select(Event.kind).where(Event.invoice_id == invoice.id).order_by(Event.id)).all()
    assert kinds == ["created", "finalized", "sent_manually"]


def test_a_number_sequence_row_per_year(ctx):
    first = make_invoice(make_client())
    invoices.finalize(first, TODAY)
    nextyear = make_invoice(make_client("B"), today=date(2027, 1, 2))
    invoices.finalize(nextyear, date(2027, 1, 2))
    assert nextyear.number == "F-2027-0001"
    assert db.session.scalar(select(func.count()).select_from(NumberSequence)) == 2
