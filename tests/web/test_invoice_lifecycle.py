"""The life of an invoice through its page: finalize, « Facture envoyée », number, revisions,
credit note, duplicate, delete, PDF and history."""

import re
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from billing import invoices, money, numbering, settings
from billing.models import Event, Invoice, InvoiceKind, InvoiceStatus, db
from tests.factories import make_client, make_invoice, make_item, make_tax_rate

HTMX = {"HX-Request": "true"}


@pytest.fixture
def draft(app, owner):
    """A draft ready to finalize: a client with an email, 2 days at 500 € with TVA 20 %."""
    with app.app_context():
        tva = make_tax_rate("TVA 20 %", 20_000, "FR12345678901")
        invoice = make_invoice(make_client(), lines=[(2, 50_000)], taxes=[tva])
        db.session.commit()
        return invoice.id


def text(response) -> str:
    return response.get_data(as_text=True)


def state(app, invoice_id):
    with app.app_context():
        invoice = db.session.get(Invoice, invoice_id)
        if invoice is None:
            return None
        return (invoice.status, invoice.number, invoice.revision, invoice.sent_revision,
                invoice.total_cents, invoice.credited_cents)


def events(app, invoice_id) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(
            select(Event.kind).where(Event.invoice_id == invoice_id).order_by(Event.id)))


def header_data(app, invoice_id, **changes):
    with app.app_context():
        invoice = db.session.get(Invoice, invoice_id)
        data = dict(
            client_id=str(invoice.client_id), job_id="", issue_date=invoice.issue_date.isoformat(),
            payment_terms_days=str(invoice.payment_terms_days), due_date=invoice.due_date.isoformat(),
            currency=invoice.currency, reference=invoice.reference, notes=invoice.notes, footer=invoice.footer,
        )
    data.update(changes)
    return data


def finalized(app, auth_client, invoice_id) -> str:
    assert auth_client.post(f"/invoices/{invoice_id}/finalize").status_code == 303
    return state(app, invoice_id)[1]


def sent(app, auth_client, invoice_id) -> None:
    finalized(app, auth_client, invoice_id)
    assert auth_client.post(f"/invoices/{invoice_id}/sent").status_code == 303


# --- Finalize ----------------------------------------------------------------


def test_finalize_gives_the_number_and_opens_the_sending_step(app, auth_client, draft):
    response = auth_client.post(f"/invoices/{draft}/finalize")
    assert response.status_code == 303
    assert response.headers["Location"] == f"/invoices/{draft}?step=sending"
    assert state(app, draft)[:2] == (InvoiceStatus.TO_SEND, "F-2026-0001")
    page = text(auth_client.get(response.headers["Location"]))
    assert "Facture finalisée : numéro F-2026-0001." in page
    assert "Facture F-2026-0001" in page and "À envoyer" in page
    assert "Télécharger la facture" in page and ">Facture envoyée</button>" in page
    assert events(app, draft) == ["created", "finalized"]


def test_finalize_with_htmx_answers_the_whole_invoice_at_its_new_step(app, auth_client, draft):
    response = auth_client.post(f"/invoices/{draft}/finalize", headers=HTMX)
    assert response.status_code == 200
    assert response.headers["HX-Push-Url"] == f"/invoices/{draft}?step=sending"
    page = text(response)
    assert page.lstrip().startswith('<div id="invoice"') and "<html" not in page
    assert "Facture F-2026-0001" in page and "Facture finalisée : numéro F-2026-0001." in page
    assert 'aria-current="page">Envoi' in page


def no_line(client):
    return make_invoice(client, lines=())


def no_client(_client):
    return make_invoice(None)


def email_client_without_address(_client):
    return make_invoice(make_client("Sans adresse", emails=()))


def schedule_short(client):
    invoice = make_invoice(client)
    invoices.set_instalments(invoice, [(date(2026, 12, 1), money.InstalmentSpec(cents=10_000))])
    invoices.update_line(invoice.lines[0], invoices.LineDetails("Plus cher", Decimal(1), "", 20_000))
    return invoice


