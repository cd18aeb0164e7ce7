"""Reading and writing amounts and rates the way people type them."""

from decimal import Decimal

import pytest

from billing import money


@pytest.mark.parametrize(
    ("text", "cents"),
    [
        ("1234,56", 123456),
        ("1 234,56", 123456),
        ("1\u202f234,56", 123456),
        ("1234.5", 123450),
        ("0,01", 1),
        ("12", 1200),
        ("-5", -500),
        (",5", 50),
    ],
)
def test_parse_amount_accepts_comma_dot_and_spaces(text, cents):
    assert money.parse_amount(text) == cents


@pytest.mark.parametrize("text", ["", "abc", "1,2,3", "1.234,56", "12,345", "NaN", "Infinity", "1e5", "-", ","])
def test_parse_amount_refuses_what_is_not_an_amount(text):
    with pytest.raises(money.InvalidNumber):
        money.parse_amount(text)


def test_round_cents_is_half_up():
    assert money.round_cents(Decimal("0.005")) == 1
    assert money.round_cents(Decimal("0.015")) == 2
    assert money.round_cents(Decimal("0.0149")) == 1
    assert money.round_cents(Decimal("-0.005")) == -1


def test_rates_are_thousandths_of_a_percent():
    assert money.parse_rate("9,975") == 9975
    assert money.parse_rate("5") == 5000
    assert money.parse_rate("5.5") == 5500
    assert money.format_rate_plain(9975) == "9,975"
    assert money.format_rate_plain(20000) == "20"
    assert money.format_rate_plain(5500) == "5,5"
    with pytest.raises(money.InvalidNumber):
        money.parse_rate("9,9755")


def test_format_plain_round_trips():
    for cents in (0, 1, 99, 123456, 100000000):
        assert money.parse_amount(money.format_plain(cents)) == cents
