"""« Depuis votre dernière visite » on the board: payments received, links clicked, messages
abandoned since the owner last opened it, and a badge on the cards paid online."""

from datetime import timedelta

from billing import invoices, payments, sending, settings
from billing.models import Invoice, MessageState, PaymentMethod, User, db, utcnow
from tests.factories import make_client, make_invoice

HTMX = {"HX-Request": "true"}


def sent_invoice(app, name="Boulangerie <i>Martin</i>") -> int:
    with app.test_request_context():
        invoice = make_invoice(make_client(name), lines=[(1, 100_000)])
        invoices.finalize(invoice, settings.today())
        invoices.mark_sent(invoice)
        db.session.commit()
        return invoice.id


def test_the_first_visit_shows_no_recap(auth_client):
    assert "Depuis votre dernière visite" not in auth_client.get("/").get_data(as_text=True)


def test_what_happened_since_the_last_visit_is_listed_once(app, auth_client):
    online, by_hand = sent_invoice(app), sent_invoice(app, "Atelier Dupont")
    auth_client.get("/")  # a visit
    with app.test_request_context():
        today = settings.today()
        first = db.session.get(Invoice, online)
        payments.add(first, today, first.total_cents, PaymentMethod.STRIPE, today, reference="pi_1")
        second = db.session.get(Invoice, by_hand)
        payments.add(second, today, 30_000, PaymentMethod.CHEQUE, today)
        message = sending.new_message(sender="a@b.fr", recipients=["c@d.fr"], subject="Facture",
                                      text_body="x", invoice=second, with_link=True)
        message.clicked_at, message.state = utcnow(), MessageState.CLICKED
        db.session.commit()
        number = second.number

    page = auth_client.get("/").get_data(as_text=True)
    recap = page[page.index('<section class="recap card"'):page.index("</section>")]
    assert "Depuis votre dernière visite" in recap
    assert "Paiement reçu : 1\u202f000,00\xa0€" in recap and "(Stripe)" in recap and ">En ligne<" in recap
    assert "Paiement reçu : 300,00\xa0€" in recap and "(Chèque)" in recap
    assert f"Lien ouvert par le client —" in recap and f">{number}</a> · Atelier Dupont" in recap
    assert "Boulangerie &lt;i&gt;Martin&lt;/i&gt;" in recap
    card = page[page.index(f'id="card-{online}"'):]
    assert "Payée en ligne" in card[: card.index("</article>")]

    assert "Depuis votre dernière visite" not in auth_client.get("/").get_data(as_text=True)


def test_changing_the_filters_does_not_count_as_a_visit(app, auth_client):
    invoice_id = sent_invoice(app)
    auth_client.get("/")
    with app.test_request_context():
        invoice, today = db.session.get(Invoice, invoice_id), settings.today()
        payments.add(invoice, today, 100, PaymentMethod.CASH, today)
        db.session.commit()
        seen = db.session.get(User, 1).board_seen_at
    auth_client.get("/?client_id=", headers=HTMX)
    with app.app_context():
        assert db.session.get(User, 1).board_seen_at == seen
    assert "Paiement reçu : 1,00\xa0€" in auth_client.get("/").get_data(as_text=True)


def test_many_payments_are_summed_up_after_the_first_five(app, auth_client):
    invoice_id = sent_invoice(app)
    auth_client.get("/")
    with app.test_request_context():
        invoice, today = db.session.get(Invoice, invoice_id), settings.today()
        for _ in range(8):
            payments.add(invoice, today, 100, PaymentMethod.CASH, today)
        db.session.commit()
    page = auth_client.get("/").get_data(as_text=True)
    assert page.count("Paiement reçu : 1,00\xa0€") == 5 and "et 3 autres paiements" in page


def test_an_old_payment_is_not_news(app, auth_client):
    invoice_id = sent_invoice(app)
    with app.test_request_context():
        invoice, today = db.session.get(Invoice, invoice_id), settings.today()
        payment = payments.add(invoice, today, 100, PaymentMethod.CASH, today)
        payment.created_at = utcnow() - timedelta(days=2)
        db.session.get(User, 1).board_seen_at = utcnow() - timedelta(days=1)
        db.session.commit()
    assert "Depuis votre dernière visite" not in auth_client.get("/").get_data(as_text=True)
