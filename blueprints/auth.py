"""First-run setup, login and logout of the owner."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from billing import accounts
from billing.models import db
from blueprints import render
from blueprints.fields import REQUIRED, new_password_field, password_again_field

bp = Blueprint("auth", __name__)


class SetupForm(FlaskForm):
    email = EmailField(_l("Adresse email"), validators=[DataRequired(REQUIRED)])
    password = new_password_field(_l("Mot de passe"))
    password_again = password_again_field(_l("Mot de passe (encore)"), "password")
    business_name = StringField(
        _l("Nom de l'entreprise"), validators=[DataRequired(REQUIRED), Length(max=200)]
    )


class LoginForm(FlaskForm):
    email = EmailField(_l("Adresse email"), validators=[DataRequired(REQUIRED)])
    password = PasswordField(_l("Mot de passe"), validators=[DataRequired(REQUIRED)])


def log_in(user) -> None:
    """A fresh session for the owner (also after a password change)."""
    session.clear()
    session["user_id"] = user.id
    session["auth"] = accounts.session_token(user)
    session.permanent = True


def safe_next(target: str | None) -> str:
    """Only a local path: never send the owner to another site after login."""
    if target and target.startswith("/") and not target.startswith("//"):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and "\\" not in target:
            return target
    return url_for("board.index")


@bp.route("/setup", methods=["GET", "POST"])
def setup():
    if accounts.owner_exists():
        abort(404)
    form = SetupForm()
    if form.validate_on_submit():
        try:
            user = accounts.create_owner(
                form.email.data, form.password.data, form.business_name.data
            )
        except accounts.AccountError as error:
            form.email.errors.append(str(error))
        else:
            db.session.commit()
            log_in(user)
            flash(_("Bienvenue ! Complétez maintenant les paramètres de votre entreprise."), "success")
            return redirect(url_for("settings.index"), 303)
    status = 422 if form.is_submitted() else 200
    return render("auth/setup.html", form=form), status


@bp.route("/login", methods=["GET", "POST"])
def login():
    if not accounts.owner_exists():
        return redirect(url_for("auth.setup"))
    form = LoginForm()
    if form.validate_on_submit():
        config = current_app.config
        try:
            user = accounts.authenticate(
                form.email.data,
                form.password.data,
                request.remote_addr or "unknown",
                config["LOGIN_MAX_FAILURES"],
                timedelta(minutes=config["LOGIN_WINDOW_MINUTES"]),
            )
        except accounts.TooManyAttempts as error:
            form.form_errors.append(str(error))
            return render("auth/login.html", form=form), 429
        db.session.commit()
        if user is not None:
            log_in(user)
            return redirect(safe_next(request.args.get("next")), 303)
        form.form_errors.append(_("Adresse email ou mot de passe incorrect."))
    status = 422 if form.is_submitted() else 200
    return render("auth/login.html", form=form), status


@bp.post("/logout")
def logout():
    session.clear()
    flash(_("Vous êtes déconnecté."), "success")
    return redirect(url_for("auth.login"), 303)
