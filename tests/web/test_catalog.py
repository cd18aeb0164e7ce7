"""« Produits et services »: list, live search, create/edit, (de)activate and the picker."""

import re

import pytest
from sqlalchemy import select

from billing import settings
from billing.models import Item, TaxRate, db
from tests.conftest import count_queries
from tests.factories import make_item, make_tax_rate

HTMX = {"HX-Request": "true"}
CHECKBOX = 'name="tax_rate_ids" type="checkbox"'


def items_in_db(app) -> list[tuple]:
    with app.app_context():
        rows = db.session.scalars(select(Item).order_by(Item.id))
        return [
            (i.name, i.description, i.unit, i.unit_price_cents,
             [rate.name for rate in i.tax_rates], i.active)
            for i in rows
        ]


@pytest.fixture
def rates(app, owner):
    """Two active rates (TPS, TVQ) and an inactive one; returns their ids."""
    with app.app_context():
        ids = {
            "TPS": make_tax_rate("TPS", 5_000).id,
            "TVQ": make_tax_rate("TVQ", 9_975).id,
            "old": make_tax_rate("Ancienne taxe", 8_500, active=False).id,
        }
        db.session.commit()
        return ids


def add_item(app, name="Conseil", tax_rate_ids=(), **fields) -> int:
    with app.app_context():
        tax_rates = [db.session.get(TaxRate, rate_id) for rate_id in tax_rate_ids]
        item_id = make_item(name, tax_rates=tax_rates, **fields).id
        db.session.commit()
        return item_id


def add_items(app, count: int, active=True, prefix="Produit") -> None:
    """`count` items, each with two tax rates."""
    with app.app_context():
        taxes = [make_tax_rate("TPS", 5_000), make_tax_rate("TVQ", 9_975)]
        db.session.add_all(
            Item(name=f"{prefix} {n:03}", unit_price_cents=1_000 + n, tax_rates=taxes, active=active)
            for n in range(count)
        )
        db.session.commit()


def picked_ids(page: str) -> list[int]:
    return [int(found) for found in re.findall(r'data-item-id="(\d+)"', page)]


# The list -----------------------------------------------------------------


def test_empty_catalog_invites_to_add_the_first_item(auth_client):
    page = auth_client.get("/catalog/").get_data(as_text=True)
    assert "Aucun produit ou service pour l'instant." in page
    assert 'href="/catalog/new"' in page


def test_list_shows_name_unit_price_in_business_currency_and_taxes(app, auth_client, rates):
    with app.app_context():
        settings.business().currency = "CAD"
        db.session.commit()
    add_item(app, "Conseil", unit="jour", unit_price_cents=123_456, description="Accompagnement",
             tax_rate_ids=[rates["TPS"], rates["TVQ"]])
    page = auth_client.get("/catalog/").get_data(as_text=True)
    assert "Conseil" in page and "Accompagnement" in page
    assert "jour" in page
    assert "1\xa0234,56\xa0$" in page
    assert "TPS, TVQ" in page


def test_list_shows_active_items_by_default_and_filters_by_state(app, auth_client):
    add_item(app, "Actif")
    add_item(app, "Ancien", active=False)
    default = auth_client.get("/catalog/").get_data(as_text=True)
    assert "Actif" in default and "Ancien" not in default
    inactive = auth_client.get("/catalog/?status=inactive").get_data(as_text=True)
    assert "Ancien" in inactive and ">Actif</a>" not in inactive
    both = auth_client.get("/catalog/?status=all").get_data(as_text=True)
    assert "Ancien" in both and ">Actif</a>" in both
    unknown = auth_client.get("/catalog/?status=nope").get_data(as_text=True)
    assert "Ancien" not in unknown


def test_search_matches_name_or_description_ignoring_case(app, auth_client):
    add_item(app, "Conseil stratégique")
    add_item(app, "Formation", description="Atelier de CONSEIL en équipe")
    add_item(app, "Audit")
    page = auth_client.get("/catalog/?q=conseil").get_data(as_text=True)
    assert "Conseil stratégique" in page and "Formation" in page
    assert "Audit" not in page


def test_search_with_htmx_answers_with_the_results_only(app, auth_client):
    add_item(app, "Audit")
    response = auth_client.get("/catalog/?q=aud", headers=HTMX)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert page.lstrip().startswith('<div id="results">')
    assert "<html" not in page and "Audit" in page


