"""The board's and the archives' queries, and the CSV rows, called directly."""

import csv
import io
from datetime import date, timedelta

import pytest

from billing import board, invoices
from billing.models import Invoice, InvoiceKind, InvoiceStatus, db
from tests.conftest import TODAY  # bulk-inserted invoices are dated around it (insert_invoices)
from tests.factories import insert_invoices, make_client, make_invoice, make_job

S = InvoiceStatus


@pytest.fixture
def ctx(app, owner):
    with app.test_request_context():
        yield


def column(columns, key):
    return next(c for c in columns if c.key == key)


def numbers(invoices_) -> list:
    return [invoice.number for invoice in invoices_]


# --- Columns --------------------------------------------------------------------


def test_each_status_goes_to_its_column(ctx):
    shop = make_client()
    insert_invoices(shop.id, status=S.DRAFT)
    insert_invoices(shop.id, start=1, status=S.TO_SEND)
    insert_invoices(shop.id, start=2, status=S.AWAITING_PAYMENT)
    insert_invoices(shop.id, start=3, status=S.PAID)
    insert_invoices(shop.id, start=4, status=S.CANCELLED)
    insert_invoices(shop.id, start=5, status=S.PAID, kind=InvoiceKind.CREDIT_NOTE)
    cols = board.columns()
    assert [c.key for c in cols] == ["preparation", "sending", "follow_up", "archives"]
    assert numbers(column(cols, "preparation").invoices) == [None]
    assert numbers(column(cols, "sending").invoices) == ["F-00001"]
    assert numbers(column(cols, "follow_up").invoices) == ["F-00002"]
    assert numbers(column(cols, "archives").invoices) == ["F-00005", "F-00004", "F-00003"]
    assert [c.count for c in cols] == [1, 1, 1, 3]


def test_invoices_moved_by_the_verbs_change_column(ctx):
    shop = make_client()
    draft = make_invoice(shop)
    assert column(board.columns(), "preparation").invoices == [draft]
    invoices.finalize(draft, TODAY)
    assert column(board.columns(), "sending").invoices == [draft]
    invoices.mark_sent(draft)
    assert column(board.columns(), "follow_up").invoices == [draft]
    note = invoices.cancel(draft, TODAY)
    archives = column(board.columns(), "archives").invoices
    assert set(archives) == {draft, note}
    assert column(board.columns(), "follow_up").invoices == []


def test_archives_column_shows_the_20_latest_first_and_counts_all(ctx):
    shop = make_client()
    insert_invoices(shop.id, count=25, status=S.PAID)
    archives = column(board.columns(), "archives")
    assert numbers(archives.invoices) == [f"F-{n:05d}" for n in range(24, 4, -1)]
    assert archives.count == 25 and archives.hidden == 5


def test_follow_up_lists_the_nearest_due_date_first(ctx):
    shop = make_client()
    insert_invoices(shop.id, start=0, due_date=TODAY + timedelta(days=10))
    insert_invoices(shop.id, start=1, due_date=TODAY - timedelta(days=5))
    insert_invoices(shop.id, start=2, due_date=TODAY)
    assert numbers(column(board.columns(), "follow_up").invoices) == ["F-00001", "F-00002", "F-00000"]


def test_active_columns_show_at_most_the_limit_but_count_everything(ctx):
    shop = make_client()
    insert_invoices(shop.id, count=board.ACTIVE_LIMIT + 3, status=S.TO_SEND)
    sending = column(board.columns(), "sending")
    assert len(sending.invoices) == board.ACTIVE_LIMIT
    assert sending.count == board.ACTIVE_LIMIT + 3 and sending.hidden == 3
    assert sending.totals == {"EUR": 12_000 * (board.ACTIVE_LIMIT + 3)}


def test_preparation_totals_are_totals_and_follow_up_totals_are_balances(ctx):
    shop = make_client()
    insert_invoices(shop.id, count=2, status=S.DRAFT, total_cents=5_000)
    insert_invoices(shop.id, start=10, status=S.AWAITING_PAYMENT, paid_cents=2_000)
    insert_invoices(shop.id, start=11, status=S.AWAITING_PAYMENT)
    cols = board.columns()
    assert column(cols, "preparation").totals == {"EUR": 10_000}
    assert column(cols, "follow_up").totals == {"EUR": 10_000 + 12_000}
    assert column(cols, "sending").totals == {}


