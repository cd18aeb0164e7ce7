"""Paramètres › Paiement en ligne (Stripe) and the rule that no secret is ever echoed into a page."""

import pytest

from billing import settings
from billing.models import db
from tests.web.test_settings import billing_data, business_data, page, stored
from tests.web.test_settings_emails import emails_data

SMTP_SECRET = "smtp-pass-7f3a9c"
STRIPE_SECRET = "sk_test_51Secret7f3a9cDoNotShow"
WEBHOOK_SECRET = "whsec_7f3a9cDoNotShowEither"


def payment_data(**overrides):
    data = {"stripe_publishable_key": "pk_test_51Publishable", "stripe_secret_key": "",
            "stripe_webhook_secret": ""}
    data.update(overrides)
    return data


@pytest.fixture
def secrets_stored(app, owner):
    with app.app_context():
        row = settings.business()
        row.smtp_host = "smtp.example.fr"
        row.smtp_password = SMTP_SECRET
        row.stripe_publishable_key = "pk_test_51Publishable"
        row.stripe_secret_key = STRIPE_SECRET
        row.stripe_webhook_secret = WEBHOOK_SECRET
        db.session.commit()


def assert_no_secret(html: str) -> None:
    for secret in (SMTP_SECRET, STRIPE_SECRET, WEBHOOK_SECRET):
        assert secret not in html


def test_stripe_keys_are_saved(app, auth_client):
    response = auth_client.post("/settings/payment", data=payment_data(
        stripe_secret_key=STRIPE_SECRET, stripe_webhook_secret=WEBHOOK_SECRET))
    assert response.status_code == 303
    assert response.headers["Location"] == "/settings/payment"
    with app.app_context():
        row = settings.business()
        assert row.stripe_publishable_key == "pk_test_51Publishable"
        assert row.stripe_secret_key == STRIPE_SECRET
        assert row.stripe_webhook_secret == WEBHOOK_SECRET
        assert row.stripe_configured
    html = page(auth_client.get("/settings/payment"))
    assert "Paramètres enregistrés." in html
    assert 'value="pk_test_51Publishable"' in html
    assert "mode test" in html
    assert html.count('<span class="badge ok">configuré</span>') == 3


def test_payment_page_says_not_configured_at_first(auth_client):
    html = page(auth_client.get("/settings/payment"))
    assert html.count('<span class="badge off">non configuré</span>') == 3


def test_payment_page_gives_the_webhook_address_to_paste_into_stripe(auth_client):
    html = page(auth_client.get("/settings/payment"))
    assert "ajoutez un webhook vers http://localhost/webhooks/stripe pour les événements" in html


def test_blank_stripe_secrets_keep_the_stored_ones(app, auth_client, secrets_stored):
    assert auth_client.post("/settings/payment", data=payment_data()).status_code == 303
    with app.app_context():
        row = settings.business()
        assert (row.stripe_secret_key, row.stripe_webhook_secret) == (STRIPE_SECRET, WEBHOOK_SECRET)


def test_the_boxes_clear_the_stripe_secrets(app, auth_client, secrets_stored):
    response = auth_client.post("/settings/payment", data=payment_data(
        clear_stripe_secret_key="y", clear_stripe_webhook_secret="y"))
    assert response.status_code == 303
    with app.app_context():
        row = settings.business()
        assert (row.stripe_secret_key, row.stripe_webhook_secret) == ("", "")
        assert not row.stripe_configured


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("stripe_publishable_key", "sk_live_oops", "Cette clé doit commencer par pk_."),
        ("stripe_secret_key", "pk_test_oops", "Cette clé doit commencer par sk_ ou rk_."),
        ("stripe_webhook_secret", "secret", "Cette clé doit commencer par whsec_."),
    ],
)
def test_keys_of_the_wrong_kind_are_refused(app, auth_client, secrets_stored, field, value, message):
    before = stored(app)
    response = auth_client.post("/settings/payment", data=payment_data(**{field: value}))
    assert response.status_code == 422
    html = page(response)
    assert f'id="{field}-error">{message}' in html
    assert_no_secret(html)
    assert stored(app) == before


def test_no_settings_page_ever_shows_a_stored_secret(auth_client, secrets_stored):
    pages = [auth_client.get(path) for path in (
        "/settings/", "/settings/billing", "/settings/emails", "/settings/payment", "/settings/account")]
    pages += [
        auth_client.post("/settings/", data=business_data(email="")),
        auth_client.post("/settings/billing", data=billing_data(payment_terms_days="-5")),
        auth_client.post("/settings/emails", data=emails_data(smtp_port="0")),
        auth_client.post("/settings/emails/test", data={"to": "x"}),
        auth_client.post("/settings/payment", data=payment_data(stripe_publishable_key="nope")),
        auth_client.post("/settings/account", data={"language": "xx"}),
    ]
    for response in pages:
        assert response.status_code in (200, 422)
        assert_no_secret(page(response))
    assert page(pages[2]).count('<span class="badge ok">configuré</span>') == 1
