"""Paramètres: Entreprise (with the logo), Factures (numbering), Compte, and the sub-navigation."""

import io
from pathlib import Path

import pytest
from sqlalchemy import select
from werkzeug.security import check_password_hash

from billing import numbering, settings
from billing.models import Business, Country, NumberSequence, User, db
from tests.conftest import OWNER_PASSWORD
from tests.unit.test_uploads import jpeg_bytes, png_bytes


def business_data(**overrides):
    data = {
        "name": "Atelier Conseil SARL",
        "address": "12 rue des Lilas\n75011 Paris",
        "email": "contact@atelier.fr",
        "phone": "01 23 45 67 89",
        "country": "FR",
        "currency": "EUR",
        "timezone": "Europe/Paris",
        "vat_number": "FR32123456789",
        "gst_number": "",
        "qst_number": "",
        "siren": "123 456 789",
        "bce_number": "",
        "iban": "FR76 3000 6000 0112 3456 7890 189",
        "bic": "BNPAFRPPXXX",
    }
    data.update(overrides)
    return data


def billing_data(**overrides):
    data = {
        "payment_terms_days": "30",
        "invoice_number_format": "F-{YYYY}-{SEQ:04}",
        "invoice_next_number": "1",
        "credit_note_number_format": "AV-{YYYY}-{SEQ:04}",
        "credit_note_next_number": "1",
        "late_payment_text": "Pénalités de retard : trois fois le taux légal.",
        "legal_footer": "SARL au capital de 1 000 €",
    }
    data.update(overrides)
    return data


def stored(app) -> dict:
    """Every column of the business row, to prove a refused form changed nothing."""
    with app.app_context():
        row = settings.business()
        return {column.name: getattr(row, column.name) for column in Business.__table__.columns}


def uploaded_files(app) -> list[str]:
    return sorted(path.name for path in Path(app.config["UPLOAD_FOLDER"]).iterdir())


def page(response) -> str:
    return response.get_data(as_text=True)


# Sub-navigation and access -----------------------------------------------------------------


def test_settings_require_the_owner(client, owner):
    for path in ("/settings/", "/settings/billing", "/settings/emails", "/settings/payment",
                 "/settings/account", "/settings/logo", "/settings/terms"):
        assert client.get(path).headers["Location"].startswith("/login")


def test_every_section_has_the_sub_navigation(auth_client):
    for path in ("/settings/", "/settings/billing", "/settings/emails", "/settings/payment",
                 "/settings/account"):
        html = page(auth_client.get(path))
        for label in ("Entreprise", "Factures", "Taxes", "Emails", "Paiement en ligne", "Compte"):
            assert f">{label}</a>" in html
        assert 'href="/settings/taxes/"' in html
        assert f'href="{path}" aria-current="page"' in html


def test_a_post_without_csrf_token_changes_nothing(app, auth_client):
    before = stored(app)
    response = auth_client.post("/settings/", data=business_data(name="Autre"), csrf=False)
    assert response.status_code == 400
    assert stored(app) == before


# Entreprise --------------------------------------------------------------------------------


def test_business_page_shows_the_stored_values(auth_client):
    html = page(auth_client.get("/settings/"))
    assert 'value="Atelier Conseil"' in html
    assert '<option selected value="FR">France</option>' in html
    assert '<option selected value="Europe/Paris">Europe/Paris</option>' in html
    assert "Raison sociale" in html and "Fuseau horaire" in html


def test_business_settings_are_saved_and_normalized(app, auth_client):
    response = auth_client.post("/settings/", data=business_data())
    assert response.status_code == 303
    assert response.headers["Location"] == "/settings/"
    assert "Paramètres enregistrés." in page(auth_client.get("/settings/"))
    with app.app_context():
        row = settings.business()
        assert row.name == "Atelier Conseil SARL"
        assert row.address == "12 rue des Lilas\n75011 Paris"
        assert row.email == "contact@atelier.fr"
        assert row.siren == "123456789"
        assert row.iban == "FR7630006000011234567890189"
        assert row.bic == "BNPAFRPPXXX"


def test_quebec_business_keeps_tps_and_tvq_numbers(app, auth_client):
    data = business_data(country="CA-QC", currency="CAD", timezone="America/Toronto",
                         gst_number="123456789 RT0001", qst_number="1234567890 TQ0001",
                         siren="", iban="", bic="")
    assert auth_client.post("/settings/", data=data).status_code == 303
    with app.app_context():
        row = settings.business()
        assert (row.country, row.currency, row.timezone) == (Country.CA_QC, "CAD", "America/Toronto")
        assert row.gst_number == "123456789 RT0001"
        assert row.qst_number == "1234567890 TQ0001"


