"""Tests of oms_sdk.money: exact parsing, arithmetic, allocation, rounding, display, pydantic."""

from __future__ import annotations

import copy
import pickle
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from oms_sdk.errors import CurrencyMismatch, MoneyError, OMSError
from oms_sdk.money import CURRENCY_EXPONENTS, Money, currency_exponent

currencies = st.sampled_from(sorted(CURRENCY_EXPONENTS))
minors = st.integers(min_value=-(10**40), max_value=10**40)


def eur(minor: int) -> Money:
    return Money(minor, "EUR")


# -- currencies and exponents --------------------------------------------------------------


@pytest.mark.parametrize(
    ("currency", "exponent"),
    [("JPY", 0), ("KRW", 0), ("EUR", 2), ("USD", 2), ("GBP", 2), ("KWD", 3), ("BHD", 3)],
)
def test_currency_exponent(currency: str, exponent: int) -> None:
    assert currency_exponent(currency) == exponent
    assert Money.zero(currency).exponent == exponent


@pytest.mark.parametrize("code", ["XYZ", "eur", "", "EURO", " EUR"])
def test_unknown_currency_is_a_money_error(code: str) -> None:
    with pytest.raises(MoneyError, match="unknown currency"):
        currency_exponent(code)
    with pytest.raises(MoneyError):
        Money(100, code)
    with pytest.raises(MoneyError):
        Money.parse("1", code)


def test_non_string_currency_is_a_money_error() -> None:
    with pytest.raises(MoneyError):
        Money(100, ["EUR"])  # type: ignore[arg-type]
    with pytest.raises(MoneyError):
        currency_exponent(None)  # type: ignore[arg-type]


def test_money_error_hierarchy() -> None:
    assert issubclass(MoneyError, OMSError)
    assert issubclass(MoneyError, ValueError)
    assert issubclass(CurrencyMismatch, MoneyError)


def test_at_least_30_known_currencies_with_valid_exponents() -> None:
    assert len(CURRENCY_EXPONENTS) >= 30
    for code, exponent in CURRENCY_EXPONENTS.items():
        assert len(code) == 3
        assert code.isupper()
        assert code.isalpha()
        assert exponent in {0, 2, 3}


# -- construction ---------------------------------------------------------------------------


def test_constructor_and_accessors() -> None:
    money = Money(1050, "EUR")
    assert money.minor == 1050
    assert money.currency == "EUR"
    assert money.exponent == 2
    assert money.amount == Decimal("10.50")
    assert str(money.amount) == "10.50"
    assert not money.is_zero()
    assert bool(money)
    assert repr(money) == "Money(1050, 'EUR')"


def test_zero() -> None:
    zero = Money.zero("JPY")
    assert zero == Money(0, "JPY")
    assert zero.is_zero()
    assert not zero
    assert str(Money.zero("KWD").amount) == "0.000"


@pytest.mark.parametrize("minor", [10.5, 10.0, Decimal("10"), "10", None, True, False])
def test_constructor_refuses_non_int_minor(minor: Any) -> None:
    with pytest.raises(MoneyError):
        Money(minor, "EUR")


def test_constructor_normalises_int_subclasses() -> None:
    from enum import IntEnum

    class Cents(IntEnum):
        TEN = 10

    money = Money(Cents.TEN, "EUR")
    assert type(money.minor) is int
    assert money == Money(10, "EUR")