@pytest.mark.parametrize(("build", "slot", "message"), [
    (no_line, "lines", "Ajoutez au moins une ligne avant de finaliser."),
    (no_client, "client_id", "Choisissez un client avant de finaliser."),
    (email_client_without_address, "client_id", "n&#39;a aucune adresse"),
    (schedule_short, "instalments", "Le calendrier de paiement ne totalise pas le montant de la facture."),
])
def test_finalize_refusal_says_why_next_to_the_field_and_takes_no_number(
    app, auth_client, owner, build, slot, message
):
    with app.app_context():
        invoice_id = build(make_client()).id
        db.session.commit()
    before = state(app, invoice_id)
    response = auth_client.post(f"/invoices/{invoice_id}/finalize", headers=HTMX)
    assert response.status_code == 422
    page = text(response)
    assert message in page
    if slot == "client_id":
        assert re.search(r'id="client_id-errors"><p class="error">[^<]*' + re.escape(message), page)
    elif slot == "lines":
        assert page.index(message) > page.index('id="lines-title"')
    else:
        assert page.index(message) > page.index('id="schedule"')
    assert state(app, invoice_id) == before
    with app.app_context():
        assert numbering.next_value("invoice", 2026) == 1


def test_a_refused_finalize_consumes_no_number(app, auth_client, owner, draft):
    with app.app_context():
        empty = make_invoice(make_client("Vide"), lines=()).id
        db.session.commit()
    assert auth_client.post(f"/invoices/{empty}/finalize").status_code == 422
    assert finalized(app, auth_client, draft) == "F-2026-0001"


def test_finalize_twice_is_refused_with_409(app, auth_client, draft):
    finalized(app, auth_client, draft)
    response = auth_client.post(f"/invoices/{draft}/finalize")
    assert response.status_code == 409
    assert "Impossible de finaliser une facture au statut « À envoyer »." in text(response)
    assert state(app, draft)[1] == "F-2026-0001"


def test_an_htmx_409_reloads_the_page_which_says_why(app, auth_client, draft):
    finalized(app, auth_client, draft)
    response = auth_client.post(f"/invoices/{draft}/finalize", headers=HTMX)
    assert response.status_code == 409 and response.headers["HX-Refresh"] == "true"
    page = text(auth_client.get(f"/invoices/{draft}"))
    assert "Impossible de finaliser une facture au statut « À envoyer »." in page


# --- « Facture envoyée » -----------------------------------------------------


def test_mark_sent_awaits_payment_and_shows_the_follow_up(app, auth_client, draft):
    finalized(app, auth_client, draft)
    response = auth_client.post(f"/invoices/{draft}/sent")
    assert response.status_code == 303
    assert response.headers["Location"] == f"/invoices/{draft}?step=follow_up"
    assert state(app, draft)[0] is InvoiceStatus.AWAITING_PAYMENT
    page = text(auth_client.get(response.headers["Location"]))
    assert "Paiement attendu" in page and "Marquée comme envoyée" in page
    assert "Aucun paiement pour le moment." in page


def test_mark_sent_with_htmx_answers_the_follow_up(app, auth_client, draft):
    finalized(app, auth_client, draft)
    response = auth_client.post(f"/invoices/{draft}/sent", headers=HTMX)
    assert response.status_code == 200
    assert response.headers["HX-Push-Url"] == f"/invoices/{draft}?step=follow_up"
    assert "Facture marquée comme envoyée." in text(response)


def test_a_draft_cannot_be_marked_sent(app, auth_client, draft):
    response = auth_client.post(f"/invoices/{draft}/sent")
    assert response.status_code == 409
    assert "Impossible de marquer comme envoyée une facture au statut « Brouillon »." in text(response)
    assert state(app, draft)[0] is InvoiceStatus.DRAFT


# --- The number line ---------------------------------------------------------


