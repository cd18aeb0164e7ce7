"""Every model of the application, typed SQLAlchemy 2.0 style.

Amounts are integer cents. Tax rates are integer thousandths of a percent
(9 975 means 9,975 %). Secrets (SMTP password, Stripe keys) live in `Business`
and are never rendered back into a page.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from flask import g
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import (
    JSON,
    Column,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from billing import clock


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


def write_lock() -> None:
    """End the read-only transaction open so far and start one holding the write lock.

    On SQLite the new transaction starts with BEGIN IMMEDIATE (see `_sqlite_begin`
    in app.py): what is read next cannot change before this transaction writes, and
    a busy database is waited for (busy_timeout) instead of failing. Call it before
    reading what will be written; objects loaded before are reloaded when next used.
    """
    session = db.session
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("write_lock() must come before any change")
    session.commit()
    session.connection(execution_options={"sqlite_immediate": True})


def read_first() -> None:
    """In a request that writes (POST...), read without holding the write lock until
    `write_lock()`: for long work (PDFs of many invoices) before short writes. The login
    check already began the request's transaction with the lock (`_sqlite_begin` in
    app.py): it is ended here."""
    g.read_first = True
    db.session.commit()


def utcnow() -> datetime:
    """Now, naive UTC, from the application's one clock (`billing.clock`)."""
    return clock.now()


class Country(enum.Enum):
    FR = "FR"
    BE = "BE"
    CA_QC = "CA-QC"
    OTHER = "other"


class SmtpSecurity(enum.Enum):
    STARTTLS = "starttls"
    SSL = "ssl"
    NONE = "none"


class JobStatus(enum.Enum):
    OPEN = "open"
    CLOSED = "closed"


class InvoiceKind(enum.Enum):
    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"  # « Avoir »: cancels an invoice


class InvoiceStatus(enum.Enum):
    DRAFT = "draft"  # Brouillon: no number yet
    TO_SEND = "to_send"  # À envoyer: finalized, numbered
    AWAITING_PAYMENT = "awaiting_payment"  # Paiement attendu: sent
    PAID = "paid"  # Payée
    CANCELLED = "cancelled"  # Annulée: by a credit note


class User(db.Model):
    """The owner: the one account that logs in."""

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    language: Mapped[str] = mapped_column(String(2), default="fr")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When the owner last opened the board: « Depuis votre dernière visite » lists what came after.
    board_seen_at: Mapped[datetime | None]


class LoginAttempt(db.Model):
    """One login try, kept to rate-limit guessing from one address."""

    id: Mapped[int] = mapped_column(primary_key=True)
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    success: Mapped[bool] = mapped_column(default=False)

    __table_args__ = (Index("ix_login_attempt_address_at", "address", "at"),)


