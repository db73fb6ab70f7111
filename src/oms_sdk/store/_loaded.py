"""Orders kept loaded between the commands of one process.

Loading an order with its lines, ledger and shipments is four ORM queries and most of a
command's CPU. A command that finds the order's version unchanged since this process last
committed it (read under the lock the command takes anyway) can take the objects it already
has instead. The version is a safe witness because every change to an order or to its child
rows goes through a command that bumps it; the store's own raw writes (payment intents, a
gateway's missing answer) bump it too.

Each entry is taken out while a command uses it, so two threads never share one object graph;
it is put back only after its command committed.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from sqlalchemy import inspect

from ..orders import Order

__all__ = ["LoadedOrders"]


class LoadedOrders:
    """A bounded, least-recently-used set of committed order graphs, by order id."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._orders: OrderedDict[str, tuple[int, Order]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, order_id: str, version: int) -> Order | None:
        """The graph of ``order_id`` if it was committed at ``version``; it leaves the set."""
        with self._lock:
            kept = self._orders.pop(order_id, None)
        if kept is None or kept[0] != version:
            return None
        return kept[1]

    def put(self, order: Order) -> None:
        """Keep a graph whose transaction committed (its session closed)."""
        if self.size <= 0 or inspect(order).expired_attributes:
            return  # expired by a rollback and never reloaded: nothing current to keep
        with self._lock:
            current = self._orders.get(order.id)
            if current is not None and current[0] > order.version:
                return  # a later command of another thread already put a newer one
            self._orders[order.id] = (order.version, order)
            self._orders.move_to_end(order.id)
            while len(self._orders) > self.size:
                self._orders.popitem(last=False)

    def forget(self, order_id: str) -> None:
        with self._lock:
            self._orders.pop(order_id, None)

    def __len__(self) -> int:
        return len(self._orders)
