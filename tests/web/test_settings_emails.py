"""Paramètres › Emails: message templates, terms PDF, SMTP settings and « Tester »."""

import io
from pathlib import Path

import pytest

from billing import settings
from billing.models import SmtpSecurity, db
from tests.conftest import free_port
from tests.unit.test_mailer import header
from tests.web.test_settings import page, stored, uploaded_files

PDF_BYTES = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


def emails_data(**overrides):
    data = {
        "email_subject_template": "Facture {numero} — {client}",
        "email_body_template": "Bonjour {client},\nVoici la facture {numero} ({montant}) : {lien}",
        "email_signature": "Marie Dupont\nAtelier Conseil",
        "smtp_host": "smtp.example.fr",
        "smtp_port": "587",
        "smtp_security": "starttls",
        "smtp_username": "marie",
        "smtp_password": "",
        "smtp_sender": "factures@atelier.fr",
    }
    data.update(overrides)
    return data


def configure_smtp(app, host, port, security=SmtpSecurity.NONE):
    with app.app_context():
        row = settings.business()
        row.smtp_host, row.smtp_port, row.smtp_security = host, port, security
        row.smtp_sender = "factures@atelier.fr"
        db.session.commit()


def test_emails_page_shows_defaults_and_the_outbox_notice(auth_client):
    html = page(auth_client.get("/settings/emails"))
    assert 'value="Facture {numero}"' in html
    assert "{numero}, {client}, {montant}, {echeance}, {lien}" in html
    assert "instance/mail-outbox" in html
    assert ">Tester</button>" in html
    assert 'value="owner@example.fr"' in html


def test_email_settings_are_saved(app, auth_client):
    response = auth_client.post("/settings/emails", data=emails_data(smtp_password="s3cret-smtp"))
    assert response.status_code == 303
    assert response.headers["Location"] == "/settings/emails"
    assert "Paramètres enregistrés." in page(auth_client.get("/settings/emails"))
    with app.app_context():
        row = settings.business()
        assert row.email_subject_template == "Facture {numero} — {client}"
        assert row.email_signature == "Marie Dupont\nAtelier Conseil"
        assert (row.smtp_host, row.smtp_port, row.smtp_security) == ("smtp.example.fr", 587,
                                                                     SmtpSecurity.STARTTLS)
        assert row.smtp_username == "marie"
        assert row.smtp_password == "s3cret-smtp"
        assert row.smtp_sender == "factures@atelier.fr"


def test_blank_smtp_password_keeps_the_stored_one_and_the_box_clears_it(app, auth_client):
    auth_client.post("/settings/emails", data=emails_data(smtp_password="s3cret-smtp"))
    auth_client.post("/settings/emails", data=emails_data(smtp_port="2525"))
    with app.app_context():
        assert settings.business().smtp_password == "s3cret-smtp"
    assert "configuré" in page(auth_client.get("/settings/emails"))
    auth_client.post("/settings/emails", data=emails_data(clear_smtp_password="y"))
    with app.app_context():
        assert settings.business().smtp_password == ""


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("email_body_template", "Bonjour {foo}, facture {numero} {bar}",
         "Variable inconnue : {foo}, {bar}. Variables permises : {numero}, {client}, {montant}, "
         "{echeance}, {lien}, {solde}."),
        ("email_subject_template", "Facture {num}", "Variable inconnue : {num}."),
        ("email_subject_template", "", "Ce champ est obligatoire."),
        ("smtp_port", "70000", "Le port doit être compris entre 1 et 65535."),
        ("smtp_port", "", "Ce champ est obligatoire."),
        ("smtp_security", "tls13", "Choix non valide"),
        ("smtp_sender", "factures@", "Adresse email invalide."),
    ],
)
def test_bad_email_settings_are_refused_next_to_the_field(app, auth_client, field, value, message):
    before = stored(app)
    data = emails_data(**{field: value, "email_signature": "Signature <script>tapée</script>",
                          "smtp_password": "typed-secret"})
    response = auth_client.post("/settings/emails", data=data)
    assert response.status_code == 422
    html = page(response)
    assert message in html.split(f'id="{field}-error">', 1)[1].split("</p>", 1)[0]
    assert "Signature &lt;script&gt;tapée&lt;/script&gt;" in html
    assert "typed-secret" not in html
    assert stored(app) == before


# Terms and conditions PDF ------------------------------------------------------------------


def with_terms(data: bytes, filename="Conditions générales.pdf", **overrides):
    return {**emails_data(**overrides), "terms": (io.BytesIO(data), filename)}


def test_terms_pdf_is_stored_and_downloaded_as_an_attachment(app, auth_client):
    response = auth_client.post("/settings/emails", data=with_terms(PDF_BYTES),
                                content_type="multipart/form-data")
    assert response.status_code == 303
    with app.app_context():
        row = settings.business()
        assert row.terms_filename == "Conditions générales.pdf"
        assert uploaded_files(app) == [row.terms_path]
    assert "Conditions générales.pdf</a>" in page(auth_client.get("/settings/emails"))
    with auth_client.get("/settings/terms") as served:
        assert served.data == PDF_BYTES
        assert served.mimetype == "application/pdf"
        assert served.headers["Content-Disposition"].startswith("attachment")
        assert "Conditions%20g%C3%A9n%C3%A9rales.pdf" in served.headers["Content-Disposition"]


