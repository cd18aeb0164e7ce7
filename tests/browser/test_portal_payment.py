"""The client's side in a real browser: the link from an email received by the test SMTP server,
the invoice, « Payer », the (fake) Stripe checkout, the signed webhook, back to « Payée »."""

from __future__ import annotations

import json
import re
import urllib.request
from email import message_from_bytes, policy

import stripe
from playwright.sync_api import expect

from billing import invoices, outbox, sending, settings
from billing.models import Invoice, InvoiceStatus, SmtpSecurity, db
from tests.browser.conftest import screenshot
from tests.browser.test_foundation import create_owner
from tests.browser.test_invoices import fits_the_screen
from tests.factories import make_client, make_invoice, make_tax_rate
from tests.fake_stripe import FakeStripe, completed_event

SECRET = "whsec_browser"


def test_the_client_pays_online_from_the_email_link(sized_page, live_server, smtp_server):
    page, app = sized_page, live_server.app
    create_owner(app)
    with FakeStripe() as fake:
        app.config["STRIPE_API_BASE"] = fake.url
        with app.test_request_context():
            business = settings.business()
            business.stripe_secret_key, business.stripe_webhook_secret = "sk_test_b", SECRET
            business.iban, business.bic = "FR7630006000011234567890189", "AGRIFRPP"
            business.smtp_host, business.smtp_port = smtp_server.host, smtp_server.port
            business.smtp_security = SmtpSecurity.NONE
            invoice = make_invoice(make_client("Boulangerie Martin", emails=("compta@martin.fr",)),
                                   lines=[(2, 50_000)], taxes=[make_tax_rate()])
            invoices.finalize(invoice, settings.today())
            sending.send_invoice(invoice, sending.default_draft(invoice), [], live_server.url)
            db.session.commit()
            invoice_id = invoice.id
            assert outbox.deliver_due() == 1

        [mail] = smtp_server.messages
        body = message_from_bytes(mail.data, policy=policy.default).get_body(("plain",)).get_content()
        link = re.search(rf"{re.escape(live_server.url)}/p/[\w-]+", body).group(0)

        page.goto(link)
        expect(page.get_by_role("heading", name="Facture F-2026-0001")).to_be_visible()
        expect(page.locator(".portal-summary")).to_contain_text("1 200,00 €")
        fits_the_screen(page)
        screenshot(page, "portal-01-invoice")

        page.get_by_role("link", name="Payer 1 200,00 €").click()
        expect(page.get_by_role("heading", name="Fake Checkout")).to_be_visible()
        expect(page.get_by_text("120000 eur")).to_be_visible()

        session = next(iter(fake.sessions.values()))
        payload = json.dumps(completed_event(session, "pi_browser"))
        request = urllib.request.Request(
            live_server.url + "/webhooks/stripe", data=payload.encode(), method="POST",
            headers={"Content-Type": "application/json",
                     "Stripe-Signature": stripe.WebhookSignature.generate_signature_header(payload, SECRET)})
        with urllib.request.urlopen(request) as answer:
            assert answer.status == 200

        page.get_by_role("link", name="Back to the shop").click()
        expect(page.locator(".badges")).to_contain_text("Payée")
        expect(page.get_by_text("Merci ! Votre paiement a bien été reçu.")).to_be_visible()
        expect(page.get_by_role("link", name=re.compile("^Payer"))).to_have_count(0)
        fits_the_screen(page)
        screenshot(page, "portal-02-paid")
    with app.app_context():
        assert db.session.get(Invoice, invoice_id).status is InvoiceStatus.PAID
