"""The rate-table plugin: prices per zone and weight tier, free over, fallbacks, located policy
problems, and the facade re-pricing carts when the destination changes."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from textwrap import dedent
from typing import Any

import oms_rate_table_shipping as plugin
import pytest
from oms_rate_table_shipping import ShippingUnavailable, cart_weight, check_rate_table, quote

from oms_sdk import OMS, InvalidOrderInput, Money, PluginError, PolicyError, PolicyProblem
from oms_sdk._plugins import installed_plugins
from oms_sdk.orders import LineItem, Order
from oms_sdk.policy import MarketPolicy, ShippingMethodPolicy, load_policy_text
from oms_sdk.testing import fresh_database_url

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)

#: A policy file with a rate table. Weights: TEE 200 g, MUG 400 g, HOODIE 800 g, PIN 1 g,
#: POSTER unweighed, EBOOK digital. Domestic standard: <=1000 g 4.90, <=5000 g 7.90, more 12.90.
POLICY = """\
plugins: [rate_table]
markets:
  - code: EU
    name: Europe
    currency: EUR
    prices:
      tax_included: true
      tax_rate: "22"
      items:
        TEE: {name: T-shirt, price: "20.00", weight_grams: 200}
        MUG: {name: Mug, price: "15.00", weight_grams: 400}
        HOODIE: {name: Hoodie, price: "60.00", weight_grams: 800}
        PIN: {name: Pin, price: "1.00", weight_grams: 1}
        POSTER: {name: Poster, price: "10.00"}
        EBOOK: {name: E-book, price: "5.00", requires_shipping: false, weight_grams: 9000}
    shipping_methods:
      - {code: standard, name: Standard, price: "4.90", free_over: "50.00"}
      - {code: express, name: Express, price: "12.90", free_over: "200.00"}
      - {code: pickup, name: Pick-up point, price: "3.00"}
    payment_methods:
      - {code: transfer, name: Bank transfer, gateway: manual}
    extensions:
      rate_table:
        zones:
          - code: domestic
            countries: [IT, SM, VA]
          - code: eu
            countries: [FR, DE, ES, AT]
          - code: north_america
            countries: [US, CA]
        rates:
          standard:
            - {zone: domestic, max_weight_grams: 1000, price: "4.90"}
            - {zone: domestic, max_weight_grams: 5000, price: "7.90"}
            - {zone: domestic, price: "12.90"}
            - {zone: eu, max_weight_grams: 2000, price: 9.90}
            - {zone: eu, max_weight_grams: 10000, price: "19.90"}
            - {zone: north_america, price: "29.00"}
          express:
            - {zone: domestic, max_weight_grams: 3000, price: "12.90"}
            - {zone: eu, max_weight_grams: 3000, price: "24.90"}
        free_over:
          standard: "100.00"
