"""The ``extensions.rate_table`` section of a market: its model and its checks.

Validation happens in two passes so that every problem points at the key to fix:

1. the pydantic models check the shape (unknown keys, types, exact amounts in the market's
   currency); each pydantic error already carries its location;
2. ``check_rate_table`` then checks what a model cannot see on its own (method codes that
   exist in the market, zones that exist, valid and unique countries, increasing tiers) and
   names the exact item at fault, rather than the whole section.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
)

from oms_sdk import Money, MoneyError
from oms_sdk.policy import MarketPolicy

from ._countries import COUNTRY_CODES

__all__ = [
    "REST_OF_WORLD",
    "SECTION",
    "KeyPath",
    "RateTable",
    "Tier",
    "Zone",
    "check_rate_table",
    "parse_rate_table",
]

#: The market's ``extensions`` key this plugin reads (also its entry-point name).
SECTION = "rate_table"
#: The one country entry that means "every country no other zone lists".
REST_OF_WORLD = "*"

KeyPath = tuple[str | int, ...]


def _amount(value: Any, info: ValidationInfo) -> Money:
    """An exact amount in the market's currency, as the core policy reads its own amounts."""
    if isinstance(value, Money):
        return value
    if isinstance(value, float):
        raise ValueError('write amounts as text or decimals, e.g. "4.90"; floats are not exact')
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise ValueError(f'expected an amount such as "4.90", got {type(value).__name__}')
    currency = (info.context or {}).get("currency")
    if not isinstance(currency, str):
        raise ValueError("amounts can only be read for a market (its currency is unknown)")
    try:
        money = Money.parse(value, currency)
    except MoneyError as exc:
        raise ValueError(str(exc)) from None
    if money.minor < 0:
        raise ValueError(f"amount must not be negative, got {value}")
    return money


#: An amount in the market's currency; needs ``context={"currency": ...}`` to validate.
Amount = Annotated[Money, BeforeValidator(_amount)]
#: A free-shipping threshold; ``None`` (``null``) = never free.
Threshold = Amount | None

_THRESHOLD: TypeAdapter[Money | None] = TypeAdapter(Threshold)
_ZONE_THRESHOLDS: TypeAdapter[dict[str, Money | None]] = TypeAdapter(dict[StrictStr, Threshold])
ZoneCode = Annotated[StrictStr, Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,39}$")]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Zone(_Section):
    """Countries that share rates. ``countries: ["*"]`` is the rest of the world."""

    code: ZoneCode
    countries: tuple[StrictStr, ...]


class Tier(_Section):
    """One price for parcels up to ``max_weight_grams`` (inclusive) going to ``zone``.

    Without ``max_weight_grams`` the tier has no upper limit: a flat rate is one such tier.
    """

    zone: ZoneCode
    max_weight_grams: Annotated[StrictInt, Field(gt=0)] | None = None
    price: Amount


class RateTable(_Section):
    """A market's whole ``extensions.rate_table`` section, validated.

    Empty lists are reported by ``check_rate_table`` rather than by a length constraint here:
    pydantic would repeat "too short" after every invalid item it dropped.
    """

    zones: tuple[Zone, ...]
    rates: dict[StrictStr, tuple[Tier, ...]] = Field(default_factory=dict)
    """Shipping method code -> tiers, each zone's tiers listed by increasing weight."""
    free_over: dict[StrictStr, Threshold | dict[StrictStr, Threshold]] = Field(default_factory=dict)
    """Method code -> free once the discounted goods reach this (``null`` = never free), in
    every zone or per zone (``{domestic: "50.00", world: null}``). Whatever the table does not
    say keeps the method's policy ``free_over``. Read by ``parse_rate_table`` first (see there).
    """

    def zone_of(self, country: str) -> Zone | None:
        """The zone that lists ``country``, else the rest-of-world zone, else ``None``."""
        rest = None
        for zone in self.zones:
            if country in zone.countries:
                return zone
            if REST_OF_WORLD in zone.countries:
                rest = zone
        return rest

    def tiers(self, method: str, zone: str) -> list[Tier]:
        """The tiers of ``method`` for ``zone``, lightest first (as written)."""
        return [tier for tier in self.rates.get(method, ()) if tier.zone == zone]

    def free_over_for(self, method: str, zone: str, default: Money | None) -> Money | None:
        """The free-shipping threshold of ``method`` in ``zone``; ``default`` (the policy's)
        where the table says nothing, so a "free over 50" promise survives adding a table."""
        if method not in self.free_over:
            return default
        found = self.free_over[method]
        if isinstance(found, dict):
            return found.get(zone, default)
        return found


def _message(error: Mapping[str, Any]) -> str:
    """A pydantic error as a policy-file reader would want it said."""
    kind = error.get("type")
    loc = error.get("loc") or ()
    if kind == "extra_forbidden":
        return f"unknown key {loc[-1]!r}" if loc else "unknown key"
    if kind == "missing":
        return "required key is missing"
    message = str(error.get("msg", "invalid value"))
    return message.removeprefix("Value error, ")


def _problems(error: ValidationError, prefix: KeyPath = ()) -> list[tuple[KeyPath, str]]:
    return [(prefix + tuple(e["loc"]), _message(e)) for e in error.errors(include_url=False)]


