"""« Envoyer la facture »: the modal (or page), « Aperçu », « Envoyer le message », and what is refused."""

import io
import json

import pytest
from markupsafe import escape
from sqlalchemy import func, select

from billing import invoices, settings
from billing.models import Attachment, Event, Invoice, InvoiceStatus, Message, db
from tests.conftest import OWNER_EMAIL
from tests.factories import make_client, make_invoice
from tests.web.test_settings_emails import configure_smtp

HTMX = {"HX-Request": "true"}
PDF_BYTES = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


@pytest.fixture
def invoice_id(app, owner):
    """« À envoyer »: F-2026-0001 for Boulangerie Martin (compta@martin.fr), 100,00 €."""
    with app.app_context():
        invoice = make_invoice(make_client())
        invoices.finalize(invoice, settings.today())
        db.session.commit()
        return invoice.id


def text(response) -> str:
    return response.get_data(as_text=True)


def form_data(**overrides) -> dict:
    data = {
        "recipients": "compta@martin.fr",
        "cc": "",
        "subject": "Facture F-2026-0001",
        "body": "Bonjour,\r\n\r\nVoici la facture : {lien}\r\n\r\n-- \r\nMarie",  # as browsers send it
        "attach_pdf": "y",
    }
    data.update(overrides)
    return {name: value for name, value in data.items() if value is not None}


def with_files(data: dict, *files) -> dict:
    return {**data, "documents": [(io.BytesIO(content), name) for name, content in files]}


def post(auth_client, invoice_id, data, preview=False, **kwargs):
    url = f"/invoices/{invoice_id}/send" + ("/preview" if preview else "")
    response = auth_client.post(url, data=data, content_type="multipart/form-data", **kwargs)
    response.request.environ["wsgi.input"].close()  # the test client may spool a big body to a file
    return response


def snapshot(app, invoice_id) -> tuple:
    """What a refused form must leave untouched."""
    with app.app_context():
        invoice = db.session.get(Invoice, invoice_id)
        return (
            db.session.scalar(select(func.count()).select_from(Message)),
            db.session.scalar(select(func.count()).select_from(Attachment)),
            db.session.scalar(select(func.count()).select_from(Event)),
            invoice.status, invoice.sent_revision, invoice.sent_at,
        )


def only_message(app) -> Message:
    with app.app_context():
        message = db.session.scalars(select(Message)).one()
        message.attachments  # loaded before the context ends
        return message


def field_error(html: str, field: str) -> str:
    return html.split(f'id="{field}-error">', 1)[1].split("</p>", 1)[0]


# --- Opening the modal --------------------------------------------------------


def test_the_sending_step_opens_the_modal_in_the_modal_slot(auth_client, invoice_id):
    html = text(auth_client.get(f"/invoices/{invoice_id}?step=sending"))
    assert (f'href="/invoices/{invoice_id}/send" hx-get="/invoices/{invoice_id}/send" '
            'hx-target="#modal">Envoyer la facture</a>') in html


def test_a_draft_or_a_credit_note_has_no_send_button(app, auth_client, owner):
    with app.app_context():
        draft = make_invoice(make_client())
        db.session.commit()
        draft_id = draft.id
    assert "/send" not in text(auth_client.get(f"/invoices/{draft_id}?step=sending"))


def test_htmx_gets_a_dialog_prefilled_from_the_client_and_the_template(auth_client, invoice_id):
    response = auth_client.get(f"/invoices/{invoice_id}/send", headers=HTMX)
    html = text(response)
    assert response.status_code == 200
    assert html.lstrip().startswith('<dialog id="send-dialog"') and "<html" not in html
    assert "Envoyer la facture F-2026-0001" in html
    assert 'name="recipients" type="text" value="compta@martin.fr"' in html
    assert 'name="subject" type="text" value="Facture F-2026-0001"' in html
    assert "Bonjour Boulangerie Martin," in html and "100,00\xa0€" in html and "{lien}" in html
    assert '<input checked id="attach_pdf"' in html
    assert '<input id="bcc_me" name="bcc_me" type="checkbox" value="y">' in html
    assert "Une copie cachée à owner@example.fr" in html
    assert 'hx-preserve="true" id="documents" multiple name="documents" type="file"' in html
    assert 'formaction="/invoices/%d/send/preview">Aperçu</button>' % invoice_id in html
    assert "data-close-dialog" in html


