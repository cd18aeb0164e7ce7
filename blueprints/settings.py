"""Paramètres (being built)."""

from __future__ import annotations

from flask import Blueprint

from blueprints import render

bp = Blueprint("settings", __name__, url_prefix="/settings")


@bp.get("/")
def index():
    return render("settings/index.html")
