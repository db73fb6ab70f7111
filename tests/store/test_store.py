"""Tests of the SQLite store: schema creation, WAL, order numbers, units of work, versions."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text

from oms_sdk import (
    OMS,
    InvalidOrderInput,
    Money,
    PaymentAmountError,
    PaymentDeclined,
    TransitionNotAllowed,
)
from oms_sdk.orders import OrderView
from oms_sdk.store import DEFAULT_DATABASE_URL, Store, metadata

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "config_examples"
START = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
ADDRESS = {
    "name": "Giulia Rossi",
    "line1": "Via Torino 12",
    "city": "Milano",
    "postal_code": "20123",
    "country": "IT",
}
TABLES = {
    "oms_gift_cards",
    "oms_idempotency_keys",
    "oms_line_items",
    "oms_order_history",
    "oms_order_numbers",
    "oms_orders",
    "oms_payment_transactions",
    "oms_promotion_usage",
    "oms_shipment_lines",
    "oms_shipments",
}


class TickingClock:
    """Each reading is one second after the previous one."""

    def __init__(self, now: datetime = START, step: timedelta = timedelta(seconds=1)) -> None:
        self.now = now
        self.step = step

    def __call__(self) -> datetime:
        self.now += self.step
        return self.now


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def table_names(path: Path) -> set[str]:
    with sqlite3.connect(path) as connection:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {name for (name,) in rows}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(sqlite_url(tmp_path / "store.sqlite3"))
    yield opened
    opened.close()


def cart(oms: OMS) -> OrderView:
    order = oms.create_order("EU", customer_email="customer@example.com")
    oms.add_line_item(order.id, "TEE-ORG-M")
    oms.set_addresses(order.id, ADDRESS)
    oms.select_shipping_method(order.id, "standard")
    return oms.select_payment_method(order.id, "card", payment_source="tok_visa")


# -- schema -----------------------------------------------------------------------------------


def tables_of_a_bare_store() -> set[str]:
    """Opened without plugins, a Store creates their tables but not their version tables:
    ``OMS.open`` with the plugin adopts the tables."""
    return {
        name
        for name in metadata.tables
        if not name.endswith("_alembic_version") or name == "oms_alembic_version"
    }


def test_tables_are_created_on_first_open_of_a_new_file(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite3"
    assert not path.exists()

    store = Store(sqlite_url(path))
    store.close()

    assert path.exists()
    names = table_names(path)
    assert names >= TABLES  # plugins collected in the same run may add their oms_ tables
    assert all(name.startswith("oms_") for name in names)
    assert set(metadata.tables) >= TABLES
    assert names == tables_of_a_bare_store()


def test_opening_an_existing_file_keeps_its_data(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "again.sqlite3")
    with OMS.open(EXAMPLES, url) as oms:
        created = oms.create_order("EU")
    with OMS.open(EXAMPLES, url) as oms:
        assert oms.get_order(created.number) == created
        assert oms.create_order("EU").number == "EU-000002"
    assert table_names(tmp_path / "again.sqlite3") == set(metadata.tables)


def test_the_sdk_shares_a_database_with_the_application(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT)")
        connection.execute("INSERT INTO customers (email) VALUES ('a@example.com')")
    Store(sqlite_url(path)).close()
    assert table_names(path) == tables_of_a_bare_store() | {"customers"}
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT email FROM customers").fetchall() == [("a@example.com",)]


# -- SQLite settings --------------------------------------------------------------------------


def test_file_database_uses_wal(store: Store, tmp_path: Path) -> None:
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10000
    with sqlite3.connect(tmp_path / "store.sqlite3") as connection:  # WAL sticks to the file
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert store.dialect == "sqlite"


def test_in_memory_database_is_private_and_shared_across_units_of_work() -> None:
    first, second = Store("sqlite://"), Store("sqlite://")
    with first.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "memory"
    with first.unit_of_work() as session:
        assert first.next_order_number(session, "EU") == "EU-000001"
    with first.unit_of_work() as session:
        assert first.next_order_number(session, "EU") == "EU-000002"
    with second.unit_of_work() as session:
        assert second.next_order_number(session, "EU") == "EU-000001"
    first.close()
    second.close()


def test_database_url_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert DEFAULT_DATABASE_URL == "sqlite:///oms.sqlite3"
    path = tmp_path / "from-env.sqlite3"
    monkeypatch.setenv("OMS_DATABASE_URL", sqlite_url(path))
    with OMS.open(EXAMPLES) as oms:
        assert oms.store.url.database == str(path)
        oms.create_order("EU")
    assert table_names(path) == set(metadata.tables)

    monkeypatch.delenv("OMS_DATABASE_URL")
    monkeypatch.chdir(tmp_path)
    with OMS.open(EXAMPLES) as oms:
        assert oms.store.url.database == "oms.sqlite3"
    assert (tmp_path / "oms.sqlite3").exists()


# -- order numbers ----------------------------------------------------------------------------


def test_order_numbers_are_sequential_per_prefix(store: Store) -> None:
    numbers = []
    for prefix in ("EU", "EU", "US", "EU", "JP", "US"):
        with store.unit_of_work() as session:
            numbers.append(store.next_order_number(session, prefix))
    assert numbers == ["EU-000001", "EU-000002", "US-000001", "EU-000003", "JP-000001", "US-000002"]


def test_a_rolled_back_unit_of_work_gives_its_number_back(store: Store) -> None:
    with store.unit_of_work() as session:
        assert store.next_order_number(session, "EU") == "EU-000001"

    def failing_command() -> None:
        with store.unit_of_work() as session:
            assert store.next_order_number(session, "EU") == "EU-000002"
            raise RuntimeError("the command failed")

    with pytest.raises(RuntimeError):
        failing_command()
    with store.unit_of_work() as session:
        assert store.next_order_number(session, "EU") == "EU-000002"


def test_two_processes_share_one_sequence(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "two.sqlite3")
    with OMS.open(EXAMPLES, url) as first, OMS.open(EXAMPLES, url) as second:
        made = [oms.create_order("EU").number for oms in (first, second, first, second)]
        assert made == ["EU-000001", "EU-000002", "EU-000003", "EU-000004"]
        assert [o.number for o in first.list_orders()] == made


def test_order_prefix_comes_from_the_policy(tmp_path: Path) -> None:
    with OMS.open(EXAMPLES, sqlite_url(tmp_path / "p.sqlite3")) as oms:
        assert oms.create_order("US").number == "US-000001"  # no order_prefix: market code
        assert oms.create_order("NO").number == "NO-000001"
        with oms.store.unit_of_work() as session:
            rows = session.execute(text("SELECT prefix, last FROM oms_order_numbers ORDER BY 1"))
            assert [tuple(r) for r in rows] == [("NO", 1), ("US", 1)]


# -- versions ---------------------------------------------------------------------------------


@pytest.fixture
def ticking(tmp_path: Path) -> Iterator[OMS]:
    with OMS.open(EXAMPLES, sqlite_url(tmp_path / "v.sqlite3"), clock=TickingClock()) as oms:
        yield oms


def test_version_increments_on_each_command(ticking: OMS) -> None:
    oms = ticking
    order = oms.create_order("EU")
    assert order.version == 1

    commands = [
        lambda: oms.add_line_item(order.id, "TEE-ORG-M", 2),
        lambda: oms.set_customer(order.id, "customer@example.com"),
        lambda: oms.update_line_item(order.id, "TEE-ORG-M", 1),
        lambda: oms.set_addresses(order.id, ADDRESS),
        lambda: oms.select_shipping_method(order.id, "standard"),
        lambda: oms.select_payment_method(order.id, "card", payment_source="tok_visa"),
        lambda: oms.place(order.id),
        lambda: oms.capture(order.id, "10.00"),
        lambda: oms.capture(order.id),
        lambda: oms.approve(order.id),
        lambda: oms.update_shipment(order.id, "start_picking"),
        lambda: oms.update_shipment(order.id, "start_packing"),
        lambda: oms.update_shipment(order.id, "mark_ready_to_ship"),
        lambda: oms.ship(order.id, tracking_number="T-1"),
        lambda: oms.deliver(order.id),
        lambda: oms.refund(order.id, "1.00"),
        lambda: oms.refund(order.id, "1.00"),
        lambda: oms.archive(order.id),
        lambda: oms.unarchive(order.id),
    ]
    versions = [command().version for command in commands]

    steps = [after - before for before, after in zip([1, *versions], versions, strict=False)]
    # A command that moves money commits twice: the movement's pending ledger row (with the
    # stock and gift-card holds, for place) before the gateway is called, then its result.
    # Each commit moves the version: processes that keep the order loaded rely on it.
    moves_money = {6, 7, 8, 15, 16}  # place, capture twice, refund twice
    assert steps == [2 if i in moves_money else 1 for i in range(len(commands))]
    assert oms.get_order(order.id).version == versions[-1]


def test_a_failed_command_leaves_the_version_unchanged(ticking: OMS) -> None:
    oms = ticking
    order = oms.place(cart(oms).id)
    version = order.version

    with pytest.raises(PaymentAmountError):
        oms.capture(order.id, "100.00")
    with pytest.raises(TransitionNotAllowed):
        oms.approve(order.id)
    with pytest.raises(TransitionNotAllowed):
        oms.add_line_item(order.id, "MUG-CER-350")
    with pytest.raises(InvalidOrderInput):
        oms.add_line_item(order.id, "TEE-ORG-M", 0)

    after = oms.get_order(order.id)
    assert after.version == version
    assert after == order


def test_a_declined_payment_commits_its_holds_then_the_recorded_failure(ticking: OMS) -> None:
    oms = ticking
    order = cart(oms)
    order = oms.select_payment_method(order.id, "card", payment_source="tok_chargeDeclined")
    with pytest.raises(PaymentDeclined):
        oms.place(order.id)
    after = oms.get_order(order.id)
    # the holds committed with the authorization's intent, then the decline that released them
    assert after.version == order.version + 2
    assert [t.error_code for t in after.transactions] == ["card_declined"]
    assert not any(t.pending for t in after.transactions)
    assert after.shipments == ()


def test_idempotent_replay_does_not_bump_the_version(ticking: OMS) -> None:
    oms = ticking
    order = oms.place(cart(oms).id)
    first = oms.capture(order.id, "5.00", idempotency_key="cap-1")
    again = oms.capture(order.id, "5.00", idempotency_key="cap-1")
    # two commits: the capture's pending ledger row, then its result; the replay commits none
    assert again.version == first.version == order.version + 2
    assert oms.get_order(order.id).version == first.version


def test_version_increments_even_when_the_clock_does_not_move(tmp_path: Path) -> None:
    with OMS.open(EXAMPLES, sqlite_url(tmp_path / "f.sqlite3"), clock=lambda: START) as oms:
        order = oms.place(cart(oms).id)
        first = oms.capture(order.id, "5.00")
        second = oms.capture(order.id, "5.00")  # partially_paid -> partially_paid
        assert second.version == first.version + 2  # its pending ledger row, then its result


# -- timestamps -------------------------------------------------------------------------------


def test_timestamps_are_stored_in_utc_and_read_back_aware(tmp_path: Path) -> None:
    tokyo = timezone(timedelta(hours=9))
    local = datetime(2026, 3, 2, 18, 30, tzinfo=tokyo)
    with OMS.open(EXAMPLES, sqlite_url(tmp_path / "t.sqlite3"), clock=lambda: local) as oms:
        order = oms.create_order("EU")
        stored = oms.get_order(order.id)
    assert stored.created_at == local
    assert stored.created_at.tzinfo == UTC
    assert stored.created_at == datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def test_gift_cards_are_stored(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "g.sqlite3")
    with OMS.open(EXAMPLES, url) as oms:
        oms.issue_gift_card("GC-1", Money.parse("12.50", "EUR"))
    with OMS.open(EXAMPLES, url) as oms:
        card = oms.gift_card("GC-1")
    assert (card.balance, card.initial_balance) == (
        Money.parse("12.50", "EUR"),
        Money.parse("12.50", "EUR"),
    )


@pytest.mark.parametrize("attempt", range(5))
def test_a_new_sqlite_file_opened_from_eight_threads_at_once(tmp_path: Path, attempt: int) -> None:
    """An application starting its workers: the first opens create, migrate and switch the
    new file to WAL together; none of them may fail with "database is locked"."""
    from oms_sdk.testing import all_at_once

    url = sqlite_url(tmp_path / f"new-{attempt}.sqlite3")

    def open_and_close(_: int) -> str:
        with OMS.open(EXAMPLES, url) as oms:
            return oms.create_order("EU").number

    results = all_at_once(8, open_and_close)

    assert [r for r in results if isinstance(r, Exception)] == []
    assert sorted(results) == [f"EU-{n:06d}" for n in range(1, 9)]  # type: ignore[type-var]
    with sqlite3.connect(tmp_path / f"new-{attempt}.sqlite3") as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