"""

ADDRESS = {"name": "Giulia Rossi", "line1": "Via Torino 12", "city": "Milano", "postal_code": "1"}


def eur(amount: str) -> Money:
    return Money.parse(amount, "EUR")


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    hits = [n for n, line in enumerate(text.splitlines(), start=1) if needle in line]
    assert len(hits) >= occurrence, f"{needle!r} not found {occurrence} time(s)"
    return hits[occurrence - 1]


def market_from(text: str = POLICY) -> MarketPolicy:
    """The EU market of ``text``, checked by the plugin as ``OMS.open`` checks it."""
    return load_policy_text(text, "eu.yaml", checks=[check_rate_table]).market("EU")


@pytest.fixture(scope="module")
def market() -> MarketPolicy:
    return market_from()


def method(market: MarketPolicy, code: str) -> ShippingMethodPolicy:
    found = market.shipping_method(code)
    assert found is not None
    return found


def cart(
    market: MarketPolicy,
    lines: Sequence[tuple[str, int]],
    country: str | None = "IT",
    discount: str = "0",
    goods: str | None = None,
) -> Order:
    """A priced cart, as ``reprice`` leaves it before asking for the shipping price."""
    order = Order(id="o-1", number="EU-000001", market="EU", currency="EUR", now=NOW)
    for position, (sku, quantity) in enumerate(lines):
        item = market.prices.items[sku]
        order.lines.append(
            LineItem(
                sku=sku,
                name=item.name,
                quantity=quantity,
                unit_price=item.price.minor,
                requires_shipping=item.requires_shipping,
                position=position,
            )
        )
    order.subtotal = eur(goods).minor if goods else sum(line.amount for line in order.lines)
    order.discount = eur(discount).minor
    order.shipping_address = {**ADDRESS, "country": country} if country else None
    return order


def price(market: MarketPolicy, order: Order, code: str = "standard") -> Money | None:
    return plugin.oms_shipping_price(order=order, market=market, method=method(market, code))


# -- the entry point ------------------------------------------------------------------------------


def test_published_under_the_oms_sdk_entry_point_group() -> None:
    found = {p.name: p for p in installed_plugins()}
    assert found["rate_table"].value == "oms_rate_table_shipping"
    assert found["rate_table"].distribution == "oms-rate-table-shipping"


# -- weight -----------------------------------------------------------------------------------


def test_weight_counts_shipped_lines_times_quantity(market: MarketPolicy) -> None:
    order = cart(market, [("TEE", 3), ("HOODIE", 2), ("PIN", 5)])
    assert cart_weight(order, market) == 3 * 200 + 2 * 800 + 5


def test_unweighed_items_count_as_zero_and_digital_items_not_at_all(
    market: MarketPolicy,
) -> None:
    assert cart_weight(cart(market, [("POSTER", 4)]), market) == 0
    assert cart_weight(cart(market, [("EBOOK", 1), ("TEE", 1)]), market) == 200
    # an unweighed item ships at the lightest tier
    assert price(market, cart(market, [("POSTER", 1)])) == eur("4.90")


# -- prices per zone and tier -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "country", "expected"),
    [
        ([("PIN", 1)], "IT", "4.90"),
        ([("TEE", 5)], "IT", "4.90"),  # exactly 1000 g: still the first tier
        ([("TEE", 5), ("PIN", 1)], "IT", "7.90"),  # 1001 g
        ([("HOODIE", 6), ("TEE", 1)], "SM", "7.90"),  # exactly 5000 g
        ([("HOODIE", 6), ("TEE", 1), ("PIN", 1)], "VA", "12.90"),  # 5001 g: no limit
        ([("HOODIE", 60)], "IT", "12.90"),  # 48 kg: the unlimited tier takes anything
        ([("TEE", 10)], "FR", "9.90"),  # exactly 2000 g, written unquoted in the file
        ([("TEE", 10), ("PIN", 1)], "DE", "19.90"),
        ([("TEE", 50)], "AT", "19.90"),  # exactly 10000 g
        ([("PIN", 1)], "US", "29.00"),  # a flat rate: one tier without maximum
        ([("HOODIE", 10)], "CA", "29.00"),
    ],
)
def test_price_by_zone_and_weight_tier(
    market: MarketPolicy, lines: list[tuple[str, int]], country: str, expected: str
) -> None:
    order = cart(market, lines, country, goods="10.00")  # under every free_over
    assert price(market, order) == eur(expected)


def test_quote_is_the_same_table_without_a_cart(market: MarketPolicy) -> None:
    assert quote(market, "standard", "IT", 1000) == eur("4.90")
    assert quote(market, "standard", "IT", 1001) == eur("7.90")
    assert quote(market, "express", "FR", 3000) == eur("24.90")
    assert quote(market, "pickup", "IT", 1) is None  # not in the table: the policy prices it


# -- free over ------------------------------------------------------------------------------------


def test_the_tables_free_over_replaces_the_policy_one(market: MarketPolicy) -> None:
    # the policy says free over 50.00; the table says 100.00 for standard
    assert price(market, cart(market, [("HOODIE", 1)])) == eur("4.90")  # 60.00 of goods
    almost = cart(market, [("TEE", 4), ("MUG", 1), ("PIN", 4)])  # 99.00
    assert price(market, almost) == eur("7.90")  # 1605 g
    exactly = cart(market, [("TEE", 4), ("MUG", 1), ("PIN", 5)])  # 100.00
    assert price(market, exactly) == eur("0.00")


def test_free_over_counts_discounted_goods(market: MarketPolicy) -> None:
    order = cart(market, [("HOODIE", 2)], discount="20.01")  # 120.00 - 20.01 = 99.99
    assert price(market, order) == eur("7.90")
    order = cart(market, [("HOODIE", 2)], discount="20.00")  # exactly 100.00
    assert price(market, order) == eur("0.00")


def test_a_method_not_in_free_over_keeps_its_policy_threshold(market: MarketPolicy) -> None:
    # express: free over 200.00 in the policy, nothing in the table
    assert price(market, cart(market, [("HOODIE", 3)]), "express") == eur("12.90")  # 180.00
    assert price(market, cart(market, [("HOODIE", 3), ("TEE", 1)]), "express") == eur("0.00")


def test_free_over_null_means_never_free() -> None:
    text = POLICY.replace('standard: "100.00"', "standard: null")
    market = market_from(text)
    assert price(market, cart(market, [("HOODIE", 5)])) == eur("7.90")  # 300.00 of goods


PER_ZONE = POLICY.replace(
    'standard: "100.00"',
    'standard: {domestic: "100.00", eu: null}\n          express: {eu: "80.00"}',
)


def test_free_over_per_zone() -> None:
    market = market_from(PER_ZONE)
    hoodies = [("HOODIE", 2)]  # 120.00 of goods, 1600 g
    assert price(market, cart(market, hoodies, "IT")) == eur("0.00")  # domestic: over 100.00
    assert price(market, cart(market, hoodies, "FR")) == eur("9.90")  # eu: never free
    # a zone the map leaves out keeps the method's policy free_over (standard: 50.00)
    assert price(market, cart(market, hoodies, "US")) == eur("0.00")
    assert price(market, cart(market, [("MUG", 3)], "US")) == eur("29.00")  # 45.00
    # express: eu free over 80.00 from the table, domestic keeps the policy's 200.00
    assert price(market, cart(market, [("TEE", 4)], "FR"), "express") == eur("0.00")
    assert price(market, cart(market, hoodies, "IT"), "express") == eur("12.90")


def test_free_shipping_does_not_make_an_impossible_parcel_possible(market: MarketPolicy) -> None:
    with pytest.raises(ShippingUnavailable):
        price(market, cart(market, [("HOODIE", 10)], "JP"))


# -- fallbacks and refusals -----------------------------------------------------------------------


def test_a_method_without_rates_falls_back_to_the_policy(market: MarketPolicy) -> None:
    assert price(market, cart(market, [("TEE", 1)]), "pickup") is None
    assert price(market, cart(market, [("TEE", 1)], "JP"), "pickup") is None


def test_no_address_yet_falls_back_to_the_policy(market: MarketPolicy) -> None:
    assert price(market, cart(market, [("HOODIE", 30)], country=None)) is None


def test_a_market_without_a_rate_table_is_left_to_the_policy() -> None:
    text = POLICY.split("    extensions:")[0]
    market = market_from(text)
    assert plugin.rate_table(market) is None
    assert price(market, cart(market, [("TEE", 1)])) is None
    assert plugin.oms_check_market(market=market) == []


def test_a_country_in_no_zone_makes_the_method_unavailable(market: MarketPolicy) -> None:
    with pytest.raises(ShippingUnavailable) as info:
        price(market, cart(market, [("TEE", 2)], "JP"))
    error = info.value
    assert isinstance(error, InvalidOrderInput)
    assert (error.method, error.country, error.weight_grams, error.zone) == (
        "standard",
        "JP",
        400,
        None,
    )
    assert str(error) == (
        "shipping method 'standard' cannot ship order EU-000001 (400 g) to JP: JP is in no "
        "shipping zone of market EU (zones: domestic, eu, north_america)"
    )
    assert error.order == "EU-000001"


def test_a_zone_the_method_has_no_rates_for_makes_it_unavailable(market: MarketPolicy) -> None:
    with pytest.raises(ShippingUnavailable) as info:
        price(market, cart(market, [("TEE", 1)], "US"), "express")
    assert info.value.zone == "north_america"
    assert "the method has no rates for zone 'north_america'" in str(info.value)


def test_a_parcel_heavier_than_every_tier_makes_the_method_unavailable(
    market: MarketPolicy,
) -> None:
    exactly = cart(market, [("TEE", 15)], goods="10.00")  # 3000 g
    assert price(market, exactly, "express") == eur("12.90")
    with pytest.raises(ShippingUnavailable) as info:
        price(market, cart(market, [("TEE", 15), ("PIN", 1)]), "express")  # 3001 g
    assert str(info.value) == (
        "shipping method 'express' cannot ship order EU-000001 (3001 g) to IT: heavier than "
        "its heaviest rate for zone 'domestic' (3000 g)"
    )
    assert info.value.weight_grams == 3001


def test_rest_of_the_world_zone_catches_every_other_country() -> None:
    text = POLICY.replace(
        "          - code: north_america\n            countries: [US, CA]\n",
        "          - code: north_america\n            countries: [US, CA]\n"
        '          - code: world\n            countries: ["*"]\n',
    ).replace(
        '            - {zone: north_america, price: "29.00"}\n',
        '            - {zone: north_america, price: "29.00"}\n'
        '            - {zone: world, max_weight_grams: 2000, price: "35.00"}\n',
    )
    market = market_from(text)
    assert price(market, cart(market, [("TEE", 1)], "JP")) == eur("35.00")
    assert price(market, cart(market, [("TEE", 1)], "FR")) == eur("9.90")  # listed zone wins
    assert quote(market, "standard", "XK", 2000) == eur("35.00")
    with pytest.raises(ShippingUnavailable):
        quote(market, "standard", "JP", 2001)


def test_an_unchecked_market_is_refused_clearly() -> None:
    raw: dict[str, Any] = {
        "code": "EU",
        "name": "Europe",
        "currency": "EUR",
        "prices": {"items": {"TEE": {"name": "T", "price": "1.00"}}},
        "shipping_methods": [{"code": "standard", "name": "S", "price": "1.00"}],
        "payment_methods": [{"code": "t", "name": "T", "gateway": "manual"}],
        "extensions": {"rate_table": {"zones": [{"code": "all"}], "rates": {}}},
    }
    market = MarketPolicy.model_validate(raw)
    with pytest.raises(PluginError, match=r"market EU: invalid extensions.rate_table: zones\[0\]"):
        plugin.rate_table(market)


# -- policy problems ---------------------------------------------------------------------------


def problems(tmp_path: Path, text: str) -> list[PolicyProblem]:
    path = tmp_path / "eu.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        OMS.open(path, fresh_database_url())
    return list(info.value.problems)


def only(tmp_path: Path, text: str) -> PolicyProblem:
    found = problems(tmp_path, text)
    assert len(found) == 1, "\n".join(map(str, found))
    return found[0]


def test_the_readme_example_loads_and_prices_as_described(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    (example,) = re.findall(r"```yaml\n(.*?)```", readme, re.S)
    path = tmp_path / "eu.yaml"
    path.write_text(example, encoding="utf-8")
    with OMS.open(path, fresh_database_url()) as oms:
        market = oms.policies.market("EU")
        assert quote(market, "standard", "IT", 2000) == eur("4.90")
        assert quote(market, "standard", "IT", 2001) == eur("8.90")
        assert quote(market, "standard", "JP", 5000) == eur("29.90")
        assert quote(market, "pickup", "JP", 5000) is None
        with pytest.raises(ShippingUnavailable, match=r"\(5400 g\) to IT: heavier than"):
            quote(market, "express", "IT", 5400)
        with pytest.raises(ShippingUnavailable, match="no rates for zone 'world'"):
            quote(market, "express", "JP", 100)


def test_the_example_policy_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "eu.yaml"
    path.write_text(POLICY, encoding="utf-8")
    with OMS.open(path, fresh_database_url()) as oms:
        assert "rate_table" in oms.plugins.names


def test_the_module_passed_by_hand_reads_the_same_section(tmp_path: Path) -> None:
    path = tmp_path / "eu.yaml"
    path.write_text(POLICY.replace("plugins: [rate_table]\n", ""), encoding="utf-8")
    with OMS.open(path, fresh_database_url(), plugins=[plugin]) as oms:
        assert oms.plugins.manager.get_plugin("rate_table") is plugin
        order = oms.create_order("EU", customer_email="giulia@example.com")
        oms.add_line_item(order.id, "TEE", 1)
        oms.set_addresses(order.id, address("US"))
        assert oms.select_shipping_method(order.id, "standard").totals.shipping == eur("29.00")


def test_tiers_must_increase_strictly(tmp_path: Path) -> None:
    text = POLICY.replace("max_weight_grams: 5000", "max_weight_grams: 1000")
    problem = only(tmp_path, text)
    assert problem.file == str(tmp_path / "eu.yaml")
    assert problem.key_path == "markets[0].extensions.rate_table.rates.standard[1].max_weight_grams"
    assert problem.line == line_of(text, "max_weight_grams: 1000", occurrence=2)
    assert problem.message == (
        "must be greater than 1000 (the previous 'domestic' tier): tiers are listed by "
        "strictly increasing weight"
    )
    assert str(problem).startswith(f"{tmp_path / 'eu.yaml'}:{problem.line}: markets[0].")


def test_the_unlimited_tier_comes_last(tmp_path: Path) -> None:
    text = POLICY.replace(
        '            - {zone: north_america, price: "29.00"}\n',
        '            - {zone: north_america, price: "29.00"}\n'
        '            - {zone: north_america, max_weight_grams: 500, price: "19.00"}\n',
    )
    problem = only(tmp_path, text)
    assert problem.key_path == "markets[0].extensions.rate_table.rates.standard[6]"
    assert problem.line == line_of(text, "max_weight_grams: 500,")
    assert "already has a tier without max_weight_grams" in problem.message


def test_rates_name_existing_shipping_methods(tmp_path: Path) -> None:
    text = POLICY.replace("          express:\n", "          expres:\n")
    problem = only(tmp_path, text)
    assert problem.key_path == "markets[0].extensions.rate_table.rates.expres"
    assert problem.line == line_of(text, "expres:")
    assert problem.message == (
        "unknown shipping method 'expres' (market EU has: standard, express, pickup)"
    )


def test_tiers_name_existing_zones(tmp_path: Path) -> None:
    text = POLICY.replace(
        "{zone: eu, max_weight_grams: 3000", "{zone: europe, max_weight_grams: 3000"
    )
    problem = only(tmp_path, text)
    assert problem.key_path == "markets[0].extensions.rate_table.rates.express[1].zone"
    assert problem.line == line_of(text, "zone: europe")
    assert problem.message == "unknown zone 'europe' (zones: domestic, eu, north_america)"


@pytest.mark.parametrize(
    ("countries", "index", "message"),
    [
        ("[FR, UK, ES, AT]", 1, "unknown country code 'UK' (expected an ISO 3166-1 alpha-2 code"),
        ("[FR, de, ES, AT]", 1, "unknown country code 'de' (codes are upper case: 'DE')"),
        ("[FR, DE, IT, AT]", 2, "country 'IT' is already in zone 'domestic'"),
        ("[FR, DE, ES, FR]", 3, "country 'FR' is already in zone 'eu'"),
        ('[FR, "*"]', 1, "'*' (rest of the world) must be the zone's only country"),
    ],
)
def test_countries_are_real_and_in_one_zone(
    tmp_path: Path, countries: str, index: int, message: str
) -> None:
    text = POLICY.replace("countries: [FR, DE, ES, AT]", f"countries: {countries}")
    problem = only(tmp_path, text)
    assert problem.key_path == f"markets[0].extensions.rate_table.zones[1].countries[{index}]"
    assert problem.line == line_of(text, f"countries: {countries}")
    assert problem.message.startswith(message)


def test_at_most_one_rest_of_the_world_zone(tmp_path: Path) -> None:
    text = POLICY.replace(
        "        rates:\n",
        '          - code: world\n            countries: ["*"]\n'
        '          - code: galaxy\n            countries: ["*"]\n'
        "        rates:\n",
    )
    problem = only(tmp_path, text)
    assert problem.key_path == "markets[0].extensions.rate_table.zones[4].countries[0]"
    assert problem.line == line_of(text, "code: galaxy") + 1
    assert problem.message == (
        "only one zone may be the rest of the world ('*'); zone 'world' already is"
    )


def test_duplicate_zone_codes(tmp_path: Path) -> None:
    text = POLICY.replace("code: north_america", "code: eu")
    found = [(p.key_path, p.message) for p in problems(tmp_path, text)]
    assert ("markets[0].extensions.rate_table.zones[2].code", "duplicate zone code 'eu'") in found


def test_amounts_are_exact_in_the_market_currency(tmp_path: Path) -> None:
    text = POLICY.replace('price: "19.90"}', 'price: "19.999"}').replace(
        'standard: "100.00"', "standard: -1"
    )
    found = [(p.key_path, p.line, p.message) for p in problems(tmp_path, text)]
    assert found == [
        (
            "markets[0].extensions.rate_table.rates.standard[4].price",
            line_of(text, '"19.999"'),
            "19.999 has more decimals than EUR allows (2); it would have to be rounded",
        ),
        (
            "markets[0].extensions.rate_table.free_over.standard",
            line_of(text, "standard: -1"),
            "amount must not be negative, got -1",
        ),
    ]


def test_unknown_and_missing_keys_are_located(tmp_path: Path) -> None:
    text = POLICY.replace("max_weight_grams: 2000", "max_weight_gram: 2000").replace(
        '{zone: north_america, price: "29.00"}', "{zone: north_america}"
    )
    found = [(p.key_path, p.line, p.message) for p in problems(tmp_path, text)]
    assert found == [
        (
            "markets[0].extensions.rate_table.rates.standard[3].max_weight_gram",
            line_of(text, "max_weight_gram:"),
            "unknown key 'max_weight_gram'",
        ),
        (
            "markets[0].extensions.rate_table.rates.standard[5].price",
            line_of(text, "{zone: north_america}"),  # the tier: the key is not in the file
            "required key is missing",
        ),
    ]


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("max_weight_grams: 0", "Input should be greater than 0"),
        ('max_weight_grams: "1000"', "Input should be a valid integer"),
        ("max_weight_grams: 1000.5", "Input should be a valid integer"),
    ],
)
def test_weights_are_positive_whole_grams(tmp_path: Path, written: str, message: str) -> None:
    text = POLICY.replace("max_weight_grams: 1000", written, 1)
    problem = only(tmp_path, text)
    assert problem.key_path == "markets[0].extensions.rate_table.rates.standard[0].max_weight_grams"
    assert problem.line == line_of(text, written)
    assert problem.message.startswith(message)


def test_empty_lists_are_problems(tmp_path: Path) -> None:
    text = POLICY.replace("countries: [US, CA]", "countries: []").replace(
        "          express:\n"
        '            - {zone: domestic, max_weight_grams: 3000, price: "12.90"}\n'
        '            - {zone: eu, max_weight_grams: 3000, price: "24.90"}\n',
        "          express: []\n",
    )
    found = [(p.key_path, p.line, p.message) for p in problems(tmp_path, text)]
    assert found == [
        (
            "markets[0].extensions.rate_table.zones[2].countries",
            line_of(text, "countries: []"),
            'list at least one country, or "*"',
        ),
        (
            "markets[0].extensions.rate_table.rates.express",
            line_of(text, "express: []"),
            "list at least one tier, or leave the method out",
        ),
    ]


def test_free_over_per_zone_problems_are_located(tmp_path: Path) -> None:
    text = PER_ZONE.replace("eu: null}", 'europe: "19.999"}').replace(
        'express: {eu: "80.00"}', "express: [80]"
    )
    found = [(p.key_path, p.line, p.message) for p in problems(tmp_path, text)]
    assert found == [
        (
            "markets[0].extensions.rate_table.free_over.standard.europe",
            line_of(text, "europe:"),
            "19.999 has more decimals than EUR allows (2); it would have to be rounded",
        ),
        (
            "markets[0].extensions.rate_table.free_over.express",
            line_of(text, "express: [80]"),
            'expected an amount such as "4.90", got list',
        ),
    ]
    text = PER_ZONE.replace("eu: null}", "europe: null}")
    problem = only(tmp_path, text)
    assert problem.key_path == "markets[0].extensions.rate_table.free_over.standard.europe"
    assert problem.message == "unknown zone 'europe' (zones: domestic, eu, north_america)"


def test_free_over_needs_a_method_with_rates(tmp_path: Path) -> None:
    text = POLICY.replace('standard: "100.00"', 'standard: "100.00"\n          pickup: "10.00"')
    problem = only(tmp_path, text)
    assert problem.key_path == "markets[0].extensions.rate_table.free_over.pickup"
    assert problem.line == line_of(text, 'pickup: "10.00"')
    assert "has no rates in this table" in problem.message


def test_a_section_needs_the_plugin_enabled(tmp_path: Path) -> None:
    text = POLICY.replace("plugins: [rate_table]\n", "")
    problem = only(tmp_path, text)
    assert problem.key_path == "markets[0].extensions.rate_table"
    assert problem.message == "no active plugin named 'rate_table' reads it"


def test_python_floats_are_refused() -> None:
    raw: dict[str, Any] = {
        "code": "EU",
        "name": "Europe",
        "currency": "EUR",
        "prices": {"items": {"TEE": {"name": "T", "price": "1.00"}}},
        "shipping_methods": [{"code": "standard", "name": "S", "price": "1.00"}],
        "payment_methods": [{"code": "t", "name": "T", "gateway": "manual"}],
        "extensions": {
            "rate_table": {
                "zones": [{"code": "all", "countries": ["*"]}],
                "rates": {"standard": [{"zone": "all", "price": 4.9}]},
                "free_over": {"standard": Decimal("50")},
            }
        },
    }
    found = plugin.oms_check_market(market=MarketPolicy.model_validate(raw))
    assert found == [
        (
            ("extensions", "rate_table", "rates", "standard", 0, "price"),
            'write amounts as text or decimals, e.g. "4.90"; floats are not exact',
        )
    ]


# -- end to end, through the facade -----------------------------------------------------------


@pytest.fixture
def oms(tmp_path: Path) -> Iterator[OMS]:
    path = tmp_path / "eu.yaml"
    path.write_text(dedent(POLICY), encoding="utf-8")
    with OMS.open(path, fresh_database_url(), clock=lambda: NOW) as service:
        yield service


def address(country: str) -> dict[str, str]:
    return {**ADDRESS, "country": country}


def test_cart_totals_follow_the_destination(oms: OMS) -> None:
    order = oms.create_order("EU", customer_email="giulia@example.com")
    oms.add_line_item(order.id, "TEE", 5)  # 1000 g, 100.00 of goods: free standard shipping
    oms.add_line_item(order.id, "PIN", 1)  # 1001 g, 101.00
    oms.select_shipping_method(order.id, "express")

    # no address yet: the policy's flat price for express
    assert oms.get_order(order.id).totals.shipping == eur("12.90")

    italy = oms.set_addresses(order.id, address("IT"))
    assert italy.totals.shipping == eur("12.90")  # express domestic, <= 3000 g
    assert italy.totals.total == eur("113.90")

    france = oms.set_addresses(order.id, address("FR"))
    assert france.totals.shipping == eur("24.90")
    assert france.totals.total == eur("125.90")

    standard = oms.select_shipping_method(order.id, "standard")
    assert standard.totals.shipping == eur("0.00")  # 101.00 >= the table's free_over 100.00
    smaller = oms.update_line_item(order.id, "TEE", 4)  # 81.00 of goods, 801 g, to FR
    assert smaller.totals.shipping == eur("9.90")

    usa = oms.set_addresses(order.id, address("US"))
    assert usa.totals.shipping == eur("29.00")
    assert usa.totals.total == eur("110.00")


def test_a_method_without_rates_keeps_the_policy_price(oms: OMS) -> None:
    order = oms.create_order("EU", customer_email="giulia@example.com")
    oms.add_line_item(order.id, "HOODIE", 20)
    oms.set_addresses(order.id, address("US"))
    view = oms.select_shipping_method(order.id, "pickup")
    assert view.totals.shipping == eur("3.00")


def test_an_address_the_method_cannot_reach_is_refused_and_changes_nothing(oms: OMS) -> None:
    order = oms.create_order("EU", customer_email="giulia@example.com")
    oms.add_line_item(order.id, "TEE", 1)
    oms.select_shipping_method(order.id, "standard")
    before = oms.set_addresses(order.id, address("IT"))

    with pytest.raises(ShippingUnavailable, match=r"'standard' cannot ship order EU-000001 "):
        oms.set_addresses(order.id, address("JP"))
    after = oms.get_order(order.id)
    assert after.shipping_address is not None
    assert after.shipping_address.country == "IT"
    assert after.version == before.version


def test_too_heavy_for_the_selected_method_is_refused(oms: OMS) -> None:
    order = oms.create_order("EU", customer_email="giulia@example.com")
    oms.set_addresses(order.id, address("IT"))
    oms.add_line_item(order.id, "HOODIE", 3)  # 2400 g
    oms.select_shipping_method(order.id, "express")

    with pytest.raises(InvalidOrderInput, match=r"\(3200 g\) to IT: heavier than"):
        oms.add_line_item(order.id, "HOODIE", 1)
    assert oms.get_order(order.id).lines[0].quantity == 3

    # another method takes it, then the heavier cart is fine
    oms.select_shipping_method(order.id, "standard")
    view = oms.add_line_item(order.id, "HOODIE", 1)  # 3200 g, 240.00: free over 100.00
    assert (view.lines[0].quantity, view.totals.shipping) == (4, eur("0.00"))


def test_a_placed_order_keeps_the_table_price(oms: OMS) -> None:
    order = oms.create_order("EU", customer_email="giulia@example.com")
    oms.add_line_item(order.id, "MUG", 3)  # 1200 g, 45.00
    oms.set_addresses(order.id, address("DE"))
    oms.select_shipping_method(order.id, "standard")
    oms.select_payment_method(order.id, "transfer")
    placed = oms.place(order.id)
    assert placed.status == "placed"
    assert placed.totals.shipping == eur("9.90")
    assert placed.totals.total == eur("54.90")
