"""The board refreshes one card at a time: a change made on a card, and the poll for changes."""

import re
from datetime import timedelta

from sqlalchemy import func, select

from billing.models import Invoice, InvoiceStatus, db, utcnow
from tests.conftest import count_queries
from tests.factories import insert_invoices, make_client

S = InvoiceStatus
HTMX = {"HX-Request": "true"}
BEFORE_INSERTS = "2025-12-31T00:00:00"  # insert_invoices dates its rows' last change 2026-01-01


def ids_by_status(app, client_name="Boulangerie Martin", **counts) -> dict:
    """Invoices of one client, `counts` per status name; returns {status: [ids]}."""
    with app.app_context():
        shop = make_client(client_name)
        for status, count in counts.items():
            start = db.session.scalar(select(func.count(Invoice.id)))  # numbers stay unique
            insert_invoices(shop.id, count=count, start=start, status=S[status.upper()])
        db.session.commit()
        return {
            status: list(db.session.scalars(
                select(Invoice.id).where(Invoice.client_id == shop.id,
                                         Invoice.status == S[status.upper()]).order_by(Invoice.id)))
            for status in counts
        }


def oob(html: str, element_id: str) -> str:
    """The out-of-band element with `element_id`."""
    match = re.search(rf'<(\w+) [^>]*id="{element_id}"[^>]*hx-swap-oob="true".*?</\1>', html, re.S)
    assert match, f"no out-of-band #{element_id}"
    return match.group(0)


def test_cards_waiting_to_be_sent_offer_facture_envoyee_from_the_board(app, auth_client):
    ids = ids_by_status(app, to_send=1, awaiting_payment=1)
    page = auth_client.get("/").get_data(as_text=True)
    card = page[page.index(f'id="card-{ids["to_send"][0]}"'):]
    card = card[: card.index("</article>")]
    assert f'hx-post="/invoices/{ids["to_send"][0]}/sent"' in card
    assert 'name="from" value="board"' in card and ">Facture envoyée</button>" in card
    other = page[page.index(f'id="card-{ids["awaiting_payment"][0]}"'):]
    assert "Facture envoyée" not in other[: other.index("</article>")]


def test_facture_envoyee_on_a_card_moves_it_to_suivi_out_of_band(app, auth_client):
    ids = ids_by_status(app, to_send=2, awaiting_payment=1)
    sent = ids["to_send"][0]
    response = auth_client.post(f"/invoices/{sent}/sent", data={"from": "board"}, headers=HTMX)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f'<article id="card-{sent}" hx-swap-oob="delete"></article>' in html
    moved = re.search(r'<div hx-swap-oob="afterbegin:#cards-follow_up">(.*?)</div>\s*$', html, re.S | re.M)
    assert moved and f'id="card-{sent}"' in moved.group(1) and "Paiement attendu" in moved.group(1)
    assert "<small>1</small>" in oob(html, "tab-sending")
    assert "<small>2</small>" in oob(html, "tab-follow_up")
    assert "2 factures" in oob(html, "totals-follow_up")
    assert 'id="board-poller"' in html
    with app.app_context():
        assert db.session.get(Invoice, sent).status is S.AWAITING_PAYMENT


def test_column_totals_after_a_move_follow_the_board_filters(app, auth_client):
    ids = ids_by_status(app, to_send=1)
    other = ids_by_status(app, "Atelier Dupont", awaiting_payment=3)
    with app.app_context():
        client_id = db.session.get(Invoice, ids["to_send"][0]).client_id
    html = auth_client.post(
        f"/invoices/{ids['to_send'][0]}/sent",
        data={"from": "board", "client_id": client_id}, headers=HTMX,
    ).get_data(as_text=True)
    assert "<small>1</small>" in oob(html, "tab-follow_up")  # not the other client's three
    assert other["awaiting_payment"]


