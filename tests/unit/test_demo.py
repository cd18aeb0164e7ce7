"""`demo.add_invoices`: two years of demo invoices, as the lifecycle verbs would leave them."""

import random
import re
from collections import Counter, defaultdict
from datetime import date, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from billing import clients, clock, demo, invoices, numbering, payments, settings, statements
from billing.models import (
    Client,
    Event,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceStatus,
    Item,
    NumberSequence,
    Payment,
    PaymentMethod,
    TaxRate,
    db,
)
from tests.conftest import NOW, TODAY, make_app
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
    """The events the verbs log, in order; « payment_added » once per payment, as
    `payments.add` details it (amount, method)."""
    kinds, added = defaultdict(list), defaultdict(list)
    for event in db.session.scalars(select(Event).order_by(Event.at, Event.id)):
        if event.kind == "payment_added":
            added[event.invoice_id].append(event.detail)
            if kinds[event.invoice_id][-1:] == ["payment_added"]:
                continue  # several payments: one entry below
        kinds[event.invoice_id].append(event.kind)
    sent = ["created", "finalized", "sent_manually"]
    expected = {
        S.DRAFT: [["created"]],
        S.TO_SEND: [["created", "finalized"]],
        S.AWAITING_PAYMENT: [sent, [*sent, "payment_added"]],
        S.PAID: [[*sent, "payment_added"]],
        S.CANCELLED: [["created", "finalized", "cancelled"], [*sent, "cancelled"]],
    }
    received = defaultdict(list)
    for payment in db.session.scalars(select(Payment).order_by(Payment.created_at, Payment.id)):
        received[payment.invoice_id].append(f"{payment.amount_cents} {payment.method.value}")
    for invoice in documents(Invoice.kind == InvoiceKind.INVOICE):
        assert kinds[invoice.id] in expected[invoice.status], invoice.number
        assert added[invoice.id] == received[invoice.id], invoice.number
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


def test_a_second_batch_never_dates_a_number_before_the_last_one(world):
    """The first batch reaches today: the next one is dated on or after the last numbered
    invoice and credit note of each series, and is as consistent as the first."""
    last = {kind: invoices.last_issue_date(kind) for kind in InvoiceKind}
    before = db.session.scalar(select(func.max(Invoice.id)))
    add(300, seed=11)
    assert_chronological()
    added = documents(Invoice.id > before)
    for invoice in added:
        if invoice.number:
            assert invoice.issue_date >= last[invoice.kind], invoice.number
            assert invoice.issue_date <= settings.today()
    assert {invoice.status for invoice in added} >= {S.PAID, S.AWAITING_PAYMENT, S.TO_SEND}
    for invoice in documents():
        paid = db.session.scalar(select(func.coalesce(func.sum(Payment.amount_cents), 0))
                                 .where(Payment.invoice_id == invoice.id))
        assert invoice.paid_cents == paid, invoice.number


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


# --- Consistency: what `flask --app app demo [--invoices N]` leaves adds up everywhere ----
# One database per command, built once through the CLI and shared by the tests below
# (they only read it, or roll back what they change).

NUMBER = re.compile(r"^(?P<prefix>[A-Z]+)-(?P<year>\d{4})-(?P<seq>\d{4,})$")


@pytest.fixture(scope="module", params=[(), ("--invoices", "2000")],
                ids=["demo", "demo --invoices 2000"])
def loaded(request, tmp_path_factory):
    """An app holding what `flask --app app demo` (then with `--invoices 2000`) left."""
    clock.start_at(NOW)
    app = make_app(tmp_path_factory.mktemp("demo"))
    result = app.test_cli_runner().invoke(args=["demo", *request.param])
    assert result.exit_code == 0, result.output
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def data(loaded):
    with loaded.app_context():
        yield
        db.session.rollback()


def demo_clients() -> list[Client]:
    found = list(db.session.scalars(select(Client).order_by(Client.id)))
    assert sorted(client.name for client in found) == sorted(demo.HABITS)
    return found


def payments_by_invoice() -> dict[int, list[Payment]]:
    found = defaultdict(list)
    for payment in db.session.scalars(select(Payment).order_by(Payment.id)):
        found[payment.invoice_id].append(payment)
    return found


def period(client: Client) -> tuple[date, date]:
    """From the client's first document (or today) to today: nothing is left before it."""
    first = db.session.scalar(select(func.min(Invoice.issue_date))
                              .where(Invoice.client_id == client.id))
    return min(first or TODAY, TODAY), TODAY


def test_the_command_gives_the_expected_amount_of_data(data, loaded):
    count = db.session.scalar(select(func.count()).where(Invoice.kind == InvoiceKind.INVOICE))
    assert count in (0, 2000)
    if count:
        assert db.session.scalar(select(func.count()).select_from(Payment)) > 1000


