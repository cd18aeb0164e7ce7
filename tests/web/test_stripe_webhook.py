"""Stripe through the official SDK against a fake API on loopback, and signed webhooks.

Checkout Sessions carry the right amount, currency, metadata and idempotency key;
a completed payment marks the invoice paid, moves its card and emails the owner
(received by the real test SMTP server); replays and forgeries record nothing.
"""

import json
import time
from email import message_from_bytes, policy
from datetime import timedelta
from decimal import Decimal

import pytest
import stripe
from sqlalchemy import func, select

from billing import invoices, money, outbox, portal, settings
from billing.models import Event, Invoice, InvoiceStatus, Message, Payment, PaymentMethod, StripeEvent, db
from tests.factories import make_client, make_invoice, make_tax_rate
from tests.fake_stripe import FakeStripe, completed_event, intent_event

S = InvoiceStatus
SECRET = "whsec_test_secret"


@pytest.fixture
def fake_stripe(app, owner, smtp_server):
    """Stripe keys in the settings, the SDK pointed at a fake API, SMTP at the test server."""
    with FakeStripe() as fake:
        app.config["STRIPE_API_BASE"] = fake.url
        with app.app_context():
            business = settings.business()
            business.stripe_secret_key = "sk_test_123"
            business.stripe_publishable_key = "pk_test_123"
            business.stripe_webhook_secret = SECRET
            business.smtp_host, business.smtp_port = smtp_server.host, smtp_server.port
            business.smtp_security = type(business.smtp_security).NONE
            db.session.commit()
        yield fake


@pytest.fixture
def sent(app, owner):
    """A sent invoice of 1 200,00 € (TVA 20 %); returns its id."""
    with app.test_request_context():
        invoice = make_invoice(make_client(), lines=[(1, 100_000)], taxes=[make_tax_rate()])
        invoices.finalize(invoice, settings.today())
        invoices.mark_sent(invoice)
        db.session.commit()
        return invoice.id


def post_event(client, event: dict, secret: str = SECRET, timestamp=None, body: str | None = None):
    payload = body if body is not None else json.dumps(event)
    header = stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp)
    return client.post("/webhooks/stripe", data=payload, csrf=False,
                       headers={"Stripe-Signature": header, "Content-Type": "application/json"})


def open_session(app, invoice_id: int) -> str:
    with app.test_request_context():
        invoice = db.session.get(Invoice, invoice_id)
        return portal.checkout(invoice, "http://x/ok", "http://x/cancel")


def number(app, invoice_id) -> str:
    with app.app_context():
        return db.session.get(Invoice, invoice_id).number


def payments_of(app, invoice_id):
    with app.app_context():
        return db.session.scalars(select(Payment).where(Payment.invoice_id == invoice_id)).all()


def test_a_checkout_session_asks_for_the_balance_with_the_invoice_in_its_metadata(
    app, fake_stripe, sent
):
    url = open_session(app, sent)
    assert url == f"{fake_stripe.url}/pay/cs_test_1"
    request = fake_stripe.requests[0]
    assert request["path"] == "/v1/checkout/sessions"
    assert request["authorization"] == "Bearer sk_test_123"
    item = request["form"]["line_items"]["0"]
    assert (item["price_data"]["unit_amount"], item["price_data"]["currency"]) == ("120000", "eur")
    assert request["form"]["metadata"]["invoice_id"] == str(sent)
    assert request["form"]["payment_intent_data"]["metadata"]["invoice_id"] == str(sent)
    assert request["form"]["mode"] == "payment"
    assert request["idempotency_key"] == f"checkout-{sent}-0-120000"
    assert open_session(app, sent) == url  # a double tap: the same session
    assert len(fake_stripe.sessions) == 1


def test_with_a_schedule_the_session_asks_for_the_next_instalment(app, fake_stripe, owner):
    with app.test_request_context():
        invoice = make_invoice(make_client(), lines=[(1, 100_000)], currency="CAD")
        day = settings.today()
        invoices.set_instalments(invoice, [
            (day + timedelta(days=5), money.InstalmentSpec(Decimal(40), None)),
            (day + timedelta(days=35), money.InstalmentSpec(Decimal(60), None)),
        ])
        invoices.finalize(invoice, day)
        db.session.commit()
        invoice_id = invoice.id
    open_session(app, invoice_id)
    item = fake_stripe.requests[0]["form"]["line_items"]["0"]["price_data"]
    assert (item["unit_amount"], item["currency"]) == ("40000", "cad")


def test_no_session_without_stripe_keys_or_for_a_paid_invoice(app, owner, sent):
    with app.test_request_context():
        with pytest.raises(portal.PaymentUnavailable):
            portal.checkout(db.session.get(Invoice, sent), "http://x/ok", "http://x/cancel")