def test_search_takes_percent_and_underscore_literally(app, auth_client):
    add_item(app, "Remise 10 %")
    add_item(app, "Forfait_mensuel")
    add_item(app, "Audit")
    assert "Audit" not in auth_client.get("/catalog/?q=%25").get_data(as_text=True)
    assert "Remise 10 %" in auth_client.get("/catalog/?q=%25").get_data(as_text=True)
    page = auth_client.get("/catalog/?q=_").get_data(as_text=True)
    assert "Forfait_mensuel" in page and "Audit" not in page


def test_search_without_result_says_so(app, auth_client):
    add_item(app, "Audit")
    page = auth_client.get("/catalog/?q=zzz").get_data(as_text=True)
    assert "Aucun produit ne correspond." in page


def test_search_field_is_live_with_htmx(auth_client):
    page = auth_client.get("/catalog/").get_data(as_text=True)
    assert 'hx-trigger="input changed delay:300ms, search"' in page
    assert 'hx-target="#results"' in page


def test_list_paginates_at_50(app, auth_client):
    add_items(app, 120)
    first = auth_client.get("/catalog/").get_data(as_text=True)
    assert first.count('<tr id="item-') == 50
    assert "Page 1 sur 3" in first
    assert "page=2" in first
    last = auth_client.get("/catalog/?page=3").get_data(as_text=True)
    assert last.count('<tr id="item-') == 20
    beyond = auth_client.get("/catalog/?page=9").get_data(as_text=True)
    assert beyond.count('<tr id="item-') == 0


@pytest.mark.parametrize("path", ["/catalog/", "/catalog/?status=all&q=Produit", "/catalog/picker"])
def test_list_and_picker_run_the_same_number_of_queries_for_10_and_500_items(app, auth_client, path):
    add_items(app, 10, prefix="Produit A")
    with count_queries(app) as small:
        assert auth_client.get(path).status_code == 200
    add_items(app, 490, prefix="Produit B")
    with count_queries(app) as large:
        page = auth_client.get(path).get_data(as_text=True)
    assert "TPS, TVQ" in page
    assert large() == small()


def test_a_script_in_an_item_name_is_escaped_in_the_list_and_the_picker(app, auth_client):
    add_item(app, "<script>alert(1)</script>")
    for path in ("/catalog/", "/catalog/picker", "/catalog/picker?q=script"):
        page = auth_client.get(path, headers=HTMX if "q=" in path else {}).get_data(as_text=True)
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert "<script>alert(1)" not in page


# Create and edit --------------------------------------------------------------


def test_new_item_form_offers_only_active_rates_as_checkboxes(auth_client, rates):
    page = auth_client.get("/catalog/new").get_data(as_text=True)
    assert 'type="checkbox" value="%d"' % rates["TPS"] in page
    assert "TVQ (9,975 %)" in page
    assert "Ancienne taxe" not in page
    assert '<datalist id="units">' in page


def test_new_item_form_without_active_rates_links_to_the_taxes(auth_client):
    page = auth_client.get("/catalog/new").get_data(as_text=True)
    assert "Aucune taxe active." in page
    assert 'href="/settings/taxes/"' in page


def test_create_an_item_with_default_taxes(app, auth_client, rates):
    response = auth_client.post(
        "/catalog/new",
        data={
            "name": " Conseil (journée) ",
            "description": "Accompagnement",
            "unit": "jour",
            "unit_price": "1 234,5",
            "tax_rate_ids": [str(rates["TPS"]), str(rates["TVQ"])],
        },
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/catalog/"
    assert items_in_db(app) == [
        ("Conseil (journée)", "Accompagnement", "jour", 123_450, ["TPS", "TVQ"], True)
    ]
    page = auth_client.get("/catalog/").get_data(as_text=True)
    assert "« Conseil (journée) » ajouté au catalogue." in page


def test_create_an_item_without_taxes_or_unit(app, auth_client):
    response = auth_client.post("/catalog/new", data={"name": "Frais de dossier", "unit_price": "0"})
    assert response.status_code == 303
    assert items_in_db(app) == [("Frais de dossier", "", "", 0, [], True)]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": ""}, '<p class="error" id="name-error">Ce champ est obligatoire.</p>'),
        ({"name": "x" * 201}, "Au plus 200 caractères."),
        ({"unit": "u" * 31}, "Au plus 30 caractères."),
        ({"unit_price": "-10"}, "Le montant ne peut pas être négatif."),
        ({"unit_price": "12,345"}, "Montant invalide"),
        ({"unit_price": "douze"}, "Montant invalide"),
        ({"unit_price": ""}, '<p class="error" id="unit_price-error">Ce champ est obligatoire.</p>'),
    ],
)
def test_bad_item_input_is_refused_with_a_message_and_nothing_saved(app, auth_client, fields, message):
    data = {"name": "Conseil", "unit": "jour", "unit_price": "600", **fields}
    response = auth_client.post("/catalog/new", data=data)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in page
    for value in data.values():
        assert f'value="{value}"' in page
    assert items_in_db(app) == []


