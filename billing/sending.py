"""Messages to clients: what to write, the outbox rows, their attachments, the history.

A request never talks to the SMTP server: it writes a `Message` (recipients,
subject, bodies, copies of the attachments, a Message-ID and a personal portal
link token) in the same transaction as the invoice's change of status.
`billing/outbox.py` delivers it afterwards.

Attachments are stored under `<UPLOAD_FOLDER>/messages/` with random names, so
what « Documents » shows is exactly what left, whatever happens to the invoice
or the settings afterwards.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from email.utils import make_msgid
from pathlib import Path

from billing import uploads
from billing.models import Attachment, Message, MessageState, db

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
                files: list[File] = (), with_link: bool = False, **fields) -> Message:
    """A message in the outbox, state « En traitement », with copies of `files`.

    `fields` sets the other columns (kind, invoice, client, revision, batch).
    With `with_link`, the message gets its own portal token (`link_token`).
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
        link_token=secrets.token_urlsafe(32) if with_link else None,
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
