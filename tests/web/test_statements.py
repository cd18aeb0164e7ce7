"""« Relevé » through the test client: the client page's entry, the modal and its « Aperçu »,
the printable page, the PDF, « Envoyer le relevé » to a real SMTP server, and what is refused."""

import io
from datetime import date, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import func, insert, select

from billing import invoices, outbox, payments
from billing.models import Event, Invoice, Message, Payment, PaymentMethod, Statement, db
from tests.conftest import OWNER_EMAIL, TODAY, count_queries
from tests.factories import insert_invoices, make_client, make_invoice
from tests.web.test_send_modal import PDF_BYTES, field_error, text, with_files
from tests.web.test_settings_emails import configure_smtp

HTMX = {"HX-Request": "true"}
PERIOD = {"start": "2026-01-01", "end": "2026-06-30"}
QUERY = "start=2026-01-01&end=2026-06-30"
SCRIPT = "<script>alert(1)</script>"


def issued(client, day, cents, due=None):
    invoice = make_invoice(client, lines=((1, cents),), issue_date=day,
                           due_date=due or day + timedelta(days=30))
    invoices.finalize(invoice, day)
    invoices.mark_sent(invoice)
    return invoice


@pytest.fixture
def world(app, owner):
    """Boulangerie Martin (compta@martin.fr): F-2025-0001 (50,00 €, before the period), in 2026
    F-2026-0001 (100,00 €, paid), F-2026-0002 (200,00 €, late at 30/06) and F-2026-0006
    (300,00 € on 30/06); Solo has one invoice; Groupe Dupont has a child with invoices."""
    with app.app_context():
        martin = make_client()
        issued(martin, date(2025, 12, 1), 5_000)
        paid = issued(martin, date(2026, 2, 1), 10_000)
        payments.add(paid, date(2026, 2, 10), 10_000, PaymentMethod.CHEQUE, TODAY)
        issued(martin, date(2026, 3, 1), 20_000, due=date(2026, 3, 31))
        solo = make_client("Solo", emails=("solo@x.fr",))
        issued(solo, date(2026, 3, 2), 1_000)
        parent = make_client("Groupe Dupont", emails=("groupe@dupont.fr",))
        child = make_client("Dupont Lyon", parent=parent)
        issued(child, date(2026, 4, 1), 7_000)
        issued(child, date(2026, 4, 2), 8_000)
        issued(martin, date(2026, 6, 30), 30_000)  # numbers follow the order of dates
        db.session.commit()
        return {"martin": martin.id, "solo": solo.id, "parent": parent.id}


def counts(app) -> tuple:
    """What a refused request must leave as it was."""
    with app.app_context():
        return tuple(db.session.scalar(select(func.count()).select_from(model))
                     for model in (Statement, Message, Event))


# --- The client page's « Créer » → « Relevé » ----------------------------------------------


def test_the_client_page_offers_the_statement_in_the_create_menu(auth_client, world):
    html = text(auth_client.get(f"/clients/{world['martin']}"))
    url = f"/clients/{world['martin']}/statement"
    assert "<summary class=\"button\">Créer</summary>" in html
    assert f'<a class="button secondary" href="{url}" hx-get="{url}" hx-target="#modal">Relevé</a>' in html


def test_a_client_with_one_invoice_gets_a_greyed_out_entry_with_the_reason(auth_client, world):
    html = text(auth_client.get(f"/clients/{world['solo']}"))
    assert ('<button type="button" class="secondary" disabled aria-describedby="statement-reason">'
            "Relevé</button>") in html
    assert "ce client n&#39;en a qu&#39;une, envoyez-la directement." in html
    assert f"/clients/{world['solo']}/statement" not in html


def test_the_statement_of_a_client_with_one_invoice_is_refused(app, auth_client, world):
    before = counts(app)
    for url in ("statement", f"statement?{QUERY}", f"statement/send?{QUERY}"):
        response = auth_client.get(f"/clients/{world['solo']}/{url}")
        assert response.status_code == 409 and "envoyez-la directement" in text(response)
    assert auth_client.post(f"/clients/{world['solo']}/statement", data=PERIOD).status_code == 409
    response = auth_client.get(f"/clients/{world['solo']}/statement", headers=HTMX)
    assert response.status_code == 409 and response.headers["HX-Refresh"] == "true"
    assert counts(app) == before


