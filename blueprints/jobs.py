"""Dossiers (being built)."""

from __future__ import annotations

from flask import Blueprint

from blueprints import render

bp = Blueprint("jobs", __name__, url_prefix="/jobs")


@bp.get("/")
def index():
    return render("jobs/index.html")
