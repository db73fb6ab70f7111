"""The order aggregate: plain Python classes, mapped to tables by ``oms_sdk.store``.

The classes hold the rules that need no policy and no database: the payment ledger and the
``payment_status`` it implies, the facts the lifecycle guards read, and the shipments' effect on
``fulfillment_status``. Amounts are kept as integer minor units in the order's currency and
exposed as ``Money``.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from ..lifecycle import FulfillmentStatus, OrderStatus, PaymentStatus, ShipmentStatus
from ..money import Money

__all__ = [
    "GiftCard",
    "HistoryEntry",
    "LineItem",
    "Order",
    "PaymentTransaction",
    "Shipment",
    "ShipmentLine",
    "TransactionKind",
]


class TransactionKind(StrEnum):
    AUTHORIZATION = "authorization"
    CAPTURE = "capture"
    VOID = "void"
    REFUND = "refund"


# The kinds as plain strings: the ledger sums compare them per row, and reading an enum
# member's value costs more than the comparison.
_AUTHORIZATION = TransactionKind.AUTHORIZATION.value
_CAPTURE = TransactionKind.CAPTURE.value
_REFUND = TransactionKind.REFUND.value
_VOID = TransactionKind.VOID.value


class LineItem:
    id: int | None
    sku: str
    name: str
    quantity: int
    unit_price: int
    discount: int
    requires_shipping: bool
    position: int

    def __init__(
        self,
        *,
        sku: str,
        name: str,
        quantity: int,
        unit_price: int,
        requires_shipping: bool,
        position: int,
    ) -> None:
        self.sku = sku
        self.name = name
        self.quantity = quantity
        self.unit_price = unit_price
        self.discount = 0
        self.requires_shipping = requires_shipping
        self.position = position

    @property
    def amount(self) -> int:
        """Before discount, in minor units."""
        return self.unit_price * self.quantity


class PaymentTransaction:
    """One row of the append-only payment ledger: what a gateway was asked and answered."""

    id: str
    seq: int
    kind: str
    amount: int
    currency: str
    succeeded: bool
    gateway: str
    reference: str | None
    parent_reference: str | None
    error_code: str | None
    error_message: str | None
    pending: bool
    action_id: str | None
    idempotency_key: str
    metadata_: dict[str, Any]
    created_at: datetime

    def __init__(
        self,
        *,
        id: str,
        kind: TransactionKind,
        amount: Money,
        succeeded: bool,
        gateway: str,
        reference: str | None,
        parent_reference: str | None,
        error_code: str | None,
        error_message: str | None,
        idempotency_key: str,
        metadata: dict[str, Any],
        created_at: datetime,
        action_id: str | None = None,
    ) -> None:
        self.id = id
        self.kind = kind._value_  # ``.value``, at half the cost: a ledger row is made per movement
        self.amount = amount.minor
        self.currency = amount.currency
        self.succeeded = succeeded
        self.gateway = gateway
        self.reference = reference
        self.parent_reference = parent_reference
        self.error_code = error_code
        self.error_message = error_message
        self.pending = action_id is not None and not succeeded
        self.action_id = action_id
        self.idempotency_key = idempotency_key
        self.metadata_ = metadata
        self.created_at = created_at

    @property
    def money(self) -> Money:
        return Money(self.amount, self.currency)


class ShipmentLine:
    id: int | None
    sku: str
    quantity: int

    def __init__(self, *, sku: str, quantity: int) -> None:
        self.sku = sku
        self.quantity = quantity


class Shipment:
    id: int | None
    number: str
    status: str
    stock_location: str | None
    tracking_number: str | None
    carrier: str | None
    shipped_at: datetime | None
    delivered_at: datetime | None
    lines: list[ShipmentLine]

    def __init__(
        self, *, number: str, lines: list[ShipmentLine], stock_location: str | None = None
    ) -> None:
        self.number = number
        self.lines = lines
        self.stock_location = stock_location
        self.carrier = None
        self.status = ShipmentStatus.UPCOMING.value
        self.tracking_number = None
        self.shipped_at = None
        self.delivered_at = None

    @property
    def has_shipped(self) -> bool:
        return self.status in (ShipmentStatus.SHIPPED, ShipmentStatus.DELIVERED)


class HistoryEntry:
    """One append-only line of an order's timeline."""

    id: int | None
    order_id: str
    at: datetime
    trigger: str
    actor: str
    from_status: str
    from_payment_status: str
    from_fulfillment_status: str
    status: str
    payment_status: str
    fulfillment_status: str
    amount: int | None
    currency: str
    detail: dict[str, Any]

    def __init__(
        self,
        *,
        order_id: str,
        at: datetime,
        trigger: str,
        actor: str,
        before: tuple[str, str, str],
        after: tuple[str, str, str],
        amount: Money | None,
        currency: str,
        detail: dict[str, Any],
    ) -> None:
        self.order_id = order_id
        self.at = at
        self.trigger = trigger
        self.actor = actor
        self.from_status, self.from_payment_status, self.from_fulfillment_status = before
        self.status, self.payment_status, self.fulfillment_status = after
        self.amount = amount.minor if amount is not None else None
        self.currency = currency
        self.detail = detail


