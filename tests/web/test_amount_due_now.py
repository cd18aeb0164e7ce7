"""The amount due now follows the payment schedule (issue 11, item 5), with real parts: the
email as the SMTP server (aiosmtpd on loopback) receives it, the portal page, its transfer
block and EPC QR code, the amount sent to the (fake, loopback) Stripe API, and the owner's
« Suivi » step. A 4 500,00 € invoice in three instalments (30/40/30 %: 1 350, 1 800 and
1 350 €) asks for 1 350 € by the first date, then, once 1 350 € is paid, 1 800 € by the
second; an invoice without a schedule asks for its balance as before."""

import base64
import io
import re
from datetime import date, timedelta
from decimal import Decimal
from email import message_from_bytes, policy

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import select

from billing import invoices, money, outbox, payment_refs, portal, settings
from billing.models import Invoice, Message, db
from tests.factories import make_client, make_invoice
from tests.web.test_portal import html, stripe_on, with_bank  # noqa: F401
from tests.web.test_send_modal import form_data, post
from tests.web.test_settings_emails import configure_smtp

IBAN = "FR7630006000011234567890189"
FIRST, SECOND = "1\u202f350,00\xa0€", "1\u202f800,00\xa0€"


def day(value: date) -> str:
    return value.strftime("%d/%m/%Y")


@pytest.fixture
def world(app, owner):
    """The business with a bank account; the dates of the instalments, from today's."""
    with_bank(app)
    with app.app_context():
        today = settings.today()
    return [today + timedelta(days=n) for n in (12, 43, 74)]


def new_invoice(app, dates=None, **client_fields) -> tuple[int, str, str]:
    """A finalized 4 500,00 € invoice (no tax), scheduled 30/40/30 % on `dates` when given;
    returns (id, number, portal token)."""
    with app.test_request_context():
        today = settings.today()
        invoice = make_invoice(make_client(**client_fields), lines=[(1, 450_000)], today=today)
        if dates:
            invoices.set_instalments(invoice, [
                (due, money.InstalmentSpec(Decimal(part), None))
                for due, part in zip(dates, (30, 40, 30), strict=True)
            ])
        invoices.finalize(invoice, today)
        token = portal.token_for(invoice).token
        db.session.commit()
        return invoice.id, invoice.number, token


def send_and_receive(app, auth_client, smtp_server, invoice_id, body: str) -> str:
    """« Envoyer le message » with `body`, delivered by the outbox; the plain text received."""
    before = len(smtp_server.messages)
    response = post(auth_client, invoice_id, form_data(body=body, attach_pdf=None))
    assert response.status_code == 303
    with app.app_context():
        assert outbox.deliver_due() == 1
    assert len(smtp_server.messages) == before + 1
    email = message_from_bytes(smtp_server.messages[-1].data, policy=policy.default)
    return email.get_body(("plain",)).get_content().replace("\r\n", "\n")


def default_body(app) -> str:
    with app.app_context():
        return settings.business().email_body_template


def pay_by_hand(auth_client, invoice_id, amount: str) -> None:
    """« Ajouter un paiement » on step « Suivi », as the owner does it."""
    with auth_client.application.app_context():
        today = settings.today()
    response = auth_client.post(f"/invoices/{invoice_id}/payments/new", data={
        "paid_on": today.isoformat(), "amount": amount, "method": "bank_transfer", "notes": ""})
    assert response.status_code == 303


def transfer_amount(page: str) -> str:
    block = page[page.index('class="card portal-transfer"'):]
    return re.search(r"<dt>Montant</dt><dd>(.*?)</dd>", block).group(1)


def qr_image(page: str) -> str:
    return re.search(r'class="epc-qr" src="(data:image/png;base64,[^"]+)"', page).group(1)


def epc(amount: str, number: str) -> str:
    """The EPC QR payload we expect, written out: a SEPA transfer of `amount` euros."""
    return f"BCD\n002\n1\nSCT\nAGRIFRPP\nAtelier Conseil\n{IBAN}\nEUR{amount}\n\n\n{number}"


def drawn_from(image: str, payload: str) -> bool:
    """The portal's QR image is the very QR code of `payload`, pixel for pixel."""
    return image == payment_refs.epc_qr(payload).png_data_uri(scale=4, border=2)


def checkout_amount(client, stripe, token) -> int:
    """« Payer »: the amount of the Checkout Session created on the (fake) Stripe API."""
    response = client.get(f"/p/{token}/pay")
    assert response.status_code == 303 and response.headers["Location"].startswith(stripe.url)
    request = stripe.requests[-1]
    assert request["path"] == "/v1/checkout/sessions"
    return int(request["form"]["line_items"]["0"]["price_data"]["unit_amount"])


# --- With a payment schedule ------------------------------------------------------------------


