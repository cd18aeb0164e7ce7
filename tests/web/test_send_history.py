"""« Historique des communications » (step « Suivi »), « Consulter », « Documents », the .eml."""

import re
from datetime import datetime, timedelta
from email import message_from_bytes, policy

import pytest
from sqlalchemy import insert, select

from billing.models import Attachment, Event, Message, MessageState, db
from tests.conftest import count_queries
from tests.web.test_send_modal import PDF_BYTES, form_data, invoice_id, post, text, with_files  # noqa: F401

FOLLOW_UP = "/invoices/{}?step=follow_up"


@pytest.fixture
def sent(app, auth_client, invoice_id):  # noqa: F811
    """The invoice sent once by email with a document; returns (invoice id, message id)."""
    data = with_files(form_data(cc="dg@martin.fr", bcc_me="y"), ("Devis signé.pdf", PDF_BYTES))
    assert post(auth_client, invoice_id, data).status_code == 303
    with app.app_context():
        return invoice_id, db.session.scalar(select(Message.id))


def set_message(app, message_id, **values):
    with app.app_context():
        message = db.session.get(Message, message_id)
        for name, value in values.items():
            setattr(message, name, value)
        db.session.commit()


def history_items(html: str) -> list[str]:
    """The lines of the history, tags removed, in the order shown."""
    block = html.split('<ol class="history">', 1)[1].split("</ol>", 1)[0]
    items = re.split(r'<li(?= class="history-message"|><time)[^>]*>', block)[1:]
    return [" ".join(re.sub(r"<[^>]+>", " ", item).split()) for item in items]


# --- The history on « Suivi » -------------------------------------------------


def test_follow_up_lists_the_message_with_its_state_recipients_revision_and_documents(
    app, auth_client, sent
):
    invoice_id, message_id = sent
    html = text(auth_client.get(FOLLOW_UP.format(invoice_id)))
    assert "<h2>Historique des communications</h2>" in html
    item = html.split(f'id="message-{message_id}"', 1)[1].split("</details>", 1)[0]
    assert "<strong>Facture F-2026-0001</strong>" in item
    assert '<span class="badge ">En traitement</span>' in item
    assert "À compta@martin.fr · Cc dg@martin.fr · Révision 1" in item
    assert f'href="/messages/{message_id}">Consulter</a>' in item
    assert "<summary>Documents (2)</summary>" in item
    assert "Facture-F-2026-0001.pdf</a>" in item and "Devis signé.pdf</a>" in item
    assert f'href="/messages/{message_id}/attachments/' in item
    assert "owner@example.fr" not in item  # the blind copy is not listed as a recipient
    # the resend button opens the same modal
    assert f'hx-get="/invoices/{invoice_id}/send" hx-target="#modal">Envoyer la facture</a>' in html


@pytest.mark.parametrize(
    ("values", "shown"),
    [
        (dict(state=MessageState.SENT), '<span class="badge ok">Envoyée au client</span>'),
        (dict(state=MessageState.CLICKED, clicked_at=datetime(2026, 11, 25, 9, 30)),
         '<span class="badge ok">Le client a cliqué sur le lien · 25/11/2026 10:30</span>'),
        (dict(state=MessageState.ABANDONED, error="Destinataire refusé : compta@martin.fr."),
         '<span class="badge danger">Abandonnée</span>'),
    ],
)
def test_each_state_of_a_message_is_shown_in_words(app, auth_client, sent, values, shown):
    invoice_id, message_id = sent
    set_message(app, message_id, **values)
    html = text(auth_client.get(FOLLOW_UP.format(invoice_id)))
    assert shown in html
    if "error" in values:
        assert '<p class="error">Destinataire refusé : compta@martin.fr.</p>' in html


