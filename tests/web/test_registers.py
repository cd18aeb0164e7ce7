"""The registers through HTTP: the three lists, filters, pages and queries; « Envoyer par email »
in one batch with its progress, against a real SMTP server; « Imprimer » one PDF; bad selections."""

import email
import io
import json
import re
from datetime import date, datetime

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from billing import invoices, outbox, settings
from billing.models import Event, Invoice, InvoiceStatus, Message, MessageState, SmtpSecurity, db
from tests.conftest import count_queries
from tests.factories import insert_invoices, make_client, make_invoice

S = InvoiceStatus
TODAY = date(2026, 11, 24)


def html(response, status=200) -> str:
    assert response.status_code == status, response.get_data(as_text=True)[:2000]
    return response.get_data(as_text=True)


def numbers(page: str) -> list:
    return re.findall(r'name="ids" value="\d+"(?: checked)?> ([^<]+)</label>', page)


def row(page: str, number: str) -> str:
    [found] = [part for part in page.split("<tr ")[1:] if f"> {number}</label>" in part]
    return "<tr " + found.split("</tr>")[0]


def finalized(client, day=TODAY, price=10_000) -> Invoice:
    invoice = make_invoice(client, lines=((1, price),), today=day)
    invoices.finalize(invoice, day)
    return invoice


def snapshot(app) -> tuple:
    """What a refused action must leave alone: statuses, messages, events."""
    with app.app_context():
        statuses = db.session.execute(select(Invoice.id, Invoice.status, Invoice.sent_at)).all()
        return (
            sorted(statuses),
            db.session.scalar(select(func.count()).select_from(Message)),
            db.session.scalar(select(func.count()).select_from(Event)),
        )


@pytest.fixture
def listed(app, owner):
    """F-00001 … F-00003 for a client by email (F-00002 sent), F-00004 … F-00005 on paper."""
    with app.app_context():
        shop = make_client("Boulangerie Martin")
        garage = make_client("Garage <script>alert(1)</script>", emails=(), by_email=False)
        insert_invoices(shop.id, status=S.DRAFT)
        insert_invoices(shop.id, start=1, status=S.TO_SEND, issue_date=date(2026, 1, 1))
        insert_invoices(shop.id, start=2, issue_date=date(2026, 2, 1),
                        sent_at=datetime(2026, 11, 23, 10))
        insert_invoices(shop.id, start=3, status=S.PAID, issue_date=date(2026, 3, 1),
                        sent_at=datetime(2026, 3, 2, 10))
        insert_invoices(garage.id, start=4, status=S.TO_SEND, issue_date=date(2026, 4, 1))
        insert_invoices(garage.id, start=5, status=S.PAID, issue_date=date(2026, 5, 1),
                        sent_at=datetime(2026, 5, 2, 10))
        db.session.commit()
        return {"shop": shop.id, "garage": garage.id}


def ids(app, *wanted) -> list[int]:
    with app.app_context():
        found = dict(db.session.execute(select(Invoice.number, Invoice.id)).all())
    return [found[number] for number in wanted]


# --- The lists ------------------------------------------------------------------


def test_the_nav_opens_the_register_of_every_invoice(auth_client, listed):
    board = html(auth_client.get("/"))
    assert '<a href="/registers/">Facturier</a>' in board
    response = auth_client.get("/registers/")
    assert response.status_code == 302 and response.location.endswith("/registers/all")
    page = html(auth_client.get("/registers/all"))
    assert '<a href="/registers/all" aria-current="page">Facturier</a>' in page
    assert '<a href="/registers/" aria-current="page">Facturier</a>' in page


@pytest.mark.parametrize(
    ("register", "expected"),
    [
        ("all", ["F-00005", "F-00004", "F-00003", "F-00002", "F-00001"]),
        ("email", ["F-00003", "F-00002", "F-00001"]),
        ("paper", ["F-00005", "F-00004"]),
    ],
)
def test_each_tab_lists_its_numbered_invoices_latest_first(auth_client, listed, register, expected):
    page = html(auth_client.get(f"/registers/{register}"))
    assert numbers(page) == expected
    assert f"{len(expected)} documents" in page