def test_clicking_the_number_line_opens_an_inline_form(app, auth_client, draft):
    finalized(app, auth_client, draft)
    page = text(auth_client.get(f"/invoices/{draft}"))
    assert "Cliquez sur la ligne affichant le numéro" in page
    assert f'hx-get="/invoices/{draft}/number" hx-target="#number-line"' in page
    block = text(auth_client.get(f"/invoices/{draft}/number", headers=HTMX))
    assert block.lstrip().startswith('<div id="number-line"')
    assert 'name="renumber-number"' in block and 'value="F-2026-0001"' in block
    full = text(auth_client.get(f"/invoices/{draft}/number"))
    assert full.startswith("<!doctype html>") and 'name="renumber-number"' in full


def test_changed_number_stays_and_the_series_goes_on_after_it(app, auth_client, owner, draft):
    finalized(app, auth_client, draft)
    response = auth_client.post(f"/invoices/{draft}/number", data={"renumber-number": "F-2026-0100"}, headers=HTMX)
    assert response.status_code == 200
    assert "Facture F-2026-0100" in text(response)
    with app.app_context():
        second = make_invoice(make_client("Deuxième")).id
        db.session.commit()
    assert finalized(app, auth_client, second) == "F-2026-0101"
    page = text(auth_client.get(f"/invoices/{draft}?step=follow_up"))
    assert "Numéro modifié (F-2026-0001 → F-2026-0100)" in page


@pytest.mark.parametrize(("typed", "message"), [
    ("F-2026-0002", "Le numéro F-2026-0002 est déjà utilisé."),
    ("", "Ce champ est obligatoire."),
    ("x" * 41, "Au plus 40 caractères."),
])
def test_a_taken_or_empty_number_is_refused_and_kept(app, auth_client, owner, draft, typed, message):
    with app.app_context():
        other = make_invoice(make_client("Autre")).id
        db.session.commit()
    finalized(app, auth_client, other)  # F-2026-0001
    finalized(app, auth_client, draft)  # F-2026-0002
    response = auth_client.post(f"/invoices/{other}/number", data={"renumber-number": typed}, headers=HTMX)
    assert response.status_code == 422
    page = text(response)
    assert message in page and f'value="{typed}"' in page
    assert state(app, other)[1] == "F-2026-0001"


def test_the_number_is_fixed_once_sent(app, auth_client, draft):
    sent(app, auth_client, draft)
    assert "Cliquez sur la ligne affichant le numéro" not in text(auth_client.get(f"/invoices/{draft}"))
    for method in ("get", "post"):
        response = getattr(auth_client, method)(f"/invoices/{draft}/number", data={"renumber-number": "X-1"})
        assert response.status_code == 409
        assert "Le numéro ne change plus après le premier envoi." in text(response)
    assert state(app, draft)[1] == "F-2026-0001"


# --- Revisions and invoices that no longer change ----------------------------


def set_status(app, invoice_id, status):
    with app.app_context():
        db.session.get(Invoice, invoice_id).status = status
        db.session.commit()


@pytest.mark.parametrize(("path", "data"), [
    ("/header", {}), ("/lines", {}), ("/lines/1", {}), ("/lines/1/remove", {}),
    ("/lines/1/move/down", {}), ("/schedule", {}), ("/client", {"new_client-name": "X"}),
])
def test_a_paid_invoice_cannot_be_edited(app, auth_client, draft, path, data):
    finalized(app, auth_client, draft)
    set_status(app, draft, InvoiceStatus.PAID)
    before = state(app, draft), events(app, draft)
    response = auth_client.post(f"/invoices/{draft}{path}", data=data)
    assert response.status_code == 409
    assert "Cette facture ne peut plus être modifiée (statut « Payée »)." in text(response)
    assert (state(app, draft), events(app, draft)) == before
    htmx = auth_client.post(f"/invoices/{draft}{path}", data=data, headers=HTMX)
    assert htmx.status_code == 409 and htmx.headers["HX-Refresh"] == "true"


