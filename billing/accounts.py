"""The owner account: creation, login and its rate limit."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _
from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from billing import settings
from billing.models import LoginAttempt, User, db, utcnow

MIN_PASSWORD_LENGTH = 10


class AccountError(Exception):
    """A reason, in French, why an account action was refused."""


class TooManyAttempts(AccountError):
    pass


def owner_exists() -> bool:
    return db.session.scalar(select(func.count()).select_from(User)) > 0


def normalize_email(email: str) -> str:
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as error:
        address = email.strip() or _("(vide)")
        raise AccountError(_("Adresse email invalide : %(address)s", address=address)) from error


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(
            _("Le mot de passe doit contenir au moins %(n)s caractères.", n=MIN_PASSWORD_LENGTH)
        )


def create_owner(email: str, password: str, business_name: str) -> User:
    """Create the one owner account and the business it runs."""
    if owner_exists():
        raise AccountError(_("Le compte propriétaire existe déjà."))
    email = normalize_email(email)
    check_password(password)
    if not business_name.strip():
        raise AccountError(_("Le nom de l'entreprise est obligatoire."))
    user = User(email=email, password_hash=generate_password_hash(password, method="scrypt"))
    db.session.add(user)
    settings.create_business(business_name.strip(), email)
    db.session.flush()
    return user


def recent_failures(address: str, now: datetime, window: timedelta) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(LoginAttempt)
        .where(
            LoginAttempt.address == address,
            LoginAttempt.success.is_(False),
            LoginAttempt.at > now - window,
        )
    )


def authenticate(
    email: str, password: str, address: str, max_failures: int, window: timedelta
) -> User | None:
    """Check a login; record the attempt. Raises TooManyAttempts when limited."""
    now = utcnow()
    if recent_failures(address, now, window) >= max_failures:
        minutes = int(window.total_seconds() // 60)
        raise TooManyAttempts(
            _(
                "Trop de tentatives de connexion depuis votre adresse. "
                "Réessayez dans %(minutes)s minutes.",
                minutes=minutes,
            )
        )
    user = db.session.scalar(select(User).where(User.email == email.strip().lower()))
    ok = user is not None and check_password_hash(user.password_hash, password)
    db.session.add(LoginAttempt(address=address, at=now, success=ok))
    db.session.execute(
        LoginAttempt.__table__.delete().where(LoginAttempt.at < now - timedelta(days=1))
    )
    db.session.flush()
    return user if ok else None


def session_token(user: User) -> str:
    """What a login session holds besides the user id: it changes with the password,
    so changing the password logs out every other session."""
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:32]


def change_password(user: User, current: str, new: str) -> None:
    if not check_password_hash(user.password_hash, current):
        raise AccountError(_("Le mot de passe actuel est incorrect."))
    check_password(new)
    user.password_hash = generate_password_hash(new, method="scrypt")
    db.session.flush()