def test_everything_asks_for_the_first_instalment_then_the_second(
    app, auth_client, client, smtp_server, stripe_on, world  # noqa: F811
):
    first, second, last = world
    configure_smtp(app, smtp_server.host, smtp_server.port)
    invoice_id, number, token = new_invoice(app, world)

    # The email, as the SMTP server receives it (the default message of the settings).
    text = send_and_receive(app, auth_client, smtp_server, invoice_id, default_body(app))
    assert (f"la facture {number} d'un montant de {FIRST}, "
            f"payable au plus tard le {day(first)}.") in text
    assert "4\u202f500,00" not in text and day(last) not in text

    # The portal: « À payer maintenant », the transfer block, the EPC QR code, « Payer ».
    page = html(client.get(f"/p/{token}"))
    assert f"À payer maintenant : {FIRST} avant le {day(first)}" in page
    assert f'href="/p/{token}/pay">Payer {FIRST}</a>' in page
    assert transfer_amount(page) == FIRST
    assert drawn_from(qr_image(page), epc("1350.00", number))
    assert checkout_amount(client, stripe_on, token) == 135_000

    # The owner's « Suivi » step.
    follow_up = html(auth_client.get(f"/invoices/{invoice_id}?step=follow_up"))
    assert f"À payer maintenant : {FIRST} avant le {day(first)}" in follow_up

    pay_by_hand(auth_client, invoice_id, "1350,00")

    text = send_and_receive(app, auth_client, smtp_server, invoice_id, default_body(app))
    assert f"d'un montant de {SECOND}, payable au plus tard le {day(second)}." in text
    page = html(client.get(f"/p/{token}"))
    assert f"À payer maintenant : {SECOND} avant le {day(second)}" in page
    assert f'href="/p/{token}/pay">Payer {SECOND}</a>' in page
    assert transfer_amount(page) == SECOND
    assert drawn_from(qr_image(page), epc("1800.00", number))
    assert checkout_amount(client, stripe_on, token) == 180_000
    follow_up = html(auth_client.get(f"/invoices/{invoice_id}?step=follow_up"))
    assert f"À payer maintenant : {SECOND} avant le {day(second)}" in follow_up


def test_the_solde_placeholder_is_the_balance_and_montant_what_is_left_of_an_instalment(
    app, auth_client, smtp_server, world
):
    first, _second, _last = world
    configure_smtp(app, smtp_server.host, smtp_server.port)
    invoice_id, _number, _token = new_invoice(app, world)
    pay_by_hand(auth_client, invoice_id, "1000,00")
    text = send_and_receive(app, auth_client, smtp_server, invoice_id,
                            "À payer : {montant} le {echeance}. Solde : {solde}.\n{lien}")
    assert text.startswith(f"À payer : 350,00\xa0€ le {day(first)}. Solde : 3\u202f500,00\xa0€.\n")


def test_the_send_form_opens_with_the_first_instalment_in_the_message(app, auth_client, world):
    first, _second, _last = world
    invoice_id, number, _token = new_invoice(app, world)
    form = html(auth_client.get(f"/invoices/{invoice_id}/send"))
    assert (f"la facture {number} d&#39;un montant de {FIRST}, "
            f"payable au plus tard le {day(first)}.") in form


def test_the_last_instalment_is_the_balance_and_needs_no_line_of_its_own(
    app, auth_client, client, world
):
    invoice_id, number, token = new_invoice(app, world)
    pay_by_hand(auth_client, invoice_id, "3150,00")
    page = html(client.get(f"/p/{token}"))
    assert "À payer maintenant" not in page
    assert transfer_amount(page) == FIRST
    assert drawn_from(qr_image(page), epc("1350.00", number))


def test_an_english_client_reads_the_amount_due_now_in_english(app, client, world):
    first, _second, _last = world
    _invoice_id, _number, token = new_invoice(app, world, name="Acme Ltd", language="en")
    page = html(client.get(f"/p/{token}"))
    assert f"Due now: €1,350.00 by {day(first)}" in page


def test_the_epc_qr_code_scans_to_the_amount_due_now(app, auth_client, client, world):
    def scanned(page: str) -> str:
        png = base64.b64decode(qr_image(page).split(",", 1)[1])
        [found] = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
        return found.text

    invoice_id, number, token = new_invoice(app, world)
    assert scanned(html(client.get(f"/p/{token}"))) == epc("1350.00", number)
    pay_by_hand(auth_client, invoice_id, "1350,00")
    assert scanned(html(client.get(f"/p/{token}"))) == epc("1800.00", number)


# --- Without a schedule: the balance, as before ---------------------------------------------


def test_without_a_schedule_everything_asks_for_the_balance(
    app, auth_client, client, smtp_server, stripe_on, world  # noqa: F811
):
    configure_smtp(app, smtp_server.host, smtp_server.port)
    invoice_id, number, token = new_invoice(app)
    with app.app_context():
        due = db.session.get(Invoice, invoice_id).due_date

    text = send_and_receive(app, auth_client, smtp_server, invoice_id, default_body(app))
    assert f"d'un montant de 4\u202f500,00\xa0€, payable au plus tard le {day(due)}." in text
    page = html(client.get(f"/p/{token}"))
    assert "À payer maintenant" not in page
    assert transfer_amount(page) == "4\u202f500,00\xa0€"
    assert drawn_from(qr_image(page), epc("4500.00", number))
    assert checkout_amount(client, stripe_on, token) == 450_000
    assert "À payer maintenant" not in html(auth_client.get(f"/invoices/{invoice_id}?step=follow_up"))

    pay_by_hand(auth_client, invoice_id, "1000,00")
    page = html(client.get(f"/p/{token}"))
    assert "À payer maintenant" not in page
    assert transfer_amount(page) == "3\u202f500,00\xa0€"
    assert drawn_from(qr_image(page), epc("3500.00", number))
    assert checkout_amount(client, stripe_on, token) == 350_000
    text = send_and_receive(app, auth_client, smtp_server, invoice_id,
                            "{montant} le {echeance}, solde {solde}\n{lien}")
    assert text.startswith(f"4\u202f500,00\xa0€ le {day(due)}, solde 3\u202f500,00\xa0€\n")
    with app.app_context():
        assert len(db.session.scalars(select(Message)).all()) == 2


def test_the_settings_explain_montant_echeance_and_solde(auth_client):
    page = html(auth_client.get("/settings/emails"))
    assert "Variables : {numero}, {client}, {montant}, {echeance}, {lien}, {solde}." in page
    assert "Avec un calendrier de paiement, c’est la prochaine échéance" in page
    assert "{solde} : tout ce qui reste à payer sur la facture." in page
