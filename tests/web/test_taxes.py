"""The « Taxes » page: list, add, presets, edit, (de)activate, delete, through real requests."""

import pytest
from sqlalchemy import select

from billing import settings
from billing.models import Country, TaxRate, db
from tests.conftest import count_queries
from tests.factories import make_item, make_tax_rate

HTMX = {"HX-Request": "true"}


def rates_in_db(app) -> list[tuple[str, int, str, bool]]:
    with app.app_context():
        rows = db.session.scalars(select(TaxRate).order_by(TaxRate.id))
        return [(r.name, r.rate_millis, r.registration_number, r.active) for r in rows]


def add_rate(app, *args, **fields) -> int:
    with app.app_context():
        rate_id = make_tax_rate(*args, **fields).id
        db.session.commit()
        return rate_id


def set_business(app, **fields) -> None:
    with app.app_context():
        business = settings.business()
        for name, value in fields.items():
            setattr(business, name, value)
        db.session.commit()


def test_taxes_page_needs_the_owner(client, owner):
    response = client.get("/settings/taxes/")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_empty_taxes_page_invites_to_use_a_preset(auth_client):
    page = auth_client.get("/settings/taxes/").get_data(as_text=True)
    assert "Aucune taxe pour l'instant" in page
    assert "Ajouter une taxe" in page


def test_taxes_page_lists_rates_with_their_state(app, auth_client):
    add_rate(app, "TVQ", 9_975, "1234567890 TQ0001", locked=True)
    add_rate(app, "Ancienne TVA", 19_600, active=False)
    page = auth_client.get("/settings/taxes/").get_data(as_text=True)
    assert "TVQ" in page
    assert "9,975 %" in page
    assert "1234567890 TQ0001" in page
    assert "verrouillée" in page
    assert "Inactive" in page
    assert "19,6 %" in page


def test_presets_are_offered_with_the_business_country_first(app, auth_client):
    set_business(app, country=Country.BE)
    page = auth_client.get("/settings/taxes/").get_data(as_text=True)
    belgium = page.index("Ajouter les taxes de Belgique (TVA 21 / 12 / 6 / 0\u00a0%)")
    quebec = page.index("Ajouter les taxes du Québec (TPS 5\u00a0% + TVQ 9,975\u00a0%)")
    france = page.index("Ajouter les taxes de France (TVA 20 / 10 / 5,5 / 2,1\u00a0%)")
    assert belgium < quebec < france


def test_quebec_preset_adds_tps_5_and_tvq_9_975_with_business_numbers(app, auth_client):
    set_business(app, gst_number="123456789 RT0001", qst_number="1234567890 TQ0001")
    response = auth_client.post("/settings/taxes/presets/CA-QC")
    assert response.status_code == 303
    assert response.headers["Location"] == "/settings/taxes/"
    assert rates_in_db(app) == [
        ("TPS", 5_000, "123456789 RT0001", True),
        ("TVQ", 9_975, "1234567890 TQ0001", True),
    ]
    page = auth_client.get("/settings/taxes/").get_data(as_text=True)
    assert "Taxes ajoutées : TPS, TVQ." in page
    assert "5 %" in page and "9,975 %" in page


def test_france_and_belgium_presets_add_their_vat_rates(app, auth_client):
    set_business(app, vat_number="FR12345678901")
    auth_client.post("/settings/taxes/presets/FR")
    auth_client.post("/settings/taxes/presets/BE")
    assert [(name, rate) for name, rate, _n, _a in rates_in_db(app)] == [
        ("TVA 20 %", 20_000), ("TVA 10 %", 10_000), ("TVA 5,5 %", 5_500), ("TVA 2,1 %", 2_100),
        ("TVA 21 %", 21_000), ("TVA 12 %", 12_000), ("TVA 6 %", 6_000), ("TVA 0 %", 0),
    ]
    assert {number for _name, _rate, number, _a in rates_in_db(app)} == {"FR12345678901"}


def test_clicking_a_preset_twice_adds_its_rates_once(app, auth_client):
    auth_client.post("/settings/taxes/presets/CA-QC")
    response = auth_client.post("/settings/taxes/presets/CA-QC", headers=HTMX)
    assert response.status_code == 200
    assert "Ces taxes sont déjà dans la liste." in response.get_data(as_text=True)
    assert len(rates_in_db(app)) == 2


def test_preset_with_htmx_answers_with_the_list_only(app, auth_client):
    response = auth_client.post("/settings/taxes/presets/FR", headers=HTMX)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert page.lstrip().startswith('<div id="taxes">')
    assert "<html" not in page
    assert "TVA 5,5 %" in page


