"""The outbox: the worker that delivers the messages requests wrote, with leases and retries.

A request writes a `Message` and calls `wake()` after its commit; the worker
(`run`: a thread in the web process, or `flask --app app worker`) then calls
`deliver_due`, which claims due messages and delivers them:

- **Claim.** Under the write lock (`write_lock`: BEGIN IMMEDIATE on SQLite, as numbering
  does), one conditional UPDATE sets `lease_until` on the messages that are
  still « En traitement », due, and not leased by a live worker; its rowcount
  says whether this worker won them. The claim is committed before any SMTP
  talk, and the lease is renewed before each message of a batch, so two
  threads or processes never deliver the same message while a lease runs.
- **Delivery.** Messages sharing a `batch` go over one SMTP connection, each
  with its own result. Accepted → *Envoyée au client*. A temporary failure (no
  answer, disconnection, 4xx) → tried again later (1 min, 5 min, 15 min, 1 h,
  4 h), up to `BILLING_MAX_ATTEMPTS`; a permanent one (5xx, every recipient
  refused, bad address, login refused) → *Abandonnée* at once, with the
  server's reason in `error`. Without SMTP settings the message is written to
  `instance/mail-outbox/<id>-<subject>.eml` and counts as sent.
- **Crashes.** A worker killed mid-delivery leaves its message « En
  traitement » with a lease: once the lease has run out
  (`BILLING_LEASE_SECONDS`), another worker delivers it. One window remains:
  the server accepted the message (250 after DATA) and the worker died before
  committing *Envoyée*. The message is then delivered a second time, but with
  the same Message-ID header, fixed when the message was written: mail
  systems (Gmail, Exchange, most clients) treat a second message with an
  identical Message-ID as the same message and show it once. Closing that
  window would need the SMTP server to take part in our transaction, which it
  cannot.
"""

from __future__ import annotations

import os
import re
import threading
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime
from zoneinfo import ZoneInfo

from flask import Flask, current_app
from flask_babel import gettext as _
from sqlalchemy import func, select, update
from sqlalchemy.orm import joinedload, selectinload

from billing import mailer, settings
from billing.models import Business, Message, MessageState, db, utcnow, write_lock
from billing.sending import attachment_path

BACKOFF = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=15),
    timedelta(hours=1),
    timedelta(hours=4),
)
ALERTS_SHOWN = 5  # the banner lists this many, then « and N more »


# --- The message as it leaves -------------------------------------------------


def build(message: Message, business: Business) -> EmailMessage:
    """The MIME message exactly as delivered: headers, text (and HTML) body, attachments.

    Header values are kept on one line, so a name or subject holding a line
    break can never add a header; non-ASCII text is encoded (RFC 2047/2231).
    Blind copies never appear: they are in the SMTP envelope only. The Date is
    the sending time in the business's time zone.
    """
    email = EmailMessage(policy=policy.SMTP)
    email["From"] = _one_line(message.sender)
    email["To"] = ", ".join(_one_line(address) for address in message.recipients)
    if message.cc:
        email["Cc"] = ", ".join(_one_line(address) for address in message.cc)
    email["Subject"] = _one_line(message.subject)
    sent = (message.sent_at or utcnow()).replace(tzinfo=timezone.utc)
    email["Date"] = format_datetime(sent.astimezone(ZoneInfo(business.timezone or "UTC")))
    email["Message-ID"] = _one_line(message.message_id)
    email.set_content(message.text_body, cte="quoted-printable")
    if message.html_body:
        email.add_alternative(message.html_body, subtype="html", cte="quoted-printable")
    for attachment in message.attachments:
        maintype, _slash, subtype = attachment.content_type.partition("/")
        if maintype in ("", "multipart", "message") or not subtype:
            maintype, subtype = "application", "octet-stream"
        email.add_attachment(
            attachment_path(attachment).read_bytes(),
            maintype=maintype,
            subtype=subtype,
            filename=_one_line(attachment.filename),
        )
    return email


def _one_line(value: str) -> str:
    return " ".join(value.splitlines()).strip()


def envelope(message: Message) -> list[str]:
    """Who the SMTP server delivers to: To, Cc and the blind copies, each once."""
    return list(dict.fromkeys([*message.recipients, *message.cc, *message.bcc]))


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:60] or "message"


# --- Claiming and delivering --------------------------------------------------


@dataclass
class _Outgoing:
    """A claimed message, built and ready to go (nothing here touches the database)."""

    id: int
    attempts: int
    recipients: list[str]
    data: bytes
    filename: str
    lease: datetime


def deliver_due(now: datetime | None = None) -> int:
    """Deliver every message due at `now` (default: the current time); how many were sent."""
    clock = (lambda: now) if now is not None else utcnow
    sent = 0
    while claimed := _claim(clock()):
        sent += _deliver(claimed, clock)
    return sent


