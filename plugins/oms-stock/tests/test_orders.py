"""Orders against stock, through the OMS: strategies, refusals, cancel, approve, expiry, reopen."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import oms_stock
import pytest
from oms_stock import StockError

from oms_sdk import OMS, OutOfStock, TransitionNotAllowed
from oms_sdk.testing import fresh_database_url

Shop = Any  # the conftest's Shop (test modules cannot import the conftest)
OpenShop = Callable[..., Any]

TEES_AND_MUG = (("TEE", 3), ("MUG", 1))
#: MXP (primary) has 1 tee and 1 mug, AMS has 5 tees: no single location has the order.
SPLIT = {"MXP": {"TEE": 1, "MUG": 1}, "AMS": {"TEE": 5}}


# -- each strategy, through a real checkout --------------------------------------------------------


@pytest.mark.parametrize(
    ("strategy", "stock", "transfers", "expected"),
    [
        ("no_split", {"MXP": {"TEE": 1}, "AMS": {"TEE": 3, "MUG": 1}}, False,
         [("AMS", (("TEE", 3), ("MUG", 1)))]),
        ("split_shipments", SPLIT, False,
         [("MXP", (("TEE", 1), ("MUG", 1))), ("AMS", (("TEE", 2),))]),
        ("split_shipments", {"MXP": {"TEE": 3, "MUG": 1}, "AMS": {"TEE": 5}}, False,
         [("MXP", (("TEE", 3), ("MUG", 1)))]),
        ("split_by_line_items", SPLIT, False,
         [("AMS", (("TEE", 3),)), ("MXP", (("MUG", 1),))]),
        ("ship_from_primary", {"MXP": {"TEE": 3, "MUG": 1}, "AMS": {"TEE": 5, "MUG": 5}}, False,
         [("MXP", (("TEE", 3), ("MUG", 1)))]),
        ("ship_from_primary", SPLIT, True,
         [("MXP", (("TEE", 3), ("MUG", 1)))]),
        ("ship_from_first_available_or_primary",
         {"MXP": {"TEE": 1, "MUG": 1}, "AMS": {"TEE": 5, "MUG": 1}}, False,
         [("AMS", (("TEE", 3), ("MUG", 1)))]),
        ("ship_from_first_available_or_primary", SPLIT, True,
         [("MXP", (("TEE", 3), ("MUG", 1)))]),
    ],
)  # fmt: skip
def test_each_strategy_plans_the_expected_shipments(
    open_shop: OpenShop,
    strategy: str,
    stock: dict[str, dict[str, int]],
    transfers: bool,
    expected: list[tuple[str, tuple[tuple[str, int], ...]]],
) -> None:
    shop = open_shop(strategy, stock, stock_transfers=transfers)
    order = shop.place(*TEES_AND_MUG)

    assert order.status == "placed"
    assert shop.shipments(order) == expected
    assert [s.number for s in order.shipments] == [
        f"{order.number}/{i}" for i in range(1, len(expected) + 1)
    ]
    # What is reserved is exactly what the order takes, location by location.
    held = [(r.location, r.sku, r.quantity) for r in oms_stock.reservations_of(shop.oms, order.id)]
    assert sum(q for _, _, q in held) == 4
    for location, sku, quantity in held:
        on_hand, reserved, available = shop.levels()[(location, sku)]
        assert reserved >= quantity
        assert available == on_hand - reserved >= 0


def test_transfers_reserve_at_the_origin_and_ship_from_the_primary(open_shop: OpenShop) -> None:
    shop = open_shop("ship_from_primary", SPLIT, stock_transfers=True)
    order = shop.place(*TEES_AND_MUG)
    held = oms_stock.reservations_of(shop.oms, order.id)
    assert [(r.shipment, r.location, r.sku, r.quantity) for r in held] == [
        (1, "MXP", "TEE", 1),
        (1, "AMS", "TEE", 2),
        (1, "MXP", "MUG", 1),
    ]
    shop.oms.approve(order.id)
    assert shop.levels() == {
        ("AMS", "TEE"): (3, 0, 3),
        ("MXP", "MUG"): (0, 0, 0),
        ("MXP", "TEE"): (0, 0, 0),
    }


@pytest.mark.parametrize(
    ("strategy", "reason"),
    [
        ("no_split", "no single stock location has 3 x TEE, 1 x MUG"),
        ("ship_from_primary", "TEE: 3 wanted, 1 available at primary location MXP"),
        ("ship_from_first_available_or_primary", "TEE: 3 wanted, 1 available at primary"),
    ],
)
def test_strategies_that_cannot_split_refuse(
    open_shop: OpenShop, strategy: str, reason: str
) -> None:
    shop = open_shop(strategy, SPLIT)
    cart = shop.cart(*TEES_AND_MUG)
    with pytest.raises(TransitionNotAllowed, match=reason):
        shop.oms.place(cart.id)


def test_only_lines_that_ship_are_stock_managed(open_shop: OpenShop) -> None:
    shop = open_shop("no_split", {"MXP": {"TEE": 1}})
    order = shop.place(("TEE", 1), ("EBOOK", 3))
    assert shop.shipments(order) == [("MXP", (("TEE", 1),))]
    digital = shop.place(("EBOOK", 1))
    assert digital.status == "placed"
    assert digital.shipments == ()
    assert digital.fulfillment_status == "not_required"
    assert oms_stock.reservations_of(shop.oms, digital.id) == []


def test_a_market_without_a_stock_section_keeps_the_sdk_default(
    tmp_path: Any, make_policy: Callable[..., str]
) -> None:
    text = make_policy().split("    extensions:")[0]
    policy = tmp_path / "plain.yaml"
    policy.write_text(text)
    with OMS.open(policy, fresh_database_url()) as oms:
        order = oms.create_order("EU", customer_email="a@example.com")
        oms.add_line_item(order.id, "TEE", 500)
        oms.set_addresses(
            order.id, {"name": "A", "line1": "B", "city": "C", "postal_code": "1", "country": "IT"}
        )
        oms.select_shipping_method(order.id, "standard")
        oms.select_payment_method(order.id, "card", payment_source="tok_visa")
        placed = oms.place(order.id)
        assert [(s.stock_location, s.lines) for s in placed.shipments] == [(None, (("TEE", 500),))]
        assert oms_stock.stock_levels(oms) == []


# -- refusals change nothing -----------------------------------------------------------------------


def test_placing_beyond_stock_is_refused_and_changes_nothing(open_shop: OpenShop) -> None:
    shop = open_shop("split_shipments", {"MXP": {"TEE": 1}})
    cart = shop.cart(("TEE", 3))
    before = (shop.oms.get_order(cart.id), len(shop.oms.history(cart.id)), shop.rows())

    with pytest.raises(TransitionNotAllowed) as caught:
        shop.oms.place(cart.id)
    assert "TEE: 3 wanted, 1 available" in str(caught.value)
    with pytest.raises(TransitionNotAllowed, match="TEE: 3 wanted, 1 available"):
        shop.oms.authorize(cart.id)

    after = (shop.oms.get_order(cart.id), len(shop.oms.history(cart.id)), shop.rows())
    assert after == before
    assert after[0].transactions == ()
    assert shop.sandbox.calls == 0  # no money was asked for


def test_the_stock_reason_names_what_is_short(open_shop: OpenShop) -> None:
    shop = open_shop("no_split", {"MXP": {"TEE": 1}})
    shop.place(("TEE", 1))
    cart = shop.cart(("TEE", 2))
    with pytest.raises(TransitionNotAllowed) as caught:
        shop.oms.place(cart.id)
    assert caught.value.reasons == ("TEE: 2 wanted, 0 available",)


def test_a_reservation_that_cannot_be_made_raises_out_of_stock_and_rolls_back(
    open_shop: OpenShop,
) -> None:
    """The guard and the reservation agree inside one transaction, so through the OMS the
    guard always answers first; called on its own, the reservation refuses with OutOfStock."""
    shop = open_shop("no_split", {"MXP": {"TEE": 1}})
    cart = shop.cart(("TEE", 2))
    before = shop.rows()
    market = shop.oms.policies.market("EU")

    def reserve() -> None:
        with shop.oms.store.unit_of_work() as session:
            order = shop.oms.store.load_order(session, cart.id)
            oms_stock.oms_plan_shipments(order=order, market=market, session=session)

    with pytest.raises(OutOfStock, match=r"order EU-000001: TEE: 2 wanted, 1 available"):
        reserve()
    assert shop.rows() == before


# -- cancel, approve -------------------------------------------------------------------------------


def test_cancel_releases_the_reservation(open_shop: OpenShop) -> None:
    shop = open_shop("no_split", {"MXP": {"TEE": 2}})
    order = shop.place(("TEE", 2))
    assert shop.levels() == {("MXP", "TEE"): (2, 2, 0)}

    shop.oms.cancel(order.id)

    assert shop.levels() == {("MXP", "TEE"): (2, 0, 2)}
    assert [r.status for r in oms_stock.reservations_of(shop.oms, order.id)] == ["released"]
    assert shop.place(("TEE", 2)).status == "placed"


def test_approve_decrements_on_hand(open_shop: OpenShop) -> None:
    shop = open_shop("no_split", {"MXP": {"TEE": 5}})
    order = shop.place(("TEE", 2))
    shop.oms.approve(order.id)

    assert shop.levels() == {("MXP", "TEE"): (3, 0, 3)}
    (row,) = oms_stock.reservations_of(shop.oms, order.id)
    assert (row.status, row.active, row.settled_at) == ("decremented", False, shop.clock.now)


def test_manual_decrement_waits_for_the_warehouse(open_shop: OpenShop) -> None:
    shop = open_shop("no_split", {"MXP": {"TEE": 5}}, decrement="manual")
    order = shop.place(("TEE", 2))
    shop.oms.approve(order.id)
    assert shop.levels() == {("MXP", "TEE"): (5, 2, 3)}, "still reserved, not yet off hand"
    (row,) = oms_stock.decrement_stock(shop.oms, order.id)
    assert row.status == "decremented"
    assert shop.levels() == {("MXP", "TEE"): (3, 0, 3)}
    oms_stock.decrement_stock(shop.oms, order.id)  # idempotent
    assert shop.levels() == {("MXP", "TEE"): (3, 0, 3)}


def test_cancel_after_approval_restocks_what_never_shipped(open_shop: OpenShop) -> None:
    shop = open_shop("split_shipments", SPLIT)
    order = shop.place(*TEES_AND_MUG)
    shop.oms.approve(order.id)
    assert shop.levels() == {
        ("AMS", "TEE"): (3, 0, 3),
        ("MXP", "MUG"): (0, 0, 0),
        ("MXP", "TEE"): (0, 0, 0),
    }
    shop.oms.cancel(order.id)
    assert shop.levels() == {
        ("AMS", "TEE"): (5, 0, 5),
        ("MXP", "MUG"): (1, 0, 1),
        ("MXP", "TEE"): (1, 0, 1),
    }


def test_a_full_refund_after_shipping_does_not_restock_shipped_units(open_shop: OpenShop) -> None:
    shop = open_shop("split_shipments", SPLIT)
    order = shop.place(*TEES_AND_MUG)
    shop.oms.approve(order.id)
    shop.oms.ship(order.id, f"{order.number}/1")  # MXP's parcel left; AMS's did not
    refunded = shop.oms.refund(order.id)
    assert refunded.status == "cancelled"
    assert shop.levels() == {
        ("AMS", "TEE"): (5, 0, 5),  # back on hand
        ("MXP", "MUG"): (0, 0, 0),  # shipped: a return, not a cancellation
        ("MXP", "TEE"): (0, 0, 0),
    }


# -- expiry ----------------------------------------------------------------------------------------


def test_an_authorized_cart_holds_stock_until_it_expires(open_shop: OpenShop) -> None:
    shop = open_shop("no_split", {"MXP": {"TEE": 1}}, ttl=30)
    first = shop.oms.authorize(shop.cart(("TEE", 1)).id)
    assert (first.status, first.payment_status) == ("pending", "authorized")
    assert shop.levels() == {("MXP", "TEE"): (1, 1, 0)}

    second = shop.cart(("TEE", 1))
    with pytest.raises(TransitionNotAllowed, match="TEE: 1 wanted, 0 available"):
        shop.oms.place(second.id)

    shop.clock.advance(minutes=31)
    assert shop.levels() == {("MXP", "TEE"): (1, 0, 1)}  # the lapsed hold no longer counts
    (lapsed,) = oms_stock.reservations_of(shop.oms, first.id)
    assert (lapsed.status, lapsed.active) == ("reserved", False)

    assert shop.oms.place(second.id).status == "placed"
    with pytest.raises(TransitionNotAllowed) as caught:
        shop.oms.place(first.id)
    assert caught.value.reasons == (
        "TEE: 1 wanted, 0 available at MXP (its reservation expired before the order was placed)",
    )
    assert shop.levels() == {("MXP", "TEE"): (1, 1, 0)}  # never oversold


def test_an_authorized_cart_placed_in_time_keeps_its_plan(open_shop: OpenShop) -> None:
    shop = open_shop("no_split", {"MXP": {"TEE": 1}}, ttl=30)
    cart = shop.oms.authorize(shop.cart(("TEE", 1)).id)
    shop.clock.advance(minutes=10)
    placed = shop.oms.place(cart.id)
    assert shop.shipments(placed) == [("MXP", (("TEE", 1),))]
    shop.clock.advance(days=3)  # once placed, the reservation no longer expires
    assert shop.levels() == {("MXP", "TEE"): (1, 1, 0)}


def test_a_lapsed_reservation_revives_when_its_units_are_still_there(open_shop: OpenShop) -> None:
    shop = open_shop("no_split", {"MXP": {"TEE": 1}}, ttl=30)
    cart = shop.oms.authorize(shop.cart(("TEE", 1)).id)
    shop.clock.advance(hours=2)
    assert shop.oms.place(cart.id).status == "placed"
    assert shop.levels() == {("MXP", "TEE"): (1, 1, 0)}


# -- reopen, the API -------------------------------------------------------------------------------


def test_reopen_does_not_reset_stock(open_shop: OpenShop, make_policy: Callable[..., str]) -> None:
    shop = open_shop("no_split", {"MXP": {"TEE": 5}})
    shop.oms.approve(shop.place(("TEE", 2)).id)
    oms_stock.set_stock(shop.oms, "MXP", "MUG", 7)
    held = shop.place(("TEE", 1))

    shop.reopen()
    assert shop.levels() == {("MXP", "MUG"): (7, 0, 7), ("MXP", "TEE"): (3, 1, 2)}

    # A changed policy seeds only what is missing: MXP/TEE stays counted, AMS/TEE is new.
    shop.reopen(make_policy("no_split", {"MXP": {"TEE": 50, "MUG": 50}, "AMS": {"TEE": 4}}))
    assert shop.levels() == {
        ("AMS", "TEE"): (4, 0, 4),
        ("MXP", "MUG"): (7, 0, 7),
        ("MXP", "TEE"): (3, 1, 2),
    }
    shop.oms.cancel(held.id)
    assert shop.levels()[("MXP", "TEE")] == (3, 0, 3)


def test_set_and_adjust_stock(open_shop: OpenShop) -> None:
    shop = open_shop("no_split", {"MXP": {"TEE": 5}})
    shop.place(("TEE", 2))

    level = oms_stock.set_stock(shop.oms, "MXP", "TEE", 4)
    assert (level.on_hand, level.reserved, level.available) == (4, 2, 2)
    assert oms_stock.adjust_stock(shop.oms, "MXP", "TEE", 6).on_hand == 10
    assert oms_stock.adjust_stock(shop.oms, "AMS", "MUG", 3).on_hand == 3  # a new stock item
    assert shop.levels()[("MXP", "TEE")] == (10, 2, 8)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda oms: oms_stock.set_stock(oms, "XXX", "TEE", 1), "unknown stock location 'XXX'"),
        (lambda oms: oms_stock.set_stock(oms, "MXP", "TEE", -1), "cannot be negative"),
        (lambda oms: oms_stock.set_stock(oms, "MXP", "TEE", True), "must be an integer"),
        (lambda oms: oms_stock.set_stock(oms, "MXP", "TEE", 1), "reservations hold 2 units"),
        (lambda oms: oms_stock.adjust_stock(oms, "MXP", "TEE", -4), "reservations hold 2 units"),
        (lambda oms: oms_stock.stock_levels(oms, "US"), "unknown market 'US'"),
        (lambda oms: oms_stock.reservations_of(oms, "EU-999999"), "no order"),
    ],
)
def test_stock_commands_refuse_and_change_nothing(
    open_shop: OpenShop, call: Callable[[OMS], object], message: str
) -> None:
    shop = open_shop("no_split", {"MXP": {"TEE": 5}})
    shop.place(("TEE", 2))
    before = shop.rows()
    with pytest.raises(StockError, match=message):
        call(shop.oms)
    assert shop.rows() == before


def test_stock_levels_of_a_market_list_the_primary_first(open_shop: OpenShop) -> None:
    shop = open_shop(
        "split_shipments",
        {"AMS": {"TEE": 2}, "MXP": {"TEE": 1, "MUG": 3}},
    )
    levels = oms_stock.stock_levels(shop.oms, "EU")
    assert [(lv.location, lv.sku) for lv in levels] == [
        ("MXP", "MUG"),
        ("MXP", "TEE"),
        ("AMS", "TEE"),
    ]
