"""Amounts, rates and dates shown in the reader's language."""

from datetime import date

from flask import g

from blueprints.filters import date_filter, money_filter, rate_filter


class _English:
    language = "en"


def test_french_formats(app):
    with app.test_request_context("/", headers={"Accept-Language": "fr"}):
        assert money_filter(123456, "EUR") == "1\u202f234,56\xa0€"
        assert money_filter(123456, "CAD") == "1\xa0234,56\xa0$"
        assert rate_filter(9975) == "9,975 %"
        assert rate_filter(20000) == "20 %"
        assert date_filter(date(2026, 11, 23)) == "23/11/2026"
        assert money_filter(None) == ""


def test_english_formats_follow_the_owner_language(app):
    with app.test_request_context("/"):
        g.user = _English()
        assert money_filter(123456, "EUR") == "€1,234.56"
        assert rate_filter(9975) == "9.975 %"
