"""The status values of orders and shipments.

``status`` is open-ended (policy files add steps such as ``review``), so an order's status is a
plain string; ``OrderStatus`` names the ones every lifecycle has.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["FulfillmentStatus", "OrderStatus", "PaymentStatus", "ShipmentStatus"]


class OrderStatus(StrEnum):
    DRAFT = "draft"
    PENDING = "pending"
    PLACED = "placed"
    APPROVED = "approved"
    CANCELLED = "cancelled"


class PaymentStatus(StrEnum):
    """Derived from the payment ledger, never set by hand."""

    UNPAID = "unpaid"
    AUTHORIZED = "authorized"
    PARTIALLY_AUTHORIZED = "partially_authorized"
    PAID = "paid"
    PARTIALLY_PAID = "partially_paid"
    VOIDED = "voided"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    FREE = "free"


class FulfillmentStatus(StrEnum):
    UNFULFILLED = "unfulfilled"
    IN_PROGRESS = "in_progress"
    FULFILLED = "fulfilled"
    NOT_REQUIRED = "not_required"


class ShipmentStatus(StrEnum):
    UPCOMING = "upcoming"
    ON_HOLD = "on_hold"
    PICKING = "picking"
    PACKING = "packing"
    READY_TO_SHIP = "ready_to_ship"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
