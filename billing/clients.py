"""Clients: create, update, archive and restore, and the one-level parent rule.

A client is never deleted (invoices refer to it): it is archived. A client may
have a parent (one level only): a parent has no parent itself, a client with
sub-clients cannot become a sub-client, and a client is never its own parent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from sqlalchemy import String, cast, exists, func, select
from sqlalchemy.orm import selectinload

from billing.models import Client, Invoice, InvoiceStatus, db
from billing.money import CURRENCIES
from billing.settings import LANGUAGES

MAX_TERMS_DAYS = 365
NAME_REQUIRED = _l("Le nom du client est obligatoire.")
TERMS_OUT_OF_RANGE = _l("Le délai de paiement doit être compris entre 0 et 365 jours.")


class InvalidClient(Exception):
    """Why a client cannot be saved: the form field concerned and a French message."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass
class ClientDetails:
    """What the owner types about a client."""

    name: str
    emails: list[str] = field(default_factory=list)
    by_email: bool = True
    language: str = "fr"
    currency: str = "EUR"
    payment_terms_days: int | None = None
    parent: Client | None = None
    company_number: str = ""
    vat_number: str = ""
    address: str = ""
    notes: str = ""


def create(details: ClientDetails) -> Client:
    client = Client()
    _check(client, details)
    _apply(client, details)
    db.session.add(client)
    db.session.flush()
    return client


def update(client: Client, details: ClientDetails) -> None:
    _check(client, details)
    _apply(client, details)
    db.session.flush()


def archive(client: Client) -> None:
    client.archived = True
    db.session.flush()


def restore(client: Client) -> None:
    client.archived = False
    db.session.flush()


def has_children(client: Client) -> bool:
    if client.id is None:
        return False
    return db.session.scalar(select(exists().where(Client.parent_id == client.id)))


def parent_choices(client: Client | None = None) -> list[Client]:
    """Clients that can be a parent: not archived, no parent themselves, not `client`.

    The current parent stays offered even if it was archived since.
    """
    query = select(Client).where(Client.archived.is_(False), Client.parent_id.is_(None))
    if client is not None and client.id is not None:
        query = query.where(Client.id != client.id)
    found = list(db.session.scalars(query.order_by(Client.name, Client.id)))
    if client is not None and client.parent is not None and client.parent not in found:
        found.insert(0, client.parent)
    return found


def active_clients(keep: Client | None = None) -> list[Client]:
    """Non-archived clients by name (plus `keep`, the one already chosen)."""
    found = list(
        db.session.scalars(
            select(Client).where(Client.archived.is_(False)).order_by(Client.name, Client.id)
        )
    )
    if keep is not None and keep not in found:
        found.insert(0, keep)
    return found


def search(text: str = "", archived: bool = False):
    """The query listing clients: by name, matching `text` in name, emails or company number."""
    query = (
        select(Client)
        .where(Client.archived.is_(archived))
        .options(selectinload(Client.parent))
        .order_by(func.lower(Client.name), Client.id)
    )
    text = text.strip().lower()
    if text:
        query = query.where(
            func.lower(Client.name).contains(text, autoescape=True)
            | func.lower(cast(Client.emails, String)).contains(text, autoescape=True)
            | func.lower(Client.company_number).contains(text, autoescape=True)
        )
    return query


def with_relations(client_id: int) -> Client | None:
    """One client with its parent, children and jobs loaded (for its page)."""
    return db.session.scalar(
        select(Client)
        .where(Client.id == client_id)
        .options(
            selectinload(Client.parent),
            selectinload(Client.children),
            selectinload(Client.jobs),
        )
    )


def _check(client: Client, details: ClientDetails) -> None:
    """Refuse bad details before anything changes."""
    if not details.name.strip():
        raise InvalidClient("name", NAME_REQUIRED)
    if details.by_email and not details.emails:
        raise InvalidClient(
            "emails",
            _l("Indiquez au moins une adresse email pour envoyer les factures par email."),
        )
    if details.language not in LANGUAGES:
        raise InvalidClient("language", _l("Langue inconnue."))
    if details.currency not in CURRENCIES:
        raise InvalidClient("currency", _l("Devise inconnue."))
    terms = details.payment_terms_days
    if terms is not None and not 0 <= terms <= MAX_TERMS_DAYS:
        raise InvalidClient("payment_terms_days", TERMS_OUT_OF_RANGE)
    _check_parent(client, details.parent)


def _check_parent(client: Client, parent: Client | None) -> None:
    if parent is None:
        return
    if parent is client:
        raise InvalidClient("parent_id", _l("Un client ne peut pas être son propre parent."))
    if parent.parent_id is not None:
        raise InvalidClient(
            "parent_id",
            _l("Ce client est lui-même un sous-client : choisissez un client principal."),
        )
    if parent.archived and parent is not client.parent:
        raise InvalidClient("parent_id", _l("Ce client est archivé."))
    if has_children(client):
        raise InvalidClient(
            "parent_id",
            _l("Ce client a des sous-clients : il ne peut pas devenir le sous-client d'un autre."),
        )


def _apply(client: Client, details: ClientDetails) -> None:
    client.name = details.name.strip()
    client.emails = list(details.emails)
    client.by_email = details.by_email
    client.language = details.language
    client.currency = details.currency
    client.payment_terms_days = details.payment_terms_days
    client.parent = details.parent
    client.company_number = details.company_number.strip()
    client.vat_number = details.vat_number.strip()
    client.address = details.address.strip()
    client.notes = details.notes.strip()


RECENT_INVOICES = 50


def recent_invoices(client: Client) -> list[Invoice]:
    """The client's latest invoices and credit notes, drafts included, newest first."""
    return db.session.scalars(
        select(Invoice)
        .where(Invoice.client_id == client.id)
        .order_by(Invoice.issue_date.desc(), Invoice.id.desc())
        .limit(RECENT_INVOICES)
    ).all()


def balances(client: Client) -> dict[str, int]:
    """What the client owes on its numbered, unpaid invoices, per currency (one query)."""
    owed = Invoice.total_cents - Invoice.paid_cents - Invoice.credited_cents
    rows = db.session.execute(
        select(Invoice.currency, func.sum(owed))
        .where(
            Invoice.client_id == client.id,
            Invoice.status.in_((InvoiceStatus.TO_SEND, InvoiceStatus.AWAITING_PAYMENT)),
        )
        .group_by(Invoice.currency)
    ).all()
    return {currency: total for currency, total in rows if total} or {client.currency: 0}

