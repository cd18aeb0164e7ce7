"""Every route of `app.url_map` is closed to a logged-out visitor, and no POST works without CSRF.

The routes are enumerated at run time, so a route added by any blueprint is
swept without touching this file.
"""

from __future__ import annotations

import re

from billing.models import db

# Reachable without logging in (DESIGN.md, « Security and reliability rules »).
PUBLIC_ENDPOINTS = {"static", "auth.setup", "auth.login", "healthz"}
PUBLIC_PREFIXES = ("portal.", "webhooks.")
# Signed by the payment provider instead of carrying a CSRF token.
CSRF_EXEMPT_PREFIXES = ("webhooks.",)
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# Routes that exist today: the sweep must at least cover them.
KNOWN_PROTECTED = {
    ("GET", "board.index"), ("GET", "clients.index"), ("GET", "catalog.index"),
    ("GET", "jobs.index"), ("GET", "settings.index"), ("GET", "taxes.index"),
    ("POST", "auth.logout"),
}
ARGUMENT = re.compile(r"<(?:(\w+)(?:\(([^)]*)\))?:)?(\w+)>")
TYPED_FORM = {"name": "Intrus", "email": "intrus@example.fr", "amount": "10", "rate": "20"}


def sample_value(match: re.Match) -> str:
    converter, arguments = match.group(1), match.group(2)
    if converter == "int":
        return "1"
    if converter == "float":
        return "1.0"
    if converter == "uuid":
        return "00000000-0000-4000-8000-000000000001"
    if converter == "any":
        return arguments.split(",")[0].strip().strip("'\"")
    return "x"


def routes(app, methods: set[str], public: bool = False) -> list[tuple[str, str, str]]:
    """(method, endpoint, url) for every rule answering one of `methods`, each argument filled."""
    adapter = app.url_map.bind("localhost")
    found = []
    for rule in app.url_map.iter_rules():
        if not public and (
            rule.endpoint in PUBLIC_ENDPOINTS or rule.endpoint.startswith(PUBLIC_PREFIXES)
        ):
            continue
        url = ARGUMENT.sub(sample_value, rule.rule)
        for method in sorted(rule.methods & methods):
            assert adapter.match(url, method)[0] == rule.endpoint, f"{url} does not reach {rule}"
            found.append((method, rule.endpoint, url))
    return sorted(found)


def dump_tables(app) -> dict[str, list]:
    with app.app_context():
        return {t.name: db.session.execute(t.select()).all() for t in db.metadata.sorted_tables}


def goes_to_login(location: str | None) -> bool:
    return bool(location) and location.startswith("/login")


def test_sweep_covers_every_known_protected_route(app):
    swept = {(m, e) for m, e, _ in routes(app, {"GET"} | WRITE_METHODS)}
    assert KNOWN_PROTECTED <= swept


def test_every_page_redirects_a_logged_out_visitor_to_login(app, client, owner):
    pages = routes(app, {"GET"})
    wrong = [
        (url, response.status_code, response.headers.get("Location"))
        for _, _, url in pages
        for response in [client.get(url)]
        if response.status_code != 302 or not goes_to_login(response.headers.get("Location"))
    ]
    assert len(pages) >= 6
    assert wrong == []


def test_every_write_from_a_logged_out_visitor_is_refused_and_changes_nothing(app, client, owner):
    before = dump_tables(app)
    writes = routes(app, WRITE_METHODS)
    wrong = [
        (method, url, response.status_code, response.headers.get("Location"))
        for method, _, url in writes
        for response in [client.open(url, method=method, data=TYPED_FORM)]
        if response.status_code != 303 or not goes_to_login(response.headers.get("Location"))
    ]
    assert len(writes) >= 1
    assert wrong == []
    assert dump_tables(app) == before


def test_htmx_requests_from_a_logged_out_visitor_get_401_and_a_redirect_header(app, client, owner):
    before = dump_tables(app)
    swept = routes(app, {"GET"} | WRITE_METHODS)
    wrong = [
        (method, url, response.status_code, response.headers.get("HX-Redirect"))
        for method, _, url in swept
        for response in [client.open(url, method=method, data=TYPED_FORM,
                                     headers={"HX-Request": "true"})]
        if response.status_code != 401 or not goes_to_login(response.headers.get("HX-Redirect"))
    ]
    assert len(swept) >= len(KNOWN_PROTECTED)
    assert wrong == []
    assert dump_tables(app) == before


def test_no_write_succeeds_without_a_csrf_token(app, auth_client):
    before = dump_tables(app)
    writes = [
        (method, endpoint, url)
        for method, endpoint, url in routes(app, WRITE_METHODS, public=True)
        if not endpoint.startswith(CSRF_EXEMPT_PREFIXES)
    ]
    wrong = [
        (method, url, response.status_code)
        for method, _, url in writes
        for response in [auth_client.open(url, method=method, data=TYPED_FORM, csrf=False)]
        if response.status_code != 400
    ]
    assert {"auth.login", "auth.logout"} <= {endpoint for _, endpoint, _ in writes}
    assert wrong == []
    assert dump_tables(app) == before
