"""Stateful property test: random command sequences through the ``OMS`` facade, every market.

A hypothesis ``RuleBasedStateMachine`` opens a fresh OMS on the example policies and a private
in-memory SQLite database for every example, with a clock the test controls, then drives carts,
checkouts, payments, policy steps, shipments, gift cards and archiving with valid and invalid
input. Every command may fail with an ``OMSError``; any other exception fails the test.

What each command must do (succeed, or fail with which error) is predicted from an independent
model; after every command the order it touched is checked (totals recomputed from the price
list, ``payment_status`` recomputed from the ledger, history, and "a refused command changes
nothing"), and after every rule every order, every gift card and the sandbox gateway's own books
are checked again.

Run ``pytest tests/test_stateful.py --hypothesis-show-statistics`` to see which commands ran and
how they ended.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from oms_sdk import (
    OMS,
    GiftCardError,
    HistoryEntryView,
    IdempotencyConflict,
    InvalidOrderInput,
    MarketPolicy,
    Money,
    MoneyError,
    OMSError,
    OrderView,
    PaymentAmountError,
    PaymentDeclined,
    PolicySet,
    TransitionNotAllowed,
)
from oms_sdk.lifecycle import BUILTIN_TRIGGERS
from oms_sdk.store import Store
from oms_sdk.testing import fresh_database_url

CONFIG = Path(__file__).resolve().parents[1] / "config_examples"

#: The controllable clock starts here; ``advance_clock`` moves it by at most
#: ``MAX_DAYS_PER_STEP`` days a step, so a whole example stays inside every example
#: promotion's validity window (checked when the machine starts).
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MAX_DAYS_PER_STEP = 40
STEPS = 25  # "around 30": 30 steps cost ~15% more run time for little extra depth
MAX_ORDERS = 3

EDITABLE = ("draft", "pending")
LIVE_PAYMENT = frozenset({"authorized", "paid", "partially_paid", "partially_refunded", "free"})
CANCELLED_PAYMENT = frozenset({"unpaid", "voided", "refunded", "free"})
UNKNOWN_SKU = "NO-SUCH-SKU"
SANDBOX_TOKENS = (
    "tok_visa",
    "tok_visa",
    "tok_mastercard",
    "tok_chargeDeclined",
    "tok_chargeDeclinedInsufficientFunds",
    "tok_unknownToken",
    None,
)
DECLINES = {  # sandbox token -> the error code of the failed authorization it causes
    "tok_chargeDeclined": "card_declined",
    "tok_chargeDeclinedInsufficientFunds": "insufficient_funds",
    "tok_unknownToken": "invalid_payment_source",
}
CARD_NUMBER = "4242 4242 4242 4242"
EMAILS = ("ada@example.com", "grace.hopper@example.org")
BAD_EMAILS = ("not-an-email", "a@b", "two@@example.com")
COUPONS = ("WELCOME10", "welcome10", "SUMMER500", "NOPE-COUPON")
COUNTRIES = {"EU": "IT", "JP": "JP", "NO": "NO", "US": "US", "KW": "KW"}

#: The shipment lifecycle, written out here independently of ``oms_sdk.lifecycle``.
PRE_SHIP = ("upcoming", "on_hold", "picking", "packing", "ready_to_ship")
SHIPPED = ("shipped", "delivered")
SHIPMENT_SOURCES: dict[str, tuple[str, ...]] = {
    "start_picking": ("upcoming", "on_hold", "packing", "ready_to_ship"),
    "start_packing": ("picking",),
    "mark_ready_to_ship": ("packing",),
    "put_on_hold": ("upcoming", "picking", "packing", "ready_to_ship"),
    "ship": ("upcoming", "picking", "packing", "ready_to_ship"),
    "deliver": ("shipped",),
    "cancel": PRE_SHIP,
}
SHIPMENT_DEST = {
    "start_picking": "picking",
    "start_packing": "packing",
    "mark_ready_to_ship": "ready_to_ship",
    "put_on_hold": "on_hold",
    "ship": "shipped",
    "deliver": "delivered",
    "cancel": "cancelled",
}

Expect = str | type[OMSError] | tuple[type[OMSError], ...] | None
"""``"ok"``: the command must succeed; an error class: it must raise it; None: either."""


# -- an independent model of the rules ----------------------------------------------------


def succeeded_sum(view: OrderView, kind: str) -> int:
    return sum(t.amount.minor for t in view.transactions if t.succeeded and t.kind == kind)


def has_authorization(view: OrderView) -> bool:
    return any(t.succeeded and t.kind == "authorization" for t in view.transactions)


def capturable(view: OrderView) -> int:
    authorized = succeeded_sum(view, "authorization")
    return max(authorized - succeeded_sum(view, "capture") - succeeded_sum(view, "void"), 0)


def refundable(view: OrderView) -> int:
    return succeeded_sum(view, "capture") - succeeded_sum(view, "refund")


def editable(view: OrderView) -> bool:
    """Cart commands are allowed: draft or pending, and no payment authorized yet."""
    return view.status in EDITABLE and not has_authorization(view)


def holds_gift_card(view: OrderView) -> bool:
    """The order's gift card amount is taken off the card: reserved when the order is placed
    or authorized, given back when it is cancelled."""
    return view.status != "cancelled" and (view.placed_at is not None or has_authorization(view))


def expected_payment_status(view: OrderView) -> str:
    """``payment_status`` recomputed from the ledger, by the rules of
    ``Order.derive_payment_status``."""
    authorized = succeeded_sum(view, "authorization")
    captured = succeeded_sum(view, "capture")
    refunded = succeeded_sum(view, "refund")
    voided = succeeded_sum(view, "void")
    total = view.totals.total.minor
    if total == 0 and view.lines and authorized == 0:
        return "free"
    if refunded:
        return "refunded" if refunded >= captured else "partially_refunded"
    if captured:
        return "paid" if captured >= total else "partially_paid"
    if voided:
        return "voided"
    if authorized:
        return "authorized" if authorized >= total else "partially_authorized"
    return "unpaid"


def check_totals(view: OrderView, market: MarketPolicy) -> None:
    """The totals are the price list's: recomputed without the SDK's pricing code."""
    currency = market.currency
    totals = view.totals
    for name in (
        "subtotal", "discount", "shipping", "payment_surcharge", "tax", "gift_card", "total",
    ):  # fmt: skip
        assert getattr(totals, name).currency == currency, (name, totals)
    assert totals.tax_included == market.prices.tax_included

    subtotal = 0
    for line in view.lines:
        item = market.prices.items[line.sku]
        assert line.quantity > 0, line
        assert line.unit_price == Money(item.price.minor, currency), line
        assert line.amount == Money(item.price.minor * line.quantity, currency), line
        assert line.requires_shipping == item.requires_shipping, line
        assert line.discount.currency == currency, line
        subtotal += item.price.minor * line.quantity
    assert totals.subtotal.minor == subtotal, (totals, view.lines)
    assert len({line.sku for line in view.lines}) == len(view.lines), view.lines

    # Promotions: the automatic ones first, then the coupon; each on what the earlier left.
    candidates = [p for p in market.promotions if p.coupon is None]
    coupon = market.coupon(view.coupon_code) if view.coupon_code else None
    if coupon is not None:
        candidates.append(coupon)
    applied: list[str] = []
    discount = 0
    for promotion in candidates:
        minimum = promotion.minimum_order_amount
        if minimum is not None and subtotal < minimum.minor:
            continue
        left = subtotal - discount
        if promotion.type == "percentage":
            discount += round(Fraction(left) * Fraction(promotion.percentage) / 100)
        else:
            discount += min(promotion.amount.minor, left)
        applied.append(promotion.code)
    discount = min(discount, subtotal)
    assert totals.discount.minor == discount, (totals, view.coupon_code)
    assert list(view.promotions) == applied, (view.promotions, applied)
    # Line discounts sum exactly to the order discount, each its proportional share.
    assert sum(line.discount.minor for line in view.lines) == discount, view.lines
    for line in view.lines:
        share = Fraction(discount * line.amount.minor, subtotal) if subtotal else Fraction(0)
        assert math.floor(share) <= line.discount.minor <= math.ceil(share), (line, discount)
    goods = subtotal - discount

    requires_shipping = any(line.requires_shipping for line in view.lines)
    method = market.shipping_method(view.shipping_method) if view.shipping_method else None
    shipping = 0
    if requires_shipping and method is not None:
        free = method.free_over is not None and goods >= method.free_over.minor
        shipping = 0 if free else method.price.minor
    assert totals.shipping.minor == shipping, (totals, view.shipping_method)

    payment = market.payment_method(view.payment_method) if view.payment_method else None
    surcharge = payment.surcharge.minor if payment is not None and payment.surcharge else 0
    assert totals.payment_surcharge.minor == surcharge, (totals, view.payment_method)

    taxable = goods + shipping + surcharge
    rate = Fraction(market.prices.tax_rate)
    if market.prices.tax_included:
        tax = round(taxable * rate / (100 + rate))  # round() of a Fraction is half-even
        gross = taxable
    else:
        tax = round(taxable * rate / 100)
        gross = taxable + tax
    assert totals.tax.minor == tax, totals
    assert tax >= 0, totals
    gift = totals.gift_card.minor
    assert 0 <= gift <= gross, totals
    if view.gift_card_code is None:
        assert gift == 0, totals
    expected_total = subtotal - discount + shipping + surcharge - gift
    if not market.prices.tax_included:
        expected_total += tax
    assert totals.total.minor == expected_total, totals
    assert expected_total >= 0, totals


def check_ledger(view: OrderView) -> None:
    currency = view.currency
    for t in view.transactions:
        assert t.amount.currency == currency, t
        assert t.amount.minor > 0, t
        assert t.kind in ("authorization", "capture", "void", "refund"), t
        if t.succeeded:
            assert t.reference, t
            assert t.error_code is None, t
        else:
            assert t.error_code, t
    authorized = succeeded_sum(view, "authorization")
    captured = succeeded_sum(view, "capture")
    refunded = succeeded_sum(view, "refund")
    voided = succeeded_sum(view, "void")
    assert sum(1 for t in view.transactions if t.succeeded and t.kind == "authorization") <= 1
    assert 0 <= captured <= authorized, view.transactions
    assert 0 <= refunded <= captured, view.transactions
    assert captured + voided <= authorized, view.transactions
    assert view.authorized == Money(authorized, currency)
    assert view.captured == Money(captured, currency)
    assert view.refunded == Money(refunded, currency)
    if authorized:
        # An authorization is for everything the payment method covers, and totals are frozen
        # once the payment is authorized.
        assert authorized == view.totals.total.minor, (authorized, view.totals)
    assert view.payment_status == expected_payment_status(view), (
        view.payment_status,
        view.totals.total,
        view.transactions,
    )


def check_statuses(view: OrderView) -> None:
    status, payment, fulfillment = statuses = view_statuses(view)
    kinds = {t.kind for t in view.transactions if t.succeeded}
    requires_shipping = any(line.requires_shipping for line in view.lines)
    pre_shipped = [s for s in view.shipments if s.status in PRE_SHIP]
    shipped = [s for s in view.shipments if s.status in SHIPPED]

    if status in EDITABLE:
        assert view.placed_at is None, statuses
        assert view.approved_at is None, statuses
        assert view.cancelled_at is None, statuses
        assert view.archived_at is None, statuses
        assert fulfillment == "unfulfilled", statuses
        assert kinds <= {"authorization"}, view.transactions
        assert payment in ("unpaid", "authorized", "free"), statuses
        if has_authorization(view):
            assert status == "pending", statuses
        else:
            # mark_pending / mark_draft keep a cart's status in step with its content.
            ready = bool(view.lines) and bool(view.customer_email)
            assert (status == "pending") == ready, (statuses, view.customer_email, view.lines)
    elif status != "cancelled":
        assert view.placed_at is not None, statuses
        assert payment in LIVE_PAYMENT, statuses
        if payment != "free":
            assert has_authorization(view), view.transactions
    if status == "draft":
        assert not kinds, view.transactions

    # Shipments are planned when the order's holds are taken (placement or authorization):
    # parcels numbered in order, together carrying every line that ships, exactly once.
    if not (view.placed_at is not None or has_authorization(view)):
        assert not view.shipments, view.shipments
    for index, shipment in enumerate(view.shipments, start=1):
        assert shipment.number == f"{view.number}/{index}", view.shipments
    planned: dict[str, int] = {}
    for shipment in view.shipments:
        for sku, quantity in getattr(shipment, "lines", ()):
            planned[sku] = planned.get(sku, 0) + quantity
    if view.shipments and hasattr(view.shipments[0], "lines"):
        shipping_lines = {line.sku: line.quantity for line in view.lines if line.requires_shipping}
        assert planned == shipping_lines, (planned, view.lines)
    if view.placed_at is not None:
        assert view.lines, view
        assert view.customer_email, view
        assert view.billing_address is not None, view
        if requires_shipping:
            assert view.shipments, view.shipments
            assert view.shipping_address is not None, view
            assert view.shipping_method is not None, view
            assert fulfillment != "not_required", statuses
        else:
            assert not view.shipments, view.shipments
            assert fulfillment == "not_required", statuses
    else:
        assert fulfillment == "unfulfilled", statuses

    if status == "approved":
        assert view.approved_at is not None, statuses
    if fulfillment == "fulfilled":
        assert status in ("approved", "cancelled"), statuses
        assert view.approved_at is not None, statuses
        assert shipped, view.shipments
        assert not pre_shipped, view.shipments
    if fulfillment == "in_progress":
        assert status == "approved", statuses
    if status == "cancelled":
        assert view.cancelled_at is not None, statuses
        assert payment in CANCELLED_PAYMENT, statuses
        assert not pre_shipped, view.shipments
        # Nothing captured is kept, and no authorization is left open on the customer's card.
        assert refundable(view) == 0, view.transactions
        assert capturable(view) == 0, (statuses, view.transactions)
    else:
        assert view.cancelled_at is None, statuses
    if view.archived_at is not None:
        assert status in ("approved", "cancelled"), statuses
    for shipment in view.shipments:
        assert (shipment.shipped_at is not None) == (shipment.status in SHIPPED), shipment
        assert (shipment.delivered_at is not None) == (shipment.status == "delivered"), shipment


def bumps(command: str, before: OrderView, after: OrderView) -> range:
    """Version steps of one command: its own commit, plus one for each pending ledger row it
    committed before calling a gateway (a checkout's stock and gift-card holds commit then
    too, or alone when no row is needed)."""
    added = len(after.transactions) - len(before.transactions)
    holds = 1 if command in ("place", "authorize", "complete_payment_action") else 0
    return range(1, 2 + added + holds)


def view_statuses(view: OrderView) -> tuple[str, str, str]:
    return (view.status, view.payment_status, view.fulfillment_status)


def check_history(history: list[HistoryEntryView], view: OrderView) -> None:
    """The timeline starts with ``create``, every entry starts where the previous one ended,
    and the last one ends where the order is; amounts are in the order's currency."""
    assert history[0].trigger == "create", history[0]
    assert history[0].from_statuses == ("draft", "unpaid", "unfulfilled"), history[0]
    for previous, entry in itertools.pairwise(history):
        assert entry.from_statuses == previous.statuses, (previous, entry)
        assert entry.at >= previous.at, (previous, entry)
    assert history[-1].statuses == view_statuses(view), (history[-1], view_statuses(view))
    for entry in history:
        assert entry.amount is None or entry.amount.currency == view.currency, entry


