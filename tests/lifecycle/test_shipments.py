"""The shared shipment lifecycle."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from oms_sdk.lifecycle import ShipmentLifecycle


@dataclass
class Parcel:
    number: str = "EU-000001/1"
    status: str = "upcoming"


def test_the_warehouse_path() -> None:
    lifecycle = ShipmentLifecycle()
    parcel = Parcel()
    for trigger, status in [
        ("start_picking", "picking"),
        ("put_on_hold", "on_hold"),
        ("start_picking", "picking"),
        ("start_packing", "packing"),
        ("mark_ready_to_ship", "ready_to_ship"),
        ("ship", "shipped"),
        ("deliver", "delivered"),
    ]:
        assert lifecycle.fire(parcel, trigger) is None
        assert parcel.status == status


@pytest.mark.parametrize(
    ("status", "trigger"),
    [("shipped", "cancel"), ("upcoming", "deliver"), ("on_hold", "ship"), ("cancelled", "ship")],
)
def test_refused_moves_change_nothing(status: str, trigger: str) -> None:
    parcel = Parcel(status=status)
    reason = ShipmentLifecycle().fire(parcel, trigger)
    assert reason is not None
    assert reason.startswith(f"shipment EU-000001/1 is {status} (allowed from:")
    assert parcel.status == status


def test_unknown_trigger() -> None:
    assert "is not a shipment trigger" in (ShipmentLifecycle().fire(Parcel(), "teleport") or "")
