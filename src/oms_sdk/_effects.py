"""What a transition does besides changing ``status``: money, holds, shipments, timestamps.

The compiled lifecycle calls these by name (see ``LifecycleEffects``), inside the command's unit
of work. Money movements go through the order's payment gateway, never from inside a
transaction: the movement is first committed as a pending ledger row (its intent), then sent,
then settled with the gateway's answer (see ``NeedsGateway``). Every answer, good or bad, stays
on the ledger. A declined or broken gateway call raises ``PaymentDeclined``
(``PaymentActionRequired`` when the customer must act). Inventory and shipping integrations are
reached through the plugin hooks.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from ._defaults import gateway_answers
from ._plugins import PluginHost
from .errors import (
    GiftCardError,
    InvalidOrderInput,
    PaymentActionRequired,
    PaymentAmountError,
    PaymentDeclined,
)
from .lifecycle import FulfillmentStatus, LifecycleDefinition, ShipmentStatus
from .money import Money
from .orders import (
    Order,
    PaymentTransaction,
    Shipment,
    ShipmentLine,
    TransactionKind,
    promotion_problem,
)
from .payments import GatewayResult, PaymentGateway, PaymentRequest
from .policy import MarketPolicy
from .store import Store

__all__ = [
    "GatewayCall",
    "GatewayOutcome",
    "NeedsGateway",
    "NoAnswer",
    "OrderEffects",
    "call_gateway",
    "transaction_id",
]

log = logging.getLogger("oms_sdk.payments")

_OPERATIONS = {
    TransactionKind.AUTHORIZATION: "authorize",
    TransactionKind.CAPTURE: "capture",
    TransactionKind.VOID: "void",
    TransactionKind.REFUND: "refund",
}


@dataclass(frozen=True)
class GatewayOutcome:
    """One answer of a gateway, kept so it can be recorded even if the command rolls back."""

    kind: TransactionKind
    amount: Money
    gateway: str
    succeeded: bool
    reference: str | None
    parent_reference: str | None
    error_code: str | None
    error_message: str | None
    idempotency_key: str
    metadata: Mapping[str, Any]
    at: datetime
    action_id: str | None = None

    def to_row(self) -> PaymentTransaction:
        return PaymentTransaction(
            id=transaction_id(self.idempotency_key),
            kind=self.kind,
            amount=self.amount,
            succeeded=self.succeeded,
            gateway=self.gateway,
            reference=self.reference,
            parent_reference=self.parent_reference,
            error_code=self.error_code,
            error_message=self.error_message,
            idempotency_key=self.idempotency_key,
            metadata=dict(self.metadata),
            created_at=self.at,
            action_id=self.action_id,
        )

    @classmethod
    def of_row(cls, row: PaymentTransaction) -> GatewayOutcome:
        """The answer a settled row holds, to replay a command that already got it."""
        return cls(
            kind=TransactionKind(row.kind),
            amount=row.money,
            gateway=row.gateway,
            succeeded=row.succeeded,
            reference=row.reference,
            parent_reference=row.parent_reference,
            error_code=row.error_code,
            error_message=row.error_message,
            idempotency_key=row.idempotency_key,
            metadata={},
            at=row.created_at,
            action_id=row.action_id,
        )

    def settle(self, row: PaymentTransaction) -> None:
        """Write this answer on the row written before the call (the intent)."""
        row.succeeded = self.succeeded
        row.reference = self.reference
        row.error_code = self.error_code
        row.error_message = self.error_message
        row.action_id = self.action_id
        row.pending = self.action_id is not None and not self.succeeded
        row.metadata_ = {"answered_at": self.at.isoformat(), **row.metadata_, **self.metadata}


def transaction_id(idempotency_key: str) -> str:
    """A ledger row's id follows from its key: every attempt of a movement names one row."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, idempotency_key))


