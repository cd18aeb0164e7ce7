"""Produits et services (being built)."""

from __future__ import annotations

from flask import Blueprint

from blueprints import render

bp = Blueprint("catalog", __name__, url_prefix="/catalog")


@bp.get("/")
def index():
    return render("catalog/index.html")
