"""Guards: the conditions of the lifecycle's transitions, each able to say why it fails.

A guard answers ``None`` when the transition may happen and a short reason otherwise
("payment_status is voided"). The compiled machine uses them as ``transitions`` conditions; when
a trigger is refused, the same guards are asked again to build the error message, so the message
can never disagree with the rule.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from ..money import Money
from ._statuses import FulfillmentStatus, OrderStatus, PaymentStatus

__all__ = ["Guard", "OrderFacts", "context_of"]


class OrderFacts(Protocol):
    """What guards may read from an order. The order aggregate satisfies it."""

    @property
    def number(self) -> str: ...
    @property
    def currency(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def payment_status(self) -> str: ...
    @property
    def fulfillment_status(self) -> str: ...
    @property
    def customer_email(self) -> str | None: ...
    @property
    def payment_method(self) -> str | None: ...
    @property
    def archived_at(self) -> datetime | None: ...
    @property
    def line_count(self) -> int: ...
    @property
    def has_billing_address(self) -> bool: ...
    @property
    def shipping_problem(self) -> str | None: ...
    @property
    def total_money(self) -> Money: ...
    @property
    def capturable_minor(self) -> int: ...
    @property
    def refundable_minor(self) -> int: ...
    @property
    def last_captured_at(self) -> datetime | None: ...
    @property
    def authorized_at(self) -> datetime | None: ...
    @property
    def pending_action(self) -> str | None: ...
    @property
    def shipped_count(self) -> int: ...
    @property
    def all_shipped(self) -> bool: ...


Check = Callable[[OrderFacts, Mapping[str, Any]], str | None]


@dataclass(frozen=True)
class Guard:
    """A named condition; ``check`` returns the reason it fails, or None."""

    name: str
    check: Check

    def __call__(self, event: Any) -> bool:
        """The ``transitions`` condition protocol (``send_event=True``)."""
        return self.check(event.model, context_of(event)) is None


def context_of(event: Any) -> Mapping[str, Any]:
    """A trigger's context in ``transitions``' ``EventData``: the one dict a compiled
    lifecycle passes, or the keyword arguments of ``events[name].trigger(order, **ctx)``."""
    args = event.args
    ctx: Mapping[str, Any] = args[0] if args else event.kwargs
    return ctx


def _statuses(name: str, attribute: str, allowed: frozenset[str]) -> Guard:

    def check(order: OrderFacts, ctx: Mapping[str, Any]) -> str | None:
        value = getattr(order, attribute)
        return None if value in allowed else f"{attribute} is {value}"

    return Guard(name, check)


def _has_lines(order: OrderFacts, ctx: Mapping[str, Any]) -> str | None:
    return None if order.line_count > 0 else "the order has no line items"


def _has_email(order: OrderFacts, ctx: Mapping[str, Any]) -> str | None:
    return None if order.customer_email else "the order has no customer e-mail"


def _lacks_lines_or_email(order: OrderFacts, ctx: Mapping[str, Any]) -> str | None:
    if order.line_count > 0 and order.customer_email:
        return "the order has line items and a customer e-mail"
    return None


def _has_billing(order: OrderFacts, ctx: Mapping[str, Any]) -> str | None:
    return None if order.has_billing_address else "the order has no billing address"


def _shipping_ready(order: OrderFacts, ctx: Mapping[str, Any]) -> str | None:
    return order.shipping_problem


def _free_without_payment_method(order: OrderFacts, ctx: Mapping[str, Any]) -> str | None:
    if order.total_money.is_zero():
        return None
    return f"no payment method is selected and the total is {order.total_money.format()}"


def _nothing_shipped(order: OrderFacts, ctx: Mapping[str, Any]) -> str | None:
    if order.shipped_count:
        return "a shipment has already shipped (refund instead)"
    return None


def _all_shipped(order: OrderFacts, ctx: Mapping[str, Any]) -> str | None:
    return None if order.all_shipped else "not every shipment has shipped"


def _full_refund(order: OrderFacts, ctx: Mapping[str, Any]) -> str | None:
    amount = ctx.get("amount")
    if amount is None or (
        amount.minor == order.refundable_minor and amount.currency == order.currency
    ):
        return None
    return "the refund is partial"


def _closed(order: OrderFacts, ctx: Mapping[str, Any]) -> str | None:
    if order.status == OrderStatus.CANCELLED:
        return None
    done = order.fulfillment_status in (FulfillmentStatus.FULFILLED, FulfillmentStatus.NOT_REQUIRED)
    if order.status == OrderStatus.APPROVED and done and _settled(order):
        return None
    return "only cancelled orders, or approved orders that are paid and fulfilled, can be archived"


def _not_archived(order: OrderFacts, ctx: Mapping[str, Any]) -> str | None:
    return "the order is archived" if order.archived_at is not None else None


def _archived(order: OrderFacts, ctx: Mapping[str, Any]) -> str | None:
    return None if order.archived_at is not None else "the order is not archived"


def refund_window(days: int) -> Guard:
    """Refunds only within ``days`` of the last capture (``ctx['now']`` is the clock)."""

    def check(order: OrderFacts, ctx: Mapping[str, Any]) -> str | None:
        captured_at = order.last_captured_at
        now: datetime | None = ctx.get("now")
        if captured_at is None or now is None:
            return None
        if now - captured_at > timedelta(days=days):
            return f"the refund window of {days} days after capture has passed"
        return None

    return Guard(f"within_{days}_day_refund_window", check)


def authorization_valid(days: int) -> Guard:
    """Captures only while the authorization is younger than ``days`` (``ctx['now']``)."""

    validity = timedelta(days=days)

    def check(order: OrderFacts, ctx: Mapping[str, Any]) -> str | None:
        authorized_at = order.authorized_at
        now: datetime | None = ctx.get("now")
        if authorized_at is None or now is None:
            return None
        if now - authorized_at > validity:
            expired = authorized_at + validity
            return f"the authorization expired on {expired:%Y-%m-%d} (valid {days} days)"
        return None

    return Guard(f"authorization_valid_{days}_days", check)


def plugin_veto(trigger: str) -> Guard:
    """Asks the ``oms_transition_guard`` hook (through ``ctx['effects']``) about ``trigger``."""

    def check(order: OrderFacts, ctx: Mapping[str, Any]) -> str | None:
        effects = ctx.get("effects")
        if effects is None:
            return None
        reasons: list[str] = effects.vetoes(order, trigger, ctx)
        return "; ".join(reasons) if reasons else None

    return Guard("plugin_guards", check)


def _stock_available(order: OrderFacts, ctx: Mapping[str, Any]) -> str | None:
    effects = ctx.get("effects")
    if effects is None:
        return None
    problems: list[str] = effects.stock_problems(order)
    return "; ".join(problems) if problems else None


STOCK_AVAILABLE = Guard("stock_available", _stock_available)


def _no_pending_action(order: OrderFacts, ctx: Mapping[str, Any]) -> str | None:
    action = order.pending_action
    if action is None:
        return None
    return f"payment action {action} is pending: complete it first"


NO_PENDING_ACTION = Guard("no_pending_payment_action", _no_pending_action)
HAS_LINE_ITEMS = Guard("has_line_items", _has_lines)
HAS_CUSTOMER_EMAIL = Guard("has_customer_email", _has_email)
LACKS_LINES_OR_EMAIL = Guard("lacks_line_items_or_email", _lacks_lines_or_email)
HAS_BILLING_ADDRESS = Guard("has_billing_address", _has_billing)
SHIPPING_READY = Guard("shipping_ready", _shipping_ready)
FREE_WITHOUT_PAYMENT_METHOD = Guard("free_without_payment_method", _free_without_payment_method)
NOTHING_SHIPPED = Guard("nothing_shipped", _nothing_shipped)
ALL_SHIPPED = Guard("all_shipped", _all_shipped)
FULL_REFUND = Guard("full_refund", _full_refund)
CLOSED = Guard("closed", _closed)
NOT_ARCHIVED = Guard("not_archived", _not_archived)
ARCHIVED = Guard("archived", _archived)


def _capturable(order: OrderFacts, ctx: Mapping[str, Any]) -> str | None:
    if order.payment_status not in _CAPTURE_FROM:
        return f"payment_status is {order.payment_status}"
    if order.capturable_minor == 0:
        return "nothing is left to capture"
    return None


_CAPTURE_FROM = frozenset(
    {PaymentStatus.AUTHORIZED, PaymentStatus.PARTIALLY_PAID, PaymentStatus.PARTIALLY_REFUNDED}
)
CAPTURABLE = Guard("capturable", _capturable)
REFUNDABLE = _statuses(
    "refundable",
    "payment_status",
    frozenset({PaymentStatus.PAID, PaymentStatus.PARTIALLY_PAID, PaymentStatus.PARTIALLY_REFUNDED}),
)
FULFILLMENT_IN_PROGRESS = _statuses(
    "fulfillment_in_progress", "fulfillment_status", frozenset({FulfillmentStatus.IN_PROGRESS})
)
UNPAID = _statuses("unpaid", "payment_status", frozenset({PaymentStatus.UNPAID}))
NOT_PARTIALLY_AUTHORIZED = _statuses(
    "fully_authorized_or_unpaid",
    "payment_status",
    frozenset(set(PaymentStatus) - {PaymentStatus.PARTIALLY_AUTHORIZED}),
)


def _settled(order: OrderFacts) -> bool:
    """Free, or captured with nothing left to capture (refunds since do not matter)."""
    if order.payment_status == PaymentStatus.FREE:
        return True
    return order.payment_status in _CAPTURED and order.capturable_minor == 0


_CAPTURED = frozenset(
    {PaymentStatus.PAID, PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED}
)


def _paid_before_approval(order: OrderFacts, ctx: Mapping[str, Any]) -> str | None:
    if _settled(order):
        return None
    return (
        f"payment_status is {order.payment_status}: "
        "this payment method requires capture before approval"
    )


_DELAYED_OK = frozenset(
    {
        PaymentStatus.AUTHORIZED,
        PaymentStatus.PARTIALLY_PAID,
        PaymentStatus.PAID,
        PaymentStatus.PARTIALLY_REFUNDED,
        PaymentStatus.FREE,
    }
)


def approvable(require_capture: bool) -> Guard:
    """Approval needs the money captured, unless the method allows delayed capture."""
    if require_capture:
        return Guard("paid_before_approval", _paid_before_approval)
    return _statuses("authorized_or_paid", "payment_status", _DELAYED_OK)
