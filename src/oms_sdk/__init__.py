"""oms-sdk: an order management system you embed in your Python application.

Start with ``OMS.open(policy_path)``; every method returns an immutable ``OrderView``.
"""

from ._service import OMS
from .errors import (
    CurrencyMismatch,
    GiftCardError,
    IdempotencyConflict,
    InvalidOrderInput,
    MoneyError,
    OMSError,
    OrderError,
    OrderNotFound,
    PaymentAmountError,
    PaymentDeclined,
    PaymentError,
    PolicyError,
    PolicyProblem,
    TransitionNotAllowed,
)
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
from .payments import GatewayResult, PaymentGateway, PaymentRequest
from .policy import MarketPolicy, PaymentMethodPolicy, PolicySet, load_policies

__version__ = "0.1.0"

__all__ = [
    "OMS",
    "Address",
    "CurrencyMismatch",
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
    "OrderNotFound",
    "OrderStatus",
    "OrderView",
    "PaymentAmountError",
    "PaymentDeclined",
    "PaymentError",
    "PaymentGateway",
    "PaymentMethodPolicy",
    "PaymentRequest",
    "PaymentStatus",
    "PolicyError",
    "PolicyProblem",
    "PolicySet",
    "ShipmentStatus",
    "ShipmentView",
    "Totals",
    "TransactionView",
    "TransitionNotAllowed",
    "__version__",
    "load_policies",
]
