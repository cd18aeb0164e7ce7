"""The invoice page and its editor (« Préparation »): header, new client, lines, totals, schedule."""

import re
from datetime import date, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from billing import settings
from billing.models import Client, Event, Invoice, InvoiceStatus, db
from tests.conftest import count_queries
from tests.factories import (
    make_client,
    make_invoice,
    make_item,
    make_job,
    make_tax_rate,
)

HTMX = {"HX-Request": "true"}


@pytest.fixture
def world(app, owner):
    """Québec taxes, a client (CAD, 15 days) with a job, a catalog item, a draft with one line."""
    with app.app_context():
        tps = make_tax_rate("TPS", 5_000, "RT0001")
        tvq = make_tax_rate("TVQ", 9_975, "TQ0001")
        client = make_client("Boulangerie Martin", currency="CAD", payment_terms_days=15)
        job = make_job(client, "Refonte du site")
        other = make_client("Café Lune", ("caisse@lune.ca",), payment_terms_days=45, currency="USD")
        other_job = make_job(other, "Menu d'automne")
        item = make_item("Conseil", 12_000, tax_rates=[tps, tvq], unit="heure")
        invoice = make_invoice(client, lines=[(1, 10_000)], taxes=[tps])
        db.session.commit()
        return SimpleNamespace(
            tps=tps.id, tvq=tvq.id, client=client.id, job=job.id, other=other.id,
            other_job=other_job.id, item=item.id, invoice=invoice.id, line=invoice.lines[0].id,
        )


def snapshot(app, invoice_id):
    """Everything the editor can change, to check that a refusal changed nothing."""
    with app.app_context():
        invoice = db.session.get(Invoice, invoice_id)
        events = db.session.scalar(select(func.count()).select_from(Event))
        return (
            invoice.status, invoice.client_id, invoice.job_id, invoice.issue_date,
            invoice.payment_terms_days, invoice.due_date, invoice.currency, invoice.reference,
            invoice.notes, invoice.footer, invoice.net_cents, invoice.total_cents, invoice.revision,
            [(line.position, line.description, line.quantity_millis, line.unit, line.unit_price_cents,
              line.discount_percent_millis, line.discount_cents, [t.name for t in line.taxes])
             for line in invoice.lines],
            [(i.due_date, i.percent_millis, i.amount_cents) for i in invoice.instalments],
            events,
            db.session.scalar(select(func.count()).select_from(Client)),
        )


def header_data(app, invoice_id, **changes):
    """The header form as the page shows it, with `changes`."""
    with app.app_context():
        invoice = db.session.get(Invoice, invoice_id)
        data = dict(
            client_id=str(invoice.client_id or ""), job_id=str(invoice.job_id or ""),
            issue_date=invoice.issue_date.isoformat(), payment_terms_days=str(invoice.payment_terms_days),
            due_date=invoice.due_date.isoformat(), currency=invoice.currency,
            reference=invoice.reference, notes=invoice.notes, footer=invoice.footer,
        )
    data.update(changes)
    return data


def line_data(line_id, tax_rate_ids=(), **changes):
    values = dict(description="Audit", quantity="1", unit="jour", unit_price="100",
                  discount="", discount_kind="percent")
    values.update(changes)
    data = {f"line-{line_id}-{name}": value for name, value in values.items()}
    data[f"line-{line_id}-tax_rate_ids"] = [str(rate) for rate in tax_rate_ids]
    return data


def invoice_row(app, invoice_id) -> Invoice:
    with app.app_context():
        invoice = db.session.get(Invoice, invoice_id)
        db.session.expunge(invoice)
        return invoice


def lines_of(app, invoice_id):
    with app.app_context():
        invoice = db.session.get(Invoice, invoice_id)
        return [(line.description, line.quantity_millis, line.unit_price_cents, line.net_cents,
                 [t.name for t in line.taxes]) for line in invoice.lines]


def text(response) -> str:
    return response.get_data(as_text=True)


def plain(page: str) -> str:
    """The page with the narrow and no-break spaces of French formatting as plain spaces."""
    return page.replace("\u202f", " ").replace("\xa0", " ")


# --- Creating and opening ----------------------------------------------------