def test_opened_directly_it_is_a_full_page_with_the_same_form(auth_client, invoice_id):
    html = text(auth_client.get(f"/invoices/{invoice_id}/send"))
    assert html.startswith("<!doctype html>") and "<dialog" not in html
    assert "<h1>Envoyer la facture F-2026-0001</h1>" in html
    assert 'value="compta@martin.fr"' in html
    assert f'<a href="/invoices/{invoice_id}">Annuler</a>' in html


def test_without_smtp_the_modal_says_messages_go_to_the_outbox_folder(app, auth_client, invoice_id):
    html = text(auth_client.get(f"/invoices/{invoice_id}/send", headers=HTMX))
    assert "Aucun serveur SMTP n'est configuré : le message sera écrit dans le dossier" in html
    assert "instance/mail-outbox" in html
    configure_smtp(app, "smtp.example.fr", 587)
    assert "mail-outbox" not in text(auth_client.get(f"/invoices/{invoice_id}/send", headers=HTMX))


def test_the_terms_pdf_is_announced_when_set(app, auth_client, invoice_id):
    auth_client.post("/settings/emails", content_type="multipart/form-data", data={
        "email_subject_template": "Facture {numero}", "email_body_template": "{lien}",
        "smtp_port": "587", "smtp_security": "starttls", "terms": (io.BytesIO(PDF_BYTES), "CGV.pdf")})
    html = text(auth_client.get(f"/invoices/{invoice_id}/send", headers=HTMX))
    assert "Les conditions générales (« CGV.pdf ») sont jointes automatiquement." in html


def test_an_unknown_invoice_is_404(auth_client, owner):
    assert auth_client.get("/invoices/999/send").status_code == 404
    assert post(auth_client, 999, form_data()).status_code == 404
    assert post(auth_client, 999, form_data(), preview=True).status_code == 404


@pytest.mark.parametrize("status", [InvoiceStatus.DRAFT, InvoiceStatus.CANCELLED, InvoiceStatus.PAID])
def test_an_invoice_that_cannot_be_sent_is_refused_with_409(app, auth_client, invoice_id, status):
    with app.app_context():
        db.session.get(Invoice, invoice_id).status = status
        db.session.commit()
    before = snapshot(app, invoice_id)
    expected = "Seule une facture « À envoyer » ou « Paiement attendu » peut être envoyée"
    for response in (
        auth_client.get(f"/invoices/{invoice_id}/send"),
        post(auth_client, invoice_id, form_data()),
        post(auth_client, invoice_id, form_data(), preview=True),
    ):
        assert response.status_code == 409
        assert expected in text(response)
    htmx = auth_client.get(f"/invoices/{invoice_id}/send", headers=HTMX)
    assert htmx.status_code == 409 and htmx.headers["HX-Refresh"] == "true"
    assert snapshot(app, invoice_id) == before


def test_posting_without_the_csrf_token_is_refused(app, auth_client, invoice_id):
    before = snapshot(app, invoice_id)
    response = auth_client.post(f"/invoices/{invoice_id}/send", data=form_data(), csrf=False)
    assert response.status_code == 400
    assert snapshot(app, invoice_id) == before


# --- « Aperçu » ---------------------------------------------------------------


