"""Issued invoices are legal records: locked once sent, their PDF archived byte for byte,
corrected by a credit note and a new draft; numbers follow the order of dates."""

import io
from datetime import date, timedelta
from decimal import Decimal

import pytest
from PIL import Image
from pypdf import PdfReader
from sqlalchemy import select

from billing import documents, invoices, lifecycle
from billing.models import Event, Invoice, InvoiceKind, InvoiceStatus, Payment, db
from tests.conftest import make_app
from tests.factories import make_client, make_invoice, make_tax_rate
from tests.web.test_invoice_lifecycle import events, finalized, header_data, sent, state, text

HTMX = {"HX-Request": "true"}
TODAY = date(2026, 11, 24)  # the tests' clock (tests/conftest.py)


@pytest.fixture
def draft(app, owner):
    with app.app_context():
        tva = make_tax_rate("TVA 20 %", 20_000, "FR12345678901")
        invoice = make_invoice(make_client(), lines=[(2, 60_000)], taxes=[tva])
        db.session.commit()
        return invoice.id


@pytest.fixture
def issued(app, auth_client, draft):
    sent(app, auth_client, draft)
    return draft


def snapshot(app, invoice_id):
    """Everything an edit could change: the invoice's columns, lines, taxes, schedule, events."""
    with app.app_context():
        invoice = db.session.get(Invoice, invoice_id)
        columns = {c.name: getattr(invoice, c.name) for c in Invoice.__table__.columns
                   if c.name != "updated_at"}
        lines = [(line.id, line.description, line.quantity_millis, line.unit_price_cents,
                  [tax.rate_millis for tax in line.taxes]) for line in invoice.lines]
        schedule = [(each.due_date, each.amount_cents) for each in invoice.instalments]
        return columns, lines, schedule, events(app, invoice_id)


def line_id(app, invoice_id):
    with app.app_context():
        return db.session.get(Invoice, invoice_id).lines[0].id


# --- Locked ------------------------------------------------------------------------


def write_requests(app, invoice_id):
    line = line_id(app, invoice_id)
    return [
        ("/header", header_data(app, invoice_id, reference="BC-9")),
        ("/header", header_data(app, invoice_id, currency="USD")),
        ("/header", header_data(app, invoice_id, issue_date="2026-11-20")),
        ("/lines", {}),
        (f"/lines/{line}", {"description": "Plus cher", "quantity": "3", "unit_price": "1560"}),
        (f"/lines/{line}/remove", {}),
        (f"/lines/{line}/move/down", {}),
        ("/schedule", {"schedule-rows-0-due_date": "2026-12-15", "schedule-rows-0-value": "100",
                       "schedule-rows-0-kind": "percent"}),
        ("/schedule", {"clear": "1"}),
        ("/client", {"new_client-name": "Autre client"}),
        ("/number", {"renumber-number": "F-2026-0099"}),
        ("/delete", {}),
        ("/finalize", {}),
    ]


@pytest.mark.parametrize("with_htmx", [False, True], ids=["page-or-beacon", "htmx"])
def test_every_write_endpoint_refuses_an_issued_invoice_and_changes_nothing(
    app, auth_client, issued, with_htmx
):
    before = snapshot(app, issued)
    for path, data in write_requests(app, issued):
        response = auth_client.post(f"/invoices/{issued}{path}", data=data,
                                    headers=HTMX if with_htmx else {})
        assert response.status_code == 409, path
        if with_htmx:
            assert response.headers["HX-Refresh"] == "true"
        assert snapshot(app, issued) == before, path
    page = text(auth_client.get(f"/invoices/{issued}?step=preparation"))
    assert "Cette facture a été envoyée : elle ne peut plus être modifiée." in page


def test_the_refusal_says_how_to_correct_it(app, auth_client, issued):
    response = auth_client.post(f"/invoices/{issued}/header", data=header_data(app, issued))
    assert response.status_code == 409
    assert "utilisez « Corriger la facture »" in text(response)