@dataclass(frozen=True)
class GatewayCall:
    """A money movement decided under the order's lock, to be sent once its intent committed."""

    kind: TransactionKind
    order_id: str
    gateway: PaymentGateway
    request: PaymentRequest
    at: datetime

    @property
    def key(self) -> str:
        return self.request.idempotency_key

    def intent(self) -> PaymentTransaction:
        """The pending ledger row committed before the gateway is called."""
        row = PaymentTransaction(
            id=transaction_id(self.key),
            kind=self.kind,
            amount=self.request.amount,
            succeeded=False,
            gateway=self.gateway.name,
            reference=None,
            parent_reference=self.request.reference,
            error_code=None,
            error_message=None,
            idempotency_key=self.key,
            metadata={},
            created_at=self.at,
        )
        row.pending = True  # no action id: on its way to the gateway, or its answer unknown
        return row


class NeedsGateway(Exception):
    """The command reached a money movement whose answer it does not have yet.

    The facade rolls the command back to its savepoint (keeping the holds it took, see
    ``holds_only``), commits ``call.intent()`` while it still holds the order's lock, calls the
    gateway outside any transaction, and runs the command again with the answer (a
    deterministic replay: the same movements get the same keys).
    """

    def __init__(
        self, call: GatewayCall, *, resume: bool, hold: bool, holds_only: bool = False
    ) -> None:
        super().__init__(f"{call.kind.value} {call.request.amount} needs the gateway")
        self.call = call
        self.resume = resume
        """True when the intent row already exists (an earlier attempt crashed or timed out)."""
        self.hold = hold
        """True when the command took the order's holds (stock, gift card) before this
        movement: they are committed with the intent, so that no other order can take the
        stock while the payment is on its way."""
        self.holds_only = holds_only
        """True when the holds are everything the command changed so far: the facade may keep
        them as they are instead of rolling back and taking them again."""


class NoAnswer(Exception):
    """The gateway raised or timed out without answering: the movement's outcome is unknown."""


def call_gateway(plugins: PluginHost, call: GatewayCall) -> GatewayOutcome:
    """Send one movement through ``oms_gateway_call``; its answer becomes an outcome.

    A decline is a failed outcome. A gateway that raised (a timeout, a network error) has not
    said whether the money moved: ``NoAnswer``, and the intent row stays pending. A wrapper
    that raised after the gateway answered cannot hide the answer.
    """
    gateway, request, kind = call.gateway, call.request, call.kind
    operation = _OPERATIONS[kind]
    amount = request.amount
    token = gateway_answers.set({})
    try:
        answer = plugins.hook.oms_gateway_call(
            gateway=gateway, operation=operation, request=request
        )
        if not isinstance(answer, GatewayResult):
            raise TypeError(f"{operation} returned {type(answer).__name__}, not GatewayResult")
        result = answer
    except Exception as exc:
        moved = gateway_answers.get().get(request.idempotency_key)
        if moved is None:
            log.warning(
                "gateway %s gave no answer to %s of %s: %s",
                gateway.name,
                operation,
                request.order_number,
                type(exc).__name__,
            )
            raise NoAnswer(f"{type(exc).__name__}: {exc}") from exc
        log.warning(  # a wrapper failed after the gateway answered: keep the answer
            "a wrapper of %s failed after the gateway answered: %s", operation, type(exc).__name__
        )
        result = moved
    finally:
        gateway_answers.reset(token)
    if result.success and result.amount != amount:
        result = GatewayResult.failed(
            amount, "amount_mismatch", f"gateway answered {result.amount} for {amount}"
        )
    return GatewayOutcome(
        kind=kind,
        amount=amount,
        gateway=gateway.name,
        succeeded=result.success,
        reference=result.reference if result.success else None,
        parent_reference=request.reference,
        error_code=None if result.success else (result.error_code or "declined"),
        error_message=None if result.success else (result.error_message or "declined"),
        idempotency_key=request.idempotency_key,
        metadata=dict(result.metadata),
        at=call.at,
        action_id=result.action_id if result.pending else None,
    )


