"""`demo.add_invoices`: two years of demo invoices, as the lifecycle verbs would leave them."""

import random
from collections import defaultdict
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from billing import demo, invoices, numbering, settings
from billing.models import (
    Event,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceStatus,
    Item,
    NumberSequence,
    TaxRate,
    db,
)
from tests.conftest import make_app
from tests.factories import make_client

S = InvoiceStatus


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield


@pytest.fixture
def world(ctx):
    """The demo data and 200 demo invoices."""
    demo.load()
    db.session.commit()
    add(200)


def add(count, seed=42):
    numbering.lock()
    summary = demo.add_invoices(count, seed)
    db.session.commit()
    return summary


def documents(*conditions) -> list[Invoice]:
    query = (
        select(Invoice)
        .options(selectinload(Invoice.lines).selectinload(InvoiceLine.taxes))
        .where(*conditions)
        .order_by(Invoice.id)
    )
    return list(db.session.scalars(query))


def snapshot(invoice: Invoice) -> tuple:
    """Everything `invoices.recompute` stores."""
    return (
        invoice.net_cents,
        invoice.tax_cents,
        invoice.total_cents,
        [line.net_cents for line in invoice.lines],
        [(t.position, t.name, t.rate_millis, t.registration_number, t.base_cents, t.amount_cents)
         for t in invoice.taxes],
        [i.amount_cents for i in invoice.instalments],
    )


def test_adds_the_invoices_asked_for_in_every_status(world):
    found = documents(Invoice.kind == InvoiceKind.INVOICE)
    assert len(found) == 200
    assert {invoice.status for invoice in found} == set(S)
    cancelled = [invoice for invoice in found if invoice.status is S.CANCELLED]
    notes = documents(Invoice.kind == InvoiceKind.CREDIT_NOTE)
    assert len(notes) == len(cancelled) > 0


def test_awaited_invoices_include_overdue_partly_paid_and_not_yet_due(world):
    today = settings.today()
    awaiting = documents(Invoice.status == S.AWAITING_PAYMENT)
    assert any(invoice.is_overdue(today) for invoice in awaiting)
    assert any(invoice.is_partially_paid for invoice in awaiting)
    assert any(invoice.due_date >= today for invoice in awaiting)
    assert all(0 <= invoice.paid_cents < invoice.total_cents for invoice in awaiting)


def test_invoices_spread_over_the_last_two_years_with_due_dates_after_them(world):
    today = settings.today()
    found = documents()
    first, last = min(i.issue_date for i in found), max(i.issue_date for i in found)
    assert today - timedelta(days=729) <= first < today - timedelta(days=600)
    assert today - timedelta(days=30) < last <= today
    assert all(invoice.due_date >= invoice.issue_date for invoice in found)
    assert all(invoice.created_at <= invoice.updated_at for invoice in found)


def test_numbers_are_gapless_per_series_and_year_and_follow_the_dates(world):
    prefixes = {InvoiceKind.INVOICE: "F", InvoiceKind.CREDIT_NOTE: "AV"}
    by_series = defaultdict(list)
    for invoice in documents(Invoice.number.is_not(None)):
        by_series[invoice.kind, invoice.issue_date.year].append(invoice)
    assert {year for _kind, year in by_series} == {
        settings.today().year - 2, settings.today().year - 1, settings.today().year
    }
    for (kind, year), found in by_series.items():
        found.sort(key=lambda invoice: invoice.number)
        expected = [f"{prefixes[kind]}-{year}-{n:04d}" for n in range(1, len(found) + 1)]
        assert [invoice.number for invoice in found] == expected
        dates = [invoice.issue_date for invoice in found]
        assert dates == sorted(dates)
    assert all(invoice.number is None for invoice in documents(Invoice.status == S.DRAFT))


def test_counters_are_left_where_the_next_finalize_continues(world):
    year = settings.today().year
    issued = db.session.scalar(
        select(func.count()).where(
            Invoice.kind == InvoiceKind.INVOICE,
            Invoice.number.like(f"F-{year}-%"),
        )
    )
    counter = db.session.scalar(
        select(NumberSequence).where(
            NumberSequence.series == "invoice", NumberSequence.year == year
        )
    )
    assert (counter.last_issued, counter.next_value) == (issued, issued + 1)

    draft_id = documents(Invoice.status == S.DRAFT)[0].id
    numbering.lock()
    draft = db.session.get(Invoice, draft_id)
    draft.issue_date = settings.today()
    invoices.finalize(draft, settings.today())
    db.session.commit()
    assert draft.number == f"F-{year}-{issued + 1:04d}"


def test_stored_totals_are_what_recompute_stores(world):
    found = documents()
    sample = random.Random(7).sample(found, 30)
    sample += [i for i in found if i.instalments][:3] + [i for i in found if i.is_credit_note][:3]
    sample += [i for i in found if any(line.discount_cents for line in i.lines)][:3]
    sample += [i for i in found if any(line.discount_percent_millis for line in i.lines)][:3]
    assert any(invoice.instalments for invoice in sample)
    for invoice in sample:
        stored = snapshot(invoice)
        invoices.recompute(invoice)
        assert snapshot(invoice) == stored, invoice.number
    db.session.rollback()