def test_the_editor_of_an_issued_invoice_is_read_only(app, auth_client, issued):
    page = text(auth_client.get(f"/invoices/{issued}?step=preparation"))
    assert 'id="header-form"' not in page and "data-autosave" not in page
    assert "Ajouter une ligne libre" not in page and "Finaliser la facture" not in page
    assert f'href="/invoices/{issued}/correct"' in page
    assert "Supprimer le brouillon" not in page
    number_line = page.split('id="number-line"', 1)[1].split("</div>", 1)[0]
    assert "number-edit" not in number_line


def test_before_it_is_issued_a_finalized_invoice_still_changes_and_so_does_its_number(
    app, auth_client, draft
):
    finalized(app, auth_client, draft)
    response = auth_client.post(f"/invoices/{draft}/header", data=header_data(app, draft, reference="BC-1"))
    assert response.status_code == 303
    assert auth_client.post(f"/invoices/{draft}/number", data={"renumber-number": "F-X-1"}).status_code == 303
    assert state(app, draft)[1] == "F-X-1"


# --- The archived PDF ------------------------------------------------------------------


def png() -> io.BytesIO:
    image = io.BytesIO()
    Image.new("RGB", (300, 100), (200, 30, 30)).save(image, "PNG")
    image.seek(0)
    return image


def test_the_pdf_of_an_issued_invoice_is_the_same_bytes_after_a_payment_settings_and_a_restart(
    app, auth_client, issued, tmp_path
):
    first = auth_client.get(f"/invoices/{issued}/pdf").data
    assert "F-2026-0001" in PdfReader(io.BytesIO(first)).pages[0].extract_text()
    paid = auth_client.post(f"/invoices/{issued}/payments/new", data={
        "paid_on": TODAY.isoformat(), "amount": "500,00", "method": "cheque", "notes": ""})
    assert paid.status_code == 303
    assert auth_client.get(f"/invoices/{issued}/pdf").data == first

    with app.app_context():
        from billing import settings

        business = settings.business()
        business.address = "99 avenue Nouvelle\n75000 Paris"
        business.iban = "FR7630006000011234567890189"
        from werkzeug.datastructures import FileStorage

        settings.set_logo(business, FileStorage(png(), "logo.png", content_type="image/png"))
        db.session.commit()
    assert auth_client.get(f"/invoices/{issued}/pdf").data == first

    restarted = make_app(app.instance_path)  # a new process on the same instance folder
    with restarted.app_context():
        invoice = db.session.get(Invoice, issued)
        assert documents.invoice_pdf(invoice) == first
        db.engine.dispose()


# --- « Corriger la facture » ------------------------------------------------------


def test_correct_explains_then_issues_a_credit_note_and_opens_a_copy(app, auth_client, issued):
    page = text(auth_client.get(f"/invoices/{issued}/correct"))
    assert ("Cette facture a été envoyée : la corriger émet un avoir qui l'annule et prépare "
            "une nouvelle facture à partir d'elle") in page
    assert "AV-2026-0001" in page

    response = auth_client.post(f"/invoices/{issued}/correct")
    assert response.status_code == 303
    with app.app_context():
        original = db.session.get(Invoice, issued)
        note = db.session.scalar(select(Invoice).where(Invoice.kind == InvoiceKind.CREDIT_NOTE))
        copy = db.session.scalar(select(Invoice).where(Invoice.replaces_id == issued))
        assert response.headers["Location"] == f"/invoices/{copy.id}?step=preparation"
        assert original.status is InvoiceStatus.CANCELLED and original.balance_cents == 0
        assert (note.number, note.reference, note.credited_invoice_id) == ("AV-2026-0001", "F-2026-0001", issued)
        assert note.total_cents == original.total_cents == copy.total_cents
        assert copy.status is InvoiceStatus.DRAFT and copy.number is None
        assert [line.description for line in copy.lines] == [line.description for line in original.lines]
        copy_id, note_id = copy.id, note.id
    draft_page = text(auth_client.get(response.headers["Location"]))
    assert 'id="header-form"' in draft_page  # the copy is editable
    assert "Préparée pour corriger la facture F-2026-0001" in text(
        auth_client.get(f"/invoices/{copy_id}?step=follow_up"))
    history = text(auth_client.get(f"/invoices/{issued}?step=follow_up"))
    assert "Corrigée : annulée par l&#39;avoir AV-2026-0001" in history
    assert f'href="/invoices/{copy_id}"' in history and f'href="/invoices/{note_id}"' in history
    board = text(auth_client.get("/"))
    assert f'id="card-{copy_id}"' in board and f'id="card-{note_id}"' in board
    note_pdf = auth_client.get(f"/invoices/{note_id}/pdf").data
    assert "F-2026-0001" in PdfReader(io.BytesIO(note_pdf)).pages[0].extract_text()