def test_new_invoice_creates_a_draft_dated_today_and_opens_its_editor(app, auth_client, owner):
    response = auth_client.post("/invoices/new")
    assert response.status_code == 303
    with app.app_context():
        invoice = db.session.scalar(select(Invoice))
        assert invoice.status is InvoiceStatus.DRAFT and invoice.number is None
        assert invoice.issue_date == settings.today()
        assert [e.kind for e in db.session.scalars(select(Event))] == ["created"]
    assert response.headers["Location"] == f"/invoices/{invoice.id}?step=preparation"
    page = text(auth_client.get(response.headers["Location"]))
    assert "Brouillon de facture" in page and 'id="header-form"' in page


def test_new_invoice_for_a_job_takes_its_client_terms_and_currency(app, auth_client, world):
    response = auth_client.post("/invoices/new", data={"job_id": world.job})
    assert response.status_code == 303
    with app.app_context():
        invoice = db.session.scalars(select(Invoice).order_by(Invoice.id.desc())).first()
        assert (invoice.client_id, invoice.job_id, invoice.currency) == (world.client, world.job, "CAD")
        assert invoice.due_date == invoice.issue_date + timedelta(days=15)


@pytest.mark.parametrize("data", [{"client_id": "999"}, {"job_id": "999"}, {"client_id": "abc"}])
def test_new_invoice_for_an_unknown_client_or_job_is_404(app, auth_client, world, data):
    before = snapshot(app, world.invoice)
    assert auth_client.post("/invoices/new", data=data).status_code == 404
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Invoice)) == 1
    assert snapshot(app, world.invoice) == before


def test_new_invoice_for_the_job_of_another_client_is_404(app, auth_client, world):
    response = auth_client.post("/invoices/new", data={"client_id": world.client, "job_id": world.other_job})
    assert response.status_code == 404


def test_draft_page_has_the_three_steps_and_the_editor(auth_client, world):
    page = text(auth_client.get(f"/invoices/{world.invoice}"))
    for label in ("Préparation", "Envoi", "Suivi"):
        assert f">{label}</a>" in page
    assert 'aria-current="page">Préparation' in page
    assert 'name="client_id"' in page and 'name="job_id"' in page and 'name="due_date"' in page
    assert f'name="line-{world.line}-quantity"' in page
    assert 'hx-trigger="submit, change, input delay:800ms"' in page
    assert 'hx-history="false"' in page  # back: the saved values, never a stale copy
    assert page.count(">Sauvegarder</button>") >= 3  # header, the line, the schedule: usable without JS
    assert "Calendrier de paiement" in page and "Finaliser la facture" in page


@pytest.mark.parametrize(("step", "shows"), [
    ("preparation", 'id="header-form"'),
    ("sending", "Télécharger la facture"),
    ("follow_up", "Aucun paiement pour le moment."),
])
def test_each_step_is_a_page_and_an_htmx_block(auth_client, world, step, shows):
    full = text(auth_client.get(f"/invoices/{world.invoice}?step={step}"))
    assert full.startswith("<!doctype html>") and shows in full
    block = text(auth_client.get(f"/invoices/{world.invoice}?step={step}", headers=HTMX))
    assert "<html" not in block and block.lstrip().startswith('<div id="invoice"') and shows in block


@pytest.mark.parametrize("path", [
    "/invoices/999", "/invoices/999/picker", "/invoices/999/number", "/invoices/999/cancel",
    "/invoices/999/delete", "/invoices/999/pdf",
])
def test_unknown_invoice_pages_are_404(auth_client, world, path):
    assert auth_client.get(path).status_code == 404


@pytest.mark.parametrize("path", [
    "/invoices/999/header", "/invoices/999/client", "/invoices/999/lines", "/invoices/999/lines/1",
    "/invoices/999/lines/1/remove", "/invoices/999/lines/1/move/up", "/invoices/999/schedule",
    "/invoices/999/finalize", "/invoices/999/sent", "/invoices/999/number", "/invoices/999/cancel",
    "/invoices/999/duplicate", "/invoices/999/delete",
])
def test_unknown_invoice_actions_are_404(auth_client, world, path):
    assert auth_client.post(path).status_code == 404


def test_the_invoice_pages_need_the_owner(client, world):
    assert client.get(f"/invoices/{world.invoice}").status_code == 302
    assert client.post(f"/invoices/{world.invoice}/header").status_code == 303


