"""The board « Facturation » and the archives: the queries behind them, and the CSV export.

Every function runs a fixed number of queries whatever the number of invoices:
clients are loaded with the invoices, column totals come from one aggregate
query grouped by status and currency, never from summing loaded rows.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

from flask_babel import gettext as _
from sqlalchemy import Select, func, select
from sqlalchemy.orm import contains_eager, joinedload

from billing import money
from billing.models import (
    Client,
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    Job,
    Message,
    MessageState,
    Payment,
    PaymentMethod,
    db,
    utcnow,
)

S = InvoiceStatus
ACTIVE_LIMIT = 100  # cards shown in Préparation, Envoi and Suivi
ARCHIVE_LIMIT = 20  # cards shown in Archives: the full list is the archives page


@dataclass(frozen=True)
class ColumnSpec:
    key: str
    statuses: tuple[InvoiceStatus, ...]
    order_by: tuple
    limit: int
    total_of: str  # "total" (Préparation) or "balance"


COLUMNS = (
    ColumnSpec("preparation", (S.DRAFT,), (Invoice.updated_at.desc(), Invoice.id.desc()),
               ACTIVE_LIMIT, "total"),
    ColumnSpec("sending", (S.TO_SEND,), (Invoice.issue_date, Invoice.id), ACTIVE_LIMIT, "balance"),
    ColumnSpec("follow_up", (S.AWAITING_PAYMENT,), (Invoice.due_date, Invoice.id),
               ACTIVE_LIMIT, "balance"),
    ColumnSpec("archives", (S.PAID, S.CANCELLED),
               (Invoice.updated_at.desc(), Invoice.id.desc()), ARCHIVE_LIMIT, "balance"),
)


@dataclass
class Column:
    spec: ColumnSpec
    invoices: list[Invoice]
    count: int = 0
    totals: dict[str, int] = field(default_factory=dict)  # currency -> cents

    @property
    def key(self) -> str:
        return self.spec.key

    @property
    def hidden(self) -> int:
        """How many invoices of the column are not shown as cards."""
        return self.count - len(self.invoices)


@dataclass(frozen=True)
class Filters:
    client_id: int | None = None
    job_id: int | None = None

    def conditions(self) -> list:
        found = []
        if self.client_id is not None:
            found.append(Invoice.client_id == self.client_id)
        if self.job_id is not None:
            found.append(Invoice.job_id == self.job_id)
        return found


def columns(filters: Filters = Filters()) -> list[Column]:
    """The four columns: their cards (latest first in Archives), counts and totals."""
    conditions = filters.conditions()
    result = []
    for spec in COLUMNS:
        query = (
            select(Invoice)
            .options(joinedload(Invoice.client))
            .where(Invoice.status.in_(spec.statuses), *conditions)
            .order_by(*spec.order_by)
            .limit(spec.limit)
        )
        result.append(Column(spec, list(db.session.scalars(query))))
    _count_and_total(result, conditions)
    return result


def summaries(filters: Filters = Filters()) -> list[Column]:
    """The four columns' counts and totals, without their cards (one query)."""
    result = [Column(spec, []) for spec in COLUMNS]
    _count_and_total(result, filters.conditions())
    return result


def _count_and_total(result: list[Column], conditions: list) -> None:
    by_status = {status: column for column in result for status in column.spec.statuses}
    balance = Invoice.total_cents - Invoice.paid_cents - Invoice.credited_cents
    sums = db.session.execute(
        select(
            Invoice.status,
            Invoice.currency,
            func.count(),
            func.sum(Invoice.total_cents),
            func.sum(balance),
        )
        .where(*conditions)
        .group_by(Invoice.status, Invoice.currency)
    )
    for status, currency, count, total, owed in sums:
        column = by_status[status]
        column.count += count
        amount = total if column.spec.total_of == "total" else owed
        column.totals[currency] = column.totals.get(currency, 0) + amount
    for column in result:
        column.totals = dict(sorted(column.totals.items()))


def column_key(invoice: Invoice) -> str:
    """The column an invoice's card belongs in."""
    return next(spec.key for spec in COLUMNS if invoice.status in spec.statuses)


CHANGES_LIMIT = 50  # cards refreshed by one poll of the board


def changed_since(since: datetime, filters: Filters = Filters()) -> list[Invoice]:
    """The invoices changed after `since` (UTC), oldest change first, for the board's refresh."""
    query = (
        select(Invoice)
        .options(joinedload(Invoice.client))
        .where(Invoice.updated_at > since, *filters.conditions())
        .order_by(Invoice.updated_at.desc(), Invoice.id.desc())
        .limit(CHANGES_LIMIT)
    )
    return list(reversed(db.session.scalars(query).all()))


RECAP_LIMIT = 5  # lines of each kind in « Depuis votre dernière visite »


@dataclass
class Recap:
    """What happened since the owner's last visit of the board."""

    payments: list[Payment]  # the latest, with their invoice and client
    payment_count: int
    clicks: list[Message]  # links opened by clients, the latest first
    click_count: int
    abandoned_count: int  # messages given up, not yet dismissed
    paid_online: set[int]  # invoices paid online (Stripe) since then: a badge on their card

    def __bool__(self) -> bool:
        return bool(self.payment_count or self.click_count or self.abandoned_count)


