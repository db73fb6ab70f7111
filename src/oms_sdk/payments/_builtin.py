"""The two gateways that ship with the SDK: ``manual`` and ``sandbox``.

``manual`` is for money that moves outside any gateway (wire transfer, cash on delivery): every
operation succeeds and records what an operator confirms. ``sandbox`` behaves like a card gateway
in test mode, driven by Stripe-style test tokens, and keeps its own books so tests can compare
the order ledger with the gateway's side.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from ..money import Money
from ._gateway import GatewayResult, PaymentRequest

__all__ = ["ManualGateway", "SandboxGateway", "SandboxGatewayError"]


class _Idempotent:
    """Answers a repeated idempotency key with the first result, moving no money twice."""

    def __init__(self) -> None:
        self._results: dict[tuple[str, str], GatewayResult] = {}
        self._lock = threading.RLock()

    def _once(
        self, operation: str, request: PaymentRequest, run: Callable[[], GatewayResult]
    ) -> GatewayResult:
        key = (operation, request.idempotency_key)
        with self._lock:
            found = self._results.get(key)
            if found is None:
                found = run()
                self._results[key] = found
            return found


class ManualGateway(_Idempotent):
    """Payments settled outside the SDK; capture is an operator's confirmation."""

    name = "manual"

    def _ok(self, operation: str, request: PaymentRequest) -> GatewayResult:
        return self._once(
            operation,
            request,
            lambda: GatewayResult.ok(request.amount, f"manual_{operation}_{uuid.uuid4().hex[:12]}"),
        )

    def authorize(self, request: PaymentRequest) -> GatewayResult:
        return self._ok("authorize", request)

    def capture(self, request: PaymentRequest) -> GatewayResult:
        return self._ok("capture", request)

    def void(self, request: PaymentRequest) -> GatewayResult:
        return self._ok("void", request)

    def refund(self, request: PaymentRequest) -> GatewayResult:
        return self._ok("refund", request)


class SandboxGatewayError(RuntimeError):
    """Raised by the sandbox for ``tok_gatewayError``: a gateway that breaks, not declines."""


@dataclass
class SandboxAuthorization:
    amount: Money
    captured: Money
    voided: bool = False


@dataclass
class SandboxCapture:
    authorization: str
    amount: Money
    refunded: Money


#: Test tokens, after Stripe's: token -> (error code, message); None means success.
SANDBOX_TOKENS: dict[str, tuple[str, str] | None] = {
    "tok_visa": None,
    "tok_mastercard": None,
    "tok_amex": None,
    "tok_chargeDeclined": ("card_declined", "Your card was declined."),
    "tok_chargeDeclinedInsufficientFunds": (
        "insufficient_funds",
        "Your card has insufficient funds.",
    ),
    "tok_chargeDeclinedExpiredCard": ("expired_card", "Your card has expired."),
    "tok_gatewayError": None,  # raises SandboxGatewayError
}


class SandboxGateway(_Idempotent):
    """A test-mode card gateway with its own ledger (``authorizations``, ``captures``)."""

    name = "sandbox"

    def __init__(self) -> None:
        super().__init__()
        self.authorizations: dict[str, SandboxAuthorization] = {}
        self.captures: dict[str, SandboxCapture] = {}

    def authorize(self, request: PaymentRequest) -> GatewayResult:
        token = request.payment_source or "tok_visa"
        if token == "tok_gatewayError":
            raise SandboxGatewayError("sandbox: upstream processor unavailable")
        if token not in SANDBOX_TOKENS:
            return GatewayResult.failed(
                request.amount, "invalid_payment_source", f"unknown sandbox token {token!r}"
            )
        decline = SANDBOX_TOKENS[token]
        if decline is not None:
            return self._once(
                "authorize", request, lambda: GatewayResult.failed(request.amount, *decline)
            )

        def run() -> GatewayResult:
            reference = f"sbx_auth_{uuid.uuid4().hex[:16]}"
            self.authorizations[reference] = SandboxAuthorization(
                request.amount, Money.zero(request.amount.currency)
            )
            return GatewayResult.ok(request.amount, reference, token=token)

        return self._once("authorize", request, run)

    def capture(self, request: PaymentRequest) -> GatewayResult:
        def run() -> GatewayResult:
            auth = self.authorizations.get(request.reference or "")
            if auth is None:
                return GatewayResult.failed(request.amount, "no_such_authorization", "unknown")
            if auth.voided:
                return GatewayResult.failed(request.amount, "authorization_voided", "voided")
            if request.amount.currency != auth.amount.currency:
                return GatewayResult.failed(request.amount, "currency_mismatch", "currency")
            if auth.captured + request.amount > auth.amount:
                return GatewayResult.failed(
                    request.amount, "amount_too_large", "capture exceeds the authorization"
                )
            auth.captured = auth.captured + request.amount
            reference = f"sbx_cap_{uuid.uuid4().hex[:16]}"
            self.captures[reference] = SandboxCapture(
                request.reference or "", request.amount, Money.zero(request.amount.currency)
            )
            return GatewayResult.ok(request.amount, reference)

        return self._once("capture", request, run)

    def void(self, request: PaymentRequest) -> GatewayResult:
        def run() -> GatewayResult:
            auth = self.authorizations.get(request.reference or "")
            if auth is None:
                return GatewayResult.failed(request.amount, "no_such_authorization", "unknown")
            auth.voided = True
            return GatewayResult.ok(request.amount, f"sbx_void_{uuid.uuid4().hex[:16]}")

        return self._once("void", request, run)

    def refund(self, request: PaymentRequest) -> GatewayResult:
        def run() -> GatewayResult:
            capture = self.captures.get(request.reference or "")
            if capture is None:
                return GatewayResult.failed(request.amount, "no_such_capture", "unknown capture")
            if capture.refunded + request.amount > capture.amount:
                return GatewayResult.failed(
                    request.amount, "amount_too_large", "refund exceeds the capture"
                )
            capture.refunded = capture.refunded + request.amount
            return GatewayResult.ok(request.amount, f"sbx_ref_{uuid.uuid4().hex[:16]}")

        return self._once("refund", request, run)

    # -- the gateway's side of the books, for tests -----------------------------------------

    def captured_total(self, currency: str) -> Money:
        return sum(
            (c.amount for c in self.captures.values() if c.amount.currency == currency),
            Money.zero(currency),
        )

    def refunded_total(self, currency: str) -> Money:
        return sum(
            (c.refunded for c in self.captures.values() if c.amount.currency == currency),
            Money.zero(currency),
        )