def test_an_inactive_or_unknown_tax_rate_cannot_be_chosen(app, auth_client, rates):
    for rate_id in (rates["old"], 999, "abc"):
        response = auth_client.post(
            "/catalog/new",
            data={"name": "Conseil", "unit_price": "600",
                  "tax_rate_ids": [str(rates["TPS"]), str(rate_id)]},
        )
        assert response.status_code == 422
        assert "choix" in response.get_data(as_text=True).lower()
    assert items_in_db(app) == []


def test_a_script_in_a_new_item_name_is_kept_escaped_on_error(app, auth_client):
    response = auth_client.post(
        "/catalog/new", data={"name": "<script>alert(1)</script>", "unit_price": "-1"}
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'value="&lt;script&gt;alert(1)&lt;/script&gt;"' in page
    assert "<script>alert(1)" not in page
    assert items_in_db(app) == []


def test_form_errors_with_htmx_answer_with_the_form_only(auth_client):
    response = auth_client.post("/catalog/new", data={"name": ""}, headers=HTMX)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert page.lstrip().startswith("<form")
    assert "<html" not in page


def test_edit_page_shows_the_item_as_typed(app, auth_client, rates):
    item_id = add_item(app, "Conseil", unit="jour", unit_price_cents=60_000, tax_rate_ids=[rates["TVQ"]])
    page = auth_client.get(f"/catalog/{item_id}/edit").get_data(as_text=True)
    assert 'value="600,00"' in page
    assert f'<input checked id="tax_rate_ids-1" {CHECKBOX} value="{rates["TVQ"]}">' in page
    assert f'<input id="tax_rate_ids-0" {CHECKBOX} value="{rates["TPS"]}">' in page


def test_edit_saves_fields_and_replaces_default_taxes(app, auth_client, rates):
    item_id = add_item(app, "Conseil", tax_rate_ids=[rates["TPS"]])
    response = auth_client.post(
        f"/catalog/{item_id}/edit",
        data={"name": "Conseil senior", "unit": "heure", "unit_price": "150",
              "tax_rate_ids": [str(rates["TVQ"])]},
    )
    assert response.status_code == 303
    assert items_in_db(app) == [("Conseil senior", "", "heure", 15_000, ["TVQ"], True)]
    auth_client.post(f"/catalog/{item_id}/edit", data={"name": "Conseil senior", "unit_price": "150"})
    assert items_in_db(app)[0][4] == []


def test_edit_keeps_an_inactive_rate_the_item_already_has(app, auth_client, rates):
    item_id = add_item(app, "Conseil", tax_rate_ids=[rates["old"]])
    page = auth_client.get(f"/catalog/{item_id}/edit").get_data(as_text=True)
    assert "Ancienne taxe (8,5 %) — désactivée" in page
    response = auth_client.post(
        f"/catalog/{item_id}/edit",
        data={"name": "Conseil", "unit_price": "600", "tax_rate_ids": [str(rates["old"])]},
    )
    assert response.status_code == 303
    assert items_in_db(app)[0][4] == ["Ancienne taxe"]


def test_edit_errors_keep_what_was_typed_and_change_nothing(app, auth_client):
    item_id = add_item(app, "Conseil", unit_price_cents=60_000)
    response = auth_client.post(
        f"/catalog/{item_id}/edit", data={"name": "Conseil modifié", "unit_price": "-5"}
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Le montant ne peut pas être négatif." in page
    assert 'value="Conseil modifié"' in page and 'value="-5"' in page
    assert items_in_db(app) == [("Conseil", "", "", 60_000, [], True)]


# Activate and deactivate --------------------------------------------------------


def test_deactivate_hides_the_item_from_the_picker_and_the_active_list(app, auth_client):
    item_id = add_item(app, "Audit")
    response = auth_client.post(f"/catalog/{item_id}/deactivate")
    assert response.status_code == 303
    assert items_in_db(app)[0][5] is False
    page = auth_client.get("/catalog/").get_data(as_text=True)
    assert "« Audit » est désactivé" in page
    assert "Aucun produit ou service" in page
    assert picked_ids(auth_client.get("/catalog/picker").get_data(as_text=True)) == []


def test_activate_brings_the_item_back(app, auth_client):
    item_id = add_item(app, "Audit", active=False)
    assert auth_client.post(f"/catalog/{item_id}/activate").status_code == 303
    assert items_in_db(app)[0][5] is True
    assert picked_ids(auth_client.get("/catalog/picker").get_data(as_text=True)) == [item_id]


def test_deactivate_with_htmx_answers_with_the_row(app, auth_client):
    item_id = add_item(app, "Audit")
    response = auth_client.post(f"/catalog/{item_id}/deactivate", headers=HTMX)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert page.lstrip().startswith(f'<tr id="item-{item_id}">')
    assert "Désactivé" in page
    assert f'hx-post="/catalog/{item_id}/activate"' in page


def test_edit_page_offers_to_deactivate_never_to_delete(app, auth_client):
    item_id = add_item(app, "Audit")
    page = auth_client.get(f"/catalog/{item_id}/edit").get_data(as_text=True)
    assert f'action="/catalog/{item_id}/deactivate"' in page
    assert "Supprimer" not in page


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "edit"), ("post", "edit"), ("post", "activate"), ("post", "deactivate")],
)
def test_unknown_item_is_not_found(auth_client, method, path):
    response = getattr(auth_client, method)(f"/catalog/999/{path}")
    assert response.status_code == 404


