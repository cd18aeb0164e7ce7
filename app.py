"""Facturier: the application factory.

Read top to bottom: configuration (instance folder, secret key, database),
extensions, the login gate and security headers, blueprints, template
filters, then the command-line interface (`flask --app app ...`).
"""

from __future__ import annotations

import os
import secrets
import signal
import sqlite3
import threading
from pathlib import Path

import click
from flask import Flask, g, has_request_context, redirect, request, session, url_for
from flask_babel import Babel
from flask_mail import Mail
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from werkzeug.middleware.proxy_fix import ProxyFix

from billing import accounts, backup, demo, numbering, outbox
from billing.models import User, db
from billing.settings import LANGUAGES

ROOT = Path(__file__).resolve().parent
MAX_UPLOAD_BYTES = 32 * 1024 * 1024  # one request; each field has its own smaller limit

csrf = CSRFProtect()
migrate = Migrate()
babel = Babel()
mail = Mail()  # app-wide defaults only: each send uses the business's SMTP settings

# Endpoints reachable without the owner being logged in.
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}  # requests that only read (a few write: see write_lock)
PUBLIC_ENDPOINTS = {"static", "auth.setup", "auth.login", "healthz"}
PUBLIC_PREFIXES = ("portal.", "webhooks.")


def create_app(test_config: dict | None = None) -> Flask:
    test_config = test_config or {}
    instance = test_config.get("INSTANCE_PATH") or os.environ.get("BILLING_INSTANCE")
    instance_path = Path(instance).resolve() if instance else ROOT / "instance"
    instance_path.mkdir(parents=True, exist_ok=True)

    app = Flask(__name__, instance_path=str(instance_path))
    base_url = os.environ.get("BILLING_BASE_URL", "").rstrip("/")
    app.config.from_mapping(
        SECRET_KEY=os.environ.get("SECRET_KEY") or _instance_secret_key(instance_path),
        SQLALCHEMY_DATABASE_URI=os.environ.get("DATABASE_URL")
        or f"sqlite:///{instance_path / 'billing.sqlite'}",
        BILLING_BASE_URL=base_url,
        BILLING_WORKER=os.environ.get("BILLING_WORKER", "1") != "0",
        BILLING_WORKER_POLL_SECONDS=float(os.environ.get("BILLING_WORKER_POLL_SECONDS", "5")),
        BILLING_LEASE_SECONDS=float(os.environ.get("BILLING_LEASE_SECONDS", "300")),
        BILLING_MAX_ATTEMPTS=int(os.environ.get("BILLING_MAX_ATTEMPTS", "6")),
        STRIPE_API_BASE=os.environ.get("STRIPE_API_BASE", ""),
        UPLOAD_FOLDER=str(instance_path / "uploads"),
        MAX_CONTENT_LENGTH=MAX_UPLOAD_BYTES,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=base_url.startswith("https://"),
        WTF_CSRF_TIME_LIMIT=None,
        BABEL_DEFAULT_LOCALE="fr",
        BABEL_TRANSLATION_DIRECTORIES=str(ROOT / "translations"),
        LOGIN_MAX_FAILURES=10,
        LOGIN_WINDOW_MINUTES=15,
        BOARD_POLL_SECONDS=20,  # how often an open board asks for the cards that changed
        PORTAL_RATE_LIMIT=(120, 60),  # requests per seconds from one address on /p/...
    )
    app.config.update({k: v for k, v in test_config.items() if k != "INSTANCE_PATH"})
    Path(app.config["UPLOAD_FOLDER"]).mkdir(parents=True, exist_ok=True)

    proxies = int(os.environ.get("BILLING_TRUSTED_PROXIES", "0"))
    if proxies:  # trust X-Forwarded-* only from the configured number of proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=_select_locale)
    from blueprints import htmx

    htmx.init_app(app)
    mail.init_app(app)

    if app.config["BILLING_WORKER"] and not app.testing:
        app.before_request(outbox.start_worker)  # the delivery thread, on the first request
    app.before_request(_require_owner)
    app.after_request(_security_headers)

    from blueprints import register_blueprints, webhooks

    register_blueprints(app)
    csrf.exempt(webhooks.bp)  # Stripe signs its requests instead

    @app.get("/healthz")
    def healthz():
        try:
            db.session.execute(text("SELECT 1"))
        except Exception:  # any database failure means "not healthy"
            return {"status": "error"}, 503
        return {"status": "ok"}

    _register_cli(app)
    return app


def _instance_secret_key(instance_path: Path) -> str:
    """Generate the secret key once and keep it in the instance folder."""
    key_file = instance_path / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """WAL, foreign keys and a busy timeout on every SQLite connection.

    The driver's own implicit BEGIN is turned off: `_sqlite_begin` starts each
    transaction itself, so a write that allocates a number can take the lock first.
    """
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
        dbapi_connection.isolation_level = None


