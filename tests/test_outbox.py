"""The transactional outbox: one event per committed command, relayed in order per order."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from oms_sandbox_payments import SandboxGateway
from sqlalchemy import func, select
from typer.testing import CliRunner

from oms_sdk import (
    OMS,
    EventPublisher,
    OrderEvent,
    PaymentDeclined,
    PluginError,
    TransitionNotAllowed,
    hookimpl,
)
from oms_sdk.cli import app
from oms_sdk.store._tables import history, outbox
from oms_sdk.testing import DEFAULT_ADDRESSES, example_policies, fresh_database_url


@dataclass
class Recorder:
    """A publisher that keeps what it got, and can be told to fail on some events."""

    name: str = "recorder"
    events: list[OrderEvent] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)

    def publish(self, event: OrderEvent) -> None:
        if event.name in self.refuse:
            raise ConnectionError("broker unavailable")
        self.events.append(event)


@pytest.fixture
def oms() -> Iterator[OMS]:
    with OMS.open(example_policies(), fresh_database_url(), gateways=[SandboxGateway()]) as oms:
        yield oms


def cart(oms: OMS, token: str = "tok_visa") -> str:
    order = oms.create_order("EU", customer_email="ada@example.com").id
    oms.add_line_item(order, "TEE-ORG-M", 1)
    oms.set_addresses(order, DEFAULT_ADDRESSES["EU"])
    oms.select_shipping_method(order, "standard")
    oms.select_payment_method(order, "card", payment_source=token)
    return order


def count(oms: OMS, table: object) -> int:
    with oms.store.unit_of_work() as session:
        return int(session.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_every_committed_command_writes_one_event_and_a_refused_one_none(oms: OMS) -> None:
    order = cart(oms)
    oms.place(order)
    with pytest.raises(TransitionNotAllowed):
        oms.approve(order)  # not captured yet: refused, nothing written
    oms.capture(order)

    assert count(oms, outbox) == count(oms, history) == 7


def test_a_decline_writes_its_failure_event(oms: OMS) -> None:
    order = cart(oms, token="tok_chargeDeclined")
    with pytest.raises(PaymentDeclined):
        oms.place(order)
    recorder = Recorder()
    oms.relay_outbox(publishers=[recorder])
    assert [e.name for e in recorder.events][-1] == "orders.place_failed"


def test_an_event_exists_only_if_its_change_committed(oms: OMS) -> None:
    order = cart(oms)
    written = count(oms, outbox)

    class Crash(BaseException):
        pass

    def crash(point: str) -> None:
        if point == "before_commit":
            raise Crash(point)

    oms._crash_at = crash
    with pytest.raises(Crash):
        oms.set_customer(order, "grace@example.com")
    oms._crash_at = None

    assert count(oms, outbox) == written
    assert oms.get_order(order).customer_email == "ada@example.com"


def test_the_relay_delivers_each_event_once_in_order(oms: OMS) -> None:
    first, second = cart(oms), cart(oms)
    oms.place(first)
    oms.place(second)
    oms.capture(first)
    recorder = Recorder()

    report = oms.relay_outbox(publishers=[recorder])
    again = oms.relay_outbox(publishers=[recorder])

    assert report.delivered == {"recorder": 13}
    assert report.waiting == 0
    assert again.delivered == {"recorder": 0}
    assert len({e.id for e in recorder.events}) == 13
    of_first = [e.name for e in recorder.events if e.order.id == first]
    assert of_first == [
        "orders.create",
        "orders.add_line_item",
        "orders.set_addresses",
        "orders.select_shipping_method",
        "orders.select_payment_method",
        "orders.place",
        "orders.capture",
    ]
    capture = recorder.events[-1]
    assert capture.from_statuses == ("placed", "authorized", "unfulfilled")
    assert capture.statuses == ("placed", "paid", "unfulfilled")
    assert capture.amount == capture.order.totals.total


def test_a_failed_event_holds_back_its_order_only_until_the_next_run(oms: OMS) -> None:
    stuck, other = cart(oms), cart(oms)
    oms.place(stuck)
    oms.capture(stuck)
    recorder = Recorder(refuse={"orders.place"})
    oms.place(other)  # other's place fails too, but after stuck's events

    report = oms.relay_outbox(publishers=[recorder])

    assert report.failed == {"recorder": 2}
    names = [(e.order.id, e.name) for e in recorder.events]
    assert (stuck, "orders.capture") not in names  # held back behind its failed place
    assert (other, "orders.select_payment_method") in names
    assert report.waiting == 3  # stuck's place and capture, other's place

    recorder.refuse.clear()
    report = oms.relay_outbox(publishers=[recorder])
    assert report.delivered == {"recorder": 3}
    assert report.waiting == 0
    tail = [e.name for e in recorder.events if e.order.id == stuck][-2:]
    assert tail == ["orders.place", "orders.capture"]


def test_publishers_keep_their_own_place_in_the_outbox(oms: OMS) -> None:
    cart(oms)
    early = Recorder("early")
    oms.relay_outbox(publishers=[early])
    late = Recorder("late")
    report = oms.relay_outbox(publishers=[early, late])
    assert report.delivered == {"early": 0, "late": 5}
    assert [e.id for e in early.events] == [e.id for e in late.events]


def test_publishers_come_from_plugins_and_must_have_distinct_names() -> None:
    recorder = Recorder()

    class Publishes:
        @hookimpl
        def oms_event_publishers(self, oms: OMS) -> list[EventPublisher]:
            return [recorder]

    with OMS.open(example_policies(), fresh_database_url(), plugins=[Publishes()]) as oms:
        oms.create_order("EU")
        assert oms.relay_outbox().delivered == {"recorder": 1}
        with pytest.raises(PluginError, match="two event publishers are named 'recorder'"):
            oms.relay_outbox(publishers=[recorder, Recorder()])


def test_events_survive_the_outbox_unchanged(oms: OMS) -> None:
    order = cart(oms)
    oms.place(order)
    recorder = Recorder()
    oms.relay_outbox(publishers=[recorder])
    for event in recorder.events:
        assert OrderEvent.from_dict(event.to_dict()) == event


def test_oms_outbox_relay_without_a_publisher_says_so(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/relay.sqlite3"
    result = CliRunner().invoke(app, ["outbox", "relay", "--database", url])
    assert result.exit_code == 1
    assert "no event publisher" in result.output
