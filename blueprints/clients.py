"""Clients: the list with live search, a client's page, create, edit, archive, restore."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from billing import clients, payments, settings
from billing.models import Client, db
from billing.money import CURRENCIES
from blueprints import db_int, get_or_404, render
from blueprints.fields import EmailListField

bp = Blueprint("clients", __name__, url_prefix="/clients")

PER_PAGE = 50
LANGUAGE_CHOICES = [SelectChoice("fr", "Français"), SelectChoice("en", "English")]


def optional_id(value) -> int | None:
    """A select's value as an id; the empty choice is None."""
    return db_int(value) if value not in (None, "") else None


class ClientForm(FlaskForm):
    name = StringField(
        _l("Nom"),
        validators=[DataRequired(clients.NAME_REQUIRED), Length(max=200)],
    )
    emails = EmailListField(_l("Adresses email de facturation"))
    by_email = BooleanField(_l("Reçoit ses factures par email"), default=True)
    language = SelectField(_l("Langue des documents"), choices=LANGUAGE_CHOICES, default="fr")
    currency = SelectField(_l("Devise"), choices=list(CURRENCIES))
    payment_terms_days = IntegerField(
        _l("Délai de paiement (jours)"),
        validators=[
            Optional(),
            NumberRange(min=0, max=clients.MAX_TERMS_DAYS, message=clients.TERMS_OUT_OF_RANGE),
        ],
    )
    # The parent rule lives in billing.clients, which explains each refusal.
    parent_id = SelectField(_l("Client parent"), coerce=optional_id, validate_choice=False)
    company_number = StringField(
        _l("Numéro d'entreprise (SIREN / BCE)"), validators=[Length(max=30)]
    )
    vat_number = StringField(_l("Numéro de TVA"), validators=[Length(max=30)])
    address = TextAreaField(_l("Adresse de facturation"))
    notes = TextAreaField(_l("Notes"))

    def set_parent_choices(self, client: Client | None) -> None:
        self.parent_id.choices = [SelectChoice("", _("— Aucun —"))] + [
            SelectChoice(parent.id, parent.name) for parent in clients.parent_choices(client)
        ]

    def details(self) -> clients.ClientDetails:
        parent = None
        if self.parent_id.data is not None:
            parent = db.session.get(Client, self.parent_id.data)
            if parent is None:
                raise clients.InvalidClient("parent_id", _("Ce client n'existe pas."))
        return clients.ClientDetails(
            name=self.name.data,
            emails=self.emails.data,
            by_email=self.by_email.data,
            language=self.language.data,
            currency=self.currency.data,
            payment_terms_days=self.payment_terms_days.data,
            parent=parent,
            company_number=self.company_number.data or "",
            vat_number=self.vat_number.data or "",
            address=self.address.data or "",
            notes=self.notes.data or "",
        )


@bp.get("/")
def index():
    q = request.args.get("q", "").strip()
    archived = request.args.get("archived") == "1"
    page = db.paginate(
        clients.search(q, archived),
        page=request.args.get("page", 1, type=db_int),
        per_page=PER_PAGE,
        error_out=False,
    )
    return render("clients/index.html", "results", page=page, q=q, archived=archived)


@bp.route("/new", methods=["GET", "POST"])
def new():
    form = ClientForm()
    if not form.is_submitted():
        form.currency.data = settings.business().currency
    form.set_parent_choices(None)
    if form.validate_on_submit():
        try:
            client = clients.create(form.details())
        except clients.InvalidClient as error:
            form[error.field].errors.append(error.message)
        else:
            db.session.commit()
            flash(_("Client créé."), "success")
            return redirect(url_for("clients.show", client_id=client.id), 303)
    return _form_page(form, None)


@bp.get("/<int:client_id>")
def show(client_id: int):
    client = clients.with_relations(client_id)
    if client is None:
        abort(404)
    return render(
        "clients/show.html",
        client=client,
        invoices=clients.recent_invoices(client),
        balances=clients.balances(client),
        payments=payments.of_client(client),
        method_labels=payments.METHOD_LABELS,
        today=settings.today(),
    )


@bp.route("/<int:client_id>/edit", methods=["GET", "POST"])
def edit(client_id: int):
    client = get_or_404(Client, client_id)
    form = ClientForm(obj=client)
    form.set_parent_choices(client)
    if form.validate_on_submit():
        try:
            clients.update(client, form.details())
        except clients.InvalidClient as error:
            form[error.field].errors.append(error.message)
        else:
            db.session.commit()
            flash(_("Client enregistré."), "success")
            return redirect(url_for("clients.show", client_id=client.id), 303)
    return _form_page(form, client)


@bp.post("/<int:client_id>/archive")
def archive(client_id: int):
    client = get_or_404(Client, client_id)
    clients.archive(client)
    db.session.commit()
    flash(_("Client archivé."), "success")
    return redirect(url_for("clients.show", client_id=client.id), 303)


@bp.post("/<int:client_id>/restore")
def restore(client_id: int):
    client = get_or_404(Client, client_id)
    clients.restore(client)
    db.session.commit()
    flash(_("Client désarchivé."), "success")
    return redirect(url_for("clients.show", client_id=client.id), 303)


def _form_page(form: ClientForm, client: Client | None):
    status = 422 if form.is_submitted() else 200
    default_terms = settings.business().payment_terms_days
    return render(
        "clients/form.html", "form", form=form, client=client, default_terms=default_terms
    ), status
