"""The gateway built into the SDK: ``manual``.

For money that moves outside any gateway (wire transfer, cash on delivery): every operation
succeeds and records what an operator confirms. Card gateways come as plugins (see the
``oms-sandbox-payments`` reference plugin).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable

from ._gateway import GatewayResult, PaymentRequest

__all__ = ["ManualGateway"]


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
