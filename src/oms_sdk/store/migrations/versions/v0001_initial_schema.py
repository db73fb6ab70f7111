"""Initial schema: the SDK's core tables, exactly as ``metadata.create_all`` made them in 0.1.0.

Revision ID: 0001
Revises:
Create Date: 2026-11-28 04:52:42.771655

Timestamps are plain ``DateTime(timezone=True)`` here: ``_tables.Timestamp`` only converts values
in Python and renders as that type, so the migration does not depend on live application code.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "oms_gift_cards",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column("initial_balance", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_oms_gift_cards")),
    )
    op.create_table(
        "oms_idempotency_keys",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("command", sa.String(length=64), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("order_id", sa.String(length=36), nullable=True),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_oms_idempotency_keys")),
    )
    op.create_table(
        "oms_order_numbers",
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("prefix", name=op.f("pk_oms_order_numbers")),
    )
    op.create_table(
        "oms_orders",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("market", sa.String(length=16), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("payment_status", sa.String(length=32), nullable=False),
        sa.Column("fulfillment_status", sa.String(length=32), nullable=False),
        sa.Column("customer_email", sa.String(length=320), nullable=True),
        sa.Column("billing_address", sa.JSON(), nullable=True),
        sa.Column("shipping_address", sa.JSON(), nullable=True),
        sa.Column("shipping_method", sa.String(length=40), nullable=True),
        sa.Column("payment_method", sa.String(length=40), nullable=True),
        sa.Column("payment_source", sa.String(length=255), nullable=True),
        sa.Column("coupon_code", sa.String(length=40), nullable=True),
        sa.Column("promotions", sa.JSON(), nullable=False),
        sa.Column("gift_card_code", sa.String(length=64), nullable=True),
        sa.Column("gift_card_held", sa.Boolean(), nullable=False),
        sa.Column("subtotal", sa.BigInteger(), nullable=False),
        sa.Column("discount", sa.BigInteger(), nullable=False),
        sa.Column("shipping", sa.BigInteger(), nullable=False),
        sa.Column("surcharge", sa.BigInteger(), nullable=False),
        sa.Column("tax", sa.BigInteger(), nullable=False),
        sa.Column("tax_included", sa.Boolean(), nullable=False),
        sa.Column("gift_card", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("requires_shipping", sa.Boolean(), nullable=False),
        sa.Column("placed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oms_orders")),
        sa.UniqueConstraint("number", name=op.f("uq_oms_orders_number")),
    )
    op.create_index(op.f("ix_oms_orders_created_at"), "oms_orders", ["created_at"], unique=False)
    op.create_index(
        op.f("ix_oms_orders_market_status"), "oms_orders", ["market", "status"], unique=False
    )
    op.create_table(
        "oms_promotion_usage",
        sa.Column("market", sa.String(length=16), nullable=False),
        sa.Column("promotion", sa.String(length=40), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("market", "promotion", name=op.f("pk_oms_promotion_usage")),
    )
    op.create_table(
        "oms_line_items",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("order_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price", sa.BigInteger(), nullable=False),
        sa.Column("discount", sa.BigInteger(), nullable=False),
        sa.Column("requires_shipping", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["oms_orders.id"],
            name=op.f("fk_oms_line_items_order_id_oms_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oms_line_items")),
        sa.UniqueConstraint("order_id", "sku", name=op.f("uq_oms_line_items_order_id_sku")),
    )
    op.create_index(
        op.f("ix_oms_line_items_order_id"), "oms_line_items", ["order_id"], unique=False
    )
    op.create_table(
        "oms_order_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("order_id", sa.String(length=36), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("trigger", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("from_status", sa.String(length=32), nullable=False),
        sa.Column("from_payment_status", sa.String(length=32), nullable=False),
        sa.Column("from_fulfillment_status", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("payment_status", sa.String(length=32), nullable=False),
        sa.Column("fulfillment_status", sa.String(length=32), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["oms_orders.id"],
            name=op.f("fk_oms_order_history_order_id_oms_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oms_order_history")),
    )
    op.create_index(
        op.f("ix_oms_order_history_order_id"), "oms_order_history", ["order_id"], unique=False
    )
    op.create_table(
        "oms_payment_transactions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("order_id", sa.String(length=36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.Column("gateway", sa.String(length=40), nullable=False),
        sa.Column("reference", sa.String(length=255), nullable=True),
        sa.Column("parent_reference", sa.String(length=255), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("pending", sa.Boolean(), nullable=False),
        sa.Column("action_id", sa.String(length=255), nullable=True),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["oms_orders.id"],
            name=op.f("fk_oms_payment_transactions_order_id_oms_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oms_payment_transactions")),
        sa.UniqueConstraint(
            "idempotency_key", name=op.f("uq_oms_payment_transactions_idempotency_key")
        ),
    )
    op.create_index(
        op.f("ix_oms_payment_transactions_order_id"),
        "oms_payment_transactions",
        ["order_id"],
        unique=False,
    )
    op.create_table(
        "oms_shipments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("order_id", sa.String(length=36), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("stock_location", sa.String(length=64), nullable=True),
        sa.Column("carrier", sa.String(length=64), nullable=True),
        sa.Column("tracking_number", sa.String(length=100), nullable=True),
        sa.Column("shipped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["oms_orders.id"],
            name=op.f("fk_oms_shipments_order_id_oms_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oms_shipments")),
        sa.UniqueConstraint("number", name=op.f("uq_oms_shipments_number")),
    )
    op.create_index(op.f("ix_oms_shipments_order_id"), "oms_shipments", ["order_id"], unique=False)
    op.create_table(
        "oms_shipment_lines",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("shipment_id", sa.Integer(), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["shipment_id"],
            ["oms_shipments.id"],
            name=op.f("fk_oms_shipment_lines_shipment_id_oms_shipments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oms_shipment_lines")),
    )
    op.create_index(
        op.f("ix_oms_shipment_lines_shipment_id"),
        "oms_shipment_lines",
        ["shipment_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_oms_shipment_lines_shipment_id"), table_name="oms_shipment_lines")
    op.drop_table("oms_shipment_lines")
    op.drop_index(op.f("ix_oms_shipments_order_id"), table_name="oms_shipments")
    op.drop_table("oms_shipments")
    op.drop_index(
        op.f("ix_oms_payment_transactions_order_id"), table_name="oms_payment_transactions"
    )
    op.drop_table("oms_payment_transactions")
    op.drop_index(op.f("ix_oms_order_history_order_id"), table_name="oms_order_history")
    op.drop_table("oms_order_history")
    op.drop_index(op.f("ix_oms_line_items_order_id"), table_name="oms_line_items")
    op.drop_table("oms_line_items")
    op.drop_table("oms_promotion_usage")
    op.drop_index(op.f("ix_oms_orders_market_status"), table_name="oms_orders")
    op.drop_index(op.f("ix_oms_orders_created_at"), table_name="oms_orders")
    op.drop_table("oms_orders")
    op.drop_table("oms_order_numbers")
    op.drop_table("oms_idempotency_keys")
    op.drop_table("oms_gift_cards")