# --- Header ------------------------------------------------------------------


def test_header_autosave_keeps_each_field_and_answers_out_of_band(app, auth_client, world):
    data = header_data(app, world.invoice, reference="BC-42", notes="Merci !", footer="Pied")
    response = auth_client.post(f"/invoices/{world.invoice}/header", data=data, headers=HTMX)
    assert response.status_code == 200
    page = text(response)
    assert re.search(r'<p id="save-state" class="save-state" role="status" hx-swap-oob="true"[^>]*>Enregistré</p>', page)
    assert 'id="totals"' in page and 'id="reference-errors" hx-swap-oob="true"' in page
    assert 'id="reference"' not in page  # the input being typed in is left alone
    invoice = invoice_row(app, world.invoice)
    assert (invoice.reference, invoice.notes, invoice.footer) == ("BC-42", "Merci !", "Pied")


def test_choosing_another_client_brings_its_terms_currency_and_jobs(app, auth_client, world):
    data = header_data(app, world.invoice, client_id=str(world.other), job_id=str(world.job))
    page = text(auth_client.post(f"/invoices/{world.invoice}/header", data=data, headers=HTMX))
    invoice = invoice_row(app, world.invoice)
    assert (invoice.client_id, invoice.job_id, invoice.currency) == (world.other, None, "USD")
    assert invoice.payment_terms_days == 45
    assert invoice.due_date == invoice.issue_date + timedelta(days=45)
    assert '<form id="header-form"' in page and 'hx-swap-oob="true"' in page
    assert "Menu d&#39;automne" in page and "Refonte du site" not in page  # only that client's jobs
    assert 'value="USD"' in page and "45" in page


def test_changing_the_terms_moves_the_due_date(app, auth_client, world):
    data = header_data(app, world.invoice, payment_terms_days="10")
    page = text(auth_client.post(f"/invoices/{world.invoice}/header", data=data, headers=HTMX))
    invoice = invoice_row(app, world.invoice)
    assert invoice.due_date == invoice.issue_date + timedelta(days=10)
    assert f'value="{invoice.due_date.isoformat()}"' in page  # the due date field, refreshed
    assert 'id="due_date-field" hx-swap-oob="true"' in page
    assert 'id="payment_terms_days-field"' not in page  # the field being typed in is left alone


def test_typing_a_due_date_changes_the_terms(app, auth_client, world):
    issue = invoice_row(app, world.invoice).issue_date
    data = header_data(app, world.invoice, due_date=(issue + timedelta(days=20)).isoformat())
    page = text(auth_client.post(f"/invoices/{world.invoice}/header", data=data, headers=HTMX))
    assert invoice_row(app, world.invoice).payment_terms_days == 20
    assert 'id="payment_terms_days-field" hx-swap-oob="true"' in page and 'value="20"' in page


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"due_date": "2026-11-01"}, "due_date", "L&#39;échéance ne peut pas précéder la date de la facture."),
    ({"payment_terms_days": "abc"}, "payment_terms_days", "pas un entier valide"),
    ({"payment_terms_days": "400"}, "payment_terms_days", "entre 0 et 365 jours"),
    ({"issue_date": ""}, "issue_date", "Ce champ est obligatoire."),
    ({"client_id": "999"}, "client_id", "Ce client n&#39;existe pas."),
    ({"reference": "x" * 101}, "reference", "Au plus 100 caractères."),
])
def test_bad_header_input_is_refused_next_to_its_field(app, auth_client, world, changes, field, message):
    before = snapshot(app, world.invoice)
    data = header_data(app, world.invoice, **changes)
    response = auth_client.post(f"/invoices/{world.invoice}/header", data=data, headers=HTMX)
    assert response.status_code == 422
    slot = re.search(rf'<div class="field-errors" id="{field}-errors" hx-swap-oob="true">(.*?)</div>', text(response))
    assert slot and '<p class="error">' in slot.group(1) and message in slot.group(1)
    assert "Non enregistré" in text(response)
    assert snapshot(app, world.invoice) == before


def test_a_job_of_another_client_is_refused(app, auth_client, world):
    before = snapshot(app, world.invoice)
    data = header_data(app, world.invoice, job_id=str(world.other_job))
    response = auth_client.post(f"/invoices/{world.invoice}/header", data=data, headers=HTMX)
    assert response.status_code == 422
    assert "Ce dossier appartient à un autre client." in text(response)
    assert snapshot(app, world.invoice) == before