def test_totals_are_kept_apart_per_currency(ctx):
    shop = make_client()
    insert_invoices(shop.id, count=2, status=S.TO_SEND, currency="EUR")
    insert_invoices(shop.id, start=5, count=3, status=S.TO_SEND, currency="CAD", total_cents=1_000)
    assert column(board.columns(), "sending").totals == {"CAD": 3_000, "EUR": 24_000}


def test_filters_keep_one_client_or_one_job(ctx):
    shop, garage = make_client("Boulangerie"), make_client("Garage")
    site = make_job(shop, "Site")
    insert_invoices(shop.id, start=0, job_id=site.id)
    insert_invoices(shop.id, start=1)
    insert_invoices(garage.id, start=2)

    def shown(filters):
        return numbers(column(board.columns(filters), "follow_up").invoices)

    assert shown(board.Filters(client_id=shop.id)) == ["F-00000", "F-00001"]
    assert shown(board.Filters(client_id=garage.id)) == ["F-00002"]
    assert shown(board.Filters(job_id=site.id)) == ["F-00000"]
    assert column(board.columns(board.Filters(client_id=garage.id)), "follow_up").totals == {
        "EUR": 12_000
    }


def test_filter_choices_list_clients_and_jobs_by_name(ctx):
    zebra, alpha = make_client("zèbre"), make_client("Alpha")
    make_job(zebra, "Audit")
    make_job(alpha, "Site")
    make_job(alpha, "audit")
    clients, jobs = board.filter_choices()
    assert [c.name for c in clients] == ["Alpha", "zèbre"]
    assert [(j.client.name, j.name) for j in jobs] == [
        ("Alpha", "audit"), ("Alpha", "Site"), ("zèbre", "Audit"),
    ]


# --- Archives -------------------------------------------------------------------


def found(search: board.ArchiveSearch) -> list:
    return numbers(db.session.scalars(board.archives(search, TODAY)))


def test_archives_hold_every_document_but_drafts_latest_issue_date_first(ctx):
    shop = make_client()
    insert_invoices(shop.id, status=S.DRAFT, issue_date=TODAY)
    insert_invoices(shop.id, start=1, issue_date=TODAY - timedelta(days=3), status=S.PAID)
    insert_invoices(shop.id, start=2, issue_date=TODAY - timedelta(days=1), status=S.TO_SEND)
    insert_invoices(shop.id, start=3, issue_date=TODAY - timedelta(days=1))
    assert found(board.ArchiveSearch()) == ["F-00003", "F-00002", "F-00001"]


def test_archives_text_matches_number_or_client_name_ignoring_case(ctx):
    shop, garage = make_client("Boulangerie Martin"), make_client("Garage 100%")
    insert_invoices(shop.id, start=1)
    insert_invoices(garage.id, start=2)
    assert found(board.ArchiveSearch(text="MARTIN")) == ["F-00001"]
    assert found(board.ArchiveSearch(text="f-00002")) == ["F-00002"]
    assert found(board.ArchiveSearch(text="100%")) == ["F-00002"]
    assert found(board.ArchiveSearch(text="0%")) == ["F-00002"]  # % is a character, not a wildcard
    assert found(board.ArchiveSearch(text="_")) == []


def test_archives_amount_is_the_exact_total(ctx):
    shop = make_client()
    insert_invoices(shop.id, start=1, total_cents=123_456)
    insert_invoices(shop.id, start=2, total_cents=123_457)
    assert found(board.ArchiveSearch(amount_cents=123_456)) == ["F-00001"]