# -- parse ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "currency", "minor"),
    [
        ("10.50", "EUR", 1050),
        ("10.5", "EUR", 1050),
        ("10", "EUR", 1000),
        ("10.500", "EUR", 1050),
        ("10.50000000", "EUR", 1050),
        ("0.01", "EUR", 1),
        ("-3", "USD", -300),
        ("-0.00", "EUR", 0),
        ("  7.25 ", "EUR", 725),
        ("1_000.00", "EUR", 100000),
        ("1e2", "EUR", 10000),
        ("10", "JPY", 10),
        ("10.000", "JPY", 10),
        ("1.234", "KWD", 1234),
        ("1.25", "KWD", 1250),
        (10, "EUR", 1000),
        (10, "JPY", 10),
        (-2, "KWD", -2000),
        (Decimal("10.5"), "EUR", 1050),
        (Decimal("10.50"), "EUR", 1050),
        (Decimal("1.234"), "KWD", 1234),
        (Decimal("7"), "JPY", 7),
    ],
)
def test_parse_exact(value: str | int | Decimal, currency: str, minor: int) -> None:
    money = Money.parse(value, currency)
    assert money == Money(minor, currency)
    assert type(money.minor) is int


@pytest.mark.parametrize(
    ("value", "currency"),
    [
        ("10.5", "JPY"),
        ("0.1", "JPY"),
        ("1.2345", "KWD"),
        ("10.505", "EUR"),
        ("0.001", "EUR"),
        ("1e-3", "EUR"),
        (Decimal("10.5"), "JPY"),
        (Decimal("0.0001"), "KWD"),
    ],
)
def test_parse_refuses_to_round(value: str | Decimal, currency: str) -> None:
    with pytest.raises(MoneyError, match="more decimals"):
        Money.parse(value, currency)


@pytest.mark.parametrize(
    "value",
    [
        "abc",
        "",
        "10,50",
        "1.2.3",
        "NaN",
        "nan",
        "sNaN",
        "Infinity",
        "-Infinity",
        "inf",
        Decimal("NaN"),
        Decimal("Infinity"),
    ],
)
def test_parse_refuses_non_amounts(value: str | Decimal) -> None:
    with pytest.raises(MoneyError):
        Money.parse(value, "EUR")


@pytest.mark.parametrize("value", [10.5, 10.0, 0.1, float("nan"), float("inf")])
def test_parse_refuses_floats(value: float) -> None:
    with pytest.raises(MoneyError, match="float"):
        Money.parse(value, "EUR")  # type: ignore[arg-type]
    with pytest.raises(MoneyError):
        Money(value, "EUR")  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [True, False, None, [1], b"10"])
def test_parse_refuses_bool_and_other_types(value: Any) -> None:
    with pytest.raises(MoneyError):
        Money.parse(value, "EUR")


def test_parse_never_rounds_large_amounts() -> None:
    # 30 significant digits: more than the default Decimal context's 28.
    text = "1234567890123456789012345678.91"
    money = Money.parse(text, "EUR")
    assert money.minor == 123456789012345678901234567891
    assert str(money.amount) == text
    with pytest.raises(MoneyError, match="more decimals"):
        Money.parse("1234567890123456789012345678.915", "EUR")


@pytest.mark.parametrize("value", ["1e999999", "1e999999999", Decimal("9e99999999")])
def test_parse_refuses_absurdly_large_amounts(value: str | Decimal) -> None:
    with pytest.raises(MoneyError, match="too large"):
        Money.parse(value, "EUR")


def test_parse_zero_with_huge_exponent_is_zero() -> None:
    assert Money.parse("0e999999999", "EUR") == Money(0, "EUR")
    assert Money.parse("0e-999999999", "JPY") == Money(0, "JPY")


@given(minor=minors, currency=currencies)
def test_parse_of_amount_round_trips(minor: int, currency: str) -> None:
    money = Money(minor, currency)
    assert Money.parse(str(money.amount), currency) == money
    assert Money.parse(money.amount, currency) == money
    assert Money.parse(format(money.amount, "f"), currency) == money


@given(minor=st.integers(-(10**12), 10**12), currency=currencies)
def test_parse_rejects_one_extra_decimal(minor: int, currency: str) -> None:
    exponent = currency_exponent(currency)
    text = f"{Money(minor, currency).amount:.{exponent}f}"
    if exponent == 0:
        text += "."
    with pytest.raises(MoneyError):
        Money.parse(text + "1", currency)
    assert Money.parse(text + "0", currency) == Money(minor, currency)