def test_unknown_register_is_a_404(auth_client, listed):
    assert auth_client.get("/registers/fax").status_code == 404


def test_each_row_has_date_client_total_status_and_sending(auth_client, listed):
    page = html(auth_client.get("/registers/all"))
    sent = row(page, "F-00002")
    assert 'class="sent"' in sent
    assert "01/02/2026" in sent and "Boulangerie Martin" in sent and "120,00\xa0€" in sent
    assert "Paiement attendu" in sent
    assert '<span class="badge ok">Envoyée le 23/11/2026</span>' in sent
    unsent = row(page, "F-00001")
    assert 'class="unsent"' in unsent
    assert '<span class="badge danger">Non envoyée</span>' in unsent and "Envoyée le" not in unsent
    assert "Garage &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert(1)" not in page


def test_the_last_email_of_an_invoice_shows_its_state_and_reason(app, auth_client, listed):
    with app.app_context():
        invoice = db.session.scalar(select(Invoice).where(Invoice.number == "F-00002"))
        for state, error in [(MessageState.SENT, ""), (MessageState.ABANDONED, "Boîte pleine")]:
            db.session.add(Message(
                invoice=invoice, sender="a@x.fr", subject="F", text_body="…", state=state,
                message_id=f"<{state.value}@x.fr>", error=error, recipients=["b@y.fr"],
            ))
        db.session.commit()
    sent = row(html(auth_client.get("/registers/email")), "F-00002")
    assert '<span class="badge danger">Abandonnée</span> <span class="error">Boîte pleine</span>' in sent
    assert "Envoyée au client" not in sent


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"unsent": "1"}, ["F-00004", "F-00001"]),
        ({"client_id": "garage"}, ["F-00005", "F-00004"]),
        ({"client_id": "garage", "unsent": "1"}, ["F-00004"]),
    ],
)
def test_filters_by_client_and_unsent_only(auth_client, listed, params, expected):
    params = {k: listed[v] if k == "client_id" else v for k, v in params.items()}
    page = html(auth_client.get("/registers/all", query_string=params))
    assert numbers(page) == expected
    if "unsent" in params:
        assert 'name="unsent" value="1" checked' in page
    if "client_id" in params:
        assert f'<option value="{params["client_id"]}" selected>' in page


def test_the_filters_answer_only_the_results_to_htmx(auth_client, listed):
    page = html(auth_client.get("/registers/all?unsent=1", headers={"HX-Request": "true"}))
    assert page.lstrip().startswith('<div id="register-results">')
    assert numbers(page) == ["F-00004", "F-00001"]


@pytest.mark.parametrize("client_id", ["9999", "abc"])
def test_an_unknown_client_filter_is_dropped_with_a_message(auth_client, listed, client_id):
    page = html(auth_client.get(f"/registers/all?client_id={client_id}"), 422)
    assert "Ce client n&#39;existe pas." in page
    assert len(numbers(page)) == 5


def test_the_empty_register_says_so(auth_client, owner):
    page = html(auth_client.get("/registers/email"))
    assert "Aucune facture numérotée pour le moment." in page
    assert "Envoyer par email" not in page


def test_pages_of_fifty(app, auth_client, owner):
    with app.app_context():
        insert_invoices(make_client().id, count=120, start=1)
        db.session.commit()
    first = html(auth_client.get("/registers/email"))
    assert len(numbers(first)) == 50 and "Page 1 sur 3" in first
    assert 'href="/registers/email?page=2"' in first
    last = html(auth_client.get("/registers/email?page=3&unsent=1"))
    assert len(numbers(last)) == 20 and 'href="/registers/email?page=2&amp;unsent=1"' in last


def test_select_all_checks_every_row_of_the_page(auth_client, listed):
    page = html(auth_client.get("/registers/all"))
    assert "Tout sélectionner" in page and " checked>" not in page
    everything = html(auth_client.get("/registers/all?all=1"))
    assert everything.count('name="ids"') == everything.count(" checked>") == 5
    assert "Tout désélectionner" in everything


