"""The archives through HTTP: search by each criterion, pagination, CSV export, bad input, queries."""

import csv
import io
import re
from collections import Counter
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from billing import settings
from billing.models import Invoice, InvoiceKind, InvoiceStatus, db
from tests.conftest import count_queries
from tests.factories import insert_invoices, make_client
from tests.unit.test_board import TODAY

S = InvoiceStatus


def numbers(page: str) -> list:
    return re.findall(r"<td class=\"number\">(F-\d+)</td>", page)


def row(page: str, number: str) -> str:
    return re.search(rf'<tr>\s*<td class="number">{number}</td>.*?</tr>', page, re.S).group(0)


def alert(page: str) -> str:
    return re.search(r'<div class="form-errors" role="alert">(.*?)</div>', page, re.S).group(1)


def invoice_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Invoice))


@pytest.fixture
def archive(app):
    """Seven documents of two clients: F-00001 … F-00007, and a draft."""
    with app.app_context():
        shop, garage = make_client("Boulangerie Martin"), make_client("Garage Dupont")
        insert_invoices(shop.id, status=S.DRAFT)
        insert_invoices(shop.id, start=1, status=S.TO_SEND, issue_date=date(2026, 1, 10))
        insert_invoices(shop.id, start=2, issue_date=date(2026, 2, 10), total_cents=123_456)
        insert_invoices(garage.id, start=3, issue_date=date(2026, 3, 10),
                        due_date=TODAY - timedelta(days=2))
        insert_invoices(garage.id, start=4, status=S.PAID, issue_date=date(2026, 4, 10))
        insert_invoices(shop.id, start=5, status=S.CANCELLED, issue_date=date(2026, 5, 10))
        insert_invoices(shop.id, start=6, status=S.PAID, kind=InvoiceKind.CREDIT_NOTE,
                        issue_date=date(2026, 6, 10))
        insert_invoices(garage.id, start=7, status=S.PAID, issue_date=date(2026, 7, 10),
                        currency="CAD", paid_cents=12_000)
        db.session.commit()


def search(auth_client, **params) -> str:
    response = auth_client.get("/archives/", query_string=params)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_empty_archives_say_so(auth_client):
    page = search(auth_client)
    assert "Aucune facture pour le moment." in page
    assert ">0 document<" in page and "Exporter en CSV" not in page


def test_archives_list_every_document_but_drafts_latest_first(auth_client, archive):
    page = search(auth_client)
    assert numbers(page) == [f"F-0000{n}" for n in range(7, 0, -1)]
    assert "7 documents" in page
    assert "Brouillon</td>" not in page


def test_each_row_has_consulter_pdf_amounts_and_badges(app, auth_client, archive):
    with app.app_context():
        ids = dict(db.session.execute(select(Invoice.number, Invoice.id)).all())
    page = search(auth_client)
    late = row(page, "F-00003")
    invoice_id = ids["F-00003"]
    assert f'<a href="/invoices/{invoice_id}">Consulter</a>' in late
    assert f'<a href="/invoices/{invoice_id}/pdf" download>PDF</a>' in late
    assert "Garage Dupont" in late and "10/03/2026" in late
    assert f"{(TODAY - timedelta(days=2)):%d/%m/%Y}" in late
    assert "120,00\xa0€" in late
    assert "Paiement attendu" in late and "En retard" in late
    note = row(page, "F-00006")
    assert '<span class="badge">Avoir</span>' in note
    cad = row(page, "F-00007")
    assert "120,00\xa0$" in cad and "0,00\xa0$" in cad and "Payée" in cad


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"q": "F-00004"}, ["F-00004"]),
        ({"q": "dupont"}, ["F-00007", "F-00004", "F-00003"]),
        ({"amount": "1 234,56"}, ["F-00002"]),
        ({"amount": "1234.56"}, ["F-00002"]),
        ({"start": "2026-03-10", "end": "2026-05-10"}, ["F-00005", "F-00004", "F-00003"]),
        ({"start": "10/06/2026"}, ["F-00007", "F-00006"]),
        ({"end": "2026-01-10"}, ["F-00001"]),
        ({"status": "to_send"}, ["F-00001"]),
        ({"status": "awaiting_payment"}, ["F-00003", "F-00002"]),
        ({"status": "overdue"}, ["F-00003"]),
        ({"status": "paid"}, ["F-00007", "F-00004"]),
        ({"status": "cancelled"}, ["F-00005"]),
        ({"status": "credit_note"}, ["F-00006"]),
        ({"q": "garage", "status": "paid", "start": "2026-05-01"}, ["F-00007"]),
    ],
)
def test_search_by_each_criterion(auth_client, archive, params, expected):
    page = search(auth_client, **params)
    assert numbers(page) == expected
    for name, value in params.items():
        assert f'value="{value}"' in page or f'<option selected value="{value}">' in page


