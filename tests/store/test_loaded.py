"""Orders kept loaded between commands: used again only while their version is current.

Two ``OMS`` objects on one database stand for two application processes. Runs on a SQLite
file, or on a fresh PostgreSQL schema when ``OMS_TEST_DATABASE_URL`` is set.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from oms_sdk import OMS, ConcurrentModification, Money
from oms_sdk.orders import Order, PaymentTransaction, TransactionKind
from oms_sdk.store import Store
from oms_sdk.store._store import UNANSWERED
from oms_sdk.testing import checkout, default_address, fresh_database_url

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "config_examples"
ADDRESS = default_address("EU")


@pytest.fixture
def url(tmp_path: Path) -> str:
    if os.environ.get("OMS_TEST_DATABASE_URL"):
        return fresh_database_url()
    return f"sqlite:///{tmp_path / 'shared.sqlite3'}"


@pytest.fixture
def two(url: str) -> Iterator[tuple[OMS, OMS]]:
    with OMS.open(EXAMPLES, url) as first, OMS.open(EXAMPLES, url) as second:
        yield first, second


class Statements:
    """The SQL an engine runs, for asserting which tables a command read."""

    def __init__(self, store: Store) -> None:
        self.seen: list[str] = []
        event.listen(store.engine, "before_cursor_execute", self._seen)

    def _seen(self, conn: Any, cursor: Any, sql: str, *rest: Any) -> None:
        self.seen.append(" ".join(sql.split()))

    def reads_of(self, table: str) -> list[str]:
        return [sql for sql in self.seen if sql.startswith("SELECT") and f"FROM {table}" in sql]


def test_a_command_uses_the_order_its_process_committed_without_reloading_it(
    two: tuple[OMS, OMS],
) -> None:
    oms, _ = two
    order = oms.create_order("EU", customer_email="customer@example.com")
    oms.add_line_item(order.id, "TEE-ORG-M")
    statements = Statements(oms.store)
    view = oms.add_line_item(order.id, "MUG-CER-350")
    assert [line.sku for line in view.lines] == ["TEE-ORG-M", "MUG-CER-350"]
    assert statements.reads_of("oms_line_items") == []
    assert statements.reads_of("oms_payment_transactions") == []


def test_placing_keeps_the_holds_it_took_before_the_authorization_without_reloading(
    two: tuple[OMS, OMS],
) -> None:
    """The holds are all that ``place`` changed when the gateway is needed: they are committed
    with the intent as taken, not rolled back and taken again (which reloads the order)."""
    oms, _ = two
    oms.issue_gift_card("GC-KEPT", Money(500, "EUR"))
    order = oms.apply_gift_card(checkout(oms, "EU").id, "GC-KEPT")
    statements = Statements(oms.store)
    view = oms.place(order.id)
    assert view.status == "placed"
    assert oms.gift_card("GC-KEPT").balance == Money(0, "EUR")  # taken once, not twice
    assert len(view.shipments) == 1  # planned once
    assert statements.reads_of("oms_line_items") == []
    assert statements.reads_of("oms_shipments") == []
    view = oms.cancel(order.id)
    assert oms.gift_card("GC-KEPT").balance == Money(500, "EUR")


def test_a_cart_command_leaves_the_lines_it_does_not_change_clean(
    two: tuple[OMS, OMS],
) -> None:
    """Repricing assigns only what differs: a line given its own value again would still be
    marked dirty and worked through by the flush."""
    oms, _ = two
    order = oms.create_order("EU")
    oms.add_line_item(order.id, "TEE-ORG-M")
    oms.add_line_item(order.id, "MUG-CER-350")
    flushed: list[list[str]] = []

    def before_flush(session: Session, *_: Any) -> None:
        flushed.append(sorted(type(obj).__name__ for obj in session.dirty))

    event.listen(Session, "before_flush", before_flush)
    try:
        oms.set_customer(order.id, "customer@example.com")
        view = oms.update_line_item(order.id, "MUG-CER-350", 2)
    finally:
        event.remove(Session, "before_flush", before_flush)
    assert flushed == [["Order"], ["LineItem", "Order"]]  # only the line whose quantity changed
    assert [(line.sku, line.quantity) for line in view.lines] == [
        ("TEE-ORG-M", 1),
        ("MUG-CER-350", 2),
    ]


def test_with_keep_loaded_zero_every_command_loads_the_order(url: str) -> None:
    with OMS.open(EXAMPLES, url, keep_loaded=0) as oms:
        order = oms.create_order("EU", customer_email="customer@example.com")
        statements = Statements(oms.store)
        oms.add_line_item(order.id, "TEE-ORG-M")
        oms.add_line_item(order.id, "MUG-CER-350")
        assert len(statements.reads_of("oms_line_items")) == 2


def test_a_change_made_by_another_process_is_seen_by_the_next_command(
    two: tuple[OMS, OMS],
) -> None:
    first, second = two
    order = first.create_order("EU", customer_email="customer@example.com")
    first.add_line_item(order.id, "TEE-ORG-M")  # first keeps the order loaded
    second.add_line_item(order.id, "MUG-CER-350")
    second.set_addresses(order.id, ADDRESS)

    view = first.select_shipping_method(order.id, "standard")
    assert [line.sku for line in view.lines] == ["TEE-ORG-M", "MUG-CER-350"]
    assert view.shipping_address is not None
    assert view.shipping_address.city == "Milano"
    assert view.version == first.get_order(order.id).version == second.get_order(order.id).version


def test_a_failed_unit_of_work_leaves_nothing_it_changed_in_memory(url: str) -> None:
    store = Store(url)
    try:
        with OMS.open(EXAMPLES, url) as oms:
            ref = oms.create_order("EU", customer_email="customer@example.com").id
        with store.unit_of_work() as session:
            order = store.load_order(session, ref)
        store.keep_loaded(order)

        taken: list[Order] = []

        def failing_command() -> None:
            with store.unit_of_work() as session:
                taken.append(store.load_order(session, ref))
                taken[0].customer_email = "changed@example.com"
                raise RuntimeError("the command failed after changing the order")

        with pytest.raises(RuntimeError):
            failing_command()
        assert taken == [order]  # it had the kept objects, not a new load

        with store.unit_of_work() as session:
            again = store.load_order(session, ref)
            assert again is not order
            assert again.customer_email == "customer@example.com"
    finally:
        store.close()


def intent(key: str, at: datetime) -> PaymentTransaction:
    row = PaymentTransaction(
        id=f"tx-{key}",
        kind=TransactionKind.AUTHORIZATION,
        amount=Money(2500, "EUR"),
        succeeded=False,
        gateway="sandbox",
        reference=None,
        parent_reference=None,
        error_code=None,
        error_message=None,
        idempotency_key=key,
        metadata={},
        created_at=at,
    )
    row.pending = True
    return row


def test_payment_intents_and_missing_answers_move_the_version(two: tuple[OMS, OMS]) -> None:
    first, second = two
    order = first.create_order("EU", customer_email="customer@example.com")
    first.add_line_item(order.id, "TEE-ORG-M")  # first keeps the order at this version
    version = first.get_order(order.id).version

    store = second.store
    with store.unit_of_work() as session:
        row = intent("k1", datetime.now(UTC))
        store.add_intent(session, store.load_order(session, order.id), row)
    store.mark_unanswered("k1", "timed out")
    assert second.get_order(order.id).version == version + 2

    # first's kept objects know neither row: it must load them to refuse the command
    with pytest.raises(ConcurrentModification) as refused:
        first.set_addresses(order.id, ADDRESS)
    assert refused.value.needs_reconcile
    view = first.get_order(order.id)
    assert [(t.id, t.pending, t.error_code) for t in view.transactions] == [
        ("tx-k1", True, UNANSWERED)
    ]


def test_kept_and_loaded_orders_hold_the_same_timestamps_whatever_the_clocks_zone(
    url: str,
) -> None:
    """Timestamps come back from the database in UTC; the clock is read in UTC too, so a
    command's answer does not depend on whether the order was kept or loaded."""
    paris = timezone(timedelta(hours=2))
    with OMS.open(EXAMPLES, url, clock=lambda: datetime(2026, 6, 1, 12, 0, tzinfo=paris)) as oms:
        order = oms.create_order("EU", customer_email="customer@example.com")
        kept = oms.add_line_item(order.id, "TEE-ORG-M")
        loaded = oms.get_order(order.id)
    assert kept.updated_at.utcoffset() == timedelta(0)
    assert kept == loaded
