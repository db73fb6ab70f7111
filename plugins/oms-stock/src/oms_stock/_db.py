"""Stock in the SDK's database: what is free, locking it, reserving, settling, seeding.

Every function takes the caller's ``Session`` and never commits: the hooks run inside the
command's transaction, so a reservation, its order and its payment commit or roll back together.

Overselling is prevented by serializing on the stock rows an order needs: on PostgreSQL they are
read ``FOR UPDATE`` (in a fixed order, so two checkouts cannot deadlock) before the reservations
are summed; on SQLite the SDK opens every write transaction with ``BEGIN IMMEDIATE``, which
already serializes writers on the whole database.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Select, and_, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from oms_sdk import MarketPolicy

from ._config import InventoryModelPolicy, market_model
from ._planner import Parcel
from ._tables import DECREMENTED, ORDERS, RELEASED, RESERVED, items, locations, reservations

__all__ = [
    "active",
    "active_reserved",
    "decrement",
    "free_stock",
    "held_by",
    "insert_reservations",
    "lock_items",
    "lock_query",
    "now_for",
    "register_clock",
    "release",
    "release_held",
    "seed",
]

log = logging.getLogger("oms_stock")

Clock = Callable[[], datetime]
Key = tuple[str, str]

#: Statuses in which an order's reservation may still lapse: it is a cart being paid for.
#: From placement on, a reservation holds until approval (decrement) or cancellation (release).
_EXPIRING_STATUSES = ("draft", "pending")
_CANCELLED = "cancelled"

# The hooks receive a session but no clock; the OMS that owns the engine has one (a test's
# fake clock included). Each OMS registers its clock in ``oms_opened``.
_clocks: weakref.WeakKeyDictionary[Engine, Clock] = weakref.WeakKeyDictionary()


def register_clock(engine: Engine, clock: Clock) -> None:
    _clocks[engine] = clock


def _engine(session: Session) -> Engine:
    bind = session.get_bind()
    return bind if isinstance(bind, Engine) else bind.engine


def now_for(session: Session) -> datetime:
    """The time of the OMS that owns the session's database (the wall clock if unknown)."""
    clock = _clocks.get(_engine(session))
    return clock() if clock is not None else datetime.now(UTC)


def _locking(session: Session) -> bool:
    return session.get_bind().dialect.name != "sqlite"


def active(now: datetime) -> ColumnElement[bool]:
    """A reservation that still takes units away (needs ``ORDERS`` joined)."""
    return and_(
        reservations.c.status == RESERVED,
        ORDERS.c.status != _CANCELLED,
        or_(
            ORDERS.c.status.not_in(_EXPIRING_STATUSES),
            reservations.c.expires_at > now,
        ),
    )


def lock_query(codes: Collection[str], skus: Collection[str], *, for_update: bool) -> Select[Any]:
    """The stock rows of ``codes`` x ``skus``, in a fixed order, ``FOR UPDATE`` if asked."""
    query = (
        select(items.c.location, items.c.sku, items.c.on_hand)
        .where(items.c.location.in_(codes), items.c.sku.in_(skus))
        .order_by(items.c.location, items.c.sku)
    )
    return query.with_for_update() if for_update else query


def lock_items(session: Session, codes: Collection[str], skus: Collection[str]) -> dict[Key, int]:
    """On hand per ``(location, sku)``, the rows locked until the transaction ends."""
    if not codes or not skus:
        return {}
    query = lock_query(codes, skus, for_update=_locking(session))
    return {(row.location, row.sku): int(row.on_hand) for row in session.execute(query)}


def active_reserved(
    session: Session,
    now: datetime,
    *,
    codes: Collection[str] | None = None,
    skus: Collection[str] | None = None,
    exclude_order: str | None = None,
) -> dict[Key, int]:
    """Units held by active reservations per ``(location, sku)``."""
    query = (
        select(reservations.c.location, reservations.c.sku, func.sum(reservations.c.quantity))
        .join(ORDERS, ORDERS.c.id == reservations.c.order_id)
        .where(active(now))
        .group_by(reservations.c.location, reservations.c.sku)
    )
    if codes is not None:
        query = query.where(reservations.c.location.in_(codes))
    if skus is not None:
        query = query.where(reservations.c.sku.in_(skus))
    if exclude_order is not None:
        query = query.where(reservations.c.order_id != exclude_order)
    return {(loc, sku): int(total) for loc, sku, total in session.execute(query)}


def free_stock(
    session: Session,
    now: datetime,
    codes: Sequence[str],
    skus: Collection[str],
    *,
    exclude_order: str | None = None,
) -> dict[Key, int]:
    """Units that can still be reserved (locked first, then the reservations summed)."""
    on_hand = lock_items(session, codes, skus)
    held = active_reserved(session, now, codes=codes, skus=skus, exclude_order=exclude_order)
    return {key: quantity - held.get(key, 0) for key, quantity in on_hand.items()}


def held_by(session: Session, order_id: str) -> list[Any]:
    """The order's reservations that still hold (or held, before lapsing) units."""
    query = (
        select(reservations)
        .where(reservations.c.order_id == order_id, reservations.c.status == RESERVED)
        .order_by(reservations.c.id)
    )
    return list(session.execute(query))


