"""Composing and writing an invoice email: the default draft, the checks, `send_invoice`, the click."""

import io
from datetime import date
from decimal import Decimal

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage

from billing import documents, invoices, sending, settings
from billing.models import (
    Attachment,
    Event,
    Invoice,
    InvoiceStatus,
    Message,
    MessageState,
    db,
)
from tests.conftest import OWNER_EMAIL
from tests.factories import make_client, make_invoice

TODAY = date(2026, 11, 24)
BASE = "https://factures.example.fr"
PDF_BYTES = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


@pytest.fixture
def ctx(app, owner):
    with app.test_request_context():
        yield


def finalized(client=None) -> Invoice:
    """« À envoyer »: 1 day at 100,00 €, due on 24/12/2026."""
    invoice = make_invoice(client or make_client())
    invoices.finalize(invoice, TODAY)
    return invoice


def draft_for(invoice, **changes) -> sending.Draft:
    draft = sending.default_draft(invoice)
    for name, value in changes.items():
        setattr(draft, name, value)
    return draft


def pdf_text(data: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def stored_files(app) -> list:
    folder = sending.attachments_folder()
    return sorted(folder.iterdir()) if folder.exists() else []


def message_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Message))


# --- The default draft --------------------------------------------------------


def test_default_draft_for_a_french_client_fills_the_french_template(ctx):
    invoice = finalized(make_client("Boulangerie Martin", emails=("compta@martin.fr", "pdg@martin.fr")))
    draft = sending.default_draft(invoice)
    assert draft.recipients == ["compta@martin.fr", "pdg@martin.fr"]
    assert (draft.cc, draft.bcc_me, draft.attach_pdf) == ([], False, True)
    assert draft.subject == "Facture F-2026-0001"
    assert draft.body.startswith("Bonjour Boulangerie Martin,\n\n")
    assert "la facture F-2026-0001 d'un montant de 100,00\xa0€" in draft.body
    assert "payable au plus tard le 24/12/2026" in draft.body
    assert "{lien}" in draft.body  # filled when the message is written


def test_default_draft_for_an_english_client_uses_the_english_template(ctx):
    invoice = finalized(make_client("Acme Ltd", emails=("ap@acme.co.uk",), language="en"))
    draft = sending.default_draft(invoice)
    assert draft.subject == "Invoice F-2026-0001"
    assert draft.body.startswith("Hello Acme Ltd,")
    assert "invoice F-2026-0001 for €100.00, due on 24/12/2026" in draft.body


def test_default_draft_takes_the_templates_of_the_settings(ctx):
    business = settings.business()
    business.email_subject_template = "Votre facture {numero} ({montant})"
    business.email_body_template = "Cher {client}, {numero} : {montant} avant le {echeance}. {inconnu}"
    business.email_subject_template_en = ""  # blank: the default English text
    invoice = finalized()
    draft = sending.default_draft(invoice)
    assert draft.subject == "Votre facture F-2026-0001 (100,00\xa0€)"
    assert draft.body == "Cher Boulangerie Martin, F-2026-0001 : 100,00\xa0€ avant le 24/12/2026. {inconnu}"
    english = finalized(make_client("Acme", language="en"))
    assert sending.default_draft(english).subject == "Invoice F-2026-0002"


def test_default_draft_appends_the_signature(ctx):
    settings.business().email_signature = "Marie Dupont\nAtelier Conseil\n"
    draft = sending.default_draft(finalized())
    assert draft.body.endswith("Merci de votre confiance.\n\n-- \nMarie Dupont\nAtelier Conseil")


def test_default_draft_of_a_client_without_email_has_no_recipient(ctx):
    invoice = finalized(make_client(emails=(), by_email=False))
    assert sending.default_draft(invoice).recipients == []


# --- Writing the message ------------------------------------------------------


