"""The outbox relay: committed order events, delivered to publishers at least once, in order.

Every command writes its event to ``oms_outbox`` in its own transaction. The relay reads the
events a publisher has not had yet, oldest first, and records each delivery in
``oms_outbox_deliveries``. A publisher that fails on an event holds back its later events of the
same order (so a consumer never sees ``orders.refund`` before ``orders.capture``) and gets the
event again on the next run; events of other orders go on. A crash between a delivery and its
record means the event is delivered again: consumers drop duplicates by event id.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from .errors import PluginError
from .events import EventPublisher, OrderEvent
from .store import Store

__all__ = ["RelayReport", "relay_outbox"]

log = logging.getLogger("oms_sdk.outbox")

#: Deliveries are recorded in batches of this many: a crash re-delivers at most one batch.
_RECORD_EVERY = 100


@dataclass(frozen=True)
class RelayReport:
    """What one relay run did, per publisher name."""

    delivered: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    waiting: int = 0
    """Deliveries still owed after this run (events × publishers), failed ones included."""

    @property
    def total_delivered(self) -> int:
        return sum(self.delivered.values())


def relay_outbox(
    store: Store,
    publishers: Iterable[EventPublisher],
    *,
    limit: int,
    clock: Callable[[], datetime],
) -> RelayReport:
    """Offer each publisher up to ``limit`` of the events it has not had yet."""
    chosen = _distinct(publishers)
    delivered: dict[str, int] = {}
    failed: dict[str, int] = {}
    with store.exclusive("oms_outbox_relay"):
        for publisher in chosen:
            delivered[publisher.name], failed[publisher.name] = _relay_one(
                store, publisher, limit=limit, clock=clock
            )
        with store.unit_of_work() as session:
            waiting = sum(store.count_undelivered(session, p.name) for p in chosen)
    return RelayReport(delivered, failed, waiting)


def _distinct(publishers: Iterable[EventPublisher]) -> list[EventPublisher]:
    chosen: list[EventPublisher] = []
    for publisher in publishers:
        if not isinstance(publisher, EventPublisher):
            raise PluginError(f"{publisher!r} is not an EventPublisher (name and publish())")
        if any(p.name == publisher.name for p in chosen):
            raise PluginError(f"two event publishers are named {publisher.name!r}")
        chosen.append(publisher)
    return chosen


def _relay_one(
    store: Store, publisher: EventPublisher, *, limit: int, clock: Callable[[], datetime]
) -> tuple[int, int]:
    with store.unit_of_work() as session:
        rows = store.undelivered(session, publisher.name, limit=limit)
    held_back: set[str] = set()
    done: list[int] = []
    delivered = failed = 0
    for row in rows:
        if row.order_id in held_back:
            continue
        event = OrderEvent.from_dict(row.payload)
        try:
            publisher.publish(event)
        except Exception as exc:  # a broken publisher waits for the next run
            log.warning(
                "publisher %s could not deliver %s %s: %s",
                publisher.name,
                event.name,
                event.id,
                type(exc).__name__,
            )
            held_back.add(row.order_id)
            failed += 1
            continue
        done.append(row.id)
        delivered += 1
        if len(done) >= _RECORD_EVERY:
            store.mark_delivered(publisher.name, done, clock())
            done = []
    store.mark_delivered(publisher.name, done, clock())
    return delivered, failed


def publishers_of(
    plugins_answer: Sequence[Iterable[EventPublisher] | None],
) -> list[EventPublisher]:
    """Flatten what the ``oms_event_publishers`` implementations returned."""
    return [p for answer in plugins_answer if answer for p in answer]