class Business(db.Model):
    """The consultant's business: a single row holding identity and settings."""

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(Text, default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    phone: Mapped[str] = mapped_column(String(50), default="")
    logo_path: Mapped[str | None] = mapped_column(String(100))
    country: Mapped[Country] = mapped_column(default=Country.FR)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Paris")

    vat_number: Mapped[str] = mapped_column(String(50), default="")
    gst_number: Mapped[str] = mapped_column(String(50), default="")  # TPS (Canada)
    qst_number: Mapped[str] = mapped_column(String(50), default="")  # TVQ (Québec)
    siren: Mapped[str] = mapped_column(String(20), default="")
    bce_number: Mapped[str] = mapped_column(String(20), default="")
    iban: Mapped[str] = mapped_column(String(34), default="")
    bic: Mapped[str] = mapped_column(String(11), default="")

    payment_terms_days: Mapped[int] = mapped_column(default=30)
    invoice_number_format: Mapped[str] = mapped_column(String(60), default="F-{YYYY}-{SEQ:04}")
    credit_note_number_format: Mapped[str] = mapped_column(
        String(60), default="AV-{YYYY}-{SEQ:04}"
    )
    late_payment_text: Mapped[str] = mapped_column(Text, default="")
    legal_footer: Mapped[str] = mapped_column(Text, default="")
    vat_exempt: Mapped[bool] = mapped_column(default=False)  # art. 293 B du CGI

    email_subject_template: Mapped[str] = mapped_column(String(200), default="")
    email_body_template: Mapped[str] = mapped_column(Text, default="")
    # The same message for clients who read English (`Client.language` "en").
    email_subject_template_en: Mapped[str] = mapped_column(String(200), default="")
    email_body_template_en: Mapped[str] = mapped_column(Text, default="")
    email_signature: Mapped[str] = mapped_column(Text, default="")
    terms_path: Mapped[str | None] = mapped_column(String(100))
    terms_filename: Mapped[str | None] = mapped_column(String(200))

    smtp_host: Mapped[str] = mapped_column(String(200), default="")
    smtp_port: Mapped[int] = mapped_column(default=587)
    smtp_security: Mapped[SmtpSecurity] = mapped_column(default=SmtpSecurity.STARTTLS)
    smtp_username: Mapped[str] = mapped_column(String(200), default="")
    smtp_password: Mapped[str] = mapped_column(String(200), default="")
    smtp_sender: Mapped[str] = mapped_column(String(254), default="")

    stripe_publishable_key: Mapped[str] = mapped_column(String(200), default="")
    stripe_secret_key: Mapped[str] = mapped_column(String(200), default="")
    stripe_webhook_secret: Mapped[str] = mapped_column(String(200), default="")

    @property
    def smtp_configured(self) -> bool:
        return bool(self.smtp_host)

    @property
    def stripe_configured(self) -> bool:
        return bool(self.stripe_secret_key and self.stripe_webhook_secret)


class NumberSequence(db.Model):
    """The next number of a series ("invoice", "credit_note") in a year.

    The only source of document numbers. `year` is 0 when the series' format
    has no year in it (then the count never restarts). `last_issued` is the
    highest value given to a document: the owner may move `next_value` up or
    down in the settings, never down to a value already given.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    series: Mapped[str] = mapped_column(String(20))
    year: Mapped[int]
    next_value: Mapped[int] = mapped_column(default=1)
    last_issued: Mapped[int] = mapped_column(default=0)

    __table_args__ = (UniqueConstraint("series", "year"),)


class TaxRate(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60))
    rate_millis: Mapped[int]  # thousandths of a percent: 9975 = 9,975 %
    registration_number: Mapped[str] = mapped_column(String(50), default="")
    active: Mapped[bool] = mapped_column(default=True)
    # Set when a finalized invoice uses the rate: from then on it can only be
    # deactivated, never changed or deleted.
    locked: Mapped[bool] = mapped_column(default=False)


item_tax_rate = Table(
    "item_tax_rate",
    db.metadata,
    Column("item_id", ForeignKey("item.id", ondelete="CASCADE"), primary_key=True),
    Column("tax_rate_id", ForeignKey("tax_rate.id", ondelete="RESTRICT"), primary_key=True),
)


class Item(db.Model):
    """A product or service of the catalog (« Produits et services »)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    unit: Mapped[str] = mapped_column(String(30), default="")
    unit_price_cents: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)
    tax_rates: Mapped[list[TaxRate]] = relationship(secondary=item_tax_rate, order_by=TaxRate.id)


class Client(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    company_number: Mapped[str] = mapped_column(String(30), default="")  # SIREN / BCE
    vat_number: Mapped[str] = mapped_column(String(30), default="")
    address: Mapped[str] = mapped_column(Text, default="")
    emails: Mapped[list[str]] = mapped_column(JSON, default=list)
    by_email: Mapped[bool] = mapped_column(default=True)
    language: Mapped[str] = mapped_column(String(2), default="fr")
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    payment_terms_days: Mapped[int | None]
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("client.id"), index=True)
    notes: Mapped[str] = mapped_column(Text, default="")
    archived: Mapped[bool] = mapped_column(default=False, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    parent: Mapped[Client | None] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[Client]] = relationship(back_populates="parent", order_by="Client.name")
    jobs: Mapped[list[Job]] = relationship(back_populates="client", order_by="Job.name")