def check_order(view: OrderView, market: MarketPolicy) -> None:
    assert view.currency == market.currency
    check_totals(view, market)
    check_ledger(view)
    check_statuses(view)


@functools.cache
def _example_policies() -> PolicySet:
    """The example policies, loaded (with the plugins they enable) by ``OMS.open`` once."""
    with OMS.open(str(CONFIG), fresh_database_url()) as oms:
        return oms.policies


def fresh_oms(clock: Callable[[], datetime]) -> OMS:
    """A fresh OMS for one example: its own database, plugin host, sandbox gateway books and
    compiled lifecycles, exactly as ``OMS.open(CONFIG, fresh_database_url())`` builds it, but
    without parsing the (immutable) policy files again: that parsing is ~100 ms, a quarter of
    this test's run time."""
    return OMS(_example_policies(), Store(fresh_database_url()), clock=clock)


def _raised(expect: Expect, error: OMSError) -> bool:
    return isinstance(expect, type | tuple) and isinstance(error, expect)


# -- the state machine --------------------------------------------------------------------


class OMSMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = START
        self.oms = fresh_oms(clock=lambda: self.now)
        self.markets: dict[str, MarketPolicy] = {m.code: m for m in self.oms.policies}
        self.order_ids: list[str] = []
        self.views: dict[str, OrderView] = {}  # the last state seen and checked, per order
        self.history_len: dict[str, int] = {}
        self.cards: dict[str, tuple[str, int]] = {}  # code -> (currency, initial balance)
        self.card_balances: dict[str, int] = {}
        self.sources: dict[str, str | None] = {}  # order id -> its payment source (token)
        self.keys = 0

    def teardown(self) -> None:
        self.oms.close()
        # Hypothesis may keep finished machines referenced (its strategy caches): drop the
        # heavy state so that 200 examples do not keep 200 OMS instances alive.
        for name in ("oms", "views", "markets", "history_len", "cards", "card_balances"):
            self.__dict__.pop(name, None)

    # -- running and checking one command ---------------------------------------------------

    def market(self, view: OrderView) -> MarketPolicy:
        return self.markets[view.market]

    def pick(
        self, data: st.DataObject, prefer: Callable[[OrderView], bool] | None = None
    ) -> OrderView:
        """An order; mostly one that ``prefer`` likes, when there is one."""
        liked = [i for i in self.order_ids if prefer is not None and prefer(self.views[i])]
        order_id = data.draw(st.sampled_from([*liked * 3, *self.order_ids]), label="order")
        return self.views[order_id]

    def fresh_card_balances(self) -> dict[str, int]:
        balances = {}
        for code, (currency, initial) in self.cards.items():
            card = self.oms.gift_card(code)
            assert card.balance.currency == currency
            assert card.initial_balance == Money(initial, currency)
            balances[code] = card.balance.minor
        return balances

    def do(
        self,
        what: str,
        view: OrderView,
        call: Callable[[], OrderView],
        expect: Expect = None,
    ) -> OrderView | None:
        """Run one command on ``view``'s order; check what it did, or that it did nothing."""
        before = self.views[view.id]
        assert before == view
        history_before = self.history_len[view.id]
        error: OMSError | None = None
        try:
            returned = call()
        except OMSError as exc:
            error = exc
        event(f"{what}: {type(error).__name__ if error else 'ok'}")
        if error is not None:
            assert expect != "ok", f"{what}: expected success, got {type(error).__name__}: {error}"
            if expect is not None:
                assert _raised(expect, error), (what, expect, type(error).__name__, str(error))
            if isinstance(error, PaymentDeclined):
                self.after_declined(before, history_before, what)
            else:
                self.after_refused(before, history_before)
            return None
        assert expect in (None, "ok"), f"{what}: expected {expect}, but it succeeded"
        # That the returned view is the stored order is checked by the next command on the
        # order (a refused one compares the stored order with it) or after the rule at the latest.
        after = returned
        history = self.oms.history(view.id)
        assert len(history) == history_before + 1, [h.trigger for h in history]
        assert history[-1].from_statuses == view_statuses(before), history[-1]
        check_history(history, after)
        assert after.transactions[: len(before.transactions)] == before.transactions, what
        assert after.version - before.version in bumps(what, before, after), "version steps"
        assert (after.number, after.market, after.currency, after.created_at) == (
            before.number, before.market, before.currency, before.created_at,
        )  # fmt: skip
        self.record(after, len(history))
        return after

    def after_refused(self, before: OrderView, history_before: int) -> None:
        """A refused command changes nothing: not the order, its history, nor a gift card."""
        after = self.oms.get_order(before.id)
        assert after == before, "a refused command changed the order"
        assert len(self.oms.history(before.id)) == history_before
        assert self.fresh_card_balances() == self.card_balances, "a refused command moved a card"

    def after_declined(self, before: OrderView, history_before: int, what: str) -> None:
        """A decline keeps statuses and totals; exactly the failed transactions are added."""
        after = self.oms.get_order(before.id)
        assert view_statuses(after) == view_statuses(before)
        assert after.totals == before.totals
        assert after.lines == before.lines
        assert after.shipments == before.shipments
        assert after.placed_at == before.placed_at
        assert after.version - before.version in bumps(what, before, after)
        known = len(before.transactions)
        assert after.transactions[:known] == before.transactions
        appended = after.transactions[known:]
        assert appended, "a decline was not recorded"
        assert not any(t.succeeded for t in appended), appended
        history = self.oms.history(before.id)
        assert len(history) == history_before + 1
        assert history[-1].trigger.endswith("_failed"), history[-1]
        assert history[-1].statuses == history[-1].from_statuses == view_statuses(before)
        check_history(history, after)
        assert self.fresh_card_balances() == self.card_balances, "a declined command moved a card"
        self.record(after, len(history))

    def record(self, view: OrderView, history_len: int) -> None:
        self.views[view.id] = view
        self.history_len[view.id] = history_len
        check_order(view, self.market(view))
        self.card_balances = self.fresh_card_balances()
        self.check_gift_cards()

    def check_gift_cards(self) -> None:
        """Never negative, never above the initial balance, and what is missing from a card is
        exactly what the orders holding it have taken."""
        for code, (_currency, initial) in self.cards.items():
            balance = self.card_balances[code]
            assert 0 <= balance <= initial, (code, balance, initial)
            held = sum(
                v.totals.gift_card.minor
                for v in self.views.values()
                if v.gift_card_code == code and holds_gift_card(v)
            )
            assert initial - balance == held, (code, initial, balance, held)

    def available(self, view: OrderView) -> list[str]:
        return self.oms.available_triggers(view.id)

    # -- carts --------------------------------------------------------------------------------

    @initialize(data=st.data())
    def first_order(self, data: st.DataObject) -> None:
        end = START + timedelta(days=MAX_DAYS_PER_STEP * (STEPS + 1))
        for market in self.markets.values():
            for promotion in market.promotions:
                assert promotion.starts_at is None or promotion.starts_at <= START
                assert promotion.expires_at is None or end < promotion.expires_at
        enabled = sorted(code for code, m in self.markets.items() if m.enabled)
        view = self.new_order(data.draw(st.sampled_from(enabled), label="market"), EMAILS[0])
        start = data.draw(st.sampled_from(["cart", "ready", "placed"]), label="start")
        if view is not None and start != "cart":
            self.fill_cart(view, data)
            if start == "placed":
                self.fire(self.views[view.id], "place")

    @rule(data=st.data())
    def create_order(self, data: st.DataObject) -> None:
        if len(self.order_ids) >= MAX_ORDERS:
            return  # (not a precondition: a disabled rule makes hypothesis retry its draws)
        code = data.draw(st.sampled_from([*sorted(self.markets), "XX"]), label="market")
        email = data.draw(st.sampled_from([None, *EMAILS, BAD_EMAILS[0]]), label="email")
        self.new_order(code, email)

    def new_order(self, code: str, email: str | None) -> OrderView | None:
        expected_ok = (
            code in self.markets
            and self.markets[code].enabled
            and (email is None or email in EMAILS)
        )
        count = len(self.oms.list_orders(archived=None, limit=1000))
        error: OMSError | None = None
        try:
            view = self.oms.create_order(code, customer_email=email)
        except OMSError as exc:
            error = exc
        event(f"create_order: {type(error).__name__ if error else 'ok'}")
        if error is not None:
            assert not expected_ok, error
            assert isinstance(error, InvalidOrderInput), error
            assert len(self.oms.list_orders(archived=None, limit=1000)) == count
            return None
        assert expected_ok, f"create_order({code!r}, {email!r}) succeeded"
        assert view == self.oms.get_order(view.id)
        assert view_statuses(view) == ("draft", "unpaid", "unfulfilled")
        assert view.currency == self.markets[code].currency
        assert view.customer_email == email
        assert view.number.startswith(f"{self.markets[code].number_prefix}-")
        history = self.oms.history(view.id)
        assert [h.trigger for h in history] == ["create"]
        self.order_ids.append(view.id)
        self.record(view, 1)
        return view

    @precondition(lambda self: self.order_ids)
    @rule(data=st.data())
    def edit_lines(self, data: st.DataObject) -> None:
        view = self.pick(data)
        skus = sorted(self.market(view).prices.items)
        op = data.draw(st.sampled_from(["add", "add", "update", "remove"]), label="op")
        if op == "add":
            sku = data.draw(st.sampled_from([*skus, UNKNOWN_SKU]), label="sku")
        else:
            in_cart = [line.sku for line in view.lines]
            sku = data.draw(st.sampled_from([*in_cart, *in_cart, UNKNOWN_SKU]), label="sku")
        quantity = data.draw(
            st.one_of(st.integers(1, 8), st.sampled_from([0, -1])), label="quantity"
        )
        known = sku in skus if op == "add" else any(line.sku == sku for line in view.lines)
        expect: Expect
        if op != "remove" and quantity <= 0:
            expect = InvalidOrderInput
        elif not editable(view):
            expect = TransitionNotAllowed
        else:
            expect = "ok" if known else InvalidOrderInput
        oms = self.oms
        if op == "add":
            call = lambda: oms.add_line_item(view.id, sku, quantity)  # noqa: E731
        elif op == "update":
            call = lambda: oms.update_line_item(view.id, sku, quantity)  # noqa: E731
        else:
            call = lambda: oms.remove_line_item(view.id, sku)  # noqa: E731
        after = self.do(f"{op}_line_item", view, call, expect)
        if after is not None:
            quantities = {line.sku: line.quantity for line in view.lines}
            if op == "add":
                quantities[sku] = quantities.get(sku, 0) + quantity
            elif op == "update":
                quantities[sku] = quantity
            else:
                del quantities[sku]
            assert {line.sku: line.quantity for line in after.lines} == quantities

    @precondition(lambda self: self.order_ids)
    @rule(data=st.data())
    def set_customer(self, data: st.DataObject) -> None:
        view = self.pick(data)
        email = data.draw(st.sampled_from([*EMAILS, *BAD_EMAILS]), label="email")
        expect: Expect = InvalidOrderInput
        if email in EMAILS:
            expect = "ok" if editable(view) else TransitionNotAllowed
        after = self.do("set_customer", view, lambda: self.oms.set_customer(view.id, email), expect)
        if after is not None:
            assert after.customer_email == email

    def address(self, view: OrderView, data: st.DataObject) -> dict[str, Any]:
        return {
            "name": data.draw(st.sampled_from(["Ada Lovelace", "Sato Hana"]), label="name"),
            "line1": "1 Main Street",
            "city": "Somewhere",
            "postal_code": "12345",
            "country": COUNTRIES.get(view.market, "IT"),
        }

    @precondition(lambda self: self.order_ids)
    @rule(data=st.data())
    def set_addresses(self, data: st.DataObject) -> None:
        view = self.pick(data)
        billing = self.address(view, data)
        shipping = data.draw(
            st.sampled_from([None, {**self.address(view, data), "line2": "Flat 2"}]),
            label="shipping",
        )
        broken = data.draw(
            st.sampled_from([None, None, "no_city", "bad_country", "extra_field"]),
            label="broken",
        )
        if broken == "no_city":
            del billing["city"]
        elif broken == "bad_country":
            billing["country"] = "Italy"
        elif broken == "extra_field":
            billing["planet"] = "Earth"
        expect: Expect = InvalidOrderInput
        if broken is None:
            expect = "ok" if editable(view) else TransitionNotAllowed
        after = self.do(
            "set_addresses",
            view,
            lambda: self.oms.set_addresses(view.id, billing, shipping),
            expect,
        )
        if after is not None:
            assert after.billing_address is not None
            assert after.shipping_address is not None
            assert after.billing_address.model_dump(exclude_none=True) == billing
            assert after.shipping_address.model_dump(exclude_none=True) == (shipping or billing)

    @precondition(lambda self: self.order_ids)
    @rule(data=st.data())
    def select_shipping_method(self, data: st.DataObject) -> None:
        view = self.pick(data)
        codes = [m.code for m in self.market(view).shipping_methods]
        code = data.draw(st.sampled_from([*codes, "teleport"]), label="shipping_method")
        expect: Expect = TransitionNotAllowed
        if editable(view):
            expect = "ok" if code in codes else InvalidOrderInput
        after = self.do(
            "select_shipping_method",
            view,
            lambda: self.oms.select_shipping_method(view.id, code),
            expect,
        )
        if after is not None:
            assert after.shipping_method == code

    def payment_choice(
        self, view: OrderView, data: st.DataObject, *, friendly: bool = False
    ) -> tuple[str, str | None]:
        market = self.market(view)
        codes = [m.code for m in market.payment_methods]
        code = data.draw(
            st.sampled_from(codes if friendly else [*codes, "barter"]), label="payment_method"
        )
        method = market.payment_method(code)
        tokens: list[str | None] = [None]
        if method is not None and method.gateway == "sandbox":
            tokens = list(SANDBOX_TOKENS)
            if friendly:  # valid input, but a card may still be declined at checkout
                tokens = ["tok_visa", "tok_chargeDeclined", "tok_mastercard"]
        if not friendly:
            tokens.append(CARD_NUMBER)
        return code, data.draw(st.sampled_from(tokens), label="payment_source")

    @precondition(lambda self: self.order_ids)
    @rule(data=st.data())
    def select_payment_method(self, data: st.DataObject) -> None:
        view = self.pick(data)
        code, token = self.payment_choice(view, data)
        expect: Expect
        if token == CARD_NUMBER:
            expect = InvalidOrderInput
        elif not editable(view):
            expect = TransitionNotAllowed
        else:
            expect = "ok" if self.market(view).payment_method(code) else InvalidOrderInput
        after = self.do(
            "select_payment_method",
            view,
            lambda: self.oms.select_payment_method(view.id, code, payment_source=token),
            expect,
        )
        if after is not None:
            assert after.payment_method == code
            self.sources[view.id] = token

    @precondition(lambda self: self.order_ids)
    @rule(data=st.data())
    def coupon(self, data: st.DataObject) -> None:
        view = self.pick(data)
        own = [p.coupon for p in self.market(view).promotions if p.coupon]
        code = data.draw(st.sampled_from([*own * 2, *COUPONS, None]), label="coupon")
        expect: Expect = TransitionNotAllowed
        if code is None:
            if editable(view):
                expect = "ok"
            after = self.do("remove_coupon", view, lambda: self.oms.remove_coupon(view.id), expect)
            if after is not None:
                assert after.coupon_code is None
            return
        promotion = self.market(view).coupon(code)
        if editable(view):
            expect = InvalidOrderInput
            if promotion is not None:
                minimum = promotion.minimum_order_amount
                if minimum is None or view.totals.subtotal.minor >= minimum.minor:
                    expect = "ok"
        after = self.do("apply_coupon", view, lambda: self.oms.apply_coupon(view.id, code), expect)
        if after is not None:
            assert promotion is not None
            assert after.coupon_code == promotion.coupon
            assert promotion.code in after.promotions

    @rule(data=st.data())
    def issue_gift_card(self, data: st.DataObject) -> None:
        code = data.draw(
            st.sampled_from([f"GC-{len(self.cards) + 1}", *list(self.cards)[:1]]), label="card"
        )
        # Mostly in the currency of an order, so that the card can be used.
        currencies = sorted({self.views[i].currency for i in self.order_ids})
        every = sorted({m.currency for m in self.markets.values()})
        currency = data.draw(st.sampled_from([*currencies * 3, *every]), label="currency")
        minor = data.draw(
            st.one_of(st.integers(1, 3000), st.integers(3000, 10**6), st.just(0)),
            label="balance",
        )
        self.new_gift_card(code, currency, minor)

    def new_gift_card(self, code: str, currency: str, minor: int) -> None:
        expected_ok = code not in self.cards and minor > 0
        error: OMSError | None = None
        try:
            card = self.oms.issue_gift_card(code, Money(minor, currency))
        except OMSError as exc:
            error = exc
        event(f"issue_gift_card: {type(error).__name__ if error else 'ok'}")
        if error is not None:
            assert not expected_ok, error
            assert isinstance(error, GiftCardError), error
            if code not in self.cards:
                with pytest.raises(GiftCardError):
                    self.oms.gift_card(code)  # the refused card was not created
            assert self.fresh_card_balances() == self.card_balances
            return
        assert expected_ok, f"issue_gift_card({code!r}, {minor}) succeeded"
        assert card.balance == card.initial_balance == Money(minor, currency)
        self.cards[code] = (currency, minor)
        self.card_balances = self.fresh_card_balances()

    @precondition(lambda self: self.order_ids)
    @rule(data=st.data())
    def apply_gift_card(self, data: st.DataObject) -> None:
        view = self.pick(data)
        fitting = [c for c, (currency, _) in self.cards.items() if currency == view.currency]
        code = data.draw(st.sampled_from([*fitting * 2, *self.cards, "GC-UNKNOWN"]), label="card")
        usable = (
            self.market(view).gift_cards.accepted
            and code in self.cards
            and self.cards[code][0] == view.currency
            and self.card_balances[code] > 0
        )
        expect: Expect = TransitionNotAllowed
        if editable(view):
            expect = "ok" if usable else GiftCardError
        after = self.do(
            "apply_gift_card", view, lambda: self.oms.apply_gift_card(view.id, code), expect
        )
        if after is not None:
            assert after.gift_card_code == code
            assert after.totals.gift_card.minor == min(
                self.card_balances[code], after.totals.gift_card.minor + after.totals.total.minor
            )

    @precondition(lambda self: self.order_ids)
    @rule(data=st.data())
    def refresh(self, data: st.DataObject) -> None:
        """Re-price a cart: only the gift card's balance can have changed since it was priced."""
        view = self.pick(data)
        expect: Expect = "ok" if editable(view) else TransitionNotAllowed
        after = self.do("refresh", view, lambda: self.oms.refresh(view.id), expect)
        if after is not None and view.gift_card_code is None:
            assert after.totals == view.totals
        if after is not None and view.gift_card_code is not None:
            gross = after.totals.gift_card.minor + after.totals.total.minor
            balance = self.card_balances[view.gift_card_code]
            assert after.totals.gift_card.minor == min(balance, gross)

    @precondition(lambda self: self.order_ids)
    @rule(data=st.data())
    def prepare_checkout(self, data: st.DataObject) -> None:
        """Fill in whatever a cart still lacks, with valid input (keeps checkouts reachable)."""
        self.fill_cart(self.pick(data), data)

    def fill_cart(self, view: OrderView, data: st.DataObject) -> None:
        if not editable(view):
            return
        market = self.market(view)
        oms = self.oms
        steps: list[tuple[str, Callable[[], OrderView]]] = []
        if not view.lines:
            sku = data.draw(st.sampled_from(sorted(market.prices.items)), label="sku")
            quantity = data.draw(st.one_of(st.integers(1, 3), st.integers(4, 9)), label="quantity")
            caps = [m.auto_capture_max_amount for m in market.payment_methods]
            cap = next((c.minor for c in caps if c is not None), None)
            if cap is not None and data.draw(st.booleans(), label="over_auto_capture_cap"):
                quantity = cap // max(market.prices.items[sku].price.minor, 1) + 1
            steps.append(("add_line_item", lambda: oms.add_line_item(view.id, sku, quantity)))
        if not view.customer_email:
            steps.append(("set_customer", lambda: oms.set_customer(view.id, EMAILS[0])))
        if view.billing_address is None:
            billing = self.address(view, data)
            steps.append(("set_addresses", lambda: oms.set_addresses(view.id, billing)))
        if view.shipping_method is None and market.shipping_methods:
            method = data.draw(
                st.sampled_from([m.code for m in market.shipping_methods]), label="shipping"
            )
            steps.append(
                ("select_shipping_method", lambda: oms.select_shipping_method(view.id, method))
            )
        if view.payment_method is None:
            code, token = self.payment_choice(view, data, friendly=True)
            steps.append(
                (
                    "select_payment_method",
                    lambda: oms.select_payment_method(view.id, code, payment_source=token),
                )
            )
        current: OrderView | None = view
        for what, call in steps:
            assert current is not None
            current = self.do(what, current, call, "ok")
            if what == "select_payment_method":
                self.sources[view.id] = token
        assert current is not None
        assert current.status == "pending", view_statuses(current)
        self.extras(current, data)

    def extras(self, view: OrderView, data: st.DataObject) -> None:
        """Sometimes a coupon, sometimes a new gift card paying part or all of the order."""
        market = self.market(view)
        coupons = [p for p in market.promotions if p.coupon]
        if coupons and data.draw(st.booleans(), label="with_coupon"):
            promotion = data.draw(st.sampled_from(coupons), label="coupon")
            minimum = promotion.minimum_order_amount
            enough = minimum is None or view.totals.subtotal.minor >= minimum.minor
            coupon = promotion.coupon or ""
            after = self.do(
                "apply_coupon",
                view,
                lambda: self.oms.apply_coupon(view.id, coupon),
                "ok" if enough else InvalidOrderInput,
            )
            view = after or view
        if market.gift_cards.accepted and data.draw(st.booleans(), label="with_gift_card"):
            total = view.totals.total.minor
            minor = data.draw(
                st.sampled_from([max(total // 3, 1), max(total, 1), total + 1, 10 * total + 7]),
                label="gift_card_balance",
            )
            code = f"GC-{len(self.cards) + 1}"
            self.new_gift_card(code, view.currency, minor)
            self.do("apply_gift_card", view, lambda: self.oms.apply_gift_card(view.id, code), "ok")

    # -- lifecycle ------------------------------------------------------------------------

    def fire(
        self,
        view: OrderView,
        trigger: str,
        amount: Any = None,
        key: str | None = None,
        available: list[str] | None = None,
    ) -> OrderView | None:
        """Run a lifecycle command. What must happen is predicted from the triggers the order
        makes available (``available``: already asked for ``view``), its ledger and the
        amount."""
        if available is None:
            available = self.available(view)
        assert "mark_pending" not in available, available  # carts are always up to date
        assert "mark_draft" not in available, available
        parsed: Money | None = amount
        if isinstance(amount, str):
            try:
                parsed = Money.parse(amount, view.currency)
            except MoneyError:
                parsed = None
        expect: Expect = "ok"
        if isinstance(amount, int):
            expect = InvalidOrderInput  # ambiguous: minor or major units?
        elif amount is not None and parsed is None:
            expect = MoneyError
        elif trigger not in available:
            expect = TransitionNotAllowed
        elif trigger in ("place", "authorize"):
            expect = self.checkout_outcome(view)
        elif trigger in ("capture", "refund") and parsed is not None:
            limit = capturable(view) if trigger == "capture" else refundable(view)
            if parsed.currency != view.currency or not 0 < parsed.minor <= limit:
                expect = PaymentAmountError

        oms = self.oms
        commands: dict[str, Callable[[], OrderView]] = {
            "place": lambda: oms.place(view.id, idempotency_key=key),
            "authorize": lambda: oms.authorize(view.id, idempotency_key=key),
            "approve": lambda: oms.approve(view.id, idempotency_key=key),
            "capture": lambda: oms.capture(view.id, amount, idempotency_key=key),
            "refund": lambda: oms.refund(view.id, amount, idempotency_key=key),
            "cancel": lambda: oms.cancel(view.id, idempotency_key=key),
            "archive": lambda: oms.archive(view.id, idempotency_key=key),
            "unarchive": lambda: oms.unarchive(view.id, idempotency_key=key),
        }
        call = commands.get(trigger, lambda: oms.advance(view.id, trigger, idempotency_key=key))
        after = self.do(trigger, view, call, expect)
        if after is not None:
            self.check_effect(view, after, trigger, parsed)
        elif expect is PaymentDeclined:
            failed = self.views[view.id].transactions[-1]
            assert failed.kind == "authorization", failed
            assert failed.amount == view.totals.total, failed
            assert failed.error_code == DECLINES[self.sources.get(view.id) or ""], failed
        return after

    def checkout_outcome(self, view: OrderView) -> Expect:
        """What ``place`` or ``authorize`` must do when the lifecycle allows it: take the gift
        card amount off the card (refused if the card no longer has it), then authorize the
        total (declined by the sandbox for some tokens)."""
        code = view.gift_card_code
        amount = view.totals.gift_card.minor
        if code and amount and not holds_gift_card(view) and self.card_balances[code] < amount:
            return GiftCardError
        method = self.market(view).payment_method(view.payment_method or "")
        needs_authorization = view.totals.total.minor > 0 and not has_authorization(view)
        if (
            needs_authorization
            and method is not None
            and method.gateway == "sandbox"
            and self.sources.get(view.id) in DECLINES
        ):
            return PaymentDeclined
        return "ok"

    def check_effect(
        self,
        before: OrderView,
        after: OrderView,
        trigger: str,
        amount: Money | None,
    ) -> None:
        """What a successful lifecycle command did to the ledger and the statuses."""
        moved = {
            kind: succeeded_sum(after, kind) - succeeded_sum(before, kind)
            for kind in ("authorization", "capture", "void", "refund")
        }
        if trigger == "capture":
            assert moved["capture"] == (amount.minor if amount else capturable(before)), moved
            assert after.status == before.status
        elif trigger == "refund":
            everything = refundable(before)
            assert moved["refund"] == (amount.minor if amount else everything), moved
            if amount is None or amount.minor == everything:
                # A full refund cancels the order and releases what is still only authorized.
                assert after.status == "cancelled", after.status
                assert moved["void"] == capturable(before), moved
            else:
                assert after.status == before.status
        elif trigger == "cancel":
            assert after.status == "cancelled"
            assert moved["refund"] == refundable(before), moved
            assert moved["void"] == capturable(before), moved  # the authorization is released
        elif trigger in ("place", "authorize"):
            assert after.status == "placed" or (trigger, after.status) == ("authorize", "pending")
            total = after.totals.total.minor
            if total > 0:
                assert has_authorization(after)
            # Entering ``placed`` captures at once when the payment method says so.
            method = self.market(after).payment_method(after.payment_method or "")
            cap = method.auto_capture_max_amount if method else None
            auto = bool(method and method.auto_capture and (cap is None or total <= cap.minor))
            expected = total if auto and after.status == "placed" else 0
            assert moved["capture"] == expected, (moved, total, after.payment_method)
        elif trigger == "approve":
            assert after.status not in (*EDITABLE, "placed", "cancelled"), after.status
        elif trigger == "archive":
            assert after.archived_at is not None
        elif trigger == "unarchive":
            assert after.archived_at is None
        else:
            assert trigger not in BUILTIN_TRIGGERS
            assert after.status != before.status, trigger
        if trigger not in ("place", "authorize", "capture"):
            assert moved["authorization"] == moved["capture"] == 0, moved
        if trigger not in ("refund", "cancel"):
            assert moved["refund"] == moved["void"] == 0, moved
        if trigger not in ("place", "authorize"):
            assert after.totals == before.totals, "totals changed after checkout"

    @precondition(lambda self: self.order_ids)
    @rule(data=st.data(), trigger=st.sampled_from(["place", "place", "authorize"]))
    def checkout(self, data: st.DataObject, trigger: str) -> None:
        self.fire(self.pick(data, lambda v: v.status == "pending"), trigger)

    @precondition(lambda self: self.order_ids)
    @rule(data=st.data())
    def approve(self, data: st.DataObject) -> None:
        self.fire(self.pick(data, lambda v: v.status == "placed"), "approve")

    @precondition(lambda self: self.order_ids)
    @rule(data=st.data())
    def advance_step(self, data: st.DataObject) -> None:
        """Fire a policy step's trigger (or a bogus or built-in one, which must be refused)."""
        view = self.pick(data)
        available = self.available(view)
        custom = [t for t in available if t not in BUILTIN_TRIGGERS]
        declared = sorted(
            {
                step.exit_trigger
                for market in self.markets.values()
                for step in (*market.steps, *(s for m in market.payment_methods for s in m.steps))
            }
        )
        trigger = data.draw(
            st.sampled_from([*custom, *custom, *declared, "teleport", "approve"]),
            label="trigger",
        )
        if trigger in BUILTIN_TRIGGERS:
            self.do("advance", view, lambda: self.oms.advance(view.id, trigger), InvalidOrderInput)
        else:
            self.fire(view, trigger, available=available)

    def amount(self, view: OrderView, limit: int, data: st.DataObject) -> Any:
        currency = view.currency
        choices: list[st.SearchStrategy[Any]] = [
            st.none(),
            st.just(Money(limit + 1, currency)),  # too large
            st.just(Money(0, currency)),
            st.just(Money(-1, currency)),
            st.just(Money(1, "KWD" if currency != "KWD" else "EUR")),  # another currency
            st.just("0.0001"),  # more decimals than any currency has
            st.just(5),  # an int is ambiguous (minor or major units?): refused
        ]
        if limit > 0:
            choices += [
                st.just(Money(limit, currency)),
                st.integers(1, limit).map(lambda minor: Money(minor, currency)),
                st.integers(1, limit).map(lambda minor: str(Money(minor, currency).amount)),
            ]
        return data.draw(st.one_of(choices), label="amount")

    @precondition(lambda self: self.order_ids)
    @rule(data=st.data())
    def capture(self, data: st.DataObject) -> None:
        view = self.pick(data, lambda v: capturable(v) > 0 and v.status != "cancelled")
        self.fire(view, "capture", self.amount(view, capturable(view), data))

    @precondition(lambda self: self.order_ids)
    @rule(data=st.data())
    def refund(self, data: st.DataObject) -> None:
        view = self.pick(data, lambda v: refundable(v) > 0)
        self.fire(view, "refund", self.amount(view, refundable(view), data))

    @precondition(lambda self: self.order_ids)
    @rule(data=st.data())
    def move_money(self, data: st.DataObject) -> None:
        """A valid capture or refund, of everything or of a part (partial captures add up;
        refunding everything captured cancels the order and voids the rest)."""
        view = self.pick(data, lambda v: capturable(v) > 0 or refundable(v) > 0)
        trigger = data.draw(st.sampled_from(["capture", "refund"]), label="trigger")
        limit = capturable(view) if trigger == "capture" else refundable(view)
        how = data.draw(st.sampled_from(["all", "part", "part", "exactly_all"]), label="how")
        amount: Money | None = None
        if how == "exactly_all":
            amount = Money(limit, view.currency) if limit > 0 else None
        elif how == "part" and limit > 1:
            amount = Money(data.draw(st.integers(1, limit - 1), label="part"), view.currency)
        self.fire(view, trigger, amount)

    @precondition(lambda self: self.order_ids)
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        self.fire(self.pick(data, lambda v: v.status not in ("draft", "cancelled")), "cancel")

    @precondition(lambda self: self.order_ids)
    @rule(data=st.data(), trigger=st.sampled_from(["archive", "unarchive"]))
    def archive(self, data: st.DataObject, trigger: str) -> None:
        self.fire(self.pick(data), trigger)

    @precondition(lambda self: self.order_ids)
    @rule(
        data=st.data(),
        trigger=st.sampled_from(["place", "approve", "capture", "refund", "cancel"]),
        other=st.sampled_from(["approve", "cancel", "archive"]),
    )
    def idempotent_retry(self, data: st.DataObject, trigger: str, other: str) -> None:
        """A command retried with its idempotency key answers the first response and changes
        nothing; the key reused for another command is refused and changes nothing."""
        view = self.pick(data)
        self.keys += 1
        key = f"key-{self.keys}"
        first = self.fire(view, trigger, key=key)
        if first is None:
            return
        oms = self.oms
        if trigger in ("capture", "refund"):
            retry = getattr(oms, trigger)(view.id, None, idempotency_key=key)
        else:
            retry = getattr(oms, trigger)(view.id, idempotency_key=key)
        assert retry == first, "a retried command answered something else"
        after = self.oms.get_order(view.id)
        assert after == self.views[view.id], "a retried command changed the order"
        assert len(self.oms.history(view.id)) == self.history_len[view.id]
        if other != trigger:
            self.do(
                other, after, lambda: getattr(oms, other)(view.id, idempotency_key=key),
                IdempotencyConflict,
            )  # fmt: skip

    # -- shipments ------------------------------------------------------------------------

    def shipment_command(self, view: OrderView, trigger: str, number: str | None) -> None:
        if number is None:
            target = view.shipments[0] if len(view.shipments) == 1 else None
        else:
            target = next((s for s in view.shipments if s.number == number), None)
        allowed = (
            target is not None
            and trigger in SHIPMENT_SOURCES
            and (trigger == "cancel" or view.fulfillment_status in ("in_progress", "fulfilled"))
            and target.status in SHIPMENT_SOURCES[trigger]
        )
        expect: Expect = "ok" if allowed else TransitionNotAllowed
        oms = self.oms
        if trigger == "ship":
            call = lambda: oms.ship(view.id, number, tracking_number="TRK-1")  # noqa: E731
        elif trigger == "deliver":
            call = lambda: oms.deliver(view.id, number)  # noqa: E731
        else:
            call = lambda: oms.update_shipment(view.id, trigger, number)  # noqa: E731
        after = self.do(f"shipment.{trigger}", view, call, expect)
        if after is None:
            return
        assert target is not None
        moved = next(s for s in after.shipments if s.number == target.number)
        assert moved.status == SHIPMENT_DEST[trigger], (trigger, moved)
        assert after.status == view.status
        assert after.transactions == view.transactions
        assert after.totals == view.totals
        if trigger == "ship":
            assert moved.tracking_number == "TRK-1"
            live = [s for s in after.shipments if s.status != "cancelled"]
            if after.status == "approved" and all(s.status in SHIPPED for s in live):
                assert after.fulfillment_status == "fulfilled", view_statuses(after)
        else:
            assert after.fulfillment_status == view.fulfillment_status

    @precondition(lambda self: self.order_ids)
    @rule(data=st.data())
    def shipment(self, data: st.DataObject) -> None:
        view = self.pick(data, lambda v: bool(v.shipments))
        trigger = data.draw(
            st.sampled_from(["ship", "ship", "deliver", *SHIPMENT_SOURCES, "teleport"]),
            label="shipment_trigger",
        )
        number = data.draw(
            st.sampled_from([None, *(s.number for s in view.shipments), "NOPE/9"]),
            label="shipment",
        )
        self.shipment_command(view, trigger, number)

    # -- driving orders forward -----------------------------------------------------------

    def progress_once(self, view: OrderView, data: st.DataObject) -> OrderView | None:
        if editable(view):
            ships = any(line.requires_shipping for line in view.lines)
            if not (
                view.lines
                and view.customer_email
                and view.billing_address
                and view.payment_method
                and (view.shipping_method or not ships)
            ):
                self.fill_cart(view, data)
                return self.views[view.id]
            if self.sources.get(view.id) in DECLINES and data.draw(st.booleans(), label="retry"):
                # Declined before: pay with another card, as a customer would.
                method = view.payment_method or ""
                after = self.do(
                    "select_payment_method",
                    view,
                    lambda: self.oms.select_payment_method(view.id, method, payment_source=None),
                    "ok",
                )
                self.sources[view.id] = None
                return after
            return self.fire(view, data.draw(st.sampled_from(["place", "place", "authorize"])))
        available = self.available(view)
        options = [t for t in available if t != "fulfill"]
        forward = [t for t in options if t not in ("cancel", "refund", "unarchive")]
        shipment = view.shipments[0] if view.shipments else None
        if shipment is not None and view.fulfillment_status in ("in_progress", "fulfilled"):
            if shipment.status in SHIPMENT_SOURCES["ship"]:
                forward.append("ship")
            elif shipment.status == "shipped":
                forward.append("deliver")
        choice = data.draw(st.sampled_from([*forward * 3, *options, "stop"]), label="move")
        if choice == "stop":
            return None
        if choice in ("ship", "deliver"):
            self.shipment_command(view, choice, None)
            return self.views[view.id]
        if choice in ("capture", "refund") and data.draw(st.booleans(), label="partial"):
            limit = capturable(view) if choice == "capture" else refundable(view)
            part = data.draw(st.integers(1, max(limit, 1)), label="part")
            return self.fire(view, choice, Money(part, view.currency), available=available)
        return self.fire(view, choice, available=available)

    def drive(self, data: st.DataObject, moves: int) -> None:
        view: OrderView | None = self.pick(data, lambda v: v.status != "cancelled")
        for _ in range(moves):
            if view is None:
                return
            view = self.progress_once(view, data)

    @precondition(lambda self: self.order_ids)
    @rule(data=st.data(), moves=st.integers(1, 6))
    def progress(self, data: st.DataObject, moves: int) -> None:
        """Take an order a few natural steps further along its lifecycle."""
        self.drive(data, moves)

    @precondition(lambda self: self.order_ids)
    @rule(data=st.data(), moves=st.integers(1, 6))
    def progress_more(self, data: st.DataObject, moves: int) -> None:
        self.drive(data, moves)

    @rule(
        days=st.one_of(st.integers(0, 3), st.integers(0, MAX_DAYS_PER_STEP)),
        hours=st.integers(0, 23),
    )
    def advance_clock(self, days: int, hours: int) -> None:
        self.now += timedelta(days=days, hours=hours)

    # -- after every rule -----------------------------------------------------------------

    @invariant()
    def every_order_and_card(self) -> None:
        fresh = {v.id: v for v in self.oms.list_orders(archived=None, limit=1000)}
        assert sorted(fresh) == sorted(self.order_ids)
        for order_id, view in fresh.items():
            # The stored order is the view its last command returned (and was checked):
            # nothing changed it since, not even commands on other orders.
            assert view == self.views[order_id], "the stored order is not the last view returned"
            check_order(view, self.market(view))
            event(f"reached {view.market} {'/'.join(view_statuses(view))}")
        self.card_balances = self.fresh_card_balances()
        self.check_gift_cards()
        self.check_sandbox_books(fresh.values())

    def check_sandbox_books(self, views: Iterable[OrderView]) -> None:
        """The sandbox gateway's own books agree with the orders' ledgers: no money moved
        without being recorded, nothing recorded that did not move."""
        # Duck-typed: the sandbox gateway keeps its own books (``authorizations``, ``captures``).
        sandbox: Any = self.oms.gateways["sandbox"]
        rows = [t for v in views for t in v.transactions if t.succeeded and t.gateway == "sandbox"]
        authorizations = {t.reference: t for t in rows if t.kind == "authorization"}
        captures = {t.reference: t for t in rows if t.kind == "capture"}
        assert set(authorizations) == set(sandbox.authorizations)
        assert set(captures) == set(sandbox.captures)
        for reference, auth in sandbox.authorizations.items():
            assert auth.amount == authorizations[reference].amount
        for reference, capture in sandbox.captures.items():
            assert capture.amount == captures[reference].amount
        for view in views:
            auth = next((t for t in view.transactions if t.reference in authorizations), None)
            if auth is None or auth.reference is None:
                continue
            booked = sandbox.authorizations[auth.reference]
            assert booked.captured.minor == succeeded_sum(view, "capture"), view.transactions
            assert booked.voided == (succeeded_sum(view, "void") > 0), view.transactions
            own = [t.reference for t in view.transactions if t.reference in captures]
            refunded = sum(sandbox.captures[r].refunded.minor for r in own if r is not None)
            assert refunded == succeeded_sum(view, "refund"), view.transactions
        for currency in {v.currency for v in views}:
            in_currency = [t for t in rows if t.amount.currency == currency]
            captured = sum(t.amount.minor for t in in_currency if t.kind == "capture")
            refunded = sum(t.amount.minor for t in in_currency if t.kind == "refund")
            assert sandbox.captured_total(currency).minor == captured
            assert sandbox.refunded_total(currency).minor == refunded


TestOMSStateful = OMSMachine.TestCase
TestOMSStateful.settings = settings(
    max_examples=200,
    stateful_step_count=STEPS,
    deadline=None,
    print_blob=True,
    # No explain phase: tracing every line of a shrunk example makes shrinking ~10x slower.
    phases=[phase for phase in Phase if phase is not Phase.explain],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