def _due(now: datetime):
    return (
        Message.state == MessageState.PROCESSING,
        Message.next_try_at <= now,
        (Message.lease_until.is_(None)) | (Message.lease_until < now),
    )


def _lease(now: datetime) -> datetime:
    return now + timedelta(seconds=current_app.config["BILLING_LEASE_SECONDS"])


def _claim(now: datetime) -> list[int]:
    """Lease the next due message, with the due messages of its batch; their ids.

    The write lock is only taken when something is due: an idle worker never
    holds it, so it never delays the requests.
    """
    if db.session.scalar(select(Message.id).where(*_due(now)).limit(1)) is None:
        db.session.commit()
        return []
    write_lock()  # BEGIN IMMEDIATE: one claimer at a time on SQLite
    first = db.session.execute(
        select(Message.id, Message.batch)
        .where(*_due(now))
        .order_by(Message.next_try_at, Message.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    ).first()
    if first is None:
        db.session.commit()
        return []
    same = Message.batch == first.batch if first.batch else Message.id == first.id
    ids = list(db.session.scalars(
        select(Message.id).where(same, *_due(now)).order_by(Message.id)
        .with_for_update(skip_locked=True)
    ))
    won = db.session.execute(
        update(Message)
        .where(Message.id.in_(ids), *_due(now))
        .values(lease_until=_lease(now), attempts=Message.attempts + 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    if won != len(ids):  # another worker got there first: leave them to it
        db.session.rollback()
        return []
    db.session.commit()
    return ids


def _deliver(ids: list[int], clock) -> int:
    """Build the claimed messages, then send them over one connection (or write .eml files)."""
    business = settings.business()
    messages = db.session.scalars(
        select(Message).where(Message.id.in_(ids))
        .options(selectinload(Message.attachments)).order_by(Message.id)
    ).all()
    ready: list[_Outgoing] = []
    broken: list[_Outgoing] = []
    for message in messages:
        outgoing = _Outgoing(message.id, message.attempts, envelope(message), b"",
                             f"{message.id}-{_slug(message.subject)}.eml", message.lease_until)
        try:
            outgoing.data = build(message, business).as_bytes()
        except FileNotFoundError:
            broken.append(outgoing)
        else:
            ready.append(outgoing)
    smtp_configured = business.smtp_configured
    envelope_from = mailer.envelope_sender(business)
    for outgoing in broken:
        _record(outgoing, clock(), error=mailer.MailError(_(
            "Une pièce jointe du message est introuvable sur le serveur : "
            "envoyez le message à nouveau.")))
    if not smtp_configured:
        for outgoing in ready:
            _write_eml(outgoing)
            _record(outgoing, clock())
        return len(ready)
    return _send_all(business, envelope_from, ready, clock)


def _write_eml(outgoing: _Outgoing) -> None:
    folder = mailer.outbox_folder()
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{outgoing.filename}.part"
    partial.write_bytes(outgoing.data)
    os.replace(partial, folder / outgoing.filename)  # never half a file, even if killed here


def _send_all(business: Business, envelope_from: str, ready: list[_Outgoing], clock) -> int:
    """Send over one connection; each result is committed with the lease of the next message."""
    sent, left, ours = 0, list(ready), True  # the first lease was just taken
    try:
        with mailer.Session(business) as smtp:
            while left:
                outgoing, following = left[0], (left[1] if len(left) > 1 else None)
                if not ours:  # another worker took it over: leave it
                    left.pop(0)
                    ours = following is not None and _record(None, clock(), renew=following)
                    continue
                try:
                    refused = smtp.send(envelope_from, outgoing.recipients, outgoing.data)
                except mailer.Unreachable:
                    raise
                except mailer.MailError as error:
                    ours = _record(outgoing, clock(), error=error, renew=following)
                else:
                    ours = _record(outgoing, clock(), refused=refused, renew=following)
                    sent += 1
                left.pop(0)
    except mailer.Unreachable as error:  # nothing more can go out now
        for outgoing in left:
            _record(outgoing, clock(), error=error)
    return sent


def _record(outgoing: _Outgoing | None, now: datetime, *, error: mailer.MailError | None = None,
            refused: dict[str, str] | None = None, renew: _Outgoing | None = None) -> bool:
    """Write a result, and extend the lease of the next message, in one transaction.

    A success is always recorded (whoever else holds the message); a failure
    only while this worker still holds its lease. Returns whether the lease of
    `renew` is still ours.
    """
    write_lock()
    if outgoing is not None:
        values, still_ours = _result(outgoing, now, error, refused)
        db.session.execute(
            update(Message).where(Message.id == outgoing.id, *still_ours).values(**values)
            .execution_options(synchronize_session=False)
        )
    renewed = False
    if renew is not None:
        lease = _lease(now)
        renewed = db.session.execute(
            update(Message)
            .where(Message.id == renew.id, Message.state == MessageState.PROCESSING,
                   Message.lease_until == renew.lease)
            .values(lease_until=lease)
            .execution_options(synchronize_session=False)
        ).rowcount == 1
        renew.lease = lease
    db.session.commit()
    return renewed


def _result(outgoing: _Outgoing, now: datetime, error: mailer.MailError | None,
            refused: dict[str, str] | None) -> tuple[dict, list]:
    """The columns to write for a delivery's outcome, and the condition to write them."""
    if error is None:
        current_app.logger.info("Outbox: message %s sent", outgoing.id)
        note = ""
        if refused:
            note = _("Envoyé, mais ces destinataires ont été refusés : %(refused)s.",
                     refused=", ".join(f"{address} ({reply})" for address, reply in refused.items()))
        values = {"state": MessageState.SENT, "sent_at": now, "lease_until": None, "error": note}
        return values, [Message.state.in_((MessageState.PROCESSING, MessageState.ABANDONED))]
    values = {"lease_until": None, "error": str(error)}
    if error.temporary and outgoing.attempts < current_app.config["BILLING_MAX_ATTEMPTS"]:
        values["next_try_at"] = now + BACKOFF[min(outgoing.attempts, len(BACKOFF)) - 1]
    else:
        values["state"] = MessageState.ABANDONED
        if error.temporary:
            values["error"] = _("Abandonnée après %(attempts)s tentatives : %(reason)s",
                                attempts=outgoing.attempts, reason=error)
    current_app.logger.warning("Outbox: message %s not sent (%s)", outgoing.id, values["error"])
    return values, [Message.state == MessageState.PROCESSING, Message.lease_until == outgoing.lease]


# --- The worker -------------------------------------------------------------


def _wakeup(app: Flask) -> threading.Event:
    return app.extensions.setdefault("outbox_wakeup", threading.Event())


def wake(app: Flask | None = None) -> None:
    """Tell the worker a message is waiting (call it after the request's commit)."""
    _wakeup(app or current_app._get_current_object()).set()


def run(app: Flask, stop: threading.Event) -> None:
    """Deliver due messages, then sleep until woken or for the poll interval, until `stop`.

    An error is logged and the loop goes on: the worker never dies of one message.
    """
    wakeup = _wakeup(app)
    while not stop.is_set():
        try:
            with app.app_context():
                deliver_due()
        except Exception:  # logged; the next round tries again
            app.logger.exception("Outbox: delivery round failed")
        wakeup.wait(app.config["BILLING_WORKER_POLL_SECONDS"])
        wakeup.clear()


_starting = threading.Lock()


def start_worker() -> None:
    """Start the delivery thread of this process, once (a `before_request` hook).

    Started on the first request rather than in `create_app`, so CLI commands
    (`flask db upgrade`, `backup`...) never start it, and each gunicorn worker
    starts its own after the fork (threads do not survive a fork); the leases
    keep them from delivering a message twice.
    """
    app = current_app._get_current_object()
    if "outbox_worker" in app.extensions:
        return
    with _starting:
        if "outbox_worker" in app.extensions:
            return
        stop = threading.Event()
        thread = threading.Thread(target=run, args=(app, stop), name="outbox", daemon=True)
        app.extensions["outbox_worker"] = (thread, stop)
        thread.start()


def stop_worker(app: Flask, timeout: float = 10) -> None:
    """Stop the delivery thread after its current round."""
    worker = app.extensions.pop("outbox_worker", None)
    if worker is not None:
        thread, stop = worker
        stop.set()
        wake(app)
        thread.join(timeout)


# --- The « Abandonnée » banner ------------------------------------------------


def _alerts():
    return (
        select(Message)
        .where(Message.state == MessageState.ABANDONED, Message.dismissed_at.is_(None))
        .options(joinedload(Message.invoice))
        .order_by(Message.id.desc())
    )


def abandoned_alerts(limit: int | None = None) -> list[Message]:
    """Abandoned messages the owner has not dismissed, newest first."""
    return list(db.session.scalars(_alerts().limit(limit)))


def banner(limit: int = ALERTS_SHOWN) -> tuple[list[Message], int]:
    """The alerts the banner lists and how many there are in all: one query."""
    rows = db.session.execute(_alerts().add_columns(func.count().over()).limit(limit)).all()
    return [row[0] for row in rows], rows[0][1] if rows else 0


def dismiss(message: Message) -> None:
    """Hide the banner of an abandoned message (« Masquer »)."""
    message.dismissed_at = message.dismissed_at or utcnow()
    db.session.flush()