# -- arithmetic -----------------------------------------------------------------------------


def test_add_and_subtract_same_currency() -> None:
    assert eur(1050) + eur(250) == eur(1300)
    assert eur(1050) - eur(2000) == eur(-950)
    assert -eur(1050) == eur(-1050)
    assert -Money(0, "JPY") == Money(0, "JPY")
    assert Money.parse("0.1", "EUR") + Money.parse("0.2", "EUR") == Money.parse("0.3", "EUR")


def test_add_different_currencies_raises_currency_mismatch() -> None:
    with pytest.raises(CurrencyMismatch, match="EUR and USD"):
        eur(100) + Money(100, "USD")
    with pytest.raises(CurrencyMismatch):
        eur(100) - Money(100, "USD")
    with pytest.raises(MoneyError):  # CurrencyMismatch is a MoneyError
        Money(1, "JPY") + Money(1, "KRW")


def test_add_non_money_raises_type_error() -> None:
    with pytest.raises(TypeError):
        eur(100) + 1  # type: ignore[operator]
    with pytest.raises(TypeError):
        eur(100) - Decimal("1")  # type: ignore[operator]


@pytest.mark.parametrize("op", ["<", "<=", ">", ">="])
def test_comparing_different_currencies_raises(op: str) -> None:
    a, b = eur(100), Money(100, "USD")
    with pytest.raises(CurrencyMismatch):
        eval(f"a {op} b")
    with pytest.raises(CurrencyMismatch):
        a.min(b)
    with pytest.raises(CurrencyMismatch):
        a.max(b)


def test_ordering_min_max_and_sort() -> None:
    assert eur(1) < eur(2) <= eur(2) < eur(3)
    assert eur(3) > eur(2) >= eur(2)
    assert not eur(2) < eur(2)
    assert eur(-5).min(eur(5)) == eur(-5)
    assert eur(-5).max(eur(5)) == eur(5)
    assert sorted([eur(3), eur(-1), eur(2)]) == [eur(-1), eur(2), eur(3)]


def test_multiply_by_int_quantity() -> None:
    assert eur(1050) * 3 == eur(3150)
    assert 3 * eur(1050) == eur(3150)
    assert eur(1050) * 0 == eur(0)
    assert eur(1050) * -2 == eur(-2100)


@pytest.mark.parametrize("factor", [1.5, 2.0, Decimal("2"), Decimal("1.5"), True, "2"])
def test_multiply_by_non_int_refused(factor: Any) -> None:
    with pytest.raises(MoneyError):
        eur(1050) * factor
    with pytest.raises(MoneyError):
        factor * eur(1050)


def test_immutable() -> None:
    money = eur(1050)
    with pytest.raises(AttributeError):
        money.minor = 5  # type: ignore[misc]
    with pytest.raises(AttributeError):
        money._minor = 5  # type: ignore[misc]
    with pytest.raises(AttributeError):
        money.currency = "USD"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        money.other = 1  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        del money._minor
    assert money == eur(1050)


def test_hash_and_equality() -> None:
    assert eur(1050) == Money.parse("10.50", "EUR")
    assert hash(eur(1050)) == hash(Money.parse("10.500", "EUR"))
    assert len({eur(1050), Money.parse("10.5", "EUR"), eur(1051)}) == 2
    assert eur(100) != Money(100, "USD")
    assert len({eur(100), Money(100, "USD")}) == 2
    assert eur(0) != 0
    assert eur(1050) != "10.50"
    assert {eur(5): "x"}[Money(5, "EUR")] == "x"


def test_copy_deepcopy_and_pickle() -> None:
    money = Money(-1234, "KWD")
    for clone in (copy.copy(money), copy.deepcopy(money), pickle.loads(pickle.dumps(money))):
        assert clone == money
        assert clone.currency == "KWD"
        with pytest.raises(AttributeError):
            clone._minor = 1  # type: ignore[misc]


