"""Delivering order events over HTTP, off the command's thread.

``oms_order_committed`` runs in the thread of the command that committed, right before the
command returns to its caller. An HTTP call there would make every ``oms.place`` as slow as the
slowest receiver, so the hook only schedules deliveries and one background worker makes them.

The worker keeps deliveries in a heap by due time: a retry waiting out its backoff does not
hold up other deliveries, only a request in flight does (bounded by ``timeout``). The number
of deliveries not yet finished is bounded by ``queue_size``; beyond it new ones are dropped and
logged, so a dead receiver cannot grow memory without limit. This is best effort: a delivery
still waiting when the process exits is lost. For durable delivery, deliver from the SDK's
outbox instead (``WebhookPublisher``, which shares ``post_event`` with this worker).
"""

from __future__ import annotations

import atexit
import heapq
import http.client
import itertools
import json
import logging
import threading
import time
import urllib.error
import urllib.request
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from oms_sdk import OrderEvent, hookimpl

from ._config import Endpoint, check_endpoints
from ._signing import SIGNATURE_HEADER, sign

__all__ = ["USER_AGENT", "Outcome", "WebhookPlugin", "event_body", "new_opener", "post_event"]

log = logging.getLogger("oms_webhooks")

USER_AGENT = "oms-webhooks/0.1.0"
#: At most this much of a receiver's answer is read (and never logged).
_MAX_RESPONSE_BYTES = 64 * 1024

_live: weakref.WeakSet[WebhookPlugin] = weakref.WeakSet()


def event_body(event: OrderEvent) -> bytes:
    """The JSON body of ``event`` (``OrderEvent.to_dict``, so every publisher sends the same
    document): built once per event, and the exact bytes that are signed."""
    payload = event.to_dict()
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class _Payload:
    """One event's body, serialized by the worker on first use and shared by its endpoints:
    the command thread only pays for putting the event in the heap."""

    __slots__ = ("_body", "event")

    def __init__(self, event: OrderEvent) -> None:
        self.event = event
        self._body: bytes | None = None

    @property
    def body(self) -> bytes:
        if self._body is None:
            self._body = event_body(self.event)
        return self._body


@dataclass
class _Delivery:
    payload: _Payload
    endpoint: Endpoint
    attempts: int = 0

    def describe(self) -> str:
        """Safe for logs: the event and the endpoint's label, no body, no secret."""
        event = self.payload.event
        return f"{event.name} {event.id} to {self.endpoint.label}"


@dataclass(frozen=True)
class Outcome:
    """What one POST came to. ``detail`` is safe to log: a status or an error's kind."""

    delivered: bool
    retry: bool
    detail: str


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not a new destination: the signed body is not re-sent to a
    URL nobody configured (and urllib would turn the POST into a GET)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def new_opener() -> urllib.request.OpenerDirector:
    """An opener that does not follow redirects (see ``_NoRedirects``)."""
    return urllib.request.build_opener(_NoRedirects())


def post_event(
    opener: urllib.request.OpenerDirector,
    endpoint: Endpoint,
    event: OrderEvent,
    body: bytes,
    *,
    attempt: int,
    timeout: float,
) -> Outcome:
    """POST ``body`` (``event_body(event)``) to ``endpoint``, signed with its secret, once.

    Never raises for what HTTP can do (refusals, timeouts, connection errors): the answer is
    an ``Outcome``, whose ``retry`` says whether trying again may help (5xx, 429, no answer).
    """
    request = urllib.request.Request(
        endpoint.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            SIGNATURE_HEADER: sign(endpoint.secret, body),
            "X-OMS-Event-Id": event.id,
            "X-OMS-Event-Type": event.name,
            "X-OMS-Timestamp": str(int(time.time())),
            "X-OMS-Delivery-Attempt": str(attempt),
        },
    )
    try:
        with opener.open(request, timeout=timeout) as response:
            response.read(_MAX_RESPONSE_BYTES)
            status: int = response.status
    except urllib.error.HTTPError as exc:
        exc.close()
        retry = exc.code >= 500 or exc.code == 429
        return Outcome(False, retry, f"HTTP {exc.code}")
    except urllib.error.URLError as exc:
        return Outcome(False, True, f"connection error: {exc.reason}")
    except TimeoutError:
        return Outcome(False, True, f"no answer within {timeout:g}s")
    except (OSError, http.client.HTTPException) as exc:
        return Outcome(False, True, f"connection error: {type(exc).__name__}")
    return Outcome(True, False, f"HTTP {status}")


