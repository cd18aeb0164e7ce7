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
from sqlalchemy import func, select

from billing import documents, history, lifecycle, money, numbering, settings
from billing.formats import date_filter, money_filter
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
    Payment,
    TaxRate,
    db,
    utcnow,
)

MAX_TERMS_DAYS = 365
MAX_QUANTITY = 1_000_000
# Every date of an invoice lies in this range (a typo such as 0026 or 9999 is refused).
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2100, 12, 31)


class InvoiceError(Exception):
    """A refusal, in French, tied to a form field (or "" for the whole invoice)."""

    def __init__(self, message: str, field: str = ""):
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidTransition(InvoiceError):
    pass


def _require(invoice: Invoice, allowed: bool, action: str) -> None:
    """Refuse the verb unless `allowed` (the answer of its predicate in `lifecycle`)."""
    if not allowed:
        raise InvalidTransition(
            _(
                "Impossible de %(action)s une facture au statut « %(status)s ».",
                action=action,
                status=lifecycle.status_label(invoice),
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
    """What the top of the editor posts. `due_date` None (or left as it was while the issue
    date or the terms changed) means issue date + terms; a new client brings its own terms
    and currency, and a job of another client is dropped."""

    client: Client | None
    job: Job | None
    issue_date: date
    payment_terms_days: int
    due_date: date | None = None
    currency: str | None = None
    reference: str = ""
    notes: str = ""
    footer: str = ""
    service_start: date | None = None
    service_end: date | None = None


def header_of(invoice: Invoice, **changes) -> Header:
    """The invoice's header as it stands, with `changes`."""
    values = dict(
        client=invoice.client,
        job=invoice.job,
        issue_date=invoice.issue_date,
        payment_terms_days=invoice.payment_terms_days,
        due_date=invoice.due_date,
        currency=invoice.currency,
        reference=invoice.reference,
        notes=invoice.notes,
        footer=invoice.footer,
        service_start=invoice.service_start,
        service_end=invoice.service_end,
    )
    values.update(changes)
    return Header(**values)


def update_header(invoice: Invoice, header: Header) -> None:
    _before_edit(invoice)
    terms, due, currency, job = (
        header.payment_terms_days, header.due_date, header.currency, header.job
    )
    if header.client is not invoice.client:
        if header.client is not None:
            terms, currency = default_terms(header.client), header.client.currency
            if job is not None and job.client_id != header.client.id:
                job = None
        due = None
    elif due == invoice.due_date and (
        header.issue_date != invoice.issue_date or terms != invoice.payment_terms_days
    ):
        due = None
    if lifecycle.is_numbered(invoice) and header.client is None:
        raise InvoiceError(_("Une facture finalisée doit avoir un client."), "client_id")
    if job is not None and header.client is not None and job.client_id != header.client.id:
        raise InvoiceError(_("Ce dossier appartient à un autre client."), "job_id")
    if not 0 <= terms <= MAX_TERMS_DAYS:
        raise InvoiceError(
            _("Le délai de paiement doit être compris entre 0 et %(max)s jours.", max=MAX_TERMS_DAYS),
            "payment_terms_days",
        )
    _check_day(header.issue_date, "issue_date")
    due = due or header.issue_date + timedelta(days=terms)
    _check_day(due, "due_date")
    if due < header.issue_date:
        raise InvoiceError(
            _("L'échéance ne peut pas précéder la date de la facture."), "due_date"
        )
    _check_service(header.service_start, header.service_end)
    currency = currency or (header.client.currency if header.client else invoice.currency)
    if currency not in money.CURRENCIES:
        raise InvoiceError(_("Devise inconnue."), "currency")
    if header.issue_date != invoice.issue_date:
        if lifecycle.is_numbered(invoice):
            raise InvoiceError(
                _("La date d'une facture numérotée ne change pas : "
                  "les numéros suivent l'ordre des dates."),
                "issue_date",
            )
        invoice.issue_date_chosen = True
    invoice.client = header.client
    invoice.job = job
    invoice.issue_date = header.issue_date
    invoice.payment_terms_days = (due - header.issue_date).days
    invoice.due_date = due
    invoice.currency = currency
    invoice.reference = header.reference.strip()
    invoice.notes = header.notes.strip()
    invoice.footer = header.footer.strip()
    invoice.service_start = header.service_start
    invoice.service_end = header.service_end if header.service_start else None
    recompute(invoice)


def _check_day(day: date, field: str) -> None:
    if not FIRST_DAY <= day <= LAST_DAY:
        raise InvoiceError(
            _("Date hors limites : choisissez une date entre %(first)s et %(last)s.",
              first=FIRST_DAY.year, last=LAST_DAY.year),
            field,
        )


def _check_service(start: date | None, end: date | None) -> None:
    """« Date de la prestation »: a day, or a period « du … au … »."""
    if end is not None and start is None:
        raise InvoiceError(_("Indiquez le début de la prestation."), "service_start")
    if start is not None:
        _check_day(start, "service_start")
    if end is not None:
        _check_day(end, "service_end")
        if end < start:
            raise InvoiceError(
                _("La fin de la prestation ne peut pas précéder son début."), "service_end"
            )


def service_period(invoice: Invoice) -> tuple[date, date | None]:
    """The work's date (or first day) and last day; the issue date when none was given."""
    if invoice.service_start is None:
        return invoice.issue_date, None
    end = invoice.service_end if invoice.service_end != invoice.service_start else None
    return invoice.service_start, end


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
        _check_day(due, "instalments")
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
    if invoice.paid_cents:
        raise InvoiceError(
            _("Ce brouillon reprend les paiements de la facture qu'il corrige : "
              "finalisez-le, ou supprimez d'abord ses paiements.")
        )
    _require(invoice, lifecycle.can_delete(invoice), action=_("supprimer"))
    db.session.delete(invoice)
    db.session.flush()


def duplicate(invoice: Invoice, today: date) -> Invoice:
    """A new draft with the same client, job and lines, dated today."""
    copy = _copy(invoice, today)
    history.log(copy, "duplicated", invoice.number or "")
    return copy


def _copy(invoice: Invoice, today: date) -> Invoice:
    copy = create_draft(today, invoice.client, invoice.job)
    copy.reference = invoice.reference
    copy.notes = invoice.notes
    copy.footer = invoice.footer
    copy.currency = invoice.currency
    copy.lines = [_copy_line(line) for line in invoice.lines]
    recompute(copy)
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

    Numbers follow the order of dates: a draft whose date was never chosen is dated
    today; a chosen date may not precede the last numbered invoice's, nor be later than
    tomorrow. The caller first calls `numbering.lock()` so that the number (and the last
    date) is read and taken under the database's write lock.
    """
    _require(invoice, lifecycle.can_finalize(invoice), action=_("finaliser"))
    if not invoice.issue_date_chosen and invoice.issue_date != today:
        shift = today - invoice.issue_date
        invoice.issue_date = today
        invoice.due_date += shift
    _check_issue_date(invoice, today)
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


def last_issue_date(kind: InvoiceKind = InvoiceKind.INVOICE) -> date | None:
    """The date of the latest numbered document of the series: the next may not be earlier."""
    return db.session.scalar(
        select(func.max(Invoice.issue_date)).where(
            Invoice.kind == kind, Invoice.number.is_not(None)
        )
    )


def _check_issue_date(invoice: Invoice, today: date) -> None:
    _check_day(invoice.issue_date, "issue_date")
    if invoice.issue_date > today + timedelta(days=1):
        raise InvoiceError(
            _("La date de la facture ne peut pas dépasser demain (%(day)s).",
              day=date_filter(today + timedelta(days=1))),
            "issue_date",
        )
    last = last_issue_date()
    if last is not None and invoice.issue_date < last:
        raise InvoiceError(
            _("La date de la facture ne peut pas précéder celle de la dernière facture "
              "numérotée (%(day)s) : les numéros suivent l'ordre des dates.",
              day=date_filter(last)),
            "issue_date",
        )
    if any(each.due_date < invoice.issue_date for each in invoice.instalments):
        raise InvoiceError(
            _("Une échéance ne peut pas précéder la date de la facture."), "instalments"
        )


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
    if invoice.total_cents < invoice.paid_cents:
        raise InvoiceError(
            _("Ce brouillon reprend %(paid)s déjà payés : son total ne peut pas être "
              "inférieur. Remboursez la différence au client et supprimez le paiement, "
              "ou corrigez les lignes.",
              paid=money_filter(invoice.paid_cents, invoice.currency)),
            "lines",
        )
    if not lifecycle.instalments_valid(invoice):
        raise InvoiceError(
            _("Le calendrier de paiement ne totalise pas le montant de la facture."), "instalments"
        )


def mark_sent(invoice: Invoice) -> None:
    """« Facture envoyée »: sent by hand or by post; now issued and awaiting payment."""
    _require(invoice, lifecycle.can_mark_sent(invoice), action=_("marquer comme envoyée"))
    _issue(invoice)
    history.log(invoice, "sent_manually")
    db.session.flush()


def record_emailed(invoice: Invoice, recipients: str = "", pdf: bytes | None = None) -> None:
    """Sent by email (the message is in the outbox, `pdf` attached): issued, awaiting payment."""
    _require(invoice, lifecycle.can_send(invoice), action=_("envoyer"))
    _issue(invoice, pdf)
    history.log(invoice, "emailed", recipients)
    db.session.flush()


def _issue(invoice: Invoice, pdf: bytes | None = None) -> None:
    """The first sending makes the invoice a legal record: locked, its PDF archived as sent."""
    first = not lifecycle.is_issued(invoice)
    invoice.sent_at = invoice.sent_at or utcnow()
    invoice.sent_revision = invoice.revision
    documents.archive(invoice, pdf)
    if first:
        paid = invoice.balance_cents <= 0
        invoice.status = InvoiceStatus.PAID if paid else InvoiceStatus.AWAITING_PAYMENT


def change_number(invoice: Invoice, number: str) -> None:
    """Edit the number of a finalized invoice before its first sending."""
    if not lifecycle.number_editable(invoice):
        raise InvalidTransition(_("Le numéro ne change plus après le premier envoi."), "number")
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
    """Refuse any change to an issued invoice: it is corrected by a credit note instead."""
    if lifecycle.is_issued(invoice) and not invoice.is_credit_note:
        raise InvalidTransition(str(LOCKED))
    _require(invoice, lifecycle.can_edit(invoice), action=_("modifier"))


LOCKED = _l(
    "Cette facture a été envoyée : elle ne peut plus être modifiée. "
    "Pour la rectifier, utilisez « Corriger la facture » (un avoir l'annule et une "
    "nouvelle facture est préparée à partir d'elle)."
)


def cancel(invoice: Invoice, today: date) -> Invoice:
    """Cancel a numbered invoice with a credit note (« Avoir ») that mirrors it."""
    if invoice.paid_cents and not invoice.is_credit_note:
        raise InvoiceError(
            _("Cette facture a reçu un paiement : supprimez-le d'abord pour l'annuler."), ""
        )
    _require(invoice, lifecycle.can_cancel(invoice), action=_("annuler"))
    note = _credit_note(invoice, today)
    history.log(invoice, "cancelled", note.number)
    db.session.flush()
    return note


def correct(invoice: Invoice, today: date) -> tuple[Invoice, Invoice]:
    """« Corriger la facture »: a credit note cancels the issued invoice and a new draft is
    copied from it, in one transaction. Its payments move to the new draft, which then may
    not be finalized for less than they add up to. Returns (credit note, new draft)."""
    _require(invoice, lifecycle.can_correct(invoice), action=_("corriger"))
    draft = _copy(invoice, today)
    draft.payment_terms_days = invoice.payment_terms_days
    draft.due_date = today + timedelta(days=invoice.payment_terms_days)
    draft.service_start, draft.service_end = invoice.service_start, invoice.service_end
    draft.replaces = invoice
    moved = db.session.scalars(select(Payment).where(Payment.invoice_id == invoice.id))
    for payment in moved:
        payment.invoice = draft
    draft.paid_cents, invoice.paid_cents = invoice.paid_cents, 0
    invoice.status = InvoiceStatus.AWAITING_PAYMENT  # what it is owed now is cancelled below
    note = _credit_note(invoice, today)
    history.log(invoice, "corrected", f"{note.number} {draft.id}")
    history.log(draft, "correction_of", invoice.number or "")
    if draft.paid_cents:
        history.log(draft, "payments_moved", f"{draft.paid_cents} {invoice.number}")
    db.session.flush()
    return note, draft


def _credit_note(invoice: Invoice, today: date) -> Invoice:
    """Issue the credit note that cancels `invoice` (its own series, referring to it)."""
    note = Invoice(
        kind=InvoiceKind.CREDIT_NOTE,
        status=InvoiceStatus.PAID,
        client=invoice.client,
        job=invoice.job,
        issue_date=today,
        issue_date_chosen=True,
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
