"""Each lifecycle rule lives in one predicate of billing/lifecycle.py: views, templates and the
other domain modules ask it instead of comparing an invoice's status themselves."""

from __future__ import annotations

import re
from pathlib import Path

from billing import lifecycle

ROOT = Path(__file__).resolve().parents[2]
# A condition on an invoice's state written by hand, rather than asked of `lifecycle`.
BY_HAND = re.compile(
    r"\b(invoice|note|draft|copy)\.status\s*(==|!=|\bis\b|\bin\b|\bnot in\b)"
    r"|\b(invoice|note|draft|copy)\.status\.value"
    r"|\.is_draft\b"
    r"|\bsent_at is\b"
    r"|\bEDITABLE\b|\bSENDABLE\b"
)
# Not rules: which board column a status belongs to, a SQL filter, the reason of an exception.
ALLOWED = {
    ("billing/board.py", "if invoice.status in spec.statuses"),
    ("billing/statements.py", "note.status != InvoiceStatus.DRAFT,"),
    ("billing/portal.py", "raise PaymentUnavailable(invoice.status.value)"),
}
PREDICATES = ("can_edit", "can_correct", "can_cancel", "can_send", "can_mark_sent", "can_pay",
              "number_editable", "instalments_valid", "status_label")


def sources():
    yield from (ROOT / "blueprints").glob("*.py")
    yield from (ROOT / "templates").rglob("*.html")
    for path in (ROOT / "billing").glob("*.py"):
        if path.name not in ("lifecycle.py", "models.py"):
            yield path


def test_no_lifecycle_condition_is_written_outside_its_predicate():
    found = []
    for path in sources():
        relative = str(path.relative_to(ROOT))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if BY_HAND.search(line) and not any(
                relative == where and snippet in line for where, snippet in ALLOWED
            ):
                found.append(f"{relative}:{number}: {line.strip()}")
    assert found == []


def test_every_predicate_exists_and_the_templates_ask_them():
    for name in PREDICATES:
        assert callable(getattr(lifecycle, name))
    templates = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "templates").rglob("*.html"))
    for name in ("can_edit", "can_correct", "can_cancel", "can_send", "can_mark_sent", "can_pay",
                 "number_editable", "status_label"):
        assert f"lifecycle.{name}(" in templates or f"lifecycle.{name}(" in (
            ROOT / "blueprints" / "invoices.py").read_text(encoding="utf-8"), name
