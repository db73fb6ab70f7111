"""Shipment plans: how an inventory integration tells the SDK what ships from where."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ShipmentPlan"]


@dataclass(frozen=True)
class ShipmentPlan:
    """One parcel: the stock location it leaves from and the ``(sku, quantity)`` it holds."""

    lines: tuple[tuple[str, int], ...]
    stock_location: str | None = None

    def __post_init__(self) -> None:
        if not self.lines:
            raise ValueError("a shipment plan needs at least one line")
        for sku, quantity in self.lines:
            if quantity <= 0:
                raise ValueError(f"shipment plan line {sku}: quantity must be positive")
