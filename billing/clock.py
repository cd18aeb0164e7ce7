"""The application's one clock: `now()` in UTC, `today()` in the business's time zone.

Every date and time the app uses comes from here, so tests (and a demo) can start
the clock at a chosen instant with `start_at()`, or with the `BILLING_CLOCK`
environment variable (`2026-11-24T09:00:00`, UTC) for another process. Time runs
on from that instant, so leases, retries and rate limits still expire.

`BILLING_CLOCK=<instant>@<wall instant>` (what `inheritable()` gives) says when the
instant was on the wall clock: a process started from it, however late, reads
exactly the same time as its parent (a worker's leases compare with the tests').
"""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

ENVIRONMENT = "BILLING_CLOCK"

_offset = timedelta(0)


def _wall() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _naive_utc(text: str) -> datetime:
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment


def start_at(instant: datetime | None) -> None:
    """Make `now()` read `instant` (naive UTC) at this moment; None returns to the wall clock."""
    global _offset
    _offset = timedelta(0) if instant is None else instant - _wall()


def now() -> datetime:
    """The current instant, naive UTC (how the database stores it)."""
    return _wall() + _offset


def today(time_zone: str | None = None) -> date:
    """Today's date in `time_zone`, by default the business's."""
    if time_zone is None:
        from billing import settings

        time_zone = settings.business().timezone
    return now().replace(tzinfo=timezone.utc).astimezone(ZoneInfo(time_zone)).date()


def inheritable() -> str:
    """The `BILLING_CLOCK` value that gives a process started from it this very clock."""
    wall = _wall()
    return f"{(wall + _offset).isoformat()}@{wall.isoformat()}"


def start_from(value: str) -> None:
    """Start the clock from a `BILLING_CLOCK` value: `<instant>` or `<instant>@<wall instant>`."""
    global _offset
    instant, _, wall = value.partition("@")
    if wall:
        _offset = _naive_utc(instant) - _naive_utc(wall)
    else:
        start_at(_naive_utc(instant))


if os.environ.get(ENVIRONMENT):
    start_from(os.environ[ENVIRONMENT])