def test_paid_cancelled_and_credit_notes_owe_nothing(world):
    for invoice in documents(Invoice.status.in_((S.PAID, S.CANCELLED))):
        assert invoice.balance_cents == 0
    for note in documents(Invoice.kind == InvoiceKind.CREDIT_NOTE):
        original = note.credited_invoice
        assert note.status is S.PAID
        assert note.number.startswith("AV-")
        assert original.status is S.CANCELLED
        assert note.reference == original.number
        assert note.total_cents == original.total_cents == original.credited_cents
        assert note.issue_date >= original.issue_date
        assert note.client_id == original.client_id


def test_history_follows_each_lifecycle(world):
    kinds = defaultdict(list)
    for event in db.session.scalars(select(Event).order_by(Event.at, Event.id)):
        kinds[event.invoice_id].append(event.kind)
    expected = {
        S.DRAFT: [["created"]],
        S.TO_SEND: [["created", "finalized"]],
        S.AWAITING_PAYMENT: [["created", "finalized", "sent_manually"]],
        S.PAID: [["created", "finalized", "sent_manually"]],
        S.CANCELLED: [["created", "finalized", "cancelled"],
                      ["created", "finalized", "sent_manually", "cancelled"]],
    }
    for invoice in documents(Invoice.kind == InvoiceKind.INVOICE):
        assert kinds[invoice.id] in expected[invoice.status], invoice.number
    for note in documents(Invoice.kind == InvoiceKind.CREDIT_NOTE):
        assert kinds[note.id] == ["finalized"]


def test_lines_copy_the_catalog_with_its_taxes_and_lock_the_rates_used(world):
    items = {item.id: item for item in db.session.scalars(select(Item))}
    without_vat = {"Northwind Analytics Ltd", "Coopérative Boréale"}
    for invoice in documents():
        assert invoice.lines
        assert invoice.currency == invoice.client.currency
        for line in invoice.lines:
            if invoice.client.name in without_vat:
                assert line.taxes == []
            if line.item_id is None:
                continue
            item = items[line.item_id]
            assert line.description.startswith(item.name)
            assert line.unit_price_cents == item.unit_price_cents
            if invoice.client.name not in without_vat:
                assert [t.tax_rate_id for t in line.taxes] == [r.id for r in item.tax_rates]
    assert db.session.scalar(select(TaxRate).where(TaxRate.name == "TVA 20 %")).locked


def test_the_same_seed_gives_the_same_invoices(world, tmp_path):
    def described():
        return [(i.number, i.status, i.client.name, i.issue_date, i.total_cents, i.paid_cents)
                for i in documents()]

    first = described()
    other = make_app(tmp_path / "other")
    with other.app_context():
        demo.load()
        db.session.commit()
        add(200)
        assert described() == first
        db.session.remove()
        db.engine.dispose()


def test_a_second_batch_continues_the_numbers_without_gap_or_duplicate(world):
    add(30, seed=7)
    found = documents(Invoice.kind == InvoiceKind.INVOICE)
    assert len(found) == 230
    numbers = [invoice.number for invoice in documents(Invoice.number.is_not(None))]
    assert len(numbers) == len(set(numbers))
    by_year = defaultdict(list)
    for number in numbers:
        prefix, year, sequence = number.split("-")
        by_year[prefix, year].append(int(sequence))
    for sequences in by_year.values():
        assert sorted(sequences) == list(range(1, len(sequences) + 1))


def test_the_summary_counts_each_status(world):
    summary = add(10, seed=3)
    assert summary.startswith("Demo invoices added: 10 invoices (1 drafts")
    assert "credit notes" in summary


def test_loaded_tells_whether_the_demo_clients_are_there(ctx, owner):
    assert not demo.loaded()
    demo.load()
    assert demo.loaded()


def test_invoices_are_refused_without_the_demo_clients(ctx, owner):
    make_client("Client réel")
    db.session.commit()
    numbering.lock()
    with pytest.raises(demo.DemoRefused, match="Les clients de démonstration sont absents"):
        demo.add_invoices(10)
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Invoice)) == 0


def test_the_board_archives_and_every_kind_of_invoice_page_show_the_demo(app, auth_client):
    with app.app_context():
        demo.load()
        db.session.commit()
        add(60)
        kinds = documents(Invoice.kind == InvoiceKind.INVOICE)
        shown = {invoice.status: invoice.id for invoice in kinds}
        note = documents(Invoice.kind == InvoiceKind.CREDIT_NOTE)[0]
        note_id, note_number = note.id, note.number
    assert auth_client.get("/").status_code == 200
    archives = auth_client.get("/archives/")
    assert archives.status_code == 200
    assert note_number in archives.get_data(as_text=True)
    for invoice_id in [*shown.values(), note_id]:
        for step in ("preparation", "sending", "follow_up"):
            assert auth_client.get(f"/invoices/{invoice_id}?step={step}").status_code == 200
