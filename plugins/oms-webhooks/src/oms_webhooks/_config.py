"""Where webhooks go: endpoints, given in code or read from ``OMS_WEBHOOK_ENDPOINTS``.

Secrets never appear in a ``repr``, a log line or an error message: configuration errors name
the endpoint by position and key only, and an endpoint is shown by its scheme, host and port
(a URL's path or query may itself be a token, as in ``https://hooks.example.com/T0/B0/XXXX``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

__all__ = ["ALL_EVENTS", "ENV_VAR", "Endpoint", "endpoints_from_env"]

#: The environment variable the entry-point plugin reads: a JSON list of endpoints.
ENV_VAR = "OMS_WEBHOOK_ENDPOINTS"
#: In ``events``: every event.
ALL_EVENTS = "*"

_KEYS = ("url", "secret", "events", "name")


def _origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``, which is safe to log; the rest may be a secret."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid url>"
    return f"{parts.scheme or '?'}://{host}{port}"


@dataclass(frozen=True, init=False)
class Endpoint:
    """One receiver: where to POST, the secret that signs, and which events it wants.

    ``events`` holds event names (``orders.place``, ``orders.refund``,
    ``orders.shipment.ship`` …, see ``oms_sdk.OrderEvent.name``) or ``"*"`` for all of them.
    ``name`` is how logs refer to the endpoint (default: its scheme, host and port).
    """

    url: str
    secret: str = field(repr=False)
    events: tuple[str, ...]
    name: str | None

    def __init__(
        self,
        url: str,
        secret: str,
        events: Iterable[str] | str = (ALL_EVENTS,),
        name: str | None = None,
    ) -> None:
        object.__setattr__(self, "url", url)
        object.__setattr__(self, "secret", secret)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "events", (events,) if isinstance(events, str) else tuple(events))
        self._check()

    def _check(self) -> None:
        where = f"webhook endpoint {self.label}"
        if not isinstance(self.url, str):
            raise TypeError(f"{where}: url must be a string")
        try:
            parts = urlsplit(self.url)
            valid_port = parts.port is None or parts.port > 0
        except ValueError:
            parts, valid_port = None, False
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{where}: url must be an absolute http:// or https:// URL")
        if not valid_port:
            raise ValueError(f"{where}: url has an invalid port")
        if parts.username is not None or parts.password is not None:
            raise ValueError(
                f"{where}: url must not carry credentials; the signature authenticates"
            )
        if not isinstance(self.secret, str) or not self.secret:
            raise ValueError(f"{where}: secret must be a non-empty string")
        if not self.events:
            raise ValueError(f"{where}: events is empty; use ['*'] for every event")
        for event in self.events:
            if not isinstance(event, str) or not event or event != event.strip():
                raise ValueError(f"{where}: events must be event names such as 'orders.place'")
        if self.name is not None and (not isinstance(self.name, str) or not self.name):
            raise ValueError(f"{where}: name must be a non-empty string")

    @property
    def label(self) -> str:
        """How logs and errors name this endpoint, without any secret."""
        if isinstance(self.name, str) and self.name:
            return self.name
        return _origin(self.url) if isinstance(self.url, str) else "<invalid url>"

    def wants(self, event_name: str) -> bool:
        return ALL_EVENTS in self.events or event_name in self.events


def _endpoint(index: int, raw: Any) -> Endpoint:
    where = f"{ENV_VAR}[{index}]"
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected an object with url, secret and events")
    unknown = sorted(set(raw) - set(_KEYS))
    if unknown:
        raise ValueError(
            f"{where}: unknown key(s) {', '.join(map(repr, unknown))} (allowed: {', '.join(_KEYS)})"
        )
    missing = [key for key in ("url", "secret") if key not in raw]
    if missing:
        raise ValueError(f"{where}: missing {' and '.join(missing)}")
    events = raw.get("events", [ALL_EVENTS])
    if isinstance(events, str) or not isinstance(events, list):
        raise ValueError(f'{where}: events must be a list, e.g. ["orders.place"] or ["*"]')
    try:
        return Endpoint(
            url=raw["url"], secret=raw["secret"], events=tuple(events), name=raw.get("name")
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: {exc}") from None


def endpoints_from_env(environ: Mapping[str, str] | None = None) -> list[Endpoint]:
    """The endpoints in ``$OMS_WEBHOOK_ENDPOINTS`` (none when unset or blank).

    The value is a JSON list: ``[{"url": "https://…", "secret": "…", "events": ["*"]}]``.
    Raises ``ValueError`` naming the entry and key at fault, never a value: the variable
    holds secrets.
    """
    raw = (os.environ if environ is None else environ).get(ENV_VAR, "").strip()
    if not raw:
        return []
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        # exc.doc is the whole variable, secrets included: keep only the position
        raise ValueError(
            f"{ENV_VAR} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    if not isinstance(data, list):
        raise ValueError(f"{ENV_VAR} must be a JSON list of endpoints")
    return [_endpoint(index, item) for index, item in enumerate(data)]


def check_endpoints(endpoints: Iterable[Endpoint]) -> tuple[Endpoint, ...]:
    """``endpoints`` as a tuple, refusing anything that is not an ``Endpoint``."""
    found = tuple(endpoints)
    for endpoint in found:
        if not isinstance(endpoint, Endpoint):
            raise TypeError(f"expected Endpoint objects, got {type(endpoint).__name__}")
    return found
