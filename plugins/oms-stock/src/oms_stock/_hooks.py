"""The hook implementations: where the SDK's lifecycle meets the stock tables.

When the SDK calls each one (see ``oms_sdk.hookspecs`` and ``oms_sdk._effects``):

* ``oms_check_market``: load time, for every market: validate ``extensions.stock``;
* ``oms_opened``: end of ``OMS.open``: create the tables if needed, seed locations and stock;
* ``oms_stock_problems``: guard of ``place`` and ``authorize``, before any money moves;
* ``oms_plan_shipments``: effect of ``place``/``authorize``, before the authorization: reserve;
* ``oms_release_stock``: cancellation (or a full refund): give the units back;
* ``oms_decrement_stock``: approval: the units leave on hand.

Markets without an ``extensions.stock`` section are left to the SDK's defaults.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from oms_sdk import MarketPolicy, OutOfStock, ShipmentPlan, hookimpl
from oms_sdk.store import PluginMigrations

from . import _db
from ._config import check_stock_policy, market_model
from ._planner import plan, wanted_lines
from ._tables import MIGRATIONS

if TYPE_CHECKING:
    from oms_sdk import OMS
    from oms_sdk.orders import Order

__all__ = [
    "oms_check_market",
    "oms_decrement_stock",
    "oms_opened",
    "oms_plan_shipments",
    "oms_release_stock",
    "oms_stock_problems",
]

PolicyPath = tuple[str | int, ...]


def _shippable(order: Order) -> list[tuple[str, int]]:
    """Stock-managed lines: only what ships (an e-book or a service has no stock)."""
    return wanted_lines(
        [(line.sku, line.quantity) for line in order.lines if line.requires_shipping]
    )


@hookimpl
def oms_check_market(market: MarketPolicy) -> list[tuple[PolicyPath, str]]:
    return list(check_stock_policy(market))


@hookimpl
def oms_migrations() -> PluginMigrations:
    return MIGRATIONS


@hookimpl
def oms_opened(oms: OMS) -> None:
    engine = oms.store.engine
    _db.register_clock(engine, oms.clock)
    with oms.store.unit_of_work() as session:
        _db.seed(session, oms.policies, oms.clock())


@hookimpl
def oms_stock_problems(order: Order, market: MarketPolicy, session: Session) -> list[str]:
    found = market_model(market)
    if found is None:
        return []
    _, model = found
    wanted = _shippable(order)
    if not wanted:
        return []
    now = _db.now_for(session)
    held = _db.held_by(session, order.id)
    if held:  # authorized earlier: its reservation must still fit (it may have lapsed)
        return _held_problems(session, order, held, now)
    codes = model.location_codes
    stock = _db.free_stock(session, now, codes, [sku for sku, _ in wanted], exclude_order=order.id)
    return list(
        plan(model.strategy, wanted, codes, stock, stock_transfers=model.stock_transfers).problems
    )


def _held_problems(session: Session, order: Order, held: Iterable[Any], now: datetime) -> list[str]:
    """An authorized order now being placed keeps the parcels planned at authorization; its
    reservation may have expired meanwhile and its units gone to another order."""
    mine: dict[tuple[str, str], int] = {}
    lapsed = False
    for row in held:
        mine[(row.location, row.sku)] = mine.get((row.location, row.sku), 0) + row.quantity
        lapsed = lapsed or row.expires_at <= now
    codes = {location for location, _ in mine}
    skus = {sku for _, sku in mine}
    free = _db.free_stock(session, now, sorted(codes), skus, exclude_order=order.id)
    note = " (its reservation expired before the order was placed)" if lapsed else ""
    return [
        f"{sku}: {quantity} wanted, {max(free.get((location, sku), 0), 0)} available "
        f"at {location}{note}"
        for (location, sku), quantity in mine.items()
        if free.get((location, sku), 0) < quantity
    ]


@hookimpl
def oms_plan_shipments(
    order: Order, market: MarketPolicy, session: Session
) -> list[ShipmentPlan] | None:
    found = market_model(market)
    if found is None:
        return None  # not ours: the SDK's default plan applies
    policy, model = found
    now = _db.now_for(session)
    # The SDK plans once per hold; anything still reserved is a previous plan being replaced.
    _db.release_held(session, order.id, now)
    wanted = _shippable(order)
    if not wanted:
        return []
    codes = model.location_codes
    stock = _db.free_stock(session, now, codes, [sku for sku, _ in wanted], exclude_order=order.id)
    result = plan(model.strategy, wanted, codes, stock, stock_transfers=model.stock_transfers)
    if not result.ok:
        raise OutOfStock(
            f"cannot reserve stock for order {order.number}: {'; '.join(result.problems)}",
            order=order.number,
        )
    ttl = timedelta(minutes=policy.reservation_ttl_minutes)
    _db.insert_reservations(session, order.id, result.parcels, now, ttl)
    return [ShipmentPlan(parcel.lines, parcel.location) for parcel in result.parcels]


@hookimpl
def oms_release_stock(order: Order, session: Session) -> None:
    # Works from the reservation rows, not the policy: a market whose stock section was
    # removed since must still give back what its orders hold.
    # Shipment N of the plan is numbered "<order number>/N" (see the SDK's _plan_shipments).
    suffixes = (
        shipment.number.rpartition("/")[2] for shipment in order.shipments if shipment.has_shipped
    )
    shipped = {int(suffix) for suffix in suffixes if suffix.isdigit()}
    _db.release(session, order.id, shipped, _db.now_for(session))


@hookimpl
def oms_decrement_stock(
    order: Order, market: MarketPolicy, session: Session, now: datetime
) -> None:
    found = market_model(market)
    if found is not None and found[1].decrement == "manual":
        return  # the warehouse decrements with oms_stock.decrement_stock when it picks
    _db.decrement(session, order.id, now)
