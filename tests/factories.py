"""Build the world a test needs in one line. Call inside an app context; they flush, never commit."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import insert

from billing.models import (
    Client,
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    Item,
    Job,
    JobStatus,
    TaxRate,
    db,
)
from tests.conftest import TODAY


def make_tax_rate(name="TVA 20 %", rate_millis=20_000, registration_number="", **fields) -> TaxRate:
    rate = TaxRate(name=name, rate_millis=rate_millis, registration_number=registration_number, **fields)
    db.session.add(rate)
    db.session.flush()
    return rate


def make_client(name="Boulangerie Martin", emails=("compta@martin.fr",), **fields) -> Client:
    client = Client(name=name, emails=list(emails), **fields)
    db.session.add(client)
    db.session.flush()
    return client


def make_item(name="Conseil (journée)", unit_price_cents=60_000, tax_rates=(), **fields) -> Item:
    item = Item(name=name, unit_price_cents=unit_price_cents, tax_rates=list(tax_rates), **fields)
    db.session.add(item)
    db.session.flush()
    return item


def make_job(client: Client, name="Refonte du site", status=JobStatus.OPEN, **fields) -> Job:
    job = Job(name=name, client=client, status=status, **fields)
    db.session.add(job)
    db.session.flush()
    return job


def make_invoice(client: Client | None = None, lines=((1, 10_000),), taxes=(), today=None, **fields):
    """A draft with `lines` as (quantity, unit price in cents) pairs, each carrying `taxes`."""
    from decimal import Decimal

    from billing import invoices

    today = today or TODAY
    invoice = invoices.create_draft(today, client)
    for quantity, price in lines:
        line = invoices.add_line(invoice)
        invoices.update_line(
            line,
            invoices.LineDetails(
                description=f"Prestation à {price / 100:.2f}",
                quantity=Decimal(str(quantity)),
                unit="jour",
                unit_price_cents=price,
                tax_rates=tuple(taxes),
            ),
        )
    for name, value in fields.items():
        setattr(invoice, name, value)
    db.session.flush()
    return invoice


def insert_invoices(client_id, count=1, start=0, **fields) -> None:
    """Bulk-insert `count` invoices straight into the table (fast: no verbs, no lines).

    Numbered F-<n> from `start` (drafts have none); `fields` override the defaults.
    Issued on TODAY and the 399 days before, due 30 days after TODAY.
    """
    today = TODAY
    status = fields.get("status", InvoiceStatus.AWAITING_PAYMENT)
    rows = []
    for n in range(start, start + count):
        row = {
            "kind": InvoiceKind.INVOICE,
            "status": status,
            "number": None if status is InvoiceStatus.DRAFT else f"F-{n:05d}",
            "client_id": client_id,
            "job_id": None,
            "issue_date": today - timedelta(days=n % 400),
            "due_date": today + timedelta(days=30),
            "currency": "EUR",
            "net_cents": 10_000,
            "tax_cents": 2_000,
            "total_cents": 12_000,
            "paid_cents": 0,
            "credited_cents": 0,
            "updated_at": datetime(2026, 1, 1) + timedelta(minutes=n),
        }
        row.update(fields)
        rows.append(row)
    db.session.execute(insert(Invoice), rows)
