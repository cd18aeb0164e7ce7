"""Domain rules of clients and jobs: validation, the one-level parent rule, archive, search."""

import pytest
from sqlalchemy import func, select

from billing import clients, jobs
from billing.clients import ClientDetails, InvalidClient
from billing.jobs import InvalidJob
from billing.models import Client, Job, JobStatus, db
from tests.factories import make_client, make_job


@pytest.fixture
def ctx(app):
    """A request context: the domain's lazy French messages can be read in it."""
    with app.test_request_context():
        yield
        db.session.rollback()


def details(**changes) -> ClientDetails:
    fields = {"name": "Boulangerie Martin", "emails": ["compta@martin.fr"]}
    fields.update(changes)
    return ClientDetails(**fields)


def client_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Client))


def test_create_keeps_emails_and_trims_text(ctx):
    client = clients.create(
        details(name="  Boulangerie Martin ", emails=["a@x.fr", "b@y.fr"], notes=" Fidèle \n")
    )
    assert client.id is not None
    assert client.name == "Boulangerie Martin"
    assert client.emails == ["a@x.fr", "b@y.fr"]
    assert client.notes == "Fidèle"
    assert client.archived is False


def test_create_refuses_an_empty_name(ctx):
    with pytest.raises(InvalidClient) as refused:
        clients.create(details(name="   "))
    assert refused.value.field == "name"
    assert str(refused.value.message) == "Le nom du client est obligatoire."
    assert client_count() == 0


def test_sending_by_email_needs_an_address(ctx):
    with pytest.raises(InvalidClient) as refused:
        clients.create(details(emails=[], by_email=True))
    assert refused.value.field == "emails"
    assert "au moins une adresse email" in str(refused.value.message)
    assert client_count() == 0


def test_a_paper_client_needs_no_address(ctx):
    client = clients.create(details(emails=[], by_email=False))
    assert client.emails == []
    assert client.by_email is False


@pytest.mark.parametrize("days", [-1, 366])
def test_payment_terms_outside_0_to_365_are_refused(ctx, days):
    with pytest.raises(InvalidClient) as refused:
        clients.create(details(payment_terms_days=days))
    assert refused.value.field == "payment_terms_days"
    assert client_count() == 0


@pytest.mark.parametrize("days", [None, 0, 365])
def test_payment_terms_empty_or_within_range_are_kept(ctx, days):
    assert clients.create(details(payment_terms_days=days)).payment_terms_days == days


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"language": "de"}, "language"), ({"currency": "XYZ"}, "currency")],
)
def test_unknown_language_or_currency_is_refused(ctx, changes, field):
    with pytest.raises(InvalidClient) as refused:
        clients.create(details(**changes))
    assert refused.value.field == field


def test_a_client_can_have_a_top_level_parent(ctx):
    group = make_client("Groupe Martin")
    shop = clients.create(details(name="Martin Lyon", parent=group))
    assert shop.parent is group
    assert group.children == [shop]


def test_a_parent_that_has_a_parent_is_refused(ctx):
    group = make_client("Groupe Martin")
    shop = make_client("Martin Lyon", parent=group)
    with pytest.raises(InvalidClient) as refused:
        clients.create(details(name="Martin Lyon Est", parent=shop))
    assert refused.value.field == "parent_id"
    assert "sous-client" in str(refused.value.message)
    assert client_count() == 2


def test_a_client_cannot_be_its_own_parent(ctx):
    client = make_client()
    with pytest.raises(InvalidClient) as refused:
        clients.update(client, details(parent=client))
    assert refused.value.field == "parent_id"
    assert client.parent is None


def test_a_client_with_children_cannot_become_a_child(ctx):
    group = make_client("Groupe Martin")
    make_client("Martin Lyon", parent=group)
    other = make_client("Holding Dupont")
    with pytest.raises(InvalidClient) as refused:
        clients.update(group, details(name="Groupe Martin", parent=other))
    assert "a des sous-clients" in str(refused.value.message)
    assert group.parent is None


def test_an_archived_parent_is_refused_for_a_new_link(ctx):
    group = make_client("Groupe Martin", archived=True)
    with pytest.raises(InvalidClient) as refused:
        clients.create(details(parent=group))
    assert refused.value.field == "parent_id"


