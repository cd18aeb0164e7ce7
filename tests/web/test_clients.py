"""Clients through HTTP: list, search, pagination, create, edit, archive, parent rules, queries."""

import html

import pytest
from sqlalchemy import func, select

from billing import settings
from billing.models import Client, db
from blueprints.filters import money_filter
from tests.conftest import count_queries
from tests.factories import make_client, make_job


def client_form(**changes) -> dict:
    """A valid form; a change to None leaves the field out (an unchecked box)."""
    data = {
        "name": "Boulangerie Martin",
        "emails": "compta@martin.fr",
        "by_email": "y",
        "language": "fr",
        "currency": "EUR",
        "payment_terms_days": "",
        "parent_id": "",
        "company_number": "",
        "vat_number": "",
        "address": "",
        "notes": "",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def all_clients(app) -> list[tuple]:
    """Every client as plain values, to check that nothing changed."""
    with app.app_context():
        rows = db.session.scalars(select(Client).order_by(Client.id))
        return [
            (c.name, c.emails, c.by_email, c.parent_id, c.archived, c.payment_terms_days)
            for c in rows
        ]


def add_client(app, *args, **fields) -> int:
    with app.app_context():
        client = make_client(*args, **fields)
        db.session.commit()
        return client.id


def errors_of(page: str, field: str) -> str:
    """The error paragraph shown next to a field."""
    start = page.index(f'id="{field}-error"')
    return html.unescape(page[start : page.index("</p>", start)])


def test_list_is_empty_at_first(auth_client):
    page = auth_client.get("/clients/").get_data(as_text=True)
    assert "Aucun client pour le moment." in page
    assert 'href="/clients/new"' in page


def test_new_client_form_uses_business_currency_and_shows_default_terms(app, auth_client):
    with app.app_context():
        business = settings.business()
        business.currency = "CAD"
        business.payment_terms_days = 45
        db.session.commit()
    page = auth_client.get("/clients/new").get_data(as_text=True)
    assert '<option selected value="CAD">CAD</option>' in page
    assert "Vide : le délai des paramètres (45 jours)." in page
    assert '<option selected value="fr">Français</option>' in page
    assert '<option value="en">English</option>' in page
    assert 'name="by_email" type="checkbox" value="y"' in page and "checked" in page


def test_create_client_with_two_emails_is_listed(app, auth_client):
    response = auth_client.post(
        "/clients/new",
        data=client_form(
            emails="a@x.fr; b@y.fr", language="en", currency="USD", payment_terms_days="15",
            company_number="123 456 789", vat_number="FR12345678901",
            address="1 rue du Pain\n69001 Lyon", notes="Paie vite",
        ),
    )
    assert response.status_code == 303
    with app.app_context():
        client = db.session.scalar(select(Client))
        assert client.emails == ["a@x.fr", "b@y.fr"]
        assert (client.language, client.currency, client.payment_terms_days) == ("en", "USD", 15)
        assert client.company_number == "123 456 789"
        assert client.address == "1 rue du Pain\n69001 Lyon"
        assert response.headers["Location"] == f"/clients/{client.id}"
    listing = auth_client.get("/clients/").get_data(as_text=True)
    assert "Boulangerie Martin" in listing
    assert "a@x.fr, b@y.fr" in listing
    assert "USD" in listing


def test_a_malformed_email_among_three_is_named_and_nothing_is_saved(app, auth_client):
    typed = "a@x.fr; pas-un-email, b@y.fr"
    response = auth_client.post("/clients/new", data=client_form(emails=typed))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Adresse email invalide : pas-un-email" in errors_of(page, "emails")
    assert f'value="{typed}"' in page
    assert 'value="Boulangerie Martin"' in page
    assert all_clients(app) == []


def test_an_empty_name_gets_a_french_message(app, auth_client):
    response = auth_client.post("/clients/new", data=client_form(name="", notes="À rappeler"))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Le nom du client est obligatoire." in errors_of(page, "name")
    assert "À rappeler" in page
    assert all_clients(app) == []


def test_sending_by_email_without_an_address_is_refused_on_the_emails_field(app, auth_client):
    response = auth_client.post("/clients/new", data=client_form(emails=""))
    assert response.status_code == 422
    assert "au moins une adresse email" in errors_of(response.get_data(as_text=True), "emails")
    assert all_clients(app) == []


def test_a_paper_client_needs_no_address(app, auth_client):
    response = auth_client.post("/clients/new", data=client_form(emails="", by_email=None))
    assert response.status_code == 303
    assert all_clients(app) == [("Boulangerie Martin", [], False, None, False, None)]
    assert "Papier" in auth_client.get("/clients/").get_data(as_text=True)


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("366", "Le délai de paiement doit être compris entre 0 et 365 jours."),
        ("-1", "Le délai de paiement doit être compris entre 0 et 365 jours."),
        ("trente", "N'est pas un entier valide."),
    ],
)
def test_payment_terms_must_be_0_to_365_days(app, auth_client, typed, message):
    response = auth_client.post("/clients/new", data=client_form(payment_terms_days=typed))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert message in errors_of(page, "payment_terms_days")
    assert f'value="{typed}"' in page
    assert all_clients(app) == []


