"""« Envoyer la facture » (the send modal and its « Aperçu ») and the messages as sent.

The modal is one form: « Aperçu » posts it to `/send/preview`, which answers
with the same form and, next to it, exactly what the client will receive;
« Envoyer le message » (in that preview) posts the same form to `/send`. With
htmx the form replaces itself, and the file input keeps its files
(`hx-preserve`), so nothing chosen is lost between preview, errors and
sending. Without JavaScript both are full pages.

« Historique des communications » (step « Suivi » of the invoice) lists the
messages and the history events together; « Consulter » shows a message as
it left, with its attachments (« Documents ») and the `.eml`.
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from babel.numbers import format_decimal
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import MultipleFileField
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload
from werkzeug.exceptions import RequestEntityTooLarge

from wtforms import BooleanField, StringField, TextAreaField

from billing import mailer, outbox, sending, settings
from billing.models import Attachment, Event, Invoice, Message, MessageState, db
from blueprints import base_url, get_or_404, htmx, render
from blueprints.fields import EmailListField, strip

bp = Blueprint("sending", __name__)

STATE_LABELS = {
    MessageState.PROCESSING: _l("En traitement"),
    MessageState.SENT: _l("Envoyée au client"),
    MessageState.CLICKED: _l("Le client a cliqué sur le lien"),
    MessageState.ABANDONED: _l("Abandonnée"),
}
# History events that a message of the list already shows.
SHOWN_BY_MESSAGES = {"emailed", "clicked"}


class SendForm(FlaskForm):
    recipients = EmailListField(_l("Destinataires"))
    cc = EmailListField(_l("Cc"))
    bcc_me = BooleanField(_l("M'envoyer le message en CCI"))
    subject = StringField(_l("Titre"), filters=[strip])
    body = TextAreaField(_l("Message"), render_kw={"rows": 12})
    attach_pdf = BooleanField(_l("Joindre le PDF"))
    documents = MultipleFileField(
        _l("Joindre un ou plusieurs documents"), render_kw={"hx-preserve": "true"}
    )

    def draft(self) -> sending.Draft:
        return sending.Draft(
            recipients=self.recipients.data or [],
            cc=self.cc.data or [],
            bcc_me=bool(self.bcc_me.data),
            subject=self.subject.data or "",
            body=self.body.data or "",
            attach_pdf=bool(self.attach_pdf.data),
        )

    def files(self) -> list[sending.File]:
        return [sending.document(upload.filename, upload.read()) for upload in self.documents.data or []]

    def check(self, invoice: Invoice, files: list[sending.File]) -> bool:
        """The form's own checks, then the domain's, each message next to its field."""
        valid = self.validate()
        found = sending.problems(invoice, self.draft(), files)
        for name, message in found.items():
            self.refuse(sending.SendError(message, name))
        return valid and not found

    def refuse(self, error: sending.SendError) -> None:
        """A refusal of the domain, next to its field (the field's own error first)."""
        if not error.field:
            self.form_errors.append(error.message)
        elif not self[error.field].errors:
            self[error.field].errors.append(error.message)


# --- The send modal --------------------------------------------------------------


def _invoice(invoice_id: int) -> Invoice:
    invoice = db.session.scalar(
        select(Invoice).where(Invoice.id == invoice_id).options(joinedload(Invoice.client))
    )
    if invoice is None:
        abort(404)
    return invoice



def form_context(form: SendForm, preview=None, files: list[sending.File] = ()) -> dict:
    """What every send form shows (an invoice's, a statement's) besides its own texts."""
    business = settings.business()
    return dict(
        form=form,
        preview=preview,
        refiled=bool(files) and not htmx,
        in_dialog=bool(htmx),
        business=business,
        outbox_folder=None if business.smtp_configured else mailer.outbox_folder(),
    )


def form_template() -> str:
    """The modal (`<dialog>`) for htmx's first GET, the form alone for htmx's POSTs, else the page."""
    if not htmx:
        return "sending/send.html"
    return "sending/_dialog.html" if request.method == "GET" else "sending/_form.html"


def _form_page(invoice: Invoice, form: SendForm, status: int = 200, preview=None,
               files: list[sending.File] = ()):
    business = settings.business()
    context = dict(
        form_context(form, preview, files),
        invoice=invoice,
        terms_name=(business.terms_filename or _("Conditions générales"))
        if business.terms_path
        else None,
    )
    return render_template(form_template(), **context), status


def _refused(invoice: Invoice, message: str):
    """409: this invoice cannot be sent; say why, in French."""
    db.session.rollback()
    if htmx:  # htmx does not swap a 409: reload the page, which shows the message
        flash(message, "error")
        return Markup('<p class="flash flash-error">%s</p>') % message, 409, {"HX-Refresh": "true"}
    return render("sending/refused.html", invoice=invoice, message=message), 409


@bp.route("/invoices/<int:invoice_id>/send", methods=["GET", "POST"])
def send(invoice_id: int):
    invoice = _invoice(invoice_id)
    try:
        sending.check_sendable(invoice)
    except sending.NotSendable as error:
        return _refused(invoice, error.message)
    if request.method == "GET":
        return _form_page(invoice, SendForm(data=asdict(sending.default_draft(invoice))))
    form = SendForm()
    files = form.files()
    if not form.check(invoice, files):
        return _form_page(invoice, form, 422, files=files)
    try:
        message = sending.send_invoice(invoice, form.draft(), files, base_url())
    except sending.SendError as error:  # what only the composed message shows
        db.session.rollback()
        form.refuse(error)
        return _form_page(invoice, form, 422, files=files)
    db.session.commit()
    outbox.wake()
    return _sent(invoice, message)


@bp.post("/invoices/<int:invoice_id>/send/preview")
def preview(invoice_id: int):
    """« Aperçu »: the form as typed, and next to it what the client will receive."""
    invoice = _invoice(invoice_id)
    try:
        sending.check_sendable(invoice)
    except sending.NotSendable as error:
        return _refused(invoice, error.message)
    form = SendForm()
    files = form.files()
    if not form.check(invoice, files):
        return _form_page(invoice, form, 422, files=files)
    try:
        outgoing = sending.prepare(invoice, form.draft(), files, base_url())
    except sending.SendError as error:  # what only the composed message shows
        form.refuse(error)
        return _form_page(invoice, form, 422, files=files)
    html, status = _form_page(invoice, form, preview=outgoing, files=files)
    return html, status, {"HX-Reswap": "outerHTML show:#send-preview:top"} if htmx else {}


@bp.errorhandler(RequestEntityTooLarge)
def too_large(_error):
    """More than one request may carry (MAX_CONTENT_LENGTH): the form could not even be read.

    With htmx the form stays as it is, text and chosen files included, and the reason
    appears under « Joindre un ou plusieurs documents ». Without JavaScript, a page
    says it and leads back to the form. Nothing here shows the invoice: this can run
    before the login gate (the CSRF check reads the form first).
    """
    message = _(
        "L'envoi dépasse %(max)d Mo, documents compris : le serveur ne l'a pas lu et rien "
        "n'a été envoyé. Retirez des documents ou choisissez-en de plus petits "
        "(%(each)d Mo au maximum chacun, %(total)d Mo en tout).",
        max=current_app.config["MAX_CONTENT_LENGTH"] // 1_048_576,
        each=sending.MAX_DOCUMENT_BYTES // 1_048_576,
        total=sending.MAX_DOCUMENTS_BYTES // 1_048_576,
    )
    if htmx:
        headers = {"HX-Retarget": "#documents-too-large", "HX-Reswap": "innerHTML"}
        return Markup('<p class="error" role="alert">%s</p>') % message, 422, headers
    invoice_id = (request.view_args or {}).get("invoice_id")
    back = url_for("sending.send", invoice_id=invoice_id) if invoice_id else url_for("board.index")
    return render_template("sending/too_large.html", message=message, back=back), 413


def _sent(invoice: Invoice, message: Message):
    """Sent from the invoice page: the modal closes and the page shows « Suivi »; from
    elsewhere (a register), that page reloads with a message; without htmx, a 303."""
    follow_up = url_for("invoices.show", invoice_id=invoice.id, step="follow_up")
    if htmx:
        came_from = urlsplit(htmx.current_url or "").path
        if came_from == url_for("invoices.show", invoice_id=invoice.id):
            location = {"path": follow_up, "target": "#invoice", "swap": "outerHTML"}
            return "", 200, {"HX-Trigger": "close-dialog", "HX-Location": json.dumps(location)}
        flash(_sent_message(invoice, message), "success")
        return "", 200, {"HX-Trigger": "close-dialog", "HX-Refresh": "true"}
    flash(_sent_message(invoice, message), "success")
    return redirect(follow_up, 303)


def _sent_message(invoice: Invoice, message: Message) -> str:
    return _(
        "Facture %(number)s en cours d'envoi à %(recipients)s.",
        number=invoice.number,
        recipients=", ".join(message.recipients),
    )


# --- « Historique des communications » --------------------------------------------


@dataclass
class Entry:
    """A line of the history: a message, or an event with its label."""

    at: datetime
    label: str = ""
    message: Message | None = None


def history_context(invoice: Invoice, zone: ZoneInfo, event_label) -> dict:
    """The step « Suivi »'s history: messages and events, newest first, in the business's time
    zone (`event_label(event, invoice)` words an event). Three queries, whatever the number."""

    def local(moment: datetime | None) -> datetime | None:
        return moment.replace(tzinfo=timezone.utc).astimezone(zone) if moment else None

    events = db.session.scalars(
        select(Event).where(Event.invoice_id == invoice.id).order_by(Event.at.desc(), Event.id.desc())
    )
    entries = [
        Entry(local(event.at), _event_label(event, invoice, event_label))
        for event in events
        if event.kind not in SHOWN_BY_MESSAGES
    ]
    entries += [Entry(local(message.created_at), message=message)
                for message in sending.messages_of(invoice)]
    entries.sort(key=lambda entry: entry.at, reverse=True)
    return dict(
        history=entries,
        local_time=local,
        state_labels=STATE_LABELS,
    )


def _event_label(event: Event, invoice: Invoice, event_label) -> str:
    if event.kind == "downloaded" and event.detail == "portal":
        return _("Le client a téléchargé la facture")
    return event_label(event, invoice)


# --- A message as sent: « Consulter », « Documents », .eml --------------------------


def _message(message_id: int) -> Message:
    message = db.session.scalar(
        select(Message)
        .where(Message.id == message_id)
        .options(selectinload(Message.attachments), joinedload(Message.invoice))
    )
    if message is None:
        abort(404)
    return message


@bp.get("/messages/<int:message_id>")
def message(message_id: int):
    """« Consulter »: the message as it left, with its attachments."""
    found = _message(message_id)
    business = settings.business()
    zone = ZoneInfo(business.timezone)

    def local(moment):
        return moment.replace(tzinfo=timezone.utc).astimezone(zone) if moment else None

    return render(
        "sending/message.html",
        message=found,
        invoice=found.invoice,
        state_labels=STATE_LABELS,
        local_time=local,
    )


@bp.get("/messages/<int:message_id>/eml")
def eml(message_id: int):
    """« Télécharger (.eml) »: the MIME message exactly as delivered (Bcc never in it)."""
    found = _message(message_id)
    try:
        data = outbox.build(found, settings.business()).as_bytes()
    except FileNotFoundError:  # a stored copy of an attachment is gone
        abort(404)
    return send_file(io.BytesIO(data), mimetype="message/rfc822", as_attachment=True,
                     download_name=f"message-{found.id}.eml", max_age=0)


@bp.get("/messages/<int:message_id>/html")
def html_version(message_id: int):
    """The HTML part, alone, with no script and no request allowed (a sandboxed page)."""
    found = get_or_404(Message, message_id)
    if not found.html_body:
        abort(404)
    response = Response(found.html_body, mimetype="text/html")
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"
    )
    return response


@bp.get("/messages/<int:message_id>/attachments/<int:attachment_id>")
def attachment(message_id: int, attachment_id: int):
    """One of the « Documents » of a message, as it left."""
    found = db.session.get(Attachment, attachment_id)
    if found is None or found.message_id != message_id:
        abort(404)
    try:
        path = sending.attachment_path(found)
    except FileNotFoundError:
        abort(404)
    return send_file(path, mimetype=found.content_type, as_attachment=True,
                     download_name=found.filename, max_age=0)


@bp.app_template_filter("filesize")
def filesize_filter(size: int) -> str:
    """2 048 bytes → « 2 Ko », 3 250 000 → « 3,1 Mo »."""
    locale = str(get_locale() or "fr")
    units = [_("o"), _("Ko"), _("Mo")]
    value, unit = float(size), 0
    while value >= 1024 and unit < len(units) - 1:
        value, unit = value / 1024, unit + 1
    return f"{format_decimal(value, format='#,##0.#', locale=locale)} {units[unit]}"
