"""Taxes (being built)."""

from __future__ import annotations

from flask import Blueprint

from blueprints import render

bp = Blueprint("taxes", __name__, url_prefix="/settings/taxes")


@bp.get("/")
def index():
    return render("taxes/index.html")