def test_preview_shows_exactly_what_the_client_receives_and_writes_nothing(app, auth_client, invoice_id):
    before = snapshot(app, invoice_id)
    data = with_files(form_data(cc="dg@martin.fr", bcc_me="y"), ("Devis signé.pdf", PDF_BYTES))
    response = post(auth_client, invoice_id, data, preview=True, headers=HTMX)
    html = text(response)
    assert response.status_code == 200
    assert html.lstrip().startswith('<form id="send-form"')
    preview = html.split('id="send-preview"', 1)[1]
    assert "<dt>De</dt><dd>Atelier Conseil &lt;owner@example.fr&gt;</dd>" in preview
    assert "<dt>À</dt><dd>compta@martin.fr</dd>" in preview
    assert "<dt>Cc</dt><dd>dg@martin.fr</dd>" in preview
    assert f"<dt>CCI (vous seul le voyez)</dt><dd>{OWNER_EMAIL}</dd>" in preview
    assert "<dt>Titre</dt><dd>Facture F-2026-0001</dd>" in preview
    assert "Voici la facture : http://localhost/p/…" in preview
    assert "<li>Facture-F-2026-0001.pdf <span class=\"muted\">" in preview
    assert "<li>Devis signé.pdf <span class=\"muted\">50 o</span></li>" in preview
    assert ">Envoyer le message</button>" in preview
    assert 'value="dg@martin.fr"' in html  # the form stays as typed
    assert snapshot(app, invoice_id) == before


def test_preview_without_javascript_is_a_full_page_that_asks_to_pick_the_files_again(
    auth_client, invoice_id
):
    data = with_files(form_data(), ("notes.txt", b"Compte rendu"))
    html = text(post(auth_client, invoice_id, data, preview=True))
    assert html.startswith("<!doctype html>")
    assert "<li>notes.txt <span class=\"muted\">12 o</span></li>" in html
    assert "choisissez à nouveau les documents avant d’envoyer" in html
    without_files = text(post(auth_client, invoice_id, form_data(), preview=True))
    assert "choisissez à nouveau" not in without_files


def test_the_preview_uses_billing_base_url_for_the_link(app, auth_client, invoice_id):
    app.config["BILLING_BASE_URL"] = "https://factures.atelier.fr"
    html = text(post(auth_client, invoice_id, form_data(), preview=True, headers=HTMX))
    assert "Voici la facture : https://factures.atelier.fr/p/…" in html


# --- « Envoyer le message » ---------------------------------------------------


def test_sending_writes_the_message_and_moves_the_invoice_to_follow_up(app, auth_client, invoice_id):
    data = with_files(form_data(recipients="a@x.fr; b@y.com,c@z.be", cc="dg@martin.fr", bcc_me="y",
                                subject="Votre facture de novembre"),
                      ("Devis.pdf", PDF_BYTES), ("notes.txt", b"Compte rendu"))
    response = post(auth_client, invoice_id, data)
    assert response.status_code == 303
    assert response.headers["Location"] == f"/invoices/{invoice_id}?step=follow_up"
    message = only_message(app)
    assert (message.recipients, message.cc, message.bcc) == (
        ["a@x.fr", "b@y.com", "c@z.be"], ["dg@martin.fr"], [OWNER_EMAIL])
    assert message.subject == "Votre facture de novembre"
    assert message.text_body == f"Bonjour,\n\nVoici la facture : http://localhost/p/{message.link_token}\n\n-- \nMarie\n"
    assert [(a.kind, a.filename) for a in message.attachments] == [
        ("invoice", "Facture-F-2026-0001.pdf"), ("document", "Devis.pdf"), ("document", "notes.txt")]
    with app.app_context():
        invoice = db.session.get(Invoice, invoice_id)
        assert invoice.status is InvoiceStatus.AWAITING_PAYMENT and invoice.sent_revision == 1
        assert app.extensions["outbox_wakeup"].is_set()  # the worker was told
    page = text(auth_client.get(response.headers["Location"]))
    assert "Facture F-2026-0001 en cours d&#39;envoi à a@x.fr, b@y.com, c@z.be." in page


def test_sending_from_the_invoice_page_closes_the_modal_and_shows_follow_up(app, auth_client, invoice_id):
    headers = {**HTMX, "HX-Current-URL": f"http://localhost/invoices/{invoice_id}?step=sending"}
    response = post(auth_client, invoice_id, form_data(), headers=headers)
    assert response.status_code == 200
    assert response.headers["HX-Trigger"] == "close-dialog"
    assert json.loads(response.headers["HX-Location"]) == {
        "path": f"/invoices/{invoice_id}?step=follow_up", "target": "#invoice", "swap": "outerHTML"}
    only_message(app)


