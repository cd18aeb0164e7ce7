"""The registers « Facturier », « Facturier email », « Facturier papier ».

Every numbered invoice and credit note; those of the clients who receive
them by email; those of the clients on paper. Listing runs a fixed number of
queries whatever the number of rows (clients joined, the last message of the
page's invoices in one query). From a register, several invoices go by email
in one batch (`send_batch`) or are printed as one PDF (`print_pdf`).
"""

from __future__ import annotations

import io
import secrets
from dataclasses import dataclass, field

from flask_babel import gettext as _
from pypdf import PdfWriter
from sqlalchemy import Select, func, select
from sqlalchemy.orm import contains_eager, joinedload, selectinload

from billing import documents, history, invoices, lifecycle, sending
from billing.models import Client, Invoice, InvoiceLine, InvoiceStatus, Message, MessageState, db

REGISTERS = ("all", "email", "paper")
MAX_SELECTION = 200  # invoices sent or printed at once


class SelectionError(Exception):
    """A selection that cannot be used as it is (empty, too long), in French."""


class UnknownInvoice(LookupError):
    """An id of the selection is not a numbered invoice of the register."""


@dataclass(frozen=True)
class Filters:
    client_id: int | None = None
    unsent_only: bool = False


def listing(register: str, filters: Filters = Filters()) -> Select:
    """The register's numbered invoices and credit notes, the most recent first."""
    query = (
        select(Invoice)
        .outerjoin(Invoice.client)
        .options(contains_eager(Invoice.client))
        .where(Invoice.status != InvoiceStatus.DRAFT, *_conditions(register))
        .order_by(Invoice.issue_date.desc(), Invoice.id.desc())
    )
    if filters.client_id is not None:
        query = query.where(Invoice.client_id == filters.client_id)
    if filters.unsent_only:
        query = query.where(Invoice.sent_at.is_(None))
    return query


def _conditions(register: str) -> list:
    return {
        "all": [],
        "email": [Client.by_email.is_(True)],
        "paper": [Client.by_email.is_(False)],
    }[register]


def clients(register: str) -> list[Client]:
    """The clients of the register, for its filter."""
    query = select(Client).where(*_conditions(register)).order_by(func.lower(Client.name), Client.id)
    return list(db.session.scalars(query))


def last_messages(shown: list[Invoice]) -> dict[int, Message]:
    """The latest email of each invoice shown, by invoice id (one query)."""
    latest = (
        select(func.max(Message.id))
        .where(Message.kind == "invoice", Message.invoice_id.in_([i.id for i in shown]))
        .group_by(Message.invoice_id)
    )
    found = db.session.scalars(select(Message).where(Message.id.in_(latest)))
    return {message.invoice_id: message for message in found}


# What an invoice's PDF and email show, loaded with the selection: a few queries in all.
_DOCUMENT = (
    selectinload(Invoice.lines).selectinload(InvoiceLine.taxes),
    selectinload(Invoice.taxes),
    selectinload(Invoice.instalments),
    joinedload(Invoice.job),
    joinedload(Invoice.credited_invoice),
)


def selection(register: str, ids: list[int]) -> list[Invoice]:
    """The invoices picked in the register, in the order of their numbers (oldest first).

    Raises `SelectionError` when there are none or too many, `UnknownInvoice`
    when an id is not one of the register's numbered invoices.
    """
    unique = list(dict.fromkeys(ids))
    if not unique:
        raise SelectionError(_("Sélectionnez au moins une facture."))
    if len(unique) > MAX_SELECTION:
        raise SelectionError(
            _("Sélectionnez au plus %(max)d factures à la fois (%(count)d choisies).",
              max=MAX_SELECTION, count=len(unique))
        )
    query = (
        listing(register)
        .where(Invoice.id.in_(unique))
        .options(*_DOCUMENT)
        .order_by(None)
        .order_by(Invoice.issue_date, Invoice.id)
    )
    found = list(db.session.scalars(query))
    if len(found) != len(unique):
        raise UnknownInvoice(sorted(set(unique) - {invoice.id for invoice in found}))
    return found


# --- Sending by email ----------------------------------------------------------


@dataclass
class Batch:
    """What « Envoyer par email » did: the messages queued, and why the others were not."""

    id: str
    messages: list[Message] = field(default_factory=list)
    refused: list[tuple[Invoice, str]] = field(default_factory=list)


def send_batch(chosen: list[Invoice], base_url: str) -> Batch:
    """Queue one message per invoice, with its client's defaults, under one batch id.

    An invoice that cannot be sent (a draft, a cancelled one, a client without
    an address...) is kept aside with the reason; the others go on. Nothing
    talks to the SMTP server here: the outbox delivers the batch.
    """
    batch = Batch(secrets.token_hex(16))
    for invoice in chosen:
        try:
            with db.session.begin_nested():
                sending.check_sendable(invoice)
                if invoice.client is None or not invoice.client.emails:
                    raise sending.SendError(
                        _("Le client n'a aucune adresse email : ajoutez-en une sur sa fiche."),
                        "recipients",
                    )
                draft = sending.default_draft(invoice)
                message = sending.send_invoice(invoice, draft, [], base_url, batch=batch.id)
        except sending.SendError as error:
            batch.refused.append((invoice, error.message))
        else:
            batch.messages.append(message)
    db.session.flush()
    return batch


@dataclass
class Progress:
    """Where a batch stands: its messages, each with its invoice and client."""

    messages: list[Message]

    @property
    def total(self) -> int:
        return len(self.messages)

    @property
    def sent(self) -> int:
        return sum(m.state in (MessageState.SENT, MessageState.CLICKED) for m in self.messages)

    @property
    def processing(self) -> bool:
        return any(m.state is MessageState.PROCESSING for m in self.messages)


def progress(batch_id: str) -> Progress:
    query = (
        select(Message)
        .options(joinedload(Message.invoice).joinedload(Invoice.client))
        .where(Message.batch == batch_id)
        .order_by(Message.id)
    )
    return Progress(list(db.session.scalars(query)))


# --- Printing --------------------------------------------------------------------


def print_pdf(chosen: list[Invoice]) -> bytes:
    """One PDF of the invoices in the order of their numbers, to print (reads only)."""
    writer = PdfWriter()
    for invoice in _in_order(chosen):
        writer.append(io.BytesIO(documents.invoice_pdf(invoice)))
    output = io.BytesIO()
    writer.write(output)
    return output.getvalue()


def record_printed(chosen: list[Invoice]) -> None:
    """The printed invoices get their « PDF téléchargé » event, and those « À envoyer »
    are marked sent (the others keep their status)."""
    for invoice in _in_order(chosen):
        history.log(invoice, "downloaded")
        if lifecycle.can_mark_sent(invoice):
            invoices.mark_sent(invoice)
    db.session.flush()


def _in_order(chosen: list[Invoice]) -> list[Invoice]:
    return sorted(chosen, key=lambda invoice: (invoice.issue_date, invoice.id))
