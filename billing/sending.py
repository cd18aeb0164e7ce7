"""Messages to clients: what to write, the outbox rows, their attachments, the history.

A request never talks to the SMTP server: it writes a `Message` (recipients,
subject, bodies, copies of the attachments, a Message-ID and a personal portal
link token) in the same transaction as the invoice's change of status.
`billing/outbox.py` delivers it afterwards.

Attachments are stored under `<UPLOAD_FOLDER>/messages/` with random names, so
what « Documents » shows is exactly what left, whatever happens to the invoice
or the settings afterwards.

Sending an invoice: `default_draft` fills the form (client's emails, subject
and body in the client's language, signature), `prepare` checks a draft and
composes exactly what will leave (« Aperçu »), `send_invoice` writes it.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field
from email.utils import make_msgid
from pathlib import Path

from email_validator import EmailNotValidError, validate_email
from flask import render_template
from flask_babel import force_locale, get_locale
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import case, literal, select, update
from sqlalchemy.orm import selectinload

from billing import documents, history, invoices, lifecycle, mailer, payments, settings, uploads
from billing.formats import date_filter, money_filter
from billing.models import Attachment, Invoice, Message, MessageState, db, utcnow

_STORED_NAME = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class File:
    """A file to attach: its name as the client sees it, its type and its bytes."""

    filename: str
    content_type: str
    data: bytes
    kind: str = "document"  # invoice | terms | document


def attachments_folder() -> Path:
    return uploads.folder() / "messages"


def attachment_path(attachment: Attachment) -> Path:
    """The stored copy of an attachment; FileNotFoundError if it is missing or the name is odd."""
    if not _STORED_NAME.fullmatch(attachment.stored_name):
        raise FileNotFoundError(attachment.stored_name)
    found = attachments_folder() / attachment.stored_name
    if not found.is_file():
        raise FileNotFoundError(attachment.stored_name)
    return found


def store(message: Message, file: File) -> Attachment:
    """Keep a copy of `file` with the message."""
    name = secrets.token_hex(16)
    folder = attachments_folder()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(file.data)
    attachment = Attachment(
        kind=file.kind,
        filename=file.filename,
        content_type=file.content_type,
        stored_name=name,
        size=len(file.data),
        sha256=hashlib.sha256(file.data).hexdigest(),
        position=len(message.attachments),
    )
    message.attachments.append(attachment)
    return attachment


def new_message(*, sender: str, recipients: list[str], subject: str, text_body: str,
                html_body: str = "", cc: list[str] | None = None, bcc: list[str] | None = None,
                files: list[File] = (), with_link: bool = False, link_token: str | None = None,
                **fields) -> Message:
    """A message in the outbox, state « En traitement », with copies of `files`.

    `fields` sets the other columns (kind, invoice, client, revision, batch).
    With `with_link`, the message gets its own portal token (`link_token`);
    pass `link_token` when the bodies already carry the link made from it.
    """
    message = Message(
        sender=sender,
        recipients=list(recipients),
        cc=list(cc or ()),
        bcc=list(bcc or ()),
        subject=subject,
        text_body=text_body,
        html_body=html_body,
        message_id=make_msgid(domain=_domain(sender)),
        link_token=link_token or (new_link_token() if with_link else None),
        state=MessageState.PROCESSING,
        **fields,
    )
    db.session.add(message)
    for file in files:
        store(message, file)
    db.session.flush()
    return message


def _domain(sender: str) -> str:
    """The domain of the sender's address, for the Message-ID (« facturier » if none)."""
    address = sender.rsplit("<", 1)[-1].rstrip(">")
    domain = address.rpartition("@")[2].strip()
    return domain if re.fullmatch(r"[A-Za-z0-9.-]+", domain or "-") else "facturier"


def new_link_token() -> str:
    """A personal portal token: long, random, unguessable."""
    return secrets.token_urlsafe(32)


def portal_link(base_url: str, token: str) -> str:
    """`{lien}`: the page the client opens from the email."""
    return f"{base_url.rstrip('/')}/p/{token}"


# --- Sending an invoice --------------------------------------------------------

