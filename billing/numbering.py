"""Document numbers: formats like `F-{YYYY}-{SEQ:04}` and their counters.

A format holds exactly one `{SEQ}` (or `{SEQ:0N}`, zero-padded to N digits)
and may hold `{YYYY}`, `{YY}` and `{MM}`. Each series counts in a
`NumberSequence` row per year, or in year 0 when its format has no year.

`allocate` gives the next number; the caller runs it inside the transaction
that finalizes the document. It records the value in `last_issued`, and
`set_next_value` (the settings page) refuses to go back to or below it, so a
number is never given twice.
"""

from __future__ import annotations

import re
from datetime import date

from flask_babel import gettext as _
from sqlalchemy import select

from billing import settings
from billing.models import NumberSequence, db, write_lock

SERIES_FORMATS = {
    "invoice": "invoice_number_format",
    "credit_note": "credit_note_number_format",
}
MAX_FORMAT_LENGTH = 32
MAX_VALUE = 999_999_999
_TOKEN = re.compile(r"\{([^{}]*)\}")
_SEQ = re.compile(r"SEQ(?::0([1-9]))?")
_LITERAL_EXTRA = set("-_./#")


class NumberingError(Exception):
    """A reason, in French, why a number format or value was refused."""


def check_format(fmt: str) -> None:
    """Refuse a format that could not number documents; the message says why."""
    if not fmt:
        raise NumberingError(_("Le format est obligatoire, par exemple F-{YYYY}-{SEQ:04}."))
    if len(fmt) > MAX_FORMAT_LENGTH:
        raise NumberingError(
            _("Le format est trop long : %(max)s caractères au maximum.", max=MAX_FORMAT_LENGTH)
        )
    names = _TOKEN.findall(fmt)
    unknown = [name for name in names if name not in ("YYYY", "YY", "MM") and not _SEQ.fullmatch(name)]
    if unknown:
        listed = ", ".join("{" + name + "}" for name in unknown)
        raise NumberingError(
            _(
                "Variable inconnue : %(listed)s. Variables permises : {YYYY}, {YY}, {MM}, "
                "{SEQ} ou {SEQ:04}.",
                listed=listed,
            )
        )
    if sum(1 for name in names if _SEQ.fullmatch(name)) != 1:
        raise NumberingError(_("Le format doit contenir une seule fois {SEQ} (ou {SEQ:04})."))
    bad = sorted({c for c in _TOKEN.sub("", fmt) if not (c.isalnum() or c in _LITERAL_EXTRA)})
    if bad:
        shown = " ".join(_("espace") if c.isspace() else c for c in bad)
        raise NumberingError(
            _(
                "Caractères non permis : %(chars)s. Utilisez des lettres, des chiffres et - _ . / #.",
                chars=shown,
            )
        )


def has_year(fmt: str) -> bool:
    return "{YYYY}" in fmt or "{YY}" in fmt


def sequence_year(fmt: str, today: date) -> int:
    """The year a number of this format counts in: 0 when the format has no year."""
    return today.year if has_year(fmt) else 0


def format_number(fmt: str, year: int, month: int, seq: int) -> str:
    """F-{YYYY}-{SEQ:04} with 2026, 3, 7 → « F-2026-0007 »."""

    def replace(match: re.Match) -> str:
        name = match.group(1)
        if name == "YYYY":
            return f"{year:04d}"
        if name == "YY":
            return f"{year % 100:02d}"
        if name == "MM":
            return f"{month:02d}"
        width = _SEQ.fullmatch(name).group(1)
        return f"{seq:0{width}d}" if width else str(seq)

    return _TOKEN.sub(replace, fmt)


def preview(fmt: str, today: date, seq: int = 1) -> str:
    """What number `seq` of this format looks like today (raises NumberingError)."""
    check_format(fmt)
    return format_number(fmt, today.year, today.month, seq)


def series_format(series: str) -> str:
    return getattr(settings.business(), SERIES_FORMATS[series])


def _row(series: str, year: int, for_update: bool = False) -> NumberSequence | None:
    query = select(NumberSequence).where(
        NumberSequence.series == series, NumberSequence.year == year
    )
    if for_update:
        query = query.with_for_update()
    return db.session.scalar(query)


def next_value(series: str, year: int) -> int:
    row = _row(series, year)
    return row.next_value if row else 1


def upcoming(series: str, today: date) -> str:
    """The number the next document of `series` will get, without taking it."""
    fmt = series_format(series)
    return preview(fmt, today, next_value(series, sequence_year(fmt, today)))


def set_next_value(series: str, year: int, value: int) -> None:
    """Set where a series continues (settings); never back to a number already given.

    Like `allocate`, run it after `lock()`."""
    if series not in SERIES_FORMATS:
        raise ValueError(f"Unknown series: {series}")
    if not 1 <= value <= MAX_VALUE:
        raise NumberingError(
            _("Le prochain numéro doit être compris entre 1 et %(max)s.", max=MAX_VALUE)
        )
    row = _row(series, year, for_update=True)
    if row is None:
        row = NumberSequence(series=series, year=year, next_value=value, last_issued=0)
        db.session.add(row)
    elif value <= row.last_issued:
        raise NumberingError(
            _(
                "Le numéro %(number)s a déjà été attribué : "
                "le prochain numéro doit être au moins %(next)s.",
                number=row.last_issued,
                next=row.last_issued + 1,
            )
        )
    row.next_value = value
    db.session.flush()


def continue_after(series: str, today: date, number: str) -> None:
    """After a number was edited by hand, make the series go on after it.

    A number that does not follow the series' format (or is lower than the
    counter) leaves the counter where it is. Run it after `lock()`.
    """
    fmt = series_format(series)
    pattern = re.escape(fmt)
    for token in _TOKEN.findall(fmt):
        group = "(?P<seq>[0-9]+)" if _SEQ.fullmatch(token) else "[0-9]+"
        pattern = pattern.replace(re.escape("{" + token + "}"), group, 1)
    match = re.fullmatch(pattern, number)
    if match is None:
        return
    value = int(match.group("seq"))
    year = sequence_year(fmt, today)
    row = _row(series, year, for_update=True)
    if row is None:
        row = NumberSequence(series=series, year=year, next_value=1, last_issued=0)
        db.session.add(row)
    if value >= row.next_value:
        row.next_value = value + 1
    row.last_issued = max(row.last_issued, value)  # never hand out this number again
    db.session.flush()


def lock() -> None:
    """Start the write transaction a number is allocated in, holding the write lock.

    On SQLite the transaction starts with BEGIN IMMEDIATE, so two finalizations
    never read the same counter (see `_sqlite_begin` in app.py); on PostgreSQL
    `allocate` reads the counter row FOR UPDATE. Call it before loading what
    will be numbered: the read-only transaction open so far is ended.
    """
    write_lock()


def allocate(series: str, today: date) -> str:
    """Take the next number of `series` (inside the caller's transaction)."""
    fmt = series_format(series)
    check_format(fmt)
    year = sequence_year(fmt, today)
    row = _row(series, year, for_update=True)
    if row is None:
        row = NumberSequence(series=series, year=year, next_value=1, last_issued=0)
        db.session.add(row)
    value = row.next_value
    row.last_issued = value
    row.next_value = value + 1
    db.session.flush()
    return format_number(fmt, today.year, today.month, value)
