"""Behaviour tests of the ``OMS`` facade, end to end on an in-memory SQLite database.

Amounts are checked exactly. The numbers come from ``config_examples``:

* EU (tax included, 22%): TEE-ORG-M 29.90 + standard shipping 4.90 = 34.80, tax 6.28.
* US (tax added, 8.875%): 2 x TEE-ORG-M 48.00 + ground 5.99 = 53.99, tax 4.79, total 58.78.
* JP (tax included, 10%): 2 x TENUGUI-IND 1980 + MUG-CER-350 2200 = 6160 (free shipping).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from oms_sandbox_payments import SandboxGateway
from pydantic import ValidationError

from oms_sdk import (
    OMS,
    ConcurrentModification,
    GiftCardError,
    IdempotencyConflict,
    InvalidOrderInput,
    Money,
    OrderNotFound,
    OrderView,
    PaymentAmountError,
    PaymentDeclined,
    PaymentOutcomeUnknown,
    TransitionNotAllowed,
)
from oms_sdk.payments import ManualGateway
from oms_sdk.testing import fresh_database_url

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "config_examples"
START = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)

ADDRESSES: dict[str, dict[str, str]] = {
    "EU": {
        "name": "Giulia Rossi",
        "line1": "Via Torino 12",
        "city": "Milano",
        "postal_code": "20123",
        "country": "IT",
    },
    "US": {
        "name": "Sam Carter",
        "line1": "350 5th Ave",
        "city": "New York",
        "postal_code": "10118",
        "region": "NY",
        "country": "US",
    },
    "JP": {
        "name": "Sato Hana",
        "line1": "1-1 Marunouchi",
        "city": "Chiyoda-ku, Tokyo",
        "postal_code": "100-0005",
        "country": "JP",
    },
}
DEFAULT_SHIPPING = {"EU": "standard", "US": "ground", "JP": "standard"}


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def eur(amount: str) -> Money:
    return Money.parse(amount, "EUR")


def usd(amount: str) -> Money:
    return Money.parse(amount, "USD")


def jpy(amount: int) -> Money:
    return Money(amount, "JPY")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sandbox() -> SandboxGateway:
    return SandboxGateway()


@pytest.fixture
def oms(clock: FakeClock, sandbox: SandboxGateway) -> Iterator[OMS]:
    with OMS.open(
        EXAMPLES, fresh_database_url(), gateways=[ManualGateway(), sandbox], clock=clock
    ) as service:
        yield service


def checkout(
    oms: OMS,
    market: str = "EU",
    lines: Sequence[tuple[str, int]] = (("TEE-ORG-M", 1),),
    *,
    payment_method: str | None = "card",
    token: str | None = "tok_visa",
    shipping: str | None = "default",
    email: str = "customer@example.com",
) -> OrderView:
    """A pending order ready to be placed."""
    order = oms.create_order(market, customer_email=email)
    for sku, quantity in lines:
        order = oms.add_line_item(order.id, sku, quantity)
    order = oms.set_addresses(order.id, ADDRESSES[market])
    if shipping is not None:
        method = DEFAULT_SHIPPING[market] if shipping == "default" else shipping
        order = oms.select_shipping_method(order.id, method)
    if payment_method is not None:
        order = oms.select_payment_method(order.id, payment_method, payment_source=token)
    return order


def ledger(view: OrderView) -> list[tuple[str, Money, bool, str | None]]:
    return [(t.kind, t.amount, t.succeeded, t.error_code) for t in view.transactions]


def statuses(view: OrderView) -> tuple[str, str, str]:
    return (view.status, view.payment_status, view.fulfillment_status)


def triggers(oms: OMS, order: str) -> list[str]:
    return [entry.trigger for entry in oms.history(order)]


def assert_unchanged(oms: OMS, before: OrderView, history_length: int) -> None:
    assert oms.get_order(before.id) == before
    assert len(oms.history(before.id)) == history_length


# -- carts ------------------------------------------------------------------------------------


def test_new_order_is_an_empty_draft_with_a_market_number(oms: OMS, clock: FakeClock) -> None:
    order = oms.create_order("EU", customer_email="customer@example.com")

    assert order.number == "EU-000001"
    assert order.market == "EU"
    assert order.currency == "EUR"
    assert statuses(order) == ("draft", "unpaid", "unfulfilled")
    assert order.lines == ()
    assert order.totals.total == eur("0")
    assert order.created_at == clock.now
    assert order.updated_at == clock.now
    assert [(e.trigger, e.from_statuses, e.statuses) for e in oms.history(order.id)] == [
        ("create", ("draft", "unpaid", "unfulfilled"), ("draft", "unpaid", "unfulfilled"))
    ]


def test_cart_becomes_pending_only_with_lines_and_email(oms: OMS) -> None:
    order = oms.create_order("EU")
    order = oms.add_line_item(order.id, "MUG-CER-350")
    assert order.status == "draft"  # a line, but no e-mail

    order = oms.set_customer(order.id, "customer@example.com")
    assert order.status == "pending"
    assert order.customer_email == "customer@example.com"

    order = oms.remove_line_item(order.id, "MUG-CER-350")
    assert order.status == "draft"  # the last line went away
    assert order.lines == ()
    assert order.totals.total == eur("0")

    history = oms.history(order.id)
    assert [(e.trigger, e.from_statuses[0], e.statuses[0]) for e in history] == [
        ("create", "draft", "draft"),
        ("add_line_item", "draft", "draft"),
        ("set_customer", "draft", "pending"),
        ("remove_line_item", "pending", "draft"),
    ]


def test_email_alone_does_not_make_a_cart_pending(oms: OMS) -> None:
    order = oms.create_order("EU", customer_email="customer@example.com")
    assert order.status == "draft"
    order = oms.add_line_item(order.id, "TOTE-CNV", 2)
    assert order.status == "pending"


def test_lines_are_priced_from_the_price_list(oms: OMS) -> None:
    order = oms.create_order("EU", customer_email="customer@example.com")
    order = oms.add_line_item(order.id, "TEE-ORG-M", 2)
    order = oms.add_line_item(order.id, "MUG-CER-350")
    order = oms.add_line_item(order.id, "TEE-ORG-M")  # adds to the existing line

    assert [(line.sku, line.quantity, line.unit_price, line.amount) for line in order.lines] == [
        ("TEE-ORG-M", 3, eur("29.90"), eur("89.70")),
        ("MUG-CER-350", 1, eur("14.50"), eur("14.50")),
    ]
    assert order.lines[0].name == "Organic cotton T-shirt, size M"
    assert order.totals.subtotal == eur("104.20")
    # spend100_save5 applies by itself from 100.00 of goods
    assert order.promotions == ("spend100_save5",)
    assert order.totals.discount == eur("5.00")
    assert order.totals.total == eur("99.20")

    order = oms.update_line_item(order.id, "TEE-ORG-M", 1)
    assert order.lines[0].quantity == 1
    assert order.totals.subtotal == eur("44.40")
    assert order.promotions == ()
    assert order.totals.total == eur("44.40")


def test_caller_cannot_pass_a_price(oms: OMS) -> None:
    order = oms.create_order("EU", customer_email="customer@example.com")
    for keyword in ("price", "unit_price"):
        with pytest.raises(TypeError):
            oms.add_line_item(order.id, "TEE-ORG-M", 1, **{keyword: eur("0.01")})  # type: ignore[arg-type]
    parameters = set(inspect.signature(OMS.add_line_item).parameters)
    assert parameters == {"self", "order", "sku", "quantity", "idempotency_key"}
    assert oms.get_order(order.id).lines == ()


@pytest.mark.parametrize(
    ("sku", "quantity"),
    [
        ("NOT-A-SKU", 1),
        ("tee-org-m", 1),  # SKUs are case-sensitive
        ("HOODIE-MER-L", 0),
        ("HOODIE-MER-L", -1),
        ("HOODIE-MER-L", True),
        ("HOODIE-MER-L", 1.5),
        ("HOODIE-MER-L", "2"),
    ],
)
def test_invalid_line_item_changes_nothing(oms: OMS, sku: str, quantity: Any) -> None:
    order = checkout(oms)
    length = len(oms.history(order.id))

    with pytest.raises(InvalidOrderInput):
        oms.add_line_item(order.id, sku, quantity)

    assert_unchanged(oms, order, length)


@pytest.mark.parametrize("quantity", [0, -1, True, 1.5])
def test_invalid_update_quantity_changes_nothing(oms: OMS, quantity: Any) -> None:
    order = checkout(oms)
    length = len(oms.history(order.id))
    with pytest.raises(InvalidOrderInput, match="quantity must be a positive integer"):
        oms.update_line_item(order.id, "TEE-ORG-M", quantity)
    assert_unchanged(oms, order, length)


def test_updating_or_removing_a_missing_line_is_refused(oms: OMS) -> None:
    order = checkout(oms)
    length = len(oms.history(order.id))
    with pytest.raises(InvalidOrderInput, match=r"has no line for SKU 'MUG-CER-350'"):
        oms.update_line_item(order.id, "MUG-CER-350", 2)
    with pytest.raises(InvalidOrderInput, match=r"has no line for SKU 'MUG-CER-350'"):
        oms.remove_line_item(order.id, "MUG-CER-350")
    assert_unchanged(oms, order, length)


def test_invalid_cart_inputs_are_refused(oms: OMS) -> None:
    order = checkout(oms)
    length = len(oms.history(order.id))
    with pytest.raises(InvalidOrderInput, match="unknown market 'XX'"):
        oms.create_order("XX")
    with pytest.raises(InvalidOrderInput, match="market KW is disabled"):
        oms.create_order("KW")
    with pytest.raises(InvalidOrderInput, match="e-mail"):
        oms.set_customer(order.id, "not an e-mail")
    with pytest.raises(InvalidOrderInput, match="no shipping method 'ground'"):
        oms.select_shipping_method(order.id, "ground")
    with pytest.raises(InvalidOrderInput, match="no payment method 'purchase_order'"):
        oms.select_payment_method(order.id, "purchase_order")
    with pytest.raises(InvalidOrderInput, match="invalid address"):
        oms.set_addresses(order.id, {"name": "No City", "line1": "x", "country": "IT"})
    with pytest.raises(InvalidOrderInput, match="invalid address"):
        oms.set_addresses(order.id, {**ADDRESSES["EU"], "country": "Italy"})
    with pytest.raises(InvalidOrderInput, match="invalid address"):
        oms.set_addresses(order.id, {**ADDRESSES["EU"], "email": "not-a-field@example.com"})
    assert_unchanged(oms, order, length)


def test_shipping_address_defaults_to_billing(oms: OMS) -> None:
    order = checkout(oms)
    assert order.billing_address is not None
    assert order.billing_address.city == "Milano"
    assert order.shipping_address == order.billing_address

    other = {**ADDRESSES["EU"], "city": "Torino", "postal_code": "10121"}
    order = oms.set_addresses(order.id, ADDRESSES["EU"], other)
    assert order.shipping_address is not None
    assert order.shipping_address.city == "Torino"
    assert order.billing_address.city == "Milano"


def test_cart_totals_with_shipping_and_surcharge(oms: OMS) -> None:
    order = checkout(oms, payment_method="bank_transfer", token=None)
    totals = order.totals
    assert totals.subtotal == eur("29.90")
    assert totals.shipping == eur("4.90")
    assert totals.payment_surcharge == eur("1.50")
    # 36.30 tax included at 22%: 36.30 * 22 / 122 = 6.5459... -> 6.55
    assert totals.tax == eur("6.55")
    assert totals.tax_included is True
    assert totals.total == eur("36.30")


# -- placing ----------------------------------------------------------------------------------


def test_place_without_address_names_order_trigger_statuses_and_reasons(oms: OMS) -> None:
    order = oms.create_order("EU", customer_email="customer@example.com")
    order = oms.add_line_item(order.id, "TEE-ORG-M")
    length = len(oms.history(order.id))

    with pytest.raises(TransitionNotAllowed) as caught:
        oms.place(order.id)

    error = caught.value
    assert str(error) == (
        "cannot place order EU-000001 (pending/unpaid/unfulfilled): "
        "the order has no billing address; the order has no shipping address; "
        "no payment method is selected and the total is €29.90"
    )
    assert error.order == "EU-000001"
    assert error.trigger == "place"
    assert (error.status, error.payment_status, error.fulfillment_status) == (
        "pending",
        "unpaid",
        "unfulfilled",
    )
    assert_unchanged(oms, order, length)


def test_place_without_shipping_method_is_refused(oms: OMS) -> None:
    order = checkout(oms, shipping=None)
    length = len(oms.history(order.id))

    with pytest.raises(TransitionNotAllowed) as caught:
        oms.place(order.id)

    assert caught.value.reasons == ("no shipping method is selected",)
    assert str(caught.value) == (
        "cannot place order EU-000001 (pending/unpaid/unfulfilled): no shipping method is selected"
    )
    assert_unchanged(oms, order, length)


def test_place_without_payment_method_on_a_paying_order_is_refused(oms: OMS) -> None:
    order = checkout(oms, payment_method=None)
    length = len(oms.history(order.id))

    with pytest.raises(TransitionNotAllowed) as caught:
        oms.place(order.id)

    assert caught.value.reasons == ("no payment method is selected and the total is €34.80",)
    assert str(caught.value) == (
        "cannot place order EU-000001 (pending/unpaid/unfulfilled): "
        "no payment method is selected and the total is €34.80"
    )
    assert_unchanged(oms, order, length)


def test_place_a_draft_is_refused(oms: OMS) -> None:
    order = oms.create_order("EU")
    with pytest.raises(TransitionNotAllowed) as caught:
        oms.place(order.id)
    assert caught.value.reasons == ("status is draft (allowed in: pending)",)


def test_cart_cannot_be_edited_after_placing(oms: OMS) -> None:
    order = oms.place(checkout(oms).id)
    length = len(oms.history(order.id))
    with pytest.raises(TransitionNotAllowed) as caught:
        oms.add_line_item(order.id, "MUG-CER-350")
    assert caught.value.reasons == (
        "status is placed: only draft and pending orders can be edited",
    )
    assert_unchanged(oms, order, length)


def test_cart_cannot_be_edited_once_authorized(oms: OMS) -> None:
    order = oms.authorize(checkout(oms).id)  # EU card: authorize without placing
    assert statuses(order) == ("pending", "authorized", "unfulfilled")
    with pytest.raises(TransitionNotAllowed, match="already authorized"):
        oms.add_line_item(order.id, "MUG-CER-350")

    order = oms.place(order.id)  # uses the existing authorization
    assert statuses(order) == ("placed", "authorized", "unfulfilled")
    assert ledger(order) == [("authorization", eur("34.80"), True, None)]


# -- manual capture (EU card) -----------------------------------------------------------------


def test_manual_capture_flow_with_partial_captures(
    oms: OMS, sandbox: SandboxGateway, clock: FakeClock
) -> None:
    order = checkout(oms)
    placed = oms.place(order.id)
    assert statuses(placed) == ("placed", "authorized", "unfulfilled")
    assert placed.placed_at == clock.now
    assert placed.authorized == eur("34.80")
    assert [(s.number, s.status) for s in placed.shipments] == [("EU-000001/1", "upcoming")]

    first = oms.capture(order.id, "10.00")
    assert statuses(first) == ("placed", "partially_paid", "unfulfilled")
    assert first.captured == eur("10.00")

    second = oms.capture(order.id, eur("20.00"))
    assert statuses(second) == ("placed", "partially_paid", "unfulfilled")
    assert second.captured == eur("30.00")

    paid = oms.capture(order.id)  # everything still authorized: 4.80
    assert statuses(paid) == ("placed", "paid", "unfulfilled")
    assert paid.captured == eur("34.80")
    assert ledger(paid) == [
        ("authorization", eur("34.80"), True, None),
        ("capture", eur("10.00"), True, None),
        ("capture", eur("20.00"), True, None),
        ("capture", eur("4.80"), True, None),
    ]
    assert all(t.gateway == "sandbox" for t in paid.transactions)
    assert sandbox.captured_total("EUR") == eur("34.80")

    history = oms.history(order.id)[-4:]
    assert [(e.trigger, e.amount, e.statuses[1]) for e in history] == [
        ("place", eur("34.80"), "authorized"),
        ("capture", eur("10.00"), "partially_paid"),
        ("capture", eur("20.00"), "partially_paid"),
        ("capture", eur("4.80"), "paid"),
    ]
    assert history[1].detail == {"payments": ["capture 10.00 EUR"]}

    approved = oms.approve(order.id)
    assert statuses(approved) == ("approved", "paid", "in_progress")
    assert approved.approved_at == clock.now


@pytest.mark.parametrize("amount", ["34.81", "100", "0", "-1.00"])
def test_bad_capture_amount_changes_nothing(oms: OMS, sandbox: SandboxGateway, amount: str) -> None:
    order = oms.place(checkout(oms).id)
    length = len(oms.history(order.id))

    with pytest.raises(PaymentAmountError):
        oms.capture(order.id, amount)

    assert_unchanged(oms, order, length)
    assert sandbox.captures == {}


def test_over_capture_after_partial_capture_names_what_is_left(oms: OMS) -> None:
    order = oms.place(checkout(oms).id)
    order = oms.capture(order.id, "30.00")
    length = len(oms.history(order.id))
    with pytest.raises(PaymentAmountError) as caught:
        oms.capture(order.id, "4.81")
    assert str(caught.value) == (
        "cannot capture €4.81 on order EU-000001: only €4.80 left to capture"
    )
    assert_unchanged(oms, order, length)


def test_capture_in_another_currency_is_refused(oms: OMS) -> None:
    order = oms.place(checkout(oms).id)
    length = len(oms.history(order.id))
    with pytest.raises(PaymentAmountError, match="cannot capture USD on order EU-000001"):
        oms.capture(order.id, usd("1.00"))
    assert_unchanged(oms, order, length)


def test_approve_before_capture_is_refused_on_a_require_capture_method(oms: OMS) -> None:
    order = oms.place(checkout(oms).id)
    length = len(oms.history(order.id))

    with pytest.raises(TransitionNotAllowed) as caught:
        oms.approve(order.id)

    assert caught.value.reasons == (
        "payment_status is authorized: this payment method requires capture before approval",
    )
    assert_unchanged(oms, order, length)

    order = oms.capture(order.id, "10.00")
    with pytest.raises(TransitionNotAllowed, match="payment_status is partially_paid"):
        oms.approve(order.id)


def test_partially_captured_then_partially_refunded_order_cannot_be_approved(oms: OMS) -> None:
    order = oms.place(checkout(oms).id)
    oms.capture(order.id, "10.00")
    order = oms.refund(order.id, "5.00")
    with pytest.raises(TransitionNotAllowed):
        oms.approve(order.id)


def test_rest_of_authorization_can_be_captured_after_a_partial_refund(oms: OMS) -> None:
    order = oms.place(checkout(oms).id)
    oms.capture(order.id, "10.00")
    oms.refund(order.id, "5.00")
    order = oms.capture(order.id)
    assert order.captured == eur("34.80")


# -- automatic capture ------------------------------------------------------------------------


def test_paypal_authorize_auto_places_and_auto_captures(
    oms: OMS, sandbox: SandboxGateway, clock: FakeClock
) -> None:
    order = checkout(oms, payment_method="paypal", token=None)

    order = oms.authorize(order.id)

    assert statuses(order) == ("placed", "paid", "unfulfilled")
    assert order.placed_at == clock.now
    assert ledger(order) == [
        ("authorization", eur("34.80"), True, None),
        ("capture", eur("34.80"), True, None),
    ]
    assert sandbox.captured_total("EUR") == eur("34.80")
    assert len(order.shipments) == 1
    last = oms.history(order.id)[-1]
    assert last.trigger == "authorize"
    assert last.from_statuses == ("pending", "unpaid", "unfulfilled")
    assert last.amount == eur("34.80")
    assert last.detail == {"payments": ["authorization 34.80 EUR", "capture 34.80 EUR"]}

    approved = oms.approve(order.id)  # already captured: approval allowed
    assert statuses(approved) == ("approved", "paid", "in_progress")


def test_us_card_under_the_cap_is_captured_at_once(oms: OMS) -> None:
    order = checkout(oms, "US", [("TEE-ORG-M", 2)])
    assert order.totals.tax == usd("4.79")
    assert order.totals.tax_included is False

    order = oms.place(order.id)

    assert statuses(order) == ("placed", "paid", "unfulfilled")
    assert order.number == "US-000001"
    assert ledger(order) == [
        ("authorization", usd("58.78"), True, None),
        ("capture", usd("58.78"), True, None),
    ]


def test_us_card_above_the_cap_stays_authorized(oms: OMS) -> None:
    order = checkout(oms, "US", [("HOODIE-MER-L", 7)], shipping="two_day")
    # 553.00 + 14.99 = 567.99; tax 8.875% = 50.409... -> 50.41; total 618.40
    assert order.totals.total == usd("618.40")

    order = oms.place(order.id)

    assert statuses(order) == ("placed", "authorized", "unfulfilled")
    assert ledger(order) == [("authorization", usd("618.40"), True, None)]
    assert oms.history(order.id)[-1].detail == {
        "payments": ["authorization 618.40 USD"],
        "auto_capture": "skipped: total above $500.00",
    }

    order = oms.capture(order.id)
    assert statuses(order) == ("placed", "paid", "unfulfilled")


def test_us_approval_goes_through_the_fraud_review_step(oms: OMS) -> None:
    order = oms.place(checkout(oms, "US", [("TEE-ORG-M", 2)]).id)
    order = oms.with_actor("back-office").approve(order.id)
    assert statuses(order) == ("fraud_review", "paid", "unfulfilled")
    assert "clear_fraud_review" in oms.available_triggers(order.id)

    order = oms.with_actor("risk-analyst").advance(order.id, "clear_fraud_review")
    assert statuses(order) == ("approved", "paid", "in_progress")
    assert [e.actor for e in oms.history(order.id)][-2:] == ["back-office", "risk-analyst"]


# -- delayed capture (JP card) ----------------------------------------------------------------


def test_jp_card_delayed_capture_with_review(oms: OMS, clock: FakeClock) -> None:
    order = checkout(oms, "JP", [("TENUGUI-IND", 2), ("MUG-CER-350", 1)])
    assert order.totals.total == jpy(6160)
    assert order.totals.shipping == jpy(0)  # 6160 >= free_over 5000
    assert order.totals.tax == jpy(560)

    order = oms.place(order.id)
    assert statuses(order) == ("placed", "authorized", "unfulfilled")

    order = oms.approve(order.id)  # allowed while only authorized: delayed capture
    assert statuses(order) == ("review", "authorized", "unfulfilled")
    assert oms.available_triggers(order.id) == ["pass_review", "cancel", "capture"]

    order = oms.advance(order.id, "pass_review")
    assert statuses(order) == ("approved", "authorized", "in_progress")
    assert order.approved_at == clock.now

    order = oms.ship(order.id, tracking_number="JP-TRACK-1")
    assert statuses(order) == ("approved", "authorized", "fulfilled")

    order = oms.capture(order.id)
    assert statuses(order) == ("approved", "paid", "fulfilled")
    assert ledger(order) == [
        ("authorization", jpy(6160), True, None),
        ("capture", jpy(6160), True, None),
    ]


def test_advance_refuses_builtin_and_unknown_triggers(oms: OMS) -> None:
    order = oms.place(checkout(oms, "JP", [("TENUGUI-IND", 1)]).id)
    with pytest.raises(InvalidOrderInput, match="'capture' is a built-in trigger"):
        oms.advance(order.id, "capture")
    with pytest.raises(TransitionNotAllowed, match="'bogus' is not a trigger of this lifecycle"):
        oms.advance(order.id, "bogus")
    with pytest.raises(TransitionNotAllowed, match=r"status is placed \(allowed in: review\)"):
        oms.advance(order.id, "pass_review")


# -- cancel -----------------------------------------------------------------------------------


def test_cancel_before_capture_voids_the_authorization(
    oms: OMS, sandbox: SandboxGateway, clock: FakeClock
) -> None:
    order = oms.place(checkout(oms).id)

    order = oms.cancel(order.id)

    assert statuses(order) == ("cancelled", "voided", "unfulfilled")
    assert order.cancelled_at == clock.now
    assert ledger(order) == [
        ("authorization", eur("34.80"), True, None),
        ("void", eur("34.80"), True, None),
    ]
    assert [s.status for s in order.shipments] == ["cancelled"]
    (authorization,) = sandbox.authorizations.values()
    assert authorization.voided is True
    assert oms.history(order.id)[-1].amount == eur("34.80")


def test_cancel_after_capture_refunds(oms: OMS, sandbox: SandboxGateway) -> None:
    order = oms.place(checkout(oms).id)
    oms.capture(order.id)

    order = oms.cancel(order.id)

    assert statuses(order) == ("cancelled", "refunded", "unfulfilled")
    assert ledger(order) == [
        ("authorization", eur("34.80"), True, None),
        ("capture", eur("34.80"), True, None),
        ("refund", eur("34.80"), True, None),
    ]
    assert order.refunded == eur("34.80")
    assert sandbox.refunded_total("EUR") == eur("34.80")


def test_cancel_after_partial_capture_refunds_and_voids_the_rest(oms: OMS) -> None:
    order = oms.place(checkout(oms).id)
    oms.capture(order.id, "10.00")

    order = oms.cancel(order.id)

    assert statuses(order) == ("cancelled", "refunded", "unfulfilled")
    assert ledger(order) == [
        ("authorization", eur("34.80"), True, None),
        ("capture", eur("10.00"), True, None),
        ("refund", eur("10.00"), True, None),
        ("void", eur("24.80"), True, None),
    ]


def test_cancel_a_pending_cart(oms: OMS) -> None:
    order = oms.cancel(checkout(oms).id)
    assert statuses(order) == ("cancelled", "unpaid", "unfulfilled")
    assert order.transactions == ()


def test_cancel_after_a_shipment_shipped_is_refused(oms: OMS) -> None:
    order = oms.place(checkout(oms, "US", [("TEE-ORG-M", 2)]).id)
    oms.approve(order.id)
    oms.advance(order.id, "clear_fraud_review")
    order = oms.ship(order.id, tracking_number="1Z999")
    length = len(oms.history(order.id))

    with pytest.raises(TransitionNotAllowed) as caught:
        oms.cancel(order.id)

    assert caught.value.reasons == ("a shipment has already shipped (refund instead)",)
    assert str(caught.value).startswith("cannot cancel order US-000001 (approved/paid/fulfilled)")
    assert_unchanged(oms, order, length)


def test_eu_cancel_after_approval_is_refused(oms: OMS) -> None:
    order = oms.place(checkout(oms).id)
    oms.capture(order.id)
    order = oms.approve(order.id)
    with pytest.raises(TransitionNotAllowed) as caught:
        oms.cancel(order.id)
    assert caught.value.reasons == ("status is approved (allowed in: pending, placed)",)


def test_cancel_twice_is_refused(oms: OMS) -> None:
    order = oms.cancel(oms.place(checkout(oms).id).id)
    with pytest.raises(TransitionNotAllowed, match="status is cancelled"):
        oms.cancel(order.id)


# -- refunds ----------------------------------------------------------------------------------


def test_partial_refunds_never_exceed_what_was_captured(oms: OMS, sandbox: SandboxGateway) -> None:
    order = oms.place(checkout(oms).id)
    oms.capture(order.id)

    order = oms.refund(order.id, "10.00")
    assert statuses(order) == ("placed", "partially_refunded", "unfulfilled")
    order = oms.refund(order.id, "4.80")
    assert order.refunded == eur("14.80")

    length = len(oms.history(order.id))
    with pytest.raises(PaymentAmountError) as caught:
        oms.refund(order.id, "20.01")
    assert str(caught.value) == (
        "cannot refund €20.01 on order EU-000001: only €20.00 left to refund"
    )
    assert_unchanged(oms, order, length)

    order = oms.refund(order.id, "20.00")  # the rest: a full refund cancels the order
    assert statuses(order) == ("cancelled", "refunded", "unfulfilled")
    assert order.refunded == order.captured == eur("34.80")
    assert [(t.kind, t.amount) for t in order.transactions if t.kind == "refund"] == [
        ("refund", eur("10.00")),
        ("refund", eur("4.80")),
        ("refund", eur("20.00")),
    ]
    assert sandbox.refunded_total("EUR") == eur("34.80")

    with pytest.raises(TransitionNotAllowed, match="status is cancelled"):
        oms.refund(order.id, "0.01")


def test_full_refund_without_amount_cancels(oms: OMS) -> None:
    order = oms.place(checkout(oms, payment_method="paypal", token=None).id)
    order = oms.refund(order.id)
    assert statuses(order) == ("cancelled", "refunded", "unfulfilled")
    assert order.refunded == eur("34.80")
    assert [s.status for s in order.shipments] == ["cancelled"]


def test_refund_spans_several_captures_newest_first(oms: OMS) -> None:
    order = oms.place(checkout(oms).id)
    oms.capture(order.id, "10.00")
    oms.capture(order.id)  # 24.80

    order = oms.refund(order.id, "30.00")

    assert [(t.kind, t.amount) for t in order.transactions[-2:]] == [
        ("refund", eur("24.80")),
        ("refund", eur("5.20")),
    ]
    last = oms.history(order.id)[-1]
    assert last.amount == eur("30.00")
    assert last.detail == {"payments": ["refund 24.80 EUR", "refund 5.20 EUR"]}


def test_refund_before_capture_is_refused(oms: OMS) -> None:
    order = oms.place(checkout(oms).id)
    with pytest.raises(TransitionNotAllowed) as caught:
        oms.refund(order.id, "1.00")
    assert caught.value.reasons == ("payment_status is authorized",)


def test_full_refund_of_a_partial_capture_voids_the_rest(oms: OMS) -> None:
    order = oms.place(checkout(oms).id)
    oms.capture(order.id, "10.00")
    order = oms.refund(order.id)
    assert order.status == "cancelled"
    assert ("void", eur("24.80"), True, None) in ledger(order)


def test_refund_window(oms: OMS, clock: FakeClock) -> None:
    order = oms.place(checkout(oms).id)
    oms.capture(order.id)

    clock.advance(days=30)  # exactly at the end of the 30-day window: still allowed
    order = oms.refund(order.id, "1.00")
    assert order.refunded == eur("1.00")

    clock.advance(seconds=1)
    length = len(oms.history(order.id))
    with pytest.raises(TransitionNotAllowed) as caught:
        oms.refund(order.id, "1.00")
    assert caught.value.reasons == ("the refund window of 30 days after capture has passed",)
    assert "refund window" in str(caught.value)
    assert_unchanged(oms, order, length)
    assert "refund" not in oms.available_triggers(order.id)


def test_refund_window_counts_from_the_last_capture(oms: OMS, clock: FakeClock) -> None:
    order = oms.place(checkout(oms).id)
    oms.capture(order.id, "10.00")
    clock.advance(days=5)  # the card authorization is valid for 7 days
    oms.capture(order.id)
    clock.advance(days=29)  # 34 days after the first capture, 29 after the last
    order = oms.refund(order.id, "5.00")
    assert order.refunded == eur("5.00")


def test_capture_is_refused_once_the_authorization_expired(oms: OMS, clock: FakeClock) -> None:
    order = oms.place(checkout(oms).id)
    clock.advance(days=7)  # exactly 7 days: still valid
    order = oms.capture(order.id, "10.00")
    assert order.captured == eur("10.00")

    clock.advance(seconds=1)
    length = len(oms.history(order.id))
    with pytest.raises(TransitionNotAllowed) as caught:
        oms.capture(order.id)
    assert caught.value.reasons == ("the authorization expired on 2026-03-09 (valid 7 days)",)
    assert_unchanged(oms, order, length)
    assert "capture" not in oms.available_triggers(order.id)


# -- declines and broken gateways -------------------------------------------------------------


def test_decline_is_recorded_and_the_order_stays_pending(oms: OMS, clock: FakeClock) -> None:
    order = checkout(oms, token="tok_chargeDeclined")

    with pytest.raises(PaymentDeclined) as caught:
        oms.place(order.id)

    assert caught.value.error_code == "card_declined"
    assert caught.value.order == "EU-000001"
    assert str(caught.value) == (
        "authorization of €34.80 for order EU-000001 failed: "
        "card_declined (Your card was declined.)"
    )
    after = oms.get_order(order.id)
    assert statuses(after) == ("pending", "unpaid", "unfulfilled")
    assert after.placed_at is None
    assert after.shipments == ()
    assert ledger(after) == [("authorization", eur("34.80"), False, "card_declined")]
    assert after.transactions[0].id == caught.value.transaction_id
    assert after.transactions[0].error_message == "Your card was declined."
    assert after.transactions[0].reference is None

    failed = oms.history(order.id)[-1]
    assert failed.trigger == "place_failed"
    assert failed.at == clock.now
    assert failed.from_statuses == failed.statuses == ("pending", "unpaid", "unfulfilled")
    assert failed.amount == eur("34.80")
    assert failed.detail == {"error_code": "card_declined", "error": str(caught.value)}

    oms.select_payment_method(order.id, "card", payment_source="tok_visa")
    placed = oms.place(order.id)
    assert statuses(placed) == ("placed", "authorized", "unfulfilled")
    assert ledger(placed) == [
        ("authorization", eur("34.80"), False, "card_declined"),
        ("authorization", eur("34.80"), True, None),
    ]


@pytest.mark.parametrize(
    ("token", "code"),
    [
        ("tok_chargeDeclinedInsufficientFunds", "insufficient_funds"),
        ("tok_chargeDeclinedExpiredCard", "expired_card"),
        ("tok_unknown", "invalid_payment_source"),
    ],
)
def test_other_declines(oms: OMS, token: str, code: str) -> None:
    order = checkout(oms, token=token)
    with pytest.raises(PaymentDeclined) as caught:
        oms.place(order.id)
    assert caught.value.error_code == code
    assert ledger(oms.get_order(order.id)) == [("authorization", eur("34.80"), False, code)]


def test_a_broken_gateway_leaves_the_payment_pending_until_it_is_resolved(oms: OMS) -> None:
    """A gateway that raises has not said whether money moved: nothing is assumed."""
    order = checkout(oms, token="tok_gatewayError")

    with pytest.raises(PaymentOutcomeUnknown) as caught:
        oms.place(order.id)

    after = oms.get_order(order.id)
    assert statuses(after) == ("pending", "unpaid", "unfulfilled")
    [row] = after.transactions
    assert (row.kind, row.pending, row.error_code) == ("authorization", True, "no_answer")
    assert row.error_message == "SandboxGatewayError: sandbox: upstream processor unavailable"
    assert len(after.shipments) == 1  # the stock stays held: the payment may have gone through
    with pytest.raises(ConcurrentModification, match=r"OMS\.reconcile"):
        oms.select_payment_method(order.id, "card", payment_source="tok_visa")

    still = oms.reconcile(order=order.id)  # asks again: the gateway still does not answer
    assert [(r.kind, r.outcome) for r in still] == [("authorization", "unknown")]

    resolved = oms.with_actor("ops:ada").resolve_payment(
        order.id, caught.value.transaction_id, succeeded=False, note="not in the dashboard"
    )
    assert [(t.pending, t.succeeded, t.error_code) for t in resolved.transactions] == [
        (False, False, "resolved_failed")
    ]
    assert oms.history(order.id)[-1].actor == "ops:ada"
    assert resolved.shipments == ()  # a failed authorization gives its holds back
    oms.select_payment_method(order.id, "card", payment_source="tok_visa")
    assert oms.place(order.id).status == "placed"


def test_declined_paypal_authorize_is_recorded_as_authorize_failed(oms: OMS) -> None:
    order = checkout(oms, payment_method="paypal", token="tok_chargeDeclined")
    with pytest.raises(PaymentDeclined):
        oms.authorize(order.id)
    assert triggers(oms, order.id)[-1] == "authorize_failed"
    assert oms.get_order(order.id).status == "pending"


# -- coupons ----------------------------------------------------------------------------------


def test_welcome10_discount_and_allocation(oms: OMS) -> None:
    order = checkout(oms, lines=[("TEE-ORG-M", 1), ("SOCKS-3PK", 1), ("EBOOK-CARE", 1)])
    assert order.totals.subtotal == eur("46.89")

    order = oms.apply_coupon(order.id, "welcome10")  # matched case-insensitively

    assert order.coupon_code == "WELCOME10"
    assert order.promotions == ("welcome10",)
    # 10% of 46.89 = 4.689 -> 4.69 (half-even), spread by the largest remainder
    assert order.totals.discount == eur("4.69")
    assert [(line.sku, line.discount) for line in order.lines] == [
        ("TEE-ORG-M", eur("2.99")),
        ("SOCKS-3PK", eur("1.20")),
        ("EBOOK-CARE", eur("0.50")),
    ]
    assert sum((line.discount for line in order.lines), eur("0")) == order.totals.discount
    # goods 42.20 < 50.00: shipping is charged; 47.10 incl. 22% VAT -> tax 8.49
    assert order.totals.shipping == eur("4.90")
    assert order.totals.tax == eur("8.49")
    assert order.totals.total == eur("47.10")
    assert oms.history(order.id)[-1].detail == {"coupon": "WELCOME10"}

    order = oms.remove_coupon(order.id)
    assert order.coupon_code is None
    assert order.totals.discount == eur("0")
    assert all(line.discount == eur("0") for line in order.lines)
    assert order.totals.total == eur("51.79")


def test_coupon_and_automatic_promotion_stack(oms: OMS) -> None:
    order = checkout(oms, lines=[("HOODIE-MER-L", 1), ("TEE-ORG-M", 1)])
    assert order.promotions == ("spend100_save5",)
    order = oms.apply_coupon(order.id, "WELCOME10")
    # 118.90 - 5.00 = 113.90; 10% of that = 11.39; discount 16.39
    assert order.promotions == ("spend100_save5", "welcome10")
    assert order.totals.discount == eur("16.39")
    assert order.totals.shipping == eur("0")  # 102.51 of goods >= 50.00
    assert order.totals.total == eur("102.51")


@pytest.mark.parametrize(
    ("code", "lines", "message"),
    [
        ("NOPE", [("TEE-ORG-M", 2)], "unknown coupon 'NOPE'"),
        (
            "WELCOME10",
            [("TEE-ORG-M", 1)],
            "coupon WELCOME10 cannot be used: promotion welcome10 needs an order of at "
            "least €40.00",
        ),
    ],
)
def test_coupon_refused(oms: OMS, code: str, lines: list[tuple[str, int]], message: str) -> None:
    order = checkout(oms, lines=lines)
    length = len(oms.history(order.id))
    with pytest.raises(InvalidOrderInput) as caught:
        oms.apply_coupon(order.id, code)
    assert str(caught.value) == message
    assert_unchanged(oms, order, length)


def test_coupon_outside_its_window_is_refused(clock: FakeClock) -> None:
    # WELCOME10 starts at 2025-01-01T00:00:00+01:00 = 2024-12-31T23:00:00Z
    clock.now = datetime(2024, 12, 31, 22, 59, 59, tzinfo=UTC)
    with OMS.open(EXAMPLES, fresh_database_url(), clock=clock) as oms:
        order = checkout(oms, lines=[("TEE-ORG-M", 2)])
        with pytest.raises(InvalidOrderInput, match="welcome10 starts on 2025-01-01"):
            oms.apply_coupon(order.id, "WELCOME10")
        clock.now = datetime(2024, 12, 31, 23, 0, tzinfo=UTC)
        assert oms.apply_coupon(order.id, "WELCOME10").totals.discount == eur("5.98")
        other = checkout(oms, lines=[("TEE-ORG-M", 2)])
        clock.now = datetime(2030, 12, 31, 23, 0, tzinfo=UTC)  # 2030-12-31T23:59:59+01:00
        with pytest.raises(InvalidOrderInput, match="welcome10 expired on 2030-12-31"):
            oms.apply_coupon(other.id, "WELCOME10")


LIMITED_POLICY = """\
plugins: [sandbox]
markets:
  - code: LM
    name: Limited coupon market
    currency: EUR
    prices:
      tax_included: true
      tax_rate: "20"
      items:
        TEE:
          name: T-shirt
          price: "50.00"
    shipping_methods:
      - code: post
        name: Post
        price: "5.00"
    payment_methods:
      - code: card
        name: Card
        gateway: sandbox
    promotions:
      - code: once
        name: Only one order may use it
        type: percentage
        percentage: "10"
        coupon: ONCE
        usage_limit: 1
    gift_cards:
      accepted: true
