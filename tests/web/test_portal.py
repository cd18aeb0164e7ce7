"""The client portal of issue 6: the invoice's own revocable link, how to pay (transfer, EPC QR,
Belgian communication, schedule), « Payer » through Stripe Checkout (fake API on loopback),
isolation between clients, no cookie, no index, a rate limit."""

import io
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from PIL import Image
from sqlalchemy import select

from billing import invoices, money, payments, portal, sending, settings
from billing.models import Country, Invoice, InvoiceStatus, Message, MessageState, PaymentMethod, db
from tests.factories import make_client, make_invoice, make_tax_rate
from tests.fake_stripe import FakeStripe

BASE = "https://factures.example.fr"


def finalized(app, client_name="Boulangerie Martin", schedule=None, **client_fields) -> tuple[int, str]:
    """A finalized invoice of 1 200,00 € (TVA 20 %); returns (id, its portal token)."""
    with app.test_request_context():
        invoice = make_invoice(make_client(client_name, **client_fields), lines=[(1, 100_000)],
                               taxes=[make_tax_rate()])
        if schedule:
            invoices.set_instalments(invoice, schedule)
        invoices.finalize(invoice, settings.today())
        token = portal.token_for(invoice).token
        db.session.commit()
        return invoice.id, token


def with_bank(app, country=Country.FR):
    with app.app_context():
        business = settings.business()
        business.iban, business.bic, business.country = "FR7630006000011234567890189", "AGRIFRPP", country
        db.session.commit()


@pytest.fixture
def stripe_on(app, owner):
    with FakeStripe() as fake:
        app.config["STRIPE_API_BASE"] = fake.url
        with app.app_context():
            business = settings.business()
            business.stripe_secret_key, business.stripe_webhook_secret = "sk_test_1", "whsec_1"
            db.session.commit()
        yield fake


def html(response) -> str:
    return response.get_data(as_text=True)


def test_finalizing_gives_the_invoice_a_client_link_shown_on_step_envoi(app, auth_client, owner):
    with app.test_request_context():
        invoice = make_invoice(make_client(), lines=[(1, 100_000)])
        db.session.commit()
        invoice_id = invoice.id
    auth_client.post(f"/invoices/{invoice_id}/finalize")
    with app.app_context():
        token = portal.current_token(db.session.get(Invoice, invoice_id)).token
    page = html(auth_client.get(f"/invoices/{invoice_id}?step=sending"))
    assert f'value="http://localhost/p/{token}"' in page and ">Nouveau lien</button>" in page
    assert len(token) >= 40


def test_the_portal_shows_the_invoice_and_pays_the_balance_with_stripe(app, client, stripe_on):
    invoice_id, token = finalized(app)
    page = html(client.get(f"/p/{token}"))
    assert "<h1>Facture F-2026-0001</h1>" in page and "Boulangerie Martin" in page
    assert f'href="/p/{token}/pay">Payer 1\u202f200,00\xa0€</a>' in page
    response = client.get(f"/p/{token}/pay")
    assert response.status_code == 303
    assert response.headers["Location"] == f"{stripe_on.url}/pay/cs_test_1"
    session = next(iter(stripe_on.sessions.values()))
    assert session["amount_total"] == 120_000 and session["metadata"]["invoice_id"] == str(invoice_id)
    assert session["success_url"] == f"http://localhost/p/{token}?payment=done"
    assert session["cancel_url"] == f"http://localhost/p/{token}?payment=cancelled"


def test_coming_back_from_stripe_marks_nothing_paid(app, client, stripe_on):
    invoice_id, token = finalized(app)
    page = html(client.get(f"/p/{token}?payment=done"))
    assert "en cours de confirmation" in page
    with app.app_context():
        assert db.session.get(Invoice, invoice_id).status is InvoiceStatus.TO_SEND
    assert "Paiement annulé : rien n’a été débité." in html(client.get(f"/p/{token}?payment=cancelled"))


def test_when_stripe_fails_the_client_is_told_and_can_pay_by_transfer(app, client, stripe_on):
    _invoice_id, token = finalized(app)
    app.config["STRIPE_API_BASE"] = "http://127.0.0.1:9"  # nothing listens there
    response = client.get(f"/p/{token}/pay")
    assert response.status_code == 303 and response.headers["Location"].endswith("?payment=unavailable")
    assert "momentanément indisponible" in html(client.get(response.headers["Location"]))