@pytest.mark.parametrize("register", ["all", "email", "paper"])
def test_a_register_page_runs_the_same_queries_for_10_and_500_invoices(app, auth_client, owner,
                                                                      register):
    def queries(count: int) -> int:
        with app.app_context():
            email, paper = make_client(), make_client("Garage", by_email=False)
            insert_invoices(email.id, count=count, start=count * 10)
            insert_invoices(paper.id, count=count, start=count * 10 + count)
            invoice_ids = db.session.scalars(select(Invoice.id)).all()
            for n, invoice_id in enumerate(invoice_ids):
                db.session.add(Message(invoice_id=invoice_id, sender="a@x.fr", subject="F",
                                       text_body="…", message_id=f"<{count}-{n}@x.fr>"))
            db.session.commit()
        with count_queries(app) as counted:
            html(auth_client.get(f"/registers/{register}?all=1"))
        return counted()

    assert queries(10) == queries(500)


# --- « Envoyer par email » --------------------------------------------------------


def configure_smtp(app, server) -> None:
    with app.app_context():
        row = settings.business()
        row.smtp_host, row.smtp_port = server.host, server.port
        row.smtp_security, row.smtp_sender = SmtpSecurity.NONE, "factures@atelier.fr"
        db.session.commit()


@pytest.fixture
def three(app, owner):
    """Three invoices « À envoyer » of clients by email; the third client has no address."""
    with app.app_context():
        martin = finalized(make_client("Boulangerie Martin", emails=("compta@martin.fr",)))
        lune = finalized(make_client("Café Lune", emails=("a@lune.fr", "b@lune.fr")))
        mute = make_client("Garage Muet")
        silent = finalized(mute)
        mute.emails = []
        db.session.commit()
        return [martin.id, lune.id, silent.id]


def send(auth_client, invoice_ids, register="email", **kwargs):
    return auth_client.post(f"/registers/{register}/send", data={"ids": invoice_ids}, **kwargs)


def test_a_batch_of_three_queues_two_and_reports_the_client_without_address(
        app, auth_client, three, smtp_server):
    configure_smtp(app, smtp_server)
    assert snapshot(app)[1] == 0  # finalized, not sent: nothing leaves until asked
    response = send(auth_client, three)
    assert response.status_code == 303
    batch_id = response.location.rsplit("/", 1)[1]
    with app.app_context():
        messages = db.session.scalars(select(Message).order_by(Message.id)).all()
        assert [m.invoice_id for m in messages] == three[:2]
        assert {m.batch for m in messages} == {batch_id}
        assert [db.session.get(Invoice, i).status for i in three] == [
            S.AWAITING_PAYMENT, S.AWAITING_PAYMENT, S.TO_SEND
        ]
        silent_number = db.session.get(Invoice, three[2]).number

    waiting = html(auth_client.get(response.location))
    assert "0 / 2 envoyées" in waiting
    assert waiting.count("En traitement") == 2
    assert f'hx-get="/registers/batches/{batch_id}" hx-trigger="every 2s"' in waiting
    assert (f"{silent_number} : Le client n&#39;a aucune adresse email : "
            "ajoutez-en une sur sa fiche.") in waiting
    assert 'href="/registers/batches/' in waiting  # « Actualiser » without JavaScript

    with app.app_context():
        assert outbox.deliver_due() == 2
    received = sorted(sorted(mail.rcpt_tos) for mail in smtp_server.messages)
    assert received == [["a@lune.fr", "b@lune.fr"], ["compta@martin.fr"]]
    subjects = sorted(email.message_from_bytes(m.data)["Subject"] for m in smtp_server.messages)
    assert all(subject.startswith("Facture F-") for subject in subjects)

    done = html(auth_client.get(response.location, headers={"HX-Request": "true"}))
    assert done.lstrip().startswith('<div id="batch-progress">')
    assert "2 / 2 envoyées" in done and done.count("Envoyée au client") == 2
    assert "hx-trigger" not in done
    assert silent_number in done  # the refusal stays on the page