def test_a_parent_archived_since_stays_when_the_child_is_edited(ctx):
    group = make_client("Groupe Martin")
    shop = make_client("Martin Lyon", parent=group)
    clients.archive(group)
    clients.update(shop, details(name="Martin Lyon Centre", parent=group))
    assert shop.name == "Martin Lyon Centre"
    assert shop.parent is group


def test_a_refused_update_changes_nothing(ctx):
    client = make_client("Boulangerie Martin", emails=["a@x.fr"])
    with pytest.raises(InvalidClient):
        clients.update(client, details(name="Nouveau nom", emails=[], by_email=True))
    assert client.name == "Boulangerie Martin"
    assert client.emails == ["a@x.fr"]


def test_archive_then_restore(ctx):
    client = make_client()
    clients.archive(client)
    assert client.archived is True
    clients.restore(client)
    assert client.archived is False


def test_parent_choices_are_active_top_level_clients_other_than_itself(ctx):
    group = make_client("Groupe Martin")
    make_client("Martin Lyon", parent=group)
    make_client("Ancien client", archived=True)
    other = make_client("Holding Dupont")
    assert clients.parent_choices(None) == [group, other]
    assert clients.parent_choices(group) == [other]


def test_parent_choices_keep_the_current_parent_even_archived(ctx):
    group = make_client("Groupe Martin", archived=True)
    shop = make_client("Martin Lyon", parent=group)
    assert clients.parent_choices(shop) == [group]


def test_search_matches_name_email_and_company_number_ignoring_case(ctx):
    martin = make_client(
        "Boulangerie Martin", emails=["compta@martin.fr"], company_number="123456789"
    )
    dupont = make_client("Garage Dupont", emails=["factures@dupont.be"])
    make_client("Martin archivé", archived=True)

    def found(text):
        return list(db.session.scalars(clients.search(text)))

    assert found("MARTIN") == [martin]
    assert found("dupont.be") == [dupont]
    assert found("3456") == [martin]
    assert found("") == [martin, dupont]
    assert found("%") == []
    assert [c.name for c in db.session.scalars(clients.search("martin", archived=True))] == [
        "Martin archivé"
    ]


def test_with_relations_loads_one_client_or_none(ctx):
    client = make_client()
    make_job(client)
    assert clients.with_relations(client.id) is client
    assert clients.with_relations(client.id + 1) is None


def test_create_job_is_open_for_its_client(ctx):
    client = make_client()
    job = jobs.create("  Refonte du site ", client, "Devis signé")
    assert job.name == "Refonte du site"
    assert job.status is JobStatus.OPEN
    assert client.jobs == [job]


def test_a_job_needs_a_name_and_a_client(ctx):
    client = make_client()
    with pytest.raises(InvalidJob) as no_name:
        jobs.create(" ", client)
    assert no_name.value.field == "name"
    with pytest.raises(InvalidJob) as no_client:
        jobs.create("Refonte", None)
    assert no_client.value.field == "client_id"
    assert str(no_client.value.message) == "Choisissez un client."
    assert db.session.scalar(select(func.count()).select_from(Job)) == 0


def test_a_job_cannot_be_given_to_an_archived_client(ctx):
    archived = make_client("Ancien client", archived=True)
    with pytest.raises(InvalidJob) as refused:
        jobs.create("Refonte", archived)
    assert refused.value.field == "client_id"


def test_a_job_of_a_client_archived_since_can_still_be_edited(ctx):
    client = make_client()
    job = make_job(client)
    clients.archive(client)
    jobs.update(job, "Refonte (phase 2)", client, "")
    assert job.name == "Refonte (phase 2)"


def test_close_then_reopen_a_job(ctx):
    job = make_job(make_client())
    jobs.close(job)
    assert job.status is JobStatus.CLOSED
    jobs.reopen(job)
    assert job.status is JobStatus.OPEN


def test_job_listing_filters_by_client_and_status(ctx):
    martin = make_client("Martin")
    dupont = make_client("Dupont")
    site = make_job(martin, "Site")
    logo = make_job(martin, "Logo", status=JobStatus.CLOSED)
    audit = make_job(dupont, "Audit")

    def found(**filters):
        return list(db.session.scalars(jobs.listing(**filters)))

    assert found() == [audit, site]
    assert found(status=None) == [audit, logo, site]
    assert found(client_id=martin.id, status=JobStatus.CLOSED) == [logo]
