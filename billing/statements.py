"""Statements of account (« Relevé »): for a client and a period, what was owed before it,
the invoices, credit notes and payments in it, and the balance due at its end.

Everything is computed from the invoices, as of the period's end (« Fin »): a payment
dated after it does not count. Drafts never appear. Amounts stay in their currency: a
client billed in two currencies gets one section per currency. With « Inclure les
clients rattachés », a parent's statement also lists its children's invoices, grouped
by child.

`build` runs a constant number of queries whatever the number of invoices: three sums
for the opening balance and one list per kind (invoices, credit notes, payments).
`send` writes the statement to the outbox with a `Statement` row, whose token opens
it in the client portal (« Tout payer »).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, replace
from datetime import date

from flask import render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select
from sqlalchemy.orm import aliased, contains_eager, joinedload

from billing import documents, history, sending, settings
from billing.formats import date_filter, money_filter
from billing.models import (
    Client,
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    Message,
    Payment,
    Statement,
    db,
)

MAX_YEARS = 10
FIRST_YEAR, LAST_YEAR = 1900, 2999

STATUS_LABELS = {
    "paid": _l("Payée"),
    "cancelled": _l("Annulée"),
    "overdue": _l("En retard"),
    "partial": _l("Paiement partiel"),
    "awaiting": _l("Paiement attendu"),
}


class StatementError(Exception):
    """A refusal, in French, tied to a field of the statement form ("" for the whole form)."""

    def __init__(self, message: str, field: str = ""):
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class Params:
    """What the owner asks for. A `Statement` row has the same attributes: `build` takes either."""

    client: Client
    start: date
    end: date
    unpaid_only: bool = False
    include_children: bool = False


@dataclass
class Line:
    """An invoice of the period, as it stood at the period's end."""

    invoice: Invoice
    paid_cents: int
    credited_cents: int
    status: str  # a key of STATUS_LABELS

    @property
    def balance_cents(self) -> int:
        return self.invoice.total_cents - self.paid_cents - self.credited_cents

    @property
    def label(self) -> str:
        return str(STATUS_LABELS[self.status])


@dataclass
class Group:
    """The lines of one client (the parent, or one of its children)."""

    client: Client
    lines: list[Line] = field(default_factory=list)


@dataclass
class Section:
    """One currency: opening balance, what happened in the period, balance due at its end."""

    currency: str
    opening_cents: int = 0
    invoiced_cents: int = 0
    credited_cents: int = 0
    paid_cents: int = 0
    groups: list[Group] = field(default_factory=list)
    credit_notes: list[Invoice] = field(default_factory=list)
    payments: list[Payment] = field(default_factory=list)
    hidden: int = 0  # invoices left out by « N'afficher que les factures impayées »

    @property
    def balance_cents(self) -> int:
        """The balance due at the end of the period."""
        return self.opening_cents + self.invoiced_cents - self.credited_cents - self.paid_cents

    @property
    def lines(self) -> list[Line]:
        return [line for group in self.groups for line in group.lines]


@dataclass
class StatementView:
    """A statement, ready to show: `sections` in the client's currency first."""

    client: Client
    clients: list[Client]  # the client, then its children when included
    start: date
    end: date
    unpaid_only: bool
    include_children: bool
    as_of: date  # overdue means due before this day: the end, or today if the end is to come
    sections: list[Section]

    @property
    def grouped(self) -> bool:
        """Lines are grouped by client (a parent with its children)."""
        return len(self.clients) > 1

    def balance_text(self) -> str:
        """The balance due at the end, every currency: « 1 200,00 € + 80,00 $ »."""
        return " + ".join(money_filter(s.balance_cents, s.currency) for s in self.sections)


# --- Checks -------------------------------------------------------------------------


def default_period(today: date) -> tuple[date, date]:
    """From the 1st of January to today."""
    return date(today.year, 1, 1), today


