"""Requests that write take SQLite's write lock when their transaction begins, so a writer next
to them (the outbox worker, another tab) makes them wait instead of failing with
« database is locked »."""

import sqlite3
import threading
import time

import pytest
from sqlalchemy import select, text

from billing.models import Business, InvoiceLine, db, read_first, write_lock
from tests.factories import make_client, make_invoice


def database_file(app) -> str:
    return app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")


def someone_else_can_write(app) -> bool:
    other = sqlite3.connect(database_file(app), timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        other.close()


@pytest.mark.parametrize(("method", "locked"), [("POST", True), ("GET", False), ("HEAD", False)])
def test_a_request_that_may_write_holds_the_write_lock_from_its_first_query(app, owner, method, locked):
    with app.test_request_context("/", method=method):
        db.session.execute(select(Business.id)).all()
        assert someone_else_can_write(app) is (not locked)
        db.session.rollback()
    assert someone_else_can_write(app)


def test_a_long_request_that_reads_first_does_not_hold_the_lock_until_it_asks(app, owner):
    with app.test_request_context("/", method="POST"):
        db.session.execute(select(Business.id)).all()  # like the login check
        assert not someone_else_can_write(app)
        read_first()
        db.session.execute(select(Business.id)).all()
        assert someone_else_can_write(app)
        write_lock()
        db.session.execute(select(Business.id)).all()
        assert not someone_else_can_write(app)
        db.session.rollback()


def test_autosaves_succeed_while_another_process_keeps_writing(app, auth_client):
    with app.app_context():
        invoice = make_invoice(make_client())
        db.session.commit()
        invoice_id, line_id = invoice.id, invoice.lines[0].id
    stop = threading.Event()

    def busy_writer():  # like the outbox worker: short write transactions, one after another
        other = sqlite3.connect(database_file(app), timeout=5, isolation_level=None)
        n = 0
        while not stop.is_set():
            other.execute("BEGIN IMMEDIATE")
            other.execute("UPDATE business SET phone = ?", (str(n),))
            other.execute("COMMIT")
            n += 1
            time.sleep(0.001)
        other.close()

    writer = threading.Thread(target=busy_writer)
    writer.start()
    try:
        statuses = [
            auth_client.post(
                f"/invoices/{invoice_id}/lines/{line_id}",
                data={f"line-{line_id}-{name}": value for name, value in {
                    "description": f"Version {n}", "quantity": "1", "unit": "jour",
                    "unit_price": "100", "discount": "", "discount_kind": "percent"}.items()},
                headers={"HX-Request": "true"},
            ).status_code
            for n in range(40)
        ]
    finally:
        stop.set()
        writer.join()
    assert statuses == [200] * 40
    with app.app_context():
        assert db.session.get(InvoiceLine, line_id).description == "Version 39"
        assert db.session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
