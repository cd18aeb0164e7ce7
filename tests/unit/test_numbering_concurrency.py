"""Gapless numbers under contention: many threads in several processes, one SQLite file."""

from __future__ import annotations

import multiprocessing
import threading
from datetime import timedelta

from sqlalchemy import select

from app import create_app
from billing import invoices, numbering
from billing.models import Invoice, db
from tests.conftest import TODAY
from tests.factories import make_client, make_invoice

PROCESSES = 2
THREADS = 5


def finalize_all(instance_path: str, invoice_ids: list[int]) -> None:
    """What the finalize view does, for each id: lock, load, finalize, commit (or roll back
    a refusal: a draft dated before the last number)."""
    app = create_app({"INSTANCE_PATH": instance_path, "BILLING_WORKER": False})

    def run(ids):
        for invoice_id in ids:
            with app.app_context():
                numbering.lock()
                try:
                    invoices.finalize(db.session.get(Invoice, invoice_id), TODAY)
                except invoices.InvoiceError:
                    db.session.rollback()
                    continue
                db.session.commit()

    threads = [threading.Thread(target=run, args=(invoice_ids[n::THREADS],)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def finalize_in_processes(app, ids: list[int]) -> None:
    spawn = multiprocessing.get_context("spawn")
    workers = [
        spawn.Process(target=finalize_all, args=(app.instance_path, ids[n::PROCESSES]))
        for n in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0


def test_fifty_concurrent_finalizations_give_fifty_consecutive_numbers(app, owner):
    with app.app_context():
        client = make_client()
        ids = [make_invoice(client).id for _ in range(50)]
        db.session.commit()
    finalize_in_processes(app, ids)
    with app.app_context():
        numbers = db.session.scalars(select(Invoice.number)).all()
    assert sorted(numbers) == [f"F-2026-{n:04d}" for n in range(1, 51)]


def test_concurrent_finalizations_keep_numbers_gapless_and_dates_in_order(app, owner):
    """Drafts dated yesterday and tomorrow, finalized at once: whatever the order, the numbers
    given are consecutive and their dates never go back; a late draft is refused, not numbered."""
    with app.app_context():
        client = make_client()
        ids = []
        for n in range(50):
            draft = make_invoice(client)
            draft.issue_date = TODAY + timedelta(days=1 if n % 2 else -1)
            draft.issue_date_chosen = True
            ids.append(draft.id)
        db.session.commit()
    finalize_in_processes(app, ids)
    with app.app_context():
        numbered = db.session.execute(
            select(Invoice.number, Invoice.issue_date).where(Invoice.number.is_not(None))
            .order_by(Invoice.number)
        ).all()
        drafts = db.session.scalars(select(Invoice.issue_date).where(Invoice.number.is_(None))).all()
    assert [number for number, _day in numbered] == [
        f"F-2026-{n:04d}" for n in range(1, len(numbered) + 1)
    ]
    days = [day for _number, day in numbered]
    assert days == sorted(days)
    assert len(numbered) >= 25  # every draft dated tomorrow is accepted
    assert len(numbered) + len(drafts) == 50
    assert all(day == TODAY - timedelta(days=1) for day in drafts)