@dataclass
class OrderEffects:
    """The side effects of one command on one order (an implementation of LifecycleEffects)."""

    store: Store
    session: Session
    market: MarketPolicy
    plugins: PluginHost
    now: datetime
    command_key: str
    answers: Mapping[str, GatewayOutcome] = field(default_factory=dict)
    """The gateway answers this command already got, by idempotency key (from earlier runs)."""
    notes: dict[str, Any] = field(default_factory=dict)
    took_holds: bool = False
    writes_since_savepoint: Callable[[], int] | None = None
    """``Store.writes_since`` the command's savepoint began (None: it has none)."""
    _holds_only: bool = False
    """Set by ``reserve`` when nothing changed since the savepoint before it, neither objects
    nor SQL; ``authorize``, the effect that always follows it, consumes it."""
    _calls: int = 0

    # -- money ----------------------------------------------------------------------------

    def _gateway(self, order: Order) -> PaymentGateway:
        method = self.market.payment_method(order.payment_method or "")
        if method is None:
            raise InvalidOrderInput(
                f"order {order.number} has no payment method of market {self.market.code}",
                order=order.number,
            )
        return self.plugins.gateways[method.gateway]

    def owns(self, row: PaymentTransaction) -> bool:
        """Whether ``row`` is a movement of this command (of an earlier run of it)."""
        return row.idempotency_key.startswith(f"{self.command_key}:")

    def _key(self, order: Order, kind: TransactionKind) -> str:
        """Unique per money movement, and the same when the same command is retried.

        An authorization's key also depends on the payment source: a retry with another
        card is a new attempt, not a replay of the decline.
        """
        self._calls += 1
        key = f"{self.command_key}:{order.id}:{kind.value}:{self._calls}"
        if kind is TransactionKind.AUTHORIZATION and order.payment_source:
            source = hashlib.sha256(order.payment_source.encode()).hexdigest()[:12]
            key = f"{key}:{source}"
        return key

    def _move(
        self,
        order: Order,
        kind: TransactionKind,
        amount: Money,
        *,
        reference: str | None = None,
        raise_on_failure: bool = True,
        holds_only: bool = False,
    ) -> PaymentTransaction | None:
        """Move ``amount`` through the gateway, exactly once; raise if the gateway said no.

        The first time a command reaches a movement, this raises ``NeedsGateway``: the facade
        commits the intent, calls the gateway and runs the command again. On that run the
        answer is here and settles the intent row.
        """
        key = self._key(order, kind)
        row = order.transaction(key)
        outcome = self.answers.get(key)
        if row is not None and not row.pending:
            pass  # answered before: by an earlier attempt of this command, or by reconcile
        elif outcome is None:
            if row is not None and row.action_id is not None:
                raise PaymentActionRequired(
                    f"{kind.value} of {row.money.format()} for order {order.number} waits for "
                    f"the customer to complete action {row.action_id}",
                    order=order.number,
                    action_id=row.action_id,
                )
            request = PaymentRequest(
                order_number=order.number,
                amount=row.money if row is not None else amount,
                idempotency_key=key,
                payment_source=(
                    order.payment_source if kind is TransactionKind.AUTHORIZATION else None
                ),
                reference=row.parent_reference if row is not None else reference,
            )
            call = GatewayCall(kind, order.id, self._gateway(order), request, self.now)
            raise NeedsGateway(
                call, resume=row is not None, hold=self.took_holds, holds_only=holds_only
            )
        elif row is None:
            row = outcome.to_row()
            order.record(row)
        else:
            outcome.settle(row)
            order.refresh_payment_status()
        if row.pending and row.action_id is not None:
            raise PaymentActionRequired(
                f"{kind.value} of {row.money.format()} for order {order.number} needs the "
                f"customer to complete action {row.action_id}",
                order=order.number,
                action_id=row.action_id,
            )
        if row.succeeded:
            return row
        if not raise_on_failure:
            self.notes.setdefault("failed", []).append(f"{kind.value}: {row.error_code}")
            return None
        raise PaymentDeclined(
            f"{kind.value} of {row.money.format()} for order {order.number} failed: "
            f"{row.error_code} ({row.error_message})",
            order=order.number,
            error_code=row.error_code or "declined",
            transaction_id=row.id,
        )

    def _amount(self, order: Order, ctx: Mapping[str, Any], limit: Money, verb: str) -> Money:
        amount: Money | None = ctx.get("amount")
        if amount is None:
            amount = limit
        if amount.currency != order.currency:
            raise PaymentAmountError(
                f"cannot {verb} {amount.currency} on order {order.number} in {order.currency}",
                order=order.number,
            )
        if amount.minor <= 0:
            raise PaymentAmountError(
                f"cannot {verb} {amount.format()}: the amount must be positive", order=order.number
            )
        if amount > limit:
            raise PaymentAmountError(
                f"cannot {verb} {amount.format()} on order {order.number}: "
                f"only {limit.format()} left to {verb}",
                order=order.number,
            )
        return amount

    def authorize(self, order: Order, ctx: Mapping[str, Any], lc: LifecycleDefinition) -> None:
        holds_only, self._holds_only = self._holds_only, False
        if order.total == 0 or order.authorization() is not None:
            return
        self._move(order, TransactionKind.AUTHORIZATION, order.total_money, holds_only=holds_only)

    def capture(self, order: Order, ctx: Mapping[str, Any], lc: LifecycleDefinition) -> None:
        authorization = order.authorization()
        assert authorization is not None  # the capturable guard ran first
        amount = self._amount(order, ctx, order.capturable, "capture")
        self._move(order, TransactionKind.CAPTURE, amount, reference=authorization.reference)

    def auto_capture(self, order: Order, ctx: Mapping[str, Any], lc: LifecycleDefinition) -> None:
        authorization = order.authorization()
        if authorization is None:
            return
        limit = lc.auto_capture_max_amount
        if limit is not None and order.total_money > limit:
            self.notes["auto_capture"] = f"skipped: total above {limit.format()}"
            return
        self._move(
            order,
            TransactionKind.CAPTURE,
            order.capturable,
            reference=authorization.reference,
            raise_on_failure=False,
        )

    def refund(self, order: Order, ctx: Mapping[str, Any], lc: LifecycleDefinition) -> None:
        amount = self._amount(order, ctx, order.refundable, "refund")
        full = amount == order.refundable
        self._refund(order, amount)
        if full:  # a full refund closes the order: release what is still only authorized
            self._void_rest(order)

    def _void_rest(self, order: Order) -> None:
        authorization = order.authorization()
        if authorization is not None and order.capturable.minor > 0:
            self._move(
                order, TransactionKind.VOID, order.capturable, reference=authorization.reference
            )

    def _refund(self, order: Order, amount: Money) -> None:
        """Refund ``amount`` across the captures, newest first, each within what it has left."""
        refunded_by_capture: dict[str | None, Money] = {}
        for row in order.transactions:
            if row.succeeded and row.kind == TransactionKind.REFUND.value:
                previous = refunded_by_capture.get(row.parent_reference, order.money(0))
                refunded_by_capture[row.parent_reference] = previous + row.money
        remaining = amount
        for capture in reversed(order.captures()):
            if remaining.is_zero():
                break
            left = capture.money - refunded_by_capture.get(capture.reference, order.money(0))
            part = remaining.min(left)
            if part.minor > 0:
                self._move(order, TransactionKind.REFUND, part, reference=capture.reference)
                remaining = remaining - part
        if remaining.minor > 0:  # the ledger's captures cannot take it: never refund less
            raise PaymentAmountError(
                f"cannot refund {remaining.format()} more on order {order.number}: "
                "no capture has that much left",
                order=order.number,
            )

    def release_payment(
        self, order: Order, ctx: Mapping[str, Any], lc: LifecycleDefinition
    ) -> None:
        """Cancel: refund what was captured, void what is still only authorized."""
        if order.refundable.minor > 0:
            self._refund(order, order.refundable)
        self._void_rest(order)

    def complete_action(self, order: Order, row: PaymentTransaction) -> GatewayResult | None:
        """Ask the gateway how a pending action ended; settle ``row``. None: still pending."""
        gateway = self._gateway(order)
        if not callable(getattr(gateway, "complete_action", None)):
            raise InvalidOrderInput(
                f"gateway {gateway.name} has no asynchronous actions", order=order.number
            )
        request = PaymentRequest(
            order_number=order.number,
            amount=row.money,
            idempotency_key=row.idempotency_key,
            reference=row.action_id,
        )
        try:
            result: GatewayResult = self.plugins.hook.oms_gateway_call(
                gateway=gateway, operation="complete_action", request=request
            )
        except Exception as exc:  # no answer: the action may have ended either way
            log.warning("gateway %s gave no answer about action %s: %s",
                        gateway.name, row.action_id, type(exc).__name__)  # fmt: skip
            return None
        if result.pending:
            return None
        row.pending = False
        row.succeeded = result.success
        row.reference = result.reference
        row.error_code = None if result.success else (result.error_code or "declined")
        row.error_message = None if result.success else (result.error_message or "declined")
        row.metadata_ = {**row.metadata_, **result.metadata, "completed_at": self.now.isoformat()}
        order.refresh_payment_status()
        return result

    # -- holds ----------------------------------------------------------------------------

    def promotion_usage(self) -> Mapping[str, int]:
        """Uses of the market's promotions so far; read only when one has a usage limit."""
        if all(promotion.usage_limit is None for promotion in self.market.promotions):
            return {}
        return self.store.promotion_usage(self.session, self.market.code)

    def reserve(self, order: Order, ctx: Mapping[str, Any], lc: LifecycleDefinition) -> None:
        """Take the gift card balance and the promotion uses before any money moves."""
        if order.gift_card_held:
            return
        session = self.session
        unchanged = (
            self.writes_since_savepoint is not None
            and not (session.new or session.dirty or session.deleted)
            and self.writes_since_savepoint() == 0
        )
        usage = self.promotion_usage()
        goods = order.money(order.subtotal)
        for code in order.promotions:
            promotion = next(p for p in self.market.promotions if p.code == code)
            problem = promotion_problem(promotion, goods, self.now, usage.get(code, 0))
            if problem is not None:
                remedy = (
                    "remove the coupon" if promotion.coupon else "call OMS.refresh() to re-price"
                )
                raise InvalidOrderInput(
                    f"{problem}: {remedy}, then place the order again", order=order.number
                )
            if promotion.usage_limit is not None and not self.store.take_promotion_use(
                self.session, order.market, code, promotion.usage_limit
            ):  # another checkout took the last use since the check above
                raise InvalidOrderInput(
                    f"promotion {code} has reached its usage limit: remove the coupon, then "
                    "place the order again",
                    order=order.number,
                )
        if order.gift_card_code and order.gift_card > 0:
            card = self.store.gift_card(self.session, order.gift_card_code)
            if card is None or card.balance < order.gift_card:
                raise GiftCardError(
                    f"gift card {order.gift_card_code} no longer covers "
                    f"{order.money(order.gift_card).format()}; apply it again"
                )
            card.balance -= order.gift_card
        self._plan_shipments(order)
        order.gift_card_held = True
        self.took_holds = True
        self._holds_only = unchanged

    def release_unpaid_holds(self, order: Order) -> None:
        """A checkout whose authorization failed gives its holds back, shipments included:
        holds are committed with the authorization's intent, and a decline must not keep
        stock from other customers."""
        if (
            order.gift_card_held
            and order.status in ("draft", "pending")
            and order.authorization() is None
        ):
            self._release_holds(order)
            order.shipments.clear()

    def _plan_shipments(self, order: Order) -> None:
        plans = self.plugins.hook.oms_plan_shipments(
            order=order, market=self.market, session=self.session, now=self.now
        )
        for index, plan in enumerate(plans or (), start=1):
            order.shipments.append(
                Shipment(
                    number=f"{order.number}/{index}",
                    lines=[ShipmentLine(sku=sku, quantity=qty) for sku, qty in plan.lines],
                    stock_location=plan.stock_location,
                )
            )

    def release_holds(self, order: Order, ctx: Mapping[str, Any], lc: LifecycleDefinition) -> None:
        """Cancel or full refund: give back stock, gift card balance and promotion uses, before
        any money moves (so a plugin that fails here leaves the payment untouched)."""
        self._release_holds(order)

    def _release_holds(self, order: Order) -> None:
        if not order.gift_card_held:
            return
        self.plugins.hook.oms_release_stock(
            order=order, market=self.market, session=self.session, now=self.now
        )
        for code in order.promotions:
            promotion = next((p for p in self.market.promotions if p.code == code), None)
            if promotion is not None and promotion.usage_limit is not None:
                self.store.add_promotion_use(self.session, order.market, code, -1)
        if order.gift_card_code and order.gift_card > 0:
            card = self.store.gift_card(self.session, order.gift_card_code)
            if card is not None:
                card.balance += order.gift_card
        order.gift_card_held = False

    # -- status timestamps and fulfillment ------------------------------------------------

    def on_placed(self, order: Order, ctx: Mapping[str, Any], lc: LifecycleDefinition) -> None:
        order.placed_at = self.now
        if not order.shipments:
            order.fulfillment_status = FulfillmentStatus.NOT_REQUIRED.value

    def on_approved(self, order: Order, ctx: Mapping[str, Any], lc: LifecycleDefinition) -> None:
        order.approved_at = self.now
        hook = self.plugins.hook
        hook.oms_decrement_stock(
            order=order, market=self.market, session=self.session, now=self.now
        )
        if order.fulfillment_status == FulfillmentStatus.UNFULFILLED:
            order.fulfillment_status = FulfillmentStatus.IN_PROGRESS.value
            hook.oms_fulfillment_started(
                order=order,
                shipments=list(order.shipments),
                market=self.market,
                session=self.session,
            )

    def on_cancelled(self, order: Order, ctx: Mapping[str, Any], lc: LifecycleDefinition) -> None:
        order.cancelled_at = self.now
        for shipment in order.shipments:
            if not shipment.has_shipped:
                shipment.status = ShipmentStatus.CANCELLED.value
        if order.fulfillment_status == FulfillmentStatus.IN_PROGRESS:
            order.fulfillment_status = FulfillmentStatus.UNFULFILLED.value

    def mark_fulfilled(self, order: Order, ctx: Mapping[str, Any], lc: LifecycleDefinition) -> None:
        order.fulfillment_status = FulfillmentStatus.FULFILLED.value

    def archive(self, order: Order, ctx: Mapping[str, Any], lc: LifecycleDefinition) -> None:
        order.archived_at = self.now

    def unarchive(self, order: Order, ctx: Mapping[str, Any], lc: LifecycleDefinition) -> None:
        order.archived_at = None

    # -- what compiled guards ask of plugins --------------------------------------------------

    def vetoes(self, order: Order, trigger: str, ctx: Mapping[str, Any]) -> list[str]:
        if not self.plugins.has_guards:
            return []
        context = {k: v for k, v in ctx.items() if k != "effects"}
        return self.plugins.guard_reasons(order, trigger, self.market, context)

    def stock_problems(self, order: Order) -> list[str]:
        found = self.plugins.hook.oms_stock_problems(
            order=order, market=self.market, session=self.session, now=self.now
        )
        return [str(reason) for reasons in found for reason in reasons]
