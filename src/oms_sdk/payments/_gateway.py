"""The payment gateway seam: one request shape, one result shape, four operations.

The result follows Commerce Layer's external-gateway protocol: a success flag, the gateway's
transaction reference, the amount, free metadata, and on failure an error code and message. A
gateway reports a decline as a failed result, never as an exception. An exception or a timeout
says nothing about the money: the SDK keeps the movement pending, asks again with the same
idempotency key, and leaves it to ``OMS.reconcile`` if the gateway still does not answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from ..money import Money

__all__ = ["AsyncPaymentGateway", "GatewayResult", "PaymentGateway", "PaymentRequest"]


@dataclass(frozen=True)
class PaymentRequest:
    """What the SDK asks a gateway to do.

    ``reference`` is the authorization's reference for capture and void, the capture's for
    refund. ``idempotency_key`` is unique per money movement: a gateway that sees it twice must
    answer the first result again and move no money.
    """

    order_number: str
    amount: Money
    idempotency_key: str
    payment_source: str | None = None
    reference: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class GatewayResult:
    success: bool
    amount: Money
    reference: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    error_code: str | None = None
    error_message: str | None = None
    action_id: str | None = None
    """Set when the gateway needs the customer first (3-D Secure, a redirect): the movement
    is pending until ``OMS.complete_payment_action`` asks the gateway how it ended."""

    @property
    def pending(self) -> bool:
        return self.action_id is not None and not self.success

    @classmethod
    def requires_action(cls, amount: Money, action_id: str, **metadata: Any) -> GatewayResult:
        return cls(False, amount, None, metadata, None, None, action_id)

    @classmethod
    def ok(cls, amount: Money, reference: str, **metadata: Any) -> GatewayResult:
        return cls(True, amount, reference, metadata)

    @classmethod
    def failed(cls, amount: Money, code: str, message: str, **metadata: Any) -> GatewayResult:
        return cls(False, amount, None, metadata, code, message)


@runtime_checkable
class PaymentGateway(Protocol):
    """A payment gateway, known by ``name`` in policy files (``gateway: sandbox``)."""

    name: str

    def authorize(self, request: PaymentRequest) -> GatewayResult: ...
    def capture(self, request: PaymentRequest) -> GatewayResult: ...
    def void(self, request: PaymentRequest) -> GatewayResult: ...
    def refund(self, request: PaymentRequest) -> GatewayResult: ...


@runtime_checkable
class AsyncPaymentGateway(PaymentGateway, Protocol):
    """A gateway whose authorizations may wait for the customer (``GatewayResult.action_id``)."""

    def complete_action(self, action_id: str) -> GatewayResult:
        """How the action ended: success, failure, or still pending (same ``action_id``)."""
        ...
