"""The board « Facturation » through HTTP: columns, cards, badges, totals, filters, queries."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from billing import invoices
from billing.models import Client, Invoice, InvoiceKind, InvoiceStatus, db
from tests.conftest import count_queries
from tests.factories import insert_invoices, make_client, make_job
from tests.unit.test_board import TODAY

S = InvoiceStatus


def section(page: str, key: str) -> str:
    """The HTML of one column of the board."""
    start = page.index(f'<section class="column" id="column-{key}"')
    return page[start : page.index("</section>", start)]


def card(page: str, invoice_id: int) -> str:
    start = page.index(f'id="card-{invoice_id}"')
    return page[start : page.index("</article>", start)]


def add(app, **fields) -> int:
    """A client with one bulk-inserted invoice; returns the invoice's id."""
    with app.app_context():
        shop = make_client(fields.pop("client_name", "Boulangerie Martin"))
        insert_invoices(shop.id, **fields)
        db.session.commit()
        return db.session.scalar(select(func.max(Invoice.id)))


def test_empty_board_has_four_empty_columns_and_the_new_invoice_button(auth_client):
    page = auth_client.get("/").get_data(as_text=True)
    for key, title in [("preparation", "Préparation"), ("sending", "Envoi"),
                       ("follow_up", "Suivi"), ("archives", "Archives")]:
        column = section(page, key)
        assert f">{title}</h2>" in column
        assert "Aucune facture pour le moment." in column
        assert ">0 facture<" in column  # French: singular for 0 and 1
    form = re.search(r'<form method="post" action="/invoices/new">.*?</form>', page, re.S).group(0)
    assert 'name="csrf_token"' in form and ">Nouvelle facture</button>" in form


def test_each_invoice_is_a_card_in_its_column(app, auth_client):
    ids = {status: add(app, status=status, start=n) for n, status in enumerate(S)}
    with app.app_context():
        shop = make_client("Atelier")
        insert_invoices(shop.id, start=9, status=S.PAID, kind=InvoiceKind.CREDIT_NOTE)
        db.session.commit()
        note_id = db.session.scalar(select(func.max(Invoice.id)))
    page = auth_client.get("/").get_data(as_text=True)
    assert f'id="card-{ids[S.DRAFT]}"' in section(page, "preparation")
    assert f'id="card-{ids[S.TO_SEND]}"' in section(page, "sending")
    assert f'id="card-{ids[S.AWAITING_PAYMENT]}"' in section(page, "follow_up")
    archives = section(page, "archives")
    for invoice_id in (ids[S.PAID], ids[S.CANCELLED], note_id):
        assert f'id="card-{invoice_id}"' in archives
    assert 'href="/archives/">Toutes les archives</a>' in archives


def test_card_shows_number_client_total_due_date_and_status_and_opens_the_invoice(app, auth_client):
    invoice_id = add(app, status=S.TO_SEND, start=42, total_cents=123_456,
                     due_date=TODAY + timedelta(days=10))
    html_card = card(auth_client.get("/").get_data(as_text=True), invoice_id)
    assert f'<a href="/invoices/{invoice_id}">F-00042</a>' in html_card
    assert "Boulangerie Martin" in html_card
    assert "1\u202f234,56\xa0€" in html_card
    assert f"Échéance : {(TODAY + timedelta(days=10)):%d/%m/%Y}" in html_card
    assert '<span class="badge">À envoyer</span>' in html_card


def test_a_draft_card_says_brouillon_and_one_without_client_says_so(app, auth_client):
    with app.app_context():
        draft = invoices.create_draft(TODAY)
        db.session.commit()
        draft_id = draft.id
    html_card = card(auth_client.get("/").get_data(as_text=True), draft_id)
    assert f'<a href="/invoices/{draft_id}">Brouillon</a>' in html_card
    assert "Sans client" in html_card


def test_follow_up_cards_show_balance_and_late_and_partial_badges(app, auth_client):
    late = add(app, start=1, due_date=TODAY - timedelta(days=2), paid_cents=2_000)
    on_time = add(app, start=2, due_date=TODAY + timedelta(days=2))
    page = auth_client.get("/").get_data(as_text=True)
    late_card, on_time_card = card(page, late), card(page, on_time)
    assert "Solde : 100,00\xa0€" in late_card
    assert "En retard" in late_card and "Paiement partiel" in late_card
    assert "Paiement attendu" in late_card
    assert "Solde : 120,00\xa0€" in on_time_card
    assert "En retard" not in on_time_card and "Paiement partiel" not in on_time_card


def test_archive_cards_show_paid_cancelled_and_credit_note(app, auth_client):
    paid = add(app, start=1, status=S.PAID)
    cancelled = add(app, start=2, status=S.CANCELLED)
    note = add(app, start=3, status=S.PAID, kind=InvoiceKind.CREDIT_NOTE)
    page = auth_client.get("/").get_data(as_text=True)
    assert '<span class="badge ok">Payée</span>' in card(page, paid)
    assert '<span class="badge off">Annulée</span>' in card(page, cancelled)
    assert '<span class="badge">Avoir</span>' in card(page, note)
    assert "Payée" not in card(page, note)


