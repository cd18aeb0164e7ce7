"""The app's one clock (`billing.clock`): started where a test wants, in the business's time zone,
inherited by the processes the app starts."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from billing import clock, settings
from billing.models import utcnow
from tests.conftest import NOW, TODAY

ROOT = Path(__file__).resolve().parents[2]
PRINT_CLOCK = "from billing import clock; print(clock.now().isoformat()); print(clock.today('Europe/Paris'))"


@pytest.fixture
def ctx(app, owner):
    with app.app_context():
        yield


def child_clock(value: str | None) -> tuple[datetime, date]:
    """What `billing.clock` reads in a new `python -c` process given BILLING_CLOCK=`value` (None: unset)."""
    env = {k: v for k, v in os.environ.items() if k != "BILLING_CLOCK"}
    if value is not None:
        env["BILLING_CLOCK"] = value
    done = subprocess.run([sys.executable, "-c", PRINT_CLOCK], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    moment, day = done.stdout.split()
    return datetime.fromisoformat(moment), date.fromisoformat(day)


def test_every_test_starts_at_the_same_instant():
    assert NOW <= clock.now() < NOW + timedelta(minutes=1)
    assert NOW <= utcnow() < NOW + timedelta(minutes=1)  # the models' clock is the same
    assert clock.today("Europe/Paris") == TODAY


def test_start_at_moves_now_and_today_and_time_runs_on():
    clock.start_at(datetime(2031, 12, 31, 22, 59, 59))
    first = clock.now()
    assert datetime(2031, 12, 31, 22, 59, 59) <= first < datetime(2031, 12, 31, 23, 0, 59)
    assert clock.today("UTC") == date(2031, 12, 31)
    time.sleep(0.01)
    assert clock.now() > first  # leases, retries and rate limits still expire

    clock.start_at(datetime(2028, 2, 29, 12, 0))
    assert clock.today("UTC") == date(2028, 2, 29)
    assert clock.now() < first  # back in time as well


def test_start_at_none_returns_to_the_wall_clock():
    clock.start_at(None)
    assert abs(clock.now() - datetime.now(timezone.utc).replace(tzinfo=None)) < timedelta(seconds=5)


@pytest.mark.parametrize(("instant", "paris", "montreal"), [
    (datetime(2026, 11, 24, 23, 30), date(2026, 11, 25), date(2026, 11, 24)),
    (datetime(2026, 11, 25, 4, 30), date(2026, 11, 25), date(2026, 11, 24)),
    (datetime(2026, 11, 25, 5, 30), date(2026, 11, 25), date(2026, 11, 25)),
    (datetime(2026, 12, 31, 23, 30), date(2027, 1, 1), date(2026, 12, 31)),  # numbering's year
])
def test_today_is_the_date_in_the_given_time_zone(instant, paris, montreal):
    clock.start_at(instant)
    assert clock.today("Europe/Paris") == paris
    assert clock.today("America/Montreal") == montreal


def test_today_follows_the_business_time_zone_by_default(ctx):
    clock.start_at(datetime(2026, 11, 24, 23, 30))  # 00:30 in Paris, 18:30 in Montréal
    row = settings.business()
    assert row.timezone == "Europe/Paris"
    assert clock.today() == settings.today() == date(2026, 11, 25)
    row.timezone = "America/Montreal"
    assert clock.today() == settings.today() == date(2026, 11, 24)


@pytest.mark.parametrize("value", ["2031-05-06T07:08:09", "2031-05-06T09:08:09+02:00",
                                   "2031-05-06T07:08:09Z"])
def test_billing_clock_starts_another_process_there(value):
    moment, day = child_clock(value)
    assert datetime(2031, 5, 6, 7, 8, 9) <= moment < datetime(2031, 5, 6, 7, 9, 9)
    assert day == date(2031, 5, 6)


def test_a_process_started_by_a_test_reads_the_same_clock_as_the_test(monkeypatch):
    """conftest exports `clock.inheritable()`: however late the child starts, it is in step."""
    clock.start_at(datetime(2030, 6, 30, 21, 59, 59))
    monkeypatch.setenv("BILLING_CLOCK", clock.inheritable())  # what tests/conftest.py does
    before = clock.now()
    time.sleep(0.2)  # the child would be 0,2 s late with a plain instant
    moment, day = child_clock(os.environ["BILLING_CLOCK"])
    after = clock.now()
    assert before + timedelta(seconds=0.2) <= moment <= after
    assert day == date(2030, 6, 30)  # 23:59 in Paris


def test_the_tests_export_their_clock_to_the_processes_they_start():
    before = clock.now()
    moment, day = child_clock(os.environ["BILLING_CLOCK"])
    assert before <= moment <= clock.now()
    assert day == TODAY


def test_without_billing_clock_another_process_reads_the_wall_clock():
    moment, _day = child_clock(None)
    assert abs(moment - datetime.now(timezone.utc).replace(tzinfo=None)) < timedelta(seconds=30)
