"""The board « Facturation »: invoices across Préparation → Envoi → Suivi → Archives."""

from __future__ import annotations

from flask import Blueprint

from blueprints import render

bp = Blueprint("board", __name__)

COLUMNS = ("Préparation", "Envoi", "Suivi", "Archives")


@bp.get("/")
def index():
    return render("board/index.html", columns=COLUMNS)