def test_header_without_javascript_saves_and_comes_back(app, auth_client, world):
    data = header_data(app, world.invoice, reference="PO 7")
    response = auth_client.post(f"/invoices/{world.invoice}/header", data=data)
    assert response.status_code == 303
    assert response.headers["Location"] == f"/invoices/{world.invoice}?step=preparation"
    assert invoice_row(app, world.invoice).reference == "PO 7"


def test_header_error_without_javascript_keeps_what_was_typed(app, auth_client, world):
    before = snapshot(app, world.invoice)
    data = header_data(app, world.invoice, due_date="2020-01-01", reference="<script>alert(1)</script>")
    response = auth_client.post(f"/invoices/{world.invoice}/header", data=data)
    assert response.status_code == 422
    page = text(response)
    assert page.startswith("<!doctype html>")
    assert 'value="2020-01-01"' in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert(1)" not in page
    assert "L&#39;échéance ne peut pas précéder la date de la facture." in page
    assert snapshot(app, world.invoice) == before


# --- New client inline -------------------------------------------------------


def test_new_client_inline_is_created_and_chosen(app, auth_client, world):
    data = {"new_client-name": "Atelier Nord", "new_client-emails": "a@nord.fr; b@nord.fr"}
    response = auth_client.post(f"/invoices/{world.invoice}/client", data=data, headers=HTMX)
    assert response.status_code == 200
    with app.app_context():
        client = db.session.scalar(select(Client).where(Client.name == "Atelier Nord"))
        assert client.emails == ["a@nord.fr", "b@nord.fr"] and client.by_email
        invoice = db.session.get(Invoice, world.invoice)
        assert invoice.client_id == client.id and invoice.job_id is None
        assert invoice.payment_terms_days == 30  # the settings' terms
    page = text(response)
    assert page.lstrip().startswith('<details id="new-client"')
    assert f'<option selected value="{client.id}">Atelier Nord</option>' in page


def test_new_client_without_email_receives_by_post(app, auth_client, world):
    response = auth_client.post(f"/invoices/{world.invoice}/client", data={"new_client-name": "Sans Mail"})
    assert response.status_code == 303
    with app.app_context():
        client = db.session.scalar(select(Client).where(Client.name == "Sans Mail"))
        assert client.by_email is False and client.emails == []


@pytest.mark.parametrize(("data", "message"), [
    ({"new_client-name": "Nord", "new_client-emails": "a@nord.fr, pas-une-adresse, c@nord.fr"},
     "Adresse email invalide : pas-une-adresse"),
    ({"new_client-name": "  ", "new_client-emails": "a@nord.fr"}, "Le nom du client est obligatoire."),
])
def test_bad_new_client_is_refused_and_keeps_what_was_typed(app, auth_client, world, data, message):
    before = snapshot(app, world.invoice)
    response = auth_client.post(f"/invoices/{world.invoice}/client", data=data, headers=HTMX)
    assert response.status_code == 422
    page = text(response)
    assert message in page and "<details id=\"new-client\" class=\"card new-client\" open>" in page
    assert f'value="{data["new_client-emails"]}"' in page
    assert snapshot(app, world.invoice) == before


def test_new_client_name_with_a_script_is_shown_escaped(app, auth_client, world):
    data = {"new_client-name": "<script>alert(1)</script>", "new_client-emails": "x@y.fr"}
    auth_client.post(f"/invoices/{world.invoice}/client", data=data)
    page = text(auth_client.get(f"/invoices/{world.invoice}"))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page


# --- Lines -------------------------------------------------------------------


def test_add_free_line_answers_the_lines_and_the_totals(app, auth_client, world):
    response = auth_client.post(f"/invoices/{world.invoice}/lines", headers=HTMX)
    assert response.status_code == 200
    page = text(response)
    assert page.lstrip().startswith('<div id="lines"')
    assert page.count('class="card line"') == 2
    assert 'id="totals" class="card totals" aria-labelledby="totals-title" hx-swap-oob="true"' in page
    assert len(lines_of(app, world.invoice)) == 2


