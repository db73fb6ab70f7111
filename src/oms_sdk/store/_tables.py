"""The tables, and the mapping of the order aggregate's plain classes onto them.

The domain classes in ``oms_sdk.orders`` know nothing about SQLAlchemy; they are mapped here
imperatively, so the store depends on the domain and never the other way around. Every table is
prefixed ``oms_`` so the SDK can share a database with the application that embeds it.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import registry, relationship

from ..orders import (
    GiftCard,
    HistoryEntry,
    LineItem,
    Order,
    PaymentTransaction,
    Shipment,
    ShipmentLine,
)

__all__ = ["map_domain", "metadata", "orders"]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class Timestamp(TypeDecorator[datetime]):
    """A UTC instant: stored as UTC, always read back timezone-aware (SQLite forgets zones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


orders = Table(
    "oms_orders",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("number", String(32), nullable=False, unique=True),
    Column("market", String(16), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(32), nullable=False),
    Column("payment_status", String(32), nullable=False),
    Column("fulfillment_status", String(32), nullable=False),
    Column("customer_email", String(320)),
    Column("billing_address", JSON),
    Column("shipping_address", JSON),
    Column("shipping_method", String(40)),
    Column("payment_method", String(40)),
    Column("payment_source", String(255)),
    Column("coupon_code", String(40)),
    Column("promotions", JSON, nullable=False),
    Column("gift_card_code", String(64)),
    Column("gift_card_held", Boolean, nullable=False),
    Column("subtotal", BigInteger, nullable=False),
    Column("discount", BigInteger, nullable=False),
    Column("shipping", BigInteger, nullable=False),
    Column("surcharge", BigInteger, nullable=False),
    Column("tax", BigInteger, nullable=False),
    Column("tax_included", Boolean, nullable=False),
    Column("gift_card", BigInteger, nullable=False),
    Column("total", BigInteger, nullable=False),
    Column("requires_shipping", Boolean, nullable=False),
    Column("placed_at", Timestamp()),
    Column("approved_at", Timestamp()),
    Column("cancelled_at", Timestamp()),
    Column("archived_at", Timestamp()),
    Column("created_at", Timestamp(), nullable=False),
    Column("updated_at", Timestamp(), nullable=False),
    Column("version", Integer, nullable=False),
    Index(None, "market", "status"),
    Index(None, "created_at"),
)

line_items = Table(
    "oms_line_items",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("order_id", ForeignKey("oms_orders.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("position", Integer, nullable=False),
    Column("sku", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price", BigInteger, nullable=False),
    Column("discount", BigInteger, nullable=False),
    Column("requires_shipping", Boolean, nullable=False),
    UniqueConstraint("order_id", "sku"),
)

payment_transactions = Table(
    "oms_payment_transactions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("order_id", ForeignKey("oms_orders.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("seq", Integer, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("succeeded", Boolean, nullable=False),
    Column("gateway", String(40), nullable=False),
    Column("reference", String(255)),
    Column("parent_reference", String(255)),
    Column("error_code", String(64)),
    Column("error_message", Text),
    Column("pending", Boolean, nullable=False),
    Column("action_id", String(255)),
    Column("idempotency_key", String(255), nullable=False, unique=True),
    Column("metadata", JSON, nullable=False),
    Column("created_at", Timestamp(), nullable=False),
)

shipments = Table(
    "oms_shipments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("order_id", ForeignKey("oms_orders.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("number", String(40), nullable=False, unique=True),
    Column("status", String(32), nullable=False),
    Column("stock_location", String(64)),
    Column("carrier", String(64)),
    Column("tracking_number", String(100)),
    Column("shipped_at", Timestamp()),
    Column("delivered_at", Timestamp()),
)

shipment_lines = Table(
    "oms_shipment_lines",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "shipment_id",
        ForeignKey("oms_shipments.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("sku", String(64), nullable=False),
    Column("quantity", Integer, nullable=False),
)

history = Table(
    "oms_order_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("order_id", ForeignKey("oms_orders.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("at", Timestamp(), nullable=False),
    Column("trigger", String(64), nullable=False),
    Column("actor", String(100), nullable=False),
    Column("from_status", String(32), nullable=False),
    Column("from_payment_status", String(32), nullable=False),
    Column("from_fulfillment_status", String(32), nullable=False),
    Column("status", String(32), nullable=False),
    Column("payment_status", String(32), nullable=False),
    Column("fulfillment_status", String(32), nullable=False),
    Column("amount", BigInteger),
    Column("currency", String(3), nullable=False),
    Column("detail", JSON, nullable=False),
)

gift_cards = Table(
    "oms_gift_cards",
    metadata,
    Column("code", String(64), primary_key=True),
    Column("currency", String(3), nullable=False),
    Column("balance", BigInteger, nullable=False),
    Column("initial_balance", BigInteger, nullable=False),
    Column("created_at", Timestamp(), nullable=False),
)

promotion_usage = Table(
    "oms_promotion_usage",
    metadata,
    Column("market", String(16), primary_key=True),
    Column("promotion", String(40), primary_key=True),
    Column("used", Integer, nullable=False),
)

order_numbers = Table(
    "oms_order_numbers",
    metadata,
    Column("prefix", String(16), primary_key=True),
    Column("last", Integer, nullable=False),
)

idempotency_keys = Table(
    "oms_idempotency_keys",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("command", String(64), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("order_id", String(36)),
    # NULL while the first request with this key runs: later ones wait for its answer.
    Column("response", JSON(none_as_null=True)),
    # The run that holds the key; refreshed (created_at) while it runs, checked at its commit.
    Column("owner", String(36)),
    Column("created_at", Timestamp(), nullable=False),
)

outbox = Table(
    "oms_outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("order_id", String(36), nullable=False, index=True),
    Column("name", String(64), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("created_at", Timestamp(), nullable=False),
)

outbox_deliveries = Table(
    "oms_outbox_deliveries",
    metadata,
    Column(
        "outbox_id",
        ForeignKey("oms_outbox.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("publisher", String(64), primary_key=True),
    Column("delivered_at", Timestamp(), nullable=False),
)

mapper_registry = registry(metadata=metadata)
_mapped = False
_mapping = threading.Lock()


def map_domain() -> None:
    """Map the domain classes onto the tables (once per process, whichever thread is first)."""
    with _mapping:
        _map_domain()


def _map_domain() -> None:
    global _mapped
    if _mapped:
        return
    mapper_registry.map_imperatively(LineItem, line_items)
    mapper_registry.map_imperatively(
        PaymentTransaction,
        payment_transactions,
        properties={"metadata_": payment_transactions.c.metadata},
    )
    mapper_registry.map_imperatively(ShipmentLine, shipment_lines)
    mapper_registry.map_imperatively(
        Shipment,
        shipments,
        properties={
            "lines": relationship(
                ShipmentLine,
                order_by=shipment_lines.c.id,
                cascade="all, delete-orphan",
                lazy="selectin",
            )
        },
    )
    mapper_registry.map_imperatively(HistoryEntry, history)
    mapper_registry.map_imperatively(GiftCard, gift_cards)
    mapper_registry.map_imperatively(
        Order,
        orders,
        version_id_col=orders.c.version,
        properties={
            "lines": relationship(
                LineItem,
                order_by=line_items.c.position,
                cascade="all, delete-orphan",
                lazy="selectin",
            ),
            "transactions": relationship(
                PaymentTransaction,
                order_by=payment_transactions.c.seq,
                cascade="all, delete-orphan",
                lazy="selectin",
            ),
            "shipments": relationship(
                Shipment, order_by=shipments.c.id, cascade="all, delete-orphan", lazy="selectin"
            ),
        },
    )
    _mapped = True
