"""Every exception oms-sdk raises on purpose, in one place.

Catch ``OMSError`` to handle them all; catch a subclass to handle one kind of failure::

    OMSError
    ├── MoneyError                  amounts that cannot be exact
    │   └── CurrencyMismatch        EUR added to USD, a USD price in an EUR market
    ├── PolicyError                 policy files that cannot load (lists every problem)
    ├── PluginError                 a plugin that is missing, broken or conflicting
    ├── DatabaseNotUpToDate         the database schema is behind: run `oms db upgrade`
    ├── OrderError                  a command about one order that cannot run
    │   ├── OrderNotFound
    │   ├── InvalidOrderInput       unknown SKU, zero quantity, a method of another market …
    │   ├── TransitionNotAllowed    the lifecycle refuses the trigger in the current statuses
    │   ├── OutOfStock              a reservation failed at placement; nothing was charged
    │   ├── ConcurrentModification  another command kept the order busy: retry later
    │   └── PaymentError
    │       ├── PaymentDeclined     the gateway said no; a failed transaction is recorded
    │       ├── PaymentActionRequired  3-D Secure, a bank redirect: the customer must act
    │       ├── PaymentOutcomeUnknown  the gateway did not answer: the payment stays pending
    │       └── PaymentAmountError  capture/refund above what is left
    ├── GiftCardError               unknown card, wrong currency, no balance
    └── IdempotencyConflict         a key reused with a different request

Every error changes nothing, except what a gateway said: a command that fails after a gateway
answered (``PaymentDeclined``, ``PaymentActionRequired``, or any error raised later in the
command, ``ConcurrentModification`` included) commits those ledger rows with a
``<command>_failed`` history entry and event, so that money that moved is never forgotten.
Every movement is written as a pending row before its gateway call; one the gateway never
answered (``PaymentOutcomeUnknown``, or a crash) stays pending until ``OMS.reconcile`` asks the
gateway again, or an operator records the outcome with ``OMS.resolve_payment``. A checkout's
stock and gift-card holds are committed with its authorization's pending row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "ConcurrentModification",
    "CurrencyMismatch",
    "DatabaseNotUpToDate",
    "GiftCardError",
    "IdempotencyConflict",
    "InvalidOrderInput",
    "MoneyError",
    "OMSError",
    "OrderError",
    "OrderNotFound",
    "OutOfStock",
    "PaymentActionRequired",
    "PaymentAmountError",
    "PaymentDeclined",
    "PaymentError",
    "PaymentOutcomeUnknown",
    "PluginError",
    "PolicyError",
    "PolicyProblem",
    "TransitionNotAllowed",
]


class OMSError(Exception):
    """Base class of every error raised by oms-sdk."""


class MoneyError(OMSError, ValueError):
    """An amount that cannot be represented exactly in its currency."""


class CurrencyMismatch(MoneyError):
    """Two amounts of different currencies were combined."""


@dataclass(frozen=True)
class PolicyProblem:
    """One problem in one policy file, located well enough to fix it without searching."""

    file: str
    key_path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        key = f" {self.key_path}:" if self.key_path else ""
        return f"{where}:{key} {self.message}"


class PolicyError(OMSError):
    """A policy set that cannot load. Nothing of it is loaded; ``problems`` lists them all."""

    def __init__(self, problems: Sequence[PolicyProblem]) -> None:
        self.problems = tuple(problems)
        count = len(self.problems)
        header = f"{count} problem{'s' if count != 1 else ''} in policy files"
        super().__init__("\n".join([header, *(f"  {p}" for p in self.problems)]))


class PluginError(OMSError):
    """A plugin listed but not installed, failing to import, or breaking the hook contract."""


class DatabaseNotUpToDate(OMSError, RuntimeError):
    """The database's SDK schema is not the one this version of oms-sdk expects.

    The message names the command to run (``oms db upgrade --database ...``).
    """


class OrderError(OMSError):
    """A command about one order could not run. The order is unchanged."""

    def __init__(self, message: str, *, order: str | None = None) -> None:
        self.order = order
        super().__init__(message)


class OrderNotFound(OrderError, LookupError):
    """No order has this id or number."""


class InvalidOrderInput(OrderError, ValueError):
    """The command's arguments do not fit the order or its market."""


