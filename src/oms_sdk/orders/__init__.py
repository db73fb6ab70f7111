"""The order aggregate: ledger, totals and the immutable views the facade returns."""

from ._model import (
    GiftCard,
    HistoryEntry,
    LineItem,
    Order,
    PaymentTransaction,
    Shipment,
    ShipmentLine,
    TransactionKind,
)
from ._pricing import policy_shipping_price, promotion_problem, reprice
from ._views import (
    Address,
    GiftCardView,
    HistoryEntryView,
    LineItemView,
    OrderView,
    ShipmentView,
    Totals,
    TransactionView,
    gift_card_view,
    history_view,
)

__all__ = [
    "Address",
    "GiftCard",
    "GiftCardView",
    "HistoryEntry",
    "HistoryEntryView",
    "LineItem",
    "LineItemView",
    "Order",
    "OrderView",
    "PaymentTransaction",
    "Shipment",
    "ShipmentLine",
    "ShipmentView",
    "Totals",
    "TransactionKind",
    "TransactionView",
    "gift_card_view",
    "history_view",
    "policy_shipping_price",
    "promotion_problem",
    "reprice",
]