def test_messages_and_events_are_shown_together_newest_first(app, auth_client, sent):
    invoice_id, message_id = sent
    with app.app_context():
        for event in db.session.scalars(select(Event)):
            event.at = datetime(2026, 11, 24, 8, 0)
        db.session.get(Message, message_id).created_at = datetime(2026, 11, 24, 9, 0)
        db.session.add(Event(invoice_id=invoice_id, kind="downloaded", at=datetime(2026, 11, 24, 10, 0)))
        db.session.add(Event(invoice_id=invoice_id, kind="downloaded", detail="portal",
                             at=datetime(2026, 11, 24, 11, 0)))
        db.session.commit()
    items = history_items(text(auth_client.get(FOLLOW_UP.format(invoice_id))))
    assert items[0] == "24/11/2026 12:00 Le client a téléchargé la facture"
    assert items[1] == "24/11/2026 11:00 PDF téléchargé"
    assert items[2].startswith("24/11/2026 10:00 Facture F-2026-0001 En traitement")
    assert items[3:] == ["24/11/2026 09:00 Facture finalisée (F-2026-0001)",
                         "24/11/2026 09:00 Brouillon créé"]
    assert not any("emailed" in item for item in items)


def test_follow_up_runs_the_same_queries_for_10_and_200_messages(app, auth_client, sent):
    invoice_id, _message_id = sent

    def add_messages(count, start):
        with app.app_context():
            rows = [dict(invoice_id=invoice_id, sender="a <a@x.fr>", recipients=["c@x.fr"], cc=[],
                         bcc=[], subject=f"Relance {n}", text_body="…", html_body="",
                         message_id=f"<{n}@x.fr>", state=MessageState.SENT, revision=1,
                         created_at=datetime(2026, 1, 1) + timedelta(minutes=n))
                    for n in range(start, start + count)]
            db.session.execute(insert(Message), rows)
            ids = db.session.scalars(select(Message.id).where(Message.subject.like("Relance %"))).all()
            db.session.execute(insert(Attachment), [
                dict(message_id=i, kind="document", filename="a.pdf", content_type="application/pdf",
                     stored_name="0" * 32, size=10, sha256="0" * 64) for i in ids[-count:]])
            db.session.commit()

    def queries() -> int:
        with count_queries(app) as count:
            response = auth_client.get(FOLLOW_UP.format(invoice_id))
            assert response.status_code == 200
        return count()

    add_messages(10, 0)
    with_10 = queries()
    add_messages(190, 10)
    with_200 = queries()
    assert text(auth_client.get(FOLLOW_UP.format(invoice_id))).count("Relance ") == 200
    assert with_200 == with_10


# --- « Consulter » ------------------------------------------------------------


def test_consulter_shows_the_message_as_it_left(app, auth_client, sent):
    invoice_id, message_id = sent
    html = text(auth_client.get(f"/messages/{message_id}"))
    assert "<h1>Facture F-2026-0001</h1>" in html
    assert "<dt>De</dt><dd>Atelier Conseil &lt;owner@example.fr&gt;</dd>" in html
    assert "<dt>À</dt><dd>compta@martin.fr</dd>" in html
    assert "<dt>Cc</dt><dd>dg@martin.fr</dd>" in html
    assert "<dt>CCI (absente des en-têtes)</dt><dd>owner@example.fr</dd>" in html
    assert "<dt>Révision de la facture</dt><dd>1</dd>" in html
    assert "Voici la facture : http://localhost/p/" in html
    assert "Devis signé.pdf</a>" in html and '<span class="muted">50 o</span>' in html
    assert f'href="/messages/{message_id}/eml">Télécharger (.eml)</a>' in html
    assert f'href="/messages/{message_id}/html"' in html
    assert f'href="/invoices/{invoice_id}?step=follow_up">← Facture F-2026-0001</a>' in html


@pytest.mark.parametrize(
    ("state", "shown"),
    [
        (MessageState.ABANDONED, '<p class="flash flash-error">{error}</p>'),
        (MessageState.PROCESSING, '<p class="muted">Nouvel essai prévu : {error}</p>'),
        (MessageState.SENT, '<p class="flash flash-warning">{error}</p>'),
    ],
)
def test_consulter_shows_the_servers_words_in_each_state(app, auth_client, sent, state, shown):
    _invoice_id, message_id = sent
    error = "Envoyé, mais ces destinataires ont été refusés : dg@martin.fr (550 &lt;inconnu&gt;)."
    set_message(app, message_id, state=state, error=error.replace("&lt;", "<").replace("&gt;", ">"))
    html = text(auth_client.get(f"/messages/{message_id}"))
    assert shown.format(error=error) in html


