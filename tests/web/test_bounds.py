"""Numbers too big for the database are refused politely, never a 500."""

import pytest

HUGE = "9" * 25


@pytest.mark.parametrize(
    "path",
    [f"/clients/{HUGE}", f"/invoices/{HUGE}", f"/catalog/{HUGE}/edit", f"/jobs/{HUGE}/edit"],
)
def test_a_huge_id_in_the_url_is_not_found(auth_client, path):
    assert auth_client.get(path).status_code == 404


@pytest.mark.parametrize("path", [f"/clients/?page={HUGE}", f"/jobs/?client_id={HUGE}", f"/catalog/?page={HUGE}", f"/archives/?page={HUGE}"])
def test_a_huge_number_in_the_query_string_is_ignored(auth_client, path):
    assert auth_client.get(path).status_code == 200


def test_a_huge_price_is_refused_next_to_the_field(auth_client):
    response = auth_client.post("/catalog/new", data={"name": "Cher", "unit_price": HUGE})
    assert response.status_code == 422
    assert "Montant invalide" in response.get_data(as_text=True)


def test_a_huge_parent_id_is_refused(auth_client):
    response = auth_client.post("/clients/new", data={"name": "X", "emails": "a@x.fr", "currency": "EUR", "language": "fr", "parent_id": HUGE})
    assert response.status_code == 422
