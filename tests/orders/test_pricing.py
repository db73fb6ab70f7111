"""Tests of ``reprice`` and ``promotion_problem`` on hand-built orders and small markets.

Amounts are chosen so that every rounding is visible: a tax share that ends in exactly half a
cent is rounded half-even (to the even cent), never up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from oms_sdk.money import Money
from oms_sdk.orders import LineItem, Order, promotion_problem, reprice
from oms_sdk.policy import FixedAmountPromotion, MarketPolicy, PercentagePromotion, load_policy_text

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)

POLICY = """\
markets:
  - code: TI
    name: Tax included, 20%
    currency: EUR
    prices:
      tax_included: true
      tax_rate: "20"
      items:
        C3:
          name: Three cents
          price: "0.03"
        C9:
          name: Nine cents
          price: "0.09"
        C15:
          name: Fifteen cents
          price: "0.15"
        C21:
          name: Twenty-one cents
          price: "0.21"
        BIG:
          name: Big
          price: "120.00"
        I25:
          name: Twenty-five
          price: "25.00"
        I2499:
          name: Just under
          price: "24.99"
        EBOOK:
          name: E-book
          price: "9.00"
          requires_shipping: false
    shipping_methods:
      - code: std
        name: Standard
        price: "5.00"
        free_over: "50.00"
      - code: exp
        name: Express
        price: "9.00"
    payment_methods:
      - code: card
        name: Card
        gateway: sandbox
      - code: cod
        name: Cash on delivery
        gateway: manual
        surcharge: "1.50"
    promotions:
      - code: ten_off
        name: 10.00 off
        type: fixed_amount
        amount: "10.00"
        coupon: TENOFF
      - code: fifty_off
        name: 50.00 off
        type: fixed_amount
        amount: "50.00"
        coupon: FIFTYOFF
      - code: third_off
        name: A third off
        type: percentage
        percentage: "33.333"
        coupon: THIRD
  - code: TX
    name: Tax excluded, 10%
    currency: USD
    prices:
      tax_included: false
      tax_rate: "10"
      items:
        P125:
          name: One twenty-five
          price: "1.25"
        P135:
          name: One thirty-five
          price: "1.35"
        BIG:
          name: Big
          price: "100.00"
    shipping_methods:
      - code: ground
        name: Ground
        price: "5.99"
        free_over: "75.00"
    payment_methods:
      - code: card
        name: Card
        gateway: sandbox
        surcharge: "0.50"
  - code: PR
    name: Automatic promotions
    currency: EUR
    prices:
      tax_included: true
      tax_rate: "0"
      items:
        TEE:
          name: T-shirt
          price: "20.00"
    payment_methods:
      - code: card
        name: Card
        gateway: sandbox
    promotions:
      - code: january
        name: 5.00 off in January
        type: fixed_amount
        amount: "5.00"
        minimum_order_amount: "30.00"
        starts_at: 2026-01-01T00:00:00Z
        expires_at: 2026-02-01T00:00:00Z
      - code: welcome
        name: 10% off
        type: percentage
        percentage: "10"
        coupon: WELCOME
        usage_limit: 3
  - code: JP
    name: Yen
    currency: JPY
    prices:
      tax_included: true
      tax_rate: "10"
      items:
        MUG:
          name: Mug
          price: 2205
    payment_methods:
      - code: card
        name: Card
        gateway: sandbox
