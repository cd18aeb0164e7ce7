"""The PDF of an invoice or a credit note (xhtml2pdf), cached per revision in instance/pdf/.

An issued invoice (see `lifecycle.is_issued`) has its PDF archived as it was
sent, `invoice-<id>-issued.pdf`, byte for byte: every later download, email or
print returns that file, whatever changed since (a payment, the logo, the
address). Before that, a numbered document is rendered once and stored as
`invoice-<id>-r<revision>-<digest>.pdf`, the digest being that of the HTML it
was made from: a renumbering or a new IBAN renders it again and replaces the
file of that revision, while the files of earlier revisions stay for good
(`revision_pdf`). A draft is rendered every time and never stored.

The document speaks the client's language. Only files under `static/` and the
uploaded logo can reach the renderer: never a URL, never another path.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from babel.numbers import format_decimal
from flask import current_app, render_template
from flask_babel import force_locale, get_locale
from flask_babel import gettext as _
from PIL import Image
from xhtml2pdf import pisa
from xhtml2pdf.config.resources import ResourceAccessPolicy

from billing import lifecycle, payment_refs, settings, uploads
from billing.models import Business, Country, Invoice

LOGO_URI = "logo:business"
LOGO_BOX = (150, 60)  # points: the logo is fitted into 5,3 × 2,1 cm
# What the renderer gets for anything it may not read: an empty image.
NOTHING = "data:,"
_QR_PREFIX = "data:image/png;base64,"
_UNSAFE_IN_NAME = re.compile(r"[^0-9A-Za-z._-]+")


class RenderError(RuntimeError):
    """xhtml2pdf could not make a PDF of the document."""


def folder() -> Path:
    return Path(current_app.instance_path) / "pdf"


def filename(invoice: Invoice) -> str:
    """`Facture-F-2026-0001.pdf`, `Avoir-AV-2026-0001.pdf`, `Brouillon-12.pdf`, translated."""
    if invoice.number is None:
        prefix, number = _("Brouillon"), str(invoice.id)
    else:
        prefix, number = _title(invoice), invoice.number
    return _UNSAFE_IN_NAME.sub("-", f"{prefix}-{number}") + ".pdf"


def invoice_pdf(invoice: Invoice, portal_url: str | None = None) -> bytes:
    """The PDF of the invoice: as issued once it is, else as it stands (from the cache when
    nothing shown has changed)."""
    if lifecycle.is_issued(invoice) and not invoice.is_credit_note:
        return _archived(invoice)
    return _current_pdf(invoice, portal_url)


def archive(invoice: Invoice, pdf: bytes | None = None) -> bytes:
    """Keep for good the PDF of an invoice being issued: `pdf` (the bytes sent), else its
    current rendering. Its digest is recorded on the invoice in the caller's transaction;
    once recorded, the kept file is what every later call returns."""
    if invoice.pdf_sha256 is not None:
        return _archived(invoice)
    data = pdf if pdf is not None else _current_pdf(invoice)
    _store(archived_path(invoice), data)
    invoice.pdf_sha256 = hashlib.sha256(data).hexdigest()
    return data


def _archived(invoice: Invoice) -> bytes:
    """The archived PDF. An invoice issued before archives existed (no digest) keeps its
    first rendering after them; a lost or altered file is rendered again, and said."""
    path = archived_path(invoice)
    if path.is_file():
        data = path.read_bytes()
        if invoice.pdf_sha256 in (None, hashlib.sha256(data).hexdigest()):
            return data
    if invoice.pdf_sha256 is not None:
        current_app.logger.error("archived PDF of invoice %s missing or altered: %s",
                                 invoice.id, path)
    data = _current_pdf(invoice)
    if invoice.pdf_sha256 is None:
        _store(path, data)
    return data


def archived_path(invoice: Invoice) -> Path:
    return folder() / f"invoice-{invoice.id}-issued.pdf"


def _current_pdf(invoice: Invoice, portal_url: str | None = None) -> bytes:
    html = render_html(invoice, portal_url)
    if not lifecycle.is_numbered(invoice):  # a draft changes at every keystroke
        return html_to_pdf(html)
    digest = hashlib.sha256(html.encode("utf-8")).hexdigest()[:16]
    cached = folder() / f"{_stem(invoice, invoice.revision)}{digest}.pdf"
    if cached.is_file():
        return cached.read_bytes()
    data = html_to_pdf(html)
    _store(cached, data)
    for stale in _files(invoice, invoice.revision):
        if stale != cached:
            stale.unlink(missing_ok=True)
    return data


def revision_pdf(invoice: Invoice, revision: int) -> Path | None:
    """The stored PDF of one revision of the invoice, if it was ever rendered."""
    files = _files(invoice, revision)
    return max(files, key=lambda path: path.stat().st_mtime) if files else None


# --- Rendering ----------------------------------------------------------------


@dataclass(frozen=True)
class Payment:
    """The « Paiement » block: where to transfer the balance and with which communication."""

    iban: str
    bic: str
    communication: str
    structured: str
    qr: str | None


def render_html(invoice: Invoice, portal_url: str | None = None) -> str:
    """The HTML given to xhtml2pdf, in the client's language."""
    business = settings.business()
    language = invoice.client.language if invoice.client is not None else "fr"
    with force_locale(language):
        html = render_template(
            "pdf/invoice.html",
            invoice=invoice,
            business=business,
            client=invoice.client,
            title=_title(invoice),
            logo=logo(business),
            payment=payment_details(invoice, business, portal_url),
            mentions=_mentions(invoice, business),
            portal_url=portal_url,
            show_unit=any(line.unit for line in invoice.lines),
            show_discount=any(
                line.discount_percent_millis or line.discount_cents for line in invoice.lines
            ),
            show_taxes=any(line.taxes for line in invoice.lines),
            quantity=_quantity,
            tax_included_labels=business.country in (Country.FR, Country.BE),
        )
    # Helvetica has no narrow no-break space (French digit grouping): use the ordinary one.
    return html.replace("\u202f", "\u00a0")