def test_terms_can_be_removed(app, auth_client):
    auth_client.post("/settings/emails", data=with_terms(PDF_BYTES), content_type="multipart/form-data")
    response = auth_client.post("/settings/emails", data=emails_data(remove_terms="y"))
    assert response.status_code == 303
    with app.app_context():
        assert settings.business().terms_path is None
    assert uploaded_files(app) == []
    assert auth_client.get("/settings/terms").status_code == 404


def test_terms_that_are_not_a_pdf_are_refused(app, auth_client):
    before = stored(app)
    response = auth_client.post("/settings/emails", data=with_terms(b"<html>", "cgv.pdf"),
                                content_type="multipart/form-data")
    assert response.status_code == 422
    assert 'id="terms-error">Type de fichier refusé : PDF attendu.' in page(response)
    assert stored(app) == before
    assert uploaded_files(app) == []


def test_terms_over_10_mb_are_refused(app, auth_client):
    before = stored(app)
    big = PDF_BYTES + b"\0" * (11 * 1024 * 1024)
    response = auth_client.post("/settings/emails", data=with_terms(big),
                                content_type="multipart/form-data")
    response.request.environ["wsgi.input"].close()  # the test client spooled the body to a file
    assert response.status_code == 422
    assert "10 Mo au maximum." in page(response)
    assert stored(app) == before
    assert uploaded_files(app) == []


def test_terms_download_is_404_without_terms(auth_client):
    assert auth_client.get("/settings/terms").status_code == 404


# « Tester » --------------------------------------------------------------------------------


def test_tester_sends_a_test_message_to_the_smtp_server(app, auth_client, smtp_server):
    configure_smtp(app, smtp_server.host, smtp_server.port)
    response = auth_client.post("/settings/emails/test", data={"to": "moi@example.fr"})
    assert response.status_code == 303
    assert "Message de test envoyé à moi@example.fr" in page(auth_client.get("/settings/emails"))
    [received] = smtp_server.messages
    assert received.rcpt_tos == ["moi@example.fr"]
    assert header(received.data, "From") == "Atelier Conseil <factures@atelier.fr>"
    assert header(received.data, "To") == "moi@example.fr"
    assert header(received.data, "Subject") == "Facturier : message de test"


def test_tester_with_htmx_answers_the_result_block(app, auth_client, smtp_server):
    configure_smtp(app, smtp_server.host, smtp_server.port)
    response = auth_client.post("/settings/emails/test", data={"to": "moi@example.fr"},
                                headers={"HX-Request": "true"})
    html = page(response)
    assert response.status_code == 200
    assert html.strip().startswith('<section id="smtp-test"')
    assert "flash-success" in html and "moi@example.fr" in html
    assert len(smtp_server.messages) == 1


def test_tester_against_a_closed_port_shows_a_clear_error(app, auth_client):
    port = free_port()
    configure_smtp(app, "127.0.0.1", port)
    response = auth_client.post("/settings/emails/test", data={"to": "moi@example.fr"})
    assert response.status_code == 422
    html = page(response)
    assert f"Connexion refusée par 127.0.0.1:{port}" in html
    assert "flash-error" in html
    assert 'value="smtp.example.fr"' not in html and f'value="{port}"' in html


def test_tester_error_with_htmx_stays_in_the_test_block(app, auth_client):
    configure_smtp(app, "127.0.0.1", 1)
    response = auth_client.post("/settings/emails/test", data={"to": "moi@example.fr"},
                                headers={"HX-Request": "true"})
    assert response.status_code == 422
    html = page(response)
    assert html.strip().startswith('<section id="smtp-test"')
    assert "Connexion refusée par 127.0.0.1:1" in html


def test_tester_without_smtp_explains_the_outbox_folder(auth_client):
    response = auth_client.post("/settings/emails/test", data={"to": "moi@example.fr"})
    assert response.status_code == 422
    html = page(response)
    assert "flash-warning" in html
    assert "Aucun serveur SMTP n&#39;est configuré : les messages sont écrits dans le dossier " in html
    assert "/instance/mail-outbox" in html


@pytest.mark.parametrize(("to", "message"), [("", "Ce champ est obligatoire."),
                                             ("moi@", "Adresse email invalide.")])
def test_tester_refuses_a_bad_recipient(app, auth_client, smtp_server, to, message):
    configure_smtp(app, smtp_server.host, smtp_server.port)
    response = auth_client.post("/settings/emails/test", data={"to": to})
    assert response.status_code == 422
    assert f'id="to-error">{message}' in page(response)
    assert smtp_server.messages == []


def test_uploaded_files_live_in_the_instance_upload_folder(app):
    assert Path(app.config["UPLOAD_FOLDER"]).parent == Path(app.instance_path)
