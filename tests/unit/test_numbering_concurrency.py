"""Gapless numbers under contention: many threads in several processes, one SQLite file."""

from __future__ import annotations

import multiprocessing
import threading

from sqlalchemy import select

from app import create_app
from billing import invoices, numbering
from billing.models import Invoice, db
from tests.conftest import TODAY
from tests.factories import make_client, make_invoice

PROCESSES = 2
THREADS = 5


def finalize_all(instance_path: str, invoice_ids: list[int]) -> None:
    """What the finalize view does, for each id: lock, load, finalize, commit."""
    app = create_app({"INSTANCE_PATH": instance_path, "BILLING_WORKER": False})

    def run(ids):
        for invoice_id in ids:
            with app.app_context():
                numbering.lock()
                invoice = db.session.get(Invoice, invoice_id)
                invoices.finalize(invoice, TODAY)
                db.session.commit()

    threads = [threading.Thread(target=run, args=(invoice_ids[n::THREADS],)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_fifty_concurrent_finalizations_give_fifty_consecutive_numbers(app, owner):
    with app.app_context():
        client = make_client()
        ids = [make_invoice(client).id for _ in range(50)]
        db.session.commit()
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
    with app.app_context():
        numbers = db.session.scalars(select(Invoice.number)).all()
    assert sorted(numbers) == [f"F-2026-{n:04d}" for n in range(1, 51)]