def _parse_free_over(raw: Any, currency: str) -> tuple[Any, list[tuple[KeyPath, str]]]:
    """``free_over``, entry by entry, choosing the form (one amount, or one per zone) by the
    value's type: a union would report each bad amount twice, once per form it failed."""
    if not isinstance(raw, dict):
        return raw, []  # not a mapping: the model says so
    context = {"currency": currency}
    parsed: dict[Any, Any] = {}
    problems: list[tuple[KeyPath, str]] = []
    for method, value in raw.items():
        adapter: TypeAdapter[Any] = _ZONE_THRESHOLDS if isinstance(value, dict) else _THRESHOLD
        try:
            parsed[method] = adapter.validate_python(value, context=context)
        except ValidationError as exc:
            problems.extend(_problems(exc, ("free_over", method)))
    return parsed, problems


def parse_rate_table(
    section: Mapping[str, Any], currency: str
) -> tuple[RateTable | None, list[tuple[KeyPath, str]]]:
    """Validate the section's shape; problems are located relative to the section."""
    data = dict(section)
    problems: list[tuple[KeyPath, str]] = []
    if "free_over" in data:
        data["free_over"], problems = _parse_free_over(data["free_over"], currency)
    try:
        table = RateTable.model_validate(data, context={"currency": currency})
    except ValidationError as exc:
        found = problems + _problems(exc)
        return None, sorted(set(found), key=found.index)
    if problems:
        return None, problems
    return table, []


def check_rate_table(market: MarketPolicy) -> list[tuple[KeyPath, str]]:
    """Every problem of the market's ``extensions.rate_table``, as ``(path in market, msg)``."""
    section = market.extensions.get(SECTION)
    if section is None:
        return []
    prefix: KeyPath = ("extensions", SECTION)
    table, problems = parse_rate_table(section, market.currency)
    if table is not None:
        problems = list(_semantic_problems(table, market))
    return [(prefix + path, message) for path, message in problems]


def _semantic_problems(table: RateTable, market: MarketPolicy) -> Iterator[tuple[KeyPath, str]]:
    methods = [method.code for method in market.shipping_methods]
    known_methods = ", ".join(methods) or "none"

    # zones: unique codes, real countries, each country in one zone, one rest of the world
    zone_codes: dict[str, int] = {}
    country_zone: dict[str, str] = {}
    rest_of_world: str | None = None
    if not table.zones:
        yield (("zones",), "list at least one zone")
    for index, zone in enumerate(table.zones):
        if not zone.countries:
            yield (("zones", index, "countries"), 'list at least one country, or "*"')
        if zone.code in zone_codes:
            yield (("zones", index, "code"), f"duplicate zone code {zone.code!r}")
        else:
            zone_codes[zone.code] = index
        for position, country in enumerate(zone.countries):
            path: KeyPath = ("zones", index, "countries", position)
            if country == REST_OF_WORLD:
                if len(zone.countries) > 1:
                    yield (path, "'*' (rest of the world) must be the zone's only country")
                elif rest_of_world is not None:
                    yield (
                        path,
                        f"only one zone may be the rest of the world ('*'); "
                        f"zone {rest_of_world!r} already is",
                    )
                else:
                    rest_of_world = zone.code
            elif country not in COUNTRY_CODES:
                hint = (
                    f" (codes are upper case: {country.upper()!r})"
                    if country.upper() in COUNTRY_CODES
                    else " (expected an ISO 3166-1 alpha-2 code such as 'IT')"
                )
                yield (path, f"unknown country code {country!r}{hint}")
            elif country in country_zone:
                yield (path, f"country {country!r} is already in zone {country_zone[country]!r}")
            else:
                country_zone[country] = zone.code

    # rates: existing methods and zones, tiers by strictly increasing weight, unlimited last
    known_zones = ", ".join(zone_codes)
    for code, tiers in table.rates.items():
        if code not in methods:
            yield (
                ("rates", code),
                f"unknown shipping method {code!r} (market {market.code} has: {known_methods})",
            )
        if not tiers:
            yield (("rates", code), "list at least one tier, or leave the method out")
        previous: dict[str, Tier] = {}
        for index, tier in enumerate(tiers):
            if tier.zone not in zone_codes:
                yield (
                    ("rates", code, index, "zone"),
                    f"unknown zone {tier.zone!r} (zones: {known_zones})",
                )
                continue
            before = previous.get(tier.zone)
            previous[tier.zone] = tier
            if before is None:
                continue
            if before.max_weight_grams is None:
                yield (
                    ("rates", code, index),
                    f"zone {tier.zone!r} already has a tier without max_weight_grams (no "
                    f"limit) above this one; list tiers by increasing weight, unlimited last",
                )
            elif tier.max_weight_grams is not None and (
                tier.max_weight_grams <= before.max_weight_grams
            ):
                yield (
                    ("rates", code, index, "max_weight_grams"),
                    f"must be greater than {before.max_weight_grams} (the previous "
                    f"{tier.zone!r} tier): tiers are listed by strictly increasing weight",
                )

    for code, threshold in table.free_over.items():
        if code not in methods:
            yield (
                ("free_over", code),
                f"unknown shipping method {code!r} (market {market.code} has: {known_methods})",
            )
        elif code not in table.rates:
            yield (
                ("free_over", code),
                f"shipping method {code!r} has no rates in this table, so this would never "
                f"apply; set free_over on the method in shipping_methods instead",
            )
        if isinstance(threshold, dict):
            for zone_code in threshold:
                if zone_code not in zone_codes:
                    yield (
                        ("free_over", code, zone_code),
                        f"unknown zone {zone_code!r} (zones: {known_zones})",
                    )
