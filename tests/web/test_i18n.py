"""French and English: the owner's language, the browser's before login, and the catalogs.

The catalog tests fail with the list of what is missing when a string is added
to the code without `make messages` and an English translation.
"""

import html
import re
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_keywords, parse_mapping_cfg
from babel.messages.pofile import read_po
from sqlalchemy import func, select

from billing import settings
from billing.models import Client, User, db

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "translations"
# The keywords of `make messages` (pybabel extract -k ...), on top of Babel's defaults.
KEYWORDS = ("_l", "lazy_gettext", "lazy_ngettext:1,2")
PERCENT_PLACEHOLDER = re.compile(r"%\(\w+\)[sdif]|%%")
BRACE_PLACEHOLDER = re.compile(r"\{[A-Za-z_:0-9]+\}")


def speak(app, owner, language):
    with app.app_context():
        db.session.get(User, owner).language = language
        db.session.commit()


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def client_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Client))


def catalog(name: str):
    with open(TRANSLATIONS / name, "rb") as source:
        return read_po(source)


def ids(messages) -> set:
    return {message.id for message in messages if message.id}


# --- The owner's language ---------------------------------------------------


def test_english_owner_sees_the_board_in_english(app, auth_client, owner):
    speak(app, owner, "en")
    page = text(auth_client.get("/"))
    assert '<html lang="en">' in page
    for label in ("Billing", "Preparation", "Sending", "Follow-up", "Archives",
                  "Products & services", "Jobs", "Settings", "Log out", "No invoices yet."):
        assert label in page
    for french in ("Facturation", "Préparation", "Suivi", "Paramètres", "Déconnexion"):
        assert french not in page


def test_french_owner_sees_the_board_in_french(auth_client):
    page = text(auth_client.get("/"))
    assert '<html lang="fr">' in page
    for label in ("Facturation", "Préparation", "Envoi", "Suivi", "Archives",
                  "Produits et services", "Dossiers", "Paramètres", "Déconnexion"):
        assert label in page
    assert "Follow-up" not in page


def test_english_owner_sees_the_clients_list_in_english(app, auth_client, owner):
    speak(app, owner, "en")
    page = text(auth_client.get("/clients/"))
    for label in ("Clients", "New client", "Search", "No clients yet.", "Create the first client"):
        assert label in page
    assert "Nouveau client" not in page


def test_english_owner_gets_client_form_errors_in_english(app, auth_client, owner):
    speak(app, owner, "en")
    response = auth_client.post("/clients/new", data={
        "name": "", "emails": "ok@x.fr, not-an-email, also@bad", "language": "fr", "currency": "EUR",
    })
    page = text(response)
    assert response.status_code == 422
    assert "The client name is required." in page
    assert "Invalid email addresses: not-an-email, also@bad" in page
    assert "Billing email addresses" in page
    assert 'value="ok@x.fr, not-an-email, also@bad"' in page
    assert "obligatoire" not in page
    assert client_count(app) == 0


def test_french_owner_gets_client_form_errors_in_french(app, auth_client):
    response = auth_client.post("/clients/new", data={
        "name": "", "emails": "not-an-email", "language": "fr", "currency": "EUR",
    })
    page = text(response)
    assert response.status_code == 422
    assert "Le nom du client est obligatoire." in page
    assert "Adresse email invalide : not-an-email" in page
    assert client_count(app) == 0


def test_english_owner_sees_the_settings_in_english(app, auth_client, owner):
    speak(app, owner, "en")
    page = text(auth_client.get("/settings/"))
    for label in ("Settings", "Business", "Invoices", "Online payment", "Account",
                  "Legal name", "Bank details", "Time zone", "Save"):
        assert label in page
    assert "Raison sociale" not in page


def test_domain_messages_follow_the_owner_language(app, auth_client, owner):
    speak(app, owner, "en")
    response = auth_client.post("/settings/", data={
        "name": "Atelier", "email": "owner@example.fr", "country": "FR", "currency": "EUR",
        "timezone": "Europe/Paris", "iban": "FR00 1234",
    })
    page = text(response)
    assert response.status_code == 422
    assert "Invalid IBAN: 2 letters, 2 digits, then 11 to 30 letters or digits." in page
    assert 'value="FR00 1234"' in page
    with app.app_context():
        assert (settings.business().name, settings.business().iban) == ("Atelier Conseil", "")
    page = text(auth_client.post("/settings/billing", data={
        "payment_terms_days": "30", "invoice_number_format": "F-{YEAR}-{SEQ}",
        "invoice_next_number": "1", "credit_note_number_format": "A-{YYYY}-{SEQ}",
        "credit_note_next_number": "1",
    }))
    assert "Unknown variable: {YEAR}. Allowed variables:" in page
    with app.app_context():
        assert settings.business().invoice_number_format != "F-{YEAR}-{SEQ}"