def test_archives_date_range_includes_both_ends(ctx):
    shop = make_client()
    for n, day in enumerate((date(2026, 1, 31), date(2026, 2, 1), date(2026, 2, 28), date(2026, 3, 1))):
        insert_invoices(shop.id, start=n, issue_date=day)
    search = board.ArchiveSearch(start=date(2026, 2, 1), end=date(2026, 2, 28))
    assert found(search) == ["F-00002", "F-00001"]
    assert found(board.ArchiveSearch(start=date(2026, 3, 1))) == ["F-00003"]
    assert found(board.ArchiveSearch(end=date(2026, 1, 31))) == ["F-00000"]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("to_send", ["F-00001"]),
        ("awaiting_payment", ["F-00002", "F-00003", "F-00004"]),
        ("overdue", ["F-00003"]),
        ("paid", ["F-00005"]),
        ("cancelled", ["F-00006"]),
        ("credit_note", ["F-00007"]),
        ("draft", [None]),
    ],
)
def test_archives_status_filter(ctx, status, expected):
    shop = make_client()
    late = TODAY - timedelta(days=1)
    insert_invoices(shop.id, status=S.DRAFT)
    insert_invoices(shop.id, start=1, status=S.TO_SEND)
    insert_invoices(shop.id, start=2)  # not due yet
    insert_invoices(shop.id, start=3, due_date=late)  # overdue
    insert_invoices(shop.id, start=4, due_date=late, paid_cents=12_000)  # nothing left to pay
    insert_invoices(shop.id, start=5, status=S.PAID)
    insert_invoices(shop.id, start=6, status=S.CANCELLED)
    insert_invoices(shop.id, start=7, status=S.PAID, kind=InvoiceKind.CREDIT_NOTE)
    result = db.session.scalars(
        board.archives(board.ArchiveSearch(status=status), TODAY).order_by(None).order_by(Invoice.id)
    )
    assert numbers(result) == expected


def test_archives_criteria_combine(ctx):
    shop, garage = make_client("Boulangerie"), make_client("Garage")
    insert_invoices(shop.id, start=1, total_cents=500, status=S.PAID)
    insert_invoices(shop.id, start=2, total_cents=500)
    insert_invoices(garage.id, start=3, total_cents=500, status=S.PAID)
    search = board.ArchiveSearch(text="boul", amount_cents=500, status="paid")
    assert found(search) == ["F-00001"]


# --- CSV --------------------------------------------------------------------------


def test_csv_row_uses_french_dates_and_decimal_commas(ctx):
    shop = make_client("Boulangerie Martin")
    insert_invoices(
        shop.id, start=7, issue_date=date(2026, 3, 5), due_date=date(2026, 4, 4), currency="CAD",
        net_cents=123_456, tax_cents=18_487, total_cents=141_943, paid_cents=41_943,
    )
    invoice = db.session.scalars(board.archives(board.ArchiveSearch(), TODAY)).one()
    assert board.csv_row(invoice) == [
        "F-00007", "Facture", "05/03/2026", "04/04/2026", "Boulangerie Martin", "CAD",
        "1234,56", "184,87", "1419,43", "419,43", "1000,00", "Paiement attendu",
    ]


def test_csv_row_of_a_credit_note_and_a_cancelled_invoice(ctx):
    invoice = make_invoice(make_client())
    invoices.finalize(invoice, TODAY)
    note = invoices.cancel(invoice, TODAY)
    assert board.csv_row(note)[1:2] + board.csv_row(note)[-2:] == ["Avoir", "0,00", "Payée"]
    assert board.csv_row(invoice)[-2:] == ["0,00", "Annulée"]


@pytest.mark.parametrize("name", ["=HYPERLINK(\"http://x\")", "+33 6", "-1+1", "@SUM(A1)", "\tTab"])
def test_csv_guards_against_formula_injection_in_client_names(ctx, name):
    shop = make_client(name)
    insert_invoices(shop.id, start=1)
    invoice = db.session.scalars(board.archives(board.ArchiveSearch(), TODAY)).one()
    assert board.csv_row(invoice)[4] == "'" + name


def test_negative_amounts_are_not_mistaken_for_formulas(ctx):
    insert_invoices(make_client().id, start=1, paid_cents=15_000)
    invoice = db.session.scalars(board.archives(board.ArchiveSearch(), TODAY)).one()
    assert board.csv_row(invoice)[-2] == "-30,00"


def test_write_csv_has_a_bom_semicolons_and_quotes_what_needs_it(ctx):
    shop = make_client('Dupont; "Fils" <script>')
    insert_invoices(shop.id, start=1)
    data = board.write_csv(db.session.scalars(board.archives(board.ArchiveSearch(), TODAY)))
    assert data.startswith("\ufeff".encode())
    text = data.decode("utf-8-sig")
    assert text.splitlines()[0] == (
        "numéro;type;date;échéance;client;devise;HT;taxes;TTC;payé;solde;statut"
    )
    assert '"Dupont; ""Fils"" <script>"' in text
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[1][4] == 'Dupont; "Fils" <script>'
    assert len(rows) == 2 and all(len(row) == 12 for row in rows)
