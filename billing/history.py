"""The history of an invoice or a client: what happened, when (« Historique »)."""

from __future__ import annotations

from billing.models import Client, Event, Invoice, db


def log(invoice: Invoice, kind: str, detail: str = "") -> Event:
    """Record `kind` (e.g. "finalized", "sent_manually") on the invoice and its client."""
    event = Event(
        invoice=invoice,
        client_id=invoice.client_id,
        kind=kind,
        detail=detail,
        revision=invoice.revision,
    )
    db.session.add(event)
    return event


def log_client(client: Client, kind: str, detail: str = "") -> Event:
    """Record `kind` (e.g. "statement_sent") in the client's history, about no one invoice."""
    event = Event(client_id=client.id, kind=kind, detail=detail)
    db.session.add(event)
    return event