def check(start: date, end: date) -> None:
    """Refuse a period that cannot make a statement (StatementError, next to its field)."""
    for name, day in (("start", start), ("end", end)):
        if not FIRST_YEAR <= day.year <= LAST_YEAR:
            raise StatementError(
                _("Choisissez une date entre %(first)d et %(last)d.",
                  first=FIRST_YEAR, last=LAST_YEAR),
                name,
            )
    if end < start:
        raise StatementError(_("« Fin » doit être le même jour que « Début » ou après."), "end")
    if _add_years(start, MAX_YEARS) < end:
        raise StatementError(
            _("Un relevé couvre au plus %(years)d ans : rapprochez « Début » de « Fin ».",
              years=MAX_YEARS),
            "start",
        )


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def issued_count(client: Client) -> int:
    """The client's invoices (its children's included) that left the drafts."""
    return db.session.scalar(
        select(func.count(Invoice.id)).where(
            _of_family(client),
            Invoice.kind == InvoiceKind.INVOICE,
            Invoice.status != InvoiceStatus.DRAFT,
        )
    )


def refusal(client: Client) -> str | None:
    """Why « Relevé » is not offered (fewer than two invoices), or None."""
    count = issued_count(client)
    if count >= 2:
        return None
    if count == 1:
        return _("Un relevé récapitule plusieurs factures : ce client n'en a qu'une, "
                 "envoyez-la directement.")
    return _("Un relevé récapitule plusieurs factures : ce client n'en a encore aucune.")


def _of_family(client: Client):
    children = select(Client.id).where(Client.parent_id == client.id)
    return or_(Invoice.client_id == client.id, Invoice.client_id.in_(children))


# --- The statement ---------------------------------------------------------------------


def build(source: Params | Statement, today: date) -> StatementView:
    """The statement of `source` (the owner's `Params` or a saved `Statement`)."""
    client = source.client
    clients = [client]
    if source.include_children:
        clients += db.session.scalars(
            select(Client).where(Client.parent_id == client.id).order_by(Client.name, Client.id)
        )
    ids = [c.id for c in clients]
    start, end = source.start, source.end
    as_of = min(end, today)

    sections: dict[str, Section] = {}

    def section(currency: str) -> Section:
        return sections.setdefault(currency, Section(currency))

    for currency, cents in _opening(ids, start, end):
        section(currency).opening_cents += cents

    lines_by_client: dict[tuple[str, int], list[Line]] = {}
    for invoice, paid, credited in _invoices(ids, start, end):
        line = Line(invoice, paid, credited, _status(invoice, paid, credited, as_of))
        current = section(invoice.currency)
        current.invoiced_cents += invoice.total_cents
        if source.unpaid_only and line.balance_cents <= 0:
            current.hidden += 1
            continue
        lines_by_client.setdefault((invoice.currency, invoice.client_id), []).append(line)

    for note in _credit_notes(ids, start, end):
        current = section(note.currency)
        current.credited_cents += note.total_cents
        current.credit_notes.append(note)

    for payment in _payments(ids, start, end):
        current = section(payment.invoice.currency)
        current.paid_cents += payment.amount_cents
        current.payments.append(payment)

    for current in sections.values():
        current.groups = [
            Group(c, lines_by_client[(current.currency, c.id)])
            for c in clients
            if (current.currency, c.id) in lines_by_client
        ]
    if not sections:
        section(client.currency)
    ordered = sorted(sections.values(), key=lambda s: (s.currency != client.currency, s.currency))
    return StatementView(
        client=client,
        clients=clients,
        start=start,
        end=end,
        unpaid_only=source.unpaid_only,
        include_children=len(clients) > 1,
        as_of=as_of,
        sections=ordered,
    )


def _issued(ids: list[int], kind: InvoiceKind):
    return (
        Invoice.client_id.in_(ids),
        Invoice.kind == kind,
        Invoice.status != InvoiceStatus.DRAFT,
    )


