"""The first run in a real browser: setup, then the board, at phone and desktop widths."""

from tests.browser.conftest import screenshot


def test_setup_then_board(sized_page, live_server):
    page = sized_page
    page.goto(live_server.url + "/")
    assert page.url.endswith("/setup")
    page.get_by_label("Adresse email").fill("marie@example.fr")
    page.get_by_label("Mot de passe", exact=True).fill("un mot de passe long")
    page.get_by_label("Mot de passe (encore)").fill("un mot de passe long")
    page.get_by_label("Nom de l'entreprise").fill("Marie Conseil")
    page.get_by_role("button", name="Créer mon compte").click()
    page.wait_for_url("**/settings/")
    page.get_by_role("link", name="Facturation").click()
    for column in ("Préparation", "Envoi", "Suivi", "Archives"):
        assert page.get_by_role("heading", name=column).is_visible() or page.width_name == "phone"
    screenshot(page, "board")