@given(a=minors, b=minors, c=minors, currency=currencies)
def test_arithmetic_laws(a: int, b: int, c: int, currency: str) -> None:
    x, y, z = Money(a, currency), Money(b, currency), Money(c, currency)
    assert x + y == y + x
    assert (x + y) + z == x + (y + z)
    assert x - y == x + (-y)
    assert (x + y).minor == a + b
    assert x - x == Money.zero(currency)
    assert (x * 3) == x + x + x
    assert (x < y) == (a < b)
    assert (x == y) == (a == b)
    assert x.min(y).minor == min(a, b)
    assert x.max(y).minor == max(a, b)


# -- allocate -------------------------------------------------------------------------------


@given(
    amount=st.integers(min_value=-(10**15), max_value=10**15),
    weights=st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=20).filter(
        lambda ws: sum(ws) > 0
    ),
    currency=currencies,
)
def test_allocate_property(amount: int, weights: list[int], currency: str) -> None:
    money = Money(amount, currency)
    parts = money.allocate(weights)
    assert len(parts) == len(weights)
    assert all(part.currency == currency for part in parts)
    assert sum(part.minor for part in parts) == amount
    total = sum(weights)
    for part, weight in zip(parts, weights, strict=True):
        exact = Fraction(amount * weight, total)
        assert abs(part.minor - exact) < 1
        if weight == 0:
            assert part.is_zero()


def test_allocate_examples() -> None:
    assert Money.parse("10.00", "EUR").allocate([1, 1, 1]) == [
        Money.parse("3.34", "EUR"),
        Money.parse("3.33", "EUR"),
        Money.parse("3.33", "EUR"),
    ]
    assert eur(-1000).allocate([1, 1, 1]) == [eur(-334), eur(-333), eur(-333)]
    assert eur(100).allocate([1, 3]) == [eur(25), eur(75)]
    assert eur(5).allocate([0, 1, 0, 1]) == [eur(0), eur(3), eur(0), eur(2)]
    assert eur(0).allocate([2, 5]) == [eur(0), eur(0)]
    assert Money(7, "JPY").allocate([1]) == [Money(7, "JPY")]
    # largest remainders first: 100 * 1/6 = 16.67, 100 * 2/6 = 33.33, 100 * 3/6 = 50
    assert eur(100).allocate((1, 2, 3)) == [eur(17), eur(33), eur(50)]


@pytest.mark.parametrize("weights", [[], [0], [0, 0, 0], [1, -1], [-1, 2], [1.5, 1], [True, 1]])
def test_allocate_refuses_bad_weights(weights: list[Any]) -> None:
    with pytest.raises(MoneyError):
        eur(1000).allocate(weights)


# -- percent and included tax ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("minor", "rate", "expected"),
    [
        (5, Decimal("10"), 0),  # 0.5 cent -> 0 (half-even: to the even neighbour)
        (15, Decimal("10"), 2),  # 1.5 -> 2
        (25, Decimal("10"), 2),  # 2.5 -> 2
        (35, Decimal("10"), 4),  # 3.5 -> 4
        (-5, Decimal("10"), 0),  # -0.5 -> 0
        (-15, Decimal("10"), -2),  # -1.5 -> -2
        (26, Decimal("10"), 3),  # 2.6 -> 3
        (24, Decimal("10"), 2),  # 2.4 -> 2
        (10000, Decimal("19"), 1900),
        (999, Decimal("7.5"), 75),  # 74.925 -> 75
        (1050, Decimal("100"), 1050),
        (1050, Decimal("0"), 0),
        (1050, 10, 105),
        (1050, Decimal("-10"), -105),
        (123456789012345678901234567891, Decimal("10"), 12345678901234567890123456789),
    ],
)
def test_percent_half_even(minor: int, rate: Decimal | int, expected: int) -> None:
    assert eur(minor).percent(rate) == eur(expected)


