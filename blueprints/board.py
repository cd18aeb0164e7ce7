"""The board « Facturation »: invoices across Préparation → Envoi → Suivi → Archives."""

from __future__ import annotations

from flask import Blueprint
from flask_babel import lazy_gettext as _l

from blueprints import render

bp = Blueprint("board", __name__)

COLUMNS = (_l("Préparation"), _l("Envoi"), _l("Suivi"), _l("Archives"))


@bp.get("/")
def index():
    return render("board/index.html", columns=COLUMNS)
