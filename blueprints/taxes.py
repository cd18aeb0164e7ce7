"""Taxes: the list of rates, adding one, presets per country, edit, (de)activate, delete."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from billing import settings, taxes
from billing.models import Country, TaxRate, db
from blueprints import get_or_404, htmx, render
from blueprints.fields import REQUIRED, TOO_LONG, RateField, strip, value_required

bp = Blueprint("taxes", __name__, url_prefix="/settings/taxes")

class TaxRateForm(FlaskForm):
    name = StringField(
        _l("Nom"),
        filters=[strip],
        validators=[DataRequired(REQUIRED), Length(max=60, message=TOO_LONG)],
    )
    rate = RateField(_l("Taux (%)"), validators=[value_required])
    registration_number = StringField(
        _l("Numéro d'enregistrement"),
        filters=[strip],
        validators=[Length(max=50, message=TOO_LONG)],
    )


def _index(form: TaxRateForm, notice: str | None = None):
    return render(
        "taxes/index.html",
        "taxes",
        form=form,
        rates=taxes.all_rates(),
        presets=taxes.presets_for(settings.business()),
        notice=notice,
    )


def _done(message: str):
    """Commit, then the refreshed list for htmx, or a redirect to the page."""
    db.session.commit()
    if htmx:
        return _index(TaxRateForm(formdata=None), notice=message)
    flash(message, "success")
    return redirect(url_for("taxes.index"), 303)


def _edit_form(rate: TaxRate, **kwargs) -> TaxRateForm:
    return TaxRateForm(
        name=rate.name,
        rate=rate.rate_millis,
        registration_number=rate.registration_number,
        **kwargs,
    )


@bp.get("/")
def index():
    return _index(TaxRateForm())


@bp.post("/")
def create():
    form = TaxRateForm()
    if not form.validate_on_submit():
        return _index(form), 422
    rate = taxes.create(form.name.data, form.rate.data, form.registration_number.data)
    return _done(_("Taxe « %(name)s » ajoutée.", name=rate.name))


@bp.post("/presets/<country>")
def add_preset(country: str):
    try:
        chosen = taxes.preset(Country(country))
    except ValueError:
        chosen = None
    if chosen is None:
        abort(404)
    added = taxes.add_preset(chosen, settings.business())
    if not added:
        return _done(_("Ces taxes sont déjà dans la liste."))
    names = ", ".join(rate.name for rate in added)
    return _done(_("Taxes ajoutées : %(names)s.", names=names))


@bp.route("/<int:rate_id>/edit", methods=["GET", "POST"])
def edit(rate_id: int):
    rate = get_or_404(TaxRate, rate_id)
    form = _edit_form(rate)
    if form.validate_on_submit():
        try:
            taxes.update(rate, form.name.data, form.rate.data, form.registration_number.data)
        except taxes.TaxError as error:
            form.form_errors.append(str(error))
        else:
            db.session.commit()
            flash(_("Taxe « %(name)s » enregistrée.", name=rate.name), "success")
            return redirect(url_for("taxes.index"), 303)
    status = 422 if form.is_submitted() else 200
    return render("taxes/edit.html", "form", rate=rate, form=form), status


@bp.post("/<int:rate_id>/delete")
def delete(rate_id: int):
    rate = get_or_404(TaxRate, rate_id)
    name = rate.name
    try:
        taxes.delete(rate)
    except taxes.TaxError as error:
        form = _edit_form(rate, formdata=None)
        form.form_errors.append(str(error))
        return render("taxes/edit.html", "form", rate=rate, form=form), 422
    db.session.commit()
    flash(_("Taxe « %(name)s » supprimée.", name=name), "success")
    return redirect(url_for("taxes.index"), 303)


@bp.post("/<int:rate_id>/activate")
def activate(rate_id: int):
    rate = get_or_404(TaxRate, rate_id)
    taxes.activate(rate)
    return _done(_("Taxe « %(name)s » activée.", name=rate.name))


@bp.post("/<int:rate_id>/deactivate")
def deactivate(rate_id: int):
    rate = get_or_404(TaxRate, rate_id)
    taxes.deactivate(rate)
    return _done(_("Taxe « %(name)s » désactivée.", name=rate.name))
