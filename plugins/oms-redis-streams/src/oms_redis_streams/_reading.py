"""Reading order events back from the stream: for tests, scripts and simple consumers.

Delivery is at least once, so a consumer must drop an event whose ``event.id`` it already
processed: the producer-side de-duplication only covers the ``dedupe_ttl`` window and cannot
cover a consumer that crashes between handling an entry and acknowledging it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import redis

from oms_sdk import OrderEvent

from ._publisher import text

__all__ = ["event_from_fields", "read_events"]


def event_from_fields(fields: Mapping[Any, Any]) -> OrderEvent:
    """The ``OrderEvent`` in one stream entry (its field/value mapping, as ``XRANGE``,
    ``XREAD`` or ``XREADGROUP`` return it, in bytes or decoded)."""
    by_name = {text(key): value for key, value in fields.items()}
    if "body" not in by_name:
        raise ValueError("not an order event entry: it has no 'body' field")
    return OrderEvent.from_dict(json.loads(text(by_name["body"])))


def read_events(
    client_or_url: redis.Redis | str,
    stream: str,
    *,
    after: str = "0-0",
    count: int = 100,
) -> list[tuple[str, OrderEvent]]:
    """Up to ``count`` events of ``stream`` whose entry id comes after ``after``, oldest
    first, as ``(entry id, event)``. Pass the last entry id back as ``after`` to page on.

    Consumers must de-duplicate on ``event.id``: the stream may hold an event twice. For
    several workers sharing the work, use a consumer group (``XREADGROUP``, see the README).
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError("count must be a positive integer")
    if isinstance(client_or_url, str):
        client = redis.Redis.from_url(client_or_url)
        try:
            return _read(client, stream, after, count)
        finally:
            client.close()
    return _read(client_or_url, stream, after, count)


def _read(client: redis.Redis, stream: str, after: str, count: int) -> list[tuple[str, OrderEvent]]:
    entries = client.xrange(stream, min=f"({after}", count=count) or []
    return [(text(entry_id), event_from_fields(fields or {})) for entry_id, fields in entries]
