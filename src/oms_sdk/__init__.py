"""oms-sdk: an order management system you embed in your Python application.

Start with ``OMS.open(policy_path)``; every method returns an immutable ``OrderView``.
"""

from ._outbox import RelayReport
from ._service import OMS, Reconciled
from .errors import (
    ConcurrentModification,
    CurrencyMismatch,
    DatabaseNotUpToDate,
    GiftCardError,
    IdempotencyConflict,
    InvalidOrderInput,
    MoneyError,
    OMSError,
    OrderError,
    OrderNotFound,
    OutOfStock,
    PaymentActionRequired,
    PaymentAmountError,
    PaymentDeclined,
    PaymentError,
    PaymentOutcomeUnknown,
    PluginError,
    PolicyError,
    PolicyProblem,
    TransitionNotAllowed,
)
from .events import EventPublisher, OrderEvent
from .hookspecs import hookimpl
from .lifecycle import FulfillmentStatus, OrderStatus, PaymentStatus, ShipmentStatus
from .money import Money
from .orders import (
    Address,
    GiftCardView,
    HistoryEntryView,
    LineItemView,
    OrderView,
    ShipmentView,
    Totals,
    TransactionView,
)
from .payments import AsyncPaymentGateway, GatewayResult, PaymentGateway, PaymentRequest
from .policy import MarketPolicy, PaymentMethodPolicy, PolicySet, load_policies
from .shipping import ShipmentPlan

__version__ = "0.1.0"

__all__ = [
    "OMS",
    "Address",
    "AsyncPaymentGateway",
    "ConcurrentModification",
    "CurrencyMismatch",
    "DatabaseNotUpToDate",
    "EventPublisher",
    "FulfillmentStatus",
    "GatewayResult",
    "GiftCardError",
    "GiftCardView",
    "HistoryEntryView",
    "IdempotencyConflict",
    "InvalidOrderInput",
    "LineItemView",
    "MarketPolicy",
    "Money",
    "MoneyError",
    "OMSError",
    "OrderError",
    "OrderEvent",
    "OrderNotFound",
    "OrderStatus",
    "OrderView",
    "OutOfStock",
    "PaymentActionRequired",
    "PaymentAmountError",
    "PaymentDeclined",
    "PaymentError",
    "PaymentGateway",
    "PaymentMethodPolicy",
    "PaymentOutcomeUnknown",
    "PaymentRequest",
    "PaymentStatus",
    "PluginError",
    "PolicyError",
    "PolicyProblem",
    "PolicySet",
    "Reconciled",
    "RelayReport",
    "ShipmentPlan",
    "ShipmentStatus",
    "ShipmentView",
    "Totals",
    "TransactionView",
    "TransitionNotAllowed",
    "__version__",
    "hookimpl",
    "load_policies",
]
