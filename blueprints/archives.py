"""Archives: every invoice and credit note, searched, paginated, exported as CSV."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, Response, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import Select
from wtforms import DateField, SearchField, SelectChoice, SelectField, ValidationError
from wtforms.validators import Length, Optional

from billing import board, settings
from billing.models import db
from blueprints import db_int, render
from blueprints.fields import DATE_FORMATS, AmountField, strip

bp = Blueprint("archives", __name__, url_prefix="/archives")

PER_PAGE = 50
BAD_DATE = _l("Date invalide : utilisez le format JJ/MM/AAAA.")
STATUS_CHOICES = [
    SelectChoice("", _l("Tous les statuts")),
    SelectChoice("to_send", _l("À envoyer")),
    SelectChoice("awaiting_payment", _l("Paiement attendu")),
    SelectChoice("overdue", _l("En retard")),
    SelectChoice("paid", _l("Payée")),
    SelectChoice("cancelled", _l("Annulée")),
    SelectChoice("credit_note", _l("Avoir")),
    SelectChoice("draft", _l("Brouillon")),
]


class SearchForm(FlaskForm):
    class Meta:
        csrf = False  # a GET search changes nothing

    q = SearchField(_l("Numéro ou client"), filters=[strip], validators=[Length(max=100)])
    amount = AmountField(_l("Montant TTC"))
    start = DateField(_l("Du"), [Optional()], DATE_FORMATS, invalid_value_message=BAD_DATE)
    end = DateField(_l("Au"), [Optional()], DATE_FORMATS, invalid_value_message=BAD_DATE)
    status = SelectField(_l("Statut"), choices=STATUS_CHOICES, default="")

    def validate_end(self, field):
        if field.data and self.start.data and field.data < self.start.data:
            raise ValidationError(_("La date de fin précède la date de début."))

    def search(self) -> board.ArchiveSearch:
        """What was typed; a field in error does not filter."""
        def valid(name):
            return None if self[name].errors else self[name].data

        return board.ArchiveSearch(
            text=valid("q") or "",
            amount_cents=valid("amount"),
            start=valid("start"),
            end=valid("end"),
            status=valid("status") or "",
        )

    def args(self) -> dict[str, str]:
        """The query string of this search, without the empty fields."""
        return {name: request.args[name] for name in self._fields if request.args.get(name)}


@bp.get("/")
def index():
    today = settings.today()
    form, query = _search(today)
    page = db.paginate(
        query, page=request.args.get("page", 1, type=db_int), per_page=PER_PAGE, error_out=False
    )
    status = 422 if form.errors else 200
    return render("archives/index.html", "results", form=form, page=page, today=today), status


@bp.get("/export.csv")
def export():
    """The filtered list as CSV; with a bad filter, the page and its message instead."""
    today = settings.today()
    form, query = _search(today)
    if form.errors:
        page = db.paginate(query, page=1, per_page=PER_PAGE, error_out=False)
        return render("archives/index.html", form=form, page=page, today=today), 422
    filename = _("archives-%(day)s.csv", day=today.isoformat())
    return Response(
        board.write_csv(db.session.scalars(query)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _search(today: date) -> tuple[SearchForm, Select]:
    form = SearchForm(request.args)
    form.validate()
    return form, board.archives(form.search(), today)