# --- The modal and « Aperçu » ------------------------------------------------------------


def test_htmx_gets_the_dialog_from_the_first_of_january_to_today(auth_client, world):
    html = text(auth_client.get(f"/clients/{world['martin']}/statement", headers=HTMX))
    assert html.lstrip().startswith('<dialog id="statement-dialog"') and "<html" not in html
    assert 'name="start" required type="date" value="2026-01-01"' in html
    assert 'name="end" required type="date" value="2026-11-24"' in html
    assert "afficher que les factures impayées" in html
    assert "Inclure les clients rattachés" not in html  # no children
    assert ">Aperçu</button>" in html and "data-close-dialog" in html
    assert 'id="statement"' not in html


def test_a_parent_is_offered_its_children(auth_client, world):
    html = text(auth_client.get(f"/clients/{world['parent']}/statement"))
    assert html.startswith("<!doctype html>") and "<dialog" not in html
    assert "Inclure les clients rattachés" in html and "Dupont Lyon" in html


def test_apercu_shows_the_statement_under_the_form(auth_client, world):
    response = auth_client.post(f"/clients/{world['martin']}/statement", headers=HTMX,
                                data={**PERIOD, "unpaid_only": "y"})
    html = text(response)
    assert response.status_code == 200 and html.lstrip().startswith('<div id="statement-body"')
    assert 'value="2026-06-30"' in html and '<input checked id="unpaid_only"' in html
    assert "du 01/01/2026 au 30/06/2026" in html
    assert "Solde au 01/01/2026</th><td>50,00\xa0€" in html
    assert "Solde dû au 30/06/2026</th><td>550,00\xa0€" in html
    assert "F-2026-0001" not in html.split('id="statement"')[1].split("<h4>Paiements")[0]
    assert "1 facture réglée non détaillée." in html
    assert '<tr class="overdue">' in html and '<span class="badge danger">En retard</span>' in html
    assert "F-2026-0006" in html
    query = (QUERY + "&unpaid_only=y").replace("&", "&amp;")
    assert f'href="/clients/{world["martin"]}/statement.pdf?{query}">Télécharger le PDF' in html
    assert f'hx-get="/clients/{world["martin"]}/statement/send?{query}" hx-target="#modal"' in html
    assert 'target="_blank" rel="noopener">Imprimer</a>' in html


def test_the_statement_page_is_printable(app, auth_client, world):
    html = text(auth_client.get(f"/clients/{world['martin']}/statement?{QUERY}"))
    assert html.startswith("<!doctype html>")
    assert 'id="statement-form" class="statement-form no-print"' in html
    assert 'class="actions statement-actions no-print"' in html
    assert f'href="/clients/{world["martin"]}/statement?{QUERY.replace("&", "&amp;")}" data-print>Imprimer' in html
    css = (Path(app.static_folder) / "app.css").read_text()
    assert "@media print" in css and ".topbar, .flashes, .no-print" in css


def test_children_are_grouped_by_child(auth_client, world):
    html = text(auth_client.post(f"/clients/{world['parent']}/statement",
                                 data={**PERIOD, "include_children": "y"}))
    assert '<h5 class="statement-group">Dupont Lyon</h5>' in html
    assert "Solde dû au 30/06/2026</th><td>150,00\xa0€" in html
    without = text(auth_client.post(f"/clients/{world['parent']}/statement", data=PERIOD))
    assert "Dupont Lyon</h5>" not in without and "Aucune facture à afficher" in without


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"start": "2026-06-30", "end": "2026-01-01"}, "end",
     "« Fin » doit être le même jour que « Début » ou après."),
    ({"start": "31/02/2026", "end": "2026-06-30"}, "start",
     "Date invalide : choisissez-la dans le calendrier ou écrivez-la jj/mm/aaaa."),
    ({"start": "2026-01-01", "end": "hier"}, "end",
     "Date invalide : choisissez-la dans le calendrier ou écrivez-la jj/mm/aaaa."),
    ({"start": "", "end": "2026-06-30"}, "start", "Ce champ est obligatoire."),
    ({"start": "2001-01-01", "end": "2026-06-30"}, "start",
     "Un relevé couvre au plus 10 ans : rapprochez « Début » de « Fin »."),
])
def test_a_wrong_period_is_answered_next_to_its_field_and_kept(app, auth_client, world, data, field,
                                                                message):
    before = counts(app)
    response = auth_client.post(f"/clients/{world['martin']}/statement", headers=HTMX, data=data)
    html = text(response)
    assert response.status_code == 422
    assert field_error(html, field) == message.replace("'", "&#39;")
    assert f'value="{data[field]}"' in html or data[field] == ""
    assert 'id="statement"' not in html
    assert counts(app) == before