def test_every_statement_balance_is_what_the_client_page_shows(data):
    """For each demo client: the statement over a period covering all its invoices (it opens
    at zero) ends on the balance due the client page shows (`clients.balances`), currency by
    currency; and its payments are all of the client's payments."""
    all_payments = payments_by_invoice()
    invoice_client = dict(db.session.execute(select(Invoice.id, Invoice.client_id)).all())
    for client in demo_clients():
        start, end = period(client)
        view = statements.build(statements.Params(client, start, end), TODAY)
        assert all(section.opening_cents == 0 for section in view.sections), client.name
        statement = {s.currency: s.balance_cents for s in view.sections if s.balance_cents}
        page = {currency: cents for currency, cents in clients.balances(client).items() if cents}
        assert statement == page, client.name
        paid = sum(p.amount_cents for invoice_id, found in all_payments.items()
                   if invoice_client[invoice_id] == client.id for p in found)
        assert sum(s.paid_cents for s in view.sections) == paid, client.name
        assert sum(len(s.payments) for s in view.sections) == sum(
            len(found) for invoice_id, found in all_payments.items()
            if invoice_client[invoice_id] == client.id
        )
    parent = next(c for c in demo_clients() if c.children)
    family = [parent, *parent.children]
    start = min(period(c)[0] for c in family)
    view = statements.build(statements.Params(parent, start, TODAY, include_children=True), TODAY)
    owed = Counter()
    for member in family:
        owed.update(clients.balances(member))
    assert {s.currency: s.balance_cents for s in view.sections if s.balance_cents} == {
        currency: cents for currency, cents in owed.items() if cents}


def test_each_clients_payments_are_what_its_invoices_received(data):
    """For each demo client, over its numbered documents (drafts carry nothing):
    Σ payments = Σ over its invoices of (total − balance) − Σ of its credit notes' totals,
    because each invoice's total − balance is paid + credited, and the credited part of the
    invoices is exactly the total of the credit notes that cancel them; a credit note's
    own total − balance is its total (it owes nothing)."""
    all_payments = payments_by_invoice()
    for client in demo_clients():
        documents_ = documents(Invoice.client_id == client.id, Invoice.status != S.DRAFT)
        bills = [i for i in documents_ if i.kind is InvoiceKind.INVOICE]
        notes = [i for i in documents_ if i.kind is InvoiceKind.CREDIT_NOTE]
        received = sum(p.amount_cents for i in bills for p in all_payments[i.id])
        assert received == sum(i.total_cents - i.balance_cents for i in bills) - sum(
            n.total_cents for n in notes), client.name
        assert sum(i.credited_cents for i in bills) == sum(n.total_cents for n in notes)
        assert all(note.total_cents - note.balance_cents == note.total_cents for note in notes)
        assert received == sum(i.paid_cents for i in bills)


def test_paid_cents_is_the_sum_of_the_payments_and_paid_invoices_are_fully_paid(data):
    all_payments = payments_by_invoice()
    for invoice in documents():
        received = [p.amount_cents for p in all_payments[invoice.id]]
        assert invoice.paid_cents == sum(received), invoice.number
        assert all(amount > 0 for amount in received)
        if invoice.status is S.PAID and invoice.kind is InvoiceKind.INVOICE:
            assert received, invoice.number
            assert sum(received) == invoice.total_cents - invoice.credited_cents
            assert invoice.balance_cents == 0
        if invoice.status is S.AWAITING_PAYMENT:
            assert 0 <= invoice.paid_cents < invoice.total_cents - invoice.credited_cents
        if invoice.status in (S.DRAFT, S.TO_SEND, S.CANCELLED) or invoice.is_credit_note:
            assert received == [], invoice.number


def test_payments_are_dated_between_the_sending_and_today_with_varied_methods(data):
    zone = ZoneInfo(settings.business().timezone)
    all_payments = payments_by_invoice()
    invoices_ = {invoice.id: invoice for invoice in documents()}
    for invoice_id, found in all_payments.items():
        invoice = invoices_[invoice_id]
        assert invoice.sent_at is not None, invoice.number
        sent_on = invoice.sent_at.replace(tzinfo=timezone.utc).astimezone(zone).date()
        for payment in found:
            assert invoice.issue_date <= sent_on <= payment.paid_on <= TODAY, invoice.number
            assert payment.created_at <= clock.now()
            if payment.method is PaymentMethod.STRIPE:
                assert payment.reference.startswith("pi_")
        references = [p.reference for p in found if p.reference]
        assert len(references) == len(set(references))
    if all_payments:
        methods = Counter(p.method for found in all_payments.values() for p in found)
        assert set(methods) == set(PaymentMethod)
        assert methods.most_common(1)[0][0] is PaymentMethod.BANK_TRANSFER
        assert any(len(found) > 1 for found in all_payments.values())


def test_numbers_never_go_back_in_time_within_a_series(data):
    assert_chronological()


def assert_chronological():
    """Within each series, in number order, issue dates never decrease (across years too)."""
    series = defaultdict(list)
    for invoice in documents(Invoice.number.is_not(None)):
        parts = NUMBER.match(invoice.number)
        assert parts, invoice.number
        series[invoice.kind].append(
            ((int(parts["year"]), int(parts["seq"])), invoice.issue_date, invoice.number)
        )
        assert int(parts["year"]) == invoice.issue_date.year
    for found in series.values():
        found.sort()
        for (_key, day, number), (_next_key, next_day, next_number) in zip(found, found[1:]):
            assert day <= next_day, (number, next_number)


