"""`flask --app app worker` as real processes: killed mid-delivery, and two at once.

The worker runs in a subprocess on a temporary instance folder; the test process
owns the database rows and a real SMTP server on loopback.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from billing import accounts, mailer, sending, settings
from billing.models import Message, MessageState, SmtpSecurity, db, utcnow
from tests.conftest import OWNER_EMAIL, OWNER_PASSWORD, SmtpRecorder, free_port, make_app

ROOT = Path(__file__).resolve().parents[1]
LEASE_SECONDS = 2
PDF = b"%PDF-1.4\n% invoice F-2026-0002\n%%EOF\n"


class BlockingAt(SmtpRecorder):
    """Records what it accepts, but holds the DATA of message number `at` until `release`
    (never accepting it)."""

    def __init__(self, at: int):
        super().__init__()
        self.at = at
        self.data_calls = 0
        self.entered = threading.Event()
        self.release = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        self.data_calls += 1
        if self.data_calls == self.at:
            self.entered.set()
            while not self.release.is_set():
                await asyncio.sleep(0.02)
            return "451 4.3.0 Interrompu"
        return await super().handle_DATA(server, session, envelope)


class Slow(SmtpRecorder):
    """Takes a little time per message, so that two workers overlap."""

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(0.05)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def instance(tmp_path):
    return tmp_path / "instance"


@pytest.fixture
def app(instance):
    app = make_app(instance)
    with app.app_context():
        accounts.create_owner(OWNER_EMAIL, OWNER_PASSWORD, "Atelier Conseil")
        db.session.commit()
    yield app
    with app.app_context():
        db.engine.dispose()


def serve(handler):
    handler.host, handler.port = "127.0.0.1", free_port()
    controller = Controller(handler, hostname=handler.host, port=handler.port)
    controller.start()
    return controller


def use(app, server) -> None:
    with app.app_context():
        row = settings.business()
        row.smtp_host, row.smtp_port, row.smtp_security = server.host, server.port, SmtpSecurity.NONE
        db.session.commit()


def queue(app, count, **fields) -> list[int]:
    with app.app_context():
        sender = mailer.sender(settings.business())
        ids = [
            sending.new_message(
                sender=sender, recipients=[f"client{n}@example.fr"], subject=f"Facture F-2026-{n:04d}",
                text_body=f"Bonjour,\nVoici la facture F-2026-{n:04d}.\n",
                files=[sending.File(f"F-2026-{n:04d}.pdf", "application/pdf", PDF, "invoice")],
                **fields,
            ).id
            for n in range(1, count + 1)
        ]
        db.session.commit()
        return ids


def messages(app) -> list[Message]:
    with app.app_context():
        found = list(db.session.scalars(select(Message).order_by(Message.id)))
        db.session.expunge_all()
        return found


def start_worker(instance: Path, log: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "SECRET_KEY"}}
    env.update(BILLING_INSTANCE=str(instance), BILLING_LEASE_SECONDS=str(LEASE_SECONDS),
               BILLING_WORKER_POLL_SECONDS="0.1")
    with log.open("w") as output:
        return subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "worker"],
                                cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)


def wait_for(condition, seconds=30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def stop(worker: subprocess.Popen) -> int:
    """SIGTERM: the worker ends its round and exits cleanly."""
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
    try:
        return worker.wait(timeout=20)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()
        raise


def message_ids(data: list[bytes]) -> list[str]:
    return [message_from_bytes(raw, policy=policy.default)["Message-ID"] for raw in data]


def test_a_worker_killed_in_the_middle_of_a_batch_loses_nothing_and_sends_nothing_twice(
        app, instance, tmp_path):
    server = BlockingAt(4)
    controller = serve(server)
    try:
        use(app, server)
        ids = queue(app, 10, batch="registre-1")
        worker = start_worker(instance, tmp_path / "worker1.log")
        try:
            assert server.entered.wait(30), (tmp_path / "worker1.log").read_text()
            worker.send_signal(signal.SIGKILL)  # stuck in DATA of the fourth message
            worker.wait(timeout=10)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        killed_at = utcnow()

        rows = {row.id: row for row in messages(app)}
        done, left = ids[:3], ids[3:]
        assert [rows[message_id].state for message_id in done] == [MessageState.SENT] * 3
        for message_id in left:
            assert rows[message_id].state is MessageState.PROCESSING  # not lost
            assert rows[message_id].lease_until is not None
        leases = {message_id: rows[message_id].lease_until for message_id in left}
        assert leases[ids[3]] > killed_at  # another worker must wait for the lease to run out
        server.release.set()

        worker = start_worker(instance, tmp_path / "worker2.log")
        try:
            assert wait_for(lambda: all(row.state is MessageState.SENT for row in messages(app))), \
                (tmp_path / "worker2.log").read_text()
        finally:
            assert stop(worker) == 0
        assert "Worker stopped." in (tmp_path / "worker2.log").read_text()
    finally:
        controller.stop()

    rows = messages(app)
    assert all(row.sent_at >= leases[row.id] for row in rows if row.id in leases)
    received = {mail["Message-ID"]: mail for mail in
                (message_from_bytes(raw.data, policy=policy.default) for raw in server.messages)}
    assert len(server.messages) == len(received) == 10  # each exactly once
    assert sorted(received) == sorted(row.message_id for row in rows)
    for row in rows:
        mail = received[row.message_id]
        assert mail["Subject"] == row.subject
        [attachment] = mail.iter_attachments()
        assert attachment.get_content() == PDF  # complete, attachment included


def test_two_workers_at_once_deliver_each_of_20_messages_exactly_once(app, instance, tmp_path):
    server = Slow()
    controller = serve(server)
    logs = [tmp_path / "worker-a.log", tmp_path / "worker-b.log"]
    try:
        use(app, server)
        workers = [start_worker(instance, log) for log in logs]
        try:
            assert wait_for(lambda: all("Worker started" in log.read_text() for log in logs)), \
                [log.read_text() for log in logs]
            ids = queue(app, 20)
            assert wait_for(lambda: all(row.state is MessageState.SENT for row in messages(app))), \
                [log.read_text() for log in logs]
        finally:
            assert [stop(worker) for worker in workers] == [0, 0]
    finally:
        controller.stop()

    rows = messages(app)
    assert sorted(message_ids([mail.data for mail in server.messages])) == \
        sorted(row.message_id for row in rows)
    sent_by = [set(map(int, re.findall(r"Outbox: message (\d+) sent", log.read_text()))) for log in logs]
    assert sent_by[0] | sent_by[1] == set(ids)
    assert sent_by[0] & sent_by[1] == set()
    assert sent_by[0] and sent_by[1], "both workers took part"
