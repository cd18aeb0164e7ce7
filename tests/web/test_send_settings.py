"""Paramètres › Emails: the message for English-speaking clients, used by the send modal."""

import pytest

from billing import invoices, settings
from billing.models import db
from tests.factories import make_client, make_invoice
from tests.web.test_settings import page, stored
from tests.web.test_settings_emails import emails_data

HTMX = {"HX-Request": "true"}


def test_the_emails_page_has_the_english_template_with_its_defaults(auth_client):
    html = page(auth_client.get("/settings/emails"))
    assert "Message pour les clients anglophones" in html
    assert 'name="email_subject_template_en" type="text" value="Invoice {numero}"' in html
    assert "Hello {client}," in html


def test_the_english_template_is_saved_and_used_for_an_english_client(app, auth_client):
    data = emails_data(email_subject_template_en="Your invoice {numero}",
                       email_body_template_en="Dear {client}, {montant} by {echeance}: {lien}")
    assert auth_client.post("/settings/emails", data=data).status_code == 303
    with app.app_context():
        row = settings.business()
        assert row.email_subject_template_en == "Your invoice {numero}"
        invoice = make_invoice(make_client("Acme Ltd", language="en"))
        invoices.finalize(invoice, settings.today())
        db.session.commit()
        invoice_id = invoice.id
    html = page(auth_client.get(f"/invoices/{invoice_id}/send", headers=HTMX))
    assert 'value="Your invoice F-2026-0001"' in html
    assert "Dear Acme Ltd, €100.00 by 24/12/2026: {lien}" in html


def test_a_blank_english_template_falls_back_to_the_default_text(app, auth_client):
    data = emails_data(email_subject_template_en="", email_body_template_en="")
    assert auth_client.post("/settings/emails", data=data).status_code == 303
    with app.app_context():
        invoice = make_invoice(make_client("Acme Ltd", language="en"))
        invoices.finalize(invoice, settings.today())
        db.session.commit()
        invoice_id = invoice.id
    html = page(auth_client.get(f"/invoices/{invoice_id}/send", headers=HTMX))
    assert 'value="Invoice F-2026-0001"' in html and "Hello Acme Ltd," in html


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("email_subject_template_en", "Invoice {number}", "Variable inconnue : {number}."),
        ("email_body_template_en", "Hello {name}, {link}",
         "Variable inconnue : {name}, {link}. Variables permises : {numero}, {client}, {montant}, "
         "{echeance}, {lien}, {solde}."),
    ],
)
def test_an_unknown_placeholder_in_the_english_template_is_refused(app, auth_client, field, value,
                                                                     message):
    before = stored(app)
    response = auth_client.post("/settings/emails", data=emails_data(**{field: value}))
    assert response.status_code == 422
    html = page(response)
    assert message in html.split(f'id="{field}-error">', 1)[1].split("</p>", 1)[0]
    assert value in html  # what was typed is kept
    assert stored(app) == before
