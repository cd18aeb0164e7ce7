"""The life of an invoice: draft → finalize → mark sent → paid; revise; credit note.

Every verb checks the invoice's status first and raises `InvalidTransition`
or `InvoiceError` (with the form field it concerns and a French message)
before changing anything. Totals are recomputed and stored on every change.
Verbs flush; the caller commits once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from billing import history, money, numbering, settings
from billing.models import (
    Client,
    Instalment,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceLineTax,
    InvoiceStatus,
    InvoiceTax,
    Item,
    Job,
    TaxRate,
    db,
    utcnow,
)

MAX_TERMS_DAYS = 365
MAX_QUANTITY = 1_000_000
EDITABLE = (InvoiceStatus.DRAFT, InvoiceStatus.TO_SEND, InvoiceStatus.AWAITING_PAYMENT)


class InvoiceError(Exception):
    """A refusal, in French, tied to a form field (or "" for the whole invoice)."""

    def __init__(self, message: str, field: str = ""):
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidTransition(InvoiceError):
    pass


STATUS_LABELS = {
    InvoiceStatus.DRAFT: _l("Brouillon"),
    InvoiceStatus.TO_SEND: _l("À envoyer"),
    InvoiceStatus.AWAITING_PAYMENT: _l("Paiement attendu"),
    InvoiceStatus.PAID: _l("Payée"),
    InvoiceStatus.CANCELLED: _l("Annulée"),
}


def _require(invoice: Invoice, *allowed: InvoiceStatus, action: str) -> None:
    if invoice.status not in allowed:
        raise InvalidTransition(
            _(
                "Impossible de %(action)s une facture au statut « %(status)s ».",
                action=action,
                status=STATUS_LABELS[invoice.status],
            )
        )


# --- Drafts -------------------------------------------------------------------


def default_terms(client: Client | None) -> int:
    if client is not None and client.payment_terms_days is not None:
        return client.payment_terms_days
    return settings.business().payment_terms_days


def create_draft(today: date, client: Client | None = None, job: Job | None = None) -> Invoice:
    """A new draft dated today, with the client's terms and currency."""
    business = settings.business()
    terms = default_terms(client)
    invoice = Invoice(
        kind=InvoiceKind.INVOICE,
        status=InvoiceStatus.DRAFT,
        client=client,
        job=job,
        issue_date=today,
        payment_terms_days=terms,
        due_date=today + timedelta(days=terms),
        currency=client.currency if client else business.currency,
        footer=business.legal_footer,
        revision=1,
        paid_cents=0,
        credited_cents=0,
    )
    db.session.add(invoice)
    db.session.flush()
    history.log(invoice, "created")
    return invoice


@dataclass
class Header:
    """What the top of the editor sets. `due_date` None means issue date + terms."""

    client: Client | None
    job: Job | None
    issue_date: date
    payment_terms_days: int
    due_date: date | None = None
    currency: str | None = None
    reference: str = ""
    notes: str = ""
    footer: str = ""


def update_header(invoice: Invoice, header: Header) -> None:
    _before_edit(invoice)
    if invoice.status is not InvoiceStatus.DRAFT and header.client is None:
        raise InvoiceError(_("Une facture finalisée doit avoir un client."), "client_id")
    if header.job is not None and header.client is not None and header.job.client_id != header.client.id:
        raise InvoiceError(_("Ce dossier appartient à un autre client."), "job_id")
    if not 0 <= header.payment_terms_days <= MAX_TERMS_DAYS:
        raise InvoiceError(
            _("Le délai de paiement doit être compris entre 0 et %(max)s jours.", max=MAX_TERMS_DAYS),
            "payment_terms_days",
        )
    due = header.due_date or header.issue_date + timedelta(days=header.payment_terms_days)
    if due < header.issue_date:
        raise InvoiceError(
            _("L'échéance ne peut pas précéder la date de la facture."), "due_date"
        )
    currency = header.currency or (header.client.currency if header.client else invoice.currency)
    if currency not in money.CURRENCIES:
        raise InvoiceError(_("Devise inconnue."), "currency")
    if invoice.status is not InvoiceStatus.DRAFT and header.issue_date != invoice.issue_date:
        raise InvoiceError(
            _("La date d'une facture numérotée ne change pas : "
              "les numéros suivent l'ordre des dates."),
            "issue_date",
        )
    invoice.client = header.client
    invoice.job = header.job
    invoice.issue_date = header.issue_date
    invoice.payment_terms_days = (due - header.issue_date).days
    invoice.due_date = due
    invoice.currency = currency
    invoice.reference = header.reference.strip()
    invoice.notes = header.notes.strip()
    invoice.footer = header.footer.strip()
    recompute(invoice)


