"""Benchmarks: the board, the archives and an invoice page with 5 000 invoices; the PDF.

`make bench` runs this script. It builds a throwaway instance (temporary
folder, its own SQLite file) with `flask --app app demo --invoices 5000`,
then times requests through the Flask test client, in-process.

Absolute times depend on the machine, so each result is printed first as a
ratio to a baseline measured in the same run:
- pages: to a bare Flask route (`return "ok"` on a separate `Flask(__name__)`
  app, nothing of ours in it); `/healthz` is shown for information;
- PDF: the render of a 200-line invoice to that of a 1-line invoice, both
  rendered directly (`documents.render_html` + `documents.html_to_pdf`, no cache).
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flask import Flask  # noqa: E402
from pypdf import PdfReader  # noqa: E402
from sqlalchemy import event, func, select  # noqa: E402

from app import create_app  # noqa: E402
from billing import accounts, documents, invoices, numbering, settings  # noqa: E402
from billing.models import Client, Invoice, InvoiceKind, InvoiceStatus, Item, User, db  # noqa: E402


def median_ms(call, runs: int) -> float:
    """The median time of `call()` over `runs` runs, after one warm-up run."""
    call()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


@contextmanager
def counting_queries(app):
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def bare_client():
    """The baseline: a bare Flask app with one trivial route."""
    bare = Flask(__name__)

    @bare.get("/")
    def index():
        return "ok"

    return bare.test_client()


def get(client, url: str):
    def call():
        response = client.get(url)
        if response.status_code != 200:
            raise SystemExit(f"GET {url} answered {response.status_code}")

    return call


def build(app, count: int) -> float:
    """`flask --app app demo --invoices N`, timed (seconds)."""
    start = time.perf_counter()
    result = app.test_cli_runner().invoke(args=["demo", "--invoices", str(count)])
    elapsed = time.perf_counter() - start
    if result.exit_code != 0:
        raise SystemExit(result.output)
    print(result.output.splitlines()[-1])
    return elapsed


def pdf_invoice(line_count: int) -> int:
    """A finalized invoice of `line_count` catalog lines for a demo client; its id."""
    client = db.session.scalar(select(Client).where(Client.name == "Groupe Hexalis"))
    items = db.session.scalars(select(Item).order_by(Item.id)).all()
    today = settings.today()
    invoice = invoices.create_draft(today, client)
    for n in range(line_count):
        invoices.add_line(invoice, items[n % len(items)])
    invoice_id = invoice.id
    db.session.commit()
    numbering.lock()
    invoices.finalize(db.session.get(Invoice, invoice_id), today)
    db.session.commit()
    return invoice_id


def render_pdf(invoice: Invoice) -> bytes:
    return documents.html_to_pdf(documents.render_html(invoice))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=5_000)
    parser.add_argument("--runs", type=int, default=20, help="requests per page")
    parser.add_argument("--pdf-runs", type=int, default=5, help="renders per PDF")
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="facturier-bench-") as folder:
        instance = Path(folder) / "instance"
        app = create_app({
            "INSTANCE_PATH": str(instance),
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance / 'billing.sqlite'}",
            "BILLING_WORKER": False,
        })
        with app.app_context():
            db.create_all()
        seconds = build(app, options.invoices)
        with app.app_context():
            owner = db.session.scalar(select(User))
            login = {"user_id": owner.id, "auth": accounts.session_token(owner)}
            awaiting_id = db.session.scalar(
                select(Invoice.id)
                .where(Invoice.status == InvoiceStatus.AWAITING_PAYMENT)
                .order_by(Invoice.id)
                .limit(1)
            )
            documents_count = db.session.scalar(select(func.count()).select_from(Invoice))
            notes_count = db.session.scalar(
                select(func.count()).where(Invoice.kind == InvoiceKind.CREDIT_NOTE)
            )
        print(
            f"demo --invoices {options.invoices}: {seconds:.1f} s "
            f"({documents_count} documents, {notes_count} of them credit notes)"
        )

        client = app.test_client()
        with client.session_transaction() as session:
            session.update(login)  # what /login puts in the session

        baseline = median_ms(get(bare_client(), "/"), options.runs * 10)  # tiny: more runs
        pages = [
            ("GET /healthz", "/healthz"),
            ("GET / (board)", "/"),
            ("GET /archives/", "/archives/"),
            (f"GET /invoices/{awaiting_id}", f"/invoices/{awaiting_id}"),
        ]
        print()
        print(f"Pages: median of {options.runs} requests (Flask test client), as a ratio to a bare")
        print('Flask route (a separate Flask(__name__) app whose view returns "ok"):')
        print(f"  {'':<28}{'ratio':>9}{'median':>12}{'queries':>9}")
        print(f"  {'bare Flask route (×10 runs)':<28}{1:>8.1f}×{baseline:>9.2f} ms{'':>9}")
        for label, url in pages:
            with counting_queries(app) as statements:
                get(client, url)()
            ms = median_ms(get(client, url), options.runs)
            print(f"  {label:<28}{ms / baseline:>8.1f}×{ms:>9.2f} ms{len(statements):>9}")

        with app.app_context():
            ids = {lines: pdf_invoice(lines) for lines in (1, 200)}
        print()
        print(f"PDF render, no cache (render_html + html_to_pdf): median of {options.pdf_runs},")
        print("as a ratio to the 1-line invoice:")
        print(f"  {'':<28}{'ratio':>9}{'median':>12}{'pages':>9}")
        one_line = None
        for lines, invoice_id in ids.items():
            with app.test_request_context():
                invoice = db.session.get(Invoice, invoice_id)
                ms = median_ms(lambda invoice=invoice: render_pdf(invoice), options.pdf_runs)
                page_count = len(PdfReader(io.BytesIO(render_pdf(invoice))).pages)
            one_line = one_line or ms
            label = f"{lines} line" + ("s" if lines > 1 else "")
            print(f"  {label:<28}{ms / one_line:>8.1f}×{ms:>9.0f} ms{page_count:>9}")
        with app.app_context():
            db.engine.dispose()


if __name__ == "__main__":
    main()
