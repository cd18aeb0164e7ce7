"""Error pages in French: 400 (incl. a missing CSRF token), 404, 413, 429, 500."""

from __future__ import annotations

from flask import Flask, render_template
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError

from billing.models import db


def register(app: Flask) -> None:
    def page(code: int, title: str, message: str):
        return render_template("errors/error.html", code=code, title=title, message=message), code

    @app.errorhandler(CSRFError)
    def csrf_error(_error):
        return page(400, _("Formulaire expiré"),
                    _("Le formulaire a expiré ou n'est pas valide. Rechargez la page et recommencez."))

    @app.errorhandler(400)
    def bad_request(_error):
        return page(400, _("Requête invalide"), _("La requête n'a pas pu être comprise."))

    @app.errorhandler(404)
    def not_found(_error):
        return page(404, _("Page introuvable"), _("Cette page n'existe pas ou n'existe plus."))

    @app.errorhandler(405)
    def not_allowed(_error):
        return page(405, _("Action impossible"), _("Cette action n'est pas permise ici."))

    @app.errorhandler(413)
    def too_large(_error):
        return page(413, _("Envoi trop volumineux"),
                    _("Les fichiers envoyés dépassent la taille permise (32 Mo au total)."))

    @app.errorhandler(429)
    def too_many(_error):
        return page(429, _("Trop de requêtes"), _("Trop de requêtes : réessayez dans quelques minutes."))

    @app.errorhandler(500)
    def server_error(_error):
        db.session.rollback()  # a failed flush leaves the session unusable for the page itself
        return page(500, _("Erreur interne"),
                    _("Une erreur inattendue s'est produite. Rien n'a été enregistré."))
