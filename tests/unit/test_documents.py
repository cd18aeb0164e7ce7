"""The invoice PDF: what it says (read back with pypdf), its cache per revision, what it may fetch."""

import hashlib
import io
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from PIL import Image
from pypdf import PdfReader
from werkzeug.datastructures import FileStorage
from xhtml2pdf import files as xhtml2pdf_files
from xhtml2pdf import pisa

from billing import (
    documents,
    invoices,
    money,
    numbering,
    payment_refs,
    settings,
    uploads,
)
from billing.models import Country, InvoiceStatus, db
from tests.factories import make_client, make_invoice, make_tax_rate

TODAY = date(2026, 11, 24)


@pytest.fixture
def ctx(app, owner):
    with app.test_request_context():
        yield


@pytest.fixture
def business(ctx):
    row = settings.business()
    row.address = "12 rue des Lilas\n75011 Paris"
    row.siren = "123456789"
    return row


@pytest.fixture
def renders(monkeypatch):
    """Counts the calls to xhtml2pdf."""
    calls = []
    original = pisa.CreatePDF

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(pisa, "CreatePDF", counting)
    return calls


def finalize(invoice):
    db.session.commit()
    numbering.lock()
    invoices.finalize(invoice, TODAY)
    db.session.commit()
    return invoice


