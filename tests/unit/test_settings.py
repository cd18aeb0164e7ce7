"""Business settings rules: templates, bank and company numbers, country defaults, secrets."""

from datetime import date

import pytest

from billing import settings
from billing.models import Country, User, db
from tests.conftest import TODAY


@pytest.fixture
def ctx(app, owner):
    with app.app_context():
        yield


def test_fill_template_replaces_the_five_placeholders():
    text = settings.fill_template(
        "Facture {numero} pour {client} : {montant}, échéance {echeance}. {lien}",
        {"numero": "F-2026-0001", "client": "Boulangerie Martin", "montant": "120,00 €",
         "echeance": "30/04/2026", "lien": "https://x.fr/p/abc"},
    )
    assert text == ("Facture F-2026-0001 pour Boulangerie Martin : 120,00 €, "
                    "échéance 30/04/2026. https://x.fr/p/abc")


def test_fill_template_leaves_other_braces_alone():
    text = settings.fill_template("{numero} {foo} {{numero}} { lien } {}", {"numero": "F-1"})
    assert text == "F-1 {foo} {F-1} { lien } {}"


def test_fill_template_keeps_a_placeholder_without_value():
    assert settings.fill_template("{lien}", {}) == "{lien}"


def test_check_template_accepts_known_placeholders():
    settings.check_template(settings.DEFAULT_BODY)
    settings.check_template("Facture {numero} — 100 % {}")


def test_check_template_names_each_unknown_placeholder_once():
    with pytest.raises(settings.SettingsError) as error:
        settings.check_template("{foo} {numero} {Client} {foo}")
    message = str(error.value)
    assert message.startswith("Variable inconnue : {foo}, {Client}.")
    assert "{numero}, {client}, {montant}, {echeance}, {lien}" in message


def test_iban_is_stored_without_spaces_and_checked():
    assert settings.normalize_iban("fr76 3000 6000 0112 3456 7890 189") == "FR7630006000011234567890189"
    assert settings.normalize_iban("BE68 5390 0754 7034") == "BE68539007547034"
    with pytest.raises(settings.SettingsError, match="clé de contrôle"):
        settings.normalize_iban("FR76 3000 6000 0112 3456 7890 188")
    with pytest.raises(settings.SettingsError, match="IBAN invalide"):
        settings.normalize_iban("1234")


def test_bic_has_8_or_11_characters():
    assert settings.normalize_bic("bnpa fr pp xxx") == "BNPAFRPPXXX"
    assert settings.normalize_bic("GEBABEBB") == "GEBABEBB"
    with pytest.raises(settings.SettingsError, match="BIC invalide"):
        settings.normalize_bic("BNPA12")


def test_siren_has_9_digits():
    assert settings.normalize_siren("123 456 789") == "123456789"
    with pytest.raises(settings.SettingsError, match="9 chiffres"):
        settings.normalize_siren("12345678")


def test_bce_number_has_10_digits():
    assert settings.normalize_bce("BE 0123.456.789") == "0123456789"
    with pytest.raises(settings.SettingsError, match="10 chiffres"):
        settings.normalize_bce("123.456.789")


def test_today_is_the_date_in_the_business_time_zone(ctx):
    row = settings.business()
    row.timezone = "Pacific/Kiritimati"  # UTC+14
    east = settings.today(row)
    row.timezone = "Pacific/Pago_Pago"  # UTC-11: always another date
    west = settings.today(row)
    assert east != west
    # The tests' clock reads 2026-11-24 09:00 UTC: 23:00 in Kiritimati, 22:00 the day before in Pago Pago.
    assert (east, west) == (TODAY, date(2026, 11, 23))


def test_switching_to_france_fills_an_empty_late_payment_text(ctx):
    row = settings.business()
    settings.update(row, country=Country.BE, late_payment_text="")
    assert row.late_payment_text == ""
    settings.update(row, country=Country.FR)
    assert "indemnité forfaitaire" in row.late_payment_text


def test_switching_to_france_keeps_a_late_payment_text_already_written(ctx):
    row = settings.business()
    settings.update(row, country=Country.BE, late_payment_text="Mon texte")
    settings.update(row, country=Country.FR)
    assert row.late_payment_text == "Mon texte"


def test_update_refuses_secrets_and_unknown_fields(ctx):
    row = settings.business()
    with pytest.raises(AttributeError):
        settings.update(row, smtp_password="x")
    with pytest.raises(AttributeError):
        settings.update(row, nope="x")


def test_a_blank_secret_keeps_the_stored_one(ctx):
    row = settings.business()
    settings.update_secret(row, "stripe_secret_key", "sk_test_1")
    settings.update_secret(row, "stripe_secret_key", "")
    assert row.stripe_secret_key == "sk_test_1"
    settings.update_secret(row, "stripe_secret_key", "", clear=True)
    assert row.stripe_secret_key == ""


def test_a_new_secret_wins_over_the_clear_box(ctx):
    row = settings.business()
    settings.update_secret(row, "smtp_password", "nouveau", clear=True)
    assert row.smtp_password == "nouveau"


def test_language_must_be_french_or_english(ctx):
    user = db.session.get(User, 1)
    settings.set_language(user, "en")
    assert user.language == "en"
    with pytest.raises(settings.SettingsError):
        settings.set_language(user, "de")
    assert user.language == "en"
