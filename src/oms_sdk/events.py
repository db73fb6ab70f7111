"""Order events, and the publishers the outbox relay delivers them to.

An event is written to the outbox table in the same transaction as the change it describes, so
an event exists exactly when its change committed. ``oms outbox relay`` (``OMS.relay_outbox``)
then hands each pending event to every publisher, in order per order, at least once: a
publisher that fails is asked again on the next run, so consumers drop duplicates by ``id``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from .money import Money
from .orders import OrderView

__all__ = ["EventPublisher", "OrderEvent"]


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

    def to_dict(self) -> dict[str, Any]:
        """The event as JSON-ready data: what the outbox stores and publishers send."""
        before = self.from_statuses
        return {
            "id": self.id,
            "type": self.name,
            "created_at": self.at.isoformat(),
            "previous": {
                "status": before[0],
                "payment_status": before[1],
                "fulfillment_status": before[2],
            },
            "amount": self.amount.to_dict() if self.amount is not None else None,
            "actor": self.actor,
            "data": self.order.model_dump(mode="json"),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OrderEvent:
        """The inverse of ``to_dict``."""
        order = OrderView.model_validate(data["data"])
        previous = data["previous"]
        amount = data.get("amount")
        return cls(
            id=data["id"],
            name=data["type"],
            at=datetime.fromisoformat(data["created_at"]),
            actor=data["actor"],
            from_statuses=(
                previous["status"],
                previous["payment_status"],
                previous["fulfillment_status"],
            ),
            statuses=(order.status, order.payment_status, order.fulfillment_status),
            amount=Money(amount["minor"], amount["currency"]) if amount else None,
            order=order,
        )


@runtime_checkable
class EventPublisher(Protocol):
    """Somewhere the outbox relay delivers order events: a broker, webhook endpoints.

    ``name`` identifies the publisher in the outbox's delivery records: keep it stable, since a
    renamed publisher starts again from the oldest event still in the outbox. ``publish`` must
    raise when the event was not delivered; the relay then stops this publisher's events of
    that order (to keep their order) and offers the same event again on its next run.
    """

    name: str

    def publish(self, event: OrderEvent) -> None: ...
