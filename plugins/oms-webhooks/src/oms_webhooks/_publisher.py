"""Delivering order events from the SDK's outbox: synchronously, raising when not accepted.

``WebhookPlugin`` posts from memory, after the commit, and loses what is scheduled when the
process dies. ``WebhookPublisher`` is handed events by the outbox relay instead, which stores
them in the command's own transaction and offers an event again until ``publish`` returns:
durable, in order per order, at least once. It needs no worker thread or queue of its own,
so it only POSTs, once per interested endpoint per call, and says whether all of them took it.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable

from oms_sdk import OMS, EventPublisher, OrderEvent, hookimpl

from ._config import Endpoint, check_endpoints
from ._delivery import Outcome, event_body, new_opener, post_event

__all__ = ["WebhookDeliveryError", "WebhookPublisher"]

log = logging.getLogger("oms_webhooks")

#: How many undelivered events keep their attempt count (for ``X-OMS-Delivery-Attempt``).
_TRACKED_EVENTS = 10_000


class WebhookDeliveryError(Exception):
    """An event was not accepted (answered 2xx) by every endpoint that wants it.

    The message names the event and each failing endpoint by label with what happened (a
    status, a timeout), never a secret or a URL path.
    """

    def __init__(self, event: OrderEvent, failures: Iterable[str]) -> None:
        self.event_id = event.id
        self.failures = tuple(failures)
        super().__init__(f"{event.name} {event.id} not accepted by {'; '.join(self.failures)}")


class WebhookPublisher:
    """An ``EventPublisher`` that POSTs each event to every endpoint that wants it, now.

    ``publish`` returns when every interested endpoint answered 2xx, and raises
    ``WebhookDeliveryError`` otherwise; the relay then offers the event again on its next run,
    and holds back that order's later events meanwhile. A retry re-sends to *all* interested
    endpoints, those that accepted included: receivers de-duplicate on the event id. An
    endpoint that refuses an event for good (a 4xx) therefore holds up its order's later events
    until it accepts: receivers should answer 2xx to events they ignore.

    ``timeout`` bounds each request (connecting, and each read); one call takes at most about
    ``timeout`` per interested endpoint. ``name`` is the publisher's name in the outbox's
    delivery records: keep it stable. Passed to ``OMS.open(..., plugins=[publisher])`` it
    registers as the plugin ``name``, so the ``webhooks`` entry point is not loaded next to it.
    """

    def __init__(
        self,
        endpoints: Iterable[Endpoint],
        *,
        name: str = "webhooks",
        timeout: float = 5.0,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        if not isinstance(name, str) or not name:
            raise ValueError("name must be a non-empty string")
        self.endpoints = check_endpoints(endpoints)
        self.name = name
        #: The name the SDK registers this object under when it is passed as a plugin.
        self.plugin_name = name
        self.timeout = float(timeout)
        self._opener = new_opener()
        self._lock = threading.Lock()
        self._attempts: OrderedDict[str, int] = OrderedDict()

    def __repr__(self) -> str:
        labels = ", ".join(endpoint.label for endpoint in self.endpoints)
        return f"WebhookPublisher([{labels}], name={self.name!r})"

    def publish(self, event: OrderEvent) -> None:
        """POST ``event`` to every endpoint that wants it; raise unless all answered 2xx."""
        targets = [endpoint for endpoint in self.endpoints if endpoint.wants(event.name)]
        if not targets:
            return
        attempt = self._attempt(event.id)
        body = event_body(event)
        failures: list[str] = []
        for endpoint in targets:
            try:
                outcome = post_event(
                    self._opener, endpoint, event, body, attempt=attempt, timeout=self.timeout
                )
            except Exception as exc:  # one broken endpoint must not stop the others
                outcome = Outcome(False, False, f"unexpected {type(exc).__name__}")
            where = f"{event.name} {event.id} to {endpoint.label}"
            if outcome.delivered:
                log.debug("webhook %s delivered (attempt %d)", where, attempt)
            else:
                log.warning("webhook %s failed (attempt %d: %s)", where, attempt, outcome.detail)
                failures.append(f"{endpoint.label} ({outcome.detail})")
        if failures:
            raise WebhookDeliveryError(event, failures)
        with self._lock:
            self._attempts.pop(event.id, None)

    def _attempt(self, event_id: str) -> int:
        """1 for the first offer of an event, 2 for the next …; kept only for events not yet
        delivered, and for a bounded number of them (oldest forgotten first)."""
        with self._lock:
            attempt = self._attempts.pop(event_id, 0) + 1
            self._attempts[event_id] = attempt
            while len(self._attempts) > _TRACKED_EVENTS:
                self._attempts.popitem(last=False)
        return attempt

    @hookimpl
    def oms_event_publishers(self, oms: OMS) -> list[EventPublisher]:
        """Registered as a plugin, the publisher offers itself to the relay."""
        return [self]