def test_no_payer_without_stripe_settings(app, client, owner):
    _invoice_id, token = finalized(app)
    page = html(client.get(f"/p/{token}"))
    assert "Payer " not in page
    assert client.get(f"/p/{token}/pay").status_code == 303  # back to the page, nothing else


def test_bank_transfer_details_with_an_epc_qr_code(app, client, owner):
    with_bank(app)
    _invoice_id, token = finalized(app)
    page = html(client.get(f"/p/{token}"))
    assert "Payer par virement" in page and "FR76 3000 6000 0112 3456 7890 189" in page
    assert "AGRIFRPP" in page and "<dd>F-2026-0001</dd>" in page
    assert 'class="epc-qr" src="data:image/png;base64,' in page


def test_a_belgian_business_asks_for_the_structured_communication(app, client, owner):
    with_bank(app, Country.BE)
    invoice_id, token = finalized(app)
    page = html(client.get(f"/p/{token}"))
    assert re.search(r"<dd>\+\+\+\d{3}/\d{4}/\d{5}\+\+\+</dd>", page)


def test_the_schedule_is_shown_with_what_is_paid(app, client, stripe_on):
    day = date_today(app)
    invoice_id, token = finalized(app, schedule=[
        (day + timedelta(days=10), money.InstalmentSpec(Decimal(50), None)),
        (day + timedelta(days=40), money.InstalmentSpec(Decimal(50), None)),
    ])
    with app.test_request_context():
        invoice = db.session.get(Invoice, invoice_id)
        payments.add(invoice, day, 60_000, PaymentMethod.CHEQUE, day)
        db.session.commit()
    page = html(client.get(f"/p/{token}"))
    assert "Calendrier de paiement" in page
    assert page.count(">Payée</span>") == 1 and page.count(">À payer</span>") == 1
    assert f'href="/p/{token}/pay">Payer 600,00\xa0€</a>' in page


def date_today(app):
    with app.app_context():
        return settings.today()


def test_a_cancelled_invoice_says_so_and_offers_no_payment(app, client, stripe_on):
    with_bank(app)
    invoice_id, token = finalized(app)
    with app.test_request_context():
        invoices.cancel(db.session.get(Invoice, invoice_id), settings.today())
        db.session.commit()
    page = html(client.get(f"/p/{token}"))
    assert "Cette facture a été annulée par un avoir : il n’y a rien à payer." in page
    assert "Payer" not in page and "virement" not in page


def test_a_paid_invoice_offers_no_payment(app, client, stripe_on):
    invoice_id, token = finalized(app)
    with app.test_request_context():
        invoice, day = db.session.get(Invoice, invoice_id), settings.today()
        payments.add(invoice, day, invoice.total_cents, PaymentMethod.CHEQUE, day)
        db.session.commit()
    page = html(client.get(f"/p/{token}"))
    assert ">Payée</span>" in page and "/pay" not in page


def test_a_new_link_kills_the_old_one_and_the_links_of_emails_sent_before(app, auth_client, client, owner):
    invoice_id, token = finalized(app)
    with app.test_request_context():
        invoice = db.session.get(Invoice, invoice_id)
        before = sending.send_invoice(invoice, sending.default_draft(invoice), [], BASE).link_token
        db.session.commit()
    assert client.get(f"/p/{before}").status_code == 200
    response = auth_client.post(f"/invoices/{invoice_id}/portal-link")
    assert response.status_code == 303
    with app.app_context():
        new = portal.current_token(db.session.get(Invoice, invoice_id)).token
    assert new != token
    assert client.get(f"/p/{token}").status_code == 404
    assert client.get(f"/p/{before}").status_code == 404
    assert client.get(f"/p/{new}").status_code == 200
    with app.test_request_context():
        invoice = db.session.get(Invoice, invoice_id)
        after = sending.send_invoice(invoice, sending.default_draft(invoice), [], BASE).link_token
        db.session.commit()
    assert client.get(f"/p/{after}").status_code == 200
    follow = html(auth_client.get(f"/invoices/{invoice_id}?step=sending"))
    assert "Nouveau lien créé : les liens donnés avant ne fonctionnent plus." in follow