class Job(db.Model):
    """A piece of work for a client (« Dossier »); invoices link to it."""

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    client_id: Mapped[int] = mapped_column(ForeignKey("client.id"), index=True)
    status: Mapped[JobStatus] = mapped_column(default=JobStatus.OPEN, index=True)
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    client: Mapped[Client] = relationship(back_populates="jobs")


class Invoice(db.Model):
    """An invoice or a credit note. Totals are stored, in cents, recomputed on every change.

    A draft has no number. Once finalized it is never deleted; a credit note
    (`kind` CREDIT_NOTE, `credited_invoice_id` set) cancels it.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[InvoiceKind] = mapped_column(default=InvoiceKind.INVOICE, index=True)
    number: Mapped[str | None] = mapped_column(String(40), unique=True)
    status: Mapped[InvoiceStatus] = mapped_column(default=InvoiceStatus.DRAFT, index=True)
    client_id: Mapped[int | None] = mapped_column(ForeignKey("client.id"), index=True)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("job.id"), index=True)
    issue_date: Mapped[date] = mapped_column(index=True)
    # False while the draft's date is the one it was given: finalizing then dates it that day.
    issue_date_chosen: Mapped[bool] = mapped_column(default=False)
    # « Date de la prestation »: a day (start only) or a period; none means the issue date.
    service_start: Mapped[date | None]
    service_end: Mapped[date | None]
    payment_terms_days: Mapped[int] = mapped_column(default=30)
    due_date: Mapped[date] = mapped_column(index=True)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    reference: Mapped[str] = mapped_column(String(100), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    footer: Mapped[str] = mapped_column(Text, default="")

    net_cents: Mapped[int] = mapped_column(default=0)
    tax_cents: Mapped[int] = mapped_column(default=0)
    total_cents: Mapped[int] = mapped_column(default=0)
    paid_cents: Mapped[int] = mapped_column(default=0)
    credited_cents: Mapped[int] = mapped_column(default=0)

    revision: Mapped[int] = mapped_column(default=1)
    finalized_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]  # first sending (by email or by hand)
    sent_revision: Mapped[int | None]  # the revision issued (the last one, from then on)
    # SHA-256 of the PDF archived when the invoice was issued (documents.archive).
    pdf_sha256: Mapped[str | None] = mapped_column(String(64))
    credited_invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoice.id"), index=True)
    # A draft made by « Corriger la facture »: the issued invoice it replaces.
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("invoice.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, index=True)

    client: Mapped[Client | None] = relationship()
    job: Mapped[Job | None] = relationship()
    lines: Mapped[list[InvoiceLine]] = relationship(
        back_populates="invoice", order_by="InvoiceLine.position", cascade="all, delete-orphan"
    )
    taxes: Mapped[list[InvoiceTax]] = relationship(
        order_by="InvoiceTax.position", cascade="all, delete-orphan"
    )
    instalments: Mapped[list[Instalment]] = relationship(
        order_by="Instalment.position", cascade="all, delete-orphan"
    )
    credited_invoice: Mapped[Invoice | None] = relationship(
        remote_side=[id], foreign_keys=[credited_invoice_id]
    )
    replaces: Mapped[Invoice | None] = relationship(remote_side=[id], foreign_keys=[replaces_id])

    @property
    def balance_cents(self) -> int:
        """What the client still owes."""
        return self.total_cents - self.paid_cents - self.credited_cents

    @property
    def is_credit_note(self) -> bool:
        return self.kind is InvoiceKind.CREDIT_NOTE

    @property
    def is_draft(self) -> bool:
        return self.status is InvoiceStatus.DRAFT

    def is_overdue(self, today: date) -> bool:
        """« En retard »: sent, due date passed, something left to pay."""
        return (
            self.status is InvoiceStatus.AWAITING_PAYMENT
            and self.due_date < today
            and self.balance_cents > 0
        )

    @property
    def is_partially_paid(self) -> bool:
        """« Paiement partiel »: some paid, some left."""
        return self.paid_cents > 0 and self.balance_cents > 0


class InvoiceLine(db.Model):
    """A line: a copy of what was sold, never a live link to the catalog."""

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    item_id: Mapped[int | None] = mapped_column(ForeignKey("item.id", ondelete="SET NULL"))
    description: Mapped[str] = mapped_column(Text, default="")
    quantity_millis: Mapped[int] = mapped_column(default=1000)  # thousandths: 1500 = 1,5
    unit: Mapped[str] = mapped_column(String(30), default="")
    unit_price_cents: Mapped[int] = mapped_column(default=0)
    discount_percent_millis: Mapped[int | None]  # thousandths of a percent
    discount_cents: Mapped[int | None]
    net_cents: Mapped[int] = mapped_column(default=0)

    invoice: Mapped[Invoice] = relationship(back_populates="lines")
    taxes: Mapped[list[InvoiceLineTax]] = relationship(
        order_by="InvoiceLineTax.id", cascade="all, delete-orphan"
    )


class InvoiceLineTax(db.Model):
    """A tax on a line: name, rate and registration number copied from the tax rate."""

    id: Mapped[int] = mapped_column(primary_key=True)
    line_id: Mapped[int] = mapped_column(
        ForeignKey("invoice_line.id", ondelete="CASCADE"), index=True
    )
    tax_rate_id: Mapped[int | None] = mapped_column(
        ForeignKey("tax_rate.id", ondelete="SET NULL"), index=True
    )
    name: Mapped[str] = mapped_column(String(60))
    rate_millis: Mapped[int]
    registration_number: Mapped[str] = mapped_column(String(50), default="")


class InvoiceTax(db.Model):
    """One tax of an invoice, computed on the sum of the nets that carry it."""

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    name: Mapped[str] = mapped_column(String(60))
    rate_millis: Mapped[int]
    registration_number: Mapped[str] = mapped_column(String(50), default="")
    base_cents: Mapped[int]
    amount_cents: Mapped[int]


class Instalment(db.Model):
    """One due date of a payment schedule (« Calendrier de paiement »)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    due_date: Mapped[date]
    percent_millis: Mapped[int | None]  # as typed, when given as a percentage
    amount_cents: Mapped[int]


