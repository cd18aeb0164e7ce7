"""Dossiers through HTTP: list and filters, create, edit, close, reopen, queries."""

import html

import pytest
from sqlalchemy import select

from billing.models import Client, Job, JobStatus, db
from tests.conftest import count_queries
from tests.factories import make_client, make_job


def all_jobs(app) -> list[tuple]:
    with app.app_context():
        return [
            (job.name, job.client_id, job.status, job.notes)
            for job in db.session.scalars(select(Job).order_by(Job.id))
        ]


def add_client(app, name="Boulangerie Martin", **fields) -> int:
    with app.app_context():
        client = make_client(name, **fields)
        db.session.commit()
        return client.id


def add_job(app, client_id: int, name="Refonte du site", **fields) -> int:
    with app.app_context():
        job = make_job(db.session.get(Client, client_id), name, **fields)
        db.session.commit()
        return job.id


def errors_of(page: str, field: str) -> str:
    start = page.index(f'id="{field}-error"')
    return html.unescape(page[start : page.index("</p>", start)])


def test_list_is_empty_at_first(auth_client):
    page = auth_client.get("/jobs/").get_data(as_text=True)
    assert "Aucun dossier." in page
    assert 'href="/jobs/new"' in page


def test_new_job_form_is_prefilled_with_the_client(app, auth_client):
    client_id = add_client(app)
    page = auth_client.get(f"/jobs/new?client_id={client_id}").get_data(as_text=True)
    assert f'<option selected value="{client_id}">Boulangerie Martin</option>' in page


def test_new_job_form_offers_only_active_clients(app, auth_client):
    add_client(app, "Garage Dupont")
    add_client(app, "Ancien client", archived=True)
    page = auth_client.get("/jobs/new").get_data(as_text=True)
    assert "Garage Dupont</option>" in page
    assert "Ancien client</option>" not in page


def test_create_job_goes_to_the_client_page_where_it_is_listed(app, auth_client):
    client_id = add_client(app)
    response = auth_client.post(
        "/jobs/new",
        data={"name": "Refonte du site", "client_id": str(client_id), "notes": "Devis signé"},
    )
    assert response.status_code == 303
    assert response.headers["Location"] == f"/clients/{client_id}"
    assert all_jobs(app) == [("Refonte du site", client_id, JobStatus.OPEN, "Devis signé")]
    page = auth_client.get(f"/clients/{client_id}").get_data(as_text=True)
    assert "Refonte du site" in page and "Ouvert" in page


def test_an_empty_name_gets_a_french_message_and_keeps_the_notes(app, auth_client):
    client_id = add_client(app)
    response = auth_client.post(
        "/jobs/new", data={"name": "", "client_id": str(client_id), "notes": "À chiffrer"}
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Le nom du dossier est obligatoire." in errors_of(page, "name")
    assert "À chiffrer" in page
    assert f'<option selected value="{client_id}">' in page
    assert all_jobs(app) == []


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", "Choisissez un client."),
        ("999", "Ce client n'existe pas."),
        ("abc", "Choix non valide"),
    ],
)
def test_a_job_needs_an_existing_client(app, auth_client, typed, message):
    response = auth_client.post("/jobs/new", data={"name": "Refonte", "client_id": typed})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert message in errors_of(page, "client_id")
    assert 'value="Refonte"' in page
    assert all_jobs(app) == []


def test_a_job_cannot_be_given_to_an_archived_client(app, auth_client):
    client_id = add_client(app, archived=True)
    response = auth_client.post("/jobs/new", data={"name": "Refonte", "client_id": str(client_id)})
    assert response.status_code == 422
    assert "Ce client est archivé." in errors_of(response.get_data(as_text=True), "client_id")
    assert all_jobs(app) == []


def test_a_script_in_the_job_name_is_escaped(app, auth_client):
    client_id = add_client(app)
    job_id = add_job(app, client_id, "<script>alert(1)</script>")
    for path in ("/jobs/", f"/jobs/{job_id}/edit", f"/clients/{client_id}"):
        page = auth_client.get(path).get_data(as_text=True)
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert "<script>alert(1)" not in page


def test_edit_a_job(app, auth_client):
    martin_id = add_client(app)
    dupont_id = add_client(app, "Garage Dupont")
    job_id = add_job(app, martin_id)
    page = auth_client.get(f"/jobs/{job_id}/edit").get_data(as_text=True)
    assert 'value="Refonte du site"' in page
    response = auth_client.post(
        f"/jobs/{job_id}/edit", data={"name": "Audit", "client_id": str(dupont_id), "notes": ""}
    )
    assert response.status_code == 303
    assert response.headers["Location"] == f"/clients/{dupont_id}"
    assert all_jobs(app) == [("Audit", dupont_id, JobStatus.OPEN, "")]


def test_a_refused_edit_changes_nothing(app, auth_client):
    client_id = add_client(app)
    job_id = add_job(app, client_id)
    before = all_jobs(app)
    response = auth_client.post(
        f"/jobs/{job_id}/edit", data={"name": " ", "client_id": str(client_id), "notes": "Nouveau"}
    )
    assert response.status_code == 422
    assert "Nouveau" in response.get_data(as_text=True)
    assert all_jobs(app) == before