def _opening(ids: list[int], start: date, end: date) -> list[tuple[str, int]]:
    """What was owed the day before `start`, per currency: invoices issued before it, less
    the credit notes issued and the payments dated before it (three sums)."""
    invoiced = db.session.execute(
        select(Invoice.currency, func.sum(Invoice.total_cents))
        .where(*_issued(ids, InvoiceKind.INVOICE), Invoice.issue_date < start)
        .group_by(Invoice.currency)
    ).all()
    credited = db.session.execute(
        select(Invoice.currency, -func.sum(Invoice.total_cents))
        .where(*_issued(ids, InvoiceKind.CREDIT_NOTE), Invoice.issue_date < start)
        .group_by(Invoice.currency)
    ).all()
    paid = db.session.execute(
        select(Invoice.currency, -func.sum(Payment.amount_cents))
        .join(Payment.invoice)
        .where(*_issued(ids, InvoiceKind.INVOICE), Invoice.issue_date <= end,
               Payment.paid_on < start)
        .group_by(Invoice.currency)
    ).all()
    return [(currency, cents) for currency, cents in (*invoiced, *credited, *paid)]


def _invoices(ids: list[int], start: date, end: date) -> list[tuple[Invoice, int, int]]:
    """The invoices issued in the period, oldest first, each with what was paid and what
    credit notes cancelled of it by the end (one query)."""
    note = aliased(Invoice)
    paid = (
        select(func.coalesce(func.sum(Payment.amount_cents), 0))
        .where(Payment.invoice_id == Invoice.id, Payment.paid_on <= end)
        .scalar_subquery()
    )
    credited = (
        select(func.coalesce(func.sum(note.total_cents), 0))
        .where(
            note.credited_invoice_id == Invoice.id,
            note.kind == InvoiceKind.CREDIT_NOTE,
            note.status != InvoiceStatus.DRAFT,
            note.issue_date <= end,
        )
        .scalar_subquery()
    )
    rows = db.session.execute(
        select(Invoice, paid, credited)
        .where(*_issued(ids, InvoiceKind.INVOICE), Invoice.issue_date.between(start, end))
        .order_by(Invoice.issue_date, Invoice.number, Invoice.id)
    ).all()
    return [(invoice, paid_cents, credited_cents) for invoice, paid_cents, credited_cents in rows]


def _credit_notes(ids: list[int], start: date, end: date) -> list[Invoice]:
    """The credit notes issued in the period, with the invoice each cancels (one query)."""
    return list(
        db.session.scalars(
            select(Invoice)
            .where(*_issued(ids, InvoiceKind.CREDIT_NOTE), Invoice.issue_date.between(start, end))
            .options(joinedload(Invoice.credited_invoice))
            .order_by(Invoice.issue_date, Invoice.number, Invoice.id)
        )
    )


def _payments(ids: list[int], start: date, end: date) -> list[Payment]:
    """The payments dated in the period, with their invoice (one query)."""
    return list(
        db.session.scalars(
            select(Payment)
            .join(Payment.invoice)
            .where(*_issued(ids, InvoiceKind.INVOICE), Invoice.issue_date <= end,
                   Payment.paid_on.between(start, end))
            .options(contains_eager(Payment.invoice))
            .order_by(Payment.paid_on, Payment.id)
        )
    )


def _status(invoice: Invoice, paid: int, credited: int, as_of: date) -> str:
    balance = invoice.total_cents - paid - credited
    if balance <= 0:
        return "cancelled" if credited else "paid"
    if invoice.due_date < as_of:
        return "overdue"
    return "partial" if paid else "awaiting"


# --- PDF ----------------------------------------------------------------------------------


def language(view: StatementView) -> str:
    return view.client.language or "fr"


def filename(view: StatementView) -> str:
    """`Relevé-2026-01-01-2026-11-24.pdf` (« Statement-... » in English)."""
    with force_locale(language(view)):
        return f"{_('Relevé')}-{view.start.isoformat()}-{view.end.isoformat()}.pdf"