class GiftCard:
    code: str
    currency: str
    balance: int
    initial_balance: int
    created_at: datetime

    def __init__(self, *, code: str, amount: Money, created_at: datetime) -> None:
        self.code = code
        self.currency = amount.currency
        self.balance = amount.minor
        self.initial_balance = amount.minor
        self.created_at = created_at


class Order:
    """An order of one market. Mutated only through ``OMS`` commands, one unit of work each."""

    id: str
    number: str
    market: str
    currency: str
    status: str
    payment_status: str
    fulfillment_status: str
    customer_email: str | None
    billing_address: dict[str, Any] | None
    shipping_address: dict[str, Any] | None
    shipping_method: str | None
    payment_method: str | None
    payment_source: str | None
    coupon_code: str | None
    promotions: list[str]
    gift_card_code: str | None
    gift_card_held: bool
    subtotal: int
    discount: int
    shipping: int
    surcharge: int
    tax: int
    tax_included: bool
    gift_card: int
    total: int
    requires_shipping: bool
    placed_at: datetime | None
    approved_at: datetime | None
    cancelled_at: datetime | None
    archived_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int
    lines: list[LineItem]
    transactions: list[PaymentTransaction]
    shipments: list[Shipment]

    def __init__(self, *, id: str, number: str, market: str, currency: str, now: datetime) -> None:
        self.id = id
        self.number = number
        self.market = market
        self.currency = currency
        self.status = OrderStatus.DRAFT.value
        self.payment_status = PaymentStatus.UNPAID.value
        self.fulfillment_status = FulfillmentStatus.UNFULFILLED.value
        self.customer_email = None
        self.billing_address = None
        self.shipping_address = None
        self.shipping_method = None
        self.payment_method = None
        self.payment_source = None
        self.coupon_code = None
        self.promotions = []
        self.gift_card_code = None
        self.gift_card_held = False
        self.subtotal = self.discount = self.shipping = self.surcharge = 0
        self.tax = self.gift_card = self.total = 0
        self.tax_included = True
        self.requires_shipping = False
        self.placed_at = self.approved_at = self.cancelled_at = self.archived_at = None
        self.created_at = self.updated_at = now
        self.lines = []
        self.transactions = []
        self.shipments = []

    # -- money ----------------------------------------------------------------------------

    def money(self, minor: int) -> Money:
        return Money(minor, self.currency)

    def _sums(self) -> tuple[int, int, int, int]:
        """Succeeded minor units authorized, captured, refunded and voided, in one pass.

        Not kept between calls: rows change in place (a pending answer settles) and are
        reloaded after a rollback, so a kept sum could be stale; the ledger is a few rows.
        """
        authorized = captured = refunded = voided = 0
        for t in self.transactions:
            if t.succeeded:
                kind = t.kind
                if kind == _CAPTURE:
                    captured += t.amount
                elif kind == _AUTHORIZATION:
                    authorized += t.amount
                elif kind == _REFUND:
                    refunded += t.amount
                elif kind == _VOID:
                    voided += t.amount
        return authorized, captured, refunded, voided

    @property
    def total_money(self) -> Money:
        return self.money(self.total)

    @property
    def authorized(self) -> Money:
        return self.money(self._sums()[0])

    @property
    def captured(self) -> Money:
        return self.money(self._sums()[1])

    @property
    def refunded(self) -> Money:
        return self.money(self._sums()[2])

    @property
    def voided(self) -> Money:
        return self.money(self._sums()[3])

    @property
    def capturable(self) -> Money:
        """Authorized money not yet captured nor voided."""
        return self.money(self.capturable_minor)

    @property
    def refundable(self) -> Money:
        return self.money(self.refundable_minor)

    # The two as minor units: the guards ask for them on every capture, approval and refund,
    # and only compare them.

    @property
    def capturable_minor(self) -> int:
        authorized, captured, _, voided = self._sums()
        left = authorized - captured - voided
        return left if left > 0 else 0

    @property
    def refundable_minor(self) -> int:
        _, captured, refunded, _ = self._sums()
        return captured - refunded

    @property
    def last_captured_at(self) -> datetime | None:
        times = [t.created_at for t in self.transactions if t.succeeded and t.kind == _CAPTURE]
        return max(times) if times else None

    @property
    def authorized_at(self) -> datetime | None:
        for t in reversed(self.transactions):  # authorization(), inlined: a capture guard
            if t.succeeded and t.kind == _AUTHORIZATION:
                return t.created_at
        return None

    def authorization(self) -> PaymentTransaction | None:
        """The succeeded authorization that captures and voids refer to."""
        for t in reversed(self.transactions):
            if t.succeeded and t.kind == _AUTHORIZATION:
                return t
        return None

    def captures(self) -> list[PaymentTransaction]:
        return [t for t in self.transactions if t.succeeded and t.kind == _CAPTURE]

    def derive_payment_status(self) -> PaymentStatus:
        """``payment_status`` as the ledger says it is; the only way it is ever set."""
        authorized, captured, refunded, voided = self._sums()
        if self.total == 0 and self.lines and authorized == 0:
            return PaymentStatus.FREE
        if refunded:
            return (
                PaymentStatus.REFUNDED if refunded >= captured else PaymentStatus.PARTIALLY_REFUNDED
            )
        if captured:
            return PaymentStatus.PAID if captured >= self.total else PaymentStatus.PARTIALLY_PAID
        if voided:
            return PaymentStatus.VOIDED
        if authorized:
            return (
                PaymentStatus.AUTHORIZED
                if authorized >= self.total
                else PaymentStatus.PARTIALLY_AUTHORIZED
            )
        return PaymentStatus.UNPAID

    def record(self, transaction: PaymentTransaction) -> None:
        """Append to the ledger and re-derive ``payment_status`` from it."""
        key = transaction.idempotency_key
        for t in self.transactions:
            if t.idempotency_key == key:
                return  # the same gateway answer, recorded by an earlier attempt of the command
        transaction.seq = len(self.transactions)
        self.transactions.append(transaction)
        self.refresh_payment_status()

    def refresh_payment_status(self) -> None:
        """Set ``payment_status`` to what the ledger says: after every change to the ledger."""
        self.payment_status = self.derive_payment_status()._value_  # ``.value``, at half the cost

    # -- facts the lifecycle guards read ----------------------------------------------------

    @property
    def line_count(self) -> int:
        return len(self.lines)

    @property
    def has_billing_address(self) -> bool:
        return self.billing_address is not None

    @property
    def shipping_problem(self) -> str | None:
        if not self.requires_shipping:
            return None
        if self.shipping_address is None:
            return "the order has no shipping address"
        if self.shipping_method is None:
            return "no shipping method is selected"
        return None

    @property
    def shipped_count(self) -> int:
        return sum(1 for s in self.shipments if s.has_shipped)

    @property
    def all_shipped(self) -> bool:
        live = [s for s in self.shipments if s.status != ShipmentStatus.CANCELLED]
        return bool(live) and all(s.has_shipped for s in live)

    def statuses(self) -> tuple[str, str, str]:
        return (self.status, self.payment_status, self.fulfillment_status)

    def line(self, sku: str) -> LineItem | None:
        return next((line for line in self.lines if line.sku == sku), None)

    def transaction(self, idempotency_key: str) -> PaymentTransaction | None:
        return next((t for t in self.transactions if t.idempotency_key == idempotency_key), None)

    def in_flight(self) -> list[PaymentTransaction]:
        """Movements sent (or about to be sent) to the gateway whose answer is not recorded."""
        return [t for t in self.transactions if t.pending and t.action_id is None]

    @property
    def pending_action(self) -> str | None:
        """The action id of a payment waiting for the customer, if any."""
        for t in self.transactions:  # a loop, not next() over a generator: every place asks
            if t.pending and t.action_id:
                return t.action_id
        return None

    def pending_row(self, action_id: str) -> PaymentTransaction | None:
        return next((t for t in self.transactions if t.pending and t.action_id == action_id), None)

    def shipment(self, number: str | None) -> Shipment | None:
        if number is None:
            return self.shipments[0] if len(self.shipments) == 1 else None
        return next((s for s in self.shipments if s.number == number), None)