def test_the_eml_is_the_mime_message_without_the_blind_copy(app, auth_client, sent):
    _invoice_id, message_id = sent
    response = auth_client.get(f"/messages/{message_id}/eml")
    assert response.mimetype == "message/rfc822"
    assert response.headers["Content-Disposition"] == f"attachment; filename=message-{message_id}.eml"
    email = message_from_bytes(response.data, policy=policy.default)
    assert (email["To"], email["Cc"], email["Subject"]) == (
        "compta@martin.fr", "dg@martin.fr", "Facture F-2026-0001")
    assert email["Bcc"] is None and b"owner@example.fr>" in response.data  # only in From
    assert "owner@example.fr" not in (email["To"] + email["Cc"])
    with app.app_context():
        assert email["Message-ID"] == db.session.get(Message, message_id).message_id
    names = [part.get_filename() for part in email.iter_attachments()]
    assert names == ["Facture-F-2026-0001.pdf", "Devis signé.pdf"]


def test_the_html_version_is_served_sandboxed(auth_client, sent):
    _invoice_id, message_id = sent
    response = auth_client.get(f"/messages/{message_id}/html")
    assert response.mimetype == "text/html"
    assert "Voir et payer la facture" in text(response)
    policy_header = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy_header and "sandbox" in policy_header


def test_a_message_without_html_has_no_html_version(app, auth_client, sent):
    _invoice_id, message_id = sent
    set_message(app, message_id, html_body="")
    assert auth_client.get(f"/messages/{message_id}/html").status_code == 404


# --- « Documents » ------------------------------------------------------------


def test_each_document_downloads_as_it_left(app, auth_client, sent):
    _invoice_id, message_id = sent
    with app.app_context():
        attachments = db.session.scalars(
            select(Attachment).where(Attachment.message_id == message_id).order_by(Attachment.position)
        ).all()
        ids = [(a.id, a.filename) for a in attachments]
    assert [name for _id, name in ids] == ["Facture-F-2026-0001.pdf", "Devis signé.pdf"]
    with auth_client.get(f"/messages/{message_id}/attachments/{ids[0][0]}") as pdf:
        assert pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF-")
        assert pdf.headers["Content-Disposition"] == "attachment; filename=Facture-F-2026-0001.pdf"
    with auth_client.get(f"/messages/{message_id}/attachments/{ids[1][0]}") as document:
        assert document.data == PDF_BYTES
        assert document.headers["Content-Disposition"].startswith("attachment;")
        assert "Devis%20sign%C3%A9.pdf" in document.headers["Content-Disposition"]


def test_an_attachment_of_another_message_is_404(app, auth_client, sent):
    invoice_id, message_id = sent
    post(auth_client, invoice_id, form_data())
    with app.app_context():
        other = db.session.scalar(select(Attachment.id).where(Attachment.message_id != message_id))
    assert auth_client.get(f"/messages/{message_id}/attachments/{other}").status_code == 404


def test_a_missing_stored_copy_is_404(app, auth_client, sent):
    _invoice_id, message_id = sent
    with app.app_context():
        attachment = db.session.scalar(select(Attachment).where(Attachment.message_id == message_id))
        attachment.stored_name = "../../billing.sqlite"
        db.session.commit()
        attachment_id = attachment.id
    assert auth_client.get(f"/messages/{message_id}/attachments/{attachment_id}").status_code == 404
    assert auth_client.get(f"/messages/{message_id}/eml").status_code == 404
    assert auth_client.get(f"/messages/{message_id}").status_code == 200  # the rest is still shown


@pytest.mark.parametrize("path", ["/messages/99", "/messages/99/eml", "/messages/99/html",
                                  "/messages/99/attachments/1", "/messages/1/attachments/99"])
def test_unknown_messages_and_attachments_are_404(auth_client, sent, path):
    assert auth_client.get(path).status_code == 404


def test_messages_are_closed_to_a_logged_out_visitor(client, sent):
    _invoice_id, message_id = sent
    for path in (f"/messages/{message_id}", f"/messages/{message_id}/eml",
                 f"/messages/{message_id}/attachments/1"):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"].startswith("/login")
