"""Signed HTTP webhooks of order events for oms-sdk.

Every committed command becomes one POST per interested endpoint, signed with
``X-OMS-Signature: sha256=<HMAC-SHA256 of the body>``; receivers check it with
``verify_signature`` and de-duplicate on the event ``id`` (also in ``X-OMS-Event-Id``).

Two delivery modes:

* **direct** (the default): ``WebhookPlugin`` posts from memory, off the command's thread,
  with retries. Best effort: what is scheduled when the process dies is lost, and a retried
  event may arrive after a later one.
* **outbox**: ``WebhookPublisher`` is handed events by the SDK's outbox relay
  (``oms outbox relay``): durable across crashes, in order per order, at least once.

Two ways to configure either:

* In code: ``OMS.open(..., plugins=[WebhookPlugin(endpoints)])`` (direct) or
  ``plugins=[WebhookPublisher(endpoints)]`` (outbox), with ``Endpoint(url, secret, events)``.
* As the ``webhooks`` entry point: list it in a policy file's ``plugins:`` and put the
  endpoints in ``$OMS_WEBHOOK_ENDPOINTS`` (a JSON list of ``{url, secret, events, name}``),
  so secrets stay out of policy files, which are meant to be committed and reviewed;
  ``$OMS_WEBHOOK_DELIVERY`` chooses ``direct`` or ``outbox``.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping

from oms_sdk import OMS, EventPublisher, OrderEvent, PluginError, hookimpl

from ._config import ALL_EVENTS, ENV_VAR, Endpoint, endpoints_from_env
from ._delivery import USER_AGENT, WebhookPlugin, event_body
from ._publisher import WebhookDeliveryError, WebhookPublisher
from ._signing import SIGNATURE_HEADER, sign, verify_signature

__all__ = [
    "ALL_EVENTS",
    "DELIVERY_ENV_VAR",
    "DELIVERY_MODES",
    "ENV_VAR",
    "SIGNATURE_HEADER",
    "USER_AGENT",
    "Endpoint",
    "WebhookDeliveryError",
    "WebhookPlugin",
    "WebhookPublisher",
    "close",
    "delivery_mode",
    "endpoints_from_env",
    "env_plugin",
    "env_publisher",
    "event_body",
    "flush",
    "oms_event_publishers",
    "oms_opened",
    "oms_order_committed",
    "sign",
    "verify_signature",
]

log = logging.getLogger("oms_webhooks")

#: The environment variable that chooses how the entry point delivers.
DELIVERY_ENV_VAR = "OMS_WEBHOOK_DELIVERY"
#: ``direct``: from memory, right after the commit. ``outbox``: by the SDK's outbox relay.
DELIVERY_MODES = ("direct", "outbox")


def delivery_mode(environ: Mapping[str, str] | None = None) -> str:
    """``direct`` (the default, also when the variable is unset or blank) or ``outbox``, from
    ``$OMS_WEBHOOK_DELIVERY``. Raises ``ValueError`` for anything else: a typo must not
    quietly fall back to the mode that loses events on a crash."""
    raw = (os.environ if environ is None else environ).get(DELIVERY_ENV_VAR, "")
    mode = raw.strip().lower() or "direct"
    if mode not in DELIVERY_MODES:
        raise ValueError(f"{DELIVERY_ENV_VAR} must be 'direct' or 'outbox', not {raw[:20]!r}")
    return mode


# -- the entry point: one process-wide plugin configured from the environment -------------------

_lock = threading.Lock()
_plugin: WebhookPlugin | None = None
_configured_from: str | None = None


def env_plugin() -> WebhookPlugin:
    """The plugin the ``webhooks`` entry point delivers with, built from ``$OMS_WEBHOOK_ENDPOINTS``.

    Re-read on every call (a string comparison): when the variable changed, a new plugin
    takes over and the previous one finishes what it had scheduled in the background.
    Raises ``ValueError`` for a malformed variable, without quoting it (it holds secrets).
    """
    global _plugin, _configured_from
    raw = os.environ.get(ENV_VAR, "")
    with _lock:
        if _plugin is not None and raw == _configured_from:
            return _plugin
        plugin = WebhookPlugin(endpoints_from_env({ENV_VAR: raw}))
        previous, _plugin, _configured_from = _plugin, plugin, raw
    if previous is not None:
        previous.retire()
    if not plugin.endpoints:
        log.warning("the webhooks plugin is enabled but %s is empty: nothing is sent", ENV_VAR)
    return plugin


_publisher: WebhookPublisher | None = None
_publisher_from: str | None = None


def env_publisher() -> WebhookPublisher:
    """The publisher the ``webhooks`` entry point gives the outbox relay in ``outbox`` mode,
    built from ``$OMS_WEBHOOK_ENDPOINTS``.

    Kept while the variable is unchanged, so ``X-OMS-Delivery-Attempt`` counts across relay
    runs. Raises ``ValueError`` for a malformed variable, without quoting it.
    """
    global _publisher, _publisher_from
    raw = os.environ.get(ENV_VAR, "")
    with _lock:
        if _publisher is not None and raw == _publisher_from:
            return _publisher
        publisher = WebhookPublisher(endpoints_from_env({ENV_VAR: raw}))
        _publisher, _publisher_from = publisher, raw
    if not publisher.endpoints:
        log.warning("the webhooks plugin is enabled but %s is empty: nothing is sent", ENV_VAR)
    return publisher


def flush(timeout: float | None = None) -> bool:
    """Wait for the entry-point plugin's scheduled deliveries (see ``WebhookPlugin.flush``)."""
    with _lock:
        plugin = _plugin
    return True if plugin is None else plugin.flush(timeout)


def close(timeout: float | None = 10.0) -> bool:
    """Close the entry-point plugin (see ``WebhookPlugin.close``); the next event re-reads
    the environment."""
    global _plugin, _configured_from
    with _lock:
        plugin, _plugin, _configured_from = _plugin, None, None
    return True if plugin is None else plugin.close(timeout)


@hookimpl
def oms_opened(oms: OMS) -> None:
    """Read ``$OMS_WEBHOOK_DELIVERY`` and ``$OMS_WEBHOOK_ENDPOINTS`` when the OMS opens: a
    broken value fails the open, not silently every event later."""
    try:
        if delivery_mode() == "outbox":
            env_publisher()
        else:
            env_plugin()
    except ValueError as exc:
        raise PluginError(f"webhooks: {exc}") from None


@hookimpl
def oms_order_committed(event: OrderEvent) -> None:
    """In ``direct`` mode, schedule ``event`` with the environment-configured endpoints. In
    ``outbox`` mode do nothing: the relay delivers the event, from the outbox."""
    try:
        if delivery_mode() == "outbox":
            return
        plugin = env_plugin()
    except ValueError as exc:
        log.error("webhooks: %s; %s %s not delivered", exc, event.name, event.id)
        return
    plugin.submit(event)


@hookimpl
def oms_event_publishers(oms: OMS) -> list[EventPublisher]:
    """In ``outbox`` mode, the environment-configured publisher; in ``direct`` mode none
    (``oms_order_committed`` delivers, and the relay must not send the events again)."""
    try:
        if delivery_mode() != "outbox":
            return []
        return [env_publisher()]
    except ValueError as exc:
        raise PluginError(f"webhooks: {exc}") from None
