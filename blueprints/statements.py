"""« Relevé »: the statement modal of a client (period, options, « Aperçu »), its page for
« Imprimer », its PDF, and « Envoyer le relevé » through the same send form as invoices.

The modal is a form posted to the same URL: the answer is the form again with, under
it, the statement. The statement's own links (page, PDF, sending) carry the period and
the options in their query string, so each is a plain URL that works without
JavaScript.
"""

from __future__ import annotations

import io
from dataclasses import asdict
from datetime import datetime

from flask import (
    Blueprint,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from wtforms import BooleanField, DateField
from werkzeug.exceptions import RequestEntityTooLarge
from wtforms.validators import InputRequired

from billing import outbox, sending, settings, statements
from billing.models import Client, db
from blueprints import base_url, htmx
from blueprints import sending as sending_view
from blueprints.fields import DATE_FORMATS, REQUIRED

bp = Blueprint("statements", __name__)
# Too big to be read: the same answer as the invoice send form, whose form this one shares.
bp.register_error_handler(RequestEntityTooLarge, sending_view.too_large)



class DayField(DateField):
    """A date typed as the date picker sends it (2026-01-31) or by hand (31/01/2026)."""

    def process_formdata(self, valuelist):
        self.raw_data = valuelist
        text = (valuelist[0] if valuelist else "").strip()
        self.data = None
        if not text:
            return
        for pattern in DATE_FORMATS:
            try:
                self.data = datetime.strptime(text, pattern).date()
                return
            except ValueError:
                continue
        raise ValueError(
            _("Date invalide : choisissez-la dans le calendrier ou écrivez-la jj/mm/aaaa."))


class StatementForm(FlaskForm):
    start = DayField(_l("Début"), validators=[InputRequired(REQUIRED)])
    end = DayField(_l("Fin"), validators=[InputRequired(REQUIRED)])
    unpaid_only = BooleanField(_l("N'afficher que les factures impayées"))
    include_children = BooleanField(_l("Inclure les clients rattachés"))

    def params(self, client: Client) -> statements.Params | None:
        """The statement asked for, or None with a message next to each wrong field."""
        if not self.validate():
            return None
        try:
            statements.check(self.start.data, self.end.data)
        except statements.StatementError as error:
            self[error.field].errors.append(error.message)
            return None
        return statements.Params(
            client=client,
            start=self.start.data,
            end=self.end.data,
            unpaid_only=bool(self.unpaid_only.data),
            include_children=bool(self.include_children.data and client.children),
        )


def query(params: statements.Params) -> dict:
    """The period and the options as a query string for the statement's links."""
    return dict(
        start=params.start.isoformat(),
        end=params.end.isoformat(),
        unpaid_only="y" if params.unpaid_only else None,
        include_children="y" if params.include_children else None,
    )


def _client(client_id: int) -> Client:
    client = db.session.scalar(
        select(Client).where(Client.id == client_id).options(selectinload(Client.children))
    )
    if client is None:
        abort(404)
    return client


@bp.app_template_global()
def statement_refusal(client: Client) -> str | None:
    """For the client page: why « Relevé » is greyed out, or None."""
    return statements.refusal(client)


def _refused(client: Client, reason: str):
    """409: no statement for this client; say why."""
    if htmx:  # htmx does not swap a 409: reload the page, which shows the message
        flash(reason, "error")
        return Markup('<p class="flash flash-error">%s</p>') % reason, 409, {"HX-Refresh": "true"}
    return render_template("statements/refused.html", client=client, reason=reason), 409


def _page(client: Client, form: StatementForm, status: int = 200, params=None):
    """The modal for htmx's first GET, the form and the statement for its other requests,
    else the whole page."""
    view = statements.build(params, settings.today()) if params is not None else None
    context = dict(
        client=client,
        form=form,
        view=view,
        business=settings.business(),
        in_dialog=bool(htmx),
        links=query(params) if params is not None else None,
    )
    if not htmx:
        return render_template("statements/new.html", **context), status
    if request.method == "GET" and params is None and status == 200:
        return render_template("statements/_dialog.html", **context), status
    return render_template("statements/_form.html", **context), status


@bp.route("/clients/<int:client_id>/statement", methods=["GET", "POST"])
def new(client_id: int):
    """« Relevé »: the form (from the 1st of January to today); posted, or opened with a
    period in its query string, the statement under it (« Aperçu »)."""
    client = _client(client_id)
    reason = statements.refusal(client)
    if reason:
        return _refused(client, reason)
    if request.method == "POST":
        form = StatementForm()
    elif "start" in request.args or "end" in request.args:
        form = StatementForm(request.args, meta={"csrf": False})
    else:
        start, end = statements.default_period(settings.today())
        form = StatementForm(data={"start": start, "end": end}, meta={"csrf": False})
        return _page(client, form)
    params = form.params(client)
    if params is None:
        return _page(client, form, 422)
    return _page(client, form, params=params)


def _asked(client: Client) -> statements.Params | None:
    """The statement of the query string (the links under « Aperçu »)."""
    return StatementForm(request.args, meta={"csrf": False}).params(client)


def _bad_link(client: Client):
    """A link whose period is wrong (typed by hand): the form, with the messages."""
    form = StatementForm(request.args, meta={"csrf": False})
    form.params(client)
    return render_template("statements/new.html", client=client, form=form, view=None,
                           business=settings.business(), in_dialog=False, links=None), 422


def _linked(client_id: int, check_refusal: bool = True):
    """The client, the statement its link asks for and that statement built; the refusal
    (409) or the form with what is wrong in the link (422) is answered instead."""
    client = _client(client_id)
    reason = statements.refusal(client) if check_refusal else None
    if reason:
        abort(make_response(_refused(client, reason)))
    params = _asked(client)
    if params is None:
        abort(make_response(_bad_link(client)))
    return params, statements.build(params, settings.today())


@bp.get("/clients/<int:client_id>/statement.pdf")
def pdf(client_id: int):
    """The statement's PDF, in the client's language."""
    _params, view = _linked(client_id, check_refusal=False)
    return send_file(io.BytesIO(statements.pdf(view)), mimetype="application/pdf",
                     as_attachment=True, download_name=statements.filename(view), max_age=0)


# --- « Envoyer le relevé » -----------------------------------------------------------


def _send_page(view: statements.StatementView, params, form, status: int = 200, preview=None,
               files: list[sending.File] = ()):
    links = query(params)
    context = dict(
        sending_view.form_context(form, preview, files),
        terms_name=None,
        send_title=_("Envoyer le relevé"),
        send_url=url_for("statements.send", client_id=view.client.id, **links),
        preview_url=url_for("statements.send_preview", client_id=view.client.id, **links),
        cancel_url=url_for("statements.new", client_id=view.client.id, **links),
        back_url=url_for("statements.new", client_id=view.client.id, **links),
        back_label=_("Relevé de %(client)s", client=view.client.name),
        body_hint=_("{debut}, {fin}, {montant} (le solde dû) et {client} sont remplacés ; "
                    "{lien} devient le lien du client vers le relevé."),
        html_hint=_("Le client reçoit aussi une version mise en forme, avec le solde dû et "
                    "le bouton « Voir le relevé et payer ». Le lien du relevé (…) est créé à "
                    "l’envoi."),
    )
    return render_template(sending_view.form_template(), **context), status


@bp.route("/clients/<int:client_id>/statement/send", methods=["GET", "POST"])
def send(client_id: int):
    params, view = _linked(client_id)
    if request.method == "GET":
        form = sending_view.SendForm(data=asdict(statements.default_draft(view)))
        return _send_page(view, params, form)
    form = sending_view.SendForm()
    files = form.files()
    if not form.check(None, files):
        return _send_page(view, params, form, 422, files=files)
    try:
        message = statements.send(view, form.draft(), files, base_url())
    except sending.SendError as error:  # what only the composed message shows
        db.session.rollback()
        form.refuse(error)
        return _send_page(view, params, form, 422, files=files)
    db.session.commit()
    outbox.wake()
    flash(_("Relevé en cours d'envoi à %(recipients)s.", recipients=", ".join(message.recipients)),
          "success")
    if htmx:
        return "", 200, {"HX-Redirect": url_for("clients.show", client_id=view.client.id)}
    return redirect(url_for("clients.show", client_id=view.client.id), 303)


@bp.post("/clients/<int:client_id>/statement/send/preview")
def send_preview(client_id: int):
    """« Aperçu » of the message: the form as typed, and what the client will receive."""
    params, view = _linked(client_id)
    form = sending_view.SendForm()
    files = form.files()
    if not form.check(None, files):
        return _send_page(view, params, form, 422, files=files)
    try:
        outgoing = statements.prepare(view, form.draft(), files, base_url())
    except sending.SendError as error:
        form.refuse(error)
        return _send_page(view, params, form, 422, files=files)
    html, status = _send_page(view, params, form, preview=outgoing, files=files)
    return html, status, {"HX-Reswap": "outerHTML show:#send-preview:top"} if htmx else {}
