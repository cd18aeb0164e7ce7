"""« Ajouter un paiement » (a modal from the invoice and from a Suivi card) and deleting one.

The same URL is the `<dialog>` for htmx and a full page without JavaScript.
Saved from the board, the answer moves the card out of band; from the invoice
page, it closes the dialog and shows step « Suivi ».
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, SelectChoice, SelectField, TextAreaField
from wtforms.validators import InputRequired, Length

from billing import payments, settings
from billing.formats import money_filter
from billing.invoices import InvalidTransition, InvoiceError
from billing.models import Invoice, Payment, PaymentMethod, db
from blueprints import board as board_view
from blueprints import get_or_404, htmx
from blueprints import invoices as invoice_view
from blueprints.fields import (
    DATE_FORMATS,
    REQUIRED,
    TOO_LONG,
    AmountField,
    strip,
    value_required,
)

bp = Blueprint("payments", __name__)



class PaymentForm(FlaskForm):
    paid_on = DateField(
        _l("Date"), format=DATE_FORMATS, validators=[InputRequired(REQUIRED)]
    )
    amount = AmountField(_l("Montant"), validators=[value_required],
                         render_kw={"inputmode": "decimal"})
    method = SelectField(
        _l("Méthode de paiement"),
        choices=[SelectChoice(method.value, label) for method, label in payments.METHOD_LABELS.items()],
        default=PaymentMethod.BANK_TRANSFER.value,
    )
    notes = TextAreaField(_l("Notes"), filters=[strip],
                          validators=[Length(max=1000, message=TOO_LONG)], render_kw={"rows": 2})


def _from_board() -> bool:
    """Opened from a card of the board (htmx tells the page it was made from)."""
    return htmx and urlsplit(htmx.current_url or "").path == "/"


@bp.route("/invoices/<int:invoice_id>/payments/new", methods=["GET", "POST"])
def add(invoice_id: int):
    invoice = get_or_404(Invoice, invoice_id)
    today = settings.today()
    if request.method == "GET":
        form = PaymentForm(data=dict(paid_on=today, amount=payments.suggested_amount(invoice)))
        return _form(invoice, form)
    form = PaymentForm()
    if form.validate():
        try:
            payments.add(invoice, form.paid_on.data, form.amount.data,
                          PaymentMethod(form.method.data), today, notes=form.notes.data or "")
        except InvalidTransition as error:
            db.session.rollback()
            form.form_errors.append(error.message)
        except InvoiceError as error:
            db.session.rollback()
            target = form[error.field] if error.field in form else None
            (target.errors if target is not None else form.form_errors).append(error.message)
        else:
            db.session.commit()
            return _saved(invoice, _("Paiement de %(amount)s ajouté.",
                                     amount=money_filter(form.amount.data, invoice.currency)))
    return _form(invoice, form, 422)


def _form(invoice: Invoice, form: PaymentForm, status: int = 200):
    """The dialog for htmx's GET, the form alone for its POST, else the whole page."""
    if not htmx:
        template = "payments/add.html"
    elif request.method == "GET":
        template = "payments/_dialog.html"
    else:
        template = "payments/_form.html"
    return render_template(template, invoice=invoice, form=form,
                           suggested=payments.suggested_amount(invoice)), status


def _saved(invoice: Invoice, message: str):
    """The dialog closes; the card moves on the board, or the invoice page shows « Suivi »."""
    if _from_board():
        return board_view.refreshed([invoice]), 200, {"HX-Trigger": "close-dialog"}
    if htmx:
        html, status, headers = invoice_view.after_action(invoice, "follow_up", message)
        # Closed after the swap: closing first would detach the form, and htmx would then
        # look for #invoice in the detached dialog.
        headers.update({"HX-Retarget": "#invoice", "HX-Reswap": "outerHTML",
                        "HX-Trigger-After-Swap": "close-dialog"})
        return html, status, headers
    return invoice_view.after_action(invoice, "follow_up", message)


@bp.route("/payments/<int:payment_id>/delete", methods=["GET", "POST"])
def delete(payment_id: int):
    """Delete a payment recorded by mistake, after a confirmation page."""
    payment = get_or_404(Payment, payment_id)
    invoice = payment.invoice
    if request.method == "GET":
        return render_template("payments/delete.html", payment=payment, invoice=invoice,
                               method_labels=payments.METHOD_LABELS)
    try:
        payments.delete(payment)
    except InvalidTransition as error:
        db.session.rollback()
        flash(error.message, "error")
        return render_template("payments/delete.html", payment=payment, invoice=invoice,
                               method_labels=payments.METHOD_LABELS), 409
    db.session.commit()
    flash(_("Paiement supprimé : le solde est de %(balance)s.",
            balance=money_filter(invoice.balance_cents, invoice.currency)), "success")
    return redirect(url_for("invoices.show", invoice_id=invoice.id, step="follow_up"), 303)
