"""Order events: what ``oms_order_committed`` observers receive after each command."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .money import Money
from .orders import OrderView

__all__ = ["OrderEvent"]


@dataclass(frozen=True)
class OrderEvent:
    """One committed command on one order. ``id`` is unique: use it to drop duplicates."""

    id: str
    name: str
    """``orders.<command>``, e.g. ``orders.place``, ``orders.refund``, ``orders.place_failed``."""
    at: datetime
    actor: str
    from_statuses: tuple[str, str, str]
    statuses: tuple[str, str, str]
    amount: Money | None
    order: OrderView
