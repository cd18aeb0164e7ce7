"""Browser tests: the real app served on a loopback port, driven by Playwright in Debian Chromium.

Never `playwright install`: Chromium comes from Debian (`make test` installs it).
Screenshots land in `test-results/screenshots/` (git-ignored) for a person to look at.
pytest-playwright empties `test-results/` at the start of every pytest session, even one
without browser tests: look at the screenshots before running pytest again.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from playwright.sync_api import expect
from werkzeug.serving import make_server

from tests.conftest import make_app

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-results" / "screenshots"
# An autosave answers in milliseconds, but a shared 2-core machine may pause for seconds:
# assertions wait up to 15 s (Playwright's default is 5 s) before failing.
expect.set_options(timeout=15_000)
WIDTHS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 900}}


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


class LiveServer:
    def __init__(self, app):
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *_exc):
        self.server.shutdown()
        self.thread.join(5)


@pytest.fixture
def live_server(tmp_path):
    """The app on a free loopback port with its own instance folder and SQLite file.

    Served by a thread of this process: its pages read the tests' clock (NOW, `frozen_clock`).
    """
    app = make_app(tmp_path / "instance", WTF_CSRF_SSL_STRICT=False)
    with LiveServer(app) as server:
        yield server


def _is_real_error(message, page) -> bool:
    """A console error, except Chromium's note about an expected status code or error.

    422 (a form answered with its errors) is always expected; a test that opens
    a missing page on purpose adds 404 to `page.expected_statuses`, one that cuts
    the network adds the messages it expects to `page.expected_errors`.
    """
    if message.type != "error":
        return False
    if any(text in message.text for text in page.expected_errors):
        return False
    return not any(f"status of {code} " in message.text for code in page.expected_statuses)


@pytest.fixture(params=list(WIDTHS), ids=list(WIDTHS))
def sized_page(request, browser, live_server):
    """A page at phone width (390 px) and at desktop width (1280 px)."""
    context = browser.new_context(viewport=WIDTHS[request.param], locale="fr-FR")
    page = context.new_page()
    page.width_name = request.param
    page.expected_statuses = {422}
    page.expected_errors = []
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console",
        lambda msg: errors.append(msg.text) if _is_real_error(msg, page) else None,
    )
    yield page
    context.close()
    assert not errors, f"JavaScript errors or CSP violations in the browser: {errors}"


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot named after the step and the width."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_load_state()  # the stylesheet of a page just navigated to is applied
    path = SCREENSHOTS / f"{name}-{page.width_name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