def test_a_partly_paid_invoice_is_corrected_and_its_payments_follow_the_copy(app, auth_client, issued):
    auth_client.post(f"/invoices/{issued}/payments/new", data={
        "paid_on": TODAY.isoformat(), "amount": "400,00", "method": "bank_transfer", "notes": ""})
    assert auth_client.post(f"/invoices/{issued}/correct").status_code == 303
    with app.app_context():
        original = db.session.get(Invoice, issued)
        copy = db.session.scalar(select(Invoice).where(Invoice.replaces_id == issued))
        assert original.paid_cents == 0 and original.status is InvoiceStatus.CANCELLED
        assert original.balance_cents == 0
        assert copy.paid_cents == 40_000
        assert db.session.scalars(select(Payment.invoice_id)).all() == [copy.id]
        copy_id = copy.id
    page = text(auth_client.get(f"/invoices/{copy_id}?step=follow_up"))
    assert "Paiements de 400,00\xa0€ repris de la facture F-2026-0001" in page
    # The copy cannot be deleted while it holds them, nor finalized for less than they add up to.
    assert auth_client.post(f"/invoices/{copy_id}/delete").status_code == 409
    with app.app_context():
        line = db.session.get(Invoice, copy_id).lines[0]
        invoices.update_line(line, invoices.LineDetails("Remise", Decimal(1), "", 10_000))
        db.session.commit()
    refused = auth_client.post(f"/invoices/{copy_id}/finalize")
    assert refused.status_code == 422
    assert "Ce brouillon reprend 400,00\xa0€ déjà payés" in text(refused)
    assert state(app, copy_id)[0] is InvoiceStatus.DRAFT


@pytest.mark.parametrize("status", ["draft", "to_send", "cancelled", "credit_note"])
def test_only_an_issued_invoice_can_be_corrected(app, auth_client, draft, status):
    if status != "draft":
        finalized(app, auth_client, draft)
    target = draft
    if status in ("cancelled", "credit_note"):
        auth_client.post(f"/invoices/{draft}/cancel")
        with app.app_context():
            note = db.session.scalar(select(Invoice.id).where(Invoice.kind == InvoiceKind.CREDIT_NOTE))
        target = note if status == "credit_note" else draft
    before = snapshot(app, target)
    for method in ("get", "post"):
        response = getattr(auth_client, method)(f"/invoices/{target}/correct")
        assert response.status_code == 409
    assert snapshot(app, target) == before


# --- Chronological numbers ----------------------------------------------------------


def test_a_draft_never_dated_by_hand_takes_the_day_it_is_finalized(app, auth_client, owner):
    with app.app_context():
        invoice = make_invoice(make_client(), today=TODAY - timedelta(days=10))
        db.session.commit()
        invoice_id = invoice.id
    finalized(app, auth_client, invoice_id)
    with app.app_context():
        invoice = db.session.get(Invoice, invoice_id)
        assert invoice.issue_date == TODAY and invoice.due_date == TODAY + timedelta(days=30)


@pytest.mark.parametrize(("day", "message"), [
    ("2026-11-20", "ne peut pas précéder celle de la dernière facture numérotée (23/11/2026)"),
    ("2020-06-01", "ne peut pas précéder celle de la dernière facture numérotée (23/11/2026)"),
    ("2026-11-26", "ne peut pas dépasser demain (25/11/2026)"),
])
def test_an_issue_date_out_of_order_is_refused_next_to_the_field(app, auth_client, owner, day, message):
    with app.app_context():
        earlier = make_invoice(make_client(), today=date(2026, 11, 23))
        invoices.finalize(earlier, date(2026, 11, 23))
        late = make_invoice(make_client("Autre"))
        db.session.commit()
        late_id = late.id
    assert auth_client.post(f"/invoices/{late_id}/header",
                            data=header_data(app, late_id, issue_date=day)).status_code == 303
    response = auth_client.post(f"/invoices/{late_id}/finalize")
    assert response.status_code == 422
    page = text(response)
    field = page.split('id="issue_date-field"', 1)[1].split("</div>", 1)[0]
    assert message in field
    assert state(app, late_id)[:2] == (InvoiceStatus.DRAFT, None)
    with app.app_context():
        assert not db.session.scalars(select(Invoice.number).where(Invoice.number.like("F-2020%"))).all()


