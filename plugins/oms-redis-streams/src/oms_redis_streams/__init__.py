"""Order events from the oms-sdk outbox, published to a Redis stream.

Two ways to use it:

* As the ``redis_streams`` entry point: list it in a policy file's ``plugins:``; the relay
  (``oms outbox relay``) then publishes to ``$OMS_REDIS_STREAM`` (default
  ``oms:order-events``) on ``$OMS_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``), read
  from the environment so a password in the URL stays out of policy files.
* In code: ``OMS.open(..., plugins=[RedisStreamPublisher(url, stream, maxlen=...)])``, or
  ``oms.relay_outbox(publishers=[...])``.

Each event is one entry with fields ``event_id``, ``type``, ``order_id``, ``order_number`` and
``body`` (the event's JSON). The relay delivers at least once and in order per order; the
publisher drops repeats of an event id for ``dedupe_ttl`` seconds, and consumers de-duplicate
on ``event.id`` (``read_events`` returns ``OrderEvent`` objects).
"""

from __future__ import annotations

import os
import threading

from oms_sdk import OMS, EventPublisher, PluginError, hookimpl

from ._publisher import DEFAULT_STREAM, DEFAULT_URL, RedisStreamPublisher, entry_fields, safe_url
from ._reading import event_from_fields, read_events

__all__ = [
    "DEFAULT_STREAM",
    "DEFAULT_URL",
    "STREAM_ENV",
    "URL_ENV",
    "RedisStreamPublisher",
    "entry_fields",
    "env_publisher",
    "event_from_fields",
    "oms_event_publishers",
    "oms_opened",
    "read_events",
]

#: The environment variables the entry point reads.
URL_ENV = "OMS_REDIS_URL"
STREAM_ENV = "OMS_REDIS_STREAM"

_lock = threading.Lock()
_publisher: RedisStreamPublisher | None = None


def env_publisher() -> RedisStreamPublisher:
    """The publisher of the ``redis_streams`` entry point, configured from the environment.

    Kept between relay runs (it holds a connection pool) and made again when
    ``$OMS_REDIS_URL`` or ``$OMS_REDIS_STREAM`` changed. Unset or empty variables take the
    defaults. Raises ``ValueError`` for a URL redis-py cannot use.
    """
    global _publisher
    url = os.environ.get(URL_ENV) or DEFAULT_URL
    stream = os.environ.get(STREAM_ENV) or DEFAULT_STREAM
    with _lock:
        current = _publisher
        if current is not None and (current.url, current.stream) == (url, stream):
            return current
        _publisher = RedisStreamPublisher(url, stream)
        publisher = _publisher
    if current is not None:
        current.close()
    return publisher


@hookimpl
def oms_opened(oms: OMS) -> None:
    """Check ``$OMS_REDIS_URL`` when the OMS opens: a broken value fails the open, not every
    relay run later. Does not connect: Redis may be down while orders are taken."""
    try:
        env_publisher()
    except ValueError as exc:
        # redis-py's message does not quote the URL; ours names it without its password
        raise PluginError(
            f"redis_streams: {URL_ENV} ({safe_url(os.environ.get(URL_ENV, ''))}): {exc}"
        ) from None


@hookimpl
def oms_event_publishers(oms: OMS) -> list[EventPublisher]:
    """The environment-configured publisher, for the outbox relay."""
    return [env_publisher()]