def test_belgian_bce_number_is_stored_as_ten_digits(app, auth_client):
    data = business_data(country="BE", timezone="Europe/Brussels", siren="",
                         bce_number="0123.456.789", iban="BE68 5390 0754 7034", bic="GEBABEBB")
    assert auth_client.post("/settings/", data=data).status_code == 303
    with app.app_context():
        assert settings.business().bce_number == "0123456789"


def test_switching_the_country_to_france_fills_the_late_payment_mention(app, auth_client):
    with app.app_context():
        settings.update(settings.business(), country=Country.BE, late_payment_text="")
        db.session.commit()
    assert auth_client.post("/settings/", data=business_data(country="FR")).status_code == 303
    with app.app_context():
        assert "indemnité forfaitaire pour frais de recouvrement de 40 €" in (
            settings.business().late_payment_text
        )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "", "Ce champ est obligatoire."),
        ("email", "pas-une-adresse", "Adresse email invalide."),
        ("email", "", "Ce champ est obligatoire."),
        ("iban", "FR76 3000 6000 0112 3456 7890 188", "la clé de contrôle ne correspond pas"),
        ("iban", "FR12", "IBAN invalide"),
        ("bic", "BNP", "BIC invalide"),
        ("siren", "12345678", "Le SIREN compte 9 chiffres"),
        ("bce_number", "12345", "Le numéro BCE compte 10 chiffres"),
        ("timezone", "Europe/Atlantide", "N&#39;est pas un choix valide."),
        ("currency", "XYZ", "N&#39;est pas un choix valide."),
        ("country", "XX", "Choix non valide"),
        ("phone", "0" * 51, "50"),
    ],
)
def test_bad_business_input_is_refused_next_to_the_field(app, auth_client, field, value, message):
    before = stored(app)
    data = business_data(**{field: value, "address": "Adresse tapée\nà garder"})
    response = auth_client.post("/settings/", data=data)
    assert response.status_code == 422
    html = page(response)
    assert f'id="{field}-error">' in html
    assert message in html.split(f'id="{field}-error">', 1)[1].split("</p>", 1)[0]
    assert "Adresse tapée\nà garder" in html
    assert stored(app) == before


def test_script_in_the_name_is_saved_and_shown_escaped(app, auth_client):
    name = "<script>alert(1)</script>"
    assert auth_client.post("/settings/", data=business_data(name=name)).status_code == 303
    html = page(auth_client.get("/settings/"))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)" not in html
    with app.app_context():
        assert settings.business().name == name


def test_script_in_a_refused_form_is_shown_escaped(auth_client):
    response = auth_client.post("/settings/", data=business_data(name="<script>x</script>", email=""))
    assert response.status_code == 422
    assert "&lt;script&gt;x&lt;/script&gt;" in page(response)
    assert "<script>x</script>" not in page(response)


# Logo --------------------------------------------------------------------------------------


def with_logo(data: bytes, filename="logo.png", **overrides):
    return {**business_data(**overrides), "logo": (io.BytesIO(data), filename)}


def test_logo_is_stored_under_a_random_name_and_served_to_the_owner(app, auth_client):
    logo = png_bytes()
    response = auth_client.post("/settings/", data=with_logo(logo, "../../mon logo.png"),
                                content_type="multipart/form-data")
    assert response.status_code == 303
    with app.app_context():
        name = settings.business().logo_path
    assert uploaded_files(app) == [name]
    assert name.endswith(".png") and "logo" not in name
    with auth_client.get("/settings/logo") as served:
        assert served.status_code == 200
        assert served.data == logo
        assert served.mimetype == "image/png"
        assert served.headers["Content-Disposition"].startswith("attachment")
        assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert "/settings/logo?v=" in page(auth_client.get("/settings/"))


def test_a_jpeg_logo_gets_the_jpg_extension_whatever_its_name(app, auth_client):
    response = auth_client.post("/settings/", data=with_logo(jpeg_bytes(), "logo.png"),
                                content_type="multipart/form-data")
    assert response.status_code == 303
    with auth_client.get("/settings/logo") as served:
        assert served.mimetype == "image/jpeg"


def test_a_new_logo_replaces_the_old_file(app, auth_client):
    auth_client.post("/settings/", data=with_logo(png_bytes()), content_type="multipart/form-data")
    auth_client.post("/settings/", data=with_logo(jpeg_bytes(), "b.jpg"),
                     content_type="multipart/form-data")
    with app.app_context():
        name = settings.business().logo_path
    assert uploaded_files(app) == [name]
    assert name.endswith(".jpg")


def test_the_logo_can_be_removed(app, auth_client):
    auth_client.post("/settings/", data=with_logo(png_bytes()), content_type="multipart/form-data")
    response = auth_client.post("/settings/", data=business_data(remove_logo="y"))
    assert response.status_code == 303
    with app.app_context():
        assert settings.business().logo_path is None
    assert uploaded_files(app) == []
    assert auth_client.get("/settings/logo").status_code == 404


