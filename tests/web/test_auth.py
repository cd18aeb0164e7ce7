"""Setup, login, logout, the login gate and its rate limit."""

from sqlalchemy import select

from billing.models import Business, LoginAttempt, User, db
from tests.conftest import OWNER_EMAIL, OWNER_PASSWORD


def test_first_visit_goes_to_setup(client):
    for path in ("/", "/clients/", "/login", "/settings/"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].endswith("/setup")


def test_setup_creates_owner_and_business_and_logs_in(app, client):
    response = client.post(
        "/setup",
        data={
            "email": "Marie@Example.FR",
            "password": "un mot de passe long",
            "password_again": "un mot de passe long",
            "business_name": "Marie Conseil",
        },
    )
    assert response.status_code == 303
    assert client.get("/").status_code == 200
    with app.app_context():
        user = db.session.scalar(select(User))
        assert user.email == "marie@example.fr"
        assert user.password_hash.startswith("scrypt:")
        business = db.session.scalar(select(Business))
        assert business.name == "Marie Conseil"
        assert business.email == "marie@example.fr"
        assert "40 €" in business.late_payment_text


def test_setup_errors_keep_what_was_typed(app, client):
    response = client.post(
        "/setup",
        data={"email": "pas-une-adresse", "password": "court", "password_again": "autre",
              "business_name": "<script>alert(1)</script>"},
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Adresse email invalide" in page or "Au moins 10 caractères" in page
    assert "Les deux mots de passe ne sont pas identiques." in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert(1)" not in page
    with app.app_context():
        assert db.session.scalar(select(User)) is None


def test_setup_is_gone_once_owner_exists(client, owner):
    assert client.get("/setup").status_code == 404
    assert client.get("/").headers["Location"].startswith("/login")


def test_login_then_logout(client, owner):
    response = client.post("/login?next=/clients/", data={"email": OWNER_EMAIL, "password": OWNER_PASSWORD})
    assert response.status_code == 303
    assert response.headers["Location"] == "/clients/"
    assert client.get("/").status_code == 200
    assert client.post("/logout").status_code == 303
    assert client.get("/").status_code == 302


def test_login_never_redirects_to_another_site(client, owner):
    response = client.post("/login?next=//evil.example/x", data={"email": OWNER_EMAIL, "password": OWNER_PASSWORD})
    assert response.headers["Location"] == "/"


def test_wrong_password_is_refused(client, owner):
    response = client.post("/login", data={"email": OWNER_EMAIL, "password": "nope"})
    assert response.status_code == 422
    assert "Adresse email ou mot de passe incorrect." in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_login_is_rate_limited_after_ten_failures(app, client, owner):
    for _ in range(10):
        assert client.post("/login", data={"email": OWNER_EMAIL, "password": "bad"}).status_code == 422
    response = client.post("/login", data={"email": OWNER_EMAIL, "password": OWNER_PASSWORD})
    assert response.status_code == 429
    assert "Trop de tentatives de connexion" in response.get_data(as_text=True)
    other = app.test_client()
    ok = other.post("/login", data={"email": OWNER_EMAIL, "password": OWNER_PASSWORD},
                    environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert ok.status_code == 303
    with app.app_context():
        assert db.session.query(LoginAttempt).filter_by(success=False).count() == 10


def test_post_without_csrf_token_is_refused(client, owner):
    response = client.post("/login", data={"email": OWNER_EMAIL, "password": OWNER_PASSWORD}, csrf=False)
    assert response.status_code == 400
    assert "Le formulaire a expiré" in response.get_data(as_text=True)


def test_security_headers(client, owner):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    page = response.get_data(as_text=True)
    assert "<script>" not in page  # no inline script anywhere
    assert 'name="csrf-token"' in page and "hx-headers" in page


def test_session_cookie_flags(client, owner):
    response = client.post("/login", data={"email": OWNER_EMAIL, "password": OWNER_PASSWORD})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_htmx_request_when_logged_out_gets_hx_redirect(client, owner):
    response = client.get("/clients/", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/login")


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_changing_the_password_logs_out_every_other_session(app, client, owner):
    phone = app.test_client()
    for each in (client, phone):
        each.post("/login", data={"email": OWNER_EMAIL, "password": OWNER_PASSWORD})
        assert each.get("/").status_code == 200
    response = client.post(
        "/settings/account/password",
        data={"current_password": OWNER_PASSWORD, "new_password": "un tout nouveau secret",
              "new_password_again": "un tout nouveau secret"},
    )
    assert response.status_code == 303
    assert client.get("/").status_code == 200  # the session that changed it stays
    assert phone.get("/").status_code == 302  # the stolen or forgotten one is out