def insert_reservations(
    session: Session,
    order_id: str,
    parcels: Iterable[Parcel],
    now: datetime,
    ttl: timedelta,
) -> None:
    rows = [
        {
            "order_id": order_id,
            "shipment": index,
            "location": location,
            "sku": sku,
            "quantity": quantity,
            "status": RESERVED,
            "created_at": now,
            "expires_at": now + ttl,
            "settled_at": None,
        }
        for index, parcel in enumerate(parcels, start=1)
        for location, sku, quantity in parcel.sources
    ]
    if rows:
        session.execute(insert(reservations), rows)


def release_held(session: Session, order_id: str, now: datetime) -> int:
    """Release the order's unsettled reservations; how many there were."""
    result = session.execute(
        update(reservations)
        .where(reservations.c.order_id == order_id, reservations.c.status == RESERVED)
        .values(status=RELEASED, settled_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def change_on_hand(session: Session, location: str, sku: str, delta: int, *, why: str) -> None:
    """Add ``delta`` to a stock item (never below zero); the row locked first."""
    current = lock_items(session, [location], [sku]).get((location, sku))
    if current is None:
        if delta < 0:
            log.warning("no stock item %s at %s to %s %d units", sku, location, why, -delta)
            return
        session.execute(
            insert(items).values(
                location=location, sku=sku, on_hand=delta, updated_at=now_for(session)
            )
        )
        return
    target = current + delta
    if target < 0:  # cannot happen while set_stock refuses to go below what is reserved
        log.warning("%s of %d x %s at %s: only %d on hand", why, -delta, sku, location, current)
        target = 0
    session.execute(
        update(items)
        .where(items.c.location == location, items.c.sku == sku)
        .values(on_hand=target, updated_at=now_for(session))
    )


def decrement(session: Session, order_id: str, now: datetime) -> None:
    """Approval: the reserved units leave on hand; the reservations become ``decremented``."""
    rows = held_by(session, order_id)
    _lock_rows_of(session, rows)
    for row in rows:
        change_on_hand(session, row.location, row.sku, -row.quantity, why="decrement")
    session.execute(
        update(reservations)
        .where(reservations.c.order_id == order_id, reservations.c.status == RESERVED)
        .values(status=DECREMENTED, settled_at=now)
    )


def _lock_rows_of(session: Session, rows: Sequence[Any]) -> None:
    """Lock every stock item the rows touch in one ordered statement (no deadlock between two
    approvals that touch the same items in different orders)."""
    lock_items(session, {row.location for row in rows}, {row.sku for row in rows})


def release(session: Session, order_id: str, shipped: Collection[int], now: datetime) -> None:
    """Cancellation: give back what is reserved, and restock what was decremented at approval
    but never left (its shipment did not ship). Shipped units stay decremented: bringing them
    back is a return, not a cancellation."""
    release_held(session, order_id, now)
    decremented = session.execute(
        select(reservations).where(
            reservations.c.order_id == order_id, reservations.c.status == DECREMENTED
        )
    ).all()
    restocked = [row for row in decremented if row.shipment not in shipped]
    _lock_rows_of(session, restocked)
    for row in restocked:
        change_on_hand(session, row.location, row.sku, row.quantity, why="restock")
    if restocked:
        session.execute(
            update(reservations)
            .where(reservations.c.id.in_([row.id for row in restocked]))
            .values(status=RELEASED, settled_at=now)
        )


# -- seeding ----------------------------------------------------------------------------------


def _insert_missing(session: Session, table: Any, rows: list[dict[str, Any]]) -> None:
    """Insert rows whose primary key is not there yet; never touch existing ones."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        session.execute(sqlite.insert(table).on_conflict_do_nothing(), rows)
    elif dialect == "postgresql":
        session.execute(postgresql.insert(table).on_conflict_do_nothing(), rows)
    else:
        keys = [column.name for column in table.primary_key.columns]
        existing = {tuple(row) for row in session.execute(select(*table.primary_key.columns))}
        missing = [row for row in rows if tuple(row[key] for key in keys) not in existing]
        if missing:
            session.execute(insert(table), missing)


def seed(session: Session, markets: Iterable[MarketPolicy], now: datetime) -> None:
    """Mirror each market's locations from its policy and insert missing initial stock.

    Location rows follow the policy (name, priority, model) on every open. Stock items are
    only ever inserted: a count taken since, or units sold, must survive a restart.
    """
    for market in markets:
        found = market_model(market)
        if found is None:
            continue
        _, model = found
        _mirror_locations(session, market, model)
        _insert_missing(
            session,
            items,
            [
                {"location": code, "sku": sku, "on_hand": quantity, "updated_at": now}
                for code, stock in model.initial_stock.items()
                for sku, quantity in stock.items()
            ],
        )


def _mirror_locations(session: Session, market: MarketPolicy, model: InventoryModelPolicy) -> None:
    codes = [location.code for location in model.locations]
    session.execute(
        delete(locations).where(locations.c.market == market.code, locations.c.code.not_in(codes))
    )
    current: Mapping[str, Any] = {
        row.code: row
        for row in session.execute(select(locations).where(locations.c.market == market.code))
    }
    for location in model.locations:
        values = {
            "name": location.name,
            "priority": location.priority,
            "inventory_model": market.inventory_model,
        }
        row = current.get(location.code)
        if row is None:
            _insert_missing(
                session, locations, [{"market": market.code, "code": location.code, **values}]
            )
        elif any(getattr(row, key) != value for key, value in values.items()):
            session.execute(
                update(locations)
                .where(locations.c.market == market.code, locations.c.code == location.code)
                .values(**values)
            )