# The picker -----------------------------------------------------------------------


def test_picker_with_htmx_is_a_fragment_with_name_unit_price_and_taxes(app, auth_client, rates):
    item_id = add_item(
        app, "Conseil", unit="jour", unit_price_cents=60_000, tax_rate_ids=[rates["TPS"], rates["TVQ"]]
    )
    response = auth_client.get("/catalog/picker?q=cons", headers=HTMX)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert page.lstrip().startswith('<ul class="picker-results">')
    assert "<html" not in page
    assert f'data-item-id="{item_id}"' in page
    assert "Conseil" in page and "jour" in page and "600,00\xa0€" in page
    assert "TPS, TVQ" in page


def test_picker_without_htmx_is_a_full_page_with_a_search_form(app, auth_client):
    add_item(app, "Audit")
    page = auth_client.get("/catalog/picker?q=aud").get_data(as_text=True)
    assert "<html" in page
    assert '<form method="get" action="/catalog/picker"' in page
    assert 'value="aud"' in page
    assert '<ul class="picker-results">' in page


def test_picker_searches_name_or_description_ignoring_case(app, auth_client):
    by_name = add_item(app, "AUDIT de sécurité")
    by_description = add_item(app, "Forfait", description="comprend un audit")
    add_item(app, "Formation")
    page = auth_client.get("/catalog/picker?q=Audit", headers=HTMX).get_data(as_text=True)
    assert sorted(picked_ids(page)) == sorted([by_name, by_description])


def test_picker_with_an_empty_query_gives_the_first_20_active_items_alphabetically(app, auth_client):
    add_items(app, 25)
    add_item(app, "AAA retiré", active=False)
    page = auth_client.get("/catalog/picker?q=", headers=HTMX).get_data(as_text=True)
    names = re.findall(r"<strong>([^<]+)</strong>", page)
    assert names == [f"Produit {n:03}" for n in range(20)]


def test_picker_excludes_inactive_items_and_stops_at_20(app, auth_client):
    add_items(app, 30, prefix="Conseil")
    add_items(app, 5, prefix="Conseil retiré", active=False)
    page = auth_client.get("/catalog/picker?q=conseil", headers=HTMX).get_data(as_text=True)
    assert len(picked_ids(page)) == 20
    assert "retiré" not in page


def test_picker_without_result_says_so(app, auth_client):
    add_item(app, "Audit")
    page = auth_client.get("/catalog/picker?q=zzz", headers=HTMX).get_data(as_text=True)
    assert "Aucun produit ne correspond." in page
    assert picked_ids(page) == []