def test_dates_typed_by_hand_in_french_are_understood(auth_client, world):
    html = text(auth_client.post(f"/clients/{world['martin']}/statement",
                                 data={"start": "01/01/2026", "end": "30/06/2026"}))
    assert "Solde dû au 30/06/2026</th><td>550,00\xa0€" in html


def test_a_wrong_period_in_a_link_shows_the_form_with_the_message(auth_client, world):
    for url in ("statement.pdf", "statement/send"):
        response = auth_client.get(f"/clients/{world['martin']}/{url}?start=2026-06-30&end=2026-01-01")
        assert response.status_code == 422
        assert "« Fin » doit être le même jour que « Début » ou après." in text(response)


def test_unknown_clients_are_404(auth_client, world):
    for url in ("statement", f"statement?{QUERY}", f"statement.pdf?{QUERY}", f"statement/send?{QUERY}"):
        assert auth_client.get(f"/clients/999/{url}").status_code == 404
    for url in ("statement", f"statement/send?{QUERY}", f"statement/send/preview?{QUERY}"):
        assert auth_client.post(f"/clients/999/{url}", data=PERIOD).status_code == 404
    assert auth_client.get(f"/clients/{2**63}/statement").status_code == 404


def test_posts_without_a_csrf_token_are_refused(app, auth_client, world):
    before = counts(app)
    base = f"/clients/{world['martin']}/statement"
    for url in (base, f"{base}/send?{QUERY}", f"{base}/send/preview?{QUERY}"):
        response = auth_client.post(url, data={**PERIOD, "recipients": "a@b.fr", "subject": "R",
                                               "body": "B"}, csrf=False)
        assert response.status_code == 400 and "Formulaire expiré" in text(response)
    assert counts(app) == before


def test_the_statement_needs_the_owner(client, world):
    response = client.get(f"/clients/{world['martin']}/statement.pdf?{QUERY}")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_script_in_the_clients_name_is_escaped_in_the_preview(app, auth_client, world):
    with app.app_context():
        client = make_client(SCRIPT)
        issued(client, date(2026, 7, 1), 1_000)
        issued(client, date(2026, 7, 2), 1_000)
        db.session.commit()
        client_id = client.id
    html = text(auth_client.post(f"/clients/{client_id}/statement", data=PERIOD))
    assert SCRIPT not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


# --- The PDF ---------------------------------------------------------------------------------