class WebhookPlugin:
    """An ``oms_order_committed`` observer that POSTs signed order events to endpoints.

    Pass it to ``OMS.open(..., plugins=[plugin])``. It registers under the plugin name
    ``webhooks`` (``name``), so a policy that also lists the ``webhooks`` entry point does not
    load the environment-configured one next to it: events are not delivered twice.

    ``max_attempts`` counts the first try; the wait before retry *n* is
    ``backoff × 2^(n-1)`` seconds, at most ``max_backoff``. Connection errors, timeouts,
    5xx and 429 answers are retried; other answers (4xx, 3xx) are final. ``queue_size`` bounds
    the deliveries not yet finished. Call ``flush`` in tests and ``close`` at shutdown.
    """

    def __init__(
        self,
        endpoints: Iterable[Endpoint],
        *,
        max_attempts: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 60.0,
        timeout: float = 5.0,
        queue_size: int = 1000,
        shutdown_timeout: float = 5.0,
        name: str = "webhooks",
    ) -> None:
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
            raise ValueError("max_attempts must be a positive integer")
        if backoff < 0 or max_backoff < 0:
            raise ValueError("backoff and max_backoff must not be negative")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        if queue_size < 1:
            raise ValueError("queue_size must be positive")
        self.endpoints = check_endpoints(endpoints)
        self.max_attempts = max_attempts
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.timeout = float(timeout)
        self.queue_size = queue_size
        self.shutdown_timeout = shutdown_timeout
        #: The SDK registers an object under its ``plugin_name`` (pluggy, by default, under
        #: its ``__name__``): either way a policy listing the entry point finds it taken.
        self.plugin_name = name
        self.__name__ = name
        self._opener = new_opener()
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Delivery]] = []
        self._seq = itertools.count()
        self._unfinished = 0
        self._accepting = True
        self._stopped = False
        self._thread: threading.Thread | None = None
        _live.add(self)

    def __repr__(self) -> str:
        labels = ", ".join(endpoint.label for endpoint in self.endpoints)
        return f"WebhookPlugin([{labels}], max_attempts={self.max_attempts})"

    # -- the hook -------------------------------------------------------------------------------

    @hookimpl
    def oms_order_committed(self, event: OrderEvent) -> None:
        """Schedule the event for every endpoint that wants it; never waits for HTTP."""
        self.submit(event)

    # -- scheduling -----------------------------------------------------------------------------

    def submit(self, event: OrderEvent) -> int:
        """Schedule ``event`` for delivery; returns how many deliveries were queued."""
        targets = [endpoint for endpoint in self.endpoints if endpoint.wants(event.name)]
        if not targets:
            return 0
        payload = _Payload(event)
        queued = 0
        with self._cond:
            if not self._accepting:
                log.warning("webhooks closed: %s %s not delivered", event.name, event.id)
                return 0
            now = time.monotonic()
            for endpoint in targets:
                delivery = _Delivery(payload, endpoint)
                if self._unfinished >= self.queue_size:
                    log.warning(
                        "webhook queue full (%d): dropped %s", self.queue_size, delivery.describe()
                    )
                    continue
                heapq.heappush(self._heap, (now, next(self._seq), delivery))
                self._unfinished += 1
                queued += 1
            if queued:
                self._ensure_worker()
                self._cond.notify_all()
        return queued

    def _ensure_worker(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._work, name="oms-webhooks", daemon=True)
            self._thread.start()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every scheduled delivery is delivered or given up (or ``timeout``).

        Returns whether nothing is left. For tests, and for a shutdown that wants to wait.
        """
        with self._cond:
            return self._cond.wait_for(lambda: self._unfinished == 0, timeout)

    @property
    def pending(self) -> int:
        """Deliveries scheduled and not finished yet (in flight included)."""
        with self._cond:
            return self._unfinished

    def close(self, timeout: float | None = 10.0) -> bool:
        """Stop accepting events, wait up to ``timeout`` for what is scheduled, stop the worker.

        Deliveries still waiting after ``timeout`` are abandoned (and logged as such). Returns
        whether everything was delivered or given up before the worker stopped.
        """
        with self._cond:
            self._accepting = False
            self._cond.notify_all()
        drained = self.flush(timeout)
        with self._cond:
            abandoned = len(self._heap)
            self._unfinished -= abandoned
            self._heap.clear()
            self._stopped = True
            self._cond.notify_all()
            thread = self._thread
        if abandoned:
            log.warning("webhooks closing: %d delivery(ies) abandoned", abandoned)
        if drained and thread is not None and thread is not threading.current_thread():
            thread.join(timeout=1.0)
        _live.discard(self)
        return drained

    def retire(self) -> None:
        """Stop accepting events, finish what is scheduled in the background, then stop."""
        with self._cond:
            self._accepting = False
            self._cond.notify_all()

    # -- the worker -----------------------------------------------------------------------------

    def _next(self) -> _Delivery | None:
        """The next due delivery, waiting as needed; ``None`` when the worker should stop."""
        with self._cond:
            while True:
                if self._stopped:
                    return None
                if not self._heap:
                    if not self._accepting:
                        return None
                    self._cond.wait()
                    continue
                wait = self._heap[0][0] - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                return heapq.heappop(self._heap)[2]

    def _work(self) -> None:
        while (delivery := self._next()) is not None:
            delivery.attempts += 1
            try:
                outcome = self._send(delivery)
            except Exception as exc:  # never let one delivery kill the worker
                outcome = Outcome(False, False, f"unexpected {type(exc).__name__}")
            self._settle(delivery, outcome)

    def _settle(self, delivery: _Delivery, outcome: Outcome) -> None:
        attempts, most = delivery.attempts, self.max_attempts
        if outcome.delivered:
            log.debug("webhook %s delivered (attempt %d)", delivery.describe(), attempts)
        elif outcome.retry and attempts < most:
            delay = min(self.backoff * 2 ** (attempts - 1), self.max_backoff)
            log.warning(
                "webhook %s failed (attempt %d/%d: %s); retrying in %.2fs",
                delivery.describe(),
                attempts,
                most,
                outcome.detail,
                delay,
            )
            with self._cond:
                if not self._stopped:
                    due = time.monotonic() + delay
                    heapq.heappush(self._heap, (due, next(self._seq), delivery))
                    self._cond.notify_all()
                    return
        elif outcome.retry:
            log.error(
                "webhook %s gave up after %d attempt(s): %s",
                delivery.describe(),
                attempts,
                outcome.detail,
            )
        else:
            log.error("webhook %s refused (%s); not retried", delivery.describe(), outcome.detail)
        with self._cond:
            self._unfinished -= 1
            self._cond.notify_all()

    def _send(self, delivery: _Delivery) -> Outcome:
        return post_event(
            self._opener,
            delivery.endpoint,
            delivery.payload.event,
            delivery.payload.body,
            attempt=delivery.attempts,
            timeout=self.timeout,
        )


@atexit.register
def _close_all() -> None:
    """At exit, give scheduled deliveries ``shutdown_timeout`` to finish (best effort)."""
    for plugin in list(_live):
        plugin.close(plugin.shutdown_timeout)
