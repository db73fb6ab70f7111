"""A store-credit payment gateway: customers pay with credit the shop keeps for them.

Register the module with ``OMS.open(..., plugins=[example_gateway])`` (or publish it under the
``oms_sdk`` entry-point group) and name ``gateway: store_credit`` on a payment method. The
order's ``payment_source`` is the customer's credit account. Its books live in memory to keep
the example short; a real gateway keeps them in a database of its own.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from oms_sdk import GatewayResult, Money, PaymentGateway, PaymentRequest, hookimpl


@dataclass
class Hold:
    """An authorization: credit set aside, captured in parts, the rest released by a void."""

    account: str
    amount: Money
    captured: Money
    voided: bool = False


@dataclass
class Charge:
    """A capture: credit spent, refunded back to the account in parts."""

    account: str
    amount: Money
    refunded: Money


def refuse(request: PaymentRequest, code: str, message: str) -> GatewayResult:
    return GatewayResult.failed(request.amount, code, message)


class StoreCreditGateway:
    name = "store_credit"

    def __init__(self) -> None:
        self.balances: dict[str, Money] = {}
        self.holds: dict[str, Hold] = {}
        self.charges: dict[str, Charge] = {}
        self._answers: dict[tuple[str, str], GatewayResult] = {}
        self._lock = threading.Lock()

    def credit(self, account: str, amount: Money) -> None:
        """Give ``account`` some credit (opening it): a return, a goodwill gesture."""
        with self._lock:
            self.balances[account] = (
                self.balances.get(account, Money.zero(amount.currency)) + amount
            )

    def _once(
        self, operation: str, request: PaymentRequest, run: Callable[[], GatewayResult]
    ) -> GatewayResult:
        """The first answer to an idempotency key is the only one: a retry moves nothing."""
        key = (operation, request.idempotency_key)
        with self._lock:
            if key not in self._answers:
                self._answers[key] = run()
            return self._answers[key]

    def authorize(self, request: PaymentRequest) -> GatewayResult:
        def run() -> GatewayResult:
            account, amount = request.payment_source or "", request.amount
            balance = self.balances.get(account)
            if balance is None:
                return refuse(request, "unknown_account", f"no credit account {account!r}")
            if balance.currency != amount.currency:
                return refuse(request, "currency_mismatch", f"the account is in {balance.currency}")
            if amount.minor <= 0 or amount > balance:
                return refuse(request, "insufficient_credit", f"{balance.format()} available")
            self.balances[account] = balance - amount
            reference = f"sc_hold_{uuid.uuid4().hex[:12]}"
            self.holds[reference] = Hold(account, amount, Money.zero(amount.currency))
            return GatewayResult.ok(amount, reference)

        return self._once("authorize", request, run)

    def capture(self, request: PaymentRequest) -> GatewayResult:
        def run() -> GatewayResult:
            hold, amount = self.holds.get(request.reference or ""), request.amount
            if hold is None:
                return refuse(request, "unknown_authorization", "no such hold")
            if hold.voided:
                return refuse(request, "authorization_voided", "the hold was released")
            if amount.currency != hold.amount.currency:
                return refuse(
                    request, "currency_mismatch", f"the hold is in {hold.amount.currency}"
                )
            if amount.minor <= 0 or hold.captured + amount > hold.amount:
                return refuse(request, "amount_too_large", "more than the hold has left")
            hold.captured += amount
            reference = f"sc_charge_{uuid.uuid4().hex[:12]}"
            self.charges[reference] = Charge(hold.account, amount, Money.zero(amount.currency))
            return GatewayResult.ok(amount, reference)

        return self._once("capture", request, run)

    def void(self, request: PaymentRequest) -> GatewayResult:
        """Release everything the hold has not captured; the amount must say exactly that."""

        def run() -> GatewayResult:
            hold = self.holds.get(request.reference or "")
            if hold is None:
                return refuse(request, "unknown_authorization", "no such hold")
            if hold.voided:
                return refuse(request, "authorization_voided", "the hold was released")
            if request.amount != hold.amount - hold.captured:
                left = (hold.amount - hold.captured).format()
                return refuse(request, "amount_mismatch", f"{left} is left to release")
            hold.voided = True
            self.balances[hold.account] += request.amount
            return GatewayResult.ok(request.amount, f"sc_release_{uuid.uuid4().hex[:12]}")

        return self._once("void", request, run)

    def refund(self, request: PaymentRequest) -> GatewayResult:
        def run() -> GatewayResult:
            charge, amount = self.charges.get(request.reference or ""), request.amount
            if charge is None:
                return refuse(request, "unknown_capture", "no such charge")
            if amount.currency != charge.amount.currency:
                return refuse(
                    request, "currency_mismatch", f"the charge is in {charge.amount.currency}"
                )
            if amount.minor <= 0 or charge.refunded + amount > charge.amount:
                return refuse(request, "amount_too_large", "more than the charge has left")
            charge.refunded += amount
            self.balances[charge.account] += amount
            return GatewayResult.ok(amount, f"sc_refund_{uuid.uuid4().hex[:12]}")

        return self._once("refund", request, run)


@hookimpl
def oms_payment_gateways() -> list[PaymentGateway]:
    """A fresh gateway for every OMS; reach it as ``oms.gateways["store_credit"]``."""
    return [StoreCreditGateway()]