def test_percent_of_five_cents_example() -> None:
    assert Money.parse("0.05", "EUR").percent(Decimal("10")) == Money.parse("0.00", "EUR")


@pytest.mark.parametrize(
    ("amount", "rate", "expected"),
    [
        ("122.00", Decimal("22"), "22.00"),
        ("119.00", Decimal("19"), "19.00"),
        ("1.00", Decimal("19"), "0.16"),  # 15.966 cents -> 16
        ("10.00", Decimal("0"), "0.00"),
        ("0.05", Decimal("100"), "0.02"),  # 2.5 -> 2
        ("0.07", Decimal("100"), "0.04"),  # 3.5 -> 4
        ("-122.00", Decimal("22"), "-22.00"),
        ("107.00", Decimal("7"), "7.00"),
        ("10.00", Decimal("5.5"), "0.52"),  # 52.13 cents
    ],
)
def test_included_tax(amount: str, rate: Decimal, expected: str) -> None:
    assert Money.parse(amount, "EUR").included_tax(rate) == Money.parse(expected, "EUR")


def test_included_tax_jpy() -> None:
    assert Money(1100, "JPY").included_tax(Decimal("10")) == Money(100, "JPY")
    assert Money(1080, "JPY").included_tax(8) == Money(80, "JPY")


@pytest.mark.parametrize(
    "rate", [1.5, True, "10", None, Decimal("NaN"), Decimal("Infinity"), Decimal("1e-999999")]
)
def test_percent_and_included_tax_refuse_bad_rates(rate: Any) -> None:
    with pytest.raises(MoneyError):
        eur(1000).percent(rate)
    with pytest.raises(MoneyError):
        eur(1000).included_tax(rate)


@pytest.mark.parametrize("rate", [Decimal("-100"), Decimal("-10"), -1])
def test_included_tax_refuses_negative_rates(rate: Decimal | int) -> None:
    with pytest.raises(MoneyError, match="negative"):
        eur(12200).included_tax(rate)


@given(
    minor=minors,
    currency=currencies,
    rate=st.decimals(min_value=0, max_value=1000, places=3, allow_nan=False),
)
def test_percent_and_included_tax_are_nearest(minor: int, currency: str, rate: Decimal) -> None:
    money = Money(minor, currency)
    share = money.percent(rate)
    exact_share = Fraction(minor) * Fraction(rate) / 100
    assert share.currency == currency
    assert abs(share.minor - exact_share) <= Fraction(1, 2)
    tax = money.included_tax(rate)
    exact_tax = Fraction(minor) * Fraction(rate) / (100 + Fraction(rate))
    assert abs(tax.minor - exact_tax) <= Fraction(1, 2)
    if abs(share.minor - exact_share) == Fraction(1, 2):
        assert share.minor % 2 == 0
    if abs(tax.minor - exact_tax) == Fraction(1, 2):
        assert tax.minor % 2 == 0


# -- display --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("money", "text"),
    [
        (Money.parse("1234.50", "EUR"), "€1,234.50"),
        (Money.parse("1000", "JPY"), "¥1,000"),
        (Money.parse("1.25", "KWD"), "1.250 KWD"),
        (Money.parse("-3", "USD"), "-$3.00"),
        (Money.parse("-1234.5", "EUR"), "-€1,234.50"),
        (Money.parse("0", "EUR"), "€0.00"),
        (Money.parse("0.07", "GBP"), "£0.07"),
        (Money.parse("1234567.891", "KWD"), "1,234,567.891 KWD"),
        (Money.parse("-0.5", "CHF"), "-0.50 CHF"),
        (Money.parse("1000000", "KRW"), "₩1,000,000"),
    ],
)
def test_format(money: Money, text: str) -> None:
    assert money.format() == text


