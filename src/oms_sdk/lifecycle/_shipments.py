"""The shipment lifecycle: one shared machine for every shipment of every market."""

from __future__ import annotations

from typing import Any

from transitions import Machine

from ._statuses import ShipmentStatus as S

__all__ = ["SHIPMENT_TRANSITIONS", "ShipmentLifecycle"]

_BEFORE_SHIPPING = [S.UPCOMING, S.ON_HOLD, S.PICKING, S.PACKING, S.READY_TO_SHIP]

#: trigger -> (sources, destination), after Commerce Layer's shipment dashboard.
SHIPMENT_TRANSITIONS: dict[str, tuple[list[S], S]] = {
    "start_picking": ([S.UPCOMING, S.ON_HOLD, S.PACKING, S.READY_TO_SHIP], S.PICKING),
    "start_packing": ([S.PICKING], S.PACKING),
    "mark_ready_to_ship": ([S.PACKING], S.READY_TO_SHIP),
    "put_on_hold": ([S.UPCOMING, S.PICKING, S.PACKING, S.READY_TO_SHIP], S.ON_HOLD),
    "ship": ([S.UPCOMING, S.PICKING, S.PACKING, S.READY_TO_SHIP], S.SHIPPED),
    "deliver": ([S.SHIPPED], S.DELIVERED),
    "cancel": (_BEFORE_SHIPPING, S.CANCELLED),
}


class ShipmentLifecycle:
    """Moves ``shipment.status``; returns the reason when a trigger is refused."""

    def __init__(self) -> None:
        self.machine = Machine(
            model=None,
            states=[s.value for s in S],
            transitions=[
                {"trigger": t, "source": [s.value for s in src], "dest": dest.value}
                for t, (src, dest) in SHIPMENT_TRANSITIONS.items()
            ],
            initial=S.UPCOMING.value,
            auto_transitions=False,
            ignore_invalid_triggers=True,
            model_attribute="status",
        )

    def allows(self, shipment: Any, trigger: str) -> bool:
        event = self.machine.events.get(trigger)
        return event is not None and shipment.status in event.transitions

    def fire(self, shipment: Any, trigger: str) -> str | None:
        """Run ``trigger``; None on success, else why it was refused (nothing changed)."""
        event = self.machine.events.get(trigger)
        if event is None:
            return (
                f"{trigger!r} is not a shipment trigger (known: {', '.join(SHIPMENT_TRANSITIONS)})"
            )
        if shipment.status in event.transitions and event.trigger(shipment):
            return None
        sources = ", ".join(s.value for s in SHIPMENT_TRANSITIONS[trigger][0])
        return f"shipment {shipment.number} is {shipment.status} (allowed from: {sources})"
