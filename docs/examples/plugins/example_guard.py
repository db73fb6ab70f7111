"""A transition guard: orders above a limit are approved only after a manual review.

Register an instance: ``OMS.open(..., plugins=[ReviewLargeOrders({"EUR": eur_limit})])``.
Reviews are kept in memory here; a real plugin records them somewhere durable.
"""

from __future__ import annotations

from collections.abc import Mapping

from oms_sdk import Money, hookimpl
from oms_sdk.orders import Order


class ReviewLargeOrders:
    def __init__(self, limits: Mapping[str, Money]) -> None:
        self.limits = dict(limits)  # by currency; orders in other currencies pass
        self.reviewed: set[str] = set()

    def mark_reviewed(self, order_number: str) -> None:
        """Someone looked at the order: ``approve`` may go ahead."""
        self.reviewed.add(order_number)

    @hookimpl
    def oms_transition_guard(self, order: Order, trigger: str) -> str | None:
        if trigger != "approve" or order.number in self.reviewed:
            return None
        limit = self.limits.get(order.currency)
        if limit is None or order.total_money <= limit:
            return None
        return f"orders above {limit.format()} need a manual review first"
