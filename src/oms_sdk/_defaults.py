"""The SDK's own behaviour, registered as a plugin: every answer here comes last.

Anything a plugin answers for (``firstresult`` hooks) overrides these defaults; nothing here
is special-cased in the core.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextvars import ContextVar

from .hookspecs import hookimpl
from .money import Money
from .orders import Order, policy_shipping_price
from .payments import GatewayResult, ManualGateway, PaymentGateway, PaymentRequest
from .policy import MarketPolicy, ShippingMethodPolicy
from .shipping import ShipmentPlan


@hookimpl(trylast=True)
def oms_payment_gateways() -> Iterable[PaymentGateway]:
    return [ManualGateway()]


#: The gateway's own answers during one ``oms_gateway_call``, by idempotency key: if a
#: wrapper fails after the gateway answered, the SDK still records what really happened.
gateway_answers: ContextVar[dict[str, GatewayResult]] = ContextVar("gateway_answers")


@hookimpl(trylast=True)
def oms_gateway_call(
    gateway: PaymentGateway, operation: str, request: PaymentRequest
) -> GatewayResult:
    if operation == "complete_action":
        result: GatewayResult = gateway.complete_action(request.reference)  # type: ignore[attr-defined]
    else:
        result = getattr(gateway, operation)(request)
    answers = gateway_answers.get(None)
    if answers is not None:
        answers[request.idempotency_key] = result
    return result


@hookimpl(trylast=True)
def oms_plan_shipments(order: Order) -> Sequence[ShipmentPlan] | None:
    """One parcel with every line that ships, from no particular stock location."""
    lines = tuple((line.sku, line.quantity) for line in order.lines if line.requires_shipping)
    return [ShipmentPlan(lines)] if lines else []


@hookimpl(trylast=True)
def oms_shipping_price(
    order: Order, market: MarketPolicy, method: ShippingMethodPolicy
) -> Money | None:
    return policy_shipping_price(method, market.money(order.subtotal - order.discount))
