"""Benchmark: 100 invoices sent by email from « Facturier email » in one batch.

`make bench` runs this script after `run.py`. It builds a throwaway instance with
`flask --app app demo`, adds 100 invoices of three lines for the clients who receive
theirs by email, points the business's SMTP settings at an
aiosmtpd server on a free loopback port, and times the batch as the owner gets
it: `POST /registers/email/send` with 100 invoice ids (the request queues the
messages) then `outbox.deliver_due()` (the worker's round: one SMTP connection).

The baseline, measured in the same run against the same server, is raw
`smtplib`: the same 100 messages (the bytes the outbox delivered: same bodies
and attachments, same envelopes) sent over one connection. The invoices stay
sendable (« Paiement attendu »), so every run sends the same batch again; the
warm-up run fills the PDF cache, its time is shown apart.
"""

from __future__ import annotations

import argparse
import re
import smtplib
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiosmtpd.controller import Controller  # noqa: E402
from sqlalchemy import select  # noqa: E402

from app import create_app  # noqa: E402
from benchmarks.run import counting_queries  # noqa: E402
from billing import accounts, invoices, mailer, numbering, outbox, registers, settings  # noqa: E402
from billing.models import Invoice, Item, Message, SmtpSecurity, User, db  # noqa: E402


class Counter:
    """An SMTP server that accepts everything and keeps counts only."""

    def __init__(self):
        self.messages = 0
        self.sessions: set[int] = set()
        self.lock = threading.Lock()

    async def handle_DATA(self, _server, session, _envelope):
        with self.lock:
            self.messages += 1
            self.sessions.add(id(session))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def invoices_to_send(count: int) -> list[int]:
    """`count` invoices « À envoyer » of three catalog lines, for the demo clients by email."""
    clients = registers.clients("email")
    items = db.session.scalars(select(Item).order_by(Item.id)).all()
    today = settings.today()
    ids = []
    for n in range(count):
        invoice = invoices.create_draft(today, clients[n % len(clients)])
        for line in range(3):
            invoices.add_line(invoice, items[(n + line) % len(items)])
        ids.append(invoice.id)
        db.session.commit()
        numbering.lock()
        invoices.finalize(db.session.get(Invoice, ids[-1]), today)
        db.session.commit()
    return ids


def timed(call, runs: int) -> tuple[float, list[float]]:
    """The first call's time (warm-up), then the times of `runs` more calls, in ms."""
    times = []
    for _ in range(runs + 1):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return times[0], times[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=100, help="invoices in the batch")
    parser.add_argument("--runs", type=int, default=5, help="batches timed after the warm-up")
    options = parser.parse_args()

    server = Counter()
    port = free_port()
    controller = Controller(server, hostname="127.0.0.1", port=port)
    controller.start()
    with tempfile.TemporaryDirectory(prefix="facturier-bench-") as folder:
        instance = Path(folder) / "instance"
        app = create_app({
            "INSTANCE_PATH": str(instance),
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance / 'billing.sqlite'}",
            "BILLING_WORKER": False,
            "BILLING_BASE_URL": "https://factures.example.fr",
        })
        with app.app_context():
            db.create_all()
        result = app.test_cli_runner().invoke(args=["demo"])
        if result.exit_code != 0:
            raise SystemExit(result.output)
        with app.app_context():
            business = settings.business()
            business.smtp_host, business.smtp_port = "127.0.0.1", port
            business.smtp_security = SmtpSecurity.NONE
            owner = db.session.scalar(select(User))
            login = {"user_id": owner.id, "auth": accounts.session_token(owner)}
            db.session.commit()
            ids = invoices_to_send(options.invoices)

        client = app.test_client()
        with client.session_transaction() as session:
            session.update(login)
        page = client.get("/registers/email").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # as a browser would
        phases = {"queue": [], "deliver": []}
        sessions = []

        def queue():
            response = client.post("/registers/email/send", data={"ids": ids, "csrf_token": token})
            if response.status_code != 303:
                raise SystemExit(f"POST /registers/email/send answered {response.status_code}")

        def batch():
            before = set(server.sessions)
            start = time.perf_counter()
            queue()
            queued = time.perf_counter()
            with app.app_context():
                sent = outbox.deliver_due()
            done = time.perf_counter()
            if sent != len(ids):
                raise SystemExit(f"deliver_due() sent {sent} of {len(ids)} messages")
            phases["queue"].append((queued - start) * 1000)
            phases["deliver"].append((done - queued) * 1000)
            sessions.append(len(server.sessions - before))

        first, batches = timed(batch, options.runs)
        with counting_queries(app) as statements:
            queue()
        with app.app_context():
            outbox.deliver_due()  # the batch just queued, so that the last batch is the last sent
            batch_id = db.session.scalar(select(Message.batch).order_by(Message.id.desc()).limit(1))
            business = settings.business()
            envelope_from = mailer.envelope_sender(business)
            raw = [
                (outbox.envelope(message), outbox.build(message, business).as_bytes())
                for message in db.session.scalars(
                    select(Message).where(Message.batch == batch_id).order_by(Message.id)
                )
            ]
            db.engine.dispose()

        def smtplib_batch():
            with smtplib.SMTP("127.0.0.1", port) as smtp:
                for recipients, data in raw:
                    smtp.sendmail(envelope_from, recipients, data)

        _warm, baseline = timed(smtplib_batch, options.runs)
    controller.stop()

    base = statistics.median(baseline)
    size = sum(len(data) for _recipients, data in raw) / len(raw) / 1024
    rows = [
        ("raw smtplib, one connection", base),
        ("queue: POST /registers/email/send", statistics.median(phases["queue"][1:])),
        ("deliver: outbox.deliver_due()", statistics.median(phases["deliver"][1:])),
        ("batch: queue + deliver", statistics.median(batches)),
    ]
    print()
    print(f"Batch of {len(ids)} invoices from « Facturier email » (messages of {size:.0f} KiB on")
    print(f"average, PDF attached): median of {options.runs} batches, as a ratio to raw smtplib sending")
    print("the same messages over one connection to the same aiosmtpd server in this run:")
    print(f"  {'':<36}{'ratio':>8}{'median':>12}")
    for label, ms in rows:
        print(f"  {label:<36}{ms / base:>7.1f}×{ms:>9.0f} ms")
    print(f"  first batch (PDFs rendered, not cached): {first:.0f} ms")
    print(f"  SMTP connections per batch: {sorted(set(sessions))}; "
          f"queries of the POST: {len(statements)}")


if __name__ == "__main__":
    main()