def test_sending_from_another_page_reloads_it_with_a_message(app, auth_client, invoice_id):
    headers = {**HTMX, "HX-Current-URL": "http://localhost/registers/email"}
    response = post(auth_client, invoice_id, form_data(), headers=headers)
    assert response.headers["HX-Trigger"] == "close-dialog"
    assert response.headers["HX-Refresh"] == "true"
    assert "en cours d&#39;envoi à compta@martin.fr" in text(auth_client.get("/clients/"))


def test_unchecking_the_pdf_sends_without_it(app, auth_client, invoice_id):
    post(auth_client, invoice_id, form_data(attach_pdf=None))
    assert only_message(app).attachments == []


def test_a_resend_carries_the_same_archived_pdf_and_no_edit_is_possible(app, auth_client, invoice_id):
    assert post(auth_client, invoice_id, form_data()).status_code == 303
    page = text(auth_client.get(f"/invoices/{invoice_id}?step=preparation"))
    assert "renvoyez-la" not in page and "Cette facture a été envoyée" in page
    assert post(auth_client, invoice_id, form_data()).status_code == 303
    with app.app_context():
        revisions = db.session.scalars(select(Message.revision).order_by(Message.id)).all()
        pdfs = db.session.scalars(
            select(Attachment.sha256).where(Attachment.kind == "invoice").order_by(Attachment.id)
        ).all()
    assert revisions == [1, 1] and len(pdfs) == 2 and pdfs[0] == pdfs[1]


# --- What is refused ------------------------------------------------------------

THIRTY_MB = b"%PDF-" + b"0" * (30 * 1024 * 1024)


