"""The production path: `flask db upgrade` then gunicorn on a fresh instance folder."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 20


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(port: int, path: str) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return response
    finally:
        connection.close()


def wait_until_healthy(port: int, server: subprocess.Popen) -> int:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline and server.poll() is None:
        try:
            return get(port, "/healthz").status
        except OSError:
            time.sleep(0.2)
    return 0


def test_migrate_then_gunicorn_serves_healthz_and_sends_the_first_visit_to_setup(tmp_path):
    instance = tmp_path / "instance"
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "SECRET_KEY"}}
    env.update(BILLING_INSTANCE=str(instance), BILLING_WORKER="0")

    upgrade = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "db", "upgrade"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert upgrade.returncode == 0, upgrade.stderr
    assert (instance / "billing.sqlite").is_file()

    port = free_port()
    log = tmp_path / "gunicorn.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "app:create_app()"],
            cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
        )
        try:
            assert wait_until_healthy(port, server) == 200, log.read_text()
            first_visit = get(port, "/")
            assert first_visit.status == 302
            assert first_visit.getheader("Location").endswith("/setup")
            assert get(port, "/setup").status == 200
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    assert (instance / "secret_key").is_file()