"""

POLICIES = load_policy_text(POLICY)


def market(code: str) -> MarketPolicy:
    return POLICIES.market(code)


def eur(amount: str) -> Money:
    return Money.parse(amount, "EUR")


def usd(amount: str) -> Money:
    return Money.parse(amount, "USD")


def priced(
    code: str,
    lines: Sequence[tuple[str, int]],
    *,
    shipping: str | None = None,
    payment: str | None = None,
    coupon: str | None = None,
    now: datetime = NOW,
    usage: Mapping[str, int] | None = None,
    gift_card: Money | None = None,
) -> Order:
    policy = market(code)
    order = Order(
        id=f"order-{code}", number=f"{code}-000001", market=code, currency=policy.currency, now=now
    )
    for position, (sku, quantity) in enumerate(lines):
        order.lines.append(
            LineItem(
                sku=sku,
                name="stale name",
                quantity=quantity,
                unit_price=1,  # stale: reprice reads the price list
                requires_shipping=True,
                position=position,
            )
        )
    order.shipping_method = shipping
    order.payment_method = payment
    order.coupon_code = coupon
    reprice(order, policy, now=now, promotion_usage=usage or {}, gift_card_balance=gift_card)
    return order


def totals(order: Order) -> dict[str, int]:
    return {
        "subtotal": order.subtotal,
        "discount": order.discount,
        "shipping": order.shipping,
        "surcharge": order.surcharge,
        "tax": order.tax,
        "gift_card": order.gift_card,
        "total": order.total,
    }


# -- prices -----------------------------------------------------------------------------------


def test_lines_are_priced_from_the_price_list() -> None:
    order = priced("TI", [("I25", 2), ("EBOOK", 1)])
    assert [(line.sku, line.name, line.unit_price, line.amount) for line in order.lines] == [
        ("I25", "Twenty-five", 2500, 5000),
        ("EBOOK", "E-book", 900, 900),
    ]
    assert [line.requires_shipping for line in order.lines] == [True, False]
    assert order.requires_shipping is True
    assert order.subtotal == 5900


def test_empty_cart_is_all_zero() -> None:
    order = priced("TI", [])
    assert totals(order) == dict.fromkeys(
        ("subtotal", "discount", "shipping", "surcharge", "tax", "gift_card", "total"), 0
    )
    assert order.requires_shipping is False
    assert order.payment_status == "unpaid"


# -- tax --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sku", "quantity", "tax", "total"),
    [
        ("C3", 1, 0, 3),  # 3 * 20/120 = 0.5 -> 0 (half-even)
        ("C9", 1, 2, 9),  # 1.5 -> 2
        ("C15", 1, 2, 15),  # 2.5 -> 2
        ("C21", 1, 4, 21),  # 3.5 -> 4
        ("C3", 2, 1, 6),  # exactly 1
        ("BIG", 1, 2000, 12000),  # 120.00 contains 20.00 of tax
    ],
)
def test_tax_included_is_contained_in_the_price(
    sku: str, quantity: int, tax: int, total: int
) -> None:
    order = priced("TI", [(sku, quantity)])
    assert order.tax_included is True
    assert (order.tax, order.total) == (tax, total)


@pytest.mark.parametrize(
    ("sku", "quantity", "tax", "total"),
    [
        ("P125", 1, 12, 137),  # 12.5 -> 12 (half-even)
        ("P135", 1, 14, 149),  # 13.5 -> 14
        ("P125", 2, 25, 275),  # exactly 25
        ("BIG", 1, 1000, 11000),
    ],
)
def test_tax_excluded_is_added_on_top(sku: str, quantity: int, tax: int, total: int) -> None:
    order = priced("TX", [(sku, quantity)])
    assert order.tax_included is False
    assert (order.tax, order.total) == (tax, total)


def test_tax_applies_to_shipping_and_surcharge_too() -> None:
    # goods 1.25 + ground 5.99 + surcharge 0.50 = 7.74; 10% = 0.774 -> 0.77
    order = priced("TX", [("P125", 1)], shipping="ground", payment="card")
    assert totals(order) == {
        "subtotal": 125,
        "discount": 0,
        "shipping": 599,
        "surcharge": 50,
        "tax": 77,
        "gift_card": 0,
        "total": 851,
    }


def test_tax_in_a_currency_without_minor_units() -> None:
    order = priced("JP", [("MUG", 1)])
    # 2205 * 10/110 = 200.45... -> 200 yen
    assert (order.currency, order.tax, order.total) == ("JPY", 200, 2205)


# -- shipping ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "method", "shipping"),
    [
        ([("I25", 2)], "std", 0),  # exactly at free_over: free
        ([("I2499", 2)], "std", 500),  # 49.98: one cent short
        ([("I25", 3)], "std", 0),
        ([("I25", 4)], "exp", 900),  # no free_over: always charged
        ([("I2499", 1)], None, 0),  # no method chosen yet
        ([("EBOOK", 1)], "std", 0),  # nothing to ship
        ([("EBOOK", 1), ("I2499", 1)], "std", 500),  # one parcel is enough to pay shipping
    ],
)
def test_shipping_price_and_free_threshold(
    lines: list[tuple[str, int]], method: str | None, shipping: int
) -> None:
    order = priced("TI", lines, shipping=method)
    assert order.shipping == shipping


def test_free_shipping_threshold_uses_discounted_goods() -> None:
    order = priced("TI", [("I25", 2)], shipping="std", coupon="TENOFF")
    assert (order.subtotal, order.discount, order.shipping) == (5000, 1000, 500)
    assert order.total == 4500


def test_shipping_tax_included() -> None:
    order = priced("TI", [("I2499", 1)], shipping="std")
    # 24.99 + 5.00 = 29.99; 2999 * 20/120 = 499.83 -> 5.00
    assert (order.shipping, order.tax, order.total) == (500, 500, 2999)


# -- surcharge --------------------------------------------------------------------------------


def test_payment_surcharge_is_added_and_taxed() -> None:
    without = priced("TI", [("I25", 2)], shipping="std", payment="card")
    assert (without.surcharge, without.total, without.tax) == (0, 5000, 833)  # 833.33

    order = priced("TI", [("I25", 2)], shipping="std", payment="cod")
    # 50.00 + 1.50 = 51.50; 5150 * 20/120 = 858.33 -> 8.58
    assert totals(order) == {
        "subtotal": 5000,
        "discount": 0,
        "shipping": 0,
        "surcharge": 150,
        "tax": 858,
        "gift_card": 0,
        "total": 5150,
    }


# -- promotions -------------------------------------------------------------------------------


def test_percentage_coupon_is_rounded_half_even_and_spread_exactly() -> None:
    # 33.333% of 0.03 + 0.09 + 0.15 = 0.27 -> 8.99991 -> 9 cents
    order = priced("TI", [("C3", 1), ("C9", 1), ("C15", 1)], coupon="third")
    assert order.promotions == ["third_off"]
    assert order.discount == 9
    assert [line.discount for line in order.lines] == [1, 3, 5]
    assert sum(line.discount for line in order.lines) == order.discount
    assert order.total == 18


def test_discount_allocation_by_largest_remainder() -> None:
    # 10.00 over 3 x 25.00 and 1 x 24.99: 750/999.99... weights 7500 and 2499
    order = priced("TI", [("I25", 3), ("I2499", 1)], coupon="TENOFF")
    assert order.discount == 1000
    assert [line.discount for line in order.lines] == [750, 250]
    assert order.subtotal - order.discount == 8999


def test_fixed_amount_promotion_is_capped_at_the_goods() -> None:
    order = priced("TI", [("EBOOK", 1)], coupon="FIFTYOFF")
    assert (order.subtotal, order.discount, order.total, order.tax) == (900, 900, 0, 0)
    assert [line.discount for line in order.lines] == [900]
    assert order.payment_status == "free"


def test_fixed_amount_cap_leaves_shipping_to_pay() -> None:
    order = priced("TI", [("I25", 1)], shipping="std", coupon="FIFTYOFF")
    assert (order.discount, order.shipping, order.total) == (2500, 500, 500)


def test_unknown_coupon_code_on_the_order_is_ignored() -> None:
    order = priced("TI", [("I25", 1)], coupon="NOPE")
    assert (order.promotions, order.discount) == ([], 0)


@pytest.mark.parametrize(
    ("now", "applies"),
    [
        (datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC), False),
        (datetime(2026, 1, 1, tzinfo=UTC), True),  # starts_at is inclusive
        (datetime(2026, 1, 31, 23, 59, 59, tzinfo=UTC), True),
        (datetime(2026, 2, 1, tzinfo=UTC), False),  # expires_at is exclusive
    ],
)
def test_automatic_promotion_window(now: datetime, applies: bool) -> None:
    order = priced("PR", [("TEE", 2)], now=now)
    assert order.promotions == (["january"] if applies else [])
    assert order.discount == (500 if applies else 0)
    assert order.total == (3500 if applies else 4000)


def test_automatic_promotion_minimum_amount() -> None:
    assert priced("PR", [("TEE", 1)]).promotions == []  # 20.00 < 30.00
    assert priced("PR", [("TEE", 2)]).promotions == ["january"]


def test_automatic_then_coupon_on_what_is_left() -> None:
    order = priced("PR", [("TEE", 2)], coupon="welcome")
    # january: 5.00 off 40.00; welcome: 10% of 35.00 = 3.50
    assert order.promotions == ["january", "welcome"]
    assert order.discount == 850
    assert [line.discount for line in order.lines] == [850]
    assert order.total == 3150


def test_coupon_over_its_usage_limit_is_not_applied() -> None:
    assert priced("PR", [("TEE", 1)], coupon="WELCOME", usage={"welcome": 2}).discount == 200
    limited = priced("PR", [("TEE", 1)], coupon="WELCOME", usage={"welcome": 3})
    assert (limited.promotions, limited.discount) == ([], 0)


def promotion(code: str, promo: str) -> FixedAmountPromotion | PercentagePromotion:
    return next(p for p in market(code).promotions if p.code == promo)


@pytest.mark.parametrize(
    ("now", "goods", "used", "problem"),
    [
        (datetime(2026, 1, 10, tzinfo=UTC), "30.00", 0, None),
        (
            datetime(2026, 1, 1, tzinfo=UTC) - timedelta(microseconds=1),
            "30.00",
            0,
            "promotion january starts on 2026-01-01",
        ),
        (datetime(2026, 2, 1, tzinfo=UTC), "30.00", 0, "promotion january expired on 2026-02-01"),
        (
            datetime(2026, 1, 10, tzinfo=UTC),
            "29.99",
            0,
            "promotion january needs an order of at least €30.00",
        ),
        (datetime(2026, 1, 10, tzinfo=UTC), "1000.00", 1000, None),  # no usage limit
    ],
)
def test_promotion_problem(now: datetime, goods: str, used: int, problem: str | None) -> None:
    found = promotion("PR", "january")
    assert promotion_problem(found, eur(goods), now, used) == problem


def test_promotion_problem_usage_limit() -> None:
    welcome = promotion("PR", "welcome")
    assert promotion_problem(welcome, eur("1.00"), NOW, 2) is None
    assert (
        promotion_problem(welcome, eur("1.00"), NOW, 3)
        == "promotion welcome has reached its usage limit"
    )


def test_naive_promotion_times_are_utc() -> None:
    naive = POLICY.replace("2026-01-01T00:00:00Z", "2026-01-01T00:00:00")
    policy = load_policy_text(naive).market("PR")
    january = next(p for p in policy.promotions if p.code == "january")
    assert january.starts_at == datetime(2026, 1, 1, tzinfo=UTC)
    assert promotion_problem(january, eur("30.00"), NOW, 0) is None


# -- gift card --------------------------------------------------------------------------------


def test_gift_card_pays_part_of_the_gross() -> None:
    order = priced("TI", [("I25", 1)], shipping="std", gift_card=eur("10.00"))
    assert (order.gift_card, order.total) == (1000, 2000)
    assert order.tax == 500  # 30.00 contains 5.00: the gift card does not change the tax


def test_gift_card_is_capped_at_the_gross() -> None:
    order = priced("TX", [("P125", 1)], gift_card=usd("100.00"))
    assert (order.gift_card, order.total) == (137, 0)
    assert order.payment_status == "free"


def test_reprice_is_idempotent() -> None:
    order = priced("TI", [("I25", 3), ("I2499", 1)], shipping="std", coupon="TENOFF")
    before = (totals(order), [line.discount for line in order.lines], list(order.promotions))
    reprice(order, market("TI"), now=NOW, promotion_usage={}, gift_card_balance=None)
    after = (totals(order), [line.discount for line in order.lines], list(order.promotions))
    assert after == before