def pages(data: bytes) -> list[str]:
    """The text of each page, spaces (also no-break ones) collapsed."""
    return [" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(data)).pages]


def text_of(data: bytes) -> str:
    return " ".join(pages(data))


def add_logo(business):
    image = io.BytesIO()
    Image.new("RGB", (300, 100), (31, 58, 95)).save(image, "PNG")
    image.seek(0)
    settings.set_logo(business, FileStorage(image, "logo.png", content_type="image/png"))


# --- What the PDF says ----------------------------------------------------------


def test_quebec_invoice_shows_number_client_each_tax_with_its_registration_total_and_due_date(business):
    business.country = Country.CA_QC
    business.late_payment_text = ""
    tps = make_tax_rate("TPS", 5_000, "123456789 RT0001")
    tvq = make_tax_rate("TVQ", 9_975, "1234567890 TQ0001")
    client = make_client("Café Soleil inc.", currency="CAD", address="1200 rue Sainte-Catherine\nMontréal")
    invoice = finalize(make_invoice(client, lines=[(1, 3_333)] * 3, taxes=[tps, tvq]))

    text = text_of(documents.invoice_pdf(invoice))

    for expected in (
        "Facture", "F-2026-0001", "Café Soleil inc.", "Montréal",
        "Sous-total 99,99 $",
        "TPS", "5,00 $", "N° d'inscription : 123456789 RT0001",
        "TVQ", "9,97 $", "N° d'inscription : 1234567890 TQ0001",
        "Total 114,96 $", "Solde à payer 114,96 $",
        "Échéance 24/12/2026", "Date 24/11/2026",
    ):
        assert expected in text, expected


def test_french_franchise_invoice_carries_the_exemption_and_late_payment_mentions(business):
    business.vat_exempt = True
    business.iban, business.bic = "FR7630006000011234567890189", "AGRIFRPPXXX"
    client = make_client("Boulangerie Martin", company_number="987654321")
    invoice = finalize(make_invoice(client, lines=[(2, 45_000), (Decimal("1.5"), 12_000)]))

    text = text_of(documents.invoice_pdf(invoice))

    for expected in (
        "Facture", "F-2026-0001", "Boulangerie Martin", "SIREN : 123456789",
        "Total 1 080,00 €", "Échéance 24/12/2026", "1,5",
        "TVA non applicable, art. 293 B du CGI",
        "pénalités de retard", "indemnité forfaitaire pour frais de recouvrement de 40 €",
        "IBAN FR76 3000 6000 0112 3456 7890 189", "BIC AGRIFRPPXXX", "Communication F-2026-0001",
    ):
        assert expected in text, expected
    assert "TTC" not in text


def test_a_200_line_invoice_spans_several_pages_each_numbered(business):
    rate = make_tax_rate("TVA 20 %", 20_000, "FR12123456789")
    invoice = finalize(make_invoice(make_client(), lines=[(1, 1_000 + i) for i in range(200)], taxes=[rate]))

    texts = pages(documents.invoice_pdf(invoice))

    assert len(texts) > 1
    for number, text in enumerate(texts, start=1):
        assert f"Facture F-2026-0001 · Page {number} / {len(texts)}" in text
        assert "Description" in text  # the table header repeats on every page
    assert "Prestation à 11.99" in texts[-1] and "Solde à payer" in texts[-1]


def test_credit_note_is_titled_avoir_and_names_the_invoice_it_cancels(business):
    invoice = finalize(make_invoice(make_client()))
    note = invoices.cancel(invoice, date(2026, 11, 25))
    db.session.commit()

    text = text_of(documents.invoice_pdf(note))

    assert "Avoir" in text and "AV-2026-0001" in text
    assert "Annule la facture F-2026-0001 du 24/11/2026" in text
    assert "Total de l'avoir 100,00 €" in text
    assert "Solde à payer" not in text and "Échéance" not in text


def test_balance_shows_what_was_already_paid(business):
    invoice = finalize(make_invoice(make_client(), lines=[(1, 10_000)]))
    invoice.paid_cents = 4_000
    db.session.commit()

    text = text_of(documents.invoice_pdf(invoice))

    assert "Déjà payé -40,00 €" in text
    assert "Solde à payer 60,00 €" in text


def test_payment_schedule_lists_each_instalment(business):
    invoice = make_invoice(make_client(), lines=[(1, 10_000)])
    invoices.set_instalments(invoice, [
        (TODAY, money.InstalmentSpec(percent=Decimal(30))),
        (date(2026, 12, 24), money.InstalmentSpec(percent=Decimal(70))),
    ])
    finalize(invoice)

    text = text_of(documents.invoice_pdf(invoice))

    assert "CALENDRIER DE PAIEMENT" in text  # section titles are upper case
    assert "24/11/2026 30 % 30,00 €" in text
    assert "24/12/2026 70 % 70,00 €" in text


def test_draft_pdf_says_brouillon_and_can_lack_a_client(business):
    draft = invoices.create_draft(TODAY)

    text = text_of(documents.invoice_pdf(draft))

    assert "Brouillon" in text and "Aucun client choisi" in text


def test_english_client_reads_amounts_and_labels_in_english(business):
    invoice = finalize(make_invoice(make_client(language="en"), lines=[(1, 123_456)]))

    html = documents.render_html(invoice)
    text = text_of(documents.invoice_pdf(invoice))

    assert '<html lang="en">' in html
    assert "€1,234.56" in text
    assert "Unit price" in text


def test_french_digit_grouping_uses_a_space_helvetica_can_draw(business):
    invoice = finalize(make_invoice(make_client(), lines=[(1, 123_456)]))

    html = documents.render_html(invoice)

    assert "\u202f" not in html
    assert "1\u00a0234,56\u00a0€" in html


def test_portal_link_is_printed_when_given(business):
    invoice = finalize(make_invoice(make_client()))

    assert "https://factures.example.fr/p/abc" not in documents.render_html(invoice)
    text = text_of(documents.invoice_pdf(invoice, portal_url="https://factures.example.fr/p/abc"))

    assert "Payer en ligne https://factures.example.fr/p/abc" in text


def test_footer_of_the_invoice_is_on_every_page(business):
    business.legal_footer = "Atelier Conseil SARL · RCS Paris 123 456 789"
    invoice = finalize(make_invoice(make_client(), lines=[(1, 100)] * 80))

    texts = pages(documents.invoice_pdf(invoice))

    assert len(texts) > 1
    assert all("Atelier Conseil SARL · RCS Paris 123 456 789" in text for text in texts)


# --- Payment instructions ---------------------------------------------------------


def record_qr_payloads(monkeypatch):
    payloads = []
    original = payment_refs.epc_qr

    def recording(payload):
        payloads.append(payload)
        return original(payload)

    monkeypatch.setattr(payment_refs, "epc_qr", recording)
    return payloads


def test_belgian_business_prints_a_structured_communication_and_puts_it_in_the_qr_code(business, monkeypatch):
    payloads = record_qr_payloads(monkeypatch)
    business.country = Country.BE
    business.iban, business.bic = "BE68539007547034", "GKCCBEBB"
    rate = make_tax_rate("TVA 21 %", 21_000, "BE0123456789")
    invoice = finalize(make_invoice(make_client("Brasserie Œuf & Fils"), lines=[(3, 15_000)], taxes=[rate]))
    communication = payment_refs.structured_communication(invoice.id)

    data = documents.invoice_pdf(invoice)

    assert f"Communication structurée {communication}" in text_of(data)
    assert payloads == [
        "\n".join(["BCD", "002", "1", "SCT", "GKCCBEBB", "Atelier Conseil", "BE68539007547034",
                   "EUR544.50", "", re.sub(r"\D", "", communication)])
    ]
    assert len(PdfReader(io.BytesIO(data)).pages[0].images) == 1  # the QR code


def test_french_qr_code_asks_for_the_balance_with_the_invoice_number(business, monkeypatch):
    payloads = record_qr_payloads(monkeypatch)
    business.iban = "FR7630006000011234567890189"
    invoice = finalize(make_invoice(make_client(), lines=[(1, 10_000)]))
    invoice.paid_cents = 2_500
    db.session.commit()

    documents.invoice_pdf(invoice)

    assert payloads[0].split("\n")[4:] == [
        "", "Atelier Conseil", "FR7630006000011234567890189", "EUR75.00", "", "", "F-2026-0001"
    ]


def test_no_qr_code_for_another_currency_than_euro(business, monkeypatch):
    payloads = record_qr_payloads(monkeypatch)
    business.iban = "FR7630006000011234567890189"
    invoice = finalize(make_invoice(make_client(currency="CAD")))

    data = documents.invoice_pdf(invoice)

    assert payloads == []
    assert "IBAN FR76" in text_of(data)
    assert len(PdfReader(io.BytesIO(data)).pages[0].images) == 0


def test_no_payment_block_without_iban_nor_on_a_paid_invoice(business):
    invoice = finalize(make_invoice(make_client()))
    assert "PAIEMENT" not in text_of(documents.invoice_pdf(invoice))

    business.iban = "FR7630006000011234567890189"
    invoice.paid_cents = invoice.total_cents
    db.session.commit()
    assert "IBAN" not in text_of(documents.invoice_pdf(invoice))


# --- Safety: escaping and what the renderer may read --------------------------------


def test_html_in_client_and_line_names_shows_as_text(business):
    client = make_client("<b>Gras</b> & Cie")
    invoice = make_invoice(client)
    invoice.lines[0].description = "<i>Audit</i> <script>alert(1)</script>"
    finalize(invoice)

    html = documents.render_html(invoice)
    text = text_of(documents.invoice_pdf(invoice))

    assert "&lt;b&gt;Gras&lt;/b&gt; &amp; Cie" in html and "<b>Gras" not in html
    assert "&lt;script&gt;" in html and "<script>" not in html
    assert "<b>Gras</b> & Cie" in text
    assert "<i>Audit</i> <script>alert(1)</script>" in text


def test_an_image_tag_or_url_in_a_description_fetches_nothing(business, monkeypatch):
    add_logo(business)
    asked = []
    original = xhtml2pdf_files.FileNetworkManager.get_manager

    def recording(uri, basepath=None, policy=None):
        asked.append(uri)
        return original(uri, basepath, policy)

    monkeypatch.setattr(xhtml2pdf_files.FileNetworkManager, "get_manager", staticmethod(recording))
    invoice = make_invoice(make_client())
    invoice.lines[0].description = '<img src="file:///etc/passwd"> http://169.254.169.254/latest/meta-data'
    finalize(invoice)

    text = text_of(documents.invoice_pdf(invoice))

    assert '<img src="file:///etc/passwd"> http://169.254.169.254/latest/meta-data' in text
    assert asked == [str(uploads.path(business.logo_path))]


def test_link_callback_resolves_only_static_files_and_the_logo(business, app):
    add_logo(business)
    resolve = documents.link_callback(business)
    static = app.static_folder

    assert resolve(documents.LOGO_URI) == str(uploads.path(business.logo_path))
    assert resolve("static/app.css") == str((Path(static) / "app.css").resolve())
    for refused in (
        "static/../app.py", "static/missing.png", "file:///etc/passwd", "/etc/passwd", "../app.py",
        "http://169.254.169.254/latest", "https://example.com/logo.png", "//example.com/x.png",
        f"{static}/app.css", "logo:other",
    ):
        assert resolve(refused) == documents.NOTHING, refused


def test_without_a_logo_the_logo_uri_resolves_to_nothing(business):
    assert documents.link_callback(business)(documents.LOGO_URI) == documents.NOTHING


def test_logo_is_drawn_in_the_pdf(business):
    add_logo(business)
    invoice = finalize(make_invoice(make_client()))

    images = PdfReader(io.BytesIO(documents.invoice_pdf(invoice))).pages[0].images

    assert len(images) == 1


# --- File names and the cache ---------------------------------------------------------


def test_file_names_say_what_the_document_is(business):
    draft = make_invoice(make_client())
    assert documents.filename(draft) == f"Brouillon-{draft.id}.pdf"
    finalize(draft)
    assert documents.filename(draft) == "Facture-F-2026-0001.pdf"
    note = invoices.cancel(draft, TODAY)
    assert documents.filename(note) == "Avoir-AV-2026-0001.pdf"
    note.number = "AV 2026/0001"
    assert documents.filename(note) == "Avoir-AV-2026-0001.pdf"


def test_second_download_comes_from_the_cache(business, renders):
    invoice = finalize(make_invoice(make_client()))

    first = documents.invoice_pdf(invoice)
    second = documents.invoice_pdf(invoice)

    assert first == second
    assert len(renders) == 1
    assert documents.revision_pdf(invoice, 1).read_bytes() == first


def test_an_issued_invoice_keeps_the_pdf_it_was_sent_with(business, renders):
    invoice = finalize(make_invoice(make_client(), lines=[(1, 10_000)]))
    invoices.mark_sent(invoice)
    db.session.commit()
    first = documents.invoice_pdf(invoice)
    assert invoice.pdf_sha256 == hashlib.sha256(first).hexdigest()
    assert documents.archived_path(invoice).read_bytes() == first

    invoice.paid_cents = 4_000
    business.name, business.address = "Autre nom", "1 rue Neuve"
    add_logo(business)
    db.session.commit()

    assert documents.invoice_pdf(invoice) == first
    assert "Solde à payer 100,00 €" in text_of(first) and len(renders) == 1


def test_a_payment_renders_the_same_revision_again_and_keeps_one_file(business, renders):
    invoice = finalize(make_invoice(make_client(), lines=[(1, 10_000)]))
    documents.invoice_pdf(invoice)

    invoice.paid_cents = 4_000
    db.session.commit()
    data = documents.invoice_pdf(invoice)

    assert len(renders) == 2
    assert "Solde à payer 60,00 €" in text_of(data)
    assert list(documents.folder().glob(f"invoice-{invoice.id}-r1-*.pdf")) == [documents.revision_pdf(invoice, 1)]


def test_an_invoice_sent_before_archives_keeps_its_first_rendering_after_them(business, renders):
    invoice = finalize(make_invoice(make_client(), lines=[(1, 10_000)]))
    invoice.sent_at, invoice.status = invoice.finalized_at, InvoiceStatus.AWAITING_PAYMENT
    db.session.commit()  # sent by an older version: no archived PDF, no digest
    first = documents.invoice_pdf(invoice)
    business.name = "Autre nom"
    db.session.commit()
    assert documents.invoice_pdf(invoice) == first and len(renders) == 1


def test_a_lost_archive_is_rendered_again_and_logged(business, renders, caplog):
    invoice = finalize(make_invoice(make_client(), lines=[(1, 10_000)]))
    invoices.mark_sent(invoice)
    db.session.commit()
    documents.archived_path(invoice).unlink()
    assert "Solde à payer 100,00 €" in text_of(documents.invoice_pdf(invoice))
    assert "archived PDF of invoice" in caplog.text


def test_an_unknown_revision_has_no_file(business):
    invoice = finalize(make_invoice(make_client()))
    assert documents.revision_pdf(invoice, 1) is None
    assert documents.revision_pdf(invoice, 7) is None


def test_a_draft_is_rendered_every_time_and_never_stored(business, renders):
    draft = make_invoice(make_client())

    documents.invoice_pdf(draft)
    documents.invoice_pdf(draft)

    assert len(renders) == 2
    assert not documents.folder().exists() or list(documents.folder().iterdir()) == []


def test_pdf_renders_outside_a_request_like_the_sending_worker(app, owner):
    with app.app_context():
        invoice = make_invoice(make_client(language="en"))
        db.session.commit()
        text = text_of(documents.invoice_pdf(invoice))
    assert "€100.00" in text