MAX_RECIPIENTS = 50
MAX_SUBJECT = 300
MAX_DOCUMENTS = 10
MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
MAX_DOCUMENTS_BYTES = 20 * 1024 * 1024
# What « Joindre un ou plusieurs documents » accepts: extension -> (type, first bytes).
# Text files have no signature: they must decode as UTF-8 and hold no NUL byte.
_ZIP = b"PK\x03\x04"
DOCUMENT_TYPES = {
    "pdf": ("application/pdf", b"%PDF-"),
    "png": ("image/png", b"\x89PNG\r\n\x1a\n"),
    "jpg": ("image/jpeg", b"\xff\xd8\xff"),
    "jpeg": ("image/jpeg", b"\xff\xd8\xff"),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", _ZIP),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", _ZIP),
    "odt": ("application/vnd.oasis.opendocument.text", _ZIP),
    "ods": ("application/vnd.oasis.opendocument.spreadsheet", _ZIP),
    "txt": ("text/plain", None),
    "csv": ("text/csv", None),
}


class SendError(Exception):
    """A refusal, in French, tied to a field of the send form ("" for the whole message)."""

    def __init__(self, message: str, field: str = ""):
        super().__init__(message)
        self.message = message
        self.field = field


class NotSendable(SendError):
    """The invoice's status does not allow sending it (a draft, a paid or cancelled one)."""


@dataclass
class Draft:
    """What the send form holds: the owner may change every part before sending."""

    recipients: list[str]
    cc: list[str]
    bcc_me: bool
    subject: str
    body: str
    attach_pdf: bool = True


@dataclass
class Outgoing:
    """Exactly what will leave: « Aperçu » shows it, `send_invoice` writes it."""

    sender: str
    recipients: list[str]
    cc: list[str]
    bcc: list[str]
    subject: str
    text_body: str
    html_body: str
    link: str
    files: list[File] = field(default_factory=list)


def language(invoice: Invoice) -> str:
    """The client's language: that of its emails."""
    return invoice.client.language if invoice.client is not None else "fr"


def placeholders(invoice: Invoice) -> dict:
    """{numero}, {client}, {montant}, {echeance}, {solde} in the client's language ({lien} comes
    later). With a payment schedule, {montant} and {echeance} are the amount due now and its
    date (`payments.due_now`: the next instalment); without one, the total and the due date.
    {solde} is the balance."""
    if invoice.instalments:
        due = payments.due_now(invoice)
        amount, day = due.amount_cents, due.due_date
    else:
        amount, day = invoice.total_cents, invoice.due_date
    with force_locale(language(invoice)):
        return {
            "numero": invoice.number or "",
            "client": invoice.client.name if invoice.client is not None else "",
            "montant": money_filter(amount, invoice.currency),
            "echeance": date_filter(day),
            "solde": money_filter(max(invoice.balance_cents, 0), invoice.currency),
        }


def default_draft(invoice: Invoice) -> Draft:
    """The client's invoice emails; subject and body from the template of its language, filled;
    the signature after the body. `{lien}` stays: it is filled when the message is written."""
    business = settings.business()
    if language(invoice) == "en":
        subject = business.email_subject_template_en or settings.DEFAULT_SUBJECT_EN
        body = business.email_body_template_en or settings.DEFAULT_BODY_EN
    else:
        subject = business.email_subject_template or settings.DEFAULT_SUBJECT
        body = business.email_body_template or settings.DEFAULT_BODY
    values = placeholders(invoice)
    return Draft(
        recipients=list(invoice.client.emails) if invoice.client is not None else [],
        cc=[],
        bcc_me=False,
        subject=settings.fill_template(subject, values),
        body=signed(settings.fill_template(body, values), business),
        attach_pdf=True,
    )


def signed(body: str, business) -> str:
    """The body, then the business's email signature when it has one."""
    body = body.rstrip()
    if business.email_signature.strip():
        body += "\n\n-- \n" + business.email_signature.strip()
    return body


def check_sendable(invoice: Invoice) -> None:
    if not lifecycle.can_send(invoice):
        raise NotSendable(
            _(
                "Seule une facture « À envoyer » ou « Paiement attendu » peut être envoyée "
                "(celle-ci est « %(status)s »).",
                status=lifecycle.status_label(invoice),
            )
        )