def test_a_paid_invoice_shows_what_it_says_without_editor(app, auth_client, draft):
    finalized(app, auth_client, draft)
    set_status(app, draft, InvoiceStatus.PAID)
    page = text(auth_client.get(f"/invoices/{draft}?step=preparation"))
    assert 'id="header-form"' not in page and "Finaliser la facture" not in page
    assert "Prestation à 500.00" in page and "2 jour" in page and "Payée" in page


# --- Credit note, duplicate, delete ------------------------------------------


def test_cancel_asks_for_confirmation_then_issues_a_credit_note(app, auth_client, draft):
    sent(app, auth_client, draft)
    page = text(auth_client.get(f"/invoices/{draft}/cancel"))
    assert "Annuler la facture F-2026-0001 ?" in page and "AV-2026-0001" in page
    assert state(app, draft)[0] is InvoiceStatus.AWAITING_PAYMENT  # the page changed nothing
    response = auth_client.post(f"/invoices/{draft}/cancel")
    assert response.status_code == 303
    with app.app_context():
        note = db.session.scalar(select(Invoice).where(Invoice.kind == InvoiceKind.CREDIT_NOTE))
        assert (note.number, note.credited_invoice_id, note.total_cents) == ("AV-2026-0001", draft, 120_000)
    assert response.headers["Location"] == f"/invoices/{note.id}"
    original = state(app, draft)
    assert original[0] is InvoiceStatus.CANCELLED and original[5] == 120_000
    note_page = text(auth_client.get(f"/invoices/{note.id}?step=preparation"))
    assert "Avoir AV-2026-0001" in note_page and "Annule la facture" in note_page
    assert "Facture F-2026-0001 annulée par l&#39;avoir AV-2026-0001." in note_page
    assert 'id="header-form"' not in note_page
    assert "invoice-actions" not in note_page  # a credit note has no copy, delete or cancel
    follow_up = text(auth_client.get(f"/invoices/{draft}?step=follow_up"))
    assert "Annulée par l&#39;avoir AV-2026-0001" in follow_up and "Annulée" in follow_up


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_draft_or_a_cancelled_invoice_cannot_be_cancelled(app, auth_client, draft, method):
    response = getattr(auth_client, method)(f"/invoices/{draft}/cancel")
    assert response.status_code == 409
    finalized(app, auth_client, draft)
    assert auth_client.post(f"/invoices/{draft}/cancel").status_code == 303
    again = getattr(auth_client, method)(f"/invoices/{draft}/cancel")
    assert again.status_code == 409
    with app.app_context():
        assert db.session.scalar(select(func.count()).where(Invoice.kind == InvoiceKind.CREDIT_NOTE)) == 1


def test_duplicate_makes_a_new_draft_with_the_same_lines(app, auth_client, draft):
    finalized(app, auth_client, draft)
    response = auth_client.post(f"/invoices/{draft}/duplicate")
    assert response.status_code == 303
    with app.app_context():
        copy = db.session.scalars(select(Invoice).order_by(Invoice.id.desc())).first()
        assert copy.id != draft and copy.status is InvoiceStatus.DRAFT and copy.number is None
        assert [(line.description, line.net_cents) for line in copy.lines] == [("Prestation à 500.00", 100_000)]
    assert response.headers["Location"] == f"/invoices/{copy.id}?step=preparation"
    assert "Copie de la facture F-2026-0001" in text(auth_client.get(f"/invoices/{copy.id}?step=follow_up"))


def test_delete_draft_asks_for_confirmation_then_deletes_it(app, auth_client, draft):
    page = text(auth_client.get(f"/invoices/{draft}/delete"))
    assert "Supprimer ce brouillon ?" in page and "Boulangerie Martin" in page
    assert state(app, draft) is not None
    response = auth_client.post(f"/invoices/{draft}/delete")
    assert response.status_code == 303 and response.headers["Location"] == "/"
    assert state(app, draft) is None
    assert "Brouillon supprimé." in text(auth_client.get("/"))


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_finalized_invoice_is_never_deleted(app, auth_client, draft, method):
    finalized(app, auth_client, draft)
    response = getattr(auth_client, method)(f"/invoices/{draft}/delete")
    assert response.status_code == 409
    assert "Seul un brouillon peut être supprimé" in text(response)
    assert state(app, draft)[1] == "F-2026-0001"