def test_tomorrow_is_accepted(app, auth_client, draft):
    auth_client.post(f"/invoices/{draft}/header", data=header_data(app, draft, issue_date="2026-11-25"))
    assert finalized(app, auth_client, draft) == "F-2026-0001"


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"issue_date": "0026-01-01"}, "issue_date", "choisissez une date entre 2000 et 2100"),
    ({"due_date": "9999-12-31"}, "due_date", "choisissez une date entre 2000 et 2100"),
    ({"payment_terms_days": "366"}, "payment_terms_days", "entre 0 et 365 jours"),
    ({"service_start": "2026-11-10", "service_end": "2026-11-01"}, "service_end",
     "La fin de la prestation ne peut pas précéder son début."),
    ({"service_end": "2026-11-01"}, "service_start", "Indiquez le début de la prestation."),
])
def test_dates_and_terms_out_of_bounds_are_refused_next_to_their_field(
    app, auth_client, draft, changes, field, message
):
    before = snapshot(app, draft)
    response = auth_client.post(f"/invoices/{draft}/header", data=header_data(app, draft, **changes))
    assert response.status_code == 422
    slot = text(response).split(f'id="{field}-field"', 1)[1].split("</div>", 1)[0]
    assert message in slot
    assert snapshot(app, draft) == before


# --- Service date -------------------------------------------------------------------


def pdf_text(auth_client, invoice_id) -> str:
    data = auth_client.get(f"/invoices/{invoice_id}/pdf").data
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    return " ".join(text.split())  # labels wrap in their narrow column


def test_the_service_date_is_printed_when_it_differs_from_the_issue_date(app, auth_client, draft):
    assert "Date de la prestation" not in pdf_text(auth_client, draft)
    auth_client.post(f"/invoices/{draft}/header", data=header_data(app, draft, service_start="2026-11-03"))
    assert "Date de la prestation 03/11/2026" in pdf_text(auth_client, draft)
    auth_client.post(f"/invoices/{draft}/header", data=header_data(
        app, draft, service_start="2026-10-01", service_end="2026-10-31"))
    assert "Date de la prestation du 01/10/2026 au 31/10/2026" in pdf_text(auth_client, draft)
    page = text(auth_client.get(f"/invoices/{draft}"))
    assert 'name="service_start"' in page and 'value="2026-10-01"' in page


def test_the_predicates_answer_for_each_state(app, owner):
    with app.app_context():
        draft = make_invoice(make_client())
        assert lifecycle.can_edit(draft) and lifecycle.can_finalize(draft) and lifecycle.can_delete(draft)
        assert not (lifecycle.can_send(draft) or lifecycle.can_pay(draft) or lifecycle.can_correct(draft))
        invoices.finalize(draft, TODAY)
        assert lifecycle.can_edit(draft) and lifecycle.number_editable(draft)
        assert lifecycle.can_send(draft) and lifecycle.can_mark_sent(draft) and lifecycle.can_cancel(draft)
        assert not lifecycle.can_correct(draft) and not lifecycle.is_issued(draft)
        invoices.mark_sent(draft)
        assert lifecycle.is_issued(draft) and lifecycle.can_correct(draft) and lifecycle.can_pay(draft)
        assert not (lifecycle.can_edit(draft) or lifecycle.number_editable(draft) or lifecycle.can_mark_sent(draft))
        assert lifecycle.status_label(draft) == "Paiement attendu"
        note = invoices.cancel(draft, TODAY)
        assert lifecycle.status_label(draft) == "Annulée"
        assert not any(check(note) for check in (
            lifecycle.can_edit, lifecycle.can_send, lifecycle.can_pay, lifecycle.can_cancel,
            lifecycle.can_correct, lifecycle.can_delete))
        db.session.rollback()