def test_add_free_line_without_javascript_comes_back_to_the_line(app, auth_client, world):
    response = auth_client.post(f"/invoices/{world.invoice}/lines")
    assert response.status_code == 303
    with app.app_context():
        line_id = db.session.get(Invoice, world.invoice).lines[-1].id
    assert response.headers["Location"] == f"/invoices/{world.invoice}?step=preparation#line-{line_id}"


def test_add_catalog_item_copies_its_price_unit_and_taxes(app, auth_client, world):
    response = auth_client.post(f"/invoices/{world.invoice}/lines", data={"item_id": world.item}, headers=HTMX)
    assert response.status_code == 200
    assert lines_of(app, world.invoice)[-1] == ("Conseil", 1000, 12_000, 12_000, ["TPS", "TVQ"])
    invoice = invoice_row(app, world.invoice)
    assert invoice.total_cents == 10_000 + 500 + 12_000 + 600 + 1_197


def test_add_unknown_catalog_item_is_404(app, auth_client, world):
    before = snapshot(app, world.invoice)
    assert auth_client.post(f"/invoices/{world.invoice}/lines", data={"item_id": "999"}).status_code == 404
    assert snapshot(app, world.invoice) == before


def test_picker_results_are_buttons_that_add_the_item(auth_client, world):
    block = text(auth_client.get(f"/invoices/{world.invoice}/picker?q=cons", headers=HTMX))
    assert block.lstrip().startswith('<form id="picker-results"')
    assert f'hx-post="/invoices/{world.invoice}/lines" hx-target="#lines"' in block
    assert f'<button type="submit" name="item_id" value="{world.item}" class="pick">' in block
    assert "Conseil" in block
    nothing = text(auth_client.get(f"/invoices/{world.invoice}/picker?q=zzz", headers=HTMX))
    assert "Aucun produit ne correspond." in nothing


def test_picker_page_works_without_javascript(auth_client, world):
    page = text(auth_client.get(f"/invoices/{world.invoice}/picker?q=Conseil"))
    assert page.startswith("<!doctype html>") and "Ajouter depuis le catalogue" in page
    assert f'action="/invoices/{world.invoice}/lines"' in page and "hx-post" not in page.split('id="picker-results"')[1]
    response = auth_client.post(f"/invoices/{world.invoice}/lines", data={"item_id": world.item})
    assert response.status_code == 303


def test_line_autosave_reads_commas_and_spaces_and_updates_the_totals(app, auth_client, world):
    data = line_data(world.line, [world.tps, world.tvq], description="Conseil", quantity="1,5",
                     unit_price="1 234,56")
    response = auth_client.post(f"/invoices/{world.invoice}/lines/{world.line}", data=data, headers=HTMX)
    assert response.status_code == 200
    assert lines_of(app, world.invoice) == [("Conseil", 1500, 123_456, 185_184, ["TPS", "TVQ"])]
    page = text(response)
    assert f'<strong id="line-{world.line}-net" hx-swap-oob="true">1 851,84 $</strong>' in plain(page)
    invoice = invoice_row(app, world.invoice)
    assert invoice.total_cents == 185_184 + 9_259 + 18_472
    assert "TPS (5 %)" in page and "TVQ (9,975 %)" in page and "n° TQ0001" in page
    assert f'name="line-{world.line}-quantity"' not in page  # the inputs are left alone