@event.listens_for(Engine, "begin")
def _sqlite_begin(connection) -> None:
    """BEGIN, or BEGIN IMMEDIATE (write lock first) when asked with `sqlite_immediate` and
    in every request that may write (POST...).

    In WAL mode a transaction that read first and writes later fails at once with
    "database is locked" if another connection (the outbox worker, another tab)
    wrote in between: busy_timeout cannot help it. Taking the lock at BEGIN makes
    it wait its turn instead. A long request that reads first (printing a hundred
    PDFs) calls `read_first()` and takes `write_lock()` only for its writes.
    """
    if connection.dialect.name != "sqlite":
        return
    immediate = connection.get_execution_options().get("sqlite_immediate")
    if immediate is None and has_request_context():
        immediate = request.method not in SAFE_METHODS and not g.get("read_first")
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _select_locale() -> str:
    """The owner's language; before login, the browser's; outside a request, French."""
    if not has_request_context():
        return "fr"
    user = g.get("user")
    if user is not None:
        return user.language
    return request.accept_languages.best_match(list(LANGUAGES)) or "fr"


def _require_owner():
    """The login gate: /setup until an owner exists, then /login."""
    g.user = None
    endpoint = request.endpoint or ""
    if endpoint in PUBLIC_ENDPOINTS or endpoint.startswith(PUBLIC_PREFIXES):
        return None
    user_id = session.get("user_id")
    if user_id is not None:
        g.user = db.session.get(User, user_id)
        if g.user is not None and session.get("auth") == accounts.session_token(g.user):
            return None
        g.user = None
        session.clear()
    if not accounts.owner_exists():
        target = url_for("auth.setup")
    else:
        next_url = request.full_path if request.method == "GET" else None
        target = url_for("auth.login", next=next_url.rstrip("?") if next_url else None)
    if request.headers.get("HX-Request"):
        return "", 401, {"HX-Redirect": target}
    return redirect(target, 303 if request.method != "GET" else 302)


def _security_headers(response):
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
    )
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


def _register_cli(app: Flask) -> None:
    @app.cli.command("create-owner")
    @click.option("--email", required=True)
    @click.option("--password", required=True)
    @click.option("--business", "business_name", default="Mon entreprise", show_default=True)
    def create_owner_command(email: str, password: str, business_name: str) -> None:
        """Create the owner account without the /setup page."""
        try:
            user = accounts.create_owner(email, password, business_name)
        except accounts.AccountError as error:
            raise click.ClickException(str(error)) from error
        db.session.commit()
        click.echo(f"Owner {user.email} created.")

    @app.cli.command("demo")
    @click.option("--force", is_flag=True, help="Add the demo data even if clients exist.")
    @click.option("--invoices", type=click.IntRange(min=1), metavar="N",
                  help="Add N invoices over the last two years (loads the demo data if missing).")
    def demo_command(force: bool, invoices: int | None) -> None:
        """Fill the database with a realistic demo business."""
        summaries = []
        try:
            if invoices is None or not demo.loaded():
                summaries.append(demo.load(force=force))
                db.session.commit()
            if invoices is not None:
                numbering.lock()
                summaries.append(demo.add_invoices(invoices))
                db.session.commit()
        except demo.DemoRefused as error:
            raise click.ClickException(str(error)) from error
        click.echo("\n".join(summaries))

    @app.cli.command("worker")
    @click.option("--once", is_flag=True, help="Deliver the messages due now, then exit.")
    def worker_command(once: bool) -> None:
        """Deliver the email outbox in this process (until stopped, or --once)."""
        if once:
            click.echo(f"{outbox.deliver_due()} message(s) sent.")
            return
        stop = threading.Event()
        # SIGTERM: finish the current delivery, then stop (within the poll interval).
        signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
        app.logger.setLevel("INFO")
        click.echo("Worker started: delivering the outbox (Ctrl+C to stop).")
        try:
            outbox.run(app, stop)
        except KeyboardInterrupt:
            pass
        click.echo("Worker stopped.")

    @app.cli.command("backup")
    @click.argument("file", type=click.Path(dir_okay=False))
    def backup_command(file: str) -> None:
        """Write a consistent backup (database + uploads) to FILE."""
        try:
            backup.create(app, Path(file))
        except backup.BackupError as error:
            raise click.ClickException(str(error)) from error
        click.echo(f"Backup written to {file}.")

    @app.cli.command("restore")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False))
    def restore_command(file: str) -> None:
        """Replace the database and uploads with those of backup FILE."""
        try:
            manifest = backup.restore(app, Path(file))
        except backup.BackupError as error:
            raise click.ClickException(str(error)) from error
        click.echo(f"Restored from {file} (made {manifest['created_at']}).")
        click.echo("Run `flask --app app db upgrade` if this backup comes from an older version.")
