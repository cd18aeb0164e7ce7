"""« Tout payer » from a statement's link: one Stripe Checkout for everything owed, and a signed
webhook that pays the open invoices oldest due date first, once."""

import json
import secrets
from datetime import date, timedelta

import pytest
import stripe
from sqlalchemy import func, select

from billing import invoices, settings
from billing.models import Invoice, InvoiceStatus, Payment, Statement, db
from tests.factories import make_client, make_invoice
from tests.fake_stripe import FakeStripe, completed_event

SECRET = "whsec_statement"
S = InvoiceStatus


@pytest.fixture
def world(app, owner):
    """Three open invoices of Martin (due in 40, 10 and 25 days), a paid one, one issued after
    the statement's end, one of another client; a statement of Martin until today."""
    with FakeStripe() as fake:
        app.config["STRIPE_API_BASE"] = fake.url
        with app.test_request_context():
            business = settings.business()
            business.stripe_secret_key, business.stripe_webhook_secret = "sk_test_s", SECRET
            today = settings.today()
            martin, other = make_client("Boulangerie Martin"), make_client("Atelier Dupont")

            def issued(client, amount, due_in, day=today):
                invoice = make_invoice(client, lines=[(1, amount)], today=day)
                invoice.due_date = day + timedelta(days=due_in)
                invoices.finalize(invoice, day)
                invoices.mark_sent(invoice)
                return invoice

            late, early, middle = issued(martin, 30_000, 40), issued(martin, 10_000, 10), issued(martin, 20_000, 25)
            paid = issued(martin, 5_000, 5)
            paid.paid_cents, paid.status = paid.total_cents, S.PAID
            theirs = issued(other, 70_000, 1)
            statement = Statement(client=martin, start=date(today.year, 1, 1), end=today,
                                  token=secrets.token_urlsafe(32))
            db.session.add(statement)
            db.session.commit()
            yield dict(fake=fake, token=statement.token, statement_id=statement.id,
                       early=early.id, middle=middle.id, late=late.id, paid=paid.id, theirs=theirs.id)


def post_event(client, event):
    payload = json.dumps(event)
    header = stripe.WebhookSignature.generate_signature_header(payload, SECRET)
    return client.post("/webhooks/stripe", data=payload, csrf=False,
                       headers={"Stripe-Signature": header, "Content-Type": "application/json"})


def state(app, invoice_id):
    with app.app_context():
        invoice = db.session.get(Invoice, invoice_id)
        return invoice.status, invoice.balance_cents


def test_the_statement_link_lists_what_is_owed_with_tout_payer(client, world):
    page = client.get(f"/p/s/{world['token']}").get_data(as_text=True)
    assert "Relevé de compte" in page and "Boulangerie Martin" in page
    assert "Tout payer (600,00\xa0€)" in page
    assert "Atelier Dupont" not in page
    assert 'id="statement"' in page and "Solde dû" in page  # the statement itself, below
    pdf = client.get(f"/p/s/{world['token']}/pdf")
    assert pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")


def test_tout_payer_pays_the_open_invoices_oldest_due_date_first_once(app, client, world):
    response = client.get(f"/p/s/{world['token']}/pay/EUR")
    assert response.status_code == 303
    [session] = world["fake"].sessions.values()
    assert response.headers["Location"] == session["url"]
    assert session["amount_total"] == 60_000 and session["currency"] == "eur"
    assert session["metadata"] == {"statement_id": str(world["statement_id"]), "currency": "EUR"}

    # Paid in full: the three invoices, one payment each, with the same Stripe reference.
    event = completed_event(session, "pi_all", event_id="evt_all")
    for _ in range(3):  # the first time, then two replays
        assert post_event(client, event).status_code == 200
    with app.app_context():
        found = db.session.execute(select(Payment.invoice_id, Payment.amount_cents, Payment.reference)
                                   .order_by(Payment.id)).all()
    assert found == [(world["early"], 10_000, "pi_all"), (world["middle"], 20_000, "pi_all"),
                     (world["late"], 30_000, "pi_all")]
    for key in ("early", "middle", "late"):
        assert state(app, world[key]) == (S.PAID, 0)
    assert state(app, world["theirs"]) == (S.AWAITING_PAYMENT, 70_000)
    page = client.get(f"/p/s/{world['token']}?payment=done").get_data(as_text=True)
    assert "Merci ! Votre paiement a bien été reçu." in page and "Rien à payer" in page


def test_less_than_the_total_pays_the_oldest_due_dates_first(app, client, world):
    client.get(f"/p/s/{world['token']}/pay/EUR")
    [session] = world["fake"].sessions.values()
    post_event(client, completed_event(session, "pi_part", event_id="evt_part", amount=40_000))
    assert state(app, world["early"]) == (S.PAID, 0)
    assert state(app, world["middle"]) == (S.PAID, 0)
    assert state(app, world["late"]) == (S.AWAITING_PAYMENT, 20_000)


def test_unknown_statement_tokens_and_currencies(client, world):
    assert client.get("/p/s/unknown").status_code == 404
    assert client.get("/p/s/unknown/pay/EUR").status_code == 404
    assert client.get("/p/s/unknown/pdf").status_code == 404
    response = client.get(f"/p/s/{world['token']}/pay/CAD")  # nothing owed in CAD
    assert response.status_code == 303 and "?payment" not in response.headers["Location"]
    assert world["fake"].sessions == {}


def test_an_event_for_an_unknown_statement_records_nothing(app, client, world):
    event = {"id": "evt_ghost", "object": "event", "type": "checkout.session.completed",
             "data": {"object": {"id": "cs_x", "payment_status": "paid", "payment_intent": "pi_x",
                                 "amount_total": 100, "currency": "eur",
                                 "metadata": {"statement_id": "999", "currency": "EUR"}}}}
    assert post_event(client, event).status_code == 200
    with app.app_context():
        assert db.session.scalar(select(func.count(Payment.id))) == 0
