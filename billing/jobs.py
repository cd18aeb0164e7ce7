"""Jobs (« Dossiers »): a piece of work for a client, open or closed; invoices link to it."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from billing.models import Client, Job, JobStatus, db

NAME_REQUIRED = _l("Le nom du dossier est obligatoire.")


class InvalidJob(Exception):
    """Why a job cannot be saved: the form field concerned and a French message."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def create(name: str, client: Client, notes: str = "") -> Job:
    job = Job(status=JobStatus.OPEN)
    _check(job, name, client)
    _apply(job, name, client, notes)
    db.session.add(job)
    db.session.flush()
    return job


def update(job: Job, name: str, client: Client, notes: str = "") -> None:
    _check(job, name, client)
    _apply(job, name, client, notes)
    db.session.flush()


def close(job: Job) -> None:
    job.status = JobStatus.CLOSED
    db.session.flush()


def reopen(job: Job) -> None:
    job.status = JobStatus.OPEN
    db.session.flush()


def listing(client_id: int | None = None, status: JobStatus | None = JobStatus.OPEN):
    """The query listing jobs by client then name; `status=None` lists every job."""
    query = (
        select(Job)
        .join(Job.client)
        .options(selectinload(Job.client))
        .order_by(func.lower(Client.name), Client.id, func.lower(Job.name), Job.id)
    )
    if client_id is not None:
        query = query.where(Job.client_id == client_id)
    if status is not None:
        query = query.where(Job.status == status)
    return query


def _check(job: Job, name: str, client: Client | None) -> None:
    if not name.strip():
        raise InvalidJob("name", NAME_REQUIRED)
    if client is None:
        raise InvalidJob("client_id", _l("Choisissez un client."))
    if client.archived and client is not job.client:
        raise InvalidJob("client_id", _l("Ce client est archivé."))


def _apply(job: Job, name: str, client: Client, notes: str) -> None:
    job.name = name.strip()
    job.client = client
    job.notes = notes.strip()
