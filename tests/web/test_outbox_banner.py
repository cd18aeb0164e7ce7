"""The red « Abandonnée » banner on the board and the invoice page, and « Masquer »."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from billing.models import Message, MessageState, db
from tests.conftest import count_queries
from tests.factories import make_client, make_invoice

REASON = "Destinataire refusé par le serveur SMTP : compta@martin.fr (550 5.1.1 Utilisateur inconnu)."


def add_messages(app, count=1, state=MessageState.ABANDONED, error=REASON,
                 recipients=("compta@martin.fr",), number="F-2026-0001") -> list[int]:
    """`count` messages of one invoice, inserted in bulk; their ids."""
    with app.app_context():
        invoice = make_invoice(make_client(), number=number)
        start = db.session.scalar(select(func.count()).select_from(Message))
        db.session.add_all(
            Message(invoice=invoice, sender="Atelier Conseil <owner@example.fr>",
                    recipients=list(recipients), subject=f"Facture {number}", text_body="Bonjour",
                    message_id=f"<{start + n}@test>", state=state, attempts=1, error=error)
            for n in range(count)
        )
        db.session.commit()
        return list(db.session.scalars(select(Message.id).where(Message.invoice_id == invoice.id)))


def invoice_id_of(app, message_id):
    with app.app_context():
        return db.session.get(Message, message_id).invoice_id


def dismissed_at(app, message_id):
    with app.app_context():
        return db.session.get(Message, message_id).dismissed_at


def banner(page: str) -> str:
    found = re.search(r'<section id="outbox-banner".*?</section>', page, re.S)
    return found.group(0) if found else ""


@pytest.mark.parametrize("where", ["board", "invoice"])
def test_an_abandoned_message_shows_a_red_banner_with_invoice_recipients_and_reason(app, auth_client, where):
    [message_id] = add_messages(app)
    invoice_id = invoice_id_of(app, message_id)
    path = "/" if where == "board" else f"/invoices/{invoice_id}"
    shown = banner(auth_client.get(path).get_data(as_text=True))
    assert 'class="flash flash-error outbox-banner"' in shown and 'role="alert"' in shown
    assert "1 message n’a pas pu être envoyé" in shown
    assert "Abandonnée" in shown
    assert f'<a href="/invoices/{invoice_id}">Facture F-2026-0001</a>' in shown
    assert "compta@martin.fr" in shown
    assert "550 5.1.1 Utilisateur inconnu" in shown
    assert f'action="/outbox/{message_id}/dismiss"' in shown
    assert "Masquer" in shown


def test_other_pages_and_a_clean_outbox_show_no_banner(app, auth_client):
    assert banner(auth_client.get("/").get_data(as_text=True)) == ""
    add_messages(app)
    assert banner(auth_client.get("/clients/").get_data(as_text=True)) == ""


def test_sent_processing_and_dismissed_messages_are_not_in_the_banner(app, auth_client):
    add_messages(app, state=MessageState.SENT)
    add_messages(app, state=MessageState.PROCESSING, number="F-2026-0002")
    [dismissed] = add_messages(app, number="F-2026-0003")
    auth_client.post(f"/outbox/{dismissed}/dismiss")
    assert banner(auth_client.get("/").get_data(as_text=True)) == ""


def test_the_reason_and_recipients_are_escaped(app, auth_client):
    add_messages(app, error="<script>alert(1)</script>", recipients=["<script>x@y.fr"])
    shown = banner(auth_client.get("/").get_data(as_text=True))
    assert "<script>" not in shown
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in shown
    assert "&lt;script&gt;x@y.fr" in shown


def test_the_banner_lists_five_and_counts_the_others(app, auth_client):
    ids = add_messages(app, count=7)
    shown = banner(auth_client.get("/").get_data(as_text=True))
    assert "7 messages n’ont pas pu être envoyés" in shown
    assert shown.count('<li id="outbox-alert-') == 5
    assert f'id="outbox-alert-{ids[-1]}"' in shown and f'id="outbox-alert-{ids[1]}"' not in shown
    assert "… et 2 autres messages abandonnés." in shown


@pytest.mark.parametrize("path", ["/", "/invoices/1"])
def test_the_banner_runs_the_same_number_of_queries_for_0_10_and_500_messages(app, auth_client, path):
    add_messages(app, state=MessageState.SENT)  # invoice 1 exists, no alert yet
    counts = []
    for more in (0, 10, 490):
        if more:
            add_messages(app, count=more, number=f"F-2026-{more:04d}")
        with count_queries(app) as queries:
            assert auth_client.get(path).status_code == 200
        counts.append(queries())
    assert counts[0] == counts[1] == counts[2]


# « Masquer »


def test_masquer_hides_the_message_and_goes_back_to_the_page(app, auth_client):
    [message_id] = add_messages(app)
    invoice_id = invoice_id_of(app, message_id)
    response = auth_client.post(f"/outbox/{message_id}/dismiss",
                                data={"next": f"/invoices/{invoice_id}?step=follow_up"})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/invoices/{invoice_id}?step=follow_up"
    assert dismissed_at(app, message_id) is not None
    assert banner(auth_client.get(f"/invoices/{invoice_id}").get_data(as_text=True)) == ""


def test_masquer_with_htmx_answers_with_the_banner_of_the_others(app, auth_client):
    first, second = add_messages(app, count=2)
    headers = {"HX-Request": "true"}
    response = auth_client.post(f"/outbox/{second}/dismiss", data={"next": "/"}, headers=headers)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "<html" not in page
    assert f'id="outbox-alert-{first}"' in page and f'id="outbox-alert-{second}"' not in page
    assert 'name="next" value="/"' in page

    last = auth_client.post(f"/outbox/{first}/dismiss", data={"next": "/"}, headers=headers)
    assert last.status_code == 200
    assert last.get_data(as_text=True).strip() == ""


def test_masquer_never_redirects_to_another_site(app, auth_client):
    [message_id] = add_messages(app)
    response = auth_client.post(f"/outbox/{message_id}/dismiss", data={"next": "https://evil.example/"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/"


def test_masquer_without_csrf_token_is_refused_and_changes_nothing(app, auth_client):
    [message_id] = add_messages(app)
    response = auth_client.post(f"/outbox/{message_id}/dismiss", csrf=False)
    assert response.status_code == 400
    assert dismissed_at(app, message_id) is None


def test_masquer_an_unknown_or_not_abandoned_message_is_404(app, auth_client):
    [processing] = add_messages(app, state=MessageState.PROCESSING)
    assert auth_client.post("/outbox/999999/dismiss").status_code == 404
    assert auth_client.post(f"/outbox/{processing}/dismiss").status_code == 404
    assert dismissed_at(app, processing) is None


def test_masquer_needs_the_owner(app, client, owner):
    [message_id] = add_messages(app)
    response = client.post(f"/outbox/{message_id}/dismiss")
    assert response.status_code == 303
    assert "/login" in response.headers["Location"]
    assert dismissed_at(app, message_id) is None
