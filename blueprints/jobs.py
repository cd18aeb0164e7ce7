"""Dossiers: the list filtered by client and status, create, edit, close, reopen."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from billing import clients, jobs
from billing.models import Client, Job, JobStatus, db
from blueprints import db_int, get_or_404, htmx, render
from blueprints.clients import PER_PAGE, optional_id

bp = Blueprint("jobs", __name__, url_prefix="/jobs")

STATUS_FILTERS = {"open": JobStatus.OPEN, "closed": JobStatus.CLOSED, "all": None}


class JobForm(FlaskForm):
    name = StringField(
        _l("Nom du dossier"),
        validators=[DataRequired(jobs.NAME_REQUIRED), Length(max=200)],
    )
    # Whether the client may be chosen is a rule of billing.jobs, which explains a refusal.
    client_id = SelectField(_l("Client"), coerce=optional_id, validate_choice=False)
    notes = TextAreaField(_l("Notes"))

    def set_client_choices(self, keep: Client | None) -> None:
        self.client_id.choices = [SelectChoice("", _("— Choisir un client —"))] + [
            SelectChoice(client.id, client.name) for client in clients.active_clients(keep)
        ]

    def chosen_client(self) -> Client | None:
        if self.client_id.data is None:
            return None
        client = db.session.get(Client, self.client_id.data)
        if client is None:
            raise jobs.InvalidJob("client_id", _("Ce client n'existe pas."))
        return client


@bp.get("/")
def index():
    client_id = request.args.get("client_id", type=db_int)
    status_key = request.args.get("status", "open")
    if status_key not in STATUS_FILTERS:
        status_key = "open"
    page = db.paginate(
        jobs.listing(client_id, STATUS_FILTERS[status_key]),
        page=request.args.get("page", 1, type=db_int),
        per_page=PER_PAGE,
        error_out=False,
    )
    all_clients = db.session.scalars(select(Client).order_by(func.lower(Client.name), Client.id))
    return render(
        "jobs/index.html",
        "results",
        page=page,
        client_id=client_id,
        status=status_key,
        all_clients=all_clients,
    )


@bp.route("/new", methods=["GET", "POST"])
def new():
    form = JobForm()
    if not form.is_submitted():
        form.client_id.data = request.args.get("client_id", type=db_int)
    form.set_client_choices(None)
    if form.validate_on_submit():
        try:
            job = jobs.create(form.name.data, form.chosen_client(), form.notes.data or "")
        except jobs.InvalidJob as error:
            form[error.field].errors.append(error.message)
        else:
            db.session.commit()
            flash(_("Dossier créé."), "success")
            return redirect(url_for("clients.show", client_id=job.client_id), 303)
    return _form_page(form, None)


@bp.route("/<int:job_id>/edit", methods=["GET", "POST"])
def edit(job_id: int):
    job = get_or_404(Job, job_id)
    form = JobForm(obj=job)
    form.set_client_choices(job.client)
    if form.validate_on_submit():
        try:
            jobs.update(job, form.name.data, form.chosen_client(), form.notes.data or "")
        except jobs.InvalidJob as error:
            form[error.field].errors.append(error.message)
        else:
            db.session.commit()
            flash(_("Dossier enregistré."), "success")
            return redirect(url_for("clients.show", client_id=job.client_id), 303)
    return _form_page(form, job)


@bp.post("/<int:job_id>/close")
def close(job_id: int):
    job = get_or_404(Job, job_id)
    jobs.close(job)
    db.session.commit()
    return _after_status_change(job, _("Dossier fermé."))


@bp.post("/<int:job_id>/reopen")
def reopen(job_id: int):
    job = get_or_404(Job, job_id)
    jobs.reopen(job)
    db.session.commit()
    return _after_status_change(job, _("Dossier rouvert."))


def _after_status_change(job: Job, message: str):
    """htmx (from the list): the updated row; otherwise back to the job's page."""
    if htmx:
        return render_template("jobs/_row.html", job=job)
    flash(message, "success")
    return redirect(url_for("jobs.edit", job_id=job.id), 303)


def _form_page(form: JobForm, job: Job | None):
    status = 422 if form.is_submitted() else 200
    return render("jobs/form.html", "form", form=form, job=job), status