def test_send_invoice_writes_the_message_its_attachments_and_the_status(app, ctx):
    business = settings.business()
    settings.set_terms(business, FileStorage(io.BytesIO(PDF_BYTES), filename="CGV Atelier.pdf"))
    invoice = finalized()
    notes = sending.document("C:\\Users\\marie\\Compte rendu.txt", "Réunion du 20 novembre".encode())
    message = sending.send_invoice(invoice, draft_for(invoice, cc=["dg@martin.fr"], bcc_me=True),
                                   [notes], BASE)

    assert message.state is MessageState.PROCESSING and message.kind == "invoice"
    assert (message.invoice, message.client, message.revision) == (invoice, invoice.client, 1)
    assert message.sender == "Atelier Conseil <owner@example.fr>"
    assert (message.recipients, message.cc, message.bcc) == (
        ["compta@martin.fr"], ["dg@martin.fr"], [OWNER_EMAIL])
    assert message.subject == "Facture F-2026-0001"
    link = f"{BASE}/p/{message.link_token}"
    assert len(message.link_token) >= 40
    assert f"Vous pouvez la consulter et la régler en ligne : {link}\n" in message.text_body
    assert "{lien}" not in message.text_body
    assert f'href="{link}"' in message.html_body and "Voir et payer la facture" in message.html_body
    assert "100,00\xa0€" in message.html_body and "24/12/2026" in message.html_body

    kinds = [(a.kind, a.filename, a.content_type) for a in message.attachments]
    assert kinds == [
        ("invoice", "Facture-F-2026-0001.pdf", "application/pdf"),
        ("terms", "CGV Atelier.pdf", "application/pdf"),
        ("document", "Compte rendu.txt", "text/plain"),
    ]
    assert "F-2026-0001" in pdf_text(sending.attachment_path(message.attachments[0]).read_bytes())
    assert sending.attachment_path(message.attachments[2]).read_bytes() == notes.data

    assert invoice.status is InvoiceStatus.AWAITING_PAYMENT
    assert invoice.sent_revision == 1 and invoice.sent_at is not None
    event = db.session.scalars(select(Event).where(Event.kind == "emailed")).one()
    assert (event.invoice_id, event.detail) == (invoice.id, "compta@martin.fr")


def test_send_invoice_is_one_transaction_left_to_the_caller(ctx):
    invoice = finalized()
    invoice_id = invoice.id
    db.session.commit()
    sending.send_invoice(invoice, draft_for(invoice), [], BASE)
    db.session.rollback()
    assert message_count() == 0
    assert db.session.scalar(select(func.count()).select_from(Attachment)) == 0
    assert db.session.get(Invoice, invoice_id).status is InvoiceStatus.TO_SEND


def test_without_the_pdf_box_only_the_documents_leave(ctx):
    invoice = finalized()
    scan = sending.document("scan.png", b"\x89PNG\r\n\x1a\n" + b"0" * 100)
    message = sending.send_invoice(invoice, draft_for(invoice, attach_pdf=False), [scan], BASE)
    assert [(a.filename, a.content_type, a.size) for a in message.attachments] == [
        ("scan.png", "image/png", 108)]


def test_send_invoice_works_outside_a_request(app, owner):
    """The registers send in a background thread: an application context is enough."""
    with app.app_context():
        invoice = finalized(make_client(language="en"))
        message = sending.send_invoice(invoice, sending.default_draft(invoice), [], BASE, batch="b1")
        db.session.commit()
        assert message.batch == "b1" and message.subject == "Invoice F-2026-0001"
        assert message.text_body.startswith("Hello Boulangerie Martin,")
        assert f'href="{BASE}/p/{message.link_token}"' in message.html_body


def test_the_html_body_escapes_names(ctx):
    settings.business().name = "Atelier <b>Conseil</b>"
    invoice = finalized(make_client("<script>alert(1)</script>"))
    message = sending.send_invoice(invoice, draft_for(invoice), [], BASE)
    assert "<script>" not in message.html_body and "<b>" not in message.html_body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in message.html_body
    assert "Atelier &lt;b&gt;Conseil&lt;/b&gt;" in message.html_body
    assert "Bonjour <script>alert(1)</script>," in message.text_body  # plain text stays as is


def test_placeholders_typed_in_the_subject_and_body_are_filled(ctx):
    invoice = finalized()
    message = sending.send_invoice(
        invoice, draft_for(invoice, subject="{numero} pour {client}", body="Lien : {lien} {autre}"),
        [], BASE)
    assert message.subject == "F-2026-0001 pour Boulangerie Martin"
    assert message.text_body == f"Lien : {BASE}/p/{message.link_token} {{autre}}\n"


def test_a_resend_carries_the_pdf_archived_at_the_first_sending(ctx):
    invoice = finalized()
    first = sending.send_invoice(invoice, draft_for(invoice), [], BASE)
    first_pdf = sending.attachment_path(first.attachments[0]).read_bytes()
    assert documents.archived_path(invoice).read_bytes() == first_pdf
    invoice.paid_cents = 4_000  # what changes after the sending is not on the invoice
    second = sending.send_invoice(invoice, draft_for(invoice), [], BASE)
    assert (first.revision, second.revision) == (1, 1)
    assert first.link_token != second.link_token and first.message_id != second.message_id
    assert sending.attachment_path(second.attachments[0]).read_bytes() == first_pdf