class Event(db.Model):
    """A line of an invoice's or a client's history (« Historique »)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    invoice_id: Mapped[int | None] = mapped_column(
        ForeignKey("invoice.id", ondelete="CASCADE"), index=True
    )
    client_id: Mapped[int | None] = mapped_column(ForeignKey("client.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str] = mapped_column(Text, default="")
    revision: Mapped[int | None]

    invoice: Mapped[Invoice | None] = relationship()


class MessageState(enum.Enum):
    PROCESSING = "processing"  # En traitement: in the outbox, not delivered yet
    SENT = "sent"  # Envoyée au client: accepted by the SMTP server (or written as .eml)
    CLICKED = "clicked"  # Le client a cliqué sur le lien
    ABANDONED = "abandoned"  # Abandonnée: permanent failure, or out of tries


class Message(db.Model):
    """An email in the outbox, kept for good as it was sent (« Historique des communications »).

    Written by the request, delivered by the worker. `message_id` (the
    Message-ID header) is fixed when the message is written, so a retried
    delivery carries the same one. `bcc` goes to the SMTP envelope only,
    never into the headers. `lease_until` is set while a worker delivers it:
    another worker leaves it alone until the lease runs out.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), default="invoice")  # invoice | statement | notice
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoice.id"), index=True)
    client_id: Mapped[int | None] = mapped_column(ForeignKey("client.id"), index=True)
    revision: Mapped[int | None]  # the invoice revision whose PDF it carries
    statement_id: Mapped[int | None] = mapped_column(ForeignKey("statement.id"), index=True)
    batch: Mapped[str | None] = mapped_column(String(32), index=True)  # sent together (registers)

    sender: Mapped[str] = mapped_column(String(400))
    recipients: Mapped[list[str]] = mapped_column(JSON, default=list)
    cc: Mapped[list[str]] = mapped_column(JSON, default=list)
    bcc: Mapped[list[str]] = mapped_column(JSON, default=list)
    subject: Mapped[str] = mapped_column(String(300))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str] = mapped_column(Text, default="")
    message_id: Mapped[str] = mapped_column(String(200), unique=True)
    link_token: Mapped[str | None] = mapped_column(String(64), unique=True)

    state: Mapped[MessageState] = mapped_column(default=MessageState.PROCESSING, index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    next_try_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    lease_until: Mapped[datetime | None]
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    clicked_at: Mapped[datetime | None]
    dismissed_at: Mapped[datetime | None]  # the owner hid its « Abandonnée » banner

    invoice: Mapped[Invoice | None] = relationship()
    client: Mapped[Client | None] = relationship()
    attachments: Mapped[list[Attachment]] = relationship(
        order_by="Attachment.position", cascade="all, delete-orphan"
    )


class Attachment(db.Model):
    """A file sent with a message: a stored copy, so « Documents » shows what really left."""

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("message.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(default=0)
    kind: Mapped[str] = mapped_column(String(20), default="document")  # invoice | terms | document
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    stored_name: Mapped[str] = mapped_column(String(100))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))


