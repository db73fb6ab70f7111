"""The plugin's tables, on the SDK's own ``metadata``.

Defined at import time: entry-point plugins are imported before ``OMS.open`` opens the store,
so the SDK's ``metadata.create_all`` creates them along with its own, in the same database, and
a reservation commits in the same transaction as the order it belongs to. Every name starts
with ``oms_stock_`` so the plugin never collides with the SDK or the embedding application.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
)

from oms_sdk.store import PluginMigrations, Timestamp, metadata

__all__ = [
    "MIGRATIONS",
    "ORDERS",
    "ReservationStatus",
    "items",
    "locations",
    "reservations",
]

#: The SDK's order table, read (never written) for the status an order's reservation depends on.
ORDERS = metadata.tables["oms_orders"]

ReservationStatus = Literal["reserved", "decremented", "released"]
RESERVED: ReservationStatus = "reserved"
DECREMENTED: ReservationStatus = "decremented"
RELEASED: ReservationStatus = "released"


locations = Table(
    "oms_stock_locations",
    metadata,
    # One row per (market, location): the same warehouse may be primary for one market and a
    # fallback for another. Mirrors the policy; rewritten from it on every open.
    Column("market", String(16), primary_key=True),
    Column("code", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("inventory_model", String(40), nullable=False),
)

items = Table(
    "oms_stock_items",
    metadata,
    # Physical stock, keyed by location code alone: markets sharing a location share its units.
    Column("location", String(64), primary_key=True),
    Column("sku", String(64), primary_key=True),
    Column("on_hand", Integer, nullable=False),
    Column("updated_at", Timestamp(), nullable=False),
    CheckConstraint("on_hand >= 0", name="ck_oms_stock_items_on_hand"),
)

reservations = Table(
    "oms_stock_reservations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("order_id", ForeignKey("oms_orders.id", ondelete="CASCADE"), nullable=False, index=True),
    # 1-based index of the order's shipment (``EU-000042/2`` is shipment 2).
    Column("shipment", Integer, nullable=False),
    # Where the units are taken: the shipment's own location, or a stock transfer's origin.
    Column("location", String(64), nullable=False),
    Column("sku", String(64), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", Timestamp(), nullable=False),
    # Matters only while the order is not yet placed (authorized, still pending).
    Column("expires_at", Timestamp(), nullable=False),
    # When the reservation was decremented or released.
    Column("settled_at", Timestamp()),
    CheckConstraint("quantity > 0", name="ck_oms_stock_reservations_quantity"),
    Index(None, "location", "sku", "status"),
)


#: The plugin's schema revisions (``migrations/``), run by the SDK after its own.
MIGRATIONS = PluginMigrations(
    name="stock",
    versions=Path(__file__).resolve().parent / "migrations",
    tables=frozenset({locations.name, items.name, reservations.name}),
)