# --- What is refused, and changes nothing -------------------------------------

BIG = b"%PDF-" + b"0" * (30 * 1024 * 1024)


@pytest.mark.parametrize(
    ("changes", "files", "field", "message"),
    [
        (dict(recipients=[]), [], "recipients", "Indiquez au moins un destinataire."),
        (dict(recipients=["a@x.fr", "pas-une-adresse", "c@z.be"]), [], "recipients",
         "Adresse email invalide : pas-une-adresse"),
        (dict(cc=["dg@@martin.fr", "x"]), [], "cc", "Adresses email invalides : dg@@martin.fr, x"),
        (dict(subject="Facture\nBcc: victime@example.com"), [], "subject",
         "Le titre tient sur une seule ligne : retirez le retour à la ligne."),
        (dict(subject="  "), [], "subject", "Indiquez un titre."),
        (dict(body=" \n "), [], "body", "Écrivez un message."),
        ({}, [("gros.pdf", BIG)], "documents",
         "« gros.pdf » est trop volumineux (30,0 Mo) : 10 Mo au maximum par document."),
        ({}, [("facture.pdf", b"MZ\x90\x00\x03\x00\x00\x00")], "documents",
         "« facture.pdf » n'est pas un vrai fichier PDF : son contenu ne correspond pas à son extension."),
        ({}, [("outil.exe", b"MZ\x90\x00")], "documents", "Type de fichier refusé : « outil.exe »."),
        ({}, [("notes.txt", b"MZ\x90\x00\x03")], "documents", "« notes.txt » n'est pas un vrai fichier TXT"),
        ({}, [(f"p{n}.pdf", b"%PDF-" + b"0" * (8 * 1024 * 1024)) for n in range(3)], "documents",
         "Les documents font 24,0 Mo au total : 20 Mo au maximum."),
    ],
)
def test_a_bad_draft_is_refused_with_its_field_and_changes_nothing(ctx, changes, files, field, message):
    invoice = finalized()
    db.session.commit()
    documents = [sending.document(name, data) for name, data in files]
    with pytest.raises(sending.SendError) as refused:
        sending.send_invoice(invoice, draft_for(invoice, **changes), documents, BASE)
    assert refused.value.field == field
    assert refused.value.message.startswith(message)
    assert message_count() == 0 and stored_files(None) == []
    assert invoice.status is InvoiceStatus.TO_SEND and invoice.sent_revision is None


def test_cci_needs_the_business_email(ctx):
    settings.business().email = ""
    settings.business().smtp_sender = "factures@atelier.fr"
    invoice = finalized()
    problems = sending.problems(invoice, draft_for(invoice, bcc_me=True), [])
    assert problems == {
        "bcc_me": "L'entreprise n'a pas d'adresse email : indiquez-la dans les paramètres."}


@pytest.mark.parametrize("status", [InvoiceStatus.DRAFT, InvoiceStatus.PAID, InvoiceStatus.CANCELLED])
def test_only_an_invoice_to_send_or_awaiting_payment_can_be_sent(ctx, status):
    invoice = finalized()
    invoice.status = status
    with pytest.raises(sending.NotSendable, match=r"^Seule une facture « À envoyer » ou "):
        sending.send_invoice(invoice, draft_for(invoice), [], BASE)
    assert message_count() == 0


def test_an_uploaded_name_keeps_only_its_last_part_and_its_extension():
    long_name = "x" * 300 + ".pdf"
    assert sending.document("../../etc/passwd", b"").filename == "passwd"
    assert sending.document("a\x00b\r\n.pdf", b"").filename == "ab.pdf"
    assert sending.document(long_name, b"").filename == "x" * 196 + ".pdf"
    assert sending.document("", b"").filename == "document"
    assert sending.document("Tableau.XLSX", b"").content_type.endswith("spreadsheetml.sheet")


# --- The client's click -------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (MessageState.SENT, MessageState.CLICKED),
        (MessageState.PROCESSING, MessageState.CLICKED),
        (MessageState.ABANDONED, MessageState.ABANDONED),
    ],
)
def test_the_first_click_is_recorded_once(ctx, before, after):
    invoice = finalized()
    message = sending.send_invoice(invoice, draft_for(invoice), [], BASE)
    message.state = before
    db.session.commit()
    assert sending.record_click(message) is True
    clicked_at = message.clicked_at
    assert clicked_at is not None and message.state is after
    assert sending.record_click(message) is False
    assert message.clicked_at == clicked_at
    clicks = db.session.scalars(select(Event.detail).where(Event.kind == "clicked")).all()
    assert clicks == [str(message.id)]
