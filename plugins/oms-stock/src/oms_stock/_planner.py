"""The inventory strategies, as pure functions of (what is wanted, what is available where).

Kept free of the database on purpose: the same code answers the ``place`` guard ("can this
order be supplied?", as reasons) and plans the reservation inside the command's transaction,
so the guard can never promise what the reservation then refuses. It is also what the unit
tests exercise directly, strategy by strategy.

Locations are always given in priority order (priority 1, the *primary*, first), so "by
priority" below simply means "in list order".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Literal, get_args

__all__ = ["STRATEGIES", "Parcel", "Plan", "Strategy", "plan", "wanted_lines"]

Strategy = Literal[
    "no_split",
    "split_shipments",
    "split_by_line_items",
    "ship_from_primary",
    "ship_from_first_available_or_primary",
]
STRATEGIES: tuple[str, ...] = get_args(Strategy)

#: How many location combinations ``split_shipments`` tries before settling for a greedy cover.
#: Finding the fewest locations is a set cover; with a handful of warehouses the exact search
#: is instant, and the budget keeps a model with dozens of them from stalling a checkout.
SEARCH_BUDGET = 20_000

Stock = Mapping[tuple[str, str], int]
"""Units that can still be reserved, by ``(location, sku)``; missing keys mean none."""


@dataclass(frozen=True)
class Parcel:
    """One shipment: the location it leaves from, its lines, and where its units are taken.

    ``sources`` differs from ``(location, sku, qty)`` per line only with stock transfers, where
    units kept at a secondary location travel to the primary before the parcel leaves.
    """

    location: str
    lines: tuple[tuple[str, int], ...]
    sources: tuple[tuple[str, str, int], ...]


@dataclass(frozen=True)
class Plan:
    """Either the parcels of a feasible plan, or the reasons there is none."""

    parcels: tuple[Parcel, ...] = ()
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems


def wanted_lines(lines: Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
    """Merge lines of the same SKU (first position kept), dropping non-positive quantities."""
    merged: dict[str, int] = {}
    for sku, quantity in lines:
        if quantity > 0:
            merged[sku] = merged.get(sku, 0) + quantity
    return list(merged.items())


def _free(stock: Stock, location: str, sku: str) -> int:
    return max(stock.get((location, sku), 0), 0)


def _has_all(stock: Stock, location: str, wanted: Sequence[tuple[str, int]]) -> bool:
    return all(_free(stock, location, sku) >= qty for sku, qty in wanted)


def _single(location: str, wanted: Sequence[tuple[str, int]]) -> Parcel:
    return Parcel(location, tuple(wanted), tuple((location, sku, qty) for sku, qty in wanted))


def _shortages(
    wanted: Sequence[tuple[str, int]], locations: Sequence[str], stock: Stock, where: str = ""
) -> list[str]:
    """``"SKU: 3 wanted, 1 available"`` for each SKU the locations together cannot supply."""
    found = []
    for sku, qty in wanted:
        total = sum(_free(stock, location, sku) for location in locations)
        if total < qty:
            found.append(f"{sku}: {qty} wanted, {total} available{where}")
    return found


def _listing(wanted: Sequence[tuple[str, int]]) -> str:
    return ", ".join(f"{qty} x {sku}" for sku, qty in wanted)


def plan(
    strategy: str,
    wanted: Sequence[tuple[str, int]],
    locations: Sequence[str],
    stock: Stock,
    *,
    stock_transfers: bool = False,
) -> Plan:
    """Plan the parcels of ``wanted`` (merged lines) from ``locations`` (priority order)."""
    if not wanted:
        return Plan()
    if not locations:
        return Plan(problems=("the inventory model has no stock location",))
    if strategy == "no_split":
        return _no_split(wanted, locations, stock)
    if strategy == "split_shipments":
        return _split_shipments(wanted, locations, stock)
    if strategy == "split_by_line_items":
        return _split_by_line_items(wanted, locations, stock)
    if strategy == "ship_from_primary":
        return _ship_from_primary(wanted, locations, stock, stock_transfers)
    if strategy == "ship_from_first_available_or_primary":
        for location in locations:
            if _has_all(stock, location, wanted):
                return Plan((_single(location, wanted),))
        return _ship_from_primary(wanted, locations, stock, stock_transfers)
    raise ValueError(f"unknown inventory strategy {strategy!r} (known: {', '.join(STRATEGIES)})")


def _no_split(wanted: Sequence[tuple[str, int]], locations: Sequence[str], stock: Stock) -> Plan:
    """One parcel from the first location, by priority, that has every line."""
    for location in locations:
        if _has_all(stock, location, wanted):
            return Plan((_single(location, wanted),))
    problems = _shortages(wanted, locations, stock)
    if not problems:
        problems = [
            f"no single stock location has {_listing(wanted)} "
            "(strategy no_split ships an order from one location)"
        ]
    return Plan(problems=tuple(problems))


def _split_shipments(
    wanted: Sequence[tuple[str, int]], locations: Sequence[str], stock: Stock
) -> Plan:
    """As few parcels as possible; among equally few, the highest-priority locations."""
    problems = _shortages(wanted, locations, stock)
    if problems:
        return Plan(problems=tuple(problems))
    tried = 0
    for size in range(1, len(locations) + 1):
        # combinations() keeps list order, so the first feasible set is the best by priority.
        for chosen in combinations(locations, size):
            tried += 1
            if tried > SEARCH_BUDGET:
                return _allocate(wanted, _greedy_cover(wanted, locations, stock), stock)
            if not _shortages(wanted, chosen, stock):
                return _allocate(wanted, chosen, stock)
    raise AssertionError("unreachable: all locations together supply every line")


def _greedy_cover(
    wanted: Sequence[tuple[str, int]], locations: Sequence[str], stock: Stock
) -> list[str]:
    """Locations picked one by one, each the one supplying most of what is still missing."""
    missing = dict(wanted)
    chosen: list[str] = []
    while any(missing.values()):
        best = max(
            (loc for loc in locations if loc not in chosen),
            key=lambda loc: sum(min(_free(stock, loc, s), q) for s, q in missing.items()),
        )
        chosen.append(best)
        for sku, qty in missing.items():
            missing[sku] = qty - min(_free(stock, best, sku), qty)
    return [loc for loc in locations if loc in chosen]  # back in priority order


def _allocate(wanted: Sequence[tuple[str, int]], chosen: Sequence[str], stock: Stock) -> Plan:
    """Take each SKU from the chosen locations in priority order; one parcel per location."""
    per_location: dict[str, list[tuple[str, int]]] = {loc: [] for loc in chosen}
    for sku, qty in wanted:
        left = qty
        for location in chosen:
            take = min(_free(stock, location, sku), left)
            if take:
                per_location[location].append((sku, take))
                left -= take
            if not left:
                break
    return Plan(tuple(_single(loc, lines) for loc, lines in per_location.items() if lines))


def _split_by_line_items(
    wanted: Sequence[tuple[str, int]], locations: Sequence[str], stock: Stock
) -> Plan:
    """One parcel per line, each from the first location that has the whole line."""
    parcels: list[Parcel] = []
    problems: list[str] = []
    for sku, qty in wanted:
        location = next((loc for loc in locations if _free(stock, loc, sku) >= qty), None)
        if location is not None:
            parcels.append(_single(location, [(sku, qty)]))
            continue
        total = sum(_free(stock, loc, sku) for loc in locations)
        if total < qty:
            problems.append(f"{sku}: {qty} wanted, {total} available")
        else:
            most = max(_free(stock, loc, sku) for loc in locations)
            problems.append(
                f"{sku}: {qty} wanted, at most {most} available in one stock location "
                "(strategy split_by_line_items ships each line from one location)"
            )
    if problems:
        return Plan(problems=tuple(problems))
    return Plan(tuple(parcels))


def _ship_from_primary(
    wanted: Sequence[tuple[str, int]],
    locations: Sequence[str],
    stock: Stock,
    stock_transfers: bool,
) -> Plan:
    """One parcel from the primary; with transfers, missing units come from the secondaries."""
    primary = locations[0]
    if not stock_transfers:
        problems = _shortages(wanted, [primary], stock, f" at primary location {primary}")
        if problems:
            return Plan(problems=tuple(problems))
        return Plan((_single(primary, wanted),))
    problems = _shortages(wanted, locations, stock)
    if problems:
        return Plan(problems=tuple(problems))
    sources: list[tuple[str, str, int]] = []
    for sku, qty in wanted:
        left = qty
        for location in locations:  # the primary first, then transfers by priority
            take = min(_free(stock, location, sku), left)
            if take:
                sources.append((location, sku, take))
                left -= take
            if not left:
                break
    return Plan((Parcel(primary, tuple(wanted), tuple(sources)),))