def test_a_job_of_an_archived_client_keeps_its_client_on_edit(app, auth_client):
    client_id = add_client(app)
    job_id = add_job(app, client_id)
    with app.app_context():
        db.session.get(Client, client_id).archived = True
        db.session.commit()
    page = auth_client.get(f"/jobs/{job_id}/edit").get_data(as_text=True)
    assert f'<option selected value="{client_id}">Boulangerie Martin</option>' in page
    response = auth_client.post(
        f"/jobs/{job_id}/edit", data={"name": "Refonte (phase 2)", "client_id": str(client_id)}
    )
    assert response.status_code == 303
    assert all_jobs(app)[0][0] == "Refonte (phase 2)"


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/jobs/999/edit"), ("post", "/jobs/999/edit"), ("post", "/jobs/999/close"),
     ("post", "/jobs/999/reopen")],
)
def test_an_unknown_job_is_not_found(auth_client, method, path):
    response = getattr(auth_client, method)(path, data={"name": "x"})
    assert response.status_code == 404


def test_close_hides_the_job_from_the_default_list_and_reopen_brings_it_back(app, auth_client):
    client_id = add_client(app)
    job_id = add_job(app, client_id, "Refonte du site")
    response = auth_client.post(f"/jobs/{job_id}/close")
    assert response.status_code == 303
    assert response.headers["Location"] == f"/jobs/{job_id}/edit"
    assert all_jobs(app)[0][2] is JobStatus.CLOSED
    assert "Refonte du site" not in auth_client.get("/jobs/").get_data(as_text=True)
    closed = auth_client.get("/jobs/?status=closed").get_data(as_text=True)
    assert "Refonte du site" in closed and "Rouvrir" in closed
    assert auth_client.post(f"/jobs/{job_id}/reopen").status_code == 303
    assert all_jobs(app)[0][2] is JobStatus.OPEN
    assert "Refonte du site" in auth_client.get("/jobs/").get_data(as_text=True)


def test_close_from_the_list_with_htmx_answers_the_updated_row(app, auth_client):
    job_id = add_job(app, add_client(app))
    response = auth_client.post(f"/jobs/{job_id}/close", headers={"HX-Request": "true"})
    assert response.status_code == 200
    row = response.get_data(as_text=True)
    assert row.lstrip().startswith(f'<tr id="job-{job_id}">')
    assert "Fermé" in row and "Rouvrir" in row
    assert all_jobs(app)[0][2] is JobStatus.CLOSED


def test_close_needs_a_csrf_token(app, auth_client):
    job_id = add_job(app, add_client(app))
    assert auth_client.post(f"/jobs/{job_id}/close", csrf=False).status_code == 400
    assert all_jobs(app)[0][2] is JobStatus.OPEN


def test_list_filters_by_client_and_status(app, auth_client):
    martin_id = add_client(app, "Boulangerie Martin")
    dupont_id = add_client(app, "Garage Dupont")
    add_job(app, martin_id, "Site vitrine")
    add_job(app, martin_id, "Logo", status=JobStatus.CLOSED)
    add_job(app, dupont_id, "Audit")

    def names(query):
        page = auth_client.get(f"/jobs/?{query}").get_data(as_text=True)
        return [name for name in ("Site vitrine", "Logo", "Audit") if f">{name}</a>" in page]

    assert names("") == ["Site vitrine", "Audit"]
    assert names(f"client_id={martin_id}") == ["Site vitrine"]
    assert names(f"client_id={martin_id}&status=all") == ["Site vitrine", "Logo"]
    assert names("status=closed") == ["Logo"]
    assert names("status=nimporte") == ["Site vitrine", "Audit"]
    page = auth_client.get(f"/jobs/?client_id={martin_id}").get_data(as_text=True)
    assert f'<option value="{martin_id}" selected>' in page
    assert f'href="/jobs/new?client_id={martin_id}"' in page


def test_filters_answer_only_the_results_block_for_htmx(app, auth_client):
    add_job(app, add_client(app), "Site vitrine")
    response = auth_client.get("/jobs/?status=all", headers={"HX-Request": "true"})
    page = response.get_data(as_text=True)
    assert page.lstrip().startswith('<div id="job-results">')
    assert "<html" not in page and "Site vitrine" in page


def test_list_paginates_at_50(app, auth_client):
    client_id = add_client(app)
    with app.app_context():
        client = db.session.get(Client, client_id)
        for n in range(51):
            make_job(client, f"Dossier {n:02d}")
        db.session.commit()
    first = auth_client.get("/jobs/").get_data(as_text=True)
    assert "Page 1 sur 2" in first and "Dossier 49" in first and "Dossier 50" not in first
    assert 'href="/jobs/?page=2&amp;status=open"' in first
    assert "Dossier 50" in auth_client.get("/jobs/?page=2").get_data(as_text=True)


def test_list_runs_the_same_number_of_queries_for_10_and_500_jobs(app, auth_client):
    def fill(start, stop):
        with app.app_context():
            for n in range(start, stop):
                make_job(make_client(f"Client {n}"), f"Dossier {n}")
            db.session.commit()

    fill(0, 10)
    with count_queries(app) as small:
        assert auth_client.get("/jobs/").status_code == 200
    fill(10, 500)
    with count_queries(app) as large:
        assert auth_client.get("/jobs/").status_code == 200
    assert small() == large()
