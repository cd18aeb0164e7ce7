"""The command line: create-owner, demo, backup and restore, through Flask's CLI runner."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import func, select

from billing.models import (
    Business,
    Client,
    Invoice,
    InvoiceKind,
    Item,
    Job,
    JobStatus,
    TaxRate,
    User,
    db,
)
from tests.conftest import OWNER_EMAIL
from tests.factories import make_client


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def invoke(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


# create-owner

def test_create_owner_creates_the_account_and_its_business(app, client):
    result = invoke(app, "create-owner", "--email", "Marie@Example.FR",
                    "--password", "un mot de passe long", "--business", "Marie Conseil")
    assert result.exit_code == 0, result.output
    assert "Owner marie@example.fr created." in result.output
    with app.app_context():
        assert db.session.scalar(select(User.email)) == "marie@example.fr"
        assert db.session.scalar(select(Business.name)) == "Marie Conseil"
    response = client.post("/login", data={"email": "marie@example.fr",
                                           "password": "un mot de passe long"})
    assert response.status_code == 303


def test_create_owner_refuses_a_second_owner(app, owner):
    result = invoke(app, "create-owner", "--email", "autre@example.fr",
                    "--password", "un mot de passe long")
    assert result.exit_code != 0
    assert "Le compte propriétaire existe déjà." in result.output
    assert count(app, User) == 1


def test_create_owner_refuses_a_bad_email(app):
    result = invoke(app, "create-owner", "--email", "pas-une-adresse",
                    "--password", "un mot de passe long")
    assert result.exit_code != 0
    assert "Adresse email invalide : pas-une-adresse" in result.output
    assert count(app, User) == 0


def test_create_owner_refuses_a_short_password(app):
    result = invoke(app, "create-owner", "--email", "marie@example.fr", "--password", "court")
    assert result.exit_code != 0
    assert "au moins 10 caractères" in result.output
    assert count(app, User) == 0
    assert count(app, Business) == 0


# demo

def test_demo_creates_an_owner_and_a_french_business_and_prints_the_password(app, client):
    result = invoke(app, "demo")
    assert result.exit_code == 0, result.output
    password = re.search(r"demo@camille-laurent-conseil\.fr with the password: (\S+)", result.output).group(1)
    with app.app_context():
        business = db.session.scalar(select(Business))
        assert business.name == "Camille Laurent Conseil"
        assert "75011 Paris" in business.address
        assert business.siren == "841234560"
        assert business.vat_number == "FR81841234560"
        assert business.iban.startswith("FR76")
        assert business.payment_terms_days == 30
        assert business.currency == "EUR"
    response = client.post("/login", data={"email": "demo@camille-laurent-conseil.fr", "password": password})
    assert response.status_code == 303
    assert client.get("/clients/").status_code == 200


def test_demo_loads_taxes_clients_catalog_and_jobs(app):
    assert invoke(app, "demo").exit_code == 0
    with app.app_context():
        rates = {t.name: (t.rate_millis, t.registration_number)
                 for t in db.session.scalars(select(TaxRate))}
        assert rates == {
            "TVA 20 %": (20_000, "FR81841234560"), "TVA 10 %": (10_000, "FR81841234560"),
            "TVA 5,5 %": (5_500, "FR81841234560"), "TVA 2,1 %": (2_100, "FR81841234560"),
        }
        clients = {c.name: c for c in db.session.scalars(select(Client))}
        assert len(clients) == 6
        assert clients["Hexalis Services"].parent is clients["Groupe Hexalis"]
        assert clients["Groupe Hexalis"].children == [clients["Hexalis Services"]]
        assert clients["Northwind Analytics Ltd"].language == "en"
        assert clients["Coopérative Boréale"].currency == "CAD"
        assert "Montréal (Québec)" in clients["Coopérative Boréale"].address
        assert any(c.name.startswith("Association") for c in clients.values())
        assert all(c.emails for c in clients.values())
        items = list(db.session.scalars(select(Item)))
        assert len(items) == 8
        assert all(item.tax_rates and item.unit_price_cents > 0 for item in items)
        statuses = [job.status for job in db.session.scalars(select(Job))]
        assert JobStatus.OPEN in statuses and JobStatus.CLOSED in statuses


def test_demo_uses_the_existing_owner_without_printing_a_password(app, owner):
    result = invoke(app, "demo")
    assert result.exit_code == 0, result.output
    assert "password" not in result.output
    with app.app_context():
        assert db.session.scalar(select(User.email)) == OWNER_EMAIL
        assert count(app, Client) == 6


def test_demo_refuses_a_database_that_already_has_clients(app, owner):
    with app.app_context():
        make_client("Client réel")
        db.session.commit()
    result = invoke(app, "demo")
    assert result.exit_code != 0
    assert "La base contient déjà des clients" in result.output
    assert "--force" in result.output
    assert count(app, Client) == 1
    assert count(app, TaxRate) == 0


def test_demo_twice_is_refused_the_second_time(app):
    assert invoke(app, "demo").exit_code == 0
    assert invoke(app, "demo").exit_code != 0
    assert count(app, Client) == 6
    assert count(app, User) == 1


def test_demo_with_force_adds_the_data_anyway_without_doubling_the_tax_rates(app, owner):
    with app.app_context():
        make_client("Client réel")
        db.session.commit()
    assert invoke(app, "demo", "--force").exit_code == 0
    result = invoke(app, "demo", "--force")
    assert result.exit_code == 0, result.output
    assert count(app, Client) == 13
    assert count(app, TaxRate) == 4


def invoice_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).where(Invoice.kind == InvoiceKind.INVOICE))


def test_demo_with_invoices_loads_the_demo_first_then_adds_them(app):
    result = invoke(app, "demo", "--invoices", "40")
    assert result.exit_code == 0, result.output
    assert "Demo data loaded: 6 clients" in result.output
    assert "with the password:" in result.output
    assert "Demo invoices added: 40 invoices" in result.output
    assert count(app, Client) == 6
    assert invoice_count(app) == 40


def test_demo_invoices_add_to_an_existing_demo_each_time(app):
    assert invoke(app, "demo").exit_code == 0
    result = invoke(app, "demo", "--invoices", "20")
    assert result.exit_code == 0, result.output
    assert "Demo data loaded" not in result.output
    assert "Demo invoices added: 20 invoices" in result.output
    assert invoke(app, "demo", "--invoices", "10").exit_code == 0
    assert count(app, Client) == 6
    assert count(app, TaxRate) == 4
    assert invoice_count(app) == 30


def test_demo_invoices_on_a_database_of_real_clients_need_force(app, owner):
    with app.app_context():
        make_client("Client réel")
        db.session.commit()
    result = invoke(app, "demo", "--invoices", "10")
    assert result.exit_code != 0
    assert "La base contient déjà des clients" in result.output
    assert count(app, Client) == 1
    assert count(app, Invoice) == 0

    result = invoke(app, "demo", "--force", "--invoices", "10")
    assert result.exit_code == 0, result.output
    assert count(app, Client) == 7
    assert invoice_count(app) == 10
    with app.app_context():
        real = db.session.scalar(select(Client).where(Client.name == "Client réel"))
        assert db.session.scalar(select(func.count()).where(Invoice.client_id == real.id)) == 0


def test_demo_invoices_must_be_a_positive_whole_number(app):
    for value in ("0", "-3", "abc", "2,5"):
        result = invoke(app, "demo", "--invoices", value)
        assert result.exit_code == 2, value
        assert "Invalid value for '--invoices'" in result.output
    assert count(app, Client) == 0
    assert count(app, User) == 0
    assert count(app, Invoice) == 0


# backup and restore

def test_backup_then_restore_through_the_command_line(app, owner, tmp_path):
    with app.app_context():
        make_client("Groupe Hexalis")
        db.session.commit()
    (Path(app.config["UPLOAD_FOLDER"]) / "logo.png").write_bytes(b"logo bytes")
    archive = tmp_path / "sauvegarde.tar.gz"

    result = invoke(app, "backup", str(archive))
    assert result.exit_code == 0, result.output
    assert f"Backup written to {archive}." in result.output

    with app.app_context():
        db.session.execute(Client.__table__.delete())
        db.session.commit()
    (Path(app.config["UPLOAD_FOLDER"]) / "logo.png").unlink()

    result = invoke(app, "restore", str(archive))
    assert result.exit_code == 0, result.output
    assert f"Restored from {archive}" in result.output
    with app.app_context():
        assert db.session.scalar(select(Client.name)) == "Groupe Hexalis"
    assert (Path(app.config["UPLOAD_FOLDER"]) / "logo.png").read_bytes() == b"logo bytes"


def test_restore_of_a_file_that_is_not_a_backup_fails_with_a_message(app, owner, tmp_path):
    with app.app_context():
        make_client("Groupe Hexalis")
        db.session.commit()
    notes = tmp_path / "notes.txt"
    notes.write_text("bonjour")
    result = invoke(app, "restore", str(notes))
    assert result.exit_code != 0
    assert "Ce fichier n'est pas une sauvegarde Facturier utilisable" in result.output
    assert count(app, Client) == 1


def test_restore_of_a_missing_file_fails(app, tmp_path):
    result = invoke(app, "restore", str(tmp_path / "absent.tar.gz"))
    assert result.exit_code != 0
    assert "does not exist" in result.output
