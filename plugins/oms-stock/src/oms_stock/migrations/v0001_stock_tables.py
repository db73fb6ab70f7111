"""The stock plugin's tables: locations, items, reservations.

Revision ID: stock_0001
Revises:
Create Date: 2026-11-29 10:00:00

Runs after the SDK's own revisions (reservations refer to ``oms_orders``), with the version
table ``oms_stock_alembic_version``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "stock_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("stock",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "oms_stock_locations",
        sa.Column("market", sa.String(length=16), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("inventory_model", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("market", "code", name=op.f("pk_oms_stock_locations")),
    )
    op.create_table(
        "oms_stock_items",
        sa.Column("location", sa.String(length=64), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("on_hand", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("on_hand >= 0", name="ck_oms_stock_items_on_hand"),
        sa.PrimaryKeyConstraint("location", "sku", name=op.f("pk_oms_stock_items")),
    )
    op.create_table(
        "oms_stock_reservations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("order_id", sa.String(length=36), nullable=False),
        sa.Column("shipment", sa.Integer(), nullable=False),
        sa.Column("location", sa.String(length=64), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("quantity > 0", name="ck_oms_stock_reservations_quantity"),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["oms_orders.id"],
            name=op.f("fk_oms_stock_reservations_order_id_oms_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oms_stock_reservations")),
    )
    op.create_index(
        op.f("ix_oms_stock_reservations_order_id"),
        "oms_stock_reservations",
        ["order_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_oms_stock_reservations_location_sku_status"),
        "oms_stock_reservations",
        ["location", "sku", "status"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("oms_stock_reservations")
    op.drop_table("oms_stock_items")
    op.drop_table("oms_stock_locations")