def test_format_without_symbol_and_str() -> None:
    money = Money.parse("1234.50", "EUR")
    assert str(money) == "1,234.50 EUR"
    assert money.format(symbol=False) == "1,234.50 EUR"
    assert str(Money.parse("-3", "USD")) == "-3.00 USD"
    assert str(Money(1000, "JPY")) == "1,000 JPY"
    assert str(Money(1250, "KWD")) == "1.250 KWD"


def test_format_large_amounts_exactly() -> None:
    money = Money(-123456789012345678901234567891, "EUR")
    assert money.format() == "-€1,234,567,890,123,456,789,012,345,678.91"
    assert str(money) == "-1,234,567,890,123,456,789,012,345,678.91 EUR"


@given(minor=minors, currency=currencies)
def test_str_round_trips_through_parse(minor: int, currency: str) -> None:
    money = Money(minor, currency)
    text, code = str(money).split(" ")
    assert code == currency
    assert Money.parse(text.replace(",", ""), currency) == money
    assert money.format().startswith("-") == (minor < 0)


def test_to_dict() -> None:
    assert Money.parse("10.50", "EUR").to_dict() == {"minor": 1050, "currency": "EUR"}


# -- pydantic -------------------------------------------------------------------------------


class Priced(BaseModel):
    price: Money


def test_pydantic_validates_from_money_and_dict() -> None:
    money = Money(1050, "EUR")
    assert Priced(price=money).price == money
    assert Priced.model_validate({"price": money}).price == money
    assert Priced.model_validate({"price": {"minor": 1050, "currency": "EUR"}}).price == money


def test_pydantic_dumps_and_round_trips() -> None:
    model = Priced(price=Money(1050, "EUR"))
    assert model.model_dump(mode="json") == {"price": {"minor": 1050, "currency": "EUR"}}
    assert model.model_dump() == {"price": {"minor": 1050, "currency": "EUR"}}
    json_text = model.model_dump_json()
    restored = Priced.model_validate_json(json_text)
    assert restored == model
    assert restored.price == Money(1050, "EUR")
    assert isinstance(restored.price, Money)


def test_pydantic_model_copy_deep() -> None:
    model = Priced(price=Money(1050, "EUR"))
    assert model.model_copy(deep=True).price == Money(1050, "EUR")


@pytest.mark.parametrize(
    "value",
    [
        {"minor": 10.5, "currency": "EUR"},
        {"minor": 1050.0, "currency": "EUR"},
        {"minor": "1050", "currency": "EUR"},
        {"minor": True, "currency": "EUR"},
        {"minor": 1050, "currency": "XYZ"},
        {"minor": 1050},
        {"currency": "EUR"},
        "10.50 EUR",
        1050,
    ],
)
def test_pydantic_refuses_bad_input(value: Any) -> None:
    with pytest.raises(ValidationError):
        Priced.model_validate({"price": value})


@pytest.mark.parametrize(
    "json_text",
    [
        '{"price": {"minor": 10.5, "currency": "EUR"}}',
        '{"price": {"minor": 1050.0, "currency": "EUR"}}',
        '{"price": {"minor": "1050", "currency": "EUR"}}',
        '{"price": {"minor": 1050, "currency": "XYZ"}}',
        '{"price": 10.5}',
    ],
)
def test_pydantic_refuses_bad_json(json_text: str) -> None:
    with pytest.raises(ValidationError):
        Priced.model_validate_json(json_text)


def test_pydantic_json_schema() -> None:
    schema = Priced.model_json_schema()
    price = schema["properties"]["price"]
    assert price["type"] == "object"
    assert price["properties"]["minor"]["type"] == "integer"
    assert set(price["required"]) == {"minor", "currency"}


@given(minor=minors, currency=currencies)
def test_pydantic_json_round_trip_property(minor: int, currency: str) -> None:
    model = Priced(price=Money(minor, currency))
    assert Priced.model_validate_json(model.model_dump_json()).price == Money(minor, currency)
