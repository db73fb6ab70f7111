"""Transactional outbox, and idempotency keys claimed before their command runs.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 10:05:00

``oms_idempotency_keys.response`` becomes nullable: a key is now inserted (claimed) before its
command runs, so concurrent requests with the same key wait for the first one's answer; its
``owner`` is the run holding it, which only that run may answer.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("oms_idempotency_keys") as batch:
        batch.alter_column("response", existing_type=sa.JSON(), nullable=True)
        batch.add_column(sa.Column("owner", sa.String(length=36), nullable=True))
    op.create_table(
        "oms_outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("order_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oms_outbox")),
        sa.UniqueConstraint("event_id", name=op.f("uq_oms_outbox_event_id")),
    )
    op.create_index(op.f("ix_oms_outbox_order_id"), "oms_outbox", ["order_id"], unique=False)
    op.create_table(
        "oms_outbox_deliveries",
        sa.Column("outbox_id", sa.Integer(), nullable=False),
        sa.Column("publisher", sa.String(length=64), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["outbox_id"],
            ["oms_outbox.id"],
            name=op.f("fk_oms_outbox_deliveries_outbox_id_oms_outbox"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("outbox_id", "publisher", name=op.f("pk_oms_outbox_deliveries")),
    )


def downgrade() -> None:
    op.drop_table("oms_outbox_deliveries")
    op.drop_index(op.f("ix_oms_outbox_order_id"), table_name="oms_outbox")
    op.drop_table("oms_outbox")
    with op.batch_alter_table("oms_idempotency_keys") as batch:
        batch.drop_column("owner")
        batch.alter_column("response", existing_type=sa.JSON(), nullable=False)