@pytest.mark.parametrize(("discount", "kind", "net"), [("10", "percent", 9_000), ("25,50", "amount", 7_450)])
def test_line_discount_in_percent_or_amount(app, auth_client, world, discount, kind, net):
    data = line_data(world.line, discount=discount, discount_kind=kind)
    auth_client.post(f"/invoices/{world.invoice}/lines/{world.line}", data=data, headers=HTMX)
    assert lines_of(app, world.invoice)[0][3] == net
    page = text(auth_client.get(f"/invoices/{world.invoice}"))
    assert f'value="{discount}"' in page


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"quantity": "abc"}, "quantity", "Quantité invalide"),
    ({"quantity": "0"}, "quantity", "La quantité doit être positive."),
    ({"quantity": "1,2345"}, "quantity", "au plus 3 décimales"),
    ({"quantity": ""}, "quantity", "Ce champ est obligatoire."),
    ({"unit_price": "-5"}, "unit_price", "Le montant ne peut pas être négatif."),
    ({"unit_price": "douze"}, "unit_price", "Montant invalide"),
    ({"discount": "150"}, "discount", "comprise entre 0 et 100 %"),
    ({"discount": "500", "discount_kind": "amount"}, "discount", "La remise dépasse le montant de la ligne."),
    ({"discount": "dix"}, "discount", "Remise invalide"),
])
def test_bad_line_input_is_refused_next_to_its_field(app, auth_client, world, changes, field, message):
    before = snapshot(app, world.invoice)
    data = line_data(world.line, **changes)
    response = auth_client.post(f"/invoices/{world.invoice}/lines/{world.line}", data=data, headers=HTMX)
    assert response.status_code == 422
    slot = re.search(
        rf'<div class="field-errors" id="line-{world.line}-{field}-errors" hx-swap-oob="true">(.*?)</div>',
        text(response),
    )
    assert slot and message in slot.group(1)
    assert snapshot(app, world.invoice) == before


def test_bad_line_without_javascript_keeps_what_was_typed(app, auth_client, world):
    before = snapshot(app, world.invoice)
    data = line_data(world.line, description="Audit complet", quantity="abc", unit_price="-5")
    response = auth_client.post(f"/invoices/{world.invoice}/lines/{world.line}", data=data)
    assert response.status_code == 422
    page = text(response)
    assert 'value="abc"' in page and 'value="-5"' in page and "Audit complet</textarea>" in page
    assert "Quantité invalide" in page and "Le montant ne peut pas être négatif." in page
    assert snapshot(app, world.invoice) == before


def test_line_description_with_a_script_is_shown_escaped(app, auth_client, world):
    data = line_data(world.line, description="<script>alert(1)</script>")
    auth_client.post(f"/invoices/{world.invoice}/lines/{world.line}", data=data, headers=HTMX)
    page = text(auth_client.get(f"/invoices/{world.invoice}"))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page


def test_remove_line_answers_the_lines_and_new_totals(app, auth_client, world):
    auth_client.post(f"/invoices/{world.invoice}/lines", data={"item_id": world.item})
    response = auth_client.post(f"/invoices/{world.invoice}/lines/{world.line}/remove", headers=HTMX)
    assert response.status_code == 200
    assert [line[0] for line in lines_of(app, world.invoice)] == ["Conseil"]
    assert f'id="line-{world.line}"' not in text(response)
    assert invoice_row(app, world.invoice).total_cents == 12_000 + 600 + 1_197


def test_move_line_down_and_up(app, auth_client, world):
    auth_client.post(f"/invoices/{world.invoice}/lines", data={"item_id": world.item})
    response = auth_client.post(f"/invoices/{world.invoice}/lines/{world.line}/move/down", headers=HTMX)
    assert response.status_code == 200
    assert [line[0] for line in lines_of(app, world.invoice)] == ["Conseil", "Prestation à 100.00"]
    page = text(response)
    assert page.index("Conseil") < page.index("Prestation à 100.00")
    response = auth_client.post(f"/invoices/{world.invoice}/lines/{world.line}/move/up")
    assert response.status_code == 303
    assert [line[0] for line in lines_of(app, world.invoice)] == ["Prestation à 100.00", "Conseil"]


def test_unknown_line_or_a_line_of_another_invoice_is_404(app, auth_client, world):
    with app.app_context():
        other = make_invoice(make_client("Autre"))
        db.session.commit()
        other_line = other.lines[0].id
    for path in (f"/lines/{other_line}", "/lines/999", f"/lines/{other_line}/remove",
                 f"/lines/{other_line}/move/up"):
        assert auth_client.post(f"/invoices/{world.invoice}{path}").status_code == 404
    assert auth_client.post(f"/invoices/{world.invoice}/lines/{world.line}/move/sideways").status_code == 404


# --- Payment schedule --------------------------------------------------------


def schedule_data(*rows):
    data = {}
    for index, (due, value, kind) in enumerate(rows):
        data[f"schedule-rows-{index}-due_date"] = due
        data[f"schedule-rows-{index}-value"] = value
        data[f"schedule-rows-{index}-kind"] = kind
    return data