def test_archives_column_shows_the_20_most_recent_and_links_to_the_rest(app, auth_client):
    with app.app_context():
        insert_invoices(make_client().id, count=23, status=S.PAID)
        db.session.commit()
    archives = section(auth_client.get("/").get_data(as_text=True), "archives")
    shown = re.findall(r">F-(\d+)</a>", archives)
    assert shown == [f"{n:05d}" for n in range(22, 2, -1)]
    assert "23 factures" in archives


def test_column_totals_are_per_currency_balances_and_draft_totals(app, auth_client):
    with app.app_context():
        shop = make_client()
        insert_invoices(shop.id, count=2, status=S.DRAFT, total_cents=5_000)
        insert_invoices(shop.id, start=10, paid_cents=2_000)
        insert_invoices(shop.id, start=11, currency="CAD", total_cents=30_000)
        db.session.commit()
    page = auth_client.get("/").get_data(as_text=True)
    preparation = section(page, "preparation")
    assert "2 factures" in preparation and "<strong>100,00\xa0€</strong>" in preparation
    follow_up = section(page, "follow_up")
    assert "<strong>300,00\xa0$</strong>" in follow_up
    assert "<strong>100,00\xa0€</strong>" in follow_up


def test_a_full_active_column_links_to_the_archives_filtered_by_status(app, auth_client):
    with app.app_context():
        insert_invoices(make_client().id, count=102, status=S.TO_SEND)
        db.session.commit()
    sending = section(auth_client.get("/").get_data(as_text=True), "sending")
    assert sending.count('class="invoice-card"') == 100
    assert 'href="/archives/?status=to_send">Voir les 2 autres factures</a>' in sending


def test_phone_tabs_jump_to_each_column_with_its_count(app, auth_client):
    add(app, status=S.DRAFT)
    page = auth_client.get("/").get_data(as_text=True)
    tabs = re.search(r'<nav class="board-tabs".*?</nav>', page, re.S).group(0)
    assert '<a href="#column-preparation" id="tab-preparation">Préparation <small>1</small></a>' in tabs
    for key in ("sending", "follow_up", "archives"):
        assert f'href="#column-{key}"' in tabs


def test_names_are_escaped_on_cards_and_in_filters(app, auth_client):
    invoice_id = add(app, client_name="<script>alert(1)</script>")
    with app.app_context():
        make_job(db.session.scalars(select(Invoice)).one().client, "<b>Site</b>")
        db.session.commit()
    page = auth_client.get("/").get_data(as_text=True)
    assert "<script>alert" not in page and "<b>Site" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in card(page, invoice_id)
    assert '<optgroup label="&lt;script&gt;alert(1)&lt;/script&gt;">' in page
    assert "&lt;b&gt;Site&lt;/b&gt;" in page


# --- Filters ------------------------------------------------------------------------


@pytest.fixture
def two_clients(app):
    with app.app_context():
        shop, garage = make_client("Boulangerie Martin"), make_client("Garage Dupont")
        site = make_job(shop, "Refonte du site")
        insert_invoices(shop.id, start=1, job_id=site.id)
        insert_invoices(shop.id, start=2)
        insert_invoices(garage.id, start=3)
        db.session.commit()
        return {"shop": shop.id, "garage": garage.id, "site": site.id}


def shown_numbers(page: str) -> list:
    return re.findall(r">(F-\d+)</a>", page)


def test_filter_by_client(auth_client, two_clients):
    response = auth_client.get(f"/?client_id={two_clients['garage']}")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert shown_numbers(page) == ["F-00003"]
    assert f'<option value="{two_clients["garage"]}" selected>Garage Dupont</option>' in page
    assert "1 facture" in section(page, "follow_up")


def test_filter_by_job(auth_client, two_clients):
    page = auth_client.get(f"/?job_id={two_clients['site']}").get_data(as_text=True)
    assert shown_numbers(page) == ["F-00001"]
    assert f'<option value="{two_clients["site"]}" selected>Refonte du site</option>' in page


def test_filter_by_client_and_its_job(auth_client, two_clients):
    page = auth_client.get(
        "/", query_string={"client_id": two_clients["shop"], "job_id": two_clients["site"]}
    ).get_data(as_text=True)
    assert shown_numbers(page) == ["F-00001"]


def test_filtered_links_to_archives_carry_the_client_name(auth_client, two_clients):
    page = auth_client.get(f"/?client_id={two_clients['shop']}").get_data(as_text=True)
    assert 'href="/archives/?q=Boulangerie+Martin">Toutes les archives</a>' in page


