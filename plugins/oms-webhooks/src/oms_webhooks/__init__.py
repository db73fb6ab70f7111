"""Signed HTTP webhooks of order events for oms-sdk.

Two ways to use it:

* In code: ``OMS.open(..., plugins=[WebhookPlugin([Endpoint(url, secret, events)])])``.
* As the ``webhooks`` entry point: list it in a policy file's ``plugins:`` and put the
  endpoints in ``$OMS_WEBHOOK_ENDPOINTS`` (a JSON list of ``{url, secret, events, name}``),
  so secrets stay out of policy files, which are meant to be committed and reviewed.

Every committed command becomes one POST per interested endpoint, off the command's thread,
signed with ``X-OMS-Signature: sha256=<HMAC-SHA256 of the body>``; receivers check it with
``verify_signature``. Delivery is best effort and at least once: de-duplicate on the event
``id`` (also in ``X-OMS-Event-Id``), and do not rely on the order of arrival.
"""

from __future__ import annotations

import logging
import os
import threading

from oms_sdk import OMS, OrderEvent, PluginError, hookimpl

from ._config import ALL_EVENTS, ENV_VAR, Endpoint, endpoints_from_env
from ._delivery import USER_AGENT, WebhookPlugin, event_body
from ._signing import SIGNATURE_HEADER, sign, verify_signature

__all__ = [
    "ALL_EVENTS",
    "ENV_VAR",
    "SIGNATURE_HEADER",
    "USER_AGENT",
    "Endpoint",
    "WebhookPlugin",
    "close",
    "endpoints_from_env",
    "env_plugin",
    "event_body",
    "flush",
    "oms_opened",
    "oms_order_committed",
    "sign",
    "verify_signature",
]

log = logging.getLogger("oms_webhooks")

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
    """Read ``$OMS_WEBHOOK_ENDPOINTS`` when the OMS opens: a broken value fails the open,
    not silently every event later."""
    try:
        env_plugin()
    except ValueError as exc:
        raise PluginError(f"webhooks: {exc}") from None


@hookimpl
def oms_order_committed(event: OrderEvent) -> None:
    """Schedule ``event`` with the environment-configured endpoints."""
    try:
        plugin = env_plugin()
    except ValueError as exc:
        log.error("webhooks: %s; %s %s not delivered", exc, event.name, event.id)
        return
    plugin.submit(event)