def test_a_completed_checkout_pays_the_invoice_moves_it_and_emails_the_owner(
    app, client, fake_stripe, sent, smtp_server
):
    open_session(app, sent)
    session = next(iter(fake_stripe.sessions.values()))
    response = post_event(client, completed_event(session, "pi_123"))
    assert response.status_code == 200
    [payment] = payments_of(app, sent)
    assert (payment.amount_cents, payment.method, payment.reference) == (120_000, PaymentMethod.STRIPE, "pi_123")
    with app.app_context():
        assert db.session.get(Invoice, sent).status is S.PAID
        notice = db.session.scalar(select(Message).where(Message.kind == "notice"))
        assert notice.recipients == ["owner@example.fr"]
        assert outbox.deliver_due() == 1
    [mail] = smtp_server.messages
    assert mail.rcpt_tos == ["owner@example.fr"]
    email = message_from_bytes(mail.data, policy=policy.default)
    assert email["Subject"] == f"Paiement reçu : facture {number(app, sent)}"
    body = email.get_body(("plain",)).get_content()
    assert "a payé 1\u202f200,00\xa0€ en ligne (Stripe)" in body and "pi_123" in body
    assert f"/invoices/{sent}?step=follow_up" in body


def test_the_board_shows_the_paid_invoice_in_archives(app, client, auth_client, fake_stripe, sent):
    open_session(app, sent)
    session = next(iter(fake_stripe.sessions.values()))
    post_event(client, completed_event(session, "pi_123"))
    board = auth_client.get("/").get_data(as_text=True)
    archives = board[board.index('id="column-archives"'):]
    assert f'id="card-{sent}"' in archives


def test_replays_and_duplicate_events_record_exactly_one_payment(app, client, fake_stripe, sent):
    open_session(app, sent)
    session = next(iter(fake_stripe.sessions.values()))
    event = completed_event(session, "pi_777", event_id="evt_same")
    for _ in range(5):
        assert post_event(client, event).status_code == 200
    for n in range(5):  # other events about the same payment intent
        other = (completed_event(session, "pi_777", event_id=f"evt_other_{n}") if n % 2
                 else intent_event(sent, "pi_777", 120_000, f"evt_intent_{n}"))
        assert post_event(client, other).status_code == 200
    assert len(payments_of(app, sent)) == 1
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(StripeEvent)) == 6
        assert db.session.scalar(select(func.count(Message.id))) == 1  # one owner email


@pytest.mark.parametrize("forgery", ["wrong_secret", "old_timestamp", "not_json", "no_header"])
def test_forged_or_stale_events_are_a_400_and_record_nothing(app, client, fake_stripe, sent, forgery):
    open_session(app, sent)
    session = next(iter(fake_stripe.sessions.values()))
    event = completed_event(session, "pi_1")
    if forgery == "wrong_secret":
        response = post_event(client, event, secret="whsec_other")
    elif forgery == "old_timestamp":
        response = post_event(client, event, timestamp=int(time.time()) - 3600)
    elif forgery == "not_json":
        response = post_event(client, event, body="{not json")
    else:
        response = client.post("/webhooks/stripe", data=json.dumps(event), csrf=False)
    assert response.status_code == 400
    assert payments_of(app, sent) == []
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(StripeEvent)) == 0
        assert db.session.get(Invoice, sent).status is S.AWAITING_PAYMENT


def test_an_event_for_an_unknown_invoice_is_acknowledged_and_records_nothing(
    app, client, fake_stripe, sent, caplog
):
    event = intent_event(999_999, "pi_ghost", 5_000, "evt_ghost")
    assert post_event(client, event).status_code == 200
    with app.app_context():
        assert db.session.scalar(select(func.count(Payment.id))) == 0
    assert "unknown invoice" in caplog.text


def test_what_an_event_pays_beyond_the_balance_is_not_recorded_but_noted_for_a_refund(
    app, client, fake_stripe, sent, caplog
):
    event = intent_event(sent, "pi_big", 999_999, "evt_big")
    assert post_event(client, event).status_code == 200
    [payment] = payments_of(app, sent)
    assert payment.amount_cents == 120_000
    with app.app_context():
        assert db.session.get(Invoice, sent).status is S.PAID
        kinds = db.session.scalars(select(Event.detail).where(Event.kind == "stripe_payment_not_recorded")).all()
        assert kinds == ["879999 pi_big"]
    assert "879999 cents beyond what was owed" in caplog.text


def test_other_event_types_are_acknowledged(app, client, fake_stripe, sent):
    event = {"id": "evt_x", "object": "event", "type": "customer.created", "data": {"object": {"id": "cus_1"}}}
    assert post_event(client, event).status_code == 200
    assert payments_of(app, sent) == []