def test_an_unknown_currency_is_refused(app, auth_client):
    response = auth_client.post("/clients/new", data=client_form(currency="XYZ"))
    assert response.status_code == 422
    assert "choix valide" in errors_of(response.get_data(as_text=True), "currency")
    assert all_clients(app) == []


def test_a_script_in_the_name_is_escaped_on_the_list_and_the_page(app, auth_client):
    response = auth_client.post("/clients/new", data=client_form(name="<script>alert(1)</script>"))
    for path in ("/clients/", response.headers["Location"]):
        page = auth_client.get(path).get_data(as_text=True)
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert "<script>alert(1)" not in page


def test_a_post_without_csrf_token_changes_nothing(app, auth_client):
    response = auth_client.post("/clients/new", data=client_form(), csrf=False)
    assert response.status_code == 400
    assert all_clients(app) == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/clients/999"),
        ("get", "/clients/999/edit"),
        ("post", "/clients/999/edit"),
        ("post", "/clients/999/archive"),
        ("post", "/clients/999/restore"),
    ],
)
def test_an_unknown_client_is_not_found(auth_client, method, path):
    response = getattr(auth_client, method)(path, data=client_form())
    assert response.status_code == 404
    assert "Page introuvable" in response.get_data(as_text=True)


def test_edit_form_shows_current_values(app, auth_client):
    client_id = add_client(app, emails=["a@x.fr", "b@y.fr"], payment_terms_days=10)
    page = auth_client.get(f"/clients/{client_id}/edit").get_data(as_text=True)
    assert 'value="a@x.fr, b@y.fr"' in page
    assert 'value="10"' in page
    assert "Modifier le client" in page


def test_edit_client_saves_the_changes(app, auth_client):
    client_id = add_client(app)
    response = auth_client.post(
        f"/clients/{client_id}/edit",
        data=client_form(name="Boulangerie Martin & Fils", emails="x@martin.fr", by_email=None),
    )
    assert response.status_code == 303
    assert response.headers["Location"] == f"/clients/{client_id}"
    assert all_clients(app) == [
        ("Boulangerie Martin & Fils", ["x@martin.fr"], False, None, False, None)
    ]