def test_facture_envoyee_on_a_card_without_javascript_returns_to_the_filtered_board(app, auth_client):
    ids = ids_by_status(app, to_send=1)
    with app.app_context():
        client_id = db.session.get(Invoice, ids["to_send"][0]).client_id
    response = auth_client.post(
        f"/invoices/{ids['to_send'][0]}/sent", data={"from": "board", "client_id": client_id}
    )
    assert response.status_code == 303
    assert response.headers["Location"] == f"/?client_id={client_id}"
    board = auth_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Facture marquée comme envoyée." in board


def test_facture_envoyee_on_a_draft_from_a_stale_board_is_refused_and_changes_nothing(app, auth_client):
    ids = ids_by_status(app, draft=1)
    response = auth_client.post(
        f"/invoices/{ids['draft'][0]}/sent", data={"from": "board"}, headers=HTMX
    )
    assert response.status_code == 409
    with app.app_context():
        assert db.session.get(Invoice, ids["draft"][0]).status is S.DRAFT


def test_the_board_polls_for_changes_since_it_was_rendered(app, auth_client):
    page = auth_client.get("/").get_data(as_text=True)
    poller = re.search(r'<div id="board-poller".*?</div>', page, re.S).group(0)
    assert 'hx-trigger="every 20s"' in poller and 'hx-swap="outerHTML"' in poller
    assert re.search(r'hx-get="/board/changes\?since=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d"', poller)


def test_the_poll_answers_only_the_cards_changed_since_with_a_new_marker(app, auth_client):
    ids = ids_by_status(app, draft=1, awaiting_payment=2)
    since = utcnow() - timedelta(minutes=1)
    with app.app_context():
        db.session.execute(Invoice.__table__.update().values(updated_at=since - timedelta(hours=1)))
        paid = db.session.get(Invoice, ids["awaiting_payment"][0])
        paid.status, paid.paid_cents = S.PAID, paid.total_cents
        db.session.commit()
    html = auth_client.get(f"/board/changes?since={since.isoformat()}", headers=HTMX).get_data(as_text=True)
    assert f'<div hx-swap-oob="afterbegin:#cards-archives">' in html
    assert html.count('hx-swap-oob="delete"') == 1
    assert f'id="card-{ids["awaiting_payment"][0]}"' in html
    assert f'id="card-{ids["awaiting_payment"][1]}"' not in html
    assert "<small>1</small>" in oob(html, "tab-archives")
    marker = re.search(r'since=([^"&]+)', html).group(1)
    assert marker != since.isoformat()


def test_the_poll_keeps_the_board_filters(app, auth_client):
    mine = ids_by_status(app, to_send=1)
    theirs = ids_by_status(app, "Atelier Dupont", to_send=1)
    with app.app_context():
        client_id = db.session.get(Invoice, mine["to_send"][0]).client_id
    since = BEFORE_INSERTS
    html = auth_client.get(f"/board/changes?since={since}&client_id={client_id}").get_data(as_text=True)
    assert f'id="card-{mine["to_send"][0]}"' in html
    assert f'id="card-{theirs["to_send"][0]}"' not in html
    assert f"client_id={client_id}" in re.search(r'<div id="board-poller".*?</div>', html, re.S).group(0)


def test_a_poll_with_a_bad_marker_is_a_400(auth_client):
    for since in ("", "yesterday", "2026-13-40T99:00:00"):
        assert auth_client.get(f"/board/changes?since={since}").status_code == 400


def test_the_poll_runs_a_constant_number_of_queries(app, auth_client):
    since = BEFORE_INSERTS
    ids_by_status(app, to_send=3)
    with count_queries(app) as few:
        auth_client.get(f"/board/changes?since={since}")
    ids_by_status(app, "Atelier Dupont", to_send=40, paid=40)
    with count_queries(app) as many:
        html = auth_client.get(f"/board/changes?since={since}").get_data(as_text=True)
    assert html.count('hx-swap-oob="delete"') == 50  # at most CHANGES_LIMIT cards per poll
    assert many() == few()