def problems(invoice: Invoice | None, draft: Draft, files: list[File]) -> dict[str, str]:
    """Everything wrong with the draft, by field of the form (empty when it can leave).
    The same checks for every message (`invoice` may be None: a statement)."""
    business = settings.business()
    found: dict[str, str] = {}
    if not (business.smtp_sender or business.email):
        found[""] = _("Indiquez d'abord l'adresse email de l'entreprise dans les paramètres.")
    if not draft.recipients:
        found["recipients"] = _("Indiquez au moins un destinataire.")
    for name, addresses in (("recipients", draft.recipients), ("cc", draft.cc)):
        message = _address_problem(addresses)
        if message:
            found[name] = message
    if draft.bcc_me and not business.email:
        found["bcc_me"] = _("L'entreprise n'a pas d'adresse email : indiquez-la dans les paramètres.")
    if not draft.subject.strip():
        found["subject"] = _("Indiquez un titre.")
    elif "\r" in draft.subject or "\n" in draft.subject:
        found["subject"] = _("Le titre tient sur une seule ligne : retirez le retour à la ligne.")
    elif len(draft.subject) > MAX_SUBJECT:
        found["subject"] = _("Le titre a au plus %(max)d caractères.", max=MAX_SUBJECT)
    if not draft.body.strip():
        found["body"] = _("Écrivez un message.")
    message = _documents_problem(files)
    if message:
        found["documents"] = message
    return found


def _address_problem(addresses: list[str]) -> str:
    if len(addresses) > MAX_RECIPIENTS:
        return _("%(max)d adresses au plus.", max=MAX_RECIPIENTS)
    bad = []
    for address in addresses:
        try:
            validate_email(address, check_deliverability=False)
        except EmailNotValidError:
            bad.append(address)
    if not bad:
        return ""
    return ngettext(
        "Adresse email invalide : %(addresses)s",
        "Adresses email invalides : %(addresses)s",
        len(bad),
        addresses=", ".join(bad),
    )


def _megabytes(size: int) -> str:
    return f"{size / 1_048_576:.1f}".replace(".", ",")


def _documents_problem(files: list[File]) -> str:
    if len(files) > MAX_DOCUMENTS:
        return _("%(max)d documents au plus.", max=MAX_DOCUMENTS)
    for file in files:
        extension = file.filename.rpartition(".")[2].lower() if "." in file.filename else ""
        if extension not in DOCUMENT_TYPES:
            return _(
                "Type de fichier refusé : « %(name)s ». Permis : PDF, PNG, JPEG, Word (.docx), "
                "Excel (.xlsx), OpenDocument (.odt, .ods), texte (.txt, .csv).",
                name=file.filename,
            )
        if not _looks_like(file.data, extension):
            return _(
                "« %(name)s » n'est pas un vrai fichier %(kind)s : "
                "son contenu ne correspond pas à son extension.",
                name=file.filename,
                kind=extension.upper(),
            )
        if len(file.data) > MAX_DOCUMENT_BYTES:
            return _(
                "« %(name)s » est trop volumineux (%(size)s Mo) : %(max)d Mo au maximum par document.",
                name=file.filename,
                size=_megabytes(len(file.data)),
                max=MAX_DOCUMENT_BYTES // 1_048_576,
            )
    total = sum(len(file.data) for file in files)
    if total > MAX_DOCUMENTS_BYTES:
        return _(
            "Les documents font %(size)s Mo au total : %(max)d Mo au maximum.",
            size=_megabytes(total),
            max=MAX_DOCUMENTS_BYTES // 1_048_576,
        )
    return ""


def _looks_like(data: bytes, extension: str) -> bool:
    signature = DOCUMENT_TYPES[extension][1]
    if signature is not None:
        return data.startswith(signature)
    if b"\x00" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def document(filename: str, data: bytes) -> File:
    """An uploaded document, named as the client will see it; its type comes from its extension
    (and `problems` checks the bytes agree)."""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip() or "document"
    extension = name.rpartition(".")[2].lower() if "." in name else ""
    if len(name) > 200:  # keep the extension
        name = name[: 199 - len(extension)] + "." + extension if extension else name[:200]
    content_type = DOCUMENT_TYPES.get(extension, ("application/octet-stream", None))[0]
    return File(filename=name, content_type=content_type, data=data, kind="document")


def prepare(invoice: Invoice, draft: Draft, files: list[File], base_url: str,
            link_token: str = "…") -> Outgoing:
    """Check the draft and compose what will leave: headers, text and HTML bodies with the
    portal link made from `link_token`, the invoice PDF, the terms PDF and `files`.
    Raises SendError (the first problem); changes nothing."""
    check_sendable(invoice)
    check(draft, files)
    business = settings.business()
    link = portal_link(base_url, link_token)
    with force_locale(language(invoice)):
        attached = []
        if draft.attach_pdf:
            attached.append(
                File(documents.filename(invoice), "application/pdf",
                     documents.invoice_pdf(invoice), "invoice")
            )
        terms = _terms(business)
        if terms is not None:
            attached.append(terms)
        values = {**placeholders(invoice), "lien": link}
        return compose(draft, values, attached, files, "email/invoice.html", invoice=invoice)


