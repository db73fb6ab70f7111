"""The ``extensions.stock`` section of a market policy: its pydantic model and its checks.

Validation happens at load time through ``oms_check_market``, which reports every problem with
its path inside the market, so the SDK's loader can name the file, the key path and the line.
Hooks that run later read the parsed section through ``stock_policy``, which caches it per
market fingerprint: the policy is immutable once loaded, and a checkout must not re-validate it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError

from oms_sdk import MarketPolicy

from ._planner import Strategy

__all__ = [
    "SECTION",
    "InventoryModelPolicy",
    "StockLocationPolicy",
    "StockPolicy",
    "check_stock_policy",
    "market_model",
    "stock_policy",
]

#: The plugin's name, its entry point and its section under a market's ``extensions``.
SECTION = "stock"

PolicyPath = tuple[str | int, ...]

LocationCode = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
Sku = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$")]
ModelName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
Quantity = Annotated[StrictInt, Field(ge=0)]


class _Strict(BaseModel):
    # Strict like the SDK's own policy models: a typo in a stock policy must not pass silently.
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class StockLocationPolicy(_Strict):
    """A place stock is kept and shipped from (a warehouse, a store's back room)."""

    code: LocationCode
    """Names one physical place across every market: markets naming it share its stock."""
    name: str = Field(min_length=1, max_length=200)
    priority: Annotated[StrictInt, Field(ge=1)]
    """1 is the primary location; lower numbers are tried first. Unique within a model."""


class InventoryModelPolicy(_Strict):
    """How orders of the markets using this model are supplied (Commerce Layer's model)."""

    strategy: Strategy = "no_split"
    locations: tuple[StockLocationPolicy, ...] = Field(min_length=1)
    initial_stock: dict[LocationCode, dict[Sku, Quantity]] = Field(default_factory=dict)
    """On hand per location and SKU, inserted when missing; never overwrites counted stock."""
    stock_transfers: StrictBool = False
    """ship_from_primary (and its fallback): take units missing at the primary from the
    secondaries, as Commerce Layer's stock transfers do. Off: the primary's own stock only."""
    decrement: Literal["on_approval", "manual"] = "on_approval"
    """When reserved units leave on hand: when the order is approved, or only when the
    warehouse says so (``oms_stock.decrement_stock(oms, order)``, e.g. at pick time)."""

    @property
    def by_priority(self) -> tuple[StockLocationPolicy, ...]:
        return tuple(sorted(self.locations, key=lambda loc: loc.priority))

    @property
    def location_codes(self) -> list[str]:
        """Codes in priority order: the primary first."""
        return [loc.code for loc in self.by_priority]


class StockPolicy(_Strict):
    """The whole ``extensions.stock`` section of one market."""

    reservation_ttl_minutes: Annotated[StrictInt, Field(ge=1, le=7 * 24 * 60)] = 30
    """How long the reservation of an order that is authorized but not yet placed holds.
    Once the order is placed, its reservation holds until approval or cancellation."""
    models: dict[ModelName, InventoryModelPolicy] = Field(min_length=1)
    """Inventory models by name; the market's ``inventory_model`` picks one."""


_cache: dict[str, StockPolicy | None] = {}
_cache_lock = threading.Lock()


def stock_policy(market: MarketPolicy) -> StockPolicy | None:
    """The market's parsed stock section, or ``None`` when it has none (the SDK default
    applies then). Raises ``ValidationError`` only for a market that skipped the load check."""
    key = market.fingerprint
    with _cache_lock:
        if key in _cache:
            return _cache[key]
    raw = market.extensions.get(SECTION)
    parsed = None if raw is None else StockPolicy.model_validate(raw)
    with _cache_lock:
        if len(_cache) > 1024:  # markets are few; this only bounds a pathological process
            _cache.clear()
        _cache[key] = parsed
    return parsed


def market_model(market: MarketPolicy) -> tuple[StockPolicy, InventoryModelPolicy] | None:
    """The stock section and the inventory model the market uses, or ``None``."""
    policy = stock_policy(market)
    if policy is None:
        return None
    model = policy.models.get(market.inventory_model)
    if model is None:  # refused at load time; only a market built by hand gets here
        raise LookupError(
            f"market {market.code}: inventory model {market.inventory_model!r} is not in "
            f"extensions.stock.models"
        )
    return policy, model


def check_stock_policy(market: MarketPolicy) -> Iterator[tuple[PolicyPath, str]]:
    """Every problem of the market's stock section, as ``(path inside the market, message)``."""
    raw = market.extensions.get(SECTION)
    if raw is None:
        return
    base: PolicyPath = ("extensions", SECTION)
    try:
        policy = StockPolicy.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors()
        paths = [_location(error["loc"]) for error in errors]
        for error, path in zip(errors, paths, strict=True):
            # A list whose only item is invalid is also "too short": the item says it better.
            if error["type"] == "too_short" and any(
                len(other) > len(path) and other[: len(path)] == path for other in paths
            ):
                continue
            yield base + path, _message(error)
        return
    if market.inventory_model not in policy.models:
        defined = ", ".join(policy.models)
        yield (
            ("inventory_model",),
            f"inventory model {market.inventory_model!r} is not defined in "
            f"extensions.stock.models (defined: {defined})",
        )
    for name, model in policy.models.items():
        yield from _check_model(model, (*base, "models", name))


def _check_model(model: InventoryModelPolicy, path: PolicyPath) -> Iterator[tuple[PolicyPath, str]]:
    codes: dict[str, int] = {}
    priorities: dict[int, str] = {}
    for index, location in enumerate(model.locations):
        here = (*path, "locations", index)
        if location.code in codes:
            yield (*here, "code"), f"duplicate location code {location.code!r}"
        codes.setdefault(location.code, index)
        if location.priority in priorities:
            yield (
                (*here, "priority"),
                f"priority {location.priority} is also given to {priorities[location.priority]!r}:"
                " priorities order the locations, so each must be unique",
            )
        priorities.setdefault(location.priority, location.code)
    for code in model.initial_stock:
        if code not in codes:
            yield (
                (*path, "initial_stock", code),
                f"unknown stock location {code!r} (locations: {', '.join(codes)})",
            )


def _location(loc: tuple[Any, ...]) -> PolicyPath:
    # pydantic marks a bad dict key with a trailing "[key]"; the key itself locates it.
    return tuple(part for part in loc if part != "[key]")


def _message(error: Any) -> str:
    """Worded like the SDK's own loader: "missing required key", "unknown key (allowed: …)"."""
    loc = _location(error["loc"])
    key = loc[-1] if loc else ""
    if error["type"] == "missing":
        return f"missing required key {key!r}"
    if error["type"] == "extra_forbidden":
        model = _model_at(loc[:-1])
        allowed = f" (allowed: {', '.join(model.model_fields)})" if model is not None else ""
        return f"unknown key {key!r}{allowed}"
    return str(error["msg"])


def _model_at(path: PolicyPath) -> type[BaseModel] | None:
    """The model that validates the mapping at ``path`` (relative to the stock section)."""
    shapes: dict[int, type[BaseModel]] = {
        0: StockPolicy,
        2: InventoryModelPolicy,
        4: StockLocationPolicy,
    }
    if len(path) == 4 and path[2] != "locations":
        return None
    return shapes.get(len(path))