@pytest.mark.parametrize("country", ["XX", "other", "fr"])
def test_unknown_preset_country_is_not_found(app, auth_client, country):
    assert auth_client.post(f"/settings/taxes/presets/{country}").status_code == 404
    assert rates_in_db(app) == []


@pytest.mark.parametrize(
    ("typed", "millis"),
    [("9,975", 9_975), ("9.975", 9_975), ("20 %", 20_000), ("0", 0), ("100", 100_000)],
)
def test_add_a_rate_reads_comma_or_dot(app, auth_client, typed, millis):
    response = auth_client.post(
        "/settings/taxes/", data={"name": "TVQ", "rate": typed, "registration_number": " TQ1 "}
    )
    assert response.status_code == 303
    assert rates_in_db(app) == [("TVQ", millis, "TQ1", True)]


def test_add_a_rate_with_htmx_answers_with_the_list_and_an_empty_form(app, auth_client):
    response = auth_client.post(
        "/settings/taxes/", data={"name": "TPS", "rate": "5", "registration_number": ""}, headers=HTMX
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Taxe « TPS » ajoutée." in page
    assert 'id="name" maxlength="60" name="name" required type="text" value=""' in page
    assert "<html" not in page


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("100,001", "Le taux doit être compris entre 0 et 100 %."),
        ("150", "Le taux doit être compris entre 0 et 100 %."),
        ("-1", "Le taux doit être compris entre 0 et 100 %."),
        ("abc", "Taux invalide : un pourcentage avec au plus 3 décimales"),
        ("9,9755", "Taux invalide : un pourcentage avec au plus 3 décimales"),
        ("", "Ce champ est obligatoire."),
    ],
)
def test_a_bad_rate_is_refused_with_a_message_and_nothing_saved(app, auth_client, typed, message):
    response = auth_client.post(
        "/settings/taxes/", data={"name": "TVQ", "rate": typed, "registration_number": "TQ1"}
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in page
    assert f'name="rate" type="text" value="{typed}"' in page
    assert 'value="TQ1"' in page
    assert rates_in_db(app) == []


def test_a_rate_needs_a_name(app, auth_client):
    response = auth_client.post("/settings/taxes/", data={"name": "  ", "rate": "5"})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert '<p class="error" id="name-error">Ce champ est obligatoire.</p>' in page
    assert 'name="rate" type="text" value="5"' in page
    assert rates_in_db(app) == []


def test_a_bad_rate_with_htmx_answers_with_the_list_block_and_422(app, auth_client):
    response = auth_client.post("/settings/taxes/", data={"name": "X", "rate": "abc"}, headers=HTMX)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "<html" not in page
    assert "Taux invalide" in page


def test_a_script_in_a_tax_name_is_shown_escaped(app, auth_client):
    auth_client.post("/settings/taxes/", data={"name": "<script>alert(1)</script>", "rate": "5"})
    page = auth_client.get("/settings/taxes/").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert(1)" not in page
    rate_id = add_rate(app, "<script>x</script>", 1_000)
    edit = auth_client.get(f"/settings/taxes/{rate_id}/edit").get_data(as_text=True)
    assert "&lt;script&gt;x&lt;/script&gt;" in edit
    assert "<script>x" not in edit


def test_edit_page_shows_the_rate_as_typed_by_people(app, auth_client):
    rate_id = add_rate(app, "TVQ", 9_975, "TQ1")
    page = auth_client.get(f"/settings/taxes/{rate_id}/edit").get_data(as_text=True)
    assert 'value="9,975"' in page
    assert "Sauvegarder" in page
    assert "Supprimer" in page


def test_edit_saves_an_unlocked_rate(app, auth_client):
    rate_id = add_rate(app, "TVA 19,6 %", 19_600)
    response = auth_client.post(
        f"/settings/taxes/{rate_id}/edit",
        data={"name": "TVA 20 %", "rate": "20", "registration_number": "FR1"},
    )
    assert response.status_code == 303
    assert rates_in_db(app) == [("TVA 20 %", 20_000, "FR1", True)]
    page = auth_client.get("/settings/taxes/").get_data(as_text=True)
    assert "Taxe « TVA 20 % » enregistrée." in page


def test_edit_errors_keep_what_was_typed_and_change_nothing(app, auth_client):
    rate_id = add_rate(app, "TPS", 5_000)
    response = auth_client.post(
        f"/settings/taxes/{rate_id}/edit", data={"name": "TPS modifiée", "rate": "101"}
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Le taux doit être compris entre 0 et 100 %." in page
    assert 'value="TPS modifiée"' in page and 'value="101"' in page
    assert rates_in_db(app) == [("TPS", 5_000, "", True)]


def test_a_locked_rate_cannot_be_changed(app, auth_client):
    rate_id = add_rate(app, "TPS", 5_000, "RT1", locked=True)
    page = auth_client.get(f"/settings/taxes/{rate_id}/edit").get_data(as_text=True)
    assert "elle ne peut plus être modifiée ni supprimée" in page
    assert "Supprimer" not in page
    response = auth_client.post(
        f"/settings/taxes/{rate_id}/edit",
        data={"name": "TPS", "rate": "6", "registration_number": "RT1"},
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Cette taxe est utilisée par une facture finalisée : elle ne peut plus être modifiée." in page
    assert rates_in_db(app) == [("TPS", 5_000, "RT1", True)]


def test_a_locked_rate_cannot_be_deleted(app, auth_client):
    rate_id = add_rate(app, "TPS", 5_000, locked=True)
    response = auth_client.post(f"/settings/taxes/{rate_id}/delete")
    assert response.status_code == 422
    assert "elle ne peut pas être supprimée" in response.get_data(as_text=True)
    assert len(rates_in_db(app)) == 1


def test_a_locked_rate_can_be_deactivated_then_activated(app, auth_client):
    rate_id = add_rate(app, "TPS", 5_000, locked=True)
    response = auth_client.post(f"/settings/taxes/{rate_id}/deactivate")
    assert response.status_code == 303
    assert rates_in_db(app) == [("TPS", 5_000, "", False)]
    page = auth_client.get("/settings/taxes/").get_data(as_text=True)
    assert "Taxe « TPS » désactivée." in page
    auth_client.post(f"/settings/taxes/{rate_id}/activate")
    assert rates_in_db(app) == [("TPS", 5_000, "", True)]


def test_deactivate_with_htmx_answers_with_the_list(app, auth_client):
    rate_id = add_rate(app, "TPS", 5_000)
    response = auth_client.post(f"/settings/taxes/{rate_id}/deactivate", headers=HTMX)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in page
    assert "Taxe « TPS » désactivée." in page
    assert f'action="/settings/taxes/{rate_id}/activate"' in page


def test_deleting_a_rate_used_by_products_says_how_many_and_suggests_deactivating(app, auth_client):
    with app.app_context():
        rate = make_tax_rate("TVQ", 9_975)
        for name in ("Conseil", "Formation", "Audit"):
            make_item(name, tax_rates=[rate])
        rate_id = rate.id
        db.session.commit()
    response = auth_client.post(f"/settings/taxes/{rate_id}/delete")
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Cette taxe est la taxe par défaut de 3 produits" in page
    assert "Désactivez-la plutôt (« Désactiver »)." in page
    assert len(rates_in_db(app)) == 1


def test_delete_removes_an_unused_rate(app, auth_client):
    rate_id = add_rate(app, "TVA 20 %", 20_000)
    response = auth_client.post(f"/settings/taxes/{rate_id}/delete")
    assert response.status_code == 303
    assert rates_in_db(app) == []
    page = auth_client.get("/settings/taxes/").get_data(as_text=True)
    assert "Taxe « TVA 20 % » supprimée." in page


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "edit"), ("post", "edit"), ("post", "delete"), ("post", "activate"), ("post", "deactivate")],
)
def test_unknown_rate_is_not_found(auth_client, method, path):
    response = getattr(auth_client, method)(f"/settings/taxes/999/{path}")
    assert response.status_code == 404
    assert "Page introuvable" in response.get_data(as_text=True)


def test_a_post_without_csrf_token_is_refused(app, auth_client):
    response = auth_client.post("/settings/taxes/", data={"name": "TPS", "rate": "5"}, csrf=False)
    assert response.status_code == 400
    assert rates_in_db(app) == []


def test_taxes_page_runs_the_same_number_of_queries_for_10_and_500_rates(app, auth_client):
    def fill(start, stop):
        with app.app_context():
            for n in range(start, stop):
                make_tax_rate(f"Taxe {n}", rate_millis=n * 10, locked=n % 2 == 0)
            db.session.commit()

    fill(0, 10)
    with count_queries(app) as small:
        assert auth_client.get("/settings/taxes/").status_code == 200
    fill(10, 500)
    with count_queries(app) as large:
        assert "Taxe 499" in auth_client.get("/settings/taxes/").get_data(as_text=True)
    assert small() == large()