def render_html(view: StatementView, portal_url: str | None = None) -> str:
    """The HTML given to xhtml2pdf, in the client's language."""
    business = settings.business()
    with force_locale(language(view)):
        html = render_template(
            "pdf/statement.html",
            view=view,
            business=business,
            logo=documents.logo(business),
            portal_url=portal_url,
        )
    # Helvetica has no narrow no-break space (French digit grouping): use the ordinary one.
    return html.replace("\u202f", "\u00a0")


def pdf(view: StatementView, portal_url: str | None = None) -> bytes:
    return documents.html_to_pdf(render_html(view, portal_url))


# --- Sending ----------------------------------------------------------------------------


def placeholders(view: StatementView) -> dict:
    """{client}, {montant} (the balance due at the end), {debut}, {fin}: the client's language."""
    with force_locale(language(view)):
        return {
            "client": view.client.name,
            "montant": view.balance_text(),
            "debut": date_filter(view.start),
            "fin": date_filter(view.end),
        }


def _fill(text: str, values: dict) -> str:
    """{debut} and {fin} (only statements have them); the others are left to `sending`."""
    return text.replace("{debut}", values["debut"]).replace("{fin}", values["fin"])


def default_draft(view: StatementView) -> sending.Draft:
    """The client's emails, « Relevé de compte », the statement text of its language, filled
    (`{lien}` stays: it is filled when the message is written), the signature, the PDF."""
    business = settings.business()
    if language(view) == "en":
        subject, body = settings.DEFAULT_STATEMENT_SUBJECT_EN, settings.DEFAULT_STATEMENT_BODY_EN
    else:
        subject, body = settings.DEFAULT_STATEMENT_SUBJECT, settings.DEFAULT_STATEMENT_BODY
    values = placeholders(view)
    body = settings.fill_template(_fill(body, values), values)
    return sending.Draft(
        recipients=list(view.client.emails),
        cc=[],
        bcc_me=False,
        subject=settings.fill_template(_fill(subject, values), values),
        body=sending.signed(body, business),
        attach_pdf=True,
    )


def prepare(view: StatementView, draft: sending.Draft, files: list[sending.File], base_url: str,
            token: str = "…") -> sending.Outgoing:
    """Check the draft and compose what will leave (« Aperçu »): the link to the statement
    made from `token`, the statement's PDF, then `files`. Raises SendError; changes nothing."""
    sending.check(draft, files)
    link = sending.portal_link(base_url, f"s/{token}")
    with force_locale(language(view)):
        values = {**placeholders(view), "lien": link}
        draft = replace(draft, subject=_fill(draft.subject, values), body=_fill(draft.body, values))
        attached = []
        if draft.attach_pdf:
            attached.append(sending.File(filename(view), "application/pdf", pdf(view, link),
                                         "statement"))
        return sending.compose(draft, values, attached, files, "email/statement.html", view=view)


def send(view: StatementView, draft: sending.Draft, files: list[sending.File],
         base_url: str) -> Message:
    """Keep the statement (a `Statement` row with its portal token), write the message to the
    outbox and note it in the client's history. No SMTP here: the caller commits, then
    wakes the outbox."""
    token = secrets.token_urlsafe(32)
    outgoing = prepare(view, draft, files, base_url, token)
    statement = Statement(
        client=view.client,
        start=view.start,
        end=view.end,
        unpaid_only=view.unpaid_only,
        include_children=view.include_children,
        token=token,
    )
    db.session.add(statement)
    db.session.flush()
    message = sending.write(
        outgoing,
        kind="statement",
        client=view.client,
        statement_id=statement.id,
    )
    history.log_client(
        view.client,
        "statement_sent",
        _("Relevé du %(start)s au %(end)s envoyé à %(recipients)s",
          start=date_filter(view.start), end=date_filter(view.end),
          recipients=", ".join(outgoing.recipients)),
    )
    db.session.flush()
    return message