def test_schedule_in_percentages_adds_up_exactly(app, auth_client, world):
    auth_client.post(f"/invoices/{world.invoice}/lines/{world.line}",
                     data=line_data(world.line, unit_price="100,01"))
    data = schedule_data(("2026-12-01", "30", "percent"), ("2027-01-01", "70", "percent"), ("", "", "percent"))
    response = auth_client.post(f"/invoices/{world.invoice}/schedule", data=data, headers=HTMX)
    assert response.status_code == 200
    with app.app_context():
        invoice = db.session.get(Invoice, world.invoice)
        assert [(i.due_date, i.amount_cents) for i in invoice.instalments] == [
            (date(2026, 12, 1), 3_000), (date(2027, 1, 1), 7_001)]
        assert invoice.due_date == date(2027, 1, 1)
    page = text(response)
    assert page.lstrip().startswith('<form id="schedule"')
    assert 'value="30"' in page and 'value="70"' in page
    assert "Calendrier de paiement" in page.split('id="totals"')[1]  # the summary in the totals
    assert 'id="due_date" name="due_date" type="date" value="2027-01-01"' in page  # header refreshed


def test_schedule_in_amounts(app, auth_client, world):
    data = schedule_data(("2026-12-01", "40", "amount"), ("2026-12-15", "65", "amount"))
    response = auth_client.post(f"/invoices/{world.invoice}/schedule", data=data)
    assert response.status_code == 303
    with app.app_context():
        amounts = [i.amount_cents for i in db.session.get(Invoice, world.invoice).instalments]
    assert amounts == [4_000, 6_500]  # 100 + 5 % TPS = 105,00


@pytest.mark.parametrize(("rows", "message"), [
    ((("2026-12-01", "30", "percent"), ("2027-01-01", "71", "percent")), "Les échéances totalisent 101 % au lieu de 100 %."),
    ((("2026-12-01", "40", "amount"), ("2027-01-01", "40", "amount")), "ne totalisent pas le montant"),
    ((("", "50", "percent"), ("2027-01-01", "50", "percent")), "Indiquez la date de cette échéance."),
    ((("2026-12-01", "", "percent"), ("2027-01-01", "100", "percent")), "Indiquez un pourcentage ou un montant."),
    ((("2026-12-01", "moitié", "percent"),), "Valeur invalide"),
    ((("2020-01-01", "100", "percent"),), "Une échéance ne peut pas précéder la date de la facture."),
])
def test_bad_schedule_is_refused_and_keeps_what_was_typed(app, auth_client, world, rows, message):
    before = snapshot(app, world.invoice)
    response = auth_client.post(f"/invoices/{world.invoice}/schedule", data=schedule_data(*rows), headers=HTMX)
    assert response.status_code == 422
    page = text(response)
    assert message in page
    for due, value, _kind in rows:
        assert f'value="{due}"' in page and f'value="{value}"' in page
    assert snapshot(app, world.invoice) == before


def test_schedule_can_be_removed(app, auth_client, world):
    auth_client.post(f"/invoices/{world.invoice}/schedule",
                     data=schedule_data(("2026-12-01", "50", "percent"), ("2027-01-01", "50", "percent")))
    response = auth_client.post(f"/invoices/{world.invoice}/schedule", data={"clear": "1"}, headers=HTMX)
    assert response.status_code == 200
    with app.app_context():
        assert db.session.get(Invoice, world.invoice).instalments == []


# --- Performance -------------------------------------------------------------


def invoice_with_lines(app, count: int) -> int:
    with app.app_context():
        taxes = [make_tax_rate("TPS", 5_000), make_tax_rate("TVQ", 9_975)]
        invoice = make_invoice(make_client(f"Client {count}"), lines=[(1, 1_000)] * count, taxes=taxes)
        db.session.commit()
        return invoice.id


@pytest.mark.parametrize("step", ["preparation", "sending", "follow_up"])
def test_invoice_page_runs_the_same_queries_for_10_and_200_lines(app, auth_client, owner, step):
    small, large = invoice_with_lines(app, 10), invoice_with_lines(app, 200)
    counts = []
    for invoice_id in (small, large):
        with count_queries(app) as queries:
            response = auth_client.get(f"/invoices/{invoice_id}?step={step}")
        assert response.status_code == 200
        counts.append(queries())
    assert counts[0] == counts[1]