def add_line(invoice: Invoice, item: Item | None = None) -> InvoiceLine:
    """A free line, or a copy of a catalog item (name, unit, price, its tax rates)."""
    _before_edit(invoice)
    line = InvoiceLine(
        position=len(invoice.lines), description="", quantity_millis=1000, unit="", unit_price_cents=0
    )
    if item is not None:
        line.item_id = item.id
        line.description = "\n".join(p for p in (item.name, item.description) if p)
        line.unit = item.unit
        line.unit_price_cents = item.unit_price_cents
        line.taxes = [_copy_rate(rate) for rate in item.tax_rates if rate.active]
    invoice.lines.append(line)
    recompute(invoice)
    return line


@dataclass
class LineDetails:
    description: str
    quantity: Decimal
    unit: str
    unit_price_cents: int
    discount_percent: Decimal | None = None
    discount_cents: int | None = None
    tax_rates: tuple[TaxRate, ...] = ()


def update_line(line: InvoiceLine, details: LineDetails) -> None:
    invoice = line.invoice
    _before_edit(invoice)
    if details.quantity <= 0:
        raise InvoiceError(_("La quantité doit être positive."), "quantity")
    if details.quantity > MAX_QUANTITY:
        raise InvoiceError(_("La quantité est trop grande."), "quantity")
    if details.quantity.as_tuple().exponent < -3:
        raise InvoiceError(_("La quantité a au plus 3 décimales."), "quantity")
    if details.unit_price_cents < 0:
        raise InvoiceError(_("Le prix unitaire ne peut pas être négatif."), "unit_price")
    discount = money.Discount(details.discount_percent, details.discount_cents)
    try:
        money.Line(details.quantity, details.unit_price_cents, discount).net_cents
    except money.AmountError as error:
        raise InvoiceError(str(error), "discount") from error
    line.description = details.description.strip()
    line.quantity_millis = int(details.quantity * 1000)
    line.unit = details.unit.strip()
    line.unit_price_cents = details.unit_price_cents
    line.discount_percent_millis = (
        int(details.discount_percent * 1000) if details.discount_percent is not None else None
    )
    line.discount_cents = details.discount_cents
    current = {tax.tax_rate_id: tax for tax in line.taxes}
    line.taxes = [current.get(rate.id) or _copy_rate(rate) for rate in details.tax_rates]
    recompute(invoice)


def remove_line(line: InvoiceLine) -> None:
    invoice = line.invoice
    _before_edit(invoice)
    invoice.lines.remove(line)
    _renumber(invoice)
    recompute(invoice)


def move_line(line: InvoiceLine, offset: int) -> None:
    """Move a line up (-1) or down (+1)."""
    invoice = line.invoice
    _before_edit(invoice)
    lines = list(invoice.lines)
    index = lines.index(line)
    target = min(max(index + offset, 0), len(lines) - 1)
    lines.insert(target, lines.pop(index))
    for position, each in enumerate(lines):
        each.position = position
    invoice.lines.sort(key=lambda each: each.position)
    db.session.flush()


def set_instalments(invoice: Invoice, schedule: list[tuple[date, money.InstalmentSpec]]) -> None:
    """Replace the payment schedule; amounts must add up exactly to the total."""
    _before_edit(invoice)
    for due, _spec in schedule:
        if due < invoice.issue_date:
            raise InvoiceError(
                _("Une échéance ne peut pas précéder la date de la facture."), "instalments"
            )
    try:
        amounts = money.split_instalments(invoice.total_cents, [spec for _due, spec in schedule])
    except money.AmountError as error:
        raise InvoiceError(str(error), "instalments") from error
    invoice.instalments = [
        Instalment(
            position=position,
            due_date=due,
            percent_millis=int(spec.percent * 1000) if spec.percent is not None else None,
            amount_cents=amount,
        )
        for position, ((due, spec), amount) in enumerate(zip(schedule, amounts, strict=True))
    ]
    if schedule:
        invoice.due_date = max(due for due, _spec in schedule)
    db.session.flush()


def delete_draft(invoice: Invoice) -> None:
    """Only a draft can be deleted: a numbered invoice is cancelled by a credit note."""
    _require(invoice, InvoiceStatus.DRAFT, action=_("supprimer"))
    db.session.delete(invoice)
    db.session.flush()


def duplicate(invoice: Invoice, today: date) -> Invoice:
    """A new draft with the same client, job and lines, dated today."""
    copy = create_draft(today, invoice.client, invoice.job)
    copy.reference = invoice.reference
    copy.notes = invoice.notes
    copy.footer = invoice.footer
    copy.currency = invoice.currency
    copy.lines = [_copy_line(line) for line in invoice.lines]
    recompute(copy)
    history.log(copy, "duplicated", invoice.number or "")
    return copy


# --- Totals -------------------------------------------------------------------