def html_to_pdf(html: str) -> bytes:
    """Run xhtml2pdf; it may read the static folder and the uploads, nothing remote."""
    business = settings.business()
    static = Path(current_app.static_folder).resolve()
    policy = ResourceAccessPolicy(
        allow_remote=False, base_dir=static, extra_roots=(uploads.folder().resolve(),)
    )
    output = io.BytesIO()
    result = pisa.CreatePDF(
        html,
        dest=output,
        encoding="utf-8",
        link_callback=link_callback(business),
        resource_policy=policy,
    )
    if result.err:
        raise RenderError(f"xhtml2pdf reported {result.err} error(s)")
    return output.getvalue()


def link_callback(business: Business):
    """Resolve `static/...` and the logo to their files; anything else to nothing."""
    static = Path(current_app.static_folder).resolve()

    def resolve(uri: str, _relative: str | None = None) -> str:
        if uri == LOGO_URI:
            try:
                return str(uploads.path(business.logo_path))
            except FileNotFoundError:
                return NOTHING
        if uri.startswith(_QR_PREFIX):
            return uri  # the QR code drawn by payment_refs, inline
        if uri.startswith("static/"):
            path = (static / uri.removeprefix("static/")).resolve()
            if path.is_relative_to(static) and path.is_file():
                return str(path)
        return NOTHING

    return resolve


def _title(invoice: Invoice) -> str:
    return _("Avoir") if invoice.is_credit_note else _("Facture")


def logo(business: Business) -> dict | None:
    """The logo's URI and its size fitted into LOGO_BOX, keeping its proportions."""
    try:
        with Image.open(uploads.path(business.logo_path)) as image:
            width, height = image.size
    except (FileNotFoundError, OSError):
        return None
    scale = min(LOGO_BOX[0] / width, LOGO_BOX[1] / height)
    return {"uri": LOGO_URI, "width": round(width * scale), "height": round(height * scale)}


def payment_details(
    invoice: Invoice, business: Business, portal_url: str | None = None
) -> Payment | None:
    """How to pay: bank transfer details, Belgian communication, and an EPC QR code for the
    amount due now (the next instalment with a payment schedule, else the balance)."""
    from billing import payments  # not at the top: payments imports invoices, which imports us

    if not lifecycle.owes(invoice) or not (business.iban or portal_url):
        return None
    structured = ""
    if business.country is Country.BE:
        structured = payment_refs.structured_communication(invoice.id)
    qr = None
    if business.iban and invoice.currency == "EUR":
        try:
            payload = payment_refs.epc_payload(
                business.name,
                business.iban,
                payments.due_now(invoice).amount_cents,
                bic=business.bic,
                reference=re.sub(r"\D", "", structured),
                text="" if structured else (invoice.number or ""),
            )
            qr = payment_refs.epc_qr(payload).png_data_uri(scale=4, border=2)
        except ValueError:  # an amount or a name the standard cannot carry: no QR code
            qr = None
    return Payment(
        iban=" ".join(business.iban[i : i + 4] for i in range(0, len(business.iban), 4)),
        bic=business.bic,
        communication=invoice.number or "",
        structured=structured,
        qr=qr,
    )


def _mentions(invoice: Invoice, business: Business) -> list[str]:
    """The legal mentions at the bottom: VAT exemption, late-payment penalties."""
    mentions = []
    if business.vat_exempt:
        mentions.append(settings.VAT_EXEMPT_MENTION)
    if business.late_payment_text and not invoice.is_credit_note:
        mentions.append(business.late_payment_text)
    return mentions


def _quantity(millis: int) -> str:
    """1500 → « 1,5 » in French, « 1.5 » in English."""
    return format_decimal(Decimal(millis) / 1000, format="#,##0.###", locale=str(get_locale()))


# --- Cache files ----------------------------------------------------------------


def _stem(invoice: Invoice, revision: int) -> str:
    return f"invoice-{invoice.id}-r{revision}-"


def _files(invoice: Invoice, revision: int) -> list[Path]:
    return sorted(folder().glob(f"{_stem(invoice, revision)}*.pdf"))


def _store(path: Path, data: bytes) -> None:
    """Write beside, then rename: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".part", delete=False) as part:
        part.write(data)
    os.replace(part.name, path)
