"""The strategies as pure functions: each one's choices, and properties checked by brute force."""

from __future__ import annotations

from collections import Counter
from itertools import combinations
from math import comb

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from oms_stock import STRATEGIES
from oms_stock._planner import SEARCH_BUDGET, Parcel, plan, wanted_lines

LOCS = ["MXP", "AMS", "BER"]
ORDER = [("TEE", 3), ("MUG", 1)]


def stock(**by_location: dict[str, int]) -> dict[tuple[str, str], int]:
    return {(loc, sku): qty for loc, skus in by_location.items() for sku, qty in skus.items()}


def parcels(result_parcels: tuple[Parcel, ...]) -> list[tuple[str, tuple[tuple[str, int], ...]]]:
    return [(p.location, p.lines) for p in result_parcels]


# -- one example per strategy (the README's) ----------------------------------------------------

SPLIT = stock(MXP={"TEE": 1, "MUG": 1}, AMS={"TEE": 5})


def test_no_split_takes_the_first_location_that_has_everything() -> None:
    result = plan("no_split", ORDER, LOCS, stock(MXP={"TEE": 1}, AMS={"TEE": 3, "MUG": 1}))
    assert parcels(result.parcels) == [("AMS", (("TEE", 3), ("MUG", 1)))]


def test_no_split_refuses_when_no_single_location_has_everything() -> None:
    result = plan("no_split", ORDER, LOCS, SPLIT)
    assert not result.ok
    assert result.problems == (
        "no single stock location has 3 x TEE, 1 x MUG "
        "(strategy no_split ships an order from one location)",
    )


def test_split_shipments_splits_by_priority() -> None:
    result = plan("split_shipments", ORDER, LOCS, SPLIT)
    assert parcels(result.parcels) == [
        ("MXP", (("TEE", 1), ("MUG", 1))),
        ("AMS", (("TEE", 2),)),
    ]


def test_split_shipments_prefers_one_parcel_from_the_primary() -> None:
    result = plan("split_shipments", ORDER, LOCS, stock(MXP={"TEE": 3, "MUG": 1}, AMS={"TEE": 9}))
    assert parcels(result.parcels) == [("MXP", (("TEE", 3), ("MUG", 1)))]


def test_split_shipments_uses_as_few_locations_as_possible() -> None:
    # Taking by priority would need all three; BER alone has everything.
    result = plan(
        "split_shipments", [("TEE", 3)], LOCS, stock(MXP={"TEE": 1}, AMS={"TEE": 1}, BER={"TEE": 3})
    )
    assert parcels(result.parcels) == [("BER", (("TEE", 3),))]


def test_split_by_line_items_ships_each_line_from_one_location() -> None:
    result = plan("split_by_line_items", ORDER, LOCS, SPLIT)
    assert parcels(result.parcels) == [("AMS", (("TEE", 3),)), ("MXP", (("MUG", 1),))]


def test_split_by_line_items_gives_each_line_its_own_parcel() -> None:
    result = plan("split_by_line_items", ORDER, LOCS, stock(MXP={"TEE": 3, "MUG": 1}))
    assert parcels(result.parcels) == [("MXP", (("TEE", 3),)), ("MXP", (("MUG", 1),))]


def test_split_by_line_items_refuses_a_line_no_single_location_has() -> None:
    result = plan("split_by_line_items", [("TEE", 4)], LOCS, stock(MXP={"TEE": 2}, AMS={"TEE": 2}))
    assert result.problems == (
        "TEE: 4 wanted, at most 2 available in one stock location "
        "(strategy split_by_line_items ships each line from one location)",
    )


def test_ship_from_primary_uses_only_the_primary() -> None:
    ok = plan("ship_from_primary", ORDER, LOCS, stock(MXP={"TEE": 3, "MUG": 1}))
    assert parcels(ok.parcels) == [("MXP", (("TEE", 3), ("MUG", 1)))]
    refused = plan("ship_from_primary", ORDER, LOCS, SPLIT)
    assert refused.problems == ("TEE: 3 wanted, 1 available at primary location MXP",)


def test_ship_from_primary_with_transfers_pulls_from_secondaries() -> None:
    result = plan("ship_from_primary", ORDER, LOCS, SPLIT, stock_transfers=True)
    (parcel,) = result.parcels
    assert (parcel.location, parcel.lines) == ("MXP", (("TEE", 3), ("MUG", 1)))
    assert parcel.sources == (("MXP", "TEE", 1), ("AMS", "TEE", 2), ("MXP", "MUG", 1))


def test_first_available_or_primary_takes_the_first_complete_location() -> None:
    result = plan(
        "ship_from_first_available_or_primary",
        ORDER,
        LOCS,
        stock(MXP={"TEE": 1, "MUG": 1}, AMS={"TEE": 5, "MUG": 1}),
    )
    assert parcels(result.parcels) == [("AMS", (("TEE", 3), ("MUG", 1)))]