def check(draft: Draft, files: list[File]) -> None:
    """Raise SendError for the first problem of the draft, if any."""
    found = problems(None, draft, files)
    if found:
        field_name, message = next(iter(found.items()))
        raise SendError(message, field_name)


def compose(draft: Draft, values: dict, attached: list[File], files: list[File],
            html_template: str, **context) -> Outgoing:
    """What leaves, from a checked draft (an invoice's or a statement's): the subject and the
    text with `values` filled (`values["lien"]`: the client's link), the HTML part from
    `html_template` (given `context`), the blind copy to the business, `attached` (the PDF)
    then the owner's `files`. Call it in the client's language (`force_locale`)."""
    business = settings.business()
    link = values["lien"]
    subject = " ".join(settings.fill_template(draft.subject.strip(), values).split())
    if len(subject) > MAX_SUBJECT:
        raise SendError(
            _("Une fois {numero}, {client}, {lien}… remplacés, le titre dépasse %(max)d "
              "caractères : raccourcissez-le.", max=MAX_SUBJECT),
            "subject",
        )
    body = draft.body.replace("\r\n", "\n").replace("\r", "\n").strip()  # browsers send CRLF
    text = settings.fill_template(body, values) + "\n"
    html = render_template(
        html_template,
        business=business,
        subject=subject,
        paragraphs=[part.strip("\n") for part in re.split(r"\n[ \t]*\n", text.strip())],
        link=link,
        lang=str(get_locale() or "fr"),
        **context,
    )
    return Outgoing(
        sender=mailer.sender(business),
        recipients=list(draft.recipients),
        cc=list(draft.cc),
        bcc=[business.email] if draft.bcc_me else [],
        subject=subject,
        text_body=text,
        html_body=html,
        link=link,
        files=list(attached) + list(files),
    )


def _terms(business) -> File | None:
    """The terms-and-conditions PDF of the settings, attached to every invoice when set."""
    try:
        path = uploads.path(business.terms_path)
    except FileNotFoundError:
        return None
    name = business.terms_filename or _("Conditions-generales.pdf")
    return File(name, "application/pdf", path.read_bytes(), "terms")


def write(outgoing: Outgoing, **fields) -> Message:
    """The outbox row of what `prepare` composed; `fields` set the other columns."""
    return new_message(
        sender=outgoing.sender,
        recipients=outgoing.recipients,
        cc=outgoing.cc,
        bcc=outgoing.bcc,
        subject=outgoing.subject,
        text_body=outgoing.text_body,
        html_body=outgoing.html_body,
        files=outgoing.files,
        **fields,
    )


def send_invoice(invoice: Invoice, draft: Draft, documents: list[File], base_url: str,
                 batch: str | None = None) -> Message:
    """Write the message to the outbox with its attachments and record the sending on the
    invoice (*Paiement attendu*, the revision it carries, a history event). No SMTP here:
    the caller commits, then wakes the outbox."""
    token = new_link_token()
    outgoing = prepare(invoice, draft, documents, base_url, token)
    message = write(
        outgoing,
        link_token=token,
        kind="invoice",
        invoice=invoice,
        client=invoice.client,
        revision=invoice.revision,
        batch=batch,
    )
    sent_pdf = next((each.data for each in outgoing.files if each.kind == "invoice"), None)
    invoices.record_emailed(invoice, ", ".join(outgoing.recipients), sent_pdf)
    return message


# --- After sending: the history and the client's click -------------------------


def messages_of(invoice: Invoice) -> list[Message]:
    """Every message of the invoice, newest first, with its attachments (two queries)."""
    return list(
        db.session.scalars(
            select(Message)
            .where(Message.invoice_id == invoice.id)
            .options(selectinload(Message.attachments))
            .order_by(Message.created_at.desc(), Message.id.desc())
        )
    )


def record_click(message: Message) -> bool:
    """« Le client a cliqué sur le lien »: the first opening of the message's link is kept
    (time, state, a history event); later ones change nothing. True the first time."""
    clicked = literal(MessageState.CLICKED, Message.__table__.c.state.type)
    result = db.session.execute(
        update(Message)
        .where(Message.id == message.id, Message.clicked_at.is_(None))
        .values(
            clicked_at=utcnow(),
            state=case(
                (Message.state.in_((MessageState.SENT, MessageState.PROCESSING)), clicked),
                else_=Message.state,
            ),
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    db.session.refresh(message)
    if message.invoice is not None:
        history.log(message.invoice, "clicked", str(message.id))
    db.session.flush()
    return True