def test_a_refused_edit_keeps_the_text_and_changes_nothing(app, auth_client):
    client_id = add_client(app)
    before = all_clients(app)
    typed = "a@x.fr, faux@, b@y.fr"
    response = auth_client.post(
        f"/clients/{client_id}/edit", data=client_form(name="Autre nom", emails=typed)
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Adresse email invalide : faux@" in errors_of(page, "emails")
    assert f'value="{typed}"' in page
    assert 'value="Autre nom"' in page
    assert all_clients(app) == before


def test_archive_hides_the_client_and_restore_brings_it_back(app, auth_client):
    client_id = add_client(app, "Garage Dupont")
    response = auth_client.post(f"/clients/{client_id}/archive")
    assert response.status_code == 303
    assert "Garage Dupont" not in auth_client.get("/clients/").get_data(as_text=True)
    archived = auth_client.get("/clients/?archived=1").get_data(as_text=True)
    assert "Garage Dupont" in archived
    page = auth_client.get(f"/clients/{client_id}").get_data(as_text=True)
    assert "Désarchiver" in page
    assert auth_client.post(f"/clients/{client_id}/restore").status_code == 303
    assert "Garage Dupont" in auth_client.get("/clients/").get_data(as_text=True)
    assert all_clients(app)[0][4] is False


def test_archive_needs_a_post(app, auth_client):
    client_id = add_client(app)
    assert auth_client.get(f"/clients/{client_id}/archive").status_code == 405
    assert all_clients(app)[0][4] is False


def test_search_over_name_emails_and_company_number(app, auth_client):
    add_client(app, "Boulangerie Martin", emails=["compta@martin.fr"], company_number="123456789")
    add_client(app, "Garage Dupont", emails=["factures@dupont.be"], company_number="0876543210")

    def names(q):
        page = auth_client.get("/clients/", query_string={"q": q}).get_data(as_text=True)
        return [name for name in ("Boulangerie Martin", "Garage Dupont") if name in page]

    assert names("BOULANGERIE") == ["Boulangerie Martin"]
    assert names("dupont.be") == ["Garage Dupont"]
    assert names("0876") == ["Garage Dupont"]
    assert names("") == ["Boulangerie Martin", "Garage Dupont"]


def test_search_with_no_match_says_so_escaped(app, auth_client):
    add_client(app)
    page = auth_client.get("/clients/?q=<b>rien").get_data(as_text=True)
    assert "Aucun client ne correspond à « &lt;b&gt;rien »." in page


def test_live_search_answers_only_the_results_block(app, auth_client):
    add_client(app, "Boulangerie Martin")
    response = auth_client.get("/clients/?q=martin", headers={"HX-Request": "true"})
    page = response.get_data(as_text=True)
    assert page.lstrip().startswith('<div id="client-results">')
    assert "<html" not in page
    assert "Boulangerie Martin" in page


def test_search_field_is_wired_for_live_search(auth_client):
    page = auth_client.get("/clients/?q=mar").get_data(as_text=True)
    assert 'hx-trigger="input changed delay:300ms, search"' in page
    assert 'hx-target="#client-results"' in page
    assert 'hx-push-url="true"' in page
    assert 'name="q" value="mar"' in page


def test_list_paginates_at_50_and_keeps_the_search(app, auth_client):
    with app.app_context():
        for n in range(51):
            make_client(f"Client {n:02d}")
        db.session.commit()
    first = auth_client.get("/clients/?q=client").get_data(as_text=True)
    assert "Page 1 sur 2" in first
    assert "Client 49" in first and "Client 50" not in first
    assert 'href="/clients/?page=2&amp;q=client"' in first
    second = auth_client.get("/clients/?q=client&page=2").get_data(as_text=True)
    assert "Client 50" in second and "Client 49" not in second
    assert "Aucun client" in auth_client.get("/clients/?page=9").get_data(as_text=True)


def test_parent_select_offers_active_top_level_clients_except_itself(app, auth_client):
    group_id = add_client(app, "Groupe Martin")
    with app.app_context():
        make_client("Martin Lyon", parent=db.session.get(Client, group_id))
        make_client("Ancien client", archived=True)
        db.session.commit()
    new_page = auth_client.get("/clients/new").get_data(as_text=True)
    assert f'<option value="{group_id}">Groupe Martin</option>' in new_page
    assert "Martin Lyon</option>" not in new_page
    assert "Ancien client</option>" not in new_page
    own_page = auth_client.get(f"/clients/{group_id}/edit").get_data(as_text=True)
    assert "Groupe Martin</option>" not in own_page


def test_create_a_sub_client(app, auth_client):
    group_id = add_client(app, "Groupe Martin")
    response = auth_client.post(
        "/clients/new", data=client_form(name="Martin Lyon", parent_id=str(group_id))
    )
    assert response.status_code == 303
    listing = auth_client.get("/clients/").get_data(as_text=True)
    assert f'<a href="/clients/{group_id}">Groupe Martin</a></td>' in listing


def test_a_parent_that_has_a_parent_is_refused(app, auth_client):
    group_id = add_client(app, "Groupe Martin")
    with app.app_context():
        shop_id = make_client("Martin Lyon", parent=db.session.get(Client, group_id)).id
        db.session.commit()
    before = all_clients(app)
    response = auth_client.post(
        "/clients/new", data=client_form(name="Martin Est", parent_id=str(shop_id))
    )
    assert response.status_code == 422
    assert "lui-même un sous-client" in errors_of(response.get_data(as_text=True), "parent_id")
    assert all_clients(app) == before


def test_a_client_cannot_be_its_own_parent(app, auth_client):
    client_id = add_client(app)
    before = all_clients(app)
    response = auth_client.post(
        f"/clients/{client_id}/edit", data=client_form(parent_id=str(client_id))
    )
    assert response.status_code == 422
    assert "son propre parent" in errors_of(response.get_data(as_text=True), "parent_id")
    assert all_clients(app) == before


def test_a_client_with_children_cannot_become_a_child(app, auth_client):
    group_id = add_client(app, "Groupe Martin")
    other_id = add_client(app, "Holding Dupont")
    with app.app_context():
        make_client("Martin Lyon", parent=db.session.get(Client, group_id))
        db.session.commit()
    before = all_clients(app)
    response = auth_client.post(
        f"/clients/{group_id}/edit", data=client_form(name="Groupe Martin", parent_id=str(other_id))
    )
    assert response.status_code == 422
    assert "a des sous-clients" in errors_of(response.get_data(as_text=True), "parent_id")
    assert all_clients(app) == before


@pytest.mark.parametrize(
    ("typed", "message"), [("999", "Ce client n'existe pas."), ("abc", "Choix non valide")]
)
def test_an_unknown_or_malformed_parent_is_refused(app, auth_client, typed, message):
    response = auth_client.post("/clients/new", data=client_form(parent_id=typed))
    assert response.status_code == 422
    assert message in errors_of(response.get_data(as_text=True), "parent_id")
    assert all_clients(app) == []


def test_client_page_shows_facts_family_jobs_empty_invoices_and_balance(app, auth_client):
    with app.app_context():
        group = make_client("Groupe Martin")
        shop = make_client("Martin Lyon", parent=group, currency="CAD", payment_terms_days=15,
                           vat_number="FR001", address="1 rue du Pain")
        make_client("Martin Lyon Est", parent=group)
        make_job(shop, "Refonte du site")
        db.session.commit()
        group_id, shop_id = group.id, shop.id
    with app.test_request_context():
        balance = money_filter(0, "CAD")
    page = auth_client.get(f"/clients/{shop_id}").get_data(as_text=True)
    assert f'<a href="/clients/{group_id}">Groupe Martin</a>' in page
    assert "Refonte du site" in page and "Ouvert" in page
    assert f'href="/jobs/new?client_id={shop_id}"' in page
    assert "Aucune facture pour le moment." in page
    assert f"Solde : {balance}" in page
    assert "15 jours" in page and "FR001" in page and "1 rue du Pain" in page
    assert f'href="/clients/{shop_id}/edit"' in page
    assert f'action="/clients/{shop_id}/archive"' in page
    group_page = auth_client.get(f"/clients/{group_id}").get_data(as_text=True)
    assert "Sous-clients" in group_page
    assert "Martin Lyon</a>, <a" in group_page
    assert "Aucun dossier pour le moment." in group_page


def test_balance_is_zero_in_euros_for_a_euro_client(app, auth_client):
    client_id = add_client(app)
    page = auth_client.get(f"/clients/{client_id}").get_data(as_text=True)
    assert "Solde : 0,00\u00a0€" in page


def _fill(app, count: int) -> None:
    """`count` clients, each with a parent (half share one, half have their own)."""
    with app.app_context():
        group = make_client("Groupe")
        for n in range(count):
            parent = group if n % 2 else make_client(f"Parent {n:03d}")
            make_client(f"Client {n:03d}", parent=parent)
        db.session.commit()


@pytest.mark.parametrize("path", ["/clients/", "/clients/?q=client"])
def test_list_runs_the_same_number_of_queries_for_10_and_500_clients(app, auth_client, path):
    _fill(app, 10)
    with count_queries(app) as small:
        assert auth_client.get(path).status_code == 200
    _fill(app, 490)
    with count_queries(app) as large:
        assert auth_client.get(path).status_code == 200
    assert small() == large()


def test_client_page_runs_the_same_number_of_queries_for_10_and_500_jobs_and_children(
    app, auth_client
):
    def fill(group_id, start, stop):
        with app.app_context():
            group = db.session.get(Client, group_id)
            for n in range(start, stop):
                make_client(f"Filiale {n}", parent=group)
                make_job(group, f"Dossier {n}")
            db.session.commit()

    group_id = add_client(app, "Groupe")
    fill(group_id, 0, 10)
    with count_queries(app) as small:
        assert auth_client.get(f"/clients/{group_id}").status_code == 200
    fill(group_id, 10, 500)
    with count_queries(app) as large:
        page = auth_client.get(f"/clients/{group_id}").get_data(as_text=True)
    assert "Dossier 499" in page and "Filiale 499" in page
    assert small() == large()


def test_client_count_is_unchanged_by_browsing(app, auth_client):
    add_client(app)
    for path in ("/clients/", "/clients/new", "/clients/1", "/clients/1/edit"):
        assert auth_client.get(path).status_code == 200
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Client)) == 1


def test_client_page_lists_its_invoices_and_what_it_owes(app, auth_client):
    from billing import invoices as verbs
    from tests.factories import make_invoice

    with app.test_request_context():
        client = make_client("Hexalis <b>", emails=["a@hexalis.fr"])
        owed = make_invoice(client, lines=[(1, 10_000)])
        verbs.finalize(owed, owed.issue_date)
        verbs.mark_sent(owed)
        make_invoice(client, lines=[(1, 999)])  # a draft owes nothing yet
        other = make_invoice(make_client("Autre"), lines=[(1, 5_000)])
        verbs.finalize(other, other.issue_date)
        db.session.commit()
        client_id = client.id
    page = auth_client.get(f"/clients/{client_id}").get_data(as_text=True)
    assert "Solde : 100,00\u00a0€" in page
    assert "F-2026-0001" in page and "Brouillon" in page and "F-2026-0002" not in page
    assert "Hexalis &lt;b&gt;" in page
    assert 'name="client_id" value="%d"' % client_id in page
