"""The Python API for applications: count stock, read levels and reservations.

Each function is its own unit of work on the OMS's database and returns frozen values, like
the SDK's own facade. ``set_stock``/``adjust_stock`` refuse to go below what active
reservations hold: a placed order was promised those units, and reserving never oversells only
as long as nothing else does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import insert, or_, select, update
from sqlalchemy.orm import Session

from oms_sdk import OMSError

from . import _db
from ._tables import ORDERS, ReservationStatus, items, locations, reservations

if TYPE_CHECKING:
    from oms_sdk import OMS

__all__ = [
    "Reservation",
    "StockError",
    "StockLevel",
    "adjust_stock",
    "reservations_of",
    "set_stock",
    "stock_levels",
]


class StockError(OMSError, ValueError):
    """A stock command that cannot run: unknown location, a negative count, or a count below
    what active reservations hold. Nothing was changed."""


@dataclass(frozen=True)
class StockLevel:
    """One SKU at one location: ``available = on_hand - reserved``."""

    location: str
    sku: str
    on_hand: int
    reserved: int
    """Units held by active reservations (placed orders, and unexpired authorized carts)."""
    available: int


@dataclass(frozen=True)
class Reservation:
    """Units of one SKU an order holds (or held) at one location, for one of its shipments."""

    order_id: str
    shipment: int
    location: str
    sku: str
    quantity: int
    status: ReservationStatus
    created_at: datetime
    expires_at: datetime
    settled_at: datetime | None
    active: bool
    """Whether it takes units away now (not lapsed, not settled)."""


def _count(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise StockError(f"{what} must be an integer, got {value!r}")
    return value


def _check_location(session: Session, location: str) -> None:
    known = list(session.scalars(select(locations.c.code).distinct().order_by(locations.c.code)))
    if location not in known:
        raise StockError(
            f"unknown stock location {location!r} (known: {', '.join(known) or 'none'}); "
            "locations come from the policy's extensions.stock section"
        )


def _level(session: Session, oms: OMS, location: str, sku: str, on_hand: int) -> StockLevel:
    held = _db.active_reserved(session, oms.clock(), codes=[location], skus=[sku])
    reserved = held.get((location, sku), 0)
    return StockLevel(location, sku, on_hand, reserved, on_hand - reserved)


def _write(oms: OMS, location: str, sku: str, count: int | None, delta: int | None) -> StockLevel:
    with oms.store.unit_of_work() as session:
        _check_location(session, location)
        current = _db.lock_items(session, [location], [sku]).get((location, sku))
        target = count if count is not None else (current or 0) + (delta or 0)
        if target < 0:
            raise StockError(f"{sku} at {location}: on hand cannot be negative ({target})")
        level = _level(session, oms, location, sku, target)
        if level.available < 0:
            raise StockError(
                f"{sku} at {location}: active reservations hold {level.reserved} units, "
                f"more than the {target} asked for; cancel or approve those orders first"
            )
        now = oms.clock()
        if current is None:
            session.execute(
                insert(items).values(location=location, sku=sku, on_hand=target, updated_at=now)
            )
        else:
            session.execute(
                update(items)
                .where(items.c.location == location, items.c.sku == sku)
                .values(on_hand=target, updated_at=now)
            )
        return level


def set_stock(oms: OMS, location: str, sku: str, on_hand: int) -> StockLevel:
    """Record a count: ``sku`` at ``location`` is ``on_hand`` units (a stock take)."""
    return _write(oms, location, sku, _count(on_hand, "on_hand"), None)


def adjust_stock(oms: OMS, location: str, sku: str, delta: int) -> StockLevel:
    """Add (goods received) or remove (damaged) units, atomically with concurrent checkouts:
    safer than reading a level and writing it back with ``set_stock``."""
    return _write(oms, location, sku, None, _count(delta, "delta"))


def stock_levels(oms: OMS, market: str | None = None) -> list[StockLevel]:
    """Every stock item, with what is reserved and available.

    ``market``: only the locations its inventory model uses, primary first; otherwise every
    location, by code.
    """
    with oms.store.unit_of_work() as session:
        query = select(items.c.location, items.c.sku, items.c.on_hand)
        if market is not None:
            if market not in oms.policies:
                known = ", ".join(oms.policies.codes)
                raise StockError(f"unknown market {market!r} (known: {known})")
            query = query.join(locations, locations.c.code == items.c.location).where(
                locations.c.market == market
            )
            query = query.order_by(locations.c.priority, items.c.sku)
        else:
            query = query.order_by(items.c.location, items.c.sku)
        rows = session.execute(query).all()
        held = _db.active_reserved(
            session, oms.clock(), codes={row.location for row in rows} if market else None
        )
        return [
            StockLevel(
                row.location,
                row.sku,
                row.on_hand,
                held.get((row.location, row.sku), 0),
                row.on_hand - held.get((row.location, row.sku), 0),
            )
            for row in rows
        ]


def reservations_of(oms: OMS, order: str) -> list[Reservation]:
    """The reservations of an order (its id or number), in the order they were made."""
    with oms.store.unit_of_work() as session:
        order_id = session.scalar(
            select(ORDERS.c.id).where(or_(ORDERS.c.id == order, ORDERS.c.number == order))
        )
        if order_id is None:
            raise StockError(f"no order with id or number {order!r}")
        live = {
            row_id
            for (row_id,) in session.execute(
                select(reservations.c.id)
                .join(ORDERS, ORDERS.c.id == reservations.c.order_id)
                .where(reservations.c.order_id == order_id, _db.active(oms.clock()))
            )
        }
        rows = session.execute(
            select(reservations)
            .where(reservations.c.order_id == order_id)
            .order_by(reservations.c.id)
        )
        return [
            Reservation(
                order_id=row.order_id,
                shipment=row.shipment,
                location=row.location,
                sku=row.sku,
                quantity=row.quantity,
                status=row.status,
                created_at=row.created_at,
                expires_at=row.expires_at,
                settled_at=row.settled_at,
                active=row.id in live,
            )
            for row in rows
        ]


def decrement_stock(oms: OMS, order: str) -> list[Reservation]:
    """Take an order's reserved units off hand now (inventory models with ``decrement: manual``).

    Idempotent: reservations already decremented or released are left as they are.
    """
    with oms.store.unit_of_work() as session:
        found = oms.store.load_order(session, order)
        _db.decrement(session, found.id, _db.now_for(session))
    return reservations_of(oms, order)