class TransitionNotAllowed(OrderError):
    """The order's lifecycle refuses the trigger in its current statuses.

    The message names the order, the trigger, the three statuses and every reason, e.g.
    ``cannot capture order EU-000042 (placed/voided/unfulfilled): payment_status is voided``.
    """

    def __init__(
        self,
        *,
        order: str,
        trigger: str,
        status: str,
        payment_status: str,
        fulfillment_status: str,
        reasons: Sequence[str],
    ) -> None:
        self.trigger = trigger
        self.status = status
        self.payment_status = payment_status
        self.fulfillment_status = fulfillment_status
        self.reasons = tuple(reasons)
        statuses = f"{status}/{payment_status}/{fulfillment_status}"
        super().__init__(
            f"cannot {trigger} order {order} ({statuses}): {'; '.join(self.reasons)}",
            order=order,
        )


class OutOfStock(OrderError):
    """Stock could not be reserved when the order was placed; no money moved."""


class ConcurrentModification(OrderError):
    """The command lost a race for the order and did not run; nothing changed.

    Raised after the SDK retried a bounded number of times: another command kept the order
    locked, a payment of the order was still on its way to the gateway, or a request with the
    same idempotency key was still running. Retrying later is safe (with the same idempotency
    key, it cannot act twice). A payment stuck on its way for longer than
    ``OMS.in_flight_timeout``, or one the gateway never answered, needs ``OMS.reconcile()``
    (``oms reconcile``) first: then ``needs_reconcile`` is true, and retrying soon is pointless.
    """

    def __init__(
        self, message: str, *, order: str | None = None, needs_reconcile: bool = False
    ) -> None:
        super().__init__(message, order=order)
        self.needs_reconcile = needs_reconcile


class PaymentError(OrderError):
    """A money movement failed or was refused."""


class PaymentDeclined(PaymentError):
    """The gateway declined; the failed transaction is recorded on the order.

    The order keeps its statuses, so the customer can retry with another payment source.
    """

    def __init__(self, message: str, *, order: str, error_code: str, transaction_id: str) -> None:
        self.error_code = error_code
        self.transaction_id = transaction_id
        super().__init__(message, order=order)


class PaymentActionRequired(PaymentError):
    """The gateway needs the customer first (3-D Secure, a bank redirect).

    The pending transaction is recorded with its ``action_id``. Send the customer through the
    gateway's flow, then call ``OMS.complete_payment_action(order, action_id)``.
    """

    def __init__(self, message: str, *, order: str, action_id: str) -> None:
        self.action_id = action_id
        super().__init__(message, order=order)


class PaymentOutcomeUnknown(PaymentError):
    """The gateway did not answer (a timeout, a network or gateway error), even when asked
    again: the money may or may not have moved.

    The movement's ledger row stays pending, and the order's other commands are refused until
    it is settled. Retry the command with the same idempotency key (it asks the gateway again,
    never with a new key), or let ``OMS.reconcile()`` do it; if the gateway never answers,
    check its dashboard and record what happened with ``OMS.resolve_payment``.
    """

    def __init__(self, message: str, *, order: str, transaction_id: str) -> None:
        super().__init__(message, order=order)
        self.transaction_id = transaction_id


class PaymentAmountError(PaymentError):
    """A capture or refund asked for more than is left (or for nothing)."""


class GiftCardError(OMSError):
    """A gift card that cannot be used here: unknown, another currency, or no balance."""


class IdempotencyConflict(OMSError):
    """An idempotency key was reused with a different command or different arguments."""
