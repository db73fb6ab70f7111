"""Shipping prices by weight and destination for oms-sdk, from a table in the market policy.

Registered under the ``oms_sdk`` entry-point group as ``rate_table``: list it in a policy
file's ``plugins:`` and describe the rates in each market's ``extensions.rate_table``::

    extensions:
      rate_table:
        zones:
          - {code: domestic, countries: [IT]}
          - {code: world, countries: ["*"]}
        rates:
          standard:
            - {zone: domestic, max_weight_grams: 2000, price: "4.90"}
            - {zone: domestic, price: "9.90"}
            - {zone: world, price: "19.90"}
        free_over:
          standard: {domestic: "60.00", world: null}

How a cart is priced (``oms_shipping_price``), and why:

* The parcel weight is the sum of ``weight_grams × quantity`` over the lines that ship. An item
  without ``weight_grams`` weighs 0 g: a catalog is often weighed item by item, and a missing
  weight must not block every checkout (it makes the cart cheaper, never impossible).
* The zone is the one listing the shipping address's country, else the ``"*"`` zone.
* The price is the first tier of that zone whose ``max_weight_grams`` is at least the weight
  (a parcel of exactly the limit fits the tier); a tier without maximum takes any weight.
* Free once the discounted goods reach the threshold, exactly like the policy's flat price:
  the table's ``free_over`` for the method (one amount, or one per zone; ``null`` = never
  free), and where the table says nothing, the method's policy ``free_over``.
* A method with no rates in the table is priced by the policy (``price``/``free_over``): the
  table can cover some methods only.
* No shipping address yet: the policy price of the method, as an estimate. The cart cannot
  be placed without an address, and setting one re-prices it from the table.
* The destination is in no zone, the method has no tier for that zone, or the parcel is heavier
  than every tier: the order cannot be shipped that way, so ``ShippingUnavailable`` (an
  ``InvalidOrderInput``) is raised and the command changes nothing. Falling back to the flat
  price would quietly sell a 30 kg parcel to Japan at the domestic letter rate.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from oms_sdk import InvalidOrderInput, Money, PluginError, hookimpl
from oms_sdk.orders import Order
from oms_sdk.policy import MarketPolicy, ShippingMethodPolicy, format_key_path

from ._config import (
    REST_OF_WORLD,
    SECTION,
    KeyPath,
    RateTable,
    Tier,
    Zone,
    check_rate_table,
    parse_rate_table,
)

__all__ = [
    "REST_OF_WORLD",
    "SECTION",
    "RateTable",
    "ShippingUnavailable",
    "Tier",
    "Zone",
    "cart_weight",
    "check_rate_table",
    "oms_check_market",
    "oms_shipping_price",
    "quote",
    "rate_table",
]


class ShippingUnavailable(InvalidOrderInput):
    """The shipping method cannot carry this cart to this country.

    An ``InvalidOrderInput``, so the cart command that caused it (an address in another
    country, one more item, another method) is refused and changes nothing. The attributes say
    why, for a checkout page that wants to offer another method.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str,
        country: str,
        weight_grams: int,
        zone: str | None,
        order: str | None = None,
    ) -> None:
        self.method = method
        self.country = country
        self.weight_grams = weight_grams
        self.zone = zone
        super().__init__(message, order=order)


# -- reading the policy --------------------------------------------------------------------------

_cache: dict[tuple[str, str], RateTable | None] = {}
_cache_lock = threading.Lock()
_CACHE_SIZE = 256