def test_sending_and_numbers_are_where_the_verbs_leave_them(data):
    for invoice in documents():
        if invoice.status is S.DRAFT:
            assert (invoice.number, invoice.finalized_at, invoice.sent_at) == (None, None, None)
            assert invoice.sent_revision is None
            continue
        assert invoice.number and invoice.finalized_at is not None
        if invoice.is_credit_note:
            assert (invoice.sent_at, invoice.sent_revision) == (None, None)
        elif invoice.status is S.TO_SEND:
            assert (invoice.sent_at, invoice.sent_revision) == (None, None)
        elif invoice.status in (S.AWAITING_PAYMENT, S.PAID):
            assert invoice.sent_at is not None and invoice.sent_revision == invoice.revision
            assert invoice.finalized_at <= invoice.sent_at <= clock.now()
        if invoice.sent_at is not None:
            assert invoice.sent_revision == invoice.revision


def test_demo_data_goes_on_with_the_verbs(data):
    """What a user does next works on the demo: pay the rest, delete a payment, cancel."""
    numbering.lock()  # first: it ends the transaction (the fixture rolls back what follows)
    partly = [i for i in documents(Invoice.status == S.AWAITING_PAYMENT) if i.paid_cents]
    paid = documents(Invoice.status == S.PAID, Invoice.kind == InvoiceKind.INVOICE)
    unpaid = [i for i in documents(Invoice.status == S.AWAITING_PAYMENT) if not i.paid_cents]
    if not paid:
        return
    invoice = partly[0]
    payments.add(invoice, TODAY, invoice.balance_cents, PaymentMethod.CHEQUE, TODAY)
    assert invoice.status is S.PAID
    invoice = paid[0]
    payments.delete(payments.of_invoice(invoice)[-1])
    assert invoice.status is S.AWAITING_PAYMENT and invoice.balance_cents > 0
    assert invoice.paid_cents == sum(p.amount_cents for p in payments.of_invoice(invoice))
    invoice = unpaid[0]
    note = invoices.cancel(invoice, settings.today())
    assert (invoice.status, note.status) == (S.CANCELLED, S.PAID)
    assert invoice.balance_cents == note.balance_cents == 0


def credit_shape(note: Invoice) -> dict:
    """What `invoices.cancel` makes of a credit note and of the invoice it cancels."""
    original = note.credited_invoice
    return {
        "kind": note.kind, "status": note.status, "original": original.status,
        "client": note.client_id == original.client_id, "job": note.job_id == original.job_id,
        "currency": note.currency == original.currency, "footer": note.footer == original.footer,
        "reference": note.reference == original.number, "notes": note.notes,
        "chosen": note.issue_date_chosen, "terms": note.payment_terms_days,
        "due": note.due_date == note.issue_date, "revision": note.revision,
        "sent": (note.sent_at, note.sent_revision), "paid": (note.paid_cents, original.paid_cents),
        "totals": (note.net_cents, note.tax_cents, note.total_cents)
        == (original.net_cents, original.tax_cents, original.total_cents),
        "credited": note.credited_cents == note.total_cents == original.credited_cents,
        "lines": [(l.description, l.quantity_millis, l.unit, l.unit_price_cents,
                   l.discount_percent_millis, l.discount_cents, l.net_cents, l.item_id,
                   [(t.tax_rate_id, t.name, t.rate_millis) for t in l.taxes])
                  for l in note.lines]
        == [(l.description, l.quantity_millis, l.unit, l.unit_price_cents,
             l.discount_percent_millis, l.discount_cents, l.net_cents, l.item_id,
             [(t.tax_rate_id, t.name, t.rate_millis) for t in l.taxes])
            for l in original.lines],
        "taxes": [(t.name, t.base_cents, t.amount_cents) for t in note.taxes]
        == [(t.name, t.base_cents, t.amount_cents) for t in original.taxes],
        "dates": original.issue_date <= note.issue_date <= TODAY,
    }


def test_credit_notes_are_what_cancel_makes(data):
    notes = documents(Invoice.kind == InvoiceKind.CREDIT_NOTE)
    if not notes:
        return
    shapes = [credit_shape(note) for note in notes]
    numbering.lock()
    unpaid = [i for i in documents(Invoice.status == S.AWAITING_PAYMENT) if not i.paid_cents]
    expected = credit_shape(invoices.cancel(unpaid[0], settings.today()))
    assert all(shape == expected for shape in shapes)
    zone = ZoneInfo(settings.business().timezone)
    for note in notes:
        original = note.credited_invoice
        finalized_on = note.finalized_at.replace(tzinfo=timezone.utc).astimezone(zone).date()
        assert finalized_on == note.issue_date, note.number
        if original.sent_at is not None:
            assert original.sent_at <= note.finalized_at
