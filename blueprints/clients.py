"""Clients (being built)."""

from __future__ import annotations

from flask import Blueprint

from blueprints import render

bp = Blueprint("clients", __name__, url_prefix="/clients")


@bp.get("/")
def index():
    return render("clients/index.html")