def test_choosing_english_in_the_account_settings_switches_the_interface(app, auth_client, owner):
    response = auth_client.post("/settings/account", data={"language": "en"})
    assert response.status_code == 303
    page = text(auth_client.get(response.headers["Location"]))
    assert "Interface language" in page
    assert "Change password" in page


# --- Before login: the browser's language -----------------------------------


def test_browser_asking_for_english_gets_an_english_login_page(client, owner):
    page = text(client.get("/login", headers={"Accept-Language": "en-GB,en;q=0.9"}))
    assert '<html lang="en">' in page
    for label in ("Log in", "Email address", "Password"):
        assert label in page
    assert "Connexion" not in page


def test_browser_asking_for_french_or_anything_else_gets_a_french_login_page(client, owner):
    for accept in ("fr-FR,fr;q=0.9", "de-DE", ""):
        page = text(client.get("/login", headers={"Accept-Language": accept}))
        assert "Connexion" in page
        assert "Mot de passe" in page


def test_login_error_is_in_the_browser_language(client, owner):
    response = client.post("/login", data={"email": "owner@example.fr", "password": "wrong"},
                           headers={"Accept-Language": "en"})
    assert response.status_code == 422
    assert "Incorrect email address or password." in text(response)


# --- The catalogs -----------------------------------------------------------


@pytest.fixture(scope="module")
def extracted() -> set:
    """The msgids in the code today, extracted like `make messages` does."""
    with open(ROOT / "babel.cfg") as config:
        method_map, options_map = parse_mapping_cfg(config)
    keywords = {**DEFAULT_KEYWORDS, **parse_keywords(KEYWORDS)}
    found = extract_from_dir(ROOT, method_map, options_map, keywords=keywords)
    return {message for _file, _line, message, _comments, _context in found}


def test_messages_pot_is_up_to_date_with_the_code(extracted):
    in_pot = ids(catalog("messages.pot"))
    missing = sorted(map(str, extracted - in_pot))
    stale = sorted(map(str, in_pot - extracted))
    assert not missing, f"Run `make messages`, then translate. Not in messages.pot: {missing}"
    assert not stale, f"Run `make messages`. In messages.pot but no longer in the code: {stale}"


@pytest.mark.parametrize("language", ["en", "fr"])
def test_each_catalog_has_every_msgid_of_the_pot(language):
    in_pot = ids(catalog("messages.pot"))
    in_po = ids(catalog(f"{language}/LC_MESSAGES/messages.po"))
    assert sorted(map(str, in_pot - in_po)) == [], f"Run `make messages` ({language} catalog)."


def test_every_msgid_has_an_english_translation_and_none_is_fuzzy():
    english = catalog("en/LC_MESSAGES/messages.po")
    untranslated = [
        message.id for message in english
        if message.id and not (message.string if isinstance(message.string, str)
                               else all(message.string))
    ]
    fuzzy = [message.id for message in english if message.id and message.fuzzy]
    assert untranslated == [], f"No English translation in translations/en: {untranslated}"
    assert fuzzy == [], f"Fuzzy (to review) in translations/en: {fuzzy}"
    assert not english.fuzzy


def forms(message) -> list[tuple[str, str]]:
    """(msgid, msgstr) pairs; a plural compares each form with its French plural."""
    if isinstance(message.id, str):
        return [(message.id, message.string)]
    return [(message.id[min(i, 1)], string) for i, string in enumerate(message.string)]


def test_english_keeps_every_placeholder():
    broken = []
    for message in catalog("en/LC_MESSAGES/messages.po"):
        if not message.id:
            continue
        for msgid, msgstr in forms(message):
            for pattern in (PERCENT_PLACEHOLDER, BRACE_PLACEHOLDER):
                if sorted(pattern.findall(msgid)) != sorted(pattern.findall(msgstr)):
                    broken.append((msgid, msgstr))
    assert broken == []


@pytest.mark.parametrize("language", ["en", "fr"])
def test_catalog_passes_babel_checks(language):
    problems = [(message.id, errors) for message, errors in
                catalog(f"{language}/LC_MESSAGES/messages.po").check()]
    assert problems == []
