"""A test-mode card gateway for oms-sdk, driven by Stripe-style test tokens.

Registered under the ``oms_sdk`` entry-point group as ``sandbox``: list it in a policy file's
``plugins:`` and use ``gateway: sandbox`` on a payment method.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from oms_sdk import GatewayResult, Money, PaymentGateway, PaymentRequest, hookimpl

__all__ = ["SANDBOX_TOKENS", "SandboxGateway", "SandboxGatewayError", "oms_payment_gateways"]

#: Test tokens: token -> (error code, message) for a decline; None for a success.
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
}
#: Tokens that break the gateway instead of declining.
ERROR_TOKEN = "tok_gatewayError"
TIMEOUT_TOKEN = "tok_timeout"
#: A token whose authorization waits for the customer (3-D Secure).
ACTION_TOKEN = "tok_threeDSecureRequired"


class SandboxGatewayError(RuntimeError):
    """Raised for ``tok_gatewayError``: a gateway that breaks, not one that declines."""


@dataclass
class SandboxAuthorization:
    amount: Money
    captured: Money
    created_at: datetime
    voided: bool = False


@dataclass
class SandboxCapture:
    authorization: str
    amount: Money
    refunded: Money


@dataclass
class _Action:
    request: PaymentRequest
    outcome: bool | None = None
    result: GatewayResult | None = None


@dataclass
class SandboxGateway:
    """A card gateway in test mode, with its own books (``authorizations``, ``captures``)."""

    latency: float = 0.0
    """Seconds to wait before every answer, like a network round trip."""
    authorization_ttl: timedelta | None = None
    """Authorizations older than this cannot be captured (``authorization_expired``)."""
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    timeout: float = 0.0
    """How long ``tok_timeout`` hangs before raising ``TimeoutError``."""
    name: str = "sandbox"
    authorizations: dict[str, SandboxAuthorization] = field(default_factory=dict)
    captures: dict[str, SandboxCapture] = field(default_factory=dict)
    voids: dict[str, Money] = field(default_factory=dict)
    calls: int = 0
    """How many calls moved money or answered (repeated idempotency keys not counted)."""
    _results: dict[tuple[str, str], GatewayResult] = field(default_factory=dict, repr=False)
    _actions: dict[str, _Action] = field(default_factory=dict, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    # -- plumbing -----------------------------------------------------------------------------

    def _once(
        self, operation: str, request: PaymentRequest, run: Callable[[], GatewayResult]
    ) -> GatewayResult:
        """The first answer to an idempotency key is the only one: a retry moves no money."""
        if self.latency:
            time.sleep(self.latency)
        key = (operation, request.idempotency_key)
        with self._lock:
            found = self._results.get(key)
            if found is None:
                self.calls += 1
                found = run()
                self._results[key] = found
            return found

    @staticmethod
    def _reference(kind: str) -> str:
        return f"sbx_{kind}_{uuid.uuid4().hex[:16]}"

    # -- the gateway API ----------------------------------------------------------------------

    def authorize(self, request: PaymentRequest) -> GatewayResult:
        token = request.payment_source or "tok_visa"
        if token == ERROR_TOKEN:
            raise SandboxGatewayError("sandbox: upstream processor unavailable")
        if token == TIMEOUT_TOKEN:
            time.sleep(self.timeout)
            raise TimeoutError("sandbox: no answer from the processor")

        def run() -> GatewayResult:
            if token == ACTION_TOKEN:
                action_id = f"sbx_act_{uuid.uuid4().hex[:16]}"
                self._actions[action_id] = _Action(request)
                return GatewayResult.requires_action(request.amount, action_id)
            if token not in SANDBOX_TOKENS:
                return GatewayResult.failed(
                    request.amount, "invalid_payment_source", f"unknown sandbox token {token!r}"
                )
            decline = SANDBOX_TOKENS[token]
            if decline is not None:
                return GatewayResult.failed(request.amount, *decline)
            return self._authorized(request, token)

        return self._once("authorize", request, run)

    def _authorized(self, request: PaymentRequest, token: str) -> GatewayResult:
        reference = self._reference("auth")
        self.authorizations[reference] = SandboxAuthorization(
            request.amount, Money.zero(request.amount.currency), self.clock()
        )
        return GatewayResult.ok(request.amount, reference, token=token)

    def complete_action(self, action_id: str) -> GatewayResult:
        """How a pending authorization ended (see ``resolve_action``)."""
        with self._lock:
            action = self._actions.get(action_id)
            if action is None:
                raise KeyError(f"unknown sandbox action {action_id!r}")
            if action.result is not None:
                return action.result
            if action.outcome is None:
                return GatewayResult.requires_action(action.request.amount, action_id)
            if action.outcome:
                action.result = self._authorized(action.request, ACTION_TOKEN)
            else:
                action.result = GatewayResult.failed(
                    action.request.amount, "authentication_failed", "3-D Secure failed"
                )
            self.calls += 1
            return action.result

    def resolve_action(self, action_id: str, *, succeeded: bool = True) -> None:
        """Test helper: the customer finished (or abandoned) the 3-D Secure challenge."""
        with self._lock:
            self._actions[action_id].outcome = succeeded

    def capture(self, request: PaymentRequest) -> GatewayResult:
        def run() -> GatewayResult:
            amount = request.amount
            auth = self.authorizations.get(request.reference or "")
            if auth is None:
                return GatewayResult.failed(amount, "no_such_authorization", "unknown reference")
            if auth.voided:
                return GatewayResult.failed(amount, "authorization_voided", "already voided")
            if self.authorization_ttl and self.clock() - auth.created_at > self.authorization_ttl:
                return GatewayResult.failed(amount, "authorization_expired", "expired")
            if amount.currency != auth.amount.currency:
                return GatewayResult.failed(amount, "currency_mismatch", "wrong currency")
            if amount.minor <= 0 or auth.captured + amount > auth.amount:
                return GatewayResult.failed(
                    amount, "amount_too_large", "capture exceeds the authorization"
                )
            auth.captured = auth.captured + amount
            reference = self._reference("cap")
            self.captures[reference] = SandboxCapture(
                request.reference or "", amount, Money.zero(amount.currency)
            )
            return GatewayResult.ok(amount, reference)

        return self._once("capture", request, run)

    def void(self, request: PaymentRequest) -> GatewayResult:
        def run() -> GatewayResult:
            auth = self.authorizations.get(request.reference or "")
            if auth is None:
                return GatewayResult.failed(
                    request.amount, "no_such_authorization", "unknown reference"
                )
            if auth.voided:
                return GatewayResult.failed(request.amount, "authorization_voided", "voided")
            if request.amount.currency != auth.amount.currency:
                return GatewayResult.failed(request.amount, "currency_mismatch", "wrong currency")
            if request.amount > auth.amount - auth.captured:
                return GatewayResult.failed(
                    request.amount, "amount_too_large", "void exceeds what is uncaptured"
                )
            auth.voided = True
            reference = self._reference("void")
            self.voids[reference] = request.amount
            return GatewayResult.ok(request.amount, reference)

        return self._once("void", request, run)

    def refund(self, request: PaymentRequest) -> GatewayResult:
        def run() -> GatewayResult:
            amount = request.amount
            capture = self.captures.get(request.reference or "")
            if capture is None:
                return GatewayResult.failed(amount, "no_such_capture", "unknown capture")
            if amount.currency != capture.amount.currency:
                return GatewayResult.failed(amount, "currency_mismatch", "wrong currency")
            if amount.minor <= 0 or capture.refunded + amount > capture.amount:
                return GatewayResult.failed(
                    amount, "amount_too_large", "refund exceeds the capture"
                )
            capture.refunded = capture.refunded + amount
            return GatewayResult.ok(amount, self._reference("ref"))

        return self._once("refund", request, run)

    # -- the gateway's side of the books, for tests -------------------------------------------

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


@hookimpl
def oms_payment_gateways() -> list[PaymentGateway]:
    """A fresh sandbox per OMS: each keeps its own books."""
    return [SandboxGateway()]
