"""Invoice arithmetic: line nets, discounts, taxes per rate group, instalments."""

from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.money import (
    AmountError,
    Discount,
    InstalmentSpec,
    Line,
    TaxKey,
    compute_totals,
    split_instalments,
    spread,
    tax_of,
)

TPS = TaxKey("TPS", 5_000, "123456789 RT0001")
TVQ = TaxKey("TVQ", 9_975, "1234567890 TQ0001")
TVA20 = TaxKey("TVA 20 %", 20_000)


def test_quebec_taxes_are_computed_on_the_sum_of_nets_not_per_line():
    totals = compute_totals([Line(D(1), 3333, taxes=(TPS, TVQ))] * 3)
    assert totals.net_cents == 9999
    by_name = {t.key.name: t for t in totals.taxes}
    assert by_name["TPS"].base_cents == 9999 and by_name["TPS"].amount_cents == 500  # 4,9995 → 5,00
    assert by_name["TVQ"].amount_cents == 997  # 9,974 → 9,97 (per line it would be 3 × 3,32 = 9,96)
    assert totals.total_cents == 9999 + 500 + 997


def test_tax_is_rounded_half_up():
    assert tax_of(10, 5_000) == 1  # 0,5 c → 1 c
    assert tax_of(9, 5_000) == 0  # 0,45 c → 0
    assert tax_of(1_000, 5_500) == 55


def test_decimal_quantities():
    line = Line(D("1.5"), 6_000)  # 1,5 jour à 60,00
    assert line.net_cents == 9_000
    assert Line(D("0.333"), 1_000).net_cents == 333  # 3,33 rounded half up
    assert Line(D("2.125"), 100).net_cents == 213  # 2,125 → 2,13


def test_line_discount_in_percent_and_in_amount():
    assert Line(D(2), 10_000, Discount(percent=D(10))).net_cents == 18_000
    assert Line(D(1), 10_000, Discount(cents=2_550)).net_cents == 7_450
    with pytest.raises(AmountError):
        Line(D(1), 1_000, Discount(cents=1_001)).net_cents
    with pytest.raises(AmountError):
        Line(D(1), 1_000, Discount(percent=D(101))).net_cents


def test_invoice_discount_is_spread_over_nets_before_tax():
    lines = [Line(D(1), 10_000, taxes=(TVA20,)), Line(D(1), 5_000, taxes=(TaxKey("TVA 10 %", 10_000),))]
    totals = compute_totals(lines, Discount(percent=D(10)))
    assert totals.line_nets == (9_000, 4_500)
    assert totals.net_cents == 13_500
    assert [t.amount_cents for t in totals.taxes] == [1_800, 450]


def test_spread_gives_the_remainder_to_the_largest_weight():
    assert spread(100, [1, 1, 1]) == [34, 33, 33]
    assert sum(spread(1_001, [333, 667, 5])) == 1_001
    assert spread(50, [0, 0]) == [0, 0]


def test_instalments_by_percentage_sum_exactly_with_the_last_absorbing_the_cent():
    specs = [InstalmentSpec(percent=D("33.333")), InstalmentSpec(percent=D("33.333")), InstalmentSpec(percent=D("33.334"))]
    assert split_instalments(10_000, specs) == [3_333, 3_333, 3_334]
    assert split_instalments(10_001, [InstalmentSpec(percent=D(50))] * 2) == [5_001, 5_000]


def test_instalments_by_amount_must_sum_to_the_total():
    assert split_instalments(10_000, [InstalmentSpec(cents=4_000), InstalmentSpec(cents=6_000)]) == [4_000, 6_000]
    with pytest.raises(AmountError, match="écart"):
        split_instalments(10_000, [InstalmentSpec(cents=4_000), InstalmentSpec(cents=5_000)])


def test_instalments_summing_to_101_percent_are_refused():
    with pytest.raises(AmountError, match="101 % au lieu de 100 %"):
        split_instalments(10_000, [InstalmentSpec(percent=D(51)), InstalmentSpec(percent=D(50))])


def test_mixed_instalments():
    assert split_instalments(10_000, [InstalmentSpec(cents=3_000), InstalmentSpec(percent=D(70))]) == [3_000, 7_000]


rates = st.sampled_from([TPS, TVQ, TVA20, TaxKey("TVA 5,5 %", 5_500), TaxKey("TVA 0 %", 0)])
lines = st.builds(
    Line,
    quantity=st.decimals(min_value=D("0.001"), max_value=D(1000), places=3),
    unit_price_cents=st.integers(min_value=0, max_value=10_000_000),
    discount=st.one_of(st.just(Discount()), st.builds(Discount, percent=st.decimals(0, 100, places=2))),
    taxes=st.lists(rates, max_size=2, unique=True).map(tuple),
)


@given(st.lists(lines, min_size=1, max_size=12), st.decimals(0, 100, places=1))
def test_total_is_net_plus_every_tax(invoice_lines, invoice_percent):
    totals = compute_totals(invoice_lines, Discount(percent=invoice_percent))
    assert totals.total_cents == totals.net_cents + sum(t.amount_cents for t in totals.taxes)
    assert totals.net_cents == sum(totals.line_nets)
    for tax in totals.taxes:
        assert tax.amount_cents == tax_of(tax.base_cents, tax.key.rate_millis)


@given(st.integers(min_value=1, max_value=100_000_000), st.integers(min_value=1, max_value=12))
def test_equal_percent_instalments_sum_to_the_total_or_are_refused(total, count):
    share = (D(100) / count).quantize(D("0.001"))
    specs = [InstalmentSpec(percent=share)] * (count - 1) + [InstalmentSpec(percent=D(100) - share * (count - 1))]
    if total < 100 * count:  # a few cents in many parts may leave an empty instalment
        try:
            amounts = split_instalments(total, specs)
        except AmountError:
            return
    else:
        amounts = split_instalments(total, specs)
    assert sum(amounts) == total
    assert all(a > 0 for a in amounts)


def test_an_instalment_left_empty_by_rounding_is_refused():
    with pytest.raises(AmountError, match="positive"):
        split_instalments(31, [InstalmentSpec(percent=D("8.333"))] * 11 + [InstalmentSpec(percent=D("8.337"))])
