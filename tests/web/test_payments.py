"""« Ajouter un paiement » and deleting a payment, through HTTP: the modal, the page without
JavaScript, the board's card, every refusal."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from billing import invoices, money, payments, settings
from billing.models import Invoice, InvoiceStatus, Payment, PaymentMethod, db
from tests.conftest import count_queries
from tests.factories import make_client, make_invoice, make_tax_rate

S = InvoiceStatus
HTMX = {"HX-Request": "true"}


@pytest.fixture
def sent(app, owner):
    """A sent invoice of 1 200,00 € (1 000 € + TVA 20 %); returns its id."""
    with app.test_request_context():
        invoice = make_invoice(make_client("Boulangerie <b>Martin</b>"), lines=[(1, 100_000)],
                               taxes=[make_tax_rate()])
        invoices.finalize(invoice, settings.today())
        invoices.mark_sent(invoice)
        db.session.commit()
        return invoice.id


def status_and_paid(app, invoice_id):
    with app.app_context():
        invoice = db.session.get(Invoice, invoice_id)
        return invoice.status, invoice.paid_cents


def form(**changes):
    data = {"paid_on": "2026-01-10", "amount": "1200,00", "method": "cheque", "notes": ""}
    data.update(changes)
    return data


def test_the_modal_offers_today_the_balance_and_every_method(app, auth_client, sent):
    page = auth_client.get(f"/invoices/{sent}/payments/new", headers=HTMX).get_data(as_text=True)
    assert page.startswith("<dialog") or '<dialog id="payment-dialog"' in page
    with app.app_context():
        today = settings.today()
    assert f'value="{today.isoformat()}"' in page
    assert 'value="1 200,00"' in page or 'value="1200,00"' in page
    for label in ("Carte de crédit", "Carte de débit", "Chèque", "Comptant", "Crédit", "En ligne",
                  "PayPal", "Stripe", "Transfert bancaire"):
        assert f">{label}</option>" in page
    for label in ("Date", "Montant", "Méthode de paiement", "Notes"):
        assert f">{label}</label>" in page
    assert ">Ajouter le paiement</button>" in page


def test_the_same_url_without_htmx_is_a_full_page(auth_client, sent):
    page = auth_client.get(f"/invoices/{sent}/payments/new").get_data(as_text=True)
    assert "<html" in page and "<h1>Ajouter un paiement</h1>" in page and "<dialog" not in page


def test_with_a_schedule_the_amount_offered_is_the_next_instalment(app, auth_client, owner):
    with app.test_request_context():
        invoice = make_invoice(make_client(), lines=[(1, 100_000)])
        day = settings.today()
        invoices.set_instalments(invoice, [
            (day + timedelta(days=10), money.InstalmentSpec(Decimal(25), None)),
            (day + timedelta(days=40), money.InstalmentSpec(Decimal(75), None)),
        ])
        invoices.finalize(invoice, day)
        db.session.commit()
        invoice_id = invoice.id
    page = auth_client.get(f"/invoices/{invoice_id}/payments/new").get_data(as_text=True)
    assert 'value="250,00"' in page and "prochaine échéance" in page


def test_a_full_payment_without_javascript_makes_the_invoice_paid(app, auth_client, sent):
    response = auth_client.post(f"/invoices/{sent}/payments/new",
                                data=form(notes="Chèque n° 1234"))
    assert response.status_code == 303
    assert response.headers["Location"] == f"/invoices/{sent}?step=follow_up"
    assert status_and_paid(app, sent) == (S.PAID, 120_000)
    page = auth_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Paiement de 1\u202f200,00\xa0€ ajouté." in page
    assert "Chèque n° 1234" in page and "Paiement de 1\u202f200,00\xa0€ reçu (Chèque)" in page


def test_a_partial_payment_from_the_invoice_page_closes_the_dialog_and_shows_suivi(
    app, auth_client, sent
):
    response = auth_client.post(
        f"/invoices/{sent}/payments/new", data=form(amount="200"),
        headers={**HTMX, "HX-Current-URL": f"http://localhost/invoices/{sent}?step=follow_up"},
    )
    assert response.status_code == 200
    assert response.headers["HX-Trigger-After-Swap"] == "close-dialog"
    assert (response.headers["HX-Retarget"], response.headers["HX-Reswap"]) == ("#invoice", "outerHTML")
    html = response.get_data(as_text=True)
    assert 'id="invoice"' in html and "Paiement partiel" in html
    assert "1\u202f000,00\xa0€" in html  # the new balance
    assert status_and_paid(app, sent) == (S.AWAITING_PAYMENT, 20_000)


def test_a_payment_from_a_card_of_the_board_moves_the_card_to_archives(app, auth_client, sent):
    board = auth_client.get("/").get_data(as_text=True)
    card = board[board.index(f'id="card-{sent}"'):]
    assert f'hx-get="/invoices/{sent}/payments/new"' in card[: card.index("</article>")]
    response = auth_client.post(f"/invoices/{sent}/payments/new", data=form(),
                                headers={**HTMX, "HX-Current-URL": "http://localhost/"})
    html = response.get_data(as_text=True)
    assert response.headers["HX-Trigger"] == "close-dialog"
    assert f'<article id="card-{sent}" hx-swap-oob="delete"></article>' in html
    assert '<div hx-swap-oob="afterbegin:#cards-archives">' in html and "Payée" in html


def test_a_card_on_a_filtered_board_keeps_the_filter_in_its_payment_link(app, auth_client, sent):
    with app.app_context():
        client_id = db.session.get(Invoice, sent).client_id
    board = auth_client.get(f"/?client_id={client_id}").get_data(as_text=True)
    assert f'hx-get="/invoices/{sent}/payments/new?client_id={client_id}"' in board
    dialog = auth_client.get(f"/invoices/{sent}/payments/new?client_id={client_id}",
                             headers=HTMX).get_data(as_text=True)
    assert f'hx-post="/invoices/{sent}/payments/new?client_id={client_id}"' in dialog


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"amount": "1200,01"}, "amount", "Le montant dépasse le solde dû"),
        ({"amount": "abc"}, "amount", "Montant invalide"),
        ({"amount": ""}, "amount", "Ce champ est obligatoire."),
        ({"amount": "-5"}, "amount", "ne peut pas être négatif"),
        ({"amount": "0"}, "amount", "Le montant doit être supérieur à zéro."),
        ({"paid_on": "2099-01-01"}, "paid_on", "ne peut pas être dans le futur"),
        ({"paid_on": "31/02/2026"}, "paid_on", "est pas une date valide."),
        ({"method": "bitcoin"}, "method", "est pas un choix valide."),
        ({"notes": "x" * 1001}, "notes", "Au plus 1000 caractères."),
    ],
)
def test_bad_payments_get_a_message_keep_what_was_typed_and_change_nothing(
    app, auth_client, sent, changes, field, message
):
    data = form(paid_on=changes.get("paid_on", "2026-01-10"), **{
        k: v for k, v in changes.items() if k != "paid_on"})
    response = auth_client.post(f"/invoices/{sent}/payments/new", data=data, headers=HTMX)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    error = re.search(rf'<p class="error" id="{field}-error">(.*?)</p>', html, re.S)
    assert error and message in error.group(1), html
    if field != "notes":
        assert f'value="{data[field]}"' in html or f">{data[field]}<" in html or field == "method"
    assert status_and_paid(app, sent) == (S.AWAITING_PAYMENT, 0)


def test_no_payment_on_a_draft_or_a_cancelled_invoice(app, auth_client, owner):
    with app.test_request_context():
        draft = make_invoice(make_client())
        db.session.commit()
        draft_id = draft.id
    response = auth_client.post(f"/invoices/{draft_id}/payments/new", data=form(amount="10"))
    assert response.status_code == 422
    assert "Impossible d&#39;ajouter un paiement à une facture au statut « Brouillon »." in \
        response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count(Payment.id))) == 0


def test_html_in_the_notes_is_escaped_in_the_list(app, auth_client, sent):
    auth_client.post(f"/invoices/{sent}/payments/new", data=form(amount="10", notes="<script>x</script>"))
    page = auth_client.get(f"/invoices/{sent}?step=follow_up").get_data(as_text=True)
    assert "&lt;script&gt;x&lt;/script&gt;" in page and "<script>x" not in page
    assert "Boulangerie &lt;b&gt;Martin&lt;/b&gt;" in page


def test_unknown_invoice_or_payment_is_a_404(auth_client, sent):
    assert auth_client.get("/invoices/999/payments/new").status_code == 404
    assert auth_client.post("/invoices/999/payments/new", data=form()).status_code == 404
    assert auth_client.get("/payments/999/delete").status_code == 404
    assert auth_client.post("/payments/999/delete").status_code == 404


def test_posting_without_the_csrf_token_is_refused(app, auth_client, sent):
    response = auth_client.post(f"/invoices/{sent}/payments/new", data=form(), csrf=False)
    assert response.status_code == 400
    assert status_and_paid(app, sent) == (S.AWAITING_PAYMENT, 0)


def test_deleting_a_payment_asks_first_then_brings_the_invoice_back_to_suivi(app, auth_client, sent):
    auth_client.post(f"/invoices/{sent}/payments/new", data=form())
    with app.app_context():
        payment_id = db.session.scalar(select(Payment.id))
    page = auth_client.get(f"/payments/{payment_id}/delete").get_data(as_text=True)
    assert "Supprimer ce paiement ?" in page and "redeviendra 1\u202f200,00\xa0€" in page
    assert status_and_paid(app, sent) == (S.PAID, 120_000)  # the question changed nothing
    response = auth_client.post(f"/payments/{payment_id}/delete")
    assert response.status_code == 303
    assert status_and_paid(app, sent) == (S.AWAITING_PAYMENT, 0)
    follow_up = auth_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Paiement supprimé" in follow_up and "supprimé (Chèque)" in follow_up
    board = auth_client.get("/").get_data(as_text=True)
    column = board[board.index('id="column-follow_up"'):board.index('id="column-archives"')]
    assert f'id="card-{sent}"' in column


def test_the_follow_up_step_runs_a_constant_number_of_queries_whatever_the_payments(
    app, auth_client, sent
):
    with app.app_context():
        invoice = db.session.get(Invoice, sent)
        payments.add(invoice, settings.today(), 1, PaymentMethod.CASH, settings.today())
        db.session.commit()
    with count_queries(app) as few:
        auth_client.get(f"/invoices/{sent}?step=follow_up")
    with app.app_context():
        invoice = db.session.get(Invoice, sent)
        for _ in range(100):
            payments.add(invoice, settings.today(), 1, PaymentMethod.CASH, settings.today())
        db.session.commit()
    with count_queries(app) as many:
        auth_client.get(f"/invoices/{sent}?step=follow_up")
    assert many() == few()


def test_the_client_page_lists_its_payments(app, auth_client, sent):
    auth_client.post(f"/invoices/{sent}/payments/new", data=form(amount="200", method="cash"))
    with app.app_context():
        invoice = db.session.get(Invoice, sent)
        client_id, number = invoice.client_id, invoice.number
    page = auth_client.get(f"/clients/{client_id}").get_data(as_text=True)
    table = page[page.index('id="client-payments"'):]
    assert f">{number}</a>" in table and "Comptant" in table and "200,00\xa0€" in table


def test_the_client_page_runs_a_constant_number_of_queries_whatever_the_payments(app, auth_client, sent):
    with app.app_context():
        invoice = db.session.get(Invoice, sent)
        client_id = invoice.client_id
        payments.add(invoice, settings.today(), 1, PaymentMethod.CASH, settings.today())
        db.session.commit()
    with count_queries(app) as few:
        auth_client.get(f"/clients/{client_id}")
    with app.app_context():
        invoice = db.session.get(Invoice, sent)
        for _ in range(80):
            payments.add(invoice, settings.today(), 1, PaymentMethod.CASH, settings.today())
        db.session.commit()
    with count_queries(app) as many:
        auth_client.get(f"/clients/{client_id}")
    assert many() == few()