"""


@pytest.fixture
def limited(tmp_path: Path, clock: FakeClock) -> Iterator[OMS]:
    path = tmp_path / "limited.yaml"
    path.write_text(LIMITED_POLICY, encoding="utf-8")
    with OMS.open(path, fresh_database_url(), clock=clock) as service:
        yield service


def limited_cart(oms: OMS) -> OrderView:
    order = oms.create_order("LM", customer_email="customer@example.com")
    oms.add_line_item(order.id, "TEE")
    oms.set_addresses(order.id, ADDRESSES["EU"])
    oms.select_shipping_method(order.id, "post")
    return oms.select_payment_method(order.id, "card", payment_source="tok_visa")


def test_coupon_usage_is_counted_at_place_and_released_on_cancel(limited: OMS) -> None:
    first = limited.apply_coupon(limited_cart(limited).id, "ONCE")
    assert first.totals.total == eur("50.00")  # 45.00 + 5.00

    second = limited_cart(limited)
    second = limited.apply_coupon(second.id, "ONCE")  # not counted yet: nothing placed
    assert second.totals.discount == eur("5.00")
    second = limited.remove_coupon(second.id)

    first = limited.place(first.id)
    assert first.authorized == eur("50.00")
    length = len(limited.history(second.id))
    with pytest.raises(InvalidOrderInput, match="promotion once has reached its usage limit"):
        limited.apply_coupon(second.id, "ONCE")
    assert_unchanged(limited, second, length)

    limited.cancel(first.id)  # gives the use back
    second = limited.apply_coupon(second.id, "ONCE")
    assert second.totals.discount == eur("5.00")
    second = limited.place(second.id)
    assert second.authorized == eur("50.00")
    assert second.promotions == ("once",)


def test_place_refuses_a_coupon_that_ran_out_meanwhile(limited: OMS) -> None:
    first = limited.apply_coupon(limited_cart(limited).id, "ONCE")
    second = limited.apply_coupon(limited_cart(limited).id, "ONCE")
    limited.place(first.id)
    before = limited.get_order(second.id)
    history_length = len(limited.history(second.id))
    with pytest.raises(InvalidOrderInput, match=r"usage limit.*remove the coupon"):
        limited.place(second.id)
    assert_unchanged(limited, before, history_length)
    assert limited.gateways["sandbox"].authorizations.__len__() == 1  # type: ignore[attr-defined]
    limited.remove_coupon(second.id)
    placed = limited.place(second.id)
    assert placed.promotions == ()
    assert placed.totals.discount == eur("0.00")


def test_refresh_reprices_a_cart_when_time_alone_changed_the_price(
    oms: OMS, clock: FakeClock
) -> None:
    order = checkout(oms)
    oms.add_line_item(order.id, "HOODIE-MER-L")
    order = oms.apply_coupon(order.id, "WELCOME10")
    assert "welcome10" in order.promotions
    promotion = oms.policies.market("EU").coupon("WELCOME10")
    assert promotion is not None
    assert promotion.expires_at is not None
    clock.now = promotion.expires_at
    with pytest.raises(InvalidOrderInput, match=r"expired.*remove the coupon"):
        oms.place(order.id)
    order = oms.refresh(order.id)
    assert "welcome10" not in order.promotions
    assert oms.history(order.id)[-1].detail == {"total_changed": True}
    assert oms.place(order.id).status == "placed"


@pytest.mark.parametrize("amount", [10, 1000])
def test_an_int_amount_is_refused_as_ambiguous(oms: OMS, amount: int) -> None:
    order = oms.place(checkout(oms).id)
    with pytest.raises(InvalidOrderInput, match="ambiguous amount"):
        oms.capture(order.id, amount)  # type: ignore[arg-type]
    assert oms.get_order(order.id).captured == eur("0.00")


# -- gift cards -------------------------------------------------------------------------------


def test_gift_card_pays_part_taken_at_place_restored_on_cancel(oms: OMS) -> None:
    card = oms.issue_gift_card("GC-EU-1", eur("20.00"))
    assert (card.code, card.balance, card.initial_balance) == (
        "GC-EU-1",
        eur("20.00"),
        eur("20.00"),
    )

    order = oms.apply_gift_card(checkout(oms).id, "GC-EU-1")
    assert order.gift_card_code == "GC-EU-1"
    assert order.totals.gift_card == eur("20.00")
    assert order.totals.tax == eur("6.28")  # tax is on the whole 34.80
    assert order.totals.total == eur("14.80")
    assert oms.history(order.id)[-1].amount == eur("20.00")
    assert oms.gift_card("GC-EU-1").balance == eur("20.00")  # not taken before placement

    order = oms.place(order.id)
    assert ledger(order) == [("authorization", eur("14.80"), True, None)]
    assert oms.gift_card("GC-EU-1").balance == eur("0.00")

    order = oms.cancel(order.id)
    assert statuses(order) == ("cancelled", "voided", "unfulfilled")
    assert oms.gift_card("GC-EU-1").balance == eur("20.00")


def test_gift_card_covering_everything_makes_a_free_order(oms: OMS) -> None:
    oms.issue_gift_card("GC-EU-2", eur("100.00"))
    order = checkout(oms, payment_method=None)
    order = oms.apply_gift_card(order.id, "GC-EU-2")
    assert order.totals.gift_card == eur("34.80")
    assert order.totals.total == eur("0.00")
    assert order.payment_status == "free"

    order = oms.place(order.id)  # no payment method needed

    assert statuses(order) == ("placed", "free", "unfulfilled")
    assert order.payment_method is None
    assert order.transactions == ()
    assert oms.gift_card("GC-EU-2").balance == eur("65.20")

    order = oms.approve(order.id)
    assert statuses(order) == ("approved", "free", "in_progress")
    order = oms.ship(order.id)
    assert statuses(order) == ("approved", "free", "fulfilled")
    order = oms.archive(order.id)
    assert order.archived


def test_cancelling_a_free_order_restores_the_gift_card(oms: OMS) -> None:
    oms.issue_gift_card("GC-EU-3", eur("50.00"))
    order = oms.apply_gift_card(checkout(oms, payment_method=None).id, "GC-EU-3")
    oms.place(order.id)
    assert oms.gift_card("GC-EU-3").balance == eur("15.20")
    order = oms.cancel(order.id)
    assert statuses(order) == ("cancelled", "free", "unfulfilled")
    assert oms.gift_card("GC-EU-3").balance == eur("50.00")


def test_gift_card_with_a_payment_method_and_zero_total_moves_no_money(oms: OMS) -> None:
    oms.issue_gift_card("GC-EU-4", eur("100.00"))
    order = oms.apply_gift_card(checkout(oms).id, "GC-EU-4")
    order = oms.place(order.id)
    assert statuses(order) == ("placed", "free", "unfulfilled")
    assert order.transactions == ()


def test_gift_card_refused_where_not_accepted(oms: OMS) -> None:
    oms.issue_gift_card("GC-US-1", usd("100.00"))
    order = checkout(oms, "US", [("TEE-ORG-M", 1)])
    length = len(oms.history(order.id))
    with pytest.raises(GiftCardError, match="market US does not accept gift cards"):
        oms.apply_gift_card(order.id, "GC-US-1")
    assert_unchanged(oms, order, length)


def test_gift_card_errors(oms: OMS) -> None:
    oms.issue_gift_card("GC-USD", usd("10.00"))
    order = checkout(oms)
    length = len(oms.history(order.id))
    with pytest.raises(GiftCardError, match="unknown gift card 'NOPE'"):
        oms.apply_gift_card(order.id, "NOPE")
    with pytest.raises(GiftCardError, match="gift card GC-USD is in USD, the order in EUR"):
        oms.apply_gift_card(order.id, "GC-USD")
    with pytest.raises(GiftCardError, match="already exists"):
        oms.issue_gift_card("GC-USD", usd("5.00"))
    with pytest.raises(GiftCardError, match="positive balance"):
        oms.issue_gift_card("GC-ZERO", eur("0"))
    with pytest.raises(GiftCardError, match="unknown gift card"):
        oms.gift_card("GC-ZERO")
    assert_unchanged(oms, order, length)


@pytest.mark.parametrize("amount", ["10.00", 1000, None])
def test_issue_gift_card_refuses_an_amount_that_is_not_money(oms: OMS, amount: Any) -> None:
    with pytest.raises(GiftCardError, match="gift card amount must be Money"):
        oms.issue_gift_card("GC-TEXT", amount)
    with pytest.raises(GiftCardError, match="unknown gift card 'GC-TEXT'"):
        oms.gift_card("GC-TEXT")  # nothing was created


@pytest.mark.parametrize("code", ["", "   "])
def test_issue_gift_card_refuses_an_empty_code(oms: OMS, code: str) -> None:
    with pytest.raises(GiftCardError, match="non-empty code"):
        oms.issue_gift_card(code, eur("10.00"))
    with pytest.raises(GiftCardError, match="unknown gift card"):
        oms.gift_card(code)  # nothing was created
    oms.issue_gift_card("GC-AFTER", eur("10.00"))  # the refusal left the store usable
    assert oms.gift_card("GC-AFTER").balance == eur("10.00")


def test_empty_gift_card_is_refused(oms: OMS) -> None:
    oms.issue_gift_card("GC-SMALL", eur("10.00"))
    first = oms.apply_gift_card(checkout(oms, lines=[("TOTE-CNV", 1)]).id, "GC-SMALL")
    oms.place(first.id)
    assert oms.gift_card("GC-SMALL").balance == eur("0")
    with pytest.raises(GiftCardError, match="gift card GC-SMALL has no balance left"):
        oms.apply_gift_card(checkout(oms).id, "GC-SMALL")


# -- fulfillment and shipments ----------------------------------------------------------------


def test_digital_only_order_needs_no_shipment(oms: OMS) -> None:
    order = checkout(oms, lines=[("EBOOK-CARE", 1)], shipping=None)
    assert order.totals.total == eur("4.99")
    assert order.totals.shipping == eur("0")

    order = oms.place(order.id)  # no shipping method needed
    assert statuses(order) == ("placed", "authorized", "not_required")
    assert order.shipments == ()

    oms.capture(order.id)
    order = oms.approve(order.id)
    assert statuses(order) == ("approved", "paid", "not_required")
    with pytest.raises(TransitionNotAllowed, match=r"name the shipment \(shipments: none\)"):
        oms.ship(order.id)
    order = oms.archive(order.id)
    assert order.archived


def test_mixed_order_with_a_digital_line_needs_shipping(oms: OMS) -> None:
    order = checkout(oms, lines=[("EBOOK-CARE", 1), ("MUG-CER-350", 1)], shipping=None)
    with pytest.raises(TransitionNotAllowed, match="no shipping method is selected"):
        oms.place(order.id)


def test_shipment_steps_ship_and_deliver(oms: OMS, clock: FakeClock) -> None:
    order = oms.place(checkout(oms).id)
    oms.capture(order.id)
    oms.approve(order.id)

    steps = ["start_picking", "start_packing", "mark_ready_to_ship"]
    for step, expected in zip(steps, ["picking", "packing", "ready_to_ship"], strict=True):
        clock.advance(minutes=5)
        order = oms.update_shipment(order.id, step)
        assert [s.status for s in order.shipments] == [expected]
        assert order.fulfillment_status == "in_progress"

    clock.advance(hours=1)
    shipped_at = clock.now
    order = oms.ship(order.id, "EU-000001/1", tracking_number="1Z999AA10123456784")
    assert statuses(order) == ("approved", "paid", "fulfilled")
    (shipment,) = order.shipments
    assert shipment.status == "shipped"
    assert shipment.tracking_number == "1Z999AA10123456784"
    assert shipment.shipped_at == shipped_at

    clock.advance(days=2)
    order = oms.deliver(order.id)
    assert order.shipments[0].status == "delivered"
    assert order.shipments[0].delivered_at == clock.now
    assert order.shipments[0].shipped_at == shipped_at

    assert triggers(oms, order.id)[-5:] == [
        "shipment.start_picking",
        "shipment.start_packing",
        "shipment.mark_ready_to_ship",
        "shipment.ship",
        "shipment.deliver",
    ]
    assert oms.history(order.id)[-1].detail == {"shipment": "EU-000001/1"}


def test_shipment_triggers_out_of_order_are_refused(oms: OMS) -> None:
    order = oms.place(checkout(oms).id)
    oms.capture(order.id)
    order = oms.approve(order.id)
    length = len(oms.history(order.id))

    with pytest.raises(TransitionNotAllowed) as caught:
        oms.update_shipment(order.id, "start_packing")
    assert caught.value.reasons == ("shipment EU-000001/1 is upcoming (allowed from: picking)",)
    with pytest.raises(TransitionNotAllowed, match="'teleport' is not a shipment trigger"):
        oms.update_shipment(order.id, "teleport")
    with pytest.raises(TransitionNotAllowed, match="shipment EU-000001/1 is upcoming"):
        oms.deliver(order.id)
    with pytest.raises(TransitionNotAllowed, match=r"no shipment 'EU-000001/9'"):
        oms.ship(order.id, "EU-000001/9")
    assert_unchanged(oms, order, length)


def test_shipping_before_approval_is_refused(oms: OMS) -> None:
    order = oms.place(checkout(oms).id)
    oms.capture(order.id)
    order = oms.get_order(order.id)
    length = len(oms.history(order.id))

    with pytest.raises(TransitionNotAllowed) as caught:
        oms.ship(order.id, tracking_number="X")

    assert caught.value.reasons == (
        "fulfillment_status is unfulfilled: fulfillment has not started",
    )
    assert_unchanged(oms, order, length)


# -- archive and queries ----------------------------------------------------------------------


def test_archive_only_closed_orders_and_unarchive(oms: OMS, clock: FakeClock) -> None:
    order = oms.place(checkout(oms).id)
    with pytest.raises(TransitionNotAllowed) as caught:
        oms.archive(order.id)
    assert caught.value.reasons == (
        "only cancelled orders, or approved orders that are paid and fulfilled, can be archived",
    )
    oms.capture(order.id)
    oms.approve(order.id)
    with pytest.raises(TransitionNotAllowed, match="can be archived"):
        oms.archive(order.id)  # approved and paid, but not fulfilled yet
    oms.ship(order.id)

    order = oms.archive(order.id)
    assert order.archived_at == clock.now
    assert order.archived is True
    assert statuses(order) == ("approved", "paid", "fulfilled")
    with pytest.raises(TransitionNotAllowed, match="the order is archived"):
        oms.archive(order.id)

    order = oms.unarchive(order.id)
    assert order.archived_at is None
    with pytest.raises(TransitionNotAllowed, match="the order is not archived"):
        oms.unarchive(order.id)

    cancelled = oms.cancel(checkout(oms).id)
    assert oms.archive(cancelled.id).archived


def test_list_orders_filters(oms: OMS, clock: FakeClock) -> None:
    draft = oms.create_order("EU")
    clock.advance(seconds=1)
    placed = oms.place(checkout(oms).id)
    clock.advance(seconds=1)
    us_paid = oms.place(checkout(oms, "US", [("TEE-ORG-M", 1)]).id)
    clock.advance(seconds=1)
    archived = oms.archive(oms.cancel(oms.place(checkout(oms).id).id).id)  # voided

    def numbers(**filters: Any) -> list[str]:
        return [o.number for o in oms.list_orders(**filters)]

    assert numbers() == [draft.number, placed.number, us_paid.number]  # oldest first
    assert numbers(archived=None) == [draft.number, placed.number, us_paid.number, archived.number]
    assert numbers(archived=True) == [archived.number]
    assert numbers(market="US") == [us_paid.number]
    assert numbers(market="EU", archived=None) == [draft.number, placed.number, archived.number]
    assert numbers(status="placed") == [placed.number, us_paid.number]
    assert numbers(status=["draft", "cancelled"], archived=None) == [draft.number, archived.number]
    assert numbers(payment_status="paid") == [us_paid.number]
    assert numbers(payment_status=["authorized", "voided"], archived=None) == [
        placed.number,
        archived.number,
    ]
    assert numbers(fulfillment_status="unfulfilled", market="EU") == [draft.number, placed.number]
    assert numbers(limit=2) == [draft.number, placed.number]
    assert numbers(limit=2, offset=2) == [us_paid.number]
    assert numbers(market="JP") == []
    assert oms.list_orders(market="US")[0] == oms.get_order(us_paid.id)


def test_order_is_found_by_id_or_number(oms: OMS) -> None:
    order = checkout(oms)
    assert oms.get_order(order.number) == oms.get_order(order.id) == order


@pytest.mark.parametrize(
    "call",
    [
        lambda oms: oms.get_order("EU-999999"),
        lambda oms: oms.history("nope"),
        lambda oms: oms.available_triggers("nope"),
        lambda oms: oms.add_line_item("nope", "TEE-ORG-M"),
        lambda oms: oms.place("nope"),
        lambda oms: oms.cancel("nope"),
        lambda oms: oms.ship("nope"),
    ],
)
def test_unknown_order_raises_order_not_found(oms: OMS, call: Any) -> None:
    with pytest.raises(OrderNotFound, match="no order with id or number"):
        call(oms)


def test_order_numbers_are_per_market_and_sequential(oms: OMS) -> None:
    made = [oms.create_order(market).number for market in ("EU", "EU", "US", "JP", "EU", "US")]
    assert made == ["EU-000001", "EU-000002", "US-000001", "JP-000001", "EU-000003", "US-000002"]


def test_history_records_the_actor(oms: OMS) -> None:
    order = checkout(oms)
    oms.with_actor("checkout-web").place(order.id)
    oms.with_actor("back-office").capture(order.id)
    assert [(e.trigger, e.actor) for e in oms.history(order.id)][-3:] == [
        ("select_payment_method", "system"),
        ("place", "checkout-web"),
        ("capture", "back-office"),
    ]
    assert oms.actor == "system"


# -- idempotency ------------------------------------------------------------------------------


def test_same_idempotency_key_replays_without_a_second_effect(
    oms: OMS, sandbox: SandboxGateway
) -> None:
    order = oms.place(checkout(oms).id)

    first = oms.capture(order.id, "10.00", idempotency_key="cap-1")
    length = len(oms.history(order.id))
    again = oms.capture(order.id, "10.00", idempotency_key="cap-1")

    assert again == first
    assert len(oms.history(order.id)) == length
    assert oms.get_order(order.id).transactions == first.transactions
    assert len(sandbox.captures) == 1
    assert oms.get_order(order.id).captured == eur("10.00")


def test_idempotent_place_authorizes_once(oms: OMS, sandbox: SandboxGateway) -> None:
    order = checkout(oms)
    first = oms.place(order.id, idempotency_key="place-1")
    again = oms.place(order.id, idempotency_key="place-1")
    assert again == first
    assert len(sandbox.authorizations) == 1
    assert triggers(oms, order.id).count("place") == 1


def test_idempotent_create_order_returns_the_same_order(oms: OMS) -> None:
    first = oms.create_order("EU", customer_email="a@example.com", idempotency_key="cart-1")
    again = oms.create_order("EU", customer_email="a@example.com", idempotency_key="cart-1")
    assert again == first
    assert [o.number for o in oms.list_orders()] == ["EU-000001"]
    assert oms.create_order("EU").number == "EU-000002"


def test_same_idempotency_key_with_another_request_conflicts(oms: OMS) -> None:
    order = oms.place(checkout(oms).id)
    oms.capture(order.id, "10.00", idempotency_key="key-1")
    before = oms.get_order(order.id)
    length = len(oms.history(order.id))

    with pytest.raises(IdempotencyConflict, match="idempotency key 'key-1'"):
        oms.capture(order.id, "11.00", idempotency_key="key-1")
    with pytest.raises(IdempotencyConflict):
        oms.refund(order.id, "10.00", idempotency_key="key-1")
    with pytest.raises(IdempotencyConflict):
        oms.create_order("EU", idempotency_key="key-1")

    assert_unchanged(oms, before, length)


def test_failed_command_does_not_burn_its_idempotency_key(oms: OMS) -> None:
    order = oms.place(checkout(oms).id)
    with pytest.raises(PaymentAmountError):
        oms.capture(order.id, "99.00", idempotency_key="cap-x")
    order = oms.capture(order.id, "10.00", idempotency_key="cap-y")
    assert order.captured == eur("10.00")


# -- payment source, views, persistence -------------------------------------------------------


@pytest.mark.parametrize(
    "source", ["4242 4242 4242 4242", "4242424242424242", "4242-4242-4242-4242"]
)
def test_card_number_as_payment_source_is_refused(oms: OMS, source: str) -> None:
    order = checkout(oms, payment_method=None)
    length = len(oms.history(order.id))
    with pytest.raises(InvalidOrderInput, match="looks like a card number"):
        oms.select_payment_method(order.id, "card", payment_source=source)
    assert_unchanged(oms, order, length)


def test_views_are_immutable(oms: OMS) -> None:
    view = oms.place(checkout(oms).id)
    with pytest.raises(ValidationError):
        view.status = "approved"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        view.totals.total = eur("0")  # type: ignore[misc]
    with pytest.raises(ValidationError):
        view.lines[0].quantity = 5  # type: ignore[misc]
    with pytest.raises(AttributeError):
        view.totals.total.__setattr__("_minor", 0)
    assert isinstance(view.lines, tuple)
    assert isinstance(view.transactions, tuple)
    assert oms.get_order(view.id).status == "placed"


def test_views_round_trip_through_json(oms: OMS) -> None:
    oms.issue_gift_card("GC-J", eur("5.00"))
    order = checkout(oms, lines=[("TEE-ORG-M", 2), ("MUG-CER-350", 1)])
    oms.apply_coupon(order.id, "WELCOME10")
    oms.apply_gift_card(order.id, "GC-J")
    view = oms.place(order.id)

    dumped = view.model_dump(mode="json")
    text = json.dumps(dumped)
    assert dumped["totals"]["total"] == {"minor": 6187, "currency": "EUR"}
    assert dumped["placed_at"] == "2026-03-02T09:30:00Z"
    assert OrderView.model_validate(json.loads(text)) == view
    assert OrderView.model_validate_json(view.model_dump_json()) == view
    for entry in oms.history(order.id):
        assert type(entry).model_validate(json.loads(json.dumps(entry.model_dump(mode="json"))))


def test_data_survives_closing_and_reopening(tmp_path: Path, clock: FakeClock) -> None:
    url = f"sqlite:///{tmp_path / 'oms.sqlite3'}"
    gateways = [ManualGateway(), SandboxGateway()]  # the sandbox keeps its books in memory
    with OMS.open(EXAMPLES, url, gateways=gateways, clock=clock) as oms:
        oms.issue_gift_card("GC-P", eur("10.00"))
        order = oms.apply_gift_card(checkout(oms).id, "GC-P")
        order = oms.place(order.id, idempotency_key="place-p")
        oms.capture(order.id, "5.00")
        saved = oms.get_order(order.id)
        saved_history = oms.history(order.id)

    with OMS.open(EXAMPLES, url, gateways=gateways, clock=clock) as oms:
        assert oms.get_order(saved.number) == saved
        assert oms.history(saved.id) == saved_history
        assert oms.gift_card("GC-P").balance == eur("0")
        assert oms.place(saved.id, idempotency_key="place-p").number == saved.number
        assert oms.create_order("EU").number == "EU-000002"
        order = oms.capture(saved.id)
        assert statuses(order) == ("placed", "paid", "unfulfilled")
        assert order.captured == eur("24.80")


def test_a_command_run_without_savepoint_that_reaches_a_gateway_runs_again_with_one(
    oms: OMS,
) -> None:
    """Cart edits run without a savepoint; one that needs a gateway after all is not lost."""
    from oms_sdk._service import _Step

    order = checkout(oms)

    def place(session: Any, o: Any, fx: Any) -> _Step:
        oms._fire(o, fx, "place")
        return _Step("place")

    view = oms._command("place", order.id, place, moves_money=False)
    assert statuses(view) == ("placed", "authorized", "unfulfilled")
    assert [(kind, ok) for kind, _, ok, _ in ledger(view)] == [("authorization", True)]
    assert [h.trigger for h in oms.history(order.id)][-1] == "place"