def test_a_20_mb_logo_gets_the_size_message_and_changes_nothing(app, auth_client):
    before = stored(app)
    huge = b"\x89PNG\r\n\x1a\n" + b"\0" * (20 * 1024 * 1024)
    response = auth_client.post(
        "/settings/",
        data=with_logo(huge, name="Nouveau nom tapé", phone="06 00 00 00 00"),
        content_type="multipart/form-data",
    )
    response.request.environ["wsgi.input"].close()  # the test client spooled the body to a file
    assert response.status_code == 422
    html = page(response)
    error = html.split('id="logo-error">', 1)[1].split("</p>", 1)[0]
    assert error.startswith("Fichier trop volumineux (20") and error.endswith("2 Mo au maximum.")
    assert 'value="Nouveau nom tapé"' in html
    assert 'value="06 00 00 00 00"' in html
    assert stored(app) == before
    assert uploaded_files(app) == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"GIF89a" + b"\0" * 100, "Type de fichier refusé : PNG ou JPEG attendu."),
        (b"\x89PNG\r\n\x1a\n" + b"pas une image", "Image illisible"),
    ],
)
def test_a_logo_that_is_not_a_real_image_is_refused(app, auth_client, data, message):
    before = stored(app)
    response = auth_client.post("/settings/", data=with_logo(data), content_type="multipart/form-data")
    assert response.status_code == 422
    assert message in page(response).split('id="logo-error">', 1)[1]
    assert stored(app) == before
    assert uploaded_files(app) == []


def test_a_logo_path_outside_the_upload_folder_is_never_served(app, auth_client):
    with app.app_context():
        settings.business().logo_path = "../secret_key"
        db.session.commit()
    assert auth_client.get("/settings/logo").status_code == 404


# Factures -------------------------------------------------------------------------------


def test_billing_page_shows_the_next_numbers_for_this_year(app, auth_client):
    with app.app_context():
        year = settings.today().year
    html = page(auth_client.get("/settings/billing"))
    assert f"Prochaine facture :\n        <strong>F-{year}-0001</strong>" in html
    assert f"<strong>AV-{year}-0001</strong>" in html
    assert "TVA non applicable, art. 293 B du CGI" in html
    assert "indemnité forfaitaire pour frais de recouvrement de 40 €" in html


def test_billing_settings_and_next_numbers_are_saved(app, auth_client):
    data = billing_data(payment_terms_days="45", invoice_number_format="FA{YY}-{SEQ:03}",
                        invoice_next_number="120", credit_note_next_number="7", vat_exempt="y")
    response = auth_client.post("/settings/billing", data=data)
    assert response.status_code == 303
    assert response.headers["Location"] == "/settings/billing"
    with app.app_context():
        row = settings.business()
        today = settings.today()
        assert row.payment_terms_days == 45
        assert row.invoice_number_format == "FA{YY}-{SEQ:03}"
        assert row.vat_exempt is True
        assert row.legal_footer == "SARL au capital de 1 000 €"
        assert numbering.next_value("invoice", today.year) == 120
        assert numbering.next_value("credit_note", today.year) == 7
        assert numbering.allocate("invoice", today) == f"FA{today.year % 100:02d}-120"
    html = page(auth_client.get("/settings/billing"))
    assert "Paramètres enregistrés." in html
    assert 'value="120"' in html


def test_a_format_without_year_counts_in_year_zero(app, auth_client):
    data = billing_data(invoice_number_format="F{SEQ:05}", invoice_next_number="300")
    assert auth_client.post("/settings/billing", data=data).status_code == 303
    with app.app_context():
        assert numbering.next_value("invoice", 0) == 300


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("invoice_number_format", "F-{YYYY}", "Le format doit contenir une seule fois {SEQ}"),
        ("invoice_number_format", "F-{ANNEE}-{SEQ}", "Variable inconnue : {ANNEE}."),
        ("credit_note_number_format", "", "Ce champ est obligatoire."),
        ("invoice_next_number", "0", "Le prochain numéro doit être au moins 1."),
        ("invoice_next_number", "", "Ce champ est obligatoire."),
        ("credit_note_next_number", "deux", "N&#39;est pas un entier valide."),
        ("payment_terms_days", "366", "entre 0 et 365 jours"),
        ("payment_terms_days", "-1", "entre 0 et 365 jours"),
    ],
)
def test_bad_billing_input_is_refused_next_to_the_field(app, auth_client, field, value, message):
    before = stored(app)
    data = billing_data(**{field: value, "legal_footer": "Pied tapé <b>gras</b>"})
    response = auth_client.post("/settings/billing", data=data)
    assert response.status_code == 422
    html = page(response)
    assert message in html.split(f'id="{field}-error">', 1)[1].split("</p>", 1)[0]
    assert "Pied tapé &lt;b&gt;gras&lt;/b&gt;" in html
    assert stored(app) == before
    with app.app_context():
        assert db.session.scalar(select(NumberSequence)) is None