def test_first_available_or_primary_falls_back_to_the_primary() -> None:
    refused = plan("ship_from_first_available_or_primary", ORDER, LOCS, SPLIT)
    assert refused.problems == ("TEE: 3 wanted, 1 available at primary location MXP",)
    moved = plan("ship_from_first_available_or_primary", ORDER, LOCS, SPLIT, stock_transfers=True)
    assert [(p.location, p.sources) for p in moved.parcels] == [
        ("MXP", (("MXP", "TEE", 1), ("AMS", "TEE", 2), ("MXP", "MUG", 1)))
    ]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_shortage_is_worded_wanted_and_available(strategy: str) -> None:
    result = plan(strategy, [("TEE", 3)], LOCS, stock(MXP={"TEE": 1}))
    assert result.problems[0].startswith("TEE: 3 wanted, 1 available")


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_nothing_wanted_is_an_empty_plan(strategy: str) -> None:
    result = plan(strategy, [], LOCS, {})
    assert result.ok
    assert result.parcels == ()


def test_negative_free_stock_counts_as_none() -> None:
    result = plan("no_split", [("TEE", 1)], LOCS, stock(MXP={"TEE": -2}))
    assert result.problems == ("TEE: 1 wanted, 0 available",)


def test_an_unknown_strategy_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown inventory strategy 'warp'"):
        plan("warp", ORDER, LOCS, SPLIT)


def test_wanted_lines_merge_skus_and_drop_empty_lines() -> None:
    assert wanted_lines([("TEE", 1), ("MUG", 0), ("TEE", 2)]) == [("TEE", 3)]


def test_split_shipments_beyond_the_search_budget_still_covers_the_order() -> None:
    many = [f"L{i:02d}" for i in range(30)]
    skus = [f"S{i}" for i in range(12)]
    # Each SKU lives at exactly one far-apart location: the cover needs 12 of 30 locations,
    # more combinations than the budget allows, so the greedy cover answers.
    free = {(many[2 * i + 1], sku): 1 for i, sku in enumerate(skus)}
    result = plan("split_shipments", [(sku, 1) for sku in skus], many, free)
    assert sum(comb(len(many), size) for size in range(1, 12)) > SEARCH_BUDGET
    assert sorted(p.location for p in result.parcels) == sorted(many[2 * i + 1] for i in range(12))


# -- properties -----------------------------------------------------------------------------------

SKUS = ["TEE", "MUG", "CAP"]
wanted_strategy = st.lists(
    st.tuples(st.sampled_from(SKUS), st.integers(1, 4)),
    min_size=1,
    max_size=3,
    unique_by=lambda t: t[0],
)
stock_strategy = st.dictionaries(
    st.tuples(st.sampled_from(LOCS), st.sampled_from(SKUS)), st.integers(-1, 5), max_size=9
)


def _free(free: dict[tuple[str, str], int], loc: str, sku: str) -> int:
    return max(free.get((loc, sku), 0), 0)


def _covers(
    free: dict[tuple[str, str], int], locs: tuple[str, ...], wanted: list[tuple[str, int]]
) -> bool:
    return all(sum(_free(free, loc, sku) for loc in locs) >= qty for sku, qty in wanted)


@settings(max_examples=300, deadline=None)
@given(
    strategy=st.sampled_from(STRATEGIES),
    transfers=st.booleans(),
    wanted=wanted_strategy,
    free=stock_strategy,
)
def test_a_plan_takes_exactly_what_is_wanted_and_never_more_than_is_free(
    strategy: str,
    transfers: bool,
    wanted: list[tuple[str, int]],
    free: dict[tuple[str, str], int],
) -> None:
    result = plan(strategy, wanted, LOCS, free, stock_transfers=transfers)
    if not result.ok:
        assert result.parcels == ()
        # Refusals are justified: what the strategy may use cannot supply the order.
        single = any(_covers(free, (loc,), wanted) for loc in LOCS)
        pooled = (
            _covers(free, tuple(LOCS), wanted) if transfers else _covers(free, ("MXP",), wanted)
        )
        justified = {
            "no_split": not single,
            "split_shipments": not _covers(free, tuple(LOCS), wanted),
            "split_by_line_items": any(
                not any(_covers(free, (loc,), [line]) for loc in LOCS) for line in wanted
            ),
            "ship_from_primary": not pooled,
            "ship_from_first_available_or_primary": not single and not pooled,
        }
        assert justified[strategy]
        return
    taken: Counter[tuple[str, str]] = Counter()
    shipped: Counter[str] = Counter()
    for parcel in result.parcels:
        assert parcel.lines
        for sku, qty in parcel.lines:
            shipped[sku] += qty
        for loc, sku, qty in parcel.sources:
            assert qty > 0
            taken[(loc, sku)] += qty
    assert shipped == Counter(dict(wanted))
    assert sum(taken.values()) == sum(qty for _, qty in wanted)
    for (loc, sku), qty in taken.items():
        assert qty <= _free(free, loc, sku)
    if strategy in ("no_split", "ship_from_primary", "ship_from_first_available_or_primary"):
        assert len(result.parcels) == 1
    if strategy == "ship_from_primary":
        assert result.parcels[0].location == "MXP"
    if strategy == "split_by_line_items":
        assert len(result.parcels) == len(wanted)
        assert all(len(p.lines) == 1 and len(p.sources) == 1 for p in result.parcels)
    if strategy == "split_shipments":
        fewest = next(
            size
            for size in range(1, len(LOCS) + 1)
            if any(_covers(free, combo, wanted) for combo in combinations(LOCS, size))
        )
        assert len(result.parcels) == fewest