# --- PDF and history ---------------------------------------------------------


def test_download_gives_the_pdf_and_is_in_the_history(app, auth_client, draft):
    draft_pdf = auth_client.get(f"/invoices/{draft}/pdf")
    assert draft_pdf.status_code == 200
    assert f'filename=Brouillon-{draft}.pdf' in draft_pdf.headers["Content-Disposition"]
    finalized(app, auth_client, draft)
    response = auth_client.get(f"/invoices/{draft}/pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF-")
    assert response.headers["Content-Disposition"] == "attachment; filename=Facture-F-2026-0001.pdf"
    assert events(app, draft).count("downloaded") == 2
    assert "PDF téléchargé" in text(auth_client.get(f"/invoices/{draft}?step=follow_up"))


def test_history_is_newest_first_with_french_labels(app, auth_client, draft):
    sent(app, auth_client, draft)
    auth_client.get(f"/invoices/{draft}/pdf")
    page = text(auth_client.get(f"/invoices/{draft}?step=follow_up"))
    labels = ["PDF téléchargé", "Marquée comme envoyée", "Facture finalisée (F-2026-0001)", "Brouillon créé"]
    positions = [page.index(label) for label in labels]
    assert positions == sorted(positions)


# --- The whole flow ----------------------------------------------------------


def test_full_flow_draft_lines_finalize_mark_sent(app, auth_client, owner):
    with app.app_context():
        tps, tvq = make_tax_rate("TPS", 5_000, "RT0001"), make_tax_rate("TVQ", 9_975, "TQ0001")
        client_id = make_client("Studio Bleu", ("compta@bleu.ca",), currency="CAD").id
        item_id = make_item("Conseil", 3_333, tax_rates=[tps, tvq]).id
        rate_ids = [str(tps.id), str(tvq.id)]
        year = settings.today().year
        db.session.commit()
    invoice_id = int(auth_client.post("/invoices/new").headers["Location"].split("/")[2].split("?")[0])
    assert auth_client.post(f"/invoices/{invoice_id}/header", headers=HTMX,
                            data=header_data(app, invoice_id, client_id=str(client_id))).status_code == 200
    for _ in range(2):
        assert auth_client.post(f"/invoices/{invoice_id}/lines", data={"item_id": item_id}, headers=HTMX).status_code == 200
    assert auth_client.post(f"/invoices/{invoice_id}/lines", headers=HTMX).status_code == 200
    with app.app_context():
        free = db.session.get(Invoice, invoice_id).lines[-1].id
    data = {f"line-{free}-description": "Déplacement", f"line-{free}-quantity": "1",
            f"line-{free}-unit": "forfait", f"line-{free}-unit_price": "33,33",
            f"line-{free}-discount_kind": "percent", f"line-{free}-tax_rate_ids": rate_ids}
    totals = text(auth_client.post(f"/invoices/{invoice_id}/lines/{free}", data=data, headers=HTMX))
    assert "114,96" in totals  # 99,99 + TPS 5,00 + TVQ 9,97: taxes on the sum, not per line
    with app.app_context():
        invoice = db.session.get(Invoice, invoice_id)
        assert (invoice.currency, invoice.net_cents, invoice.tax_cents) == ("CAD", 9_999, 1_497)
    assert auth_client.post(f"/invoices/{invoice_id}/finalize", headers=HTMX).status_code == 200
    assert state(app, invoice_id)[:2] == (InvoiceStatus.TO_SEND, f"F-{year}-0001")
    assert auth_client.post(f"/invoices/{invoice_id}/sent", headers=HTMX).status_code == 200
    assert state(app, invoice_id)[0] is InvoiceStatus.AWAITING_PAYMENT