def test_filters_refresh_only_the_board_block_for_htmx(auth_client, two_clients):
    response = auth_client.get(
        f"/?client_id={two_clients['garage']}", headers={"HX-Request": "true"}
    )
    page = response.get_data(as_text=True)
    assert page.lstrip().startswith('<div id="board">')
    assert "<html" not in page and "<nav class=\"mainnav\"" not in page
    assert f'<option value="{two_clients["garage"]}" selected>Garage Dupont</option>' in page
    assert shown_numbers(page) == ["F-00003"]


def test_new_invoice_button_carries_the_filtered_client_and_job(app, auth_client, two_clients):
    page = auth_client.get(
        "/", query_string={"client_id": two_clients["shop"], "job_id": two_clients["site"]}
    ).get_data(as_text=True)
    form = re.search(r'<form method="post" action="/invoices/new">.*?</form>', page, re.S).group(0)
    assert f'name="client_id" value="{two_clients["shop"]}"' in form
    assert f'name="job_id" value="{two_clients["site"]}"' in form
    response = auth_client.post(
        "/invoices/new", data={"client_id": two_clients["shop"], "job_id": two_clients["site"]}
    )
    assert response.status_code == 303
    with app.app_context():
        draft = db.session.scalars(select(Invoice).where(Invoice.status == S.DRAFT)).one()
        assert (draft.client_id, draft.job_id) == (two_clients["shop"], two_clients["site"])
        draft_id = draft.id
    board = auth_client.get(f"/?client_id={two_clients['shop']}").get_data(as_text=True)
    assert f'id="card-{draft_id}"' in section(board, "preparation")


def test_filter_form_is_wired_for_htmx_and_works_without_it(auth_client):
    page = auth_client.get("/").get_data(as_text=True)
    form = re.search(r'<form class="toolbar" id="board-filters" method="get" action="/".*?</form>', page, re.S).group(0)
    assert 'hx-get="/"' in form and 'hx-target="#board"' in form and 'hx-push-url="true"' in form
    assert 'name="client_id"' in form and 'name="job_id"' in form
    assert '<button type="submit" class="secondary">Filtrer</button>' in form


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("client_id=abc", "Ce client n&#39;existe pas."),
        ("client_id=999", "Ce client n&#39;existe pas."),
        ("client_id=-1", "Ce client n&#39;existe pas."),
        ("client_id=99999999999999999999999", "Ce client n&#39;existe pas."),
        ("job_id=abc", "Ce dossier n&#39;existe pas."),
        ("job_id=999", "Ce dossier n&#39;existe pas."),
    ],
)
def test_bad_filter_values_show_a_message_and_the_whole_board(auth_client, two_clients, query, message):
    response = auth_client.get(f"/?{query}")
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'<div class="form-errors" role="alert"><p class="error">{message}</p></div>' in page
    assert shown_numbers(page) == ["F-00001", "F-00002", "F-00003"]


def test_a_job_of_another_client_is_dropped_with_a_message(auth_client, two_clients):
    response = auth_client.get(
        "/", query_string={"client_id": two_clients["garage"], "job_id": two_clients["site"]}
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Ce dossier appartient à un autre client." in page
    assert shown_numbers(page) == ["F-00003"]


def test_board_requires_login(client):
    response = client.get("/")
    assert response.status_code == 302 and "/setup" in response.headers["Location"]


# --- Queries ------------------------------------------------------------------------


def fill(app, count: int, start: int = 0, extra_clients: int = 0) -> None:
    """`count` invoices spread over every status, two currencies and the clients
    « Boulangerie » (with a job) and « Garage » (made at the first call) plus `extra_clients`."""
    with app.app_context():
        if db.session.get(Client, 1) is None:
            make_job(make_client("Boulangerie"), "Site")
            make_client("Garage", currency="CAD")
        site = db.session.get(Client, 1).jobs[0]
        client_ids = [1, 2] + [make_client(f"Client {n}").id for n in range(extra_clients)]
        per_status = count // len(S)
        per_client = -(-per_status // len(client_ids))
        number = start
        for status in S:
            left = per_status
            for client_id in client_ids:
                rows = min(per_client, left)
                if rows:
                    insert_invoices(
                        client_id, count=rows, start=number, status=status,
                        job_id=site.id if client_id == 1 else None,
                        currency="CAD" if client_id == 2 else "EUR",
                    )
                number, left = number + rows, left - rows
        db.session.commit()


@pytest.mark.parametrize("path", ["/", "/?client_id=1", "/?job_id=1"])
def test_board_runs_the_same_number_of_queries_for_10_and_5000_invoices(app, auth_client, path):
    fill(app, 10)
    with count_queries(app) as small:
        assert auth_client.get(path).status_code == 200
    fill(app, 4_990, start=10, extra_clients=48)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Invoice)) == 5_000
    with count_queries(app) as large:
        page = auth_client.get(path).get_data(as_text=True)
    assert small() == large()
    assert section(page, "archives").count('class="invoice-card"') == 20
