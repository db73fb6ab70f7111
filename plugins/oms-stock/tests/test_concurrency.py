"""Real threads sharing one OMS on a SQLite file: the last units are sold exactly once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import oms_stock
from sqlalchemy import func, select

from oms_sdk import OutOfStock, TransitionNotAllowed

THREADS = 30
UNITS = 10


def test_thirty_checkouts_for_ten_units_place_exactly_ten(open_shop: Callable[..., Any]) -> None:
    from oms_stock._tables import reservations

    shop = open_shop("split_shipments", {"MXP": {"TEE": 6}, "AMS": {"TEE": 4}})
    start = threading.Barrier(THREADS)
    done = threading.Event()
    placed: list[str] = []
    refused: list[str] = []
    errors: list[BaseException] = []
    oversold: list[Any] = []
    lock = threading.Lock()

    def checkout() -> None:
        try:
            cart = shop.cart(("TEE", 1))
            start.wait(timeout=60)
            try:
                order = shop.oms.place(cart.id)
            except (TransitionNotAllowed, OutOfStock) as exc:
                with lock:
                    refused.append(str(exc))
            else:
                with lock:
                    placed.append(order.id)
        except BaseException as exc:  # surfaced below: a thread's failure must fail the test
            with lock:
                errors.append(exc)

    def watch() -> None:
        """Read the levels while the checkouts run: reserved never exceeds on hand."""
        while not done.is_set():
            for level in oms_stock.stock_levels(shop.oms):
                if level.reserved > level.on_hand or level.available < 0:
                    oversold.append(level)

    watcher = threading.Thread(target=watch)
    workers = [threading.Thread(target=checkout) for _ in range(THREADS)]
    watcher.start()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    done.set()
    watcher.join(timeout=30)

    assert errors == []
    assert not any(worker.is_alive() for worker in workers)
    assert oversold == []
    assert len(placed) == UNITS
    assert len(refused) == THREADS - UNITS
    assert all("TEE: 1 wanted, 0 available" in reason for reason in refused)
    levels = {(lv.location, lv.sku): (lv.on_hand, lv.reserved, lv.available)
              for lv in oms_stock.stock_levels(shop.oms)}  # fmt: skip
    assert levels == {("AMS", "TEE"): (4, 4, 0), ("MXP", "TEE"): (6, 6, 0)}
    with shop.oms.store.engine.connect() as connection:
        held = connection.execute(
            select(func.count(), func.sum(reservations.c.quantity)).where(
                reservations.c.status == "reserved"
            )
        ).one()
    assert tuple(held) == (UNITS, UNITS)
    # Only the placed orders moved money: the refused ones never reached the gateway.
    assert len(shop.sandbox.authorizations) == UNITS
    assert {o.status for o in shop.oms.list_orders(limit=100)} == {"placed", "pending"}


def test_postgresql_locks_the_stock_rows_in_a_fixed_order() -> None:
    """SQLite serializes writers with BEGIN IMMEDIATE; PostgreSQL needs the rows locked."""
    from oms_stock._db import lock_query
    from sqlalchemy.dialects import postgresql

    postgres = postgresql.dialect()  # type: ignore[no-untyped-call]
    sql = str(lock_query(["MXP", "AMS"], ["TEE"], for_update=True).compile(dialect=postgres))
    assert sql.endswith("ORDER BY oms_stock_items.location, oms_stock_items.sku FOR UPDATE")
    assert "FOR UPDATE" not in str(lock_query(["MXP"], ["TEE"], for_update=False))
