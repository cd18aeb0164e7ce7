"""Produits et services: the list with live search, create/edit, (de)activate, the picker."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from billing import catalog, settings
from billing.models import Item, TaxRate, db
from blueprints import db_int, get_or_404, htmx, render
from blueprints.fields import REQUIRED, TOO_LONG, AmountField, strip, value_required
from blueprints.filters import rate_filter

bp = Blueprint("catalog", __name__, url_prefix="/catalog")


class ItemForm(FlaskForm):
    name = StringField(
        _l("Nom"),
        filters=[strip],
        validators=[DataRequired(REQUIRED), Length(max=200, message=TOO_LONG)],
    )
    description = TextAreaField(_l("Description"), filters=[strip])
    unit = StringField(
        _l("Unité"),
        filters=[strip],
        validators=[Length(max=30, message=TOO_LONG)],
        render_kw={"list": "units"},
    )
    unit_price = AmountField(_l("Prix unitaire"), validators=[value_required])
    tax_rate_ids = SelectMultipleField(
        _l("Taxes par défaut"),
        coerce=int,
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )

    def offer_rates(self, item: Item | None) -> list[TaxRate]:
        """Offer the active rates (and those the item has) as checkboxes; return them."""
        rates = catalog.choosable_rates(item)
        self.tax_rate_ids.choices = [(rate.id, _rate_label(rate)) for rate in rates]
        return rates

    def item_fields(self, rates: list[TaxRate]) -> dict:
        """What the catalog verbs take, read from the valid form."""
        return dict(
            name=self.name.data,
            unit_price_cents=self.unit_price.data,
            description=self.description.data or "",
            unit=self.unit.data or "",
            tax_rates=[rate for rate in rates if rate.id in self.tax_rate_ids.data],
        )


def _rate_label(rate: TaxRate) -> str:
    label = f"{rate.name} ({rate_filter(rate.rate_millis)})"
    return label if rate.active else label + " — " + _("désactivée")


def _currency() -> str:
    return settings.business().currency


@bp.get("/")
def index():
    query = request.args.get("q", "").strip()
    status = request.args.get("status", "active")
    if status not in catalog.STATUSES:
        status = "active"
    page = db.paginate(
        catalog.listing(query, status),
        page=request.args.get("page", 1, type=db_int),
        per_page=50,
        error_out=False,
    )
    return render(
        "catalog/index.html", "results", page=page, q=query, status=status, currency=_currency()
    )


@bp.get("/picker")
def picker():
    query = request.args.get("q", "").strip()
    return render(
        "catalog/picker.html", "results", items=catalog.picker(query), q=query, currency=_currency()
    )


@bp.route("/new", methods=["GET", "POST"])
def new():
    form = ItemForm()
    rates = form.offer_rates(None)
    if form.validate_on_submit():
        item = catalog.create(**form.item_fields(rates))
        db.session.commit()
        flash(_("« %(name)s » ajouté au catalogue.", name=item.name), "success")
        return redirect(url_for("catalog.index"), 303)
    status = 422 if form.is_submitted() else 200
    return render("catalog/form.html", "form", form=form, item=None, currency=_currency()), status


@bp.route("/<int:item_id>/edit", methods=["GET", "POST"])
def edit(item_id: int):
    item = get_or_404(Item, item_id)
    form = ItemForm(
        name=item.name,
        description=item.description,
        unit=item.unit,
        unit_price=item.unit_price_cents,
        tax_rate_ids=[rate.id for rate in item.tax_rates],
    )
    rates = form.offer_rates(item)
    if form.validate_on_submit():
        catalog.update(item, **form.item_fields(rates))
        db.session.commit()
        flash(_("« %(name)s » enregistré.", name=item.name), "success")
        return redirect(url_for("catalog.index"), 303)
    status = 422 if form.is_submitted() else 200
    return render("catalog/form.html", "form", form=form, item=item, currency=_currency()), status


def _toggled(item: Item, message: str):
    """Commit, then the item's row for htmx, or a redirect to the list."""
    db.session.commit()
    if htmx:
        return render_template("catalog/_row.html", item=item, currency=_currency())
    flash(message, "success")
    return redirect(url_for("catalog.index"), 303)


@bp.post("/<int:item_id>/activate")
def activate(item_id: int):
    item = get_or_404(Item, item_id)
    catalog.activate(item)
    return _toggled(item, _("« %(name)s » est de nouveau actif.", name=item.name))


@bp.post("/<int:item_id>/deactivate")
def deactivate(item_id: int):
    item = get_or_404(Item, item_id)
    catalog.deactivate(item)
    message = _("« %(name)s » est désactivé : il n'est plus proposé sur les factures.", name=item.name)
    return _toggled(item, message)