def since(previous: datetime | None) -> Recap:
    """Payments received, links clicked and messages abandoned since `previous` (UTC);
    on a first visit (`previous` None), only the abandoned messages."""
    previous = previous or utcnow()
    new_payments = select(Payment).where(Payment.created_at > previous)
    clicked = select(Message).where(Message.clicked_at > previous)
    return Recap(
        payments=list(db.session.scalars(
            new_payments.options(joinedload(Payment.invoice).joinedload(Invoice.client))
            .order_by(Payment.created_at.desc(), Payment.id.desc()).limit(RECAP_LIMIT))),
        payment_count=db.session.scalar(select(func.count()).select_from(new_payments.subquery())),
        clicks=list(db.session.scalars(
            clicked.options(joinedload(Message.invoice).joinedload(Invoice.client))
            .order_by(Message.clicked_at.desc(), Message.id.desc()).limit(RECAP_LIMIT))),
        click_count=db.session.scalar(select(func.count()).select_from(clicked.subquery())),
        abandoned_count=db.session.scalar(
            select(func.count(Message.id)).where(
                Message.state == MessageState.ABANDONED, Message.dismissed_at.is_(None))),
        paid_online=set(db.session.scalars(
            new_payments.with_only_columns(Payment.invoice_id)
            .where(Payment.method == PaymentMethod.STRIPE))),
    )


def filter_choices() -> tuple[list[Client], list[Job]]:
    """Every client, and every job with its client (for the filters)."""
    clients = db.session.scalars(select(Client).order_by(func.lower(Client.name), Client.id))
    jobs = (
        select(Job)
        .join(Job.client)
        .options(contains_eager(Job.client))
        .order_by(func.lower(Client.name), Client.id, func.lower(Job.name), Job.id)
    )
    return list(clients), list(db.session.scalars(jobs))


# --- Archives ------------------------------------------------------------------

# The status filter of the archives: key -> what it selects. "" is every document but drafts.
ARCHIVE_STATUSES = (
    "to_send", "awaiting_payment", "overdue", "paid", "cancelled", "credit_note", "draft",
)


@dataclass(frozen=True)
class ArchiveSearch:
    text: str = ""  # in the number or the client's name
    amount_cents: int | None = None  # the exact total
    start: date | None = None  # issue date from
    end: date | None = None  # issue date to
    status: str = ""  # one of ARCHIVE_STATUSES


def archives(search: ArchiveSearch, today: date) -> Select:
    """Every invoice and credit note matching `search`, the most recent first."""
    query = (
        select(Invoice)
        .outerjoin(Invoice.client)
        .options(contains_eager(Invoice.client))
        .order_by(Invoice.issue_date.desc(), Invoice.id.desc())
    )
    text = search.text.strip().lower()
    if text:
        query = query.where(
            func.lower(Invoice.number).contains(text, autoescape=True)
            | func.lower(Client.name).contains(text, autoescape=True)
        )
    if search.amount_cents is not None:
        query = query.where(Invoice.total_cents == search.amount_cents)
    if search.start is not None:
        query = query.where(Invoice.issue_date >= search.start)
    if search.end is not None:
        query = query.where(Invoice.issue_date <= search.end)
    return query.where(*_status_conditions(search.status, today))


def _status_conditions(status: str, today: date) -> list:
    invoice = Invoice.kind == InvoiceKind.INVOICE
    balance = Invoice.total_cents - Invoice.paid_cents - Invoice.credited_cents
    conditions = {
        "": [Invoice.status != S.DRAFT],
        "to_send": [Invoice.status == S.TO_SEND],
        "awaiting_payment": [Invoice.status == S.AWAITING_PAYMENT],
        "overdue": [Invoice.status == S.AWAITING_PAYMENT, Invoice.due_date < today, balance > 0],
        "paid": [Invoice.status == S.PAID, invoice],
        "cancelled": [Invoice.status == S.CANCELLED],
        "credit_note": [Invoice.kind == InvoiceKind.CREDIT_NOTE],
        "draft": [Invoice.status == S.DRAFT],
    }
    return conditions[status]


# --- CSV export ------------------------------------------------------------------

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_header() -> list[str]:
    return [
        _("numéro"), _("type"), _("date"), _("échéance"), _("client"), _("devise"),
        _("HT"), _("taxes"), _("TTC"), _("payé"), _("solde"), _("statut"),
    ]


def csv_row(invoice: Invoice) -> list[str]:
    """One invoice as CSV cells: French dates and decimal commas, text safe for a spreadsheet."""
    return [
        _safe_text(invoice.number or ""),
        _("Avoir") if invoice.is_credit_note else _("Facture"),
        invoice.issue_date.strftime("%d/%m/%Y"),
        invoice.due_date.strftime("%d/%m/%Y"),
        _safe_text(invoice.client.name if invoice.client else ""),
        invoice.currency,
        money.format_plain(invoice.net_cents),
        money.format_plain(invoice.tax_cents),
        money.format_plain(invoice.total_cents),
        money.format_plain(invoice.paid_cents),
        money.format_plain(invoice.balance_cents),
        status_label(invoice.status),
    ]


def write_csv(invoices: Iterable[Invoice]) -> bytes:
    """UTF-8 with a BOM (so Excel reads the accents), `;` between cells."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(csv_header())
    writer.writerows(csv_row(invoice) for invoice in invoices)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def status_label(status: InvoiceStatus) -> str:
    return {
        S.DRAFT: _("Brouillon"),
        S.TO_SEND: _("À envoyer"),
        S.AWAITING_PAYMENT: _("Paiement attendu"),
        S.PAID: _("Payée"),
        S.CANCELLED: _("Annulée"),
    }[status]


def _safe_text(text: str) -> str:
    """A leading quote stops a spreadsheet from running `=HYPERLINK(...)` and friends."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text