def rate_table(market: MarketPolicy) -> RateTable | None:
    """The market's validated rate table, or ``None`` when it has no ``rate_table`` section.

    Parsed once per market policy (keyed by its fingerprint): carts are re-priced on every
    edit, and the section does not change while a policy is loaded.
    """
    section = market.extensions.get(SECTION)
    if section is None:
        return None
    key = (market.code, market.fingerprint)
    with _cache_lock:
        if key in _cache:
            return _cache[key]
    table, problems = parse_rate_table(section, market.currency)
    if table is None:
        # The loader runs oms_check_market first, so this means a market that was never
        # checked (built by hand and handed over without load_policies).
        details = "; ".join(f"{format_key_path(path)}: {msg}" for path, msg in problems)
        raise PluginError(f"market {market.code}: invalid extensions.{SECTION}: {details}")
    with _cache_lock:
        if len(_cache) >= _CACHE_SIZE:
            _cache.clear()
        _cache[key] = table
    return table


def cart_weight(order: Order, market: MarketPolicy) -> int:
    """Grams of the lines that ship; an item without ``weight_grams`` counts as 0 g."""
    total = 0
    for line in order.lines:
        if not line.requires_shipping:
            continue
        item = market.prices.items.get(line.sku)
        weight = item.weight_grams if item is not None else None
        total += (weight or 0) * line.quantity
    return total


def _unavailable(
    method: str,
    country: str,
    weight: int,
    zone: Zone | None,
    why: str,
    order: str | None,
) -> ShippingUnavailable:
    whose = f"order {order}" if order else "this cart"
    return ShippingUnavailable(
        f"shipping method {method!r} cannot ship {whose} ({weight} g) to {country}: {why}",
        method=method,
        country=country,
        weight_grams=weight,
        zone=zone.code if zone is not None else None,
        order=order,
    )


def quote(
    market: MarketPolicy,
    method: str,
    country: str,
    weight_grams: int,
    *,
    order: str | None = None,
) -> Money | None:
    """The table's price for ``weight_grams`` to ``country`` with ``method``, before any
    ``free_over``; ``None`` when the table has no rates for ``method`` (the policy prices it).

    Raises ``ShippingUnavailable`` when the method cannot ship there or that heavy. Public so a
    checkout page can show what every method would cost for an address before choosing.
    """
    table = rate_table(market)
    if table is None or method not in table.rates:
        return None
    zone = table.zone_of(country)
    if zone is None:
        zones = ", ".join(z.code for z in table.zones)
        why = f"{country} is in no shipping zone of market {market.code} (zones: {zones})"
        raise _unavailable(method, country, weight_grams, None, why, order)
    tiers: list[Tier] = table.tiers(method, zone.code)
    if not tiers:
        why = f"the method has no rates for zone {zone.code!r}"
        raise _unavailable(method, country, weight_grams, zone, why, order)
    for tier in tiers:
        if tier.max_weight_grams is None or weight_grams <= tier.max_weight_grams:
            return tier.price
    heaviest = tiers[-1].max_weight_grams
    why = f"heavier than its heaviest rate for zone {zone.code!r} ({heaviest} g)"
    raise _unavailable(method, country, weight_grams, zone, why, order)


# -- hooks ---------------------------------------------------------------------------------------


@hookimpl
def oms_check_market(market: MarketPolicy) -> Iterable[tuple[KeyPath, str]]:
    """Problems of ``extensions.rate_table``, located so the loader names file, key and line."""
    return check_rate_table(market)


@hookimpl
def oms_shipping_price(
    order: Order, market: MarketPolicy, method: ShippingMethodPolicy
) -> Money | None:
    """The table's price for this cart, or ``None`` to let the policy price it (see module)."""
    table = rate_table(market)
    if table is None or method.code not in table.rates:
        return None
    address = order.shipping_address
    country = address.get("country") if address else None
    if not country:
        return None  # no destination yet: the policy price stands as the estimate
    price = quote(market, method.code, country, cart_weight(order, market), order=order.number)
    zone = table.zone_of(country)
    if price is None or zone is None:  # pragma: no cover - quote() raised for these
        return None
    threshold = table.free_over_for(method.code, zone.code, method.free_over)
    goods = market.money(order.subtotal - order.discount)
    if threshold is not None and goods >= threshold:
        return Money.zero(market.currency)
    return price
