"""Rules of tax rates: presets per country, idempotency, locked rates, rates used by products."""

import pytest
from sqlalchemy import func, select

from billing import settings, taxes
from billing.models import Country, TaxRate, db
from tests.factories import make_item, make_tax_rate


@pytest.fixture
def ctx(app, owner):
    """A request context: the domain's lazy French messages can be read in it."""
    with app.test_request_context():
        yield
        db.session.rollback()


def rates_in_db() -> list[tuple[str, int, str]]:
    rows = db.session.scalars(select(TaxRate).order_by(TaxRate.id))
    return [(rate.name, rate.rate_millis, rate.registration_number) for rate in rows]


def business_with(**fields):
    business = settings.business()
    for name, value in fields.items():
        setattr(business, name, value)
    return business


def test_quebec_preset_adds_tps_and_tvq_with_the_business_numbers(ctx):
    business = business_with(gst_number="123456789 RT0001", qst_number="1234567890 TQ0001")
    added = taxes.add_preset(taxes.preset(Country.CA_QC), business)
    assert [rate.name for rate in added] == ["TPS", "TVQ"]
    assert rates_in_db() == [("TPS", 5_000, "123456789 RT0001"), ("TVQ", 9_975, "1234567890 TQ0001")]


def test_france_preset_adds_four_vat_rates_with_the_vat_number(ctx):
    business = business_with(vat_number="FR12345678901")
    taxes.add_preset(taxes.preset(Country.FR), business)
    assert rates_in_db() == [
        ("TVA 20 %", 20_000, "FR12345678901"),
        ("TVA 10 %", 10_000, "FR12345678901"),
        ("TVA 5,5 %", 5_500, "FR12345678901"),
        ("TVA 2,1 %", 2_100, "FR12345678901"),
    ]


def test_belgium_preset_adds_four_vat_rates_including_zero(ctx):
    business = business_with(vat_number="BE0123456789")
    taxes.add_preset(taxes.preset(Country.BE), business)
    assert [(name, rate) for name, rate, _number in rates_in_db()] == [
        ("TVA 21 %", 21_000),
        ("TVA 12 %", 12_000),
        ("TVA 6 %", 6_000),
        ("TVA 0 %", 0),
    ]


def test_adding_a_preset_twice_adds_its_rates_once(ctx):
    business = settings.business()
    taxes.add_preset(taxes.preset(Country.CA_QC), business)
    assert taxes.add_preset(taxes.preset(Country.CA_QC), business) == []
    assert len(rates_in_db()) == 2


def test_a_preset_only_adds_the_rates_not_already_there(ctx):
    make_tax_rate("TVA 20 %", 20_000, active=False)
    make_tax_rate("TVA 10 %", 9_000)  # same name, another rate: a different tax
    added = taxes.add_preset(taxes.preset(Country.FR), settings.business())
    assert [rate.name for rate in added] == ["TVA 10 %", "TVA 5,5 %", "TVA 2,1 %"]
    assert db.session.scalar(select(func.count()).select_from(TaxRate)) == 5


@pytest.mark.parametrize(
    ("country", "first"),
    [(Country.BE, Country.BE), (Country.FR, Country.FR), (Country.CA_QC, Country.CA_QC),
     (Country.OTHER, Country.CA_QC)],
)
def test_presets_put_the_business_country_first(ctx, country, first):
    presets = taxes.presets_for(business_with(country=country))
    assert presets[0].country is first
    assert len(presets) == 3


def test_update_changes_an_unlocked_rate(ctx):
    rate = make_tax_rate("TVA 20 %", 20_000)
    taxes.update(rate, "TVA 19,6 %", 19_600, "FR1")
    assert rates_in_db() == [("TVA 19,6 %", 19_600, "FR1")]


def test_update_refuses_a_locked_rate_and_changes_nothing(ctx):
    rate = make_tax_rate("TPS", 5_000, "123", locked=True)
    with pytest.raises(taxes.RateLocked) as refused:
        taxes.update(rate, "TPS", 6_000, "123")
    assert "ne peut plus être modifiée" in str(refused.value)
    assert rates_in_db() == [("TPS", 5_000, "123")]


def test_delete_refuses_a_locked_rate(ctx):
    rate = make_tax_rate("TPS", 5_000, locked=True)
    with pytest.raises(taxes.RateLocked) as refused:
        taxes.delete(rate)
    assert "ne peut pas être supprimée" in str(refused.value)
    assert "Désactiver" in str(refused.value)
    assert len(rates_in_db()) == 1


def test_a_locked_rate_can_be_deactivated_and_activated_again(ctx):
    rate = make_tax_rate("TPS", 5_000, locked=True)
    taxes.deactivate(rate)
    assert rate.active is False
    assert taxes.active_rates() == []
    taxes.activate(rate)
    assert taxes.active_rates() == [rate]


def test_delete_refuses_a_rate_products_use_and_says_how_many(ctx):
    rate = make_tax_rate("TVQ", 9_975)
    make_item("Conseil", tax_rates=[rate])
    make_item("Formation", tax_rates=[rate])
    with pytest.raises(taxes.RateInUse) as refused:
        taxes.delete(rate)
    assert refused.value.products == 2
    assert "2 produits" in str(refused.value)
    assert "« Désactiver »" in str(refused.value)
    assert len(rates_in_db()) == 1


def test_delete_in_use_message_is_singular_for_one_product(ctx):
    rate = make_tax_rate("TVQ", 9_975)
    make_item("Conseil", tax_rates=[rate])
    with pytest.raises(taxes.RateInUse) as refused:
        taxes.delete(rate)
    assert "de 1 produit :" in str(refused.value)


def test_delete_removes_an_unused_rate(ctx):
    rate = make_tax_rate("TVA 20 %", 20_000)
    taxes.delete(rate)
    assert rates_in_db() == []


def test_all_rates_lists_active_ones_first(ctx):
    old = make_tax_rate("Ancienne", 19_600, active=False)
    tps = make_tax_rate("TPS", 5_000)
    tvq = make_tax_rate("TVQ", 9_975)
    assert taxes.all_rates() == [tps, tvq, old]
    assert taxes.active_rates() == [tps, tvq]
