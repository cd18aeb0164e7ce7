"""One invoice: its page in three steps (Préparation, Envoi, Suivi), the editor and the actions.

The editor saves as the owner types: each form (the header, each line) posts
itself on `change` and after a pause in typing; the answer leaves the inputs
alone and swaps in, out of band, what the server computed (totals, the line's
net, error messages, the fields it filled in). Without JavaScript each form
has a « Sauvegarder » button that posts and comes back (303).
"""

from __future__ import annotations

import io
from dataclasses import fields
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel.numbers import format_decimal

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from markupsafe import Markup
from sqlalchemy import or_, select
from sqlalchemy.orm import joinedload, selectinload
from wtforms import (
    DateField,
    FieldList,
    FormField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    ValidationError,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from billing import (
    catalog,
    clients,
    documents,
    history,
    invoices,
    lifecycle,
    money,
    numbering,
    payments,
    portal,
    settings,
)
from billing.formats import money_filter
from billing.models import (
    Client,
    Event,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    Item,
    Job,
    JobStatus,
    PaymentMethod,
    TaxRate,
    db,
    read_first,
    write_lock,
)
from blueprints import board as board_view
from blueprints import sending as sending_view
from blueprints import base_url, db_int, get_or_404, htmx, render
from blueprints.clients import optional_id
from blueprints.fields import (
    DATE_FORMATS,
    REQUIRED,
    TOO_LONG,
    AmountField,
    EmailListField,
    _TextParsedField,
    strip,
    value_required,
)
from blueprints.filters import rate_filter
from blueprints.settings import WholeNumberField

bp = Blueprint("invoices", __name__, url_prefix="/invoices")

STEPS = ("preparation", "sending", "follow_up")
DEFAULT_STEP = {
    InvoiceStatus.DRAFT: "preparation",
    InvoiceStatus.TO_SEND: "sending",
    InvoiceStatus.AWAITING_PAYMENT: "follow_up",
    InvoiceStatus.PAID: "follow_up",
    InvoiceStatus.CANCELLED: "follow_up",
}
DISCOUNT_KINDS = [SelectChoice("percent", "%"), SelectChoice("amount", _l("montant"))]


# --- Forms --------------------------------------------------------------------


class QuantityField(_TextParsedField):
    """A quantity typed as « 1,5 » or « 1.5 »; data is a Decimal."""

    invalid_message = _l("Quantité invalide : utilisez des chiffres, par exemple 1,5.")

    def format(self, value: Decimal) -> str:
        return f"{value.normalize():f}".replace(".", ",")

    def parse(self, text: str) -> Decimal:
        return money.parse_decimal(text)


class HeaderForm(FlaskForm):
    client_id = SelectField(_l("Client"), coerce=optional_id, validate_choice=False)
    job_id = SelectField(_l("Dossier"), coerce=optional_id, validate_choice=False)
    issue_date = DateField(
        _l("Date de la facture"), format=DATE_FORMATS, validators=[InputRequired(REQUIRED)]
    )
    payment_terms_days = WholeNumberField(
        _l("Délai de paiement (jours)"), validators=[value_required]
    )
    due_date = DateField(_l("Échéance"), format=DATE_FORMATS, validators=[Optional()])
    service_start = DateField(
        _l("Date de la prestation"), format=DATE_FORMATS, validators=[Optional()]
    )
    service_end = DateField(_l("au (période)"), format=DATE_FORMATS, validators=[Optional()])
    currency = SelectField(_l("Devise"), choices=list(money.CURRENCIES))
    reference = StringField(
        _l("Référence / bon de commande"),
        filters=[strip],
        validators=[Length(max=100, message=TOO_LONG)],
    )
    notes = TextAreaField(_l("Notes"), filters=[strip])
    footer = TextAreaField(_l("Pied de page"), filters=[strip])

    def offer(self, invoice: Invoice, client: Client | None) -> None:
        """Non-archived clients; the jobs of `client` (open ones, and the invoice's own)."""
        self.client_id.choices = [SelectChoice("", _("— Choisir un client —"))] + [
            SelectChoice(each.id, each.name) for each in clients.active_clients(invoice.client)
        ]
        jobs = []
        if client is not None:
            jobs = db.session.scalars(
                select(Job)
                .where(
                    Job.client_id == client.id,
                    or_(Job.status == JobStatus.OPEN, Job.id == invoice.job_id),
                )
                .order_by(Job.name, Job.id)
            )
        self.job_id.choices = [SelectChoice("", _("— Aucun —"))] + [
            SelectChoice(job.id, job.name) for job in jobs
        ]

    def header(self) -> invoices.Header:
        """What was posted; the domain fills in the due date, terms and currency that follow."""
        return invoices.Header(
            client=_chosen(Client, self.client_id.data, "client_id", _("Ce client n'existe pas.")),
            job=_chosen(Job, self.job_id.data, "job_id", _("Ce dossier n'existe pas.")),
            issue_date=self.issue_date.data,
            payment_terms_days=self.payment_terms_days.data,
            due_date=self.due_date.data,
            currency=self.currency.data,
            reference=self.reference.data or "",
            notes=self.notes.data or "",
            footer=self.footer.data or "",
            service_start=self.service_start.data,
            service_end=self.service_end.data,
        )


class NewClientForm(FlaskForm):
    name = StringField(
        _l("Nom du client"),
        filters=[strip],
        validators=[DataRequired(clients.NAME_REQUIRED), Length(max=200, message=TOO_LONG)],
    )
    emails = EmailListField(_l("Adresses email"))


class LineForm(FlaskForm):
    description = TextAreaField(_l("Description"), filters=[strip], render_kw={"rows": 2})
    quantity = QuantityField(
        _l("Quantité"), validators=[value_required], render_kw={"inputmode": "decimal"}
    )
    unit = StringField(
        _l("Unité"),
        filters=[strip],
        validators=[Length(max=30, message=TOO_LONG)],
        render_kw={"list": "units"},
    )
    unit_price = AmountField(
        _l("Prix unitaire"), validators=[value_required], render_kw={"inputmode": "decimal"}
    )
    discount = StringField(_l("Remise"), filters=[strip], render_kw={"inputmode": "decimal"})
    discount_kind = SelectField(_l("Type de remise"), choices=DISCOUNT_KINDS)
    tax_rate_ids = SelectMultipleField(
        _l("Taxes"),
        coerce=int,
        validate_choice=False,
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )

    def validate_discount(self, field):
        self.discount_value: tuple[Decimal | None, int | None] = (None, None)
        if not field.data:
            return
        try:
            self.discount_value = _percent_or_amount(field.data, self.discount_kind.data)
        except money.InvalidNumber as error:
            raise ValidationError(
                _("Remise invalide : un pourcentage (10) ou un montant (25,00).")
            ) from error

    def details(self, rates: list[TaxRate]) -> invoices.LineDetails:
        percent, cents = self.discount_value
        return invoices.LineDetails(
            description=self.description.data or "",
            quantity=self.quantity.data,
            unit=self.unit.data or "",
            unit_price_cents=self.unit_price.data,
            discount_percent=percent,
            discount_cents=cents,
            tax_rates=tuple(rate for rate in rates if rate.id in (self.tax_rate_ids.data or ())),
        )


class InstalmentForm(FlaskForm):
    class Meta:
        csrf = False

    due_date = DateField(_l("Date"), format=DATE_FORMATS, validators=[Optional()])
    value = StringField(_l("Part"), filters=[strip], render_kw={"inputmode": "decimal"})
    kind = SelectField(_l("En"), choices=DISCOUNT_KINDS)


class ScheduleForm(FlaskForm):
    rows = FieldList(FormField(InstalmentForm))

    def schedule(self) -> list[tuple] | None:
        """The filled rows as (due date, InstalmentSpec); None (with messages) when one is wrong."""
        schedule, valid = [], True
        for row in self.rows:
            due, text = row.form.due_date.data, row.form.value.data
            if due is None and not text and not row.form.due_date.errors:
                continue
            if due is None and not row.form.due_date.errors:
                row.form.due_date.errors.append(_("Indiquez la date de cette échéance."))
            if not text:
                row.form.value.errors.append(_("Indiquez un pourcentage ou un montant."))
            spec = None
            if text:
                try:
                    spec = money.InstalmentSpec(*_percent_or_amount(text, row.form.kind.data))
                except money.InvalidNumber:
                    row.form.value.errors.append(
                        _("Valeur invalide : un pourcentage (30) ou un montant (250,00).")
                    )
            if row.form.errors or spec is None:
                valid = False
                continue
            schedule.append((due, spec))
        return schedule if valid else None


class NumberForm(FlaskForm):
    number = StringField(
        _l("Numéro"),
        filters=[strip],
        validators=[DataRequired(REQUIRED), Length(max=40, message=TOO_LONG)],
    )


def _percent_or_amount(text: str, kind: str) -> tuple[Decimal | None, int | None]:
    """« 10 » (or « 10 % ») as a percentage, or « 25,50 » as cents, as `kind` says."""
    if kind == "amount":
        return None, money.parse_amount(text)
    return money.parse_decimal(text.rstrip("%").strip(), max_places=3), None


def _chosen(model, object_id: int | None, field: str, missing: str):
    if object_id is None:
        return None
    found = db.session.get(model, object_id)
    if found is None:
        raise invoices.InvoiceError(missing, field)
    return found


# --- Loading and building the page -------------------------------------------


def _load(invoice_id: int) -> Invoice:
    """The invoice with everything its page shows, in a constant number of queries."""
    invoice = db.session.scalar(
        select(Invoice)
        .where(Invoice.id == invoice_id)
        .options(
            selectinload(Invoice.lines).selectinload(InvoiceLine.taxes),
            selectinload(Invoice.taxes),
            selectinload(Invoice.instalments),
            joinedload(Invoice.client),
            joinedload(Invoice.job),
            joinedload(Invoice.credited_invoice),
            joinedload(Invoice.replaces),
        )
    )
    if invoice is None:
        abort(404)
    return invoice


def _line(invoice: Invoice, line_id: int) -> InvoiceLine:
    for line in invoice.lines:
        if line.id == line_id:
            return line
    abort(404)


def _tax_rates() -> list[TaxRate]:
    return list(db.session.scalars(select(TaxRate).order_by(TaxRate.id)))


def _header_form(invoice: Invoice, formdata=None) -> HeaderForm:
    header = invoices.header_of(invoice)
    data = {field.name: getattr(header, field.name) for field in fields(header)}
    data.update(client_id=invoice.client_id, job_id=invoice.job_id)
    form = HeaderForm(formdata=formdata, data=data)
    client = invoice.client
    if formdata is not None and form.client_id.data != invoice.client_id:
        client = db.session.get(Client, form.client_id.data) if form.client_id.data else None
    form.offer(invoice, client)
    return form


def _line_form(line: InvoiceLine, rates: list[TaxRate], formdata=None) -> LineForm:
    if line.discount_percent_millis is not None:
        discount, kind = money.format_rate_plain(line.discount_percent_millis), "percent"
    elif line.discount_cents:
        discount, kind = money.format_plain(line.discount_cents), "amount"
    else:
        discount, kind = "", "percent"
    on_line = {tax.tax_rate_id for tax in line.taxes}
    form = LineForm(
        formdata=formdata,
        prefix=f"line-{line.id}",
        data=dict(
            description=line.description,
            quantity=Decimal(line.quantity_millis) / 1000,
            unit=line.unit,
            unit_price=line.unit_price_cents,
            discount=discount,
            discount_kind=kind,
            tax_rate_ids=sorted(on_line - {None}),
        ),
    )
    form.tax_rate_ids.choices = [
        SelectChoice(rate.id, f"{rate.name} ({rate_filter(rate.rate_millis)})")
        for rate in rates
        if rate.active or rate.id in on_line
    ]
    return form


def _schedule_form(invoice: Invoice) -> ScheduleForm:
    rows = [
        dict(
            due_date=each.due_date,
            value=money.format_rate_plain(each.percent_millis)
            if each.percent_millis is not None
            else money.format_plain(each.amount_cents),
            kind="percent" if each.percent_millis is not None else "amount",
        )
        for each in invoice.instalments
    ]
    rows += [dict(kind="percent")] * (2 if not rows else 1)
    return ScheduleForm(formdata=None, prefix="schedule", data=dict(rows=rows))


def _lines_context(invoice: Invoice, posted: dict | None = None) -> dict:
    rates = _tax_rates()
    posted = posted or {}
    return dict(
        line_forms=[
            (line, posted.get(line.id) or _line_form(line, rates)) for line in invoice.lines
        ]
    )


def _context(
    invoice: Invoice, step: str, errors: dict | None = None, notice: str = "", **forms
) -> dict:
    """What the page shows at `step`; `forms` replaces a form by the one just posted."""
    business = settings.business()
    context = dict(
        invoice=invoice,
        step=step,
        today=settings.today(business),
        editable=lifecycle.can_edit(invoice),
        errors=errors or {},
        notice=notice,
        number_form=forms.get("number_form"),
    )
    if step == "preparation" and context["editable"]:
        context.update(_lines_context(invoice, forms.get("line_forms")))
        header_form = forms.get("header_form") or _header_form(invoice)
        for name, message in context["errors"].items():
            if name in header_form:  # a refused finalize: the message goes next to its field
                header_form[name].errors = [message]
        context.update(
            header_form=header_form,
            new_client_form=forms.get("new_client_form")
            or NewClientForm(formdata=None, prefix="new_client"),
            schedule_form=forms.get("schedule_form") or _schedule_form(invoice),
        )
    elif step == "sending":
        token = portal.current_token(invoice)
        context.update(
            portal_url=base_url() + url_for("portal.show", token=token.token) if token else None,
            earlier_revisions=[
                revision
                for revision in range(1, invoice.revision)
                if documents.revision_pdf(invoice, revision) is not None
            ]
        )
    elif step == "follow_up":
        context.update(
            sending_view.history_context(invoice, ZoneInfo(business.timezone), _event_label),
            credit_notes=db.session.scalars(
                select(Invoice)
                .where(Invoice.credited_invoice_id == invoice.id)
                .order_by(Invoice.id)
            ).all(),
            payments=payments.of_invoice(invoice),
            method_labels=payments.METHOD_LABELS,
            replacements=db.session.scalars(
                select(Invoice).where(Invoice.replaces_id == invoice.id).order_by(Invoice.id)
            ).all(),
        )
    return context


def _event_label(event: Event, invoice: Invoice) -> str:
    """What a line of « Historique » says."""
    kind, detail = event.kind, event.detail
    if kind == "created":
        return _("Brouillon créé")
    if kind == "finalized" and invoice.is_credit_note:
        return _("Avoir émis (%(number)s)", number=detail)
    if kind == "finalized":
        return _("Facture finalisée (%(number)s)", number=detail)
    if kind == "sent_manually":
        return _("Marquée comme envoyée")
    if kind == "downloaded" and detail == "portal":
        return _("PDF téléchargé par le client")
    if kind == "downloaded":
        return _("PDF téléchargé")
    if kind == "emailed":
        return _("Envoyée par email à %(recipients)s", recipients=detail)
    if kind == "clicked":
        return _("Le client a cliqué sur le lien")
    if kind == "portal_link_revoked":
        return _("Nouveau lien client : les anciens liens ne fonctionnent plus")
    if kind == "stripe_payment_not_recorded":
        cents, reference = detail.split(" ", 1)
        return _(
            "Paiement Stripe de %(amount)s non enregistré : il dépasse le solde dû (à rembourser, "
            "référence %(reference)s)",
            amount=money_filter(int(cents), invoice.currency),
            reference=reference,
        )
    if kind == "revised":
        return _("Révision %(n)s", n=detail)
    if kind == "renumbered":
        return _("Numéro modifié (%(change)s)", change=detail)
    if kind == "cancelled":
        return _("Annulée par l'avoir %(number)s", number=detail)
    if kind == "corrected":
        note, _draft = detail.split(" ", 1)
        return _("Corrigée : annulée par l'avoir %(number)s, nouvelle facture préparée",
                 number=note)
    if kind == "correction_of":
        return _("Préparée pour corriger la facture %(number)s", number=detail)
    if kind == "payments_moved":
        cents, number = detail.split(" ", 1)
        return _("Paiements de %(amount)s repris de la facture %(number)s",
                 amount=money_filter(int(cents), invoice.currency), number=number)
    if kind in ("payment_added", "payment_deleted"):
        cents, method = detail.split(" ", 1)
        values = dict(amount=money_filter(int(cents), invoice.currency),
                      method=payments.METHOD_LABELS[PaymentMethod(method)])
        if kind == "payment_added":
            return _("Paiement de %(amount)s reçu (%(method)s)", **values)
        return _("Paiement de %(amount)s supprimé (%(method)s)", **values)
    if kind == "duplicated" and detail:
        return _("Copie de la facture %(number)s", number=detail)
    if kind == "duplicated":
        return _("Copie d'un brouillon")
    return f"{kind} {detail}".strip()


@bp.app_template_filter("quantity")
def quantity_filter(millis: int) -> str:
    """1500 thousandths → « 1,5 » in French."""
    return format_decimal(
        Decimal(millis) / 1000, format="#,##0.###", locale=str(get_locale() or "fr")
    )


def _page(invoice: Invoice, step: str, status: int = 200, block: str = "invoice", **context):
    return render("invoices/show.html", block, **_context(invoice, step, **context)), status


def _step_url(invoice: Invoice, step: str, **anchor) -> str:
    return url_for("invoices.show", invoice_id=invoice.id, step=step, **anchor)


def after_action(invoice: Invoice, step: str, message: str):
    """A state change done: the updated invoice for htmx, else back to its page (303)."""
    if htmx:
        html, _status = _page(invoice, step, notice=message)
        return html, 200, {"HX-Push-Url": _step_url(invoice, step)}
    flash(message, "success")
    return redirect(_step_url(invoice, step), 303)


def _back_to_board(invoice: Invoice, message: str):
    """A change made from a card of the board: the card moves there (htmx), or back to the board."""
    if htmx:
        return board_view.refreshed([invoice])
    flash(message, "success")
    filters = {name: request.values.get(name) or None for name in ("client_id", "job_id")}
    return redirect(url_for("board.index", **filters), 303)


def _refused(invoice_id: int, message: str):
    """409: the invoice is not in a state that allows this; say why, in French."""
    db.session.rollback()
    flash(message, "error")
    if htmx:  # htmx does not swap a 409: reload the page, which shows the message
        return Markup('<p class="flash flash-error">%s</p>') % message, 409, {"HX-Refresh": "true"}
    invoice = _load(invoice_id)
    return _page(invoice, DEFAULT_STEP[invoice.status], status=409)


@bp.errorhandler(invoices.InvalidTransition)
def _invalid_transition(error: invoices.InvalidTransition):
    """A verb refused because of the invoice's state (e.g. finalized in another tab)."""
    return _refused(request.view_args["invoice_id"], error.message)


def _save(form, change, validate: bool = True) -> bool:
    """Validate `form`, apply `change` (a call of domain verbs) and commit; True when saved.

    A refusal of the domain (`InvoiceError`, `InvalidClient`) is rolled back and shown next to
    its field, or at the top of the form; an `InvalidTransition` goes to `_invalid_transition`.
    """
    if validate and not form.validate():
        return False
    try:
        change()
    except invoices.InvalidTransition:
        raise
    except (invoices.InvoiceError, clients.InvalidClient) as error:
        db.session.rollback()
        field = form[error.field] if error.field in form else None
        (field.errors if field is not None else form.form_errors).append(str(error.message))
        return False
    db.session.commit()
    return True


def _not_editable_message(invoice: Invoice) -> str:
    if lifecycle.is_issued(invoice) and not invoice.is_credit_note:
        return str(invoices.LOCKED)
    return _(
        "Cette facture ne peut plus être modifiée (statut « %(status)s »).",
        status=lifecycle.status_label(invoice),
    )


def _edited(invoice: Invoice, saved: bool, **parts):
    """The answer to an htmx edit: what changed, out of band, and the totals."""
    return render_template(
        "invoices/_edited.html",
        invoice=invoice,
        today=settings.today(),
        saved=saved,
        **parts,
    ), (200 if saved else 422)


# --- The page -----------------------------------------------------------------


@bp.post("/new")
def create():
    """A new draft, for a client and a job when given (e.g. from the client's page)."""
    client, job = _posted(Client, "client_id"), _posted(Job, "job_id")
    if job is not None:
        if client is None:
            client = job.client
        elif job.client_id != client.id:
            abort(404)
    invoice = invoices.create_draft(settings.today(), client, job)
    db.session.commit()
    return redirect(_step_url(invoice, "preparation"), 303)


def _posted(model, name: str):
    """The row whose id is posted as `name`; None when absent, 404 when unknown."""
    if not request.form.get(name):
        return None
    return get_or_404(model, request.form.get(name, type=db_int) or 0)


@bp.get("/<int:invoice_id>")
def show(invoice_id: int):
    invoice = _load(invoice_id)
    step = request.args.get("step")
    if step not in STEPS:
        step = DEFAULT_STEP[invoice.status]
    return _page(invoice, step)


# --- The editor: header, new client, lines, schedule -------------------------


@bp.post("/<int:invoice_id>/header")
def save_header(invoice_id: int):
    invoice = _load(invoice_id)
    if not lifecycle.can_edit(invoice):
        return _refused(invoice_id, _not_editable_message(invoice))
    form = _header_form(invoice, formdata=request.form)
    client_before = invoice.client_id
    saved = _save(form, lambda: invoices.update_header(invoice, form.header()))
    if not htmx:
        if saved:
            return redirect(_step_url(invoice, "preparation"), 303)
        return _page(_load(invoice_id), "preparation", status=422, header_form=form)
    if saved and invoice.client_id != client_before:
        return _edited(invoice, saved, header_form=_header_form(invoice), all_nets=True)
    refreshed = []
    if saved:
        fresh = _header_form(invoice)
        refreshed = [
            fresh[name]
            for name in ("payment_terms_days", "due_date", "currency")
            if fresh[name].data != form[name].data
        ]
    return _edited(invoice, saved, form=form, refreshed=refreshed, all_nets=True)


@bp.post("/<int:invoice_id>/client")
def new_client(invoice_id: int):
    invoice = _load(invoice_id)
    if not lifecycle.can_edit(invoice):
        return _refused(invoice_id, _not_editable_message(invoice))
    form = NewClientForm(prefix="new_client")

    def create_and_choose():
        details = clients.ClientDetails(
            name=form.name.data,
            emails=form.emails.data,
            by_email=bool(form.emails.data),
            currency=settings.business().currency,
        )
        client = clients.create(details)
        invoices.update_header(invoice, invoices.header_of(invoice, client=client, job=None))

    saved = _save(form, create_and_choose)
    if not htmx:
        if saved:
            flash(_("Client « %(name)s » créé et choisi.", name=form.name.data), "success")
            return redirect(_step_url(invoice, "preparation"), 303)
        return _page(_load(invoice_id), "preparation", status=422, new_client_form=form)
    if not saved:
        return render_template(
            "invoices/_new_client.html", invoice=invoice, new_client_form=form
        ), 422
    html = render_template(
        "invoices/_new_client.html",
        invoice=invoice,
        new_client_form=NewClientForm(formdata=None, prefix="new_client"),
    )
    extra, status = _edited(invoice, True, header_form=_header_form(invoice), all_nets=True)
    return html + extra, status


@bp.get("/<int:invoice_id>/picker")
def picker(invoice_id: int):
    invoice = _load(invoice_id)
    query = request.args.get("q", "").strip()
    return render(
        "invoices/picker.html",
        "results",
        invoice=invoice,
        items=catalog.picker(query),
        q=query,
        currency=invoice.currency,
    )


@bp.post("/<int:invoice_id>/lines")
def add_line(invoice_id: int):
    invoice = _load(invoice_id)
    item = None
    if request.form.get("item_id"):
        item = get_or_404(Item, request.form.get("item_id", type=db_int))
    if not lifecycle.can_edit(invoice):
        return _refused(invoice_id, _not_editable_message(invoice))
    line = invoices.add_line(invoice, item)
    db.session.commit()
    return _lines_changed(invoice, anchor=f"line-{line.id}")


@bp.post("/<int:invoice_id>/lines/<int:line_id>")
def save_line(invoice_id: int, line_id: int):
    invoice = _load(invoice_id)
    line = _line(invoice, line_id)
    if not lifecycle.can_edit(invoice):
        return _refused(invoice_id, _not_editable_message(invoice))
    rates = _tax_rates()
    form = _line_form(line, rates, formdata=request.form)
    saved = _save(form, lambda: invoices.update_line(line, form.details(rates)))
    if not htmx:
        if saved:
            return redirect(_step_url(invoice, "preparation", _anchor=f"line-{line_id}"), 303)
        return _page(_load(invoice_id), "preparation", status=422, line_forms={line_id: form})
    return _edited(invoice, saved, form=form, line=line)


@bp.post("/<int:invoice_id>/lines/<int:line_id>/remove")
def remove_line(invoice_id: int, line_id: int):
    invoice = _load(invoice_id)
    line = _line(invoice, line_id)
    if not lifecycle.can_edit(invoice):
        return _refused(invoice_id, _not_editable_message(invoice))
    invoices.remove_line(line)
    db.session.commit()
    return _lines_changed(invoice)


@bp.post("/<int:invoice_id>/lines/<int:line_id>/move/<any(up, down):direction>")
def move_line(invoice_id: int, line_id: int, direction: str):
    invoice = _load(invoice_id)
    line = _line(invoice, line_id)
    if not lifecycle.can_edit(invoice):
        return _refused(invoice_id, _not_editable_message(invoice))
    invoices.move_line(line, -1 if direction == "up" else 1)
    db.session.commit()
    return _lines_changed(invoice, anchor=f"line-{line_id}")


def _lines_changed(invoice: Invoice, anchor: str | None = None):
    """After adding, removing or moving a line: the list and the totals, or back to the page."""
    if not htmx:
        return redirect(_step_url(invoice, "preparation", _anchor=anchor), 303)
    lines = render_template("invoices/_lines.html", invoice=invoice, **_lines_context(invoice))
    extra, status = _edited(invoice, True)
    return lines + extra, status


@bp.post("/<int:invoice_id>/schedule")
def save_schedule(invoice_id: int):
    invoice = _load(invoice_id)
    if not lifecycle.can_edit(invoice):
        return _refused(invoice_id, _not_editable_message(invoice))
    form = ScheduleForm(prefix="schedule")
    schedule = [] if "clear" in request.form else (form.schedule() if form.validate() else None)
    saved = schedule is not None and _save(
        form, lambda: invoices.set_instalments(invoice, schedule), validate=False
    )
    if not htmx:
        if saved:
            return redirect(_step_url(invoice, "preparation", _anchor="schedule"), 303)
        return _page(_load(invoice_id), "preparation", status=422, schedule_form=form)
    if not saved:
        return render_template("invoices/_schedule.html", invoice=invoice, schedule_form=form), 422
    html = render_template(
        "invoices/_schedule.html", invoice=invoice, schedule_form=_schedule_form(invoice)
    )
    extra, status = _edited(invoice, True, header_form=_header_form(invoice))
    return html + extra, status


# --- Lifecycle ----------------------------------------------------------------


@bp.post("/<int:invoice_id>/finalize")
def finalize(invoice_id: int):
    numbering.lock()  # the number is read and taken under the write lock
    invoice = _load(invoice_id)
    try:
        invoices.finalize(invoice, settings.today())
        portal.token_for(invoice)  # the client's link, shown on step « Envoi »
    except invoices.InvalidTransition:
        raise
    except invoices.InvoiceError as error:
        db.session.rollback()
        return _page(
            _load(invoice_id), "preparation", status=422, errors={error.field: error.message}
        )
    db.session.commit()
    return after_action(
        invoice, "sending", _("Facture finalisée : numéro %(number)s.", number=invoice.number)
    )


@bp.post("/<int:invoice_id>/portal-link")
def portal_link(invoice_id: int):
    """« Nouveau lien »: the client's links given so far stop working; a new one replaces them."""
    invoice = _load(invoice_id)
    if not lifecycle.has_portal_link(invoice):
        return _refused(invoice_id, _("Un brouillon ou un avoir n'a pas de lien client."))
    had_one = portal.current_token(invoice) is not None
    portal.renew(invoice)
    db.session.commit()
    if had_one:
        message = _("Nouveau lien créé : les liens donnés avant ne fonctionnent plus.")
    else:
        message = _("Lien client créé.")
    return after_action(invoice, "sending", message)


@bp.post("/<int:invoice_id>/sent")
def mark_sent(invoice_id: int):
    """« Facture envoyée »: its PDF is rendered first, then archived under the write lock."""
    read_first()
    invoice = _load(invoice_id)
    if lifecycle.can_mark_sent(invoice):
        documents.invoice_pdf(invoice)  # into the cache, read back by the archive below
    write_lock()
    invoice = _load(invoice_id)
    try:
        invoices.mark_sent(invoice)
    except invoices.InvoiceError as error:
        return _refused(invoice_id, error.message)
    db.session.commit()
    if request.form.get("from") == "board":
        return _back_to_board(invoice, _("Facture marquée comme envoyée."))
    return after_action(invoice, "follow_up", _("Facture marquée comme envoyée."))


@bp.route("/<int:invoice_id>/number", methods=["GET", "POST"])
def number(invoice_id: int):
    if request.method == "POST":
        numbering.lock()  # the series' counter moves under the write lock
    invoice = _load(invoice_id)
    if not lifecycle.number_editable(invoice):
        return _refused(invoice_id, _("Le numéro ne change plus après le premier envoi."))
    form = NumberForm(prefix="renumber", data=dict(number=invoice.number))
    if form.is_submitted():
        if _save(form, lambda: invoices.change_number(invoice, form.number.data)):
            if htmx:
                return _page(invoice, DEFAULT_STEP[invoice.status], block="number_line")
            flash(_("Numéro modifié : %(number)s.", number=invoice.number), "success")
            return redirect(url_for("invoices.show", invoice_id=invoice.id), 303)
        invoice = _load(invoice_id)
    status = 422 if form.is_submitted() else 200
    return _page(
        invoice, DEFAULT_STEP[invoice.status], status, block="number_line", number_form=form
    )


def _credit_note_action(invoice_id: int, allowed, refusal: str, template: str, verb):
    """A confirmation page (GET), then `verb(invoice, today)` that issues a credit note (POST).
    Returns the invoice, what the verb returned, and the answer to give instead (or None)."""
    if request.method == "POST":
        numbering.lock()  # the credit note's number is taken under the write lock
    invoice = _load(invoice_id)
    if request.method == "GET":
        if not allowed(invoice):
            return invoice, None, _refused(invoice_id, refusal)
        upcoming = numbering.upcoming("credit_note", settings.today())
        return invoice, None, render(template, invoice=invoice, upcoming=upcoming)
    try:
        done = verb(invoice, settings.today())
    except invoices.InvoiceError as error:
        return invoice, None, _refused(invoice_id, error.message)
    db.session.commit()
    return invoice, done, None


@bp.route("/<int:invoice_id>/cancel", methods=["GET", "POST"])
def cancel(invoice_id: int):
    """Cancel with a credit note, after a confirmation page."""
    invoice, note, answer = _credit_note_action(
        invoice_id, lifecycle.can_cancel, _("Cette facture ne peut pas être annulée."),
        "invoices/cancel.html", invoices.cancel,
    )
    if answer is not None:
        return answer
    flash(
        _("Facture %(number)s annulée par l'avoir %(note)s.", number=invoice.number,
          note=note.number),
        "success",
    )
    return redirect(url_for("invoices.show", invoice_id=note.id), 303)


@bp.route("/<int:invoice_id>/correct", methods=["GET", "POST"])
def correct(invoice_id: int):
    """« Corriger la facture »: what it does, then the credit note and the new draft."""
    invoice, done, answer = _credit_note_action(
        invoice_id, lifecycle.can_correct, _("Seule une facture envoyée se corrige."),
        "invoices/correct.html", invoices.correct,
    )
    if answer is not None:
        return answer
    note, draft = done
    flash(
        _(
            "Facture %(number)s annulée par l'avoir %(note)s : corrigez la nouvelle facture "
            "ci-dessous puis finalisez-la.",
            number=invoice.number,
            note=note.number,
        ),
        "success",
    )
    return redirect(_step_url(draft, "preparation"), 303)


@bp.post("/<int:invoice_id>/duplicate")
def duplicate(invoice_id: int):
    invoice = _load(invoice_id)
    copy = invoices.duplicate(invoice, settings.today())
    db.session.commit()
    flash(_("Copie créée : un nouveau brouillon."), "success")
    return redirect(_step_url(copy, "preparation"), 303)


@bp.route("/<int:invoice_id>/delete", methods=["GET", "POST"])
def delete(invoice_id: int):
    """Delete a draft, after a confirmation page."""
    invoice = _load(invoice_id)
    if not lifecycle.can_delete(invoice):
        return _refused(
            invoice_id,
            _(
                "Seul un brouillon peut être supprimé : une facture numérotée s'annule par un "
                "avoir, et un brouillon qui reprend des paiements se finalise."
            ),
        )
    if request.method == "GET":
        return render("invoices/delete.html", invoice=invoice)
    invoices.delete_draft(invoice)
    db.session.commit()
    flash(_("Brouillon supprimé."), "success")
    return redirect(url_for("board.index"), 303)


@bp.get("/<int:invoice_id>/pdf")
def pdf(invoice_id: int):
    """« Télécharger la facture »: the current revision, or `?revision=` an earlier one."""
    invoice = _load(invoice_id)
    revision = request.args.get("revision", type=int)  # a bad one (0, -1, 99) is a 404 below
    name = documents.filename(invoice)
    if revision is None or revision == invoice.revision:
        data = documents.invoice_pdf(invoice)
        write_lock()  # a GET that writes: the download goes into the history
        history.log(invoice, "downloaded")
        db.session.commit()
    else:
        path = (
            documents.revision_pdf(invoice, revision) if 0 < revision < invoice.revision else None
        )
        if path is None:
            abort(404)
        data, name = path.read_bytes(), f"{name.removesuffix('.pdf')}-r{revision}.pdf"
    return send_file(
        io.BytesIO(data), mimetype="application/pdf", as_attachment=True, download_name=name
    )