def recompute(invoice: Invoice) -> None:
    """Store each line's net, each tax (on the sum of its nets) and the totals."""
    totals = money.compute_totals(
        [
            money.Line(
                _quantity(line),
                line.unit_price_cents,
                _discount(line),
                tuple(money.TaxKey(t.name, t.rate_millis, t.registration_number) for t in line.taxes),
            )
            for line in invoice.lines
        ]
    )
    for line, net in zip(invoice.lines, totals.line_nets, strict=True):
        line.net_cents = net
    invoice.taxes = [
        InvoiceTax(
            position=position,
            name=tax.key.name,
            rate_millis=tax.key.rate_millis,
            registration_number=tax.key.registration_number,
            base_cents=tax.base_cents,
            amount_cents=tax.amount_cents,
        )
        for position, tax in enumerate(totals.taxes)
    ]
    invoice.net_cents = totals.net_cents
    invoice.tax_cents = totals.tax_cents
    invoice.total_cents = totals.total_cents
    _rescale_instalments(invoice)
    db.session.flush()


def instalments_valid(invoice: Invoice) -> bool:
    return not invoice.instalments or (
        sum(i.amount_cents for i in invoice.instalments) == invoice.total_cents
    )


def _rescale_instalments(invoice: Invoice) -> None:
    """Percentages follow a new total; a schedule in amounts that no longer adds up is kept
    as typed, and finalize refuses it until it is corrected."""
    if not invoice.instalments or any(i.percent_millis is None for i in invoice.instalments):
        return
    specs = [money.InstalmentSpec(percent=Decimal(i.percent_millis) / 1000) for i in invoice.instalments]
    try:
        amounts = money.split_instalments(invoice.total_cents, specs)
    except money.AmountError:
        return
    for instalment, amount in zip(invoice.instalments, amounts, strict=True):
        instalment.amount_cents = amount


# --- Lifecycle ----------------------------------------------------------------


def finalize(invoice: Invoice, today: date) -> None:
    """Give a draft its legal number (same transaction) and make it ready to send.

    The caller first calls `numbering.lock()` so that the number is read and
    taken under the database's write lock.
    """
    _require(invoice, InvoiceStatus.DRAFT, action=_("finaliser"))
    check_ready(invoice)
    for line in invoice.lines:
        for tax in line.taxes:
            rate = db.session.get(TaxRate, tax.tax_rate_id) if tax.tax_rate_id else None
            if rate is not None:
                tax.name, tax.rate_millis = rate.name, rate.rate_millis
                tax.registration_number = rate.registration_number
                rate.locked = True
    recompute(invoice)
    invoice.number = numbering.allocate("invoice", invoice.issue_date)
    invoice.status = InvoiceStatus.TO_SEND
    invoice.finalized_at = utcnow()
    history.log(invoice, "finalized", invoice.number)
    db.session.flush()


def check_ready(invoice: Invoice) -> None:
    """Everything a finalized invoice must have; raises the first thing missing."""
    if invoice.client is None:
        raise InvoiceError(_("Choisissez un client avant de finaliser."), "client_id")
    if not invoice.lines:
        raise InvoiceError(_("Ajoutez au moins une ligne avant de finaliser."), "lines")
    if any(not line.description.strip() for line in invoice.lines):
        raise InvoiceError(_("Chaque ligne doit avoir une description."), "lines")
    if invoice.client.by_email and not invoice.client.emails:
        raise InvoiceError(
            _("Ce client reçoit ses factures par email mais n'a aucune adresse : "
              "ajoutez-en une sur sa fiche."),
            "client_id",
        )
    if invoice.total_cents < 0:
        raise InvoiceError(_("Le total ne peut pas être négatif."), "lines")
    if not instalments_valid(invoice):
        raise InvoiceError(
            _("Le calendrier de paiement ne totalise pas le montant de la facture."), "instalments"
        )


def mark_sent(invoice: Invoice) -> None:
    """« Facture envoyée »: sent by hand or by post; now awaiting payment."""
    _require(invoice, InvoiceStatus.TO_SEND, InvoiceStatus.AWAITING_PAYMENT, action=_("marquer comme envoyée"))
    _record_sending(invoice)
    history.log(invoice, "sent_manually")
    db.session.flush()


def record_emailed(invoice: Invoice, recipients: str = "") -> None:
    """Sent by email (the message is in the outbox): now awaiting payment."""
    _require(invoice, InvoiceStatus.TO_SEND, InvoiceStatus.AWAITING_PAYMENT, action=_("envoyer"))
    _record_sending(invoice)
    history.log(invoice, "emailed", recipients)
    db.session.flush()