def test_next_number_cannot_go_back_to_a_number_already_issued(app, auth_client):
    with app.app_context():
        today = settings.today()
        for _ in range(5):
            numbering.allocate("invoice", today)
        db.session.commit()
    before = stored(app)
    data = billing_data(invoice_next_number="3", payment_terms_days="10")
    response = auth_client.post("/settings/billing", data=data)
    assert response.status_code == 422
    html = page(response)
    assert "Le numéro 5 a déjà été attribué : le prochain numéro doit être au moins 6." in html
    assert 'value="10"' in html
    assert stored(app) == before
    with app.app_context():
        assert numbering.next_value("invoice", today.year) == 6


def test_live_preview_answers_htmx_with_the_preview_only(app, auth_client):
    with app.app_context():
        yy = settings.today().year % 100
    response = auth_client.get(
        "/settings/billing",
        query_string={"invoice_number_format": "FAC{YY}-{SEQ:03}", "invoice_next_number": "42",
                      "credit_note_number_format": "AV-{SEQ}", "credit_note_next_number": ""},
        headers={"HX-Request": "true"},
    )
    html = page(response)
    assert response.status_code == 200
    assert html.strip().startswith('<div id="number-preview"')
    assert f"<strong>FAC{yy}-042</strong>" in html
    assert "<strong>AV-1</strong>" in html
    assert "<html" not in html


def test_live_preview_explains_a_bad_format(auth_client):
    response = auth_client.get("/settings/billing", query_string={"invoice_number_format": "F-{X}"},
                               headers={"HX-Request": "true"})
    assert 'class="error">Variable inconnue : {X}.' in page(response)


def test_preview_url_opened_directly_is_a_full_page(auth_client):
    response = auth_client.get("/settings/billing", query_string={"invoice_number_format": "Z{SEQ}"})
    html = page(response)
    assert "<html" in html and "<strong>Z1</strong>" in html


def test_refused_billing_form_previews_what_was_typed(auth_client):
    response = auth_client.post("/settings/billing",
                                data=billing_data(invoice_number_format="T{SEQ:02}", payment_terms_days="999"))
    assert response.status_code == 422
    assert "<strong>T01</strong>" in page(response)


# Compte ------------------------------------------------------------------------------------


def test_interface_language_is_saved(app, auth_client, owner):
    response = auth_client.post("/settings/account", data={"language": "en"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/settings/account"
    assert '<html lang="en">' in page(auth_client.get("/settings/account"))
    with app.app_context():
        assert db.session.get(User, owner).language == "en"


def test_unknown_language_is_refused(app, auth_client, owner):
    response = auth_client.post("/settings/account", data={"language": "de"})
    assert response.status_code == 422
    assert 'id="language-error">N&#39;est pas un choix valide.' in page(response)
    with app.app_context():
        assert db.session.get(User, owner).language == "fr"


def test_password_change_replaces_the_hash(app, auth_client, owner):
    new = "un nouveau mot de passe"
    response = auth_client.post("/settings/account/password", data={
        "current_password": OWNER_PASSWORD, "new_password": new, "new_password_again": new})
    assert response.status_code == 303
    assert "Mot de passe modifié." in page(auth_client.get("/settings/account"))
    with app.app_context():
        assert check_password_hash(db.session.get(User, owner).password_hash, new)


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"current_password": "faux mot de passe", "new_password": "un nouveau mot de passe",
          "new_password_again": "un nouveau mot de passe"},
         "current_password", "Le mot de passe actuel est incorrect."),
        ({"current_password": OWNER_PASSWORD, "new_password": "court", "new_password_again": "court"},
         "new_password", "Au moins 10 caractères."),
        ({"current_password": OWNER_PASSWORD, "new_password": "un nouveau mot de passe",
          "new_password_again": "un autre mot de passe"},
         "new_password_again", "Les deux mots de passe ne sont pas identiques."),
        ({"current_password": "", "new_password": "", "new_password_again": ""},
         "current_password", "Ce champ est obligatoire."),
    ],
)
def test_bad_password_change_is_refused(app, auth_client, owner, data, field, message):
    with app.app_context():
        before = db.session.get(User, owner).password_hash
    response = auth_client.post("/settings/account/password", data=data)
    assert response.status_code == 422
    html = page(response)
    assert f'id="{field}-error">{message}' in html.replace("&#39;", "'")
    assert OWNER_PASSWORD not in html
    with app.app_context():
        assert db.session.get(User, owner).password_hash == before