def test_a_draft_has_no_client_link(app, auth_client, owner):
    with app.test_request_context():
        draft = make_invoice(make_client())
        db.session.commit()
        draft_id = draft.id
    assert auth_client.post(f"/invoices/{draft_id}/portal-link").status_code == 409
    assert auth_client.post(f"/invoices/{draft_id}/portal-link", csrf=False).status_code == 400


def portal_urls(token: str) -> list[str]:
    return [f"/p/{token}", f"/p/{token}/pdf", f"/p/{token}/logo", f"/p/{token}/pay",
            f"/p/{token}?payment=done"]


def test_a_token_of_client_a_never_shows_anything_of_client_b(app, client, stripe_on):
    _a_id, a_token = finalized(app, "Alice SARL", emails=("alice@a.fr",))
    b_id, b_token = finalized(app, "Bernard SA", emails=("bernard@b.fr",), address="12 rue de B")
    with app.app_context():
        b_number = db.session.get(Invoice, b_id).number
    for url in portal_urls(a_token):
        with client.get(url, follow_redirects=False) as response:
            body = response.get_data()
        for secret in (b"Bernard", b"bernard@b.fr", b"12 rue de B", b_number.encode(), b_token.encode()):
            assert secret not in body, (url, secret)
        if url.endswith("/pdf"):
            text = "".join(page.extract_text() for page in __import__("pypdf").PdfReader(io.BytesIO(body)).pages)
            assert "Alice SARL" in text and "Bernard" not in text


@pytest.mark.parametrize("token", ["nope", "x" * 43, "x" * 300, "%00", "a.b"])
def test_a_guessed_token_is_a_404_that_says_nothing(app, client, owner, token):
    finalized(app)
    for url in portal_urls(token):
        response = client.get(url)
        assert response.status_code == 404, url
        body = html(response)
        assert "Boulangerie" not in body and "F-2026" not in body


def test_the_portal_needs_no_session_sets_no_cookie_and_is_never_indexed(app, client, stripe_on):
    _invoice_id, token = finalized(app)
    for url in portal_urls(token) + ["/p/unknown"]:
        with client.get(url) as response:
            assert "Set-Cookie" not in response.headers, url
            assert response.headers["X-Robots-Tag"] == "noindex, nofollow", url
    assert '<meta name="robots" content="noindex, nofollow">' in html(client.get(f"/p/{token}"))


def test_the_portal_is_rate_limited_per_address(app, client, owner):
    _invoice_id, token = finalized(app)
    app.config["PORTAL_RATE_LIMIT"] = (3, 60)
    statuses = [client.get(f"/p/{token}", environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code
                for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    other = client.get(f"/p/{token}", environ_base={"REMOTE_ADDR": "203.0.113.10"})
    assert other.status_code == 200
    assert "Trop de demandes" in html(client.get(f"/p/x", environ_base={"REMOTE_ADDR": "203.0.113.9"}))


def test_the_business_logo_is_served_to_a_token_holder_only(app, client, owner):
    _invoice_id, token = finalized(app)
    assert client.get(f"/p/{token}/logo").status_code == 404  # no logo yet
    image = io.BytesIO()
    Image.new("RGB", (40, 20), "navy").save(image, "PNG")
    with app.app_context():
        folder = __import__("billing.uploads", fromlist=["folder"]).folder()
        folder.mkdir(parents=True, exist_ok=True)
        (folder / ("a" * 32 + ".png")).write_bytes(image.getvalue())
        settings.business().logo_path = "a" * 32 + ".png"
        db.session.commit()
    with client.get(f"/p/{token}/logo") as response:
        assert response.status_code == 200 and response.mimetype == "image/png"
    assert f'src="/p/{token}/logo"' in html(client.get(f"/p/{token}"))
    assert client.get("/p/wrong/logo").status_code == 404


def test_an_email_link_opens_the_same_portal_and_records_the_click(app, client, stripe_on):
    invoice_id, _token = finalized(app)
    with app.test_request_context():
        invoice = db.session.get(Invoice, invoice_id)
        message = sending.send_invoice(invoice, sending.default_draft(invoice), [], BASE)
        message.state = MessageState.SENT
        db.session.commit()
        link = message.link_token
    page = html(client.get(f"/p/{link}"))
    assert "Payer 1\u202f200,00\xa0€" in page
    with app.app_context():
        assert db.session.scalar(select(Message)).state is MessageState.CLICKED