def test_a_long_list_of_refusals_keeps_twenty_reasons_and_counts_the_rest(app, auth_client, owner):
    with app.app_context():
        mute = make_client("Garage Muet")
        silent = [finalized(mute).id for _ in range(22)]
        mute.emails = []
        sent = finalized(make_client("Café Lune")).id
        db.session.commit()
    page = html(auth_client.get(send(auth_client, [*silent, sent]).location))
    assert "22 factures n’ont pas été envoyées :" in page
    assert page.count("aucune adresse email") == 20
    assert "… et 2 autres :" in page and 'href="/registers/all?unsent=1"' in page


def test_an_abandoned_message_shows_with_its_reason(app, auth_client, three):
    response = send(auth_client, three[:2])
    with app.app_context():
        message = db.session.scalar(select(Message).order_by(Message.id))
        message.state, message.error = MessageState.ABANDONED, "550 Adresse inconnue"
        db.session.commit()
    page = html(auth_client.get(response.location))
    assert "0 / 2 envoyées" in page and "Abandonnée" in page and "550 Adresse inconnue" in page
    assert "hx-trigger" in page  # the other one is still on its way


def test_with_htmx_the_batch_goes_to_its_progress_page(app, auth_client, three):
    response = send(auth_client, three[:2], headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response.headers["HX-Redirect"].startswith("/registers/batches/")


def test_one_invoice_opens_the_send_form(app, auth_client, three):
    response = send(auth_client, three[:1])
    assert response.status_code == 303
    assert response.location == f"/invoices/{three[0]}/send"
    modal = send(auth_client, three[:1], headers={"HX-Request": "true"})
    location = json.loads(modal.headers["HX-Location"])
    assert location == {"path": f"/invoices/{three[0]}/send", "target": "#modal",
                        "swap": "innerHTML", "push": False}
    assert snapshot(app)[1] == 0


def test_when_nothing_can_be_sent_the_page_says_why_and_keeps_the_selection(app, auth_client, three):
    with app.app_context():
        invoice = db.session.get(Invoice, three[0])
        invoice.client.emails = []
        db.session.commit()
    before = snapshot(app)
    page = html(send(auth_client, [three[0], three[2]]), 422)
    assert page.count("aucune adresse email") == 2
    assert page.count(" checked>") == 2
    assert snapshot(app) == before


@pytest.mark.parametrize(
    ("picked", "message"),
    [
        ([], "Sélectionnez au moins une facture."),
        (list(range(1, 202)), "Sélectionnez au plus 200 factures à la fois (201 choisies)."),
    ],
)
def test_an_empty_or_too_long_selection_is_refused(app, auth_client, three, picked, message):
    before = snapshot(app)
    page = html(send(auth_client, picked), 422)
    assert message in page
    assert snapshot(app) == before


@pytest.mark.parametrize("bad", ["9999", "abc", "-1", "99999999999999999999999"])
def test_a_bad_id_in_the_selection_is_a_404_and_changes_nothing(app, auth_client, three, bad):
    before = snapshot(app)
    assert send(auth_client, [three[0], three[1], bad]).status_code == 404
    assert auth_client.post("/registers/paper/print",
                            data={"ids": [three[0], bad]}).status_code == 404
    assert snapshot(app) == before


def test_an_invoice_of_another_register_or_a_draft_is_a_404(app, auth_client, listed, three):
    with app.app_context():
        draft = db.session.scalar(select(Invoice.id).where(Invoice.status == S.DRAFT))
    before = snapshot(app)
    assert send(auth_client, [three[0], *ids(app, "F-00004")]).status_code == 404
    assert send(auth_client, [three[0], draft], register="all").status_code == 404
    assert snapshot(app) == before


def test_each_register_offers_only_its_actions(auth_client, listed, three):
    assert "Imprimer" not in html(auth_client.get("/registers/email"))
    assert "Envoyer par email" not in html(auth_client.get("/registers/paper"))
    assert send(auth_client, three[:2], register="paper").status_code == 404
    assert auth_client.post("/registers/email/print", data={"ids": three[:2]}).status_code == 404


def test_sending_without_the_csrf_token_is_refused(app, auth_client, three):
    before = snapshot(app)
    assert send(auth_client, three[:2], csrf=False).status_code == 400
    assert auth_client.post("/registers/paper/print", data={"ids": three[:2]},
                            csrf=False).status_code == 400
    assert snapshot(app) == before


@pytest.mark.parametrize("action", ["send", "print"])
def test_the_pdfs_are_made_without_holding_the_write_lock(app, auth_client, three, on_paper,
                                                          monkeypatch, action):
    """Making a hundred PDFs takes seconds: meanwhile the worker and the other tabs can write."""
    from billing import documents
    from tests.web.test_write_lock import someone_else_can_write

    free, make = [], documents.invoice_pdf

    def spy(invoice, *args, **kwargs):
        free.append(someone_else_can_write(app))
        return make(invoice, *args, **kwargs)

    monkeypatch.setattr(documents, "invoice_pdf", spy)
    if action == "send":
        assert send(auth_client, three[:2]).status_code == 303
        assert free == [True, True, False, False]  # then queued under the lock (PDFs cached)
    else:
        response = auth_client.post("/registers/paper/print", data={"ids": on_paper["ids"]})
        assert response.status_code == 200
        assert free == [True, True, True]


@pytest.mark.parametrize("batch_id", ["0" * 32, "not-a-batch", "A" * 32])
def test_an_unknown_batch_is_a_404(auth_client, owner, batch_id):
    assert auth_client.get(f"/registers/batches/{batch_id}").status_code == 404


# --- « Imprimer » -------------------------------------------------------------------


@pytest.fixture
def on_paper(app, owner):
    """Three invoices of clients on paper: two « À envoyer », one already sent."""
    with app.app_context():
        shop = make_client("Boulangerie Martin", emails=(), by_email=False)
        first = finalized(shop)
        second = finalized(shop)
        third = finalized(make_client("Garage Dupont", by_email=False))
        invoices.mark_sent(second)
        db.session.commit()
        return {"ids": [first.id, second.id, third.id],
                "numbers": [first.number, second.number, third.number]}


def test_print_downloads_one_pdf_in_number_order_and_marks_them_sent(app, auth_client, on_paper):
    picked = list(reversed(on_paper["ids"]))
    response = auth_client.post("/registers/paper/print", data={"ids": picked})
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert "attachment" in response.headers["Content-Disposition"]
    reader = PdfReader(io.BytesIO(response.data))
    text = "\n".join(page.extract_text() for page in reader.pages)
    positions = [text.index(number) for number in on_paper["numbers"]]
    assert positions == sorted(positions)
    with app.app_context():
        chosen = [db.session.get(Invoice, i) for i in on_paper["ids"]]
        assert [i.status for i in chosen] == [S.AWAITING_PAYMENT] * 3
        assert all(i.sent_at is not None for i in chosen)
        for invoice in chosen:
            kinds = db.session.scalars(select(Event.kind).where(Event.invoice_id == invoice.id)).all()
            assert kinds.count("downloaded") == 1
        assert db.session.scalars(
            select(Event.kind).where(Event.invoice_id == chosen[1].id)
        ).all().count("sent_manually") == 1  # already sent: not marked again


def test_print_of_nothing_is_refused_with_a_message(app, auth_client, on_paper):
    before = snapshot(app)
    page = html(auth_client.post("/registers/paper/print", data={}), 422)
    assert "Sélectionnez au moins une facture." in page
    assert snapshot(app) == before


def test_the_paper_register_then_shows_them_sent(auth_client, on_paper):
    auth_client.post("/registers/paper/print", data={"ids": on_paper["ids"]})
    page = html(auth_client.get("/registers/paper?unsent=1"))
    assert numbers(page) == []
    assert "Aucune facture ne correspond à ces filtres." in page
