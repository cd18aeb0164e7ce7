"""The client's page `/p/<token>`: no login, no cookie, never indexed; the click is recorded once."""

import io
from decimal import Decimal

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from billing import invoices, sending, settings
from billing.models import Event, Message, MessageState, db
from tests.factories import make_client, make_invoice, make_tax_rate

BASE = "https://factures.example.fr"


def sent_invoice(app, client_name="Boulangerie Martin", language="fr") -> str:
    """An invoice of 2 lines with TVA 20 %, sent by email; returns the message's token."""
    with app.app_context():
        tva = make_tax_rate("TVA 20 %", 20_000, "FR12345678901")
        invoice = make_invoice(make_client(client_name, language=language),
                               lines=[(2, 50_000), (Decimal("1.5"), 10_000)], taxes=[tva])
        invoices.finalize(invoice, settings.today())
        message = sending.send_invoice(invoice, sending.default_draft(invoice), [], BASE)
        message.state = MessageState.SENT
        db.session.commit()
        return message.link_token


@pytest.fixture
def token(app, owner):
    return sent_invoice(app)


def text(response) -> str:
    return response.get_data(as_text=True)


def clicks(app) -> list:
    with app.app_context():
        message = db.session.scalars(select(Message)).one()
        events = db.session.scalars(select(Event.detail).where(Event.kind == "clicked")).all()
        return [message.state, message.clicked_at, events]


def test_the_link_shows_the_invoice_read_only_without_login(client, token):
    response = client.get(f"/p/{token}")
    html = text(response)
    assert response.status_code == 200
    assert '<p class="portal-business">Atelier Conseil</p>' in html
    assert "<h1>Facture F-2026-0001</h1>" in html
    assert "Boulangerie Martin" in html
    assert "Prestation à 500.00" in html and "Prestation à 100.00" in html
    assert "1,5 jour" in html
    assert "<tr><th>Total HT</th><td>1\u202f150,00\xa0€</td></tr>" in html
    assert "<th>TVA 20 %" in html and "FR12345678901" in html and "230,00\xa0€" in html
    assert '<tr class="balance"><th>Reste à payer</th><td>1\u202f380,00\xa0€</td></tr>' in html
    assert f'href="/p/{token}/pdf">Télécharger la facture</a>' in html
    assert "<form" not in html and "<script" not in html and "Déconnexion" not in html


def test_the_page_is_never_indexed_and_sets_no_cookie(client, token):
    response = client.get(f"/p/{token}")
    assert response.headers["X-Robots-Tag"] == "noindex, nofollow"
    assert '<meta name="robots" content="noindex, nofollow">' in text(response)
    assert "Set-Cookie" not in response.headers


def test_the_first_opening_records_the_click_once(app, client, token):
    assert clicks(app)[:2] == [MessageState.SENT, None]
    client.get(f"/p/{token}")
    state, clicked_at, events = clicks(app)
    assert state is MessageState.CLICKED and clicked_at is not None and len(events) == 1
    client.get(f"/p/{token}")
    client.get(f"/p/{token}/pdf").close()
    assert clicks(app) == [MessageState.CLICKED, clicked_at, events]


@pytest.mark.parametrize("path", ["/p/inconnu", "/p/inconnu/pdf", "/p/" + "x" * 500])
def test_an_unknown_token_is_a_bare_404(client, token, path):
    response = client.get(path)
    html = text(response)
    assert response.status_code == 404
    assert "Ce lien n’est pas valide." in html
    assert "F-2026-0001" not in html and "Boulangerie" not in html and "Atelier" not in html
    assert response.headers["X-Robots-Tag"] == "noindex, nofollow"
    assert "Set-Cookie" not in response.headers


def test_the_pdf_is_the_invoice_and_its_download_is_in_the_history(app, auth_client, client, token):
    with client.get(f"/p/{token}/pdf") as response:
        assert response.mimetype == "application/pdf"
        assert response.headers["Content-Disposition"] == "attachment; filename=Facture-F-2026-0001.pdf"
        assert response.headers["X-Robots-Tag"] == "noindex, nofollow"
        reader = PdfReader(io.BytesIO(response.data))
        assert "F-2026-0001" in "".join(page.extract_text() for page in reader.pages)
    with app.app_context():
        invoice_id = db.session.scalars(select(Message.invoice_id)).one()
    page = text(auth_client.get(f"/invoices/{invoice_id}?step=follow_up"))
    assert "Le client a téléchargé la facture" in page
    assert "Le client a cliqué sur le lien · " in page


def test_the_page_speaks_the_client_language(app, owner, client):
    token = sent_invoice(app, "Acme Ltd", language="en")
    html = text(client.get(f"/p/{token}"))
    assert '<html lang="en">' in html
    assert "€1,380.00" in html


def test_a_script_in_the_client_name_is_escaped(app, owner, client):
    token = sent_invoice(app, "<script>alert(1)</script>")
    html = text(client.get(f"/p/{token}"))
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
