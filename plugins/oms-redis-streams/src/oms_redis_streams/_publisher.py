"""Appending order events to a Redis stream, at most once per event id within a window.

The outbox relay delivers at least once: when Redis appended an event but the answer was lost
(a timeout, a dropped connection), ``publish`` raises and the relay offers the same event
again. A Lua script makes that retry harmless: it claims ``<stream>:published:<event id>`` with
``SET NX EX`` and appends only when the claim succeeded, atomically, so a repeated event is
not appended twice and gets back the entry id of its first append. The claim expires after
``dedupe_ttl`` seconds; past that window a repeat is appended again, which consumers handle
the same way as any other duplicate (by ``event.id``).
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlsplit

import redis

from oms_sdk import OMS, EventPublisher, OrderEvent, hookimpl

__all__ = [
    "DEFAULT_STREAM",
    "DEFAULT_URL",
    "RedisStreamPublisher",
    "entry_fields",
    "safe_url",
]

log = logging.getLogger("oms_redis_streams")

DEFAULT_URL = "redis://127.0.0.1:6379/0"
DEFAULT_STREAM = "oms:order-events"

# KEYS[1] the stream, KEYS[2] the event's claim; ARGV[1] the claim's TTL in seconds, ARGV[2]
# the stream's approximate MAXLEN ('' for none), ARGV[3..] the entry's field/value pairs.
# Returns {entry id, 1 if appended now or 0 if it was already}.
_PUBLISH = """
if not redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[1]) then
  return {redis.call('GET', KEYS[2]), 0}
end
local xadd = {'XADD', KEYS[1]}
if ARGV[2] ~= '' then
  table.insert(xadd, 'MAXLEN')
  table.insert(xadd, '~')
  table.insert(xadd, ARGV[2])
end
table.insert(xadd, '*')
for i = 3, #ARGV do
  table.insert(xadd, ARGV[i])
end
local added = redis.pcall(unpack(xadd))
if type(added) == 'table' and added.err then
  -- scripts do not roll back: release the claim, or every retry would be a false duplicate
  redis.call('DEL', KEYS[2])
  return added
end
redis.call('SET', KEYS[2], added, 'EX', ARGV[1])
return {added, 1}
"""


def safe_url(url: str) -> str:
    """``url`` without credentials or query (``?password=`` is valid there): safe to show."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid url>"
    return f"{parts.scheme}://{host}{port}{parts.path}"


def text(value: Any) -> str:
    """A Redis reply as ``str``, whether or not the client decodes responses."""
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def entry_fields(event: OrderEvent) -> dict[str, str]:
    """The stream entry of ``event``: routing fields a consumer can filter on without parsing,
    and ``body``, the event's JSON (``OrderEvent.to_dict``) from which it is rebuilt."""
    body = json.dumps(event.to_dict(), ensure_ascii=False, separators=(",", ":"))
    return {
        "event_id": event.id,
        "type": event.name,
        "order_id": event.order.id,
        "order_number": event.order.number,
        "body": body,
    }


def _positive_int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be a positive integer")
    return value


class RedisStreamPublisher:
    """An ``EventPublisher`` that appends each order event to one Redis stream with ``XADD``.

    ``maxlen`` caps the stream (approximately, ``MAXLEN ~``, which Redis trims cheaply);
    ``None`` keeps every entry. ``dedupe_ttl`` is how long, in seconds, a published event id
    is remembered so a repeat is not appended again. ``name`` is the publisher's name in the
    outbox's delivery records: keep it stable. ``client`` uses your own ``redis.Redis``
    instead of one made from ``url``; ``timeout`` bounds connecting and each answer.

    It is also a plugin: ``OMS.open(..., plugins=[publisher])`` hands it to the relay, under
    the plugin name ``name``, so a policy that also lists ``redis_streams`` does not load the
    environment-configured publisher next to it.
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        stream: str = DEFAULT_STREAM,
        *,
        maxlen: int | None = None,
        dedupe_ttl: int = 86400,
        name: str = "redis_streams",
        client: redis.Redis | None = None,
        timeout: float = 5.0,
    ) -> None:
        if not isinstance(stream, str) or not stream:
            raise ValueError("stream must be a non-empty string")
        if maxlen is not None:
            _positive_int(maxlen, "maxlen")
        _positive_int(dedupe_ttl, "dedupe_ttl")
        if not isinstance(name, str) or not name:
            raise ValueError("name must be a non-empty string")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.url = url
        self.stream = stream
        self.maxlen = maxlen
        self.dedupe_ttl = dedupe_ttl
        self.name = name
        #: The name the SDK registers this object under when it is passed as a plugin.
        self.plugin_name = name
        if client is None:
            # ValueError for a URL redis-py cannot use, before any connection is attempted
            client = redis.Redis.from_url(
                url, socket_timeout=timeout, socket_connect_timeout=timeout
            )
            self._owns_client = True
        else:
            self._owns_client = False
        self.client = client
        self._publish = client.register_script(_PUBLISH)

    def __repr__(self) -> str:
        return f"RedisStreamPublisher({safe_url(self.url)!r}, {self.stream!r}, name={self.name!r})"

    def dedupe_key(self, event_id: str) -> str:
        """The key that remembers ``event_id`` was published to this stream.

        It starts with the stream's name, so on Redis Cluster a hash tag in the stream name
        (``{oms}:order-events``) puts both keys of the script in the same slot.
        """
        return f"{self.stream}:published:{event_id}"

    def append(self, event: OrderEvent) -> str:
        """Append ``event`` unless it was already published within ``dedupe_ttl``; return
        its entry id (the first append's id for a repeat). Raises any Redis error."""
        fields = entry_fields(event)
        args: list[str | int] = [self.dedupe_ttl, "" if self.maxlen is None else self.maxlen]
        for field, value in fields.items():
            args += [field, value]
        entry_id, added = self._publish(keys=[self.stream, self.dedupe_key(event.id)], args=args)
        entry = text(entry_id)
        if int(added):
            log.debug("%s %s appended to %s as %s", event.name, event.id, self.stream, entry)
        else:
            log.info(
                "%s %s already in %s as %s: not appended again",
                event.name,
                event.id,
                self.stream,
                entry,
            )
        return entry

    def publish(self, event: OrderEvent) -> None:
        """``EventPublisher.publish``: returns once Redis has the event; raises otherwise
        (connection refused, timeout, an error reply), so the relay offers it again."""
        try:
            self.append(event)
        except redis.RedisError as exc:
            # the relay logs only the exception's type; say why, which redis-py words
            # without the URL's password or the command's arguments
            log.warning(
                "%s %s not appended to %s: %s: %s",
                event.name,
                event.id,
                self.stream,
                type(exc).__name__,
                exc,
            )
            raise

    def close(self) -> None:
        """Close the connections of the client this publisher made (not of one passed in)."""
        if self._owns_client:
            self.client.close()

    @hookimpl
    def oms_event_publishers(self, oms: OMS) -> list[EventPublisher]:
        """Registered as a plugin, the publisher offers itself to the relay."""
        return [self]
