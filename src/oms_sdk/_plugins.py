"""Finding, loading and checking plugins.

Plugins come from two places: objects the application passes to ``OMS.open(plugins=[...])``,
and distributions that publish an entry point in the ``oms_sdk`` group. An entry point is
imported only when a policy file lists its name under ``plugins:`` — installed is not enabled.
The SDK's own defaults are registered first, as a plugin like any other, so a plugin overrides
them simply by answering first.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import pluggy

from . import _defaults, hookspecs
from .errors import PluginError
from .payments import PaymentGateway
from .policy import MarketPolicy
from .store import PluginMigrations

__all__ = ["InstalledPlugin", "PluginHost", "installed_plugins"]

DEFAULTS_NAME = "oms_sdk.defaults"


@dataclass(frozen=True)
class InstalledPlugin:
    """A plugin distribution found under the ``oms_sdk`` entry-point group (not imported)."""

    name: str
    value: str
    distribution: str | None
    version: str | None


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    return sorted(
        importlib.metadata.entry_points(group=hookspecs.PROJECT_NAME), key=lambda ep: ep.name
    )


def installed_plugins() -> list[InstalledPlugin]:
    """Every plugin installed in this environment, enabled or not, without importing any."""
    return [
        InstalledPlugin(
            ep.name,
            ep.value,
            ep.dist.name if ep.dist is not None else None,
            ep.dist.version if ep.dist is not None else None,
        )
        for ep in _entry_points()
    ]


class PluginHost:
    """The plugin manager of one ``OMS``, with the hooks the SDK calls most kept at hand."""

    def __init__(
        self,
        plugins: Sequence[object] = (),
        enabled: Iterable[str] = (),
        gateways: Sequence[PaymentGateway] = (),
    ) -> None:
        self.manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.manager.add_hookspecs(hookspecs)
        self.manager.register(_defaults, name=DEFAULTS_NAME)
        available = {ep.name: ep for ep in _entry_points()}
        by_module = {ep.value: ep.name for ep in available.values()}
        for plugin in plugins:
            # A plugin module passed by hand keeps its entry-point name (``stock``), and an
            # object may name itself (``plugin_name``): its policy ``extensions`` section and a
            # policy that also lists it both still find it.
            name = getattr(plugin, "plugin_name", None) or by_module.get(
                getattr(plugin, "__name__", "")
            )
            self._register(plugin, name)
        wanted = list(dict.fromkeys(enabled))
        missing = [name for name in wanted if name not in available]
        if missing:
            installed = ", ".join(available) or "none"
            raise PluginError(
                f"plugin(s) {', '.join(missing)} listed in the policy are not installed "
                f"(installed: {installed})"
            )
        for name in wanted:
            if self.manager.has_plugin(name):
                continue
            try:
                plugin = available[name].load()
            except Exception as exc:
                raise PluginError(f"plugin {name!r} failed to import: {exc}") from exc
            if not self.manager.is_registered(plugin):
                self._register(plugin, name)
        try:
            self.manager.check_pending()
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"invalid plugin: {exc}") from exc
        self.hook = self.manager.hook
        self.gateways = self._collect_gateways()
        # Gateways handed over directly win over any plugin's: a test's own sandbox instance.
        self.gateways.update({gateway.name: gateway for gateway in gateways})
        self.has_guards = bool(self.hook.oms_transition_guard.get_hookimpls())

    def _register(self, plugin: object, name: str | None) -> None:
        try:
            self.manager.register(plugin, name=name)
        except (pluggy.PluginValidationError, ValueError) as exc:
            raise PluginError(f"invalid plugin {name or plugin!r}: {exc}") from exc

    def _collect_gateways(self) -> dict[str, PaymentGateway]:
        """Gateways by name; a name given by two plugins is an error, except that the SDK's
        own defaults step aside for a plugin's gateway of the same name."""
        gateways: dict[str, PaymentGateway] = {}
        defaults: list[PaymentGateway] = []
        for impl in self.hook.oms_payment_gateways.get_hookimpls():
            provided = list(cast("Iterable[PaymentGateway]", impl.function() or ()))
            if impl.plugin_name == DEFAULTS_NAME:
                defaults.extend(provided)
                continue
            for gateway in provided:
                if not isinstance(gateway, PaymentGateway):
                    raise PluginError(
                        f"plugin {impl.plugin_name}: {gateway!r} is not a PaymentGateway"
                    )
                if gateway.name in gateways:
                    raise PluginError(f"two plugins provide a gateway named {gateway.name!r}")
                gateways[gateway.name] = gateway
        for gateway in defaults:
            gateways.setdefault(gateway.name, gateway)
        return gateways

    @property
    def migrations(self) -> list[PluginMigrations]:
        """Every plugin's schema migrations (``oms_migrations``), names checked distinct."""
        found: list[PluginMigrations] = []
        for impl in self.hook.oms_migrations.get_hookimpls():
            answer = impl.function()
            if answer is None:
                continue
            if not isinstance(answer, PluginMigrations):
                raise PluginError(f"plugin {impl.plugin_name}: {answer!r} is not PluginMigrations")
            if any(m.name == answer.name for m in found):
                raise PluginError(f"two plugins ship migrations named {answer.name!r}")
            found.append(answer)
        return found

    @property
    def names(self) -> list[str]:
        """Registered plugins, by name (the SDK's defaults included)."""
        return [name for name, _ in self.manager.list_name_plugin()]

    def check_market(self, market: MarketPolicy) -> list[tuple[tuple[str | int, ...], str]]:
        """Plugin policy checks, plus: every ``extensions`` section belongs to an active plugin."""
        found: list[tuple[tuple[str | int, ...], str]] = []
        names = set(self.names)
        for section in market.extensions:
            if section not in names:
                found.append(
                    (("extensions", section), f"no active plugin named {section!r} reads it")
                )
        for problems in self.hook.oms_check_market(market=market):
            found.extend((tuple(path), str(message)) for path, message in problems)
        return found

    def guard_reasons(
        self, order: Any, trigger: str, market: MarketPolicy, context: dict[str, Any]
    ) -> list[str]:
        reasons = self.hook.oms_transition_guard(
            order=order, trigger=trigger, market=market, context=context
        )
        return [str(r) for r in reasons if r]
