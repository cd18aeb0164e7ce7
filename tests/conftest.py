"""Shared fixtures: a fresh app on a real SQLite file, logged-in clients, an SMTP server.

No application context stays pushed during a test: like requests, test code
opens its own (`with app.app_context():`), so nothing leaks between them.

Time: every test starts at NOW (TODAY in the business's time zone) on the app's
clock (`billing.clock`), and time runs on from there. Expected dates come from
TODAY / NOW or from the app's clock, never from the wall clock, so the suite
passes on any date (try `faketime '2027-03-01 12:00:00' ...`, see README.md).
"""

from __future__ import annotations

import functools
import os
import secrets
import socket
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

NOW = datetime(2026, 11, 24, 9, 0)  # naive UTC: 10:00 in Paris, 04:00 in Montréal
TODAY = date(2026, 11, 24)
# Set before the app is imported, so that `billing.clock` starts there in this process
# too, and that processes started by tests (workers, gunicorn) inherit it. A process a
# test started (multiprocessing "spawn" imports this module again) keeps the test's
# clock, which `frozen_clock` exported as `<instant>@<wall instant>`.
if "@" not in os.environ.get("BILLING_CLOCK", ""):
    os.environ["BILLING_CLOCK"] = NOW.isoformat()

import pytest
from aiosmtpd.controller import Controller
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask.testing import FlaskClient
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import event
from werkzeug.security import generate_password_hash

from app import create_app
from billing import accounts, clock
from billing.models import User, db

OWNER_EMAIL = "owner@example.fr"
OWNER_PASSWORD = "correct horse battery"
TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"


def pytest_configure(config):
    """Compile the catalogs like `make translations` when a .mo is missing or older than its .po."""
    config.addinivalue_line(
        "markers", "timed_waits: needs a thread's Event.wait(timeout) to time out "
        "(skipped under a libfaketime where it never does)")
    for po in TRANSLATIONS.glob("*/LC_MESSAGES/messages.po"):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as source:
            catalog = read_po(source, locale=po.parent.parent.name)
        # Written aside then renamed: a test run started meanwhile never reads half a file.
        with tempfile.NamedTemporaryFile(dir=po.parent, suffix=".mo", delete=False) as target:
            write_mo(target, catalog, use_fuzzy=True)
        os.chmod(target.name, 0o644)
        os.replace(target.name, mo)


def _timed_waits_time_out() -> bool:
    """False under Debian's libfaketime 0.9.10 with Python 3.11: it fakes CLOCK_MONOTONIC but
    not `sem_clockwait`, so a lock or Event.wait with a timeout never times out (whatever the
    date, even `faketime -f +0`), and `--exclude-monotonic` breaks `time.sleep` instead."""
    returned = threading.Event()

    def wait():
        threading.Event().wait(0.01)
        returned.set()

    threading.Thread(target=wait, daemon=True).start()  # left hanging when they do not
    for _ in range(200):
        if returned.is_set():
            return True
        time.sleep(0.01)
    return False


def pytest_collection_modifyitems(config, items):
    timed = [item for item in items if item.get_closest_marker("timed_waits")]
    if timed and "faketime" in os.environ.get("LD_PRELOAD", "") and not _timed_waits_time_out():
        skip = pytest.mark.skip(reason="libfaketime: Event.wait(timeout) never times out here")
        for item in timed:
            item.add_marker(skip)


class CSRFClient(FlaskClient):
    """A test client that sends a valid CSRF token with every POST, unless csrf=False."""

    def open(self, *args, csrf: bool = True, **kwargs):
        method = kwargs.get("method", "GET").upper()
        if csrf and method in {"POST", "PUT", "PATCH", "DELETE"}:
            headers = dict(kwargs.pop("headers", None) or {})
            headers.setdefault("X-CSRFToken", self.csrf_token())
            kwargs["headers"] = headers
        return super().open(*args, **kwargs)

    def csrf_token(self) -> str:
        with self.session_transaction() as session:
            raw = session.setdefault("csrf_token", secrets.token_hex(20))
        serializer = URLSafeTimedSerializer(self.application.secret_key, salt="wtf-csrf-token")
        return serializer.dumps(raw)


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    """Each test starts at NOW; a process it starts reads the very same clock."""
    clock.start_at(NOW)
    monkeypatch.setenv("BILLING_CLOCK", clock.inheritable())


def make_app(instance_path, **config):
    app = create_app(
        {"TESTING": True, "INSTANCE_PATH": str(instance_path), "BILLING_WORKER": False, **config}
    )
    app.test_client_class = CSRFClient
    with app.app_context():
        db.create_all()
    return app


@pytest.fixture
def app(tmp_path):
    app = make_app(tmp_path / "instance")
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@functools.cache
def owner_password_hash() -> str:
    """A real scrypt hash of OWNER_PASSWORD, made once: hashing costs ~0,1 s a test."""
    return generate_password_hash(OWNER_PASSWORD, method="scrypt")


@pytest.fixture
def owner(app, monkeypatch):
    """The owner account and its business exist; returns the owner's id."""
    real_hash = accounts.generate_password_hash
    monkeypatch.setattr(
        accounts,
        "generate_password_hash",
        lambda password, **options: owner_password_hash()
        if password == OWNER_PASSWORD
        else real_hash(password, **options),
    )
    with app.app_context():
        user = accounts.create_owner(OWNER_EMAIL, OWNER_PASSWORD, "Atelier Conseil")
        db.session.commit()
        return user.id


@pytest.fixture
def auth_client(app, owner):
    """A test client logged in as the owner."""
    client = app.test_client()
    with app.app_context():
        user = db.session.get(User, owner)
        token = accounts.session_token(user)
    with client.session_transaction() as session:
        session["user_id"] = owner
        session["auth"] = token
    return client


@contextmanager
def count_queries(app):
    """Count the SQL statements run inside the block: `with count_queries(app) as n: ...; n()`."""
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield lambda: len(statements)
    finally:
        event.remove(engine, "before_cursor_execute", record)


@dataclass
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes


@dataclass
class SmtpRecorder:
    messages: list[ReceivedMail] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, _server, _session, envelope):
        with self.lock:
            self.messages.append(
                ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), envelope.content)
            )
        return "250 Message accepted for delivery"


def free_port() -> int:
    """A TCP port nobody listens on right now, on the loopback interface."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_server():
    """A real SMTP server on a free loopback port; `.messages` holds what it received."""
    recorder = SmtpRecorder()
    recorder.host = "127.0.0.1"
    recorder.port = free_port()
    controller = Controller(recorder, hostname=recorder.host, port=recorder.port)
    controller.start()
    yield recorder
    controller.stop()
