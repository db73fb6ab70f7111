"""Concurrent commands on one order: money moves exactly once, stock is never oversold.

Every test runs ``ROUNDS`` times (20 by default) on a SQLite file and on PostgreSQL, with real
threads released together, each command on its own connection. The sandbox gateway keeps its
own books, so each test checks the ledger against what the gateway says happened.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import oms_stock
import pytest

from oms_sdk import (
    OMS,
    ConcurrentModification,
    Money,
    OMSError,
    OrderView,
    PaymentAmountError,
    TransitionNotAllowed,
)
from oms_sdk.testing import all_at_once

from .conftest import (
    COUPON_USES,
    ROUNDS,
    STOCK_UNITS,
    Race,
    cart,
    database_url,
    write_policy,
)

rounds = pytest.mark.parametrize("round_", range(ROUNDS))
EUR = "EUR"


def placed(race: Race, *, captured: str | None = None) -> str:
    order = race.cart()
    race.oms.place(order)
    if captured is not None:
        race.oms.capture(order, captured)
    return order


def gateway_moves(race: Race, order: str) -> dict[str, object]:
    """What the sandbox's own books say happened to this order's authorization."""
    view = race.oms.get_order(order)
    auth = next(t.reference for t in view.transactions if t.kind == "authorization")
    captures = [c for c in race.sandbox.captures.values() if c.authorization == auth]
    return {
        "capture": [c.amount for c in captures],
        "refunded": sum((c.refunded for c in captures), Money.zero(EUR)),
        "voided": race.sandbox.authorizations[auth].voided,
    }


def total(amounts: list[Money]) -> Money:
    return sum(amounts, Money.zero(EUR))


def ledger(view: OrderView, kind: str) -> list[Money]:
    return [t.amount for t in view.transactions if t.kind == kind and t.succeeded]


def assert_no_pending(view: OrderView) -> None:
    assert [t for t in view.transactions if t.pending] == []


@rounds
def test_eight_refunds_of_forty_on_a_hundred_two_succeed(race: Race, round_: int) -> None:
    order = placed(race, captured="100.00")

    results = all_at_once(
        8, lambda i: race.oms.refund(order, "40.00", idempotency_key=f"r{round_}-{i}")
    )

    won = [r for r in results if isinstance(r, OrderView)]
    lost = [r for r in results if not isinstance(r, OrderView)]
    assert len(won) == 2, results
    assert all(isinstance(r, PaymentAmountError | ConcurrentModification) for r in lost), lost
    view = race.oms.get_order(order)
    assert ledger(view, "refund") == [Money.parse("40.00", EUR)] * 2
    assert view.payment_status == "partially_refunded"
    assert gateway_moves(race, order)["refunded"] == Money.parse("80.00", EUR)
    assert_no_pending(view)


@rounds
def test_eight_captures_of_one_authorization_reach_the_gateway_once(
    race: Race, round_: int
) -> None:
    order = placed(race)

    results = all_at_once(8, lambda i: race.oms.capture(order))

    won = [r for r in results if isinstance(r, OrderView)]
    lost = [r for r in results if not isinstance(r, OrderView)]
    assert len(won) == 1, results
    assert all(
        isinstance(r, TransitionNotAllowed | PaymentAmountError | ConcurrentModification)
        for r in lost
    ), lost
    moves = gateway_moves(race, order)
    assert moves == {
        "capture": [Money.parse("100.00", EUR)],
        "refunded": Money.zero(EUR),
        "voided": False,
    }
    view = race.oms.get_order(order)
    assert ledger(view, "capture") == moves["capture"]
    assert view.payment_status == "paid"
    assert_no_pending(view)


@rounds
def test_sixteen_requests_with_one_key_have_one_effect_and_one_answer(
    race: Race, round_: int
) -> None:
    order = placed(race)
    calls_before = race.sandbox.calls

    results = all_at_once(
        16, lambda i: race.oms.capture(order, "30.00", idempotency_key=f"same-{round_}")
    )

    assert all(isinstance(r, OrderView) for r in results), results
    assert len({r.model_dump_json() for r in results if isinstance(r, OrderView)}) == 1
    assert race.sandbox.calls == calls_before + 1
    assert gateway_moves(race, order)["capture"] == [Money.parse("30.00", EUR)]
    view = race.oms.get_order(order)
    assert ledger(view, "capture") == [Money.parse("30.00", EUR)]
    assert_no_pending(view)


@rounds
def test_a_void_and_a_capture_racing_on_one_authorization(race: Race, round_: int) -> None:
    order = placed(race)

    def act(i: int) -> OrderView:
        return race.oms.cancel(order) if i == 0 else race.oms.capture(order)

    cancelled, captured = all_at_once(2, act)

    moves = gateway_moves(race, order)
    view = race.oms.get_order(order)
    assert isinstance(cancelled, OrderView), cancelled  # cancel is allowed either way
    assert view.status == "cancelled"
    # Exactly one of them got the authorization: a void and a capture never both happen.
    assert moves["voided"] != bool(moves["capture"]), moves
    if moves["voided"]:  # the cancel won: the capture found nothing left to capture
        assert isinstance(captured, TransitionNotAllowed | ConcurrentModification), captured
        assert view.payment_status == "voided"
        assert ledger(view, "void") == [Money.parse("100.00", EUR)]
    else:  # the capture won: the cancel, second, refunded what was captured (no void)
        assert isinstance(captured, OrderView), captured
        assert view.payment_status == "refunded"
        assert ledger(view, "void") == []
    assert ledger(view, "capture") == moves["capture"]
    assert total(ledger(view, "refund")) == moves["refunded"]
    assert_no_pending(view)


@rounds
def test_fifty_checkouts_for_ten_units_place_exactly_ten(race: Race, round_: int) -> None:
    sku = f"UNIT-{round_:03d}"
    orders = [race.cart("ST", sku) for _ in range(50)]
    oversold: list[object] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            for level in oms_stock.stock_levels(race.oms):
                if level.sku == sku and (level.reserved > level.on_hand or level.available < 0):
                    oversold.append(level)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        results = all_at_once(50, lambda i: race.oms.place(orders[i]))
    finally:
        done.set()
        watcher.join()

    won = [r for r in results if isinstance(r, OrderView)]
    lost = [r for r in results if not isinstance(r, OrderView)]
    assert len(won) == STOCK_UNITS, [r for r in lost if not isinstance(r, OMSError)]
    assert all(isinstance(r, OMSError) for r in lost), lost
    assert oversold == []
    level = next(lv for lv in oms_stock.stock_levels(race.oms) if lv.sku == sku)
    assert (level.on_hand, level.reserved, level.available) == (STOCK_UNITS, STOCK_UNITS, 0)
    # Only the placed orders hold an authorization: the refused ones moved no money.
    authorized = {r.number for r in won}
    for order in orders:
        view = race.oms.get_order(order)
        assert bool(ledger(view, "authorization")) == (view.number in authorized)
        assert_no_pending(view)


@rounds
def test_a_coupon_limited_to_three_uses_is_used_three_times(race: Race, round_: int) -> None:
    coupon = f"FEW{round_:03d}"
    orders = [race.cart() for _ in range(12)]
    for order in orders:
        race.oms.apply_coupon(order, coupon)

    results = all_at_once(12, lambda i: race.oms.place(orders[i]))

    won = [r for r in results if isinstance(r, OrderView)]
    assert len(won) == COUPON_USES, results
    assert all(isinstance(r, OMSError) for r in results if not isinstance(r, OrderView))
    with race.oms.store.unit_of_work() as session:
        used = race.oms.store.promotion_usage(session, "CC")
    assert used[coupon.lower()] == COUPON_USES


# -- two processes, one order ------------------------------------------------------------


def _add_units(policy: str, url: str, order: str, times: int, queue: Any) -> None:
    """In a child process: add one unit ``times`` times; report how many commands succeeded."""
    succeeded = failed = 0
    with OMS.open(policy, url) as oms:
        for _ in range(times):
            try:
                oms.add_line_item(order, "WIDGET", 1)
                succeeded += 1
            except ConcurrentModification:
                failed += 1
    queue.put((succeeded, failed))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def shared_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, str]]:
    folder = tmp_path_factory.mktemp(f"processes-{request.param}")
    policy = write_policy(folder)
    for url in database_url(request.param, folder):
        yield policy, url


@rounds
def test_two_processes_changing_one_order_lose_no_update(
    shared_database: tuple[Path, str], round_: int
) -> None:
    policy, url = shared_database
    with OMS.open(policy, url) as oms:
        order = cart(oms, "CC", "WIDGET")
    context = multiprocessing.get_context("fork")  # a fresh interpreter per round is slow
    queue = context.Queue()
    workers = [
        context.Process(target=_add_units, args=(str(policy), url, order, 10, queue))
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    reports = [queue.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0

    succeeded = sum(s for s, _ in reports)
    with OMS.open(policy, url) as oms:
        view = oms.get_order(order)
    line = next(line for line in view.lines if line.sku == "WIDGET")
    # Every command that returned is in the order; none was lost to the other process.
    assert line.quantity == 1 + succeeded
    assert view.version == 1 + 4 + succeeded