def _record_sending(invoice: Invoice) -> None:
    invoice.sent_at = invoice.sent_at or utcnow()
    invoice.sent_revision = invoice.revision
    if invoice.status is InvoiceStatus.TO_SEND:
        invoice.status = InvoiceStatus.AWAITING_PAYMENT
        if invoice.balance_cents <= 0:
            invoice.status = InvoiceStatus.PAID


def change_number(invoice: Invoice, number: str) -> None:
    """Edit the number of a finalized invoice before its first sending."""
    _require(invoice, InvoiceStatus.TO_SEND, action=_("renuméroter"))
    if invoice.sent_at is not None:
        raise InvoiceError(_("Le numéro ne change plus après le premier envoi."), "number")
    number = number.strip()
    if not number or len(number) > 40:
        raise InvoiceError(_("Le numéro est obligatoire (40 caractères au plus)."), "number")
    taken = db.session.scalar(select(Invoice.id).where(Invoice.number == number, Invoice.id != invoice.id))
    if taken is not None:
        raise InvoiceError(_("Le numéro %(number)s est déjà utilisé.", number=number), "number")
    old = invoice.number
    invoice.number = number
    numbering.continue_after("invoice", invoice.issue_date, number)
    history.log(invoice, "renumbered", f"{old} → {number}")
    db.session.flush()


def _before_edit(invoice: Invoice) -> None:
    """Drafts change freely; a numbered invoice that already left gets a new revision."""
    _require(invoice, *EDITABLE, action=_("modifier"))
    if invoice.status is not InvoiceStatus.DRAFT and invoice.sent_revision == invoice.revision:
        invoice.revision += 1
        history.log(invoice, "revised", str(invoice.revision))


def needs_resend(invoice: Invoice) -> bool:
    """A revision newer than the one the client has."""
    return invoice.sent_revision is not None and invoice.revision > invoice.sent_revision


def cancel(invoice: Invoice, today: date) -> Invoice:
    """Cancel a numbered invoice with a credit note (« Avoir ») that mirrors it."""
    _require(invoice, InvoiceStatus.TO_SEND, InvoiceStatus.AWAITING_PAYMENT, action=_("annuler"))
    if invoice.is_credit_note:
        raise InvalidTransition(_("Un avoir ne s'annule pas."))
    if invoice.paid_cents:
        raise InvoiceError(
            _("Cette facture a reçu un paiement : supprimez-le d'abord pour l'annuler."), ""
        )
    note = Invoice(
        kind=InvoiceKind.CREDIT_NOTE,
        status=InvoiceStatus.PAID,
        client=invoice.client,
        job=invoice.job,
        issue_date=today,
        payment_terms_days=0,
        due_date=today,
        currency=invoice.currency,
        reference=invoice.number or "",
        footer=invoice.footer,
        credited_invoice=invoice,
        revision=1,
        paid_cents=0,
        credited_cents=0,
        lines=[_copy_line(line) for line in invoice.lines],
    )
    db.session.add(note)
    recompute(note)
    note.number = numbering.allocate("credit_note", today)
    note.finalized_at = utcnow()
    note.credited_cents = note.total_cents  # an issued credit note owes nothing
    invoice.credited_cents = invoice.balance_cents
    invoice.status = InvoiceStatus.CANCELLED
    history.log(note, "finalized", note.number)
    history.log(invoice, "cancelled", note.number)
    db.session.flush()
    return note


# --- Helpers ------------------------------------------------------------------


def _quantity(line: InvoiceLine) -> Decimal:
    return Decimal(line.quantity_millis) / 1000


def _discount(line: InvoiceLine) -> money.Discount:
    if line.discount_percent_millis is not None:
        return money.Discount(percent=Decimal(line.discount_percent_millis) / 1000)
    if line.discount_cents:
        return money.Discount(cents=line.discount_cents)
    return money.NO_DISCOUNT


def _copy_rate(rate: TaxRate) -> InvoiceLineTax:
    return InvoiceLineTax(
        tax_rate_id=rate.id,
        name=rate.name,
        rate_millis=rate.rate_millis,
        registration_number=rate.registration_number,
    )


def _copy_line(line: InvoiceLine) -> InvoiceLine:
    return InvoiceLine(
        position=line.position,
        item_id=line.item_id,
        description=line.description,
        quantity_millis=line.quantity_millis,
        unit=line.unit,
        unit_price_cents=line.unit_price_cents,
        discount_percent_millis=line.discount_percent_millis,
        discount_cents=line.discount_cents,
        taxes=[
            InvoiceLineTax(
                tax_rate_id=tax.tax_rate_id,
                name=tax.name,
                rate_millis=tax.rate_millis,
                registration_number=tax.registration_number,
            )
            for tax in line.taxes
        ],
    )


def _renumber(invoice: Invoice) -> None:
    for position, line in enumerate(invoice.lines):
        line.position = position