def test_drafts_only_when_asked(auth_client, archive):
    page = search(auth_client, status="draft")
    assert re.findall(r"<td class=\"number\">(Brouillon)</td>", page) == ["Brouillon"]
    assert ">PDF</a>" not in page


def test_search_without_match_says_so_escaped(auth_client, archive):
    page = search(auth_client, q="<script>rien")
    assert "Aucun document ne correspond à cette recherche." in page
    assert 'value="&lt;script&gt;rien"' in page and "<script>rien" not in page


def test_live_search_answers_only_the_results_block(auth_client, archive):
    response = auth_client.get("/archives/?q=dupont", headers={"HX-Request": "true"})
    page = response.get_data(as_text=True)
    assert page.lstrip().startswith('<div id="archive-results">')
    assert "<html" not in page and "<form" not in page
    assert numbers(page) == ["F-00007", "F-00004", "F-00003"]


def test_search_fields_are_wired_for_live_search(auth_client):
    page = search(auth_client, q="mar")
    assert 'hx-trigger="input changed delay:300ms, search"' in page
    assert page.count('hx-target="#archive-results"') == 5
    assert 'hx-push-url="true"' in page and 'name="q" placeholder' in page


def test_client_names_are_escaped(app, auth_client):
    with app.app_context():
        insert_invoices(make_client("<script>alert(1)</script>").id, start=1)
        db.session.commit()
    page = search(auth_client)
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


# --- Bad input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"amount": "abc"}, "Montant TTC : Montant invalide : utilisez des chiffres, par exemple 1 234,56."),
        ({"amount": "-5"}, "Montant TTC : Le montant ne peut pas être négatif."),
        ({"start": "2026-13-45"}, "Du : Date invalide : utilisez le format JJ/MM/AAAA."),
        ({"end": "hier"}, "Au : Date invalide : utilisez le format JJ/MM/AAAA."),
        ({"start": "2026-05-01", "end": "2026-04-01"}, "Au : La date de fin précède la date de début."),
        ({"status": "nimporte"}, "Statut : N&#39;est pas un choix valide."),
        ({"q": "x" * 101}, "Numéro ou client : Le champ ne peut pas contenir plus de 100 caractères."),
    ],
)
def test_bad_search_values_get_a_french_message_and_keep_what_was_typed(
    app, auth_client, archive, params, message
):
    before = invoice_count(app)
    response = auth_client.get("/archives/", query_string=params)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in alert(page)
    for name, value in params.items():
        assert f'name="{name}"' in page and (f'value="{value}"' in page or name == "status")
        assert f'id="{name}"' in page
    assert 'aria-invalid="true"' in page
    assert "Exporter en CSV" not in page
    assert invoice_count(app) == before


def test_a_bad_criterion_is_ignored_the_others_still_filter(auth_client, archive):
    response = auth_client.get("/archives/", query_string={"amount": "abc", "q": "garage"})
    assert response.status_code == 422
    assert numbers(response.get_data(as_text=True)) == ["F-00007", "F-00004", "F-00003"]


def test_bad_search_over_htmx_shows_the_message_in_the_results(auth_client, archive):
    response = auth_client.get("/archives/?amount=abc", headers={"HX-Request": "true"})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert page.lstrip().startswith('<div id="archive-results">')
    assert "Montant invalide" in alert(page)


# --- Pagination ---------------------------------------------------------------------


def test_archives_paginate_at_50_keeping_the_search(app, auth_client):
    with app.app_context():
        insert_invoices(make_client("Garage").id, count=120, status=S.PAID)
        db.session.commit()
    first = search(auth_client, status="paid")
    assert len(numbers(first)) == 50 and "120 documents" in first
    assert "Page 1 sur 3" in first
    assert 'href="/archives/?page=2&amp;status=paid"' in first
    third = search(auth_client, status="paid", page=3)
    assert len(numbers(third)) == 20
    assert 'href="/archives/?page=2&amp;status=paid"' in third
    assert numbers(search(auth_client, status="paid", page=99)) == []


# --- CSV export -----------------------------------------------------------------------


def export(auth_client, **params):
    response = auth_client.get("/archives/export.csv", query_string=params)
    assert response.status_code == 200
    return response