class PaymentMethod(enum.Enum):
    CREDIT_CARD = "credit_card"  # Carte de crédit
    DEBIT_CARD = "debit_card"  # Carte de débit
    CHEQUE = "cheque"  # Chèque
    CASH = "cash"  # Comptant
    CREDIT = "credit"  # Crédit
    ONLINE = "online"  # En ligne
    PAYPAL = "paypal"  # PayPal
    STRIPE = "stripe"  # Stripe
    BANK_TRANSFER = "bank_transfer"  # Transfert bancaire


class Payment(db.Model):
    """Money received for an invoice (« Ajouter un paiement », or Stripe).

    `reference` is the payment's outside id (a Stripe payment intent): one payment
    per invoice and reference, so a replayed webhook never records it twice.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"), index=True)
    paid_on: Mapped[date] = mapped_column(index=True)
    amount_cents: Mapped[int]
    method: Mapped[PaymentMethod]
    notes: Mapped[str] = mapped_column(Text, default="")
    reference: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    invoice: Mapped[Invoice] = relationship()

    __table_args__ = (UniqueConstraint("invoice_id", "reference"),)


class PortalToken(db.Model):
    """The client's link to an invoice in the portal (`/p/<token>`): long, random, revocable.

    Revoking gives a new token; the old one, and the links of the messages sent
    before, lead nowhere from then on.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"), index=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]

    invoice: Mapped[Invoice] = relationship()


class StripeEvent(db.Model):
    """A Stripe webhook event already handled: a replay of it changes nothing."""

    id: Mapped[str] = mapped_column(String(255), primary_key=True)  # evt_...
    type: Mapped[str] = mapped_column(String(100))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class StripePayment(db.Model):
    """A Stripe payment intent already allocated: which invoices it paid is the `Payment`
    rows whose `reference` is this intent. Every later event for the intent finds this row
    and records nothing, whatever became owing meanwhile."""

    intent: Mapped[str] = mapped_column(String(255), primary_key=True)  # pi_...
    event_id: Mapped[str] = mapped_column(String(255))
    currency: Mapped[str] = mapped_column(String(3))
    amount_cents: Mapped[int]  # what Stripe says was received
    recorded_cents: Mapped[int] = mapped_column(default=0)  # what went to invoices
    note: Mapped[str] = mapped_column(String(500), default="")  # why less was recorded
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LoginSession(db.Model):
    """One login of the owner, on one device. The session cookie carries its random `id`;
    logging out revokes the row, so a copied cookie stops working there and then."""

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class FormToken(db.Model):
    """A one-time token carried by a form that must not act twice (send, batch, payment).
    The first POST marks it used and keeps where its result is shown; a second POST of
    the same form does nothing and shows that result."""

    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None]
    result_url: Mapped[str] = mapped_column(String(500), default="")


class Statement(db.Model):
    """A statement of account (« Relevé ») as it was sent or shared: the client, the period
    and the options. Its `token` opens it in the portal, where « Tout payer » pays every
    open invoice it lists; the figures are computed again from the invoices each time."""

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("client.id"), index=True)
    start: Mapped[date]
    end: Mapped[date]
    unpaid_only: Mapped[bool] = mapped_column(default=False)
    include_children: Mapped[bool] = mapped_column(default=False)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    client: Mapped[Client] = relationship()