@pytest.mark.parametrize("preview", [False, True], ids=["send", "preview"])
@pytest.mark.parametrize(
    ("changes", "files", "field", "message"),
    [
        (dict(recipients="a@x.fr, pas-une-adresse; c@z.be"), [], "recipients",
         "Adresse email invalide : pas-une-adresse"),
        (dict(recipients=" ; "), [], "recipients", "Indiquez au moins un destinataire."),
        (dict(cc="dg@martin"), [], "cc", "Adresse email invalide : dg@martin"),
        (dict(subject="Facture\r\nBcc: victime@example.com"), [], "subject",
         "Le titre tient sur une seule ligne : retirez le retour à la ligne."),
        (dict(body=""), [], "body", "Écrivez un message."),
        (dict(subject="{lien}" * 50), [], "subject",
         "Une fois {numero}, {client}, {lien}… remplacés, le titre dépasse 300 caractères : "
         "raccourcissez-le."),
        ({}, [("annexe.pdf", THIRTY_MB)], "documents",
         "« annexe.pdf » est trop volumineux (30,0 Mo) : 10 Mo au maximum par document."),
        ({}, [("facture.pdf", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00")], "documents",
         "« facture.pdf » n&#39;est pas un vrai fichier PDF : son contenu ne correspond pas à son extension."),
    ],
)
def test_bad_input_is_named_next_to_its_field_keeps_what_was_typed_and_queues_nothing(
    app, auth_client, invoice_id, preview, changes, files, field, message
):
    before = snapshot(app, invoice_id)
    typed = form_data(**{"cc": "dg@martin.fr", "body": "Mon message <b>tapé</b>", **changes})
    response = post(auth_client, invoice_id, with_files(typed, *files), preview=preview, headers=HTMX)
    assert response.status_code == 422
    html = text(response)
    assert html.lstrip().startswith('<form id="send-form"')
    assert field_error(html, field) == message
    for name in ("recipients", "cc", "subject"):
        assert f'name="{name}" type="text" value="{escape(typed[name])}"' in html
    assert f">\r\n{escape(typed['body'])}</textarea>" in html
    assert "Envoyer le message" not in html  # no preview of a refused message
    assert snapshot(app, invoice_id) == before


THIRTY_THREE_MB = b"%PDF-" + b"0" * (33 * 1024 * 1024)  # more than the server reads (32 Mo)
TOO_BIG = ("L&#39;envoi dépasse 32 Mo, documents compris : le serveur ne l&#39;a pas lu et rien "
           "n&#39;a été envoyé. Retirez des documents ou choisissez-en de plus petits "
           "(10 Mo au maximum chacun, 20 Mo en tout).")


def test_the_form_has_a_slot_for_a_request_too_big_to_be_read(auth_client, invoice_id):
    html = text(auth_client.get(f"/invoices/{invoice_id}/send", headers=HTMX))
    documents = html.split('id="documents"', 1)[1]
    assert '<div id="documents-too-large"></div>' in documents.split("Aperçu</button>", 1)[0]


@pytest.mark.parametrize("preview", [False, True], ids=["send", "preview"])
def test_a_request_too_big_to_be_read_leaves_the_modal_as_typed_and_says_why(
    app, auth_client, invoice_id, preview
):
    before = snapshot(app, invoice_id)
    data = with_files(form_data(subject="Mon titre tapé"), ("annexe.pdf", THIRTY_THREE_MB))
    response = post(auth_client, invoice_id, data, preview=preview, headers=HTMX)
    assert response.status_code == 422  # swapped by htmx (a 413 would not be)
    assert response.headers["HX-Retarget"] == "#documents-too-large"
    assert response.headers["HX-Reswap"] == "innerHTML"  # the form itself stays as it is
    assert text(response) == f'<p class="error" role="alert">{TOO_BIG}</p>'
    assert snapshot(app, invoice_id) == before


def test_a_request_too_big_to_be_read_without_javascript_says_why_and_leads_back(
    app, auth_client, invoice_id
):
    before = snapshot(app, invoice_id)
    response = post(auth_client, invoice_id, with_files(form_data(), ("annexe.pdf", THIRTY_THREE_MB)))
    assert response.status_code == 413
    html = text(response)
    assert html.startswith("<!doctype html>") and "<h1>Envoi trop volumineux</h1>" in html
    assert TOO_BIG in html
    assert f'<a href="/invoices/{invoice_id}/send">Revenir au formulaire d’envoi</a>' in html
    assert snapshot(app, invoice_id) == before


def test_a_request_too_big_from_a_visitor_shows_nothing_of_the_invoice(app, client, invoice_id):
    for headers in (HTMX, {}):
        response = post(client, invoice_id, with_files(form_data(), ("annexe.pdf", THIRTY_THREE_MB)),
                        headers=headers)
        assert response.status_code in (413, 422)
        assert "F-2026-0001" not in text(response) and "Martin" not in text(response)


def test_a_refused_form_without_javascript_is_the_full_page_with_422(app, auth_client, invoice_id):
    response = post(auth_client, invoice_id, form_data(recipients="a@x.fr, b@, c@z.be"))
    assert response.status_code == 422
    html = text(response)
    assert html.startswith("<!doctype html>")
    assert field_error(html, "recipients") == "Adresse email invalide : b@"
    assert 'value="a@x.fr, b@, c@z.be"' in html


def test_a_script_in_the_client_name_is_escaped_everywhere(app, auth_client, owner):
    with app.app_context():
        invoice = make_invoice(make_client("<script>alert(1)</script>"))
        invoices.finalize(invoice, settings.today())
        db.session.commit()
        invoice_id = invoice.id
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    modal = text(auth_client.get(f"/invoices/{invoice_id}/send", headers=HTMX))
    assert "<script>" not in modal and f"Bonjour {escaped}," in modal
    body = "Bonjour {client}, {lien}"
    preview = text(post(auth_client, invoice_id, form_data(body=body), preview=True, headers=HTMX))
    assert "<script>" not in preview and f"Bonjour {escaped}, http://localhost/p/…" in preview
    post(auth_client, invoice_id, form_data(body=body))
    message = only_message(app)
    assert "<script>" not in message.html_body and f"Bonjour {escaped}," in message.html_body
