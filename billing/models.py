"""Every model of the application, typed SQLAlchemy 2.0 style.

Amounts are integer cents. Tax rates are integer thousandths of a percent
(9 975 means 9,975 %). Secrets (SMTP password, Stripe keys) live in `Business`
and are never rendered back into a page.
"""

from __future__ import annotations

import enum
from datetime import datetime, timezone

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


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


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


class User(db.Model):
    """The owner: the one account that logs in."""

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    language: Mapped[str] = mapped_column(String(2), default="fr")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


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
