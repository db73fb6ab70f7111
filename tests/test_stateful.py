"""Stateful property test: random command sequences through the ``OMS`` facade, every market.

A hypothesis ``RuleBasedStateMachine`` opens a fresh OMS on the example policies and an in-memory
SQLite database for every example, then drives carts, checkouts, payments, policy steps,
shipments, gift cards and archiving with valid and invalid input. Every command may fail with an
``OMSError``; anything else fails the test. After every command the order it touched is checked
against an independent model (price list totals, ledger-derived ``payment_status``, history), and
after every rule every order, every gift card and the sandbox gateway's books are checked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, settings
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
    InvalidOrderInput,
    MarketPolicy,
    Money,
    MoneyError,
    OMSError,
    OrderView,
    PaymentAmountError,
    PaymentDeclined,
    TransitionNotAllowed,
)
from oms_sdk.lifecycle import BUILTIN_TRIGGERS
from oms_sdk.payments import SandboxGateway

CONFIG = Path(__file__).resolve().parents[1] / "config_examples"

#: The controllable clock starts here; ``advance_clock`` moves it by at most 40 days a step, so
#: a whole example stays inside every example promotion's validity window (checked below).
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MAX_DAYS_PER_STEP = 40
STEPS = 30
MAX_ORDERS = 4

EDITABLE = ("draft", "pending")
LIVE_PAYMENT = {"authorized", "paid", "partially_paid", "partially_refunded", "free"}
CANCELLED_PAYMENT = {"unpaid", "voided", "refunded", "free"}
UNKNOWN_SKU = "NO-SUCH-SKU"
SANDBOX_TOKENS = (
    "tok_visa",
    "tok_visa",
    "tok_mastercard",
    "tok_chargeDeclined",
    "tok_chargeDeclinedInsufficientFunds",
    "tok_gatewayError",
    "tok_unknownToken",
    None,
)
CARD_NUMBER = "4242 4242 4242 4242"
EMAILS = ("ada@example.com", "grace.hopper@example.org")
BAD_EMAILS = ("not-an-email", "a@b", "two@@example.com")
COUPONS = ("WELCOME10", "welcome10", "SUMMER500", "NOPE-COUPON")
COUNTRIES = {"EU": "IT", "JP": "JP", "NO": "NO", "US": "US", "KW": "KW"}

#: The shipment lifecycle, written out independently of ``oms_sdk.lifecycle._shipments``.
PRE_SHIP = ("upcoming", "on_hold", "picking", "packing", "ready_to_ship")
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


# -- an independent model of the rules --------------------------------------------------------


def _round_half_even(value: Fraction) -> int:
    return round(value)  # round() of a Fraction is half-even, the SDK's documented rounding


def succeeded_sum(view: OrderView, kind: str) -> int:
    return sum(t.amount.minor for t in view.transactions if t.succeeded and t.kind == kind)


def expected_payment_status(view: OrderView) -> str:
    """``payment_status`` recomputed from the ledger, as ``Order.derive_payment_status`` says."""
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


def has_authorization(view: OrderView) -> bool:
    return any(t.succeeded and t.kind == "authorization" for t in view.transactions)


def editable(view: OrderView) -> bool:
    return view.status in EDITABLE and not has_authorization(view)


def holds_gift_card(view: OrderView) -> bool:
    """Whether the order's gift card amount is taken off the card (reserved at place/authorize,
    released at cancel)."""
    return view.status != "cancelled" and (view.placed_at is not None or has_authorization(view))


def capturable(view: OrderView) -> int:
    return max(
        succeeded_sum(view, "authorization")
        - succeeded_sum(view, "capture")
        - succeeded_sum(view, "void"),
        0,
    )


def refundable(view: OrderView) -> int:
    return succeeded_sum(view, "capture") - succeeded_sum(view, "refund")


def check_totals(view: OrderView, market: MarketPolicy) -> None:
    """The totals are the price list's: recomputed here without the SDK's pricing code."""
    currency = market.currency
    totals = view.totals
    for name in (
        "subtotal",
        "discount",
        "shipping",
        "payment_surcharge",
        "tax",
        "gift_card",
        "total",
    ):
        assert getattr(totals, name).currency == currency, (name, totals)
    assert totals.tax_included == market.prices.tax_included

    subtotal = 0
    for line in view.lines:
        item = market.prices.items[line.sku]
        assert line.unit_price == Money(item.price.minor, currency), line
        assert line.quantity > 0, line
        assert line.amount == Money(item.price.minor * line.quantity, currency), line
        assert line.requires_shipping == item.requires_shipping, line
        assert line.discount.currency == currency
        subtotal += item.price.minor * line.quantity
    assert totals.subtotal.minor == subtotal, (totals, view.lines)
    assert len({line.sku for line in view.lines}) == len(view.lines), "duplicate SKU lines"

    # Promotions: automatic ones first, then the coupon; each on what the earlier ones left.
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
            discount += _round_half_even(Fraction(left) * Fraction(promotion.percentage) / 100)
        else:
            discount += min(promotion.amount.minor, left)
        applied.append(promotion.code)
    discount = min(discount, subtotal)
    assert totals.discount.minor == discount, (totals, view.coupon_code)
    assert list(view.promotions) == applied, (view.promotions, applied)
    assert sum(line.discount.minor for line in view.lines) == discount, view.lines
    for line in view.lines:
        exact = Fraction(discount * line.amount.minor, subtotal) if subtotal else Fraction(0)
        assert int(exact) <= line.discount.minor <= -(-exact // 1), (line, discount)
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
        tax = _round_half_even(taxable * rate / (100 + rate))
        gross = taxable
    else:
        tax = _round_half_even(taxable * rate / 100)
        gross = taxable + tax
    assert totals.tax.minor == tax >= 0, totals
    gift = totals.gift_card.minor
    assert 0 <= gift <= gross, totals
    if view.gift_card_code is None:
        assert gift == 0, totals
    # The brief's formula, spelled out for both tax styles.
    expected_total = subtotal - discount + shipping + surcharge - gift
    if not market.prices.tax_included:
        expected_total += tax
    assert totals.total.minor == expected_total >= 0, totals


def check_ledger(view: OrderView) -> None:
    currency = view.currency
    for t in view.transactions:
        assert t.amount.currency == currency, t
        assert t.amount.minor > 0, t
        assert t.kind in ("authorization", "capture", "void", "refund"), t
        if t.succeeded:
            assert t.reference and t.error_code is None, t
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
        # An authorization is always for the whole amount the payment method covers.
        assert authorized == view.totals.total.minor, (authorized, view.totals)
    assert view.payment_status == expected_payment_status(view), (
        view.payment_status,
        view.totals.total,
        view.transactions,
    )


def check_statuses(view: OrderView, market: MarketPolicy) -> None:
    status, payment, fulfillment = view.status, view.payment_status, view.fulfillment_status
    statuses = (status, payment, fulfillment)
    kinds = {t.kind for t in view.transactions if t.succeeded}
    requires_shipping = any(line.requires_shipping for line in view.lines)
    pre_shipped = [s for s in view.shipments if s.status in PRE_SHIP]
    shipped = [s for s in view.shipments if s.status in ("shipped", "delivered")]

    if status in EDITABLE:
        assert view.placed_at is None and view.approved_at is None, statuses
        assert view.cancelled_at is None and view.archived_at is None, statuses
        assert fulfillment == "unfulfilled" and not view.shipments, statuses
        assert kinds <= {"authorization"}, view.transactions
        assert payment in ("unpaid", "authorized", "free"), statuses
        if not has_authorization(view):
            # mark_pending / mark_draft keep the cart's status in step with its content.
            ready = bool(view.lines) and bool(view.customer_email)
            assert (status == "pending") == ready, (statuses, view.customer_email, view.lines)
        else:
            assert status == "pending", statuses
    else:
        assert view.placed_at is not None or status == "cancelled", statuses
    if status == "draft":
        assert not kinds, view.transactions

    if view.placed_at is not None:
        assert view.lines and view.customer_email and view.billing_address, view
        if requires_shipping:
            assert len(view.shipments) == 1, view.shipments
            assert view.shipments[0].number == f"{view.number}/1"
            assert view.shipping_address is not None and view.shipping_method is not None
            assert fulfillment != "not_required", statuses
        else:
            assert not view.shipments, view.shipments
            assert fulfillment == "not_required", statuses
    else:
        assert not view.shipments and fulfillment == "unfulfilled", statuses

    if status not in (*EDITABLE, "cancelled"):
        assert payment in LIVE_PAYMENT, statuses
        if payment != "free":
            assert has_authorization(view), view.transactions
    if status == "approved":
        assert view.approved_at is not None, statuses
    if fulfillment == "fulfilled":
        assert status in ("approved", "cancelled"), statuses
        assert view.approved_at is not None and shipped and not pre_shipped, view.shipments
    if fulfillment == "in_progress":
        assert status == "approved", statuses
    if status == "cancelled":
        assert view.cancelled_at is not None, statuses
        assert payment in CANCELLED_PAYMENT, statuses
        assert not pre_shipped, view.shipments
        assert fulfillment != "in_progress", statuses
        # Nothing is left captured, and no authorization is left open on the customer's card.
        assert refundable(view) == 0, view.transactions
        assert capturable(view) == 0, (statuses, view.transactions)
    else:
        assert view.cancelled_at is None, statuses
    if view.archived_at is not None:
        assert status in ("approved", "cancelled"), statuses
    for shipment in view.shipments:
        assert (shipment.shipped_at is not None) == (shipment.status in ("shipped", "delivered"))
        assert (shipment.delivered_at is not None) == (shipment.status == "delivered")


def check_order(view: OrderView, market: MarketPolicy) -> None:
    assert view.currency == market.currency
    check_totals(view, market)
    check_ledger(view)
    check_statuses(view, market)


# -- the state machine -------------------------------------------------------------------------


class OMSMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = START
        self.oms = OMS.open(str(CONFIG), "sqlite://", clock=lambda: self.now)
        self.markets: dict[str, MarketPolicy] = {m.code: m for m in self.oms.policies}
        self.order_ids: list[str] = []
        self.views: dict[str, OrderView] = {}
        self.history_len: dict[str, int] = {}
        self.cards: dict[str, tuple[str, int]] = {}  # code -> (currency, initial balance)
        self.card_balances: dict[str, int] = {}
        self.touched: set[str] = set()

    def teardown(self) -> None:
        self.oms.close()

    # -- helpers --------------------------------------------------------------------------

    def market(self, view: OrderView) -> MarketPolicy:
        return self.markets[view.market]

    def pick(self, data: st.DataObject) -> OrderView:
        return self.views[data.draw(st.sampled_from(self.order_ids), label="order")]

    def fresh_card_balances(self) -> dict[str, int]:
        balances = {}
        for code, (currency, initial) in self.cards.items():
            card = self.oms.gift_card(code)
            assert card.balance.currency == card.initial_balance.currency == currency
            assert card.initial_balance.minor == initial
            balances[code] = card.balance.minor
        return balances

    def do(
        self,
        what: str,
        view: OrderView,
        call: Callable[[], OrderView],
        expect: Expect = None,
        *,
        tolerate: tuple[type[OMSError], ...] = (),
    ) -> OrderView | None:
        """Run one command on ``view``'s order and check what it did (or did not do)."""
        oid = view.id
        before = self.views[oid]
        assert before == view
        history_before = self.history_len[oid]
        self.touched.add(oid)
        error: OMSError | None = None
        try:
            returned = call()
        except OMSError as exc:
            error = exc
        event(f"{what}: {type(error).__name__ if error else 'ok'}")
        if error is not None:
            if expect == "ok":
                assert isinstance(error, tolerate), (
                    f"{what}: expected success, got {type(error).__name__}: {error}"
                )
            elif expect is not None:
                assert _expects(expect, error), (what, expect, type(error).__name__, str(error))
            if isinstance(error, PaymentDeclined):
                self.after_declined(before, history_before)
            else:
                self.after_refused(before, history_before)
            return None
        assert expect in (None, "ok"), f"{what}: expected {expect}, but it succeeded"
        after = self.oms.get_order(oid)
        assert returned == after, "the returned view differs from the stored order"
        history = self.oms.history(oid)
        assert len(history) == history_before + 1, [h.trigger for h in history]
        assert history[-1].from_statuses == (
            before.status,
            before.payment_status,
            before.fulfillment_status,
        )
        assert history[-1].statuses == (
            after.status,
            after.payment_status,
            after.fulfillment_status,
        )
        if history[-1].amount is not None:
            assert history[-1].amount.currency == after.currency
        # The ledger is append-only.
        assert after.transactions[: len(before.transactions)] == before.transactions
        assert after.number == before.number and after.market == before.market
        assert after.created_at == before.created_at
        self.record(after, len(history))
        return after

    def after_refused(self, before: OrderView, history_before: int) -> None:
        """A refused command changes nothing: order, history, gift cards."""
        after = self.oms.get_order(before.id)
        assert after == before, "a refused command changed the order"
        assert len(self.oms.history(before.id)) == history_before
        assert self.fresh_card_balances() == self.card_balances, "a refused command moved a card"

    def after_declined(self, before: OrderView, history_before: int) -> None:
        """A decline keeps statuses and totals; only the failed transactions are appended."""
        after = self.oms.get_order(before.id)
        assert (after.status, after.payment_status, after.fulfillment_status) == (
            before.status,
            before.payment_status,
            before.fulfillment_status,
        )
        assert after.totals == before.totals
        assert after.lines == before.lines and after.shipments == before.shipments
        assert after.placed_at == before.placed_at
        known = len(before.transactions)
        assert after.transactions[:known] == before.transactions
        appended = after.transactions[known:]
        assert appended and all(not t.succeeded for t in appended), appended
        history = self.oms.history(before.id)
        assert len(history) == history_before + 1
        assert history[-1].trigger.endswith("_failed"), history[-1]
        assert history[-1].statuses == history[-1].from_statuses
        assert self.fresh_card_balances() == self.card_balances, "a declined command moved a card"
        self.record(after, len(history))

    def record(self, view: OrderView, history_len: int) -> None:
        self.views[view.id] = view
        self.history_len[view.id] = history_len
        check_order(view, self.market(view))
        self.card_balances = self.fresh_card_balances()
        self.check_gift_cards()

    def check_gift_cards(self) -> None:
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

    # -- carts ----------------------------------------------------------------------------

    @initialize(data=st.data())
    def first_order(self, data: st.DataObject) -> None:
        for market in self.markets.values():
            for promotion in market.promotions:
                end = START + timedelta(days=MAX_DAYS_PER_STEP * (STEPS + 1))
                assert promotion.starts_at is None or promotion.starts_at <= START
                assert promotion.expires_at is None or end < promotion.expires_at
        self.new_order(data)

    @precondition(lambda self: len(self.order_ids) < MAX_ORDERS)
    @rule(data=st.data())
    def create_order(self, data: st.DataObject) -> None:
        self.new_order(data)

    def new_order(self, data: st.DataObject) -> None:
        code = data.draw(st.sampled_from([*sorted(self.markets), "XX"]), label="market")
        email = data.draw(st.sampled_from([None, *EMAILS, BAD_EMAILS[0]]), label="email")
        expected_ok = (
            code in self.markets
            and self.markets[code].enabled
            and (email is None or email in EMAILS)
        )
        count = len(self.oms.list_orders(archived=None, limit=1000))
        try:
            view = self.oms.create_order(code, customer_email=email)
        except OMSError as error:
            assert not expected_ok, error
            assert isinstance(error, InvalidOrderInput), error
            assert len(self.oms.list_orders(archived=None, limit=1000)) == count
            return
        assert expected_ok, f"create_order({code!r}, {email!r}) succeeded"
        assert view == self.oms.get_order(view.id)
        assert view.status == "draft" and view.currency == self.markets[code].currency
        assert view.number.startswith(f"{self.markets[code].number_prefix}-")
        history = self.oms.history(view.id)
        assert [h.trigger for h in history] == ["create"]
        self.order_ids.append(view.id)
        self.touched.add(view.id)
        self.record(view, 1)

    @precondition(lambda self: self.order_ids)
    @rule(data=st.data())
    def edit_lines(self, data: st.DataObject) -> None:
        view = self.pick(data)
        market = self.market(view)
        op = data.draw(st.sampled_from(["add", "add", "update", "remove"]), label="op")
        skus = sorted(market.prices.items)
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
        if op == "add":
            after = self.do(
                "add_line_item",
                view,
                lambda: self.oms.add_line_item(view.id, sku, quantity),
                expect,
            )
        elif op == "update":
            after = self.do(
                "update_line_item",
                view,
                lambda: self.oms.update_line_item(view.id, sku, quantity),
                expect,
            )
        else:
            after = self.do(
                "remove_line_item", view, lambda: self.oms.remove_line_item(view.id, sku), expect
            )
        if after is not None:
            old = {line.sku: line.quantity for line in view.lines}
            new = {line.sku: line.quantity for line in after.lines}
            if op == "add":
                old[sku] = old.get(sku, 0) + quantity
            elif op == "update":
                old[sku] = quantity
            else:
                del old[sku]
            assert new == old

    @precondition(lambda self: self.order_ids)
    @rule(data=st.data())
    def set_customer(self, data: st.DataObject) -> None:
        view = self.pick(data)
        email = data.draw(st.sampled_from([*EMAILS, *BAD_EMAILS]), label="email")
        expect: Expect = (
            InvalidOrderInput
            if email in BAD_EMAILS
            else ("ok" if editable(view) else TransitionNotAllowed)
        )
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
            st.sampled_from([None, self.address(view, data) | {"line2": "Flat 2"}]),
            label="shipping",
        )
        broken = data.draw(
            st.sampled_from([None, "no_city", "bad_country", "extra_field"]), label="broken"
        )
        if broken == "no_city":
            del billing["city"]
        elif broken == "bad_country":
            billing["country"] = "Italy"
        elif broken == "extra_field":
            billing["planet"] = "Earth"
        expect: Expect = (
            InvalidOrderInput if broken else ("ok" if editable(view) else TransitionNotAllowed)
        )
        after = self.do(
            "set_addresses",
            view,
            lambda: self.oms.set_addresses(view.id, billing, shipping),
            expect,
        )
        if after is not None:
            assert after.billing_address is not None
            assert after.billing_address.model_dump(exclude_none=True) == billing
            assert after.shipping_address is not None
            assert after.shipping_address.model_dump(exclude_none=True) == (
                billing if shipping is None else shipping
            )

    @precondition(lambda self: self.order_ids)
    @rule(data=st.data())
    def select_shipping_method(self, data: st.DataObject) -> None:
        view = self.pick(data)
        codes = [m.code for m in self.market(view).shipping_methods]
        code = data.draw(st.sampled_from([*codes, "teleport"]), label="shipping_method")
        expect: Expect = (
            TransitionNotAllowed
            if not editable(view)
            else ("ok" if code in codes else InvalidOrderInput)
        )
        self.do(
            "select_shipping_method",
            view,
            lambda: self.oms.select_shipping_method(view.id, code),
            expect,
        )

    def payment_choice(
        self, view: OrderView, data: st.DataObject, *, friendly: bool = False
    ) -> tuple[str, str | None]:
        methods = self.market(view).payment_methods
        codes = [m.code for m in methods]
        code = data.draw(
            st.sampled_from(codes if friendly else [*codes, "barter"]), label="payment_method"
        )
        method = self.market(view).payment_method(code)
        if method is not None and method.gateway == "sandbox":
            tokens: list[str | None] = ["tok_visa"] if friendly else list(SANDBOX_TOKENS)
        else:
            tokens = [None]
        if not friendly:
            tokens.append(CARD_NUMBER)
        token = data.draw(st.sampled_from(tokens), label="payment_source")
        return code, token

    @precondition(lambda self: self.order_ids)
    @rule(data=st.data())
    def select_payment_method(self, data: st.DataObject) -> None:
        view = self.pick(data)
        code, token = self.payment_choice(view, data)
        codes = [m.code for m in self.market(view).payment_methods]
        expect: Expect
        if token == CARD_NUMBER:
            expect = InvalidOrderInput
        elif not editable(view):
            expect = TransitionNotAllowed
        else:
            expect = "ok" if code in codes else InvalidOrderInput
        after = self.do(
            "select_payment_method",
            view,
            lambda: self.oms.select_payment_method(view.id, code, payment_source=token),
            expect,
        )
        if after is not None:
            assert after.payment_method == code

    @precondition(lambda self: self.order_ids)
    @rule(data=st.data())
    def coupon(self, data: st.DataObject) -> None:
        view = self.pick(data)
        code = data.draw(st.sampled_from([*COUPONS, None]), label="coupon")
        if code is None:
            expect: Expect = "ok" if editable(view) else TransitionNotAllowed
            after = self.do("remove_coupon", view, lambda: self.oms.remove_coupon(view.id), expect)
            if after is not None:
                assert after.coupon_code is None
            return
        promotion = self.market(view).coupon(code)
        if not editable(view):
            expect = TransitionNotAllowed
        elif promotion is None:
            expect = InvalidOrderInput
        else:
            minimum = promotion.minimum_order_amount
            enough = minimum is None or view.totals.subtotal.minor >= minimum.minor
            expect = "ok" if enough else InvalidOrderInput
        after = self.do("apply_coupon", view, lambda: self.oms.apply_coupon(view.id, code), expect)
        if after is not None:
            assert promotion is not None and after.coupon_code == promotion.coupon
            assert promotion.code in after.promotions

    @rule(data=st.data())
    def issue_gift_card(self, data: st.DataObject) -> None:
        code = data.draw(
            st.sampled_from([f"GC-{len(self.cards) + 1}", *list(self.cards)[:1]]), label="card"
        )
        currency = data.draw(
            st.sampled_from(sorted({m.currency for m in self.markets.values()})),
            label="currency",
        )
        minor = data.draw(
            st.one_of(st.integers(1, 3000), st.integers(3000, 10**6), st.just(0)),
            label="balance",
        )
        expected_ok = code not in self.cards and minor > 0
        try:
            card = self.oms.issue_gift_card(code, Money(minor, currency))
        except OMSError as error:
            assert not expected_ok, error
            assert isinstance(error, GiftCardError), error
            if code not in self.cards:
                try:
                    self.oms.gift_card(code)
                except GiftCardError:
                    pass
                else:
                    raise AssertionError("a refused gift card was created") from error
            return
        assert expected_ok
        assert card.balance == card.initial_balance == Money(minor, currency)
        self.cards[code] = (currency, minor)
        self.card_balances = self.fresh_card_balances()

    @precondition(lambda self: self.order_ids)
    @rule(data=st.data())
    def apply_gift_card(self, data: st.DataObject) -> None:
        view = self.pick(data)
        code = data.draw(st.sampled_from([*self.cards, "GC-UNKNOWN"]), label="card")
        expect: Expect
        if not editable(view):
            expect = TransitionNotAllowed
        elif (
            self.market(view).gift_cards.accepted
            and code in self.cards
            and self.cards[code][0] == view.currency
            and self.card_balances[code] > 0
        ):
            expect = "ok"
        else:
            expect = GiftCardError
        after = self.do(
            "apply_gift_card", view, lambda: self.oms.apply_gift_card(view.id, code), expect
        )
        if after is not None:
            assert after.gift_card_code == code
            assert after.totals.gift_card.minor > 0 or after.totals.total.minor == 0

    @precondition(lambda self: self.order_ids)
    @rule(data=st.data())
    def prepare_checkout(self, data: st.DataObject) -> None:
        """Fill in whatever a cart still lacks, with valid input (keeps checkouts reachable)."""
        self.fill_cart(self.pick(data), data)

    def fill_cart(self, view: OrderView | None, data: st.DataObject) -> None:
        assert view is not None
        if not editable(view):
            return
        market = self.market(view)
        if not view.lines:
            sku = data.draw(st.sampled_from(sorted(market.prices.items)), label="sku")
            quantity = data.draw(st.integers(1, 3), label="quantity")
            view = self.do(
                "add_line_item", view, lambda: self.oms.add_line_item(view.id, sku, quantity), "ok"
            )
        if not view.customer_email:
            view = self.do(
                "set_customer", view, lambda: self.oms.set_customer(view.id, EMAILS[0]), "ok"
            )
        if view.billing_address is None:
            billing = self.address(view, data)
            view = self.do(
                "set_addresses", view, lambda: self.oms.set_addresses(view.id, billing), "ok"
            )
        if view.shipping_method is None and market.shipping_methods:
            code = data.draw(
                st.sampled_from([m.code for m in market.shipping_methods]), label="shipping"
            )
            view = self.do(
                "select_shipping_method",
                view,
                lambda: self.oms.select_shipping_method(view.id, code),
                "ok",
            )
        if view.payment_method is None:
            code, token = self.payment_choice(view, data, friendly=True)
            view = self.do(
                "select_payment_method",
                view,
                lambda: self.oms.select_payment_method(view.id, code, payment_source=token),
                "ok",
            )
        assert view is not None and view.status == "pending"

    # -- lifecycle ------------------------------------------------------------------------

    def fire(self, view: OrderView, trigger: str, amount: Any = None) -> OrderView | None:
        """Run a lifecycle command; what must happen is predicted from the available
        triggers, the ledger and the amount."""
        available = self.available(view)
        currency = view.currency
        expect: Expect
        tolerate: tuple[type[OMSError], ...] = ()
        if isinstance(amount, str):
            try:
                parsed: Money | None = Money.parse(amount, currency)
            except MoneyError:
                parsed = None
        else:
            parsed = amount
        if amount is not None and parsed is None:
            expect = MoneyError
        elif trigger not in available:
            expect = TransitionNotAllowed
            if trigger in ("place", "authorize") and view.gift_card_code:
                expect = None  # re-pricing at checkout may change what the guards see
        elif trigger in ("place", "authorize"):
            expect = "ok"
            tolerate = (PaymentDeclined,)
            if view.gift_card_code:
                tolerate += (TransitionNotAllowed,)
        elif trigger in ("capture", "refund") and parsed is not None:
            limit = capturable(view) if trigger == "capture" else refundable(view)
            fits = parsed.currency == currency and 0 < parsed.minor <= limit
            expect = "ok" if fits else PaymentAmountError
        else:
            expect = "ok"

        oms = self.oms
        commands: dict[str, Callable[[], OrderView]] = {
            "place": lambda: oms.place(view.id),
            "authorize": lambda: oms.authorize(view.id),
            "approve": lambda: oms.approve(view.id),
            "capture": lambda: oms.capture(view.id, amount),
            "refund": lambda: oms.refund(view.id, amount),
            "cancel": lambda: oms.cancel(view.id),
            "archive": lambda: oms.archive(view.id),
            "unarchive": lambda: oms.unarchive(view.id),
        }
        call = commands.get(trigger, lambda: oms.advance(view.id, trigger))
        after = self.do(trigger, view, call, expect, tolerate=tolerate)
        if after is not None:
            self.check_effect(view, after, trigger, parsed)
        return after

    def check_effect(
        self, before: OrderView, after: OrderView, trigger: str, amount: Money | None
    ) -> None:
        """What a successful lifecycle command did to the ledger and the statuses."""
        moved = {
            kind: succeeded_sum(after, kind) - succeeded_sum(before, kind)
            for kind in ("authorization", "capture", "void", "refund")
        }
        assert all(value >= 0 for value in moved.values()), moved
        if trigger == "capture":
            assert moved["capture"] == (amount.minor if amount else capturable(before)), moved
            assert after.status == before.status
        elif trigger == "refund":
            full = refundable(before)
            assert moved["refund"] == (amount.minor if amount else full), moved
            if amount is None or amount.minor == full:
                assert after.status == "cancelled", after.status
            else:
                assert after.status == before.status
        elif trigger == "cancel":
            assert after.status == "cancelled"
            assert moved["refund"] == refundable(before), moved
        elif trigger in ("place", "authorize"):
            assert after.status in ("pending", "placed"), after.status
            if trigger == "place":
                assert after.status == "placed"
            if after.totals.total.minor > 0:
                assert has_authorization(after)
        elif trigger == "approve":
            assert after.status not in (*EDITABLE, "placed", "cancelled"), after.status
        elif trigger == "archive":
            assert after.archived_at is not None
        elif trigger == "unarchive":
            assert after.archived_at is None
        else:
            assert after.status != before.status, trigger
        if trigger not in ("place", "authorize", "capture"):
            assert moved["authorization"] == moved["capture"] == 0, moved
        if trigger not in ("refund", "cancel"):
            assert moved["refund"] == moved["void"] == 0, moved

    @precondition(lambda self: self.order_ids)
    @rule(data=st.data(), trigger=st.sampled_from(["place", "place", "authorize"]))
    def checkout(self, data: st.DataObject, trigger: str) -> None:
        self.fire(self.pick(data), trigger)

    @precondition(lambda self: self.order_ids)
    @rule(data=st.data())
    def approve(self, data: st.DataObject) -> None:
        self.fire(self.pick(data), "approve")

    @precondition(lambda self: self.order_ids)
    @rule(data=st.data())
    def advance_step(self, data: st.DataObject) -> None:
        """Fire a policy step's trigger (or a bogus or built-in one, which must be refused)."""
        view = self.pick(data)
        custom = [t for t in self.available(view) if t not in BUILTIN_TRIGGERS]
        steps = {
            s.exit_trigger
            for m in self.markets.values()
            for s in (*m.steps, *(s for p in m.payment_methods for s in p.steps))
        }
        trigger = data.draw(
            st.sampled_from([*custom, *custom, *sorted(steps), "teleport", "approve"]),
            label="trigger",
        )
        if trigger in BUILTIN_TRIGGERS:
            self.do("advance", view, lambda: self.oms.advance(view.id, trigger), InvalidOrderInput)
        else:
            self.fire(view, trigger)

    def money_amount(self, view: OrderView, limit: int, data: st.DataObject) -> Any:
        currency = view.currency
        choices: list[st.SearchStrategy[Any]] = [
            st.none(),
            st.just(Money(limit + 1, currency)),
            st.just(Money(0, currency)),
            st.just(Money(-1, currency)),
            st.just(Money(1, "KWD" if currency != "KWD" else "EUR")),
            st.just("0.0001"),
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
        view = self.pick(data)
        self.fire(view, "capture", self.money_amount(view, capturable(view), data))

    @precondition(lambda self: self.order_ids)
    @rule(data=st.data())
    def refund(self, data: st.DataObject) -> None:
        view = self.pick(data)
        self.fire(view, "refund", self.money_amount(view, refundable(view), data))

    @precondition(lambda self: self.order_ids)
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        self.fire(self.pick(data), "cancel")

    @precondition(lambda self: self.order_ids)
    @rule(data=st.data(), trigger=st.sampled_from(["archive", "unarchive"]))
    def archive(self, data: st.DataObject, trigger: str) -> None:
        self.fire(self.pick(data), trigger)

    # -- shipments ------------------------------------------------------------------------

    def shipment_command(self, view: OrderView, trigger: str, number: str | None) -> None:
        target = (
            (view.shipments[0] if len(view.shipments) == 1 else None)
            if number is None
            else next((s for s in view.shipments if s.number == number), None)
        )
        allowed = (
            target is not None
            and trigger in SHIPMENT_SOURCES
            and (trigger == "cancel" or view.fulfillment_status in ("in_progress", "fulfilled"))
            and target.status in SHIPMENT_SOURCES[trigger]
        )
        expect: Expect = "ok" if allowed else TransitionNotAllowed
        oms = self.oms
        if trigger == "ship":
            after = self.do(
                "ship", view, lambda: oms.ship(view.id, number, tracking_number="TRK-1"), expect
            )
        elif trigger == "deliver":
            after = self.do("deliver", view, lambda: oms.deliver(view.id, number), expect)
        else:
            after = self.do(
                "update_shipment",
                view,
                lambda: oms.update_shipment(view.id, trigger, number),
                expect,
            )
        if after is None:
            return
        assert target is not None
        moved = next(s for s in after.shipments if s.number == target.number)
        assert moved.status == SHIPMENT_DEST[trigger], (trigger, moved)
        assert after.status == view.status and after.payment_status == view.payment_status
        assert after.transactions == view.transactions
        if trigger == "ship":
            assert moved.tracking_number == "TRK-1"
            live = [s for s in after.shipments if s.status != "cancelled"]
            if after.status == "approved" and all(
                s.status in ("shipped", "delivered") for s in live
            ):
                assert after.fulfillment_status == "fulfilled", after

    @precondition(lambda self: self.order_ids)
    @rule(data=st.data())
    def shipment(self, data: st.DataObject) -> None:
        view = self.pick(data)
        trigger = data.draw(
            st.sampled_from(["ship", "ship", "deliver", *SHIPMENT_SOURCES, "teleport"]),
            label="shipment_trigger",
        )
        numbers: list[str | None] = [None, *(s.number for s in view.shipments), "NOPE/9"]
        number = data.draw(st.sampled_from(numbers), label="shipment")
        self.shipment_command(view, trigger, number)

    # -- driving orders forward -----------------------------------------------------------

    def progress_once(self, view: OrderView, data: st.DataObject) -> OrderView | None:
        if editable(view):
            ready = (
                view.lines
                and view.customer_email
                and view.billing_address
                and view.payment_method
                and (view.shipping_method or not any(line.requires_shipping for line in view.lines))
            )
            if not ready:
                self.fill_cart(view, data)
                return self.views[view.id]
            return self.fire(view, data.draw(st.sampled_from(["place", "authorize"])))
        options = [
            t for t in self.available(view) if t not in ("mark_pending", "mark_draft", "fulfill")
        ]
        forward = [t for t in options if t not in ("cancel", "refund", "unarchive")]
        shipment = view.shipments[0] if view.shipments else None
        if shipment is not None and view.fulfillment_status in ("in_progress", "fulfilled"):
            if shipment.status in SHIPMENT_SOURCES["ship"]:
                forward.append("ship")
            elif shipment.status == "shipped":
                forward.append("deliver")
        choice = data.draw(st.sampled_from([*forward, *forward, *options, "stop"]))
        if choice == "stop":
            return None
        if choice in ("ship", "deliver"):
            self.shipment_command(view, choice, None)
            return self.views[view.id]
        if choice == "capture" and data.draw(st.booleans(), label="partial"):
            part = data.draw(st.integers(1, max(capturable(view), 1)), label="part")
            return self.fire(view, choice, Money(part, view.currency))
        return self.fire(view, choice)

    @precondition(lambda self: self.order_ids)
    @rule(data=st.data(), moves=st.integers(1, 6))
    def progress(self, data: st.DataObject, moves: int) -> None:
        """Take an order a few natural steps further along its lifecycle."""
        self.drive(data, moves)

    @precondition(lambda self: self.order_ids)
    @rule(data=st.data(), moves=st.integers(1, 6))
    def progress_more(self, data: st.DataObject, moves: int) -> None:
        self.drive(data, moves)

    def drive(self, data: st.DataObject, moves: int) -> None:
        view: OrderView | None = self.pick(data)
        for _ in range(moves):
            if view is None:
                return
            view = self.progress_once(view, data)

    @rule(days=st.integers(0, MAX_DAYS_PER_STEP), hours=st.integers(0, 23))
    def advance_clock(self, days: int, hours: int) -> None:
        self.now += timedelta(days=days, hours=hours)

    # -- after every rule -----------------------------------------------------------------

    @invariant()
    def every_order(self) -> None:
        fresh = {v.id: v for v in self.oms.list_orders(archived=None, limit=1000)}
        assert sorted(fresh) == sorted(self.order_ids)
        for oid, view in fresh.items():
            # Every command's effect was recorded when it ran: nothing changed since.
            assert view == self.views[oid], "touched" if oid in self.touched else "untouched"
            check_order(view, self.market(view))
        self.touched.clear()
        self.card_balances = self.fresh_card_balances()
        self.check_gift_cards()
        self.check_sandbox_books(fresh.values())

    def check_sandbox_books(self, views: Iterable[OrderView]) -> None:
        """The sandbox gateway's own books agree with the orders' ledgers: no money moved
        without being recorded, and nothing recorded that did not move."""
        sandbox = self.oms.gateways["sandbox"]
        assert isinstance(sandbox, SandboxGateway)
        rows = [t for v in views for t in v.transactions if t.succeeded and t.gateway == "sandbox"]
        authorizations = {t.reference: t for t in rows if t.kind == "authorization"}
        captures = {t.reference: t for t in rows if t.kind == "capture"}
        assert set(authorizations) == set(sandbox.authorizations)
        assert set(captures) == set(sandbox.captures)
        for reference, auth in sandbox.authorizations.items():
            assert auth.amount == authorizations[reference].amount
        for reference, capture in sandbox.captures.items():
            assert capture.amount == captures[reference].amount


def _expects(expect: Expect, error: OMSError) -> bool:
    return isinstance(expect, type | tuple) and isinstance(error, expect)


TestOMSStateful = OMSMachine.TestCase
TestOMSStateful.settings = settings(
    max_examples=200,
    stateful_step_count=STEPS,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