def rows_of(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig")), delimiter=";"))


def test_export_is_a_dated_utf8_csv_with_bom_for_excel(app, auth_client, archive):
    response = export(auth_client)
    with app.app_context():
        today = settings.today()
    assert response.content_type == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="archives-{today.isoformat()}.csv"'
    )
    assert response.get_data().startswith(b"\xef\xbb\xbf")
    rows = rows_of(response)
    assert rows[0] == ["numéro", "type", "date", "échéance", "client", "devise", "HT", "taxes",
                       "TTC", "payé", "solde", "statut"]
    assert [row[0] for row in rows[1:]] == [f"F-0000{n}" for n in range(7, 0, -1)]


def test_export_rows_use_decimal_commas_and_french_labels(auth_client, archive):
    rows = {row[0]: row for row in rows_of(export(auth_client))[1:]}
    assert rows["F-00002"] == [
        "F-00002", "Facture", "10/02/2026", f"{(TODAY + timedelta(days=30)):%d/%m/%Y}",
        "Boulangerie Martin", "EUR",
        "100,00", "20,00", "1234,56", "0,00", "1234,56", "Paiement attendu",
    ]
    assert rows["F-00006"][1] == "Avoir"
    assert rows["F-00005"][-1] == "Annulée"
    assert rows["F-00007"][5:] == ["CAD", "100,00", "20,00", "120,00", "120,00", "0,00", "Payée"]


def test_export_follows_the_search(auth_client, archive):
    rows = rows_of(export(auth_client, q="dupont", status="paid"))
    assert [row[0] for row in rows[1:]] == ["F-00007", "F-00004"]


def test_export_link_carries_the_search(auth_client, archive):
    page = search(auth_client, q="dupont", status="paid")
    assert 'href="/archives/export.csv?q=dupont&amp;status=paid" download>Exporter en CSV</a>' in page


def test_export_escapes_separators_quotes_and_guards_formulas(app, auth_client):
    names = ['Dupont; "Fils" & Cie', "<script>alert(1)</script>", "=HYPERLINK(\"http://x\")",
             "+33 6 12", "-2+3", "@SUM(A1:A2)"]
    with app.app_context():
        for n, name in enumerate(names):
            insert_invoices(make_client(name).id, start=n, issue_date=TODAY - timedelta(days=n))
        db.session.commit()
    response = export(auth_client)
    assert b'"Dupont; ""Fils"" & Cie"' in response.get_data()
    clients = [row[4] for row in rows_of(response)[1:]]
    assert clients == [
        'Dupont; "Fils" & Cie', "<script>alert(1)</script>", "'=HYPERLINK(\"http://x\")",
        "'+33 6 12", "'-2+3", "'@SUM(A1:A2)",
    ]


def test_export_with_a_bad_filter_shows_the_page_with_the_message(auth_client, archive):
    response = auth_client.get("/archives/export.csv?start=2026-02-31")
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and response.mimetype == "text/html"
    assert "Date invalide" in alert(page)
    assert 'value="2026-02-31"' in page


def test_archives_require_login(client):
    for path in ("/archives/", "/archives/export.csv"):
        assert client.get(path).status_code == 302


# --- Queries ------------------------------------------------------------------------


def fill(app, count: int, start: int = 0, clients: int = 1) -> None:
    """`count` invoices, round robin over five statuses and `clients` new clients."""
    statuses = (S.TO_SEND, S.AWAITING_PAYMENT, S.PAID, S.CANCELLED, S.DRAFT)
    with app.app_context():
        client_ids = [make_client(f"Client {start}-{n}").id for n in range(clients)]
        buckets = Counter(
            (statuses[n % 5], client_ids[(n // 5) % clients]) for n in range(count)
        )
        for (status, client_id), rows in buckets.items():
            insert_invoices(client_id, count=rows, start=start, status=status)
            start += rows
        db.session.commit()


@pytest.mark.parametrize(
    "path",
    ["/archives/", "/archives/?q=client&status=paid&page=2", "/archives/?amount=120,00",
     "/archives/export.csv", "/archives/export.csv?status=overdue&start=2025-01-01"],
)
def test_archives_run_the_same_number_of_queries_for_10_and_5000_invoices(app, auth_client, path):
    fill(app, 10)
    with count_queries(app) as small:
        assert auth_client.get(path).status_code == 200
    fill(app, 4_990, start=10, clients=40)
    assert invoice_count(app) == 5_000
    with count_queries(app) as large:
        assert auth_client.get(path).status_code == 200
    assert small() == large()