def pdf_text(data: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_the_pdf_lists_each_invoice_and_the_balance_due(auth_client, world):
    response = auth_client.get(f"/clients/{world['martin']}/statement.pdf?{QUERY}")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert "Relev%C3%A9-2026-01-01-2026-06-30.pdf" in response.headers["Content-Disposition"]
    content = pdf_text(response.data)
    for number in ("F-2026-0001", "F-2026-0002", "F-2026-0006"):
        assert number in content
    assert "F-2025-0001" not in content  # before the period: in the opening balance
    assert "Relevé de compte" in content and "Atelier Conseil" in content
    assert "Solde dû au 30/06/2026 550,00 €" in " ".join(content.split())
    assert "En retard" in content and "Page 1 / 1" in content


def test_the_pdf_of_unpaid_only_says_the_totals_include_everything(auth_client, world):
    data = auth_client.get(f"/clients/{world['martin']}/statement.pdf?{QUERY}&unpaid_only=y").data
    content = pdf_text(data).replace("\n", " ")
    assert "F-2026-0002" in content and "F-2026-0001 " not in content.split("PAIEMENTS")[0]
    assert "les totaux comprennent toutes les factures de la période" in content


def test_the_pdf_shows_a_script_in_a_name_as_text(app, auth_client, world):
    with app.app_context():
        client = make_client(SCRIPT)
        issued(client, date(2026, 7, 1), 1_000)
        issued(client, date(2026, 7, 2), 1_000)
        db.session.commit()
        client_id = client.id
    response = auth_client.get(f"/clients/{client_id}/statement.pdf?{QUERY}")
    assert response.status_code == 200 and SCRIPT in pdf_text(response.data)


# --- « Envoyer le relevé » ------------------------------------------------------------------


def send_url(world, preview=False, query=QUERY):
    return f"/clients/{world['martin']}/statement/send" + ("/preview" if preview else "") + f"?{query}"


def post_send(auth_client, world, data, preview=False, **kwargs):
    response = auth_client.post(send_url(world, preview), data=data,
                                content_type="multipart/form-data", **kwargs)
    response.request.environ["wsgi.input"].close()
    return response


def message_form(**overrides) -> dict:
    data = {"recipients": "compta@martin.fr", "cc": "", "subject": "Relevé de compte",
            "body": "Bonjour {client},\r\n\r\nVotre relevé du {debut} au {fin} : {montant}.\r\n{lien}",
            "attach_pdf": "y"}
    data.update(overrides)
    return {name: value for name, value in data.items() if value is not None}


def test_the_send_modal_is_prefilled_like_an_invoices(auth_client, world):
    html = text(auth_client.get(send_url(world), headers=HTMX))
    assert html.lstrip().startswith('<dialog id="send-dialog"')
    assert '<h2 id="send-title">Envoyer le relevé</h2>' in html
    assert 'name="recipients" type="text" value="compta@martin.fr"' in html
    assert 'name="subject" type="text" value="Relevé de compte"' in html
    assert "relevé de compte du 01/01/2026 au 30/06/2026. Solde dû au 30/06/2026 : 550,00\xa0€." in html
    assert "{lien}" in html and '<input checked id="attach_pdf"' in html
    assert "envoyer le message en CCI" in html
    assert f'formaction="{send_url(world, True).replace("&", "&amp;")}">Aperçu</button>' in html


def test_the_send_page_leads_back_to_the_statement(auth_client, world):
    html = text(auth_client.get(send_url(world)))
    back = f"/clients/{world['martin']}/statement?{QUERY}".replace("&", "&amp;")
    assert f'<a href="{back}">← Relevé de Boulangerie Martin</a>' in html
    assert "<h1>Envoyer le relevé</h1>" in html and f'<a href="{back}">Annuler</a>' in html


def test_apercu_of_the_message_shows_the_text_and_the_statement_pdf(app, auth_client, world):
    before = counts(app)
    response = post_send(auth_client, world, message_form(bcc_me="y"), preview=True, headers=HTMX)
    html = text(response)
    assert response.status_code == 200
    assert "Votre relevé du 01/01/2026 au 30/06/2026 : 550,00\xa0€." in html
    assert "http://localhost/p/s/…" in html
    assert "Relevé-2026-01-01-2026-06-30.pdf" in html
    assert f"<dd>{OWNER_EMAIL}</dd>" in html and ">Envoyer le message</button>" in html
    assert counts(app) == before


def test_sending_writes_the_statement_to_the_outbox_and_the_history(app, auth_client, world):
    response = post_send(auth_client, world, message_form())
    assert response.status_code == 303
    assert response.headers["Location"] == f"/clients/{world['martin']}"
    with app.app_context():
        statement = db.session.scalars(select(Statement)).one()
        message = db.session.scalars(select(Message)).one()
        assert (statement.client_id, statement.start, statement.end) == (
            world["martin"], date(2026, 1, 1), date(2026, 6, 30))
        assert (message.kind, message.statement_id, message.client_id) == (
            "statement", statement.id, world["martin"])
        event = db.session.scalars(select(Event).where(Event.kind == "statement_sent")).one()
        assert event.client_id == world["martin"] and event.invoice_id is None
    page = text(auth_client.get(f"/clients/{world['martin']}"))
    assert "Relevé en cours d&#39;envoi à compta@martin.fr." in page


def test_sent_from_the_modal_the_page_of_the_client_comes_back(auth_client, world):
    response = post_send(auth_client, world, message_form(), headers=HTMX)
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == f"/clients/{world['martin']}"


def test_the_email_with_the_statement_pdf_reaches_the_smtp_server(app, auth_client, client, world,
                                                                  smtp_server):
    configure_smtp(app, smtp_server.host, smtp_server.port)
    data = with_files(message_form(bcc_me="y", recipients="a@x.fr, b@y.fr"),
                      ("Détail.pdf", PDF_BYTES))
    assert post_send(auth_client, world, data).status_code == 303
    assert smtp_server.messages == []
    with app.app_context():
        assert outbox.deliver_due() == 1
        token = db.session.scalars(select(Statement.token)).one()

    [received] = smtp_server.messages
    assert sorted(received.rcpt_tos) == ["a@x.fr", "b@y.fr", OWNER_EMAIL]
    email = message_from_bytes(received.data, policy=policy.default)
    assert email["Subject"] == "Relevé de compte" and email["Bcc"] is None
    plain, html = (part.get_content() for part in next(
        p for p in email.iter_parts() if p.get_content_type() == "multipart/alternative").iter_parts())
    link = f"http://localhost/p/s/{token}"
    assert f"Votre relevé du 01/01/2026 au 30/06/2026 : 550,00\xa0€.\n{link}" in plain.replace("\r\n", "\n")
    assert f'href="{link}"' in html and "Voir le relevé et payer" in html and "550,00\xa0€" in html
    attachments = {part.get_filename(): part for part in email.iter_attachments()}
    assert list(attachments) == ["Relevé-2026-01-01-2026-06-30.pdf", "Détail.pdf"]
    content = pdf_text(attachments["Relevé-2026-01-01-2026-06-30.pdf"].get_content())
    assert "F-2026-0002" in content and "550,00" in content and link in content.replace("\n", "")
    assert client.get(f"/p/s/{token}").status_code == 200  # the link opens the statement


def test_a_script_in_the_name_is_escaped_in_the_email(app, auth_client, world):
    with app.app_context():
        client = make_client(SCRIPT)
        issued(client, date(2026, 7, 1), 1_000)
        issued(client, date(2026, 7, 2), 1_000)
        db.session.commit()
        client_id = client.id
    response = auth_client.post(f"/clients/{client_id}/statement/send?{QUERY}",
                                data=message_form(), content_type="multipart/form-data")
    assert response.status_code == 303
    with app.app_context():
        message = db.session.scalars(select(Message)).one()
        assert SCRIPT not in message.html_body
        assert "Bonjour &lt;script&gt;alert(1)&lt;/script&gt;," in message.html_body
        assert f"Bonjour {SCRIPT}," in message.text_body  # plain text: nothing to escape


@pytest.mark.parametrize(("data", "field", "message"), [
    (message_form(recipients="a@x.fr, pas-une-adresse, c@z.fr"), "recipients",
     "Adresse email invalide : pas-une-adresse"),
    (message_form(recipients=""), "recipients", "Indiquez au moins un destinataire."),
    (message_form(subject=""), "subject", "Indiquez un titre."),
    (message_form(body=""), "body", "Écrivez un message."),
])
def test_a_wrong_message_is_refused_next_to_its_field_and_kept(app, auth_client, world, data, field,
                                                                message):
    before = counts(app)
    for preview in (False, True):
        response = post_send(auth_client, world, data, preview=preview, headers=HTMX)
        html = text(response)
        assert response.status_code == 422 and field_error(html, field) == message
        if data["recipients"]:
            assert f'value="{data["recipients"]}"' in html
    assert counts(app) == before


# --- Constant number of queries ----------------------------------------------------------------


def test_the_preview_runs_the_same_queries_for_10_and_2000_invoices(app, auth_client, owner):
    with app.app_context():
        ids = []
        for name, count, first in (("Petit", 10, 0), ("Grand", 2000, 10)):
            client = make_client(name)
            insert_invoices(client.id, count, first, issue_date=date(2026, 3, 1),
                            due_date=date(2026, 4, 1))
            ids.append(client.id)
        db.session.execute(insert(Payment), [
            {"invoice_id": invoice_id, "paid_on": date(2026, 3, 15), "amount_cents": 2_000,
             "method": PaymentMethod.CHEQUE} for invoice_id in db.session.scalars(select(Invoice.id))])
        db.session.commit()
    queries = []
    for client_id, size in zip(ids, (10, 2000)):
        with count_queries(app) as counted:
            html = text(auth_client.post(f"/clients/{client_id}/statement", data=PERIOD))
        assert html.count('<td class="number">') == size
        assert f"{size * 100:,}".replace(",", "\u202f") + ",00\xa0€" in html
        queries.append(counted())
    assert queries[0] == queries[1]
