"""The Redis stream publisher against a real Redis server: round trips, producer-side
de-duplication, per-order ordering, failures that must raise, the entry point configured from
the environment, and the outbox relay end to end."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import oms_redis_streams
import pytest
import redis
from oms_redis_streams import (
    DEFAULT_STREAM,
    DEFAULT_URL,
    STREAM_ENV,
    URL_ENV,
    RedisStreamPublisher,
    event_from_fields,
    read_events,
)

from oms_sdk import OMS, EventPublisher, OrderEvent, PluginError, hookimpl
from oms_sdk._plugins import installed_plugins
from oms_sdk.testing import default_address, example_policies, fresh_database_url

EMAIL = "giulia.rossi@example.com"
CHECKOUT = [
    "orders.create",
    "orders.add_line_item",
    "orders.set_addresses",
    "orders.select_shipping_method",
    "orders.select_payment_method",
    "orders.place",
]


class Recorder:
    """A plugin that keeps every event the OMS commits: the events the relay would hand over."""

    def __init__(self) -> None:
        self.events: list[OrderEvent] = []

    @hookimpl
    def oms_order_committed(self, event: OrderEvent) -> None:
        self.events.append(event)


def checkout(oms: OMS) -> None:
    """Six commands on one new EU order, each committing one event (see ``CHECKOUT``)."""
    order = oms.create_order("EU", customer_email=EMAIL)
    oms.add_line_item(order.id, "TEE-ORG-M", 1)
    oms.set_addresses(order.id, default_address("EU"))
    oms.select_shipping_method(order.id, "standard")
    oms.select_payment_method(order.id, "card", payment_source="tok_visa")
    oms.place(order.id)


def record_checkouts(orders: int) -> list[OrderEvent]:
    """The events of ``orders`` checkouts, in commit order."""
    recorder = Recorder()
    with OMS.open(example_policies(), fresh_database_url(), plugins=[recorder]) as oms:
        for _ in range(orders):
            checkout(oms)
    assert [event.name for event in recorder.events] == CHECKOUT * orders
    return recorder.events


@pytest.fixture(scope="module")
def events() -> list[OrderEvent]:
    """Real events of two checkouts: twelve events, six per order."""
    return record_checkouts(2)


MakePublisher = Callable[..., RedisStreamPublisher]


@pytest.fixture
def make_publisher(redis_url: str, stream: str) -> Iterator[MakePublisher]:
    """Publishers to the test's stream on the test server; closed after the test."""
    made: list[RedisStreamPublisher] = []

    def make(**options: Any) -> RedisStreamPublisher:
        options.setdefault("stream", stream)
        publisher = RedisStreamPublisher(redis_url, **options)
        made.append(publisher)
        return publisher

    yield make
    for publisher in made:
        publisher.close()


Entries = list[tuple[bytes, dict[bytes, bytes]]]
"""Stream entries as a client without ``decode_responses`` returns them (redis-py's own
annotations cover every protocol and option at once)."""


def position(entry_id: str) -> tuple[int, int]:
    """An entry id as the stream orders it: milliseconds, then sequence."""
    milliseconds, sequence = entry_id.split("-")
    return int(milliseconds), int(sequence)


def entries(client: redis.Redis, stream: str) -> list[tuple[str, dict[str, str]]]:
    """Every entry of ``stream``, decoded."""
    return [
        (entry_id.decode(), {key.decode(): value.decode() for key, value in fields.items()})
        for entry_id, fields in cast(Entries, client.xrange(stream))
    ]


# -- the entry point ----------------------------------------------------------------------------


def test_published_under_the_oms_sdk_entry_point_group() -> None:
    found = {p.name: p for p in installed_plugins()}
    assert found["redis_streams"].value == "oms_redis_streams"
    assert found["redis_streams"].distribution == "oms-redis-streams"


# -- publishing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("decode_responses", [False, True])
def test_an_event_round_trips_through_the_stream(
    redis_url: str,
    stream: str,
    events: list[OrderEvent],
    caplog: pytest.LogCaptureFixture,
    decode_responses: bool,
) -> None:
    caplog.set_level(logging.DEBUG, logger="oms_redis_streams")
    # with an amount, so Money round-trips too (whichever commands move money)
    placed = replace(events[5], amount=events[5].order.totals.total)
    assert placed.name == "orders.place"
    client = redis.Redis.from_url(redis_url, decode_responses=decode_responses)
    try:
        publisher = RedisStreamPublisher(stream=stream, client=client)
        assert isinstance(publisher, EventPublisher)
        publisher.publish(placed)

        ((entry_id, event),) = read_events(client, stream)
        assert event == placed
        assert read_events(client, stream, after=entry_id) == []
        assert read_events(redis_url, stream) == [(entry_id, placed)]
    finally:
        client.close()

    # the fields a consumer can route on without parsing, and the compact JSON body
    ((_, fields),) = entries(redis.Redis.from_url(redis_url), stream)
    assert fields == {
        "event_id": placed.id,
        "type": "orders.place",
        "order_id": placed.order.id,
        "order_number": placed.order.number,
        "body": json.dumps(placed.to_dict(), ensure_ascii=False, separators=(",", ":")),
    }
    assert json.loads(fields["body"])["data"]["customer_email"] == EMAIL
    # logs say which event went where, never what it holds
    assert placed.id in caplog.text
    assert entry_id in caplog.text
    for private in (EMAIL, placed.order.number, '"data"'):
        assert private not in caplog.text


def test_publishing_an_event_twice_appends_it_once(
    redis_client: redis.Redis, stream: str, events: list[OrderEvent], make_publisher: MakePublisher
) -> None:
    publisher = make_publisher(dedupe_ttl=600)
    first = publisher.append(events[0])
    assert publisher.append(events[0]) == first
    publisher.publish(events[0])
    # another process relaying the same outbox finds the same claim
    assert make_publisher(dedupe_ttl=600).append(events[0]) == first
    assert redis_client.xlen(stream) == 1

    key = publisher.dedupe_key(events[0].id)
    assert key == f"{stream}:published:{events[0].id}"
    assert redis_client.get(key) == first.encode()
    assert 0 < redis_client.ttl(key) <= 600

    second = publisher.append(events[1])
    assert position(second) > position(first)
    assert [event.id for _, event in read_events(redis_client, stream)] == [
        events[0].id,
        events[1].id,
    ]


def test_a_repeat_after_the_dedupe_window_is_appended_again(
    redis_client: redis.Redis, stream: str, events: list[OrderEvent], make_publisher: MakePublisher
) -> None:
    publisher = make_publisher(dedupe_ttl=60)
    first = publisher.append(events[0])
    redis_client.pexpire(publisher.dedupe_key(events[0].id), 1)  # the window ends now
    deadline = time.monotonic() + 2
    while redis_client.exists(publisher.dedupe_key(events[0].id)):
        assert time.monotonic() < deadline, "the de-dup key never expired"
        time.sleep(0.005)

    again = publisher.append(events[0])
    assert position(again) > position(first)
    # the stream now holds the event twice: why consumers de-duplicate on event.id
    assert [event.id for _, event in read_events(redis_client, stream)] == [events[0].id] * 2


def test_each_orders_events_keep_their_order(
    redis_client: redis.Redis, stream: str, make_publisher: MakePublisher
) -> None:
    recorded = record_checkouts(8)
    by_order: dict[str, list[OrderEvent]] = {}
    for event in recorded:
        by_order.setdefault(event.order.id, []).append(event)
    publisher = make_publisher()

    # one thread per order, as a relay working on several orders at once would publish
    def publish_all(mine: list[OrderEvent]) -> None:
        for event in mine:
            publisher.publish(event)

    threads = [threading.Thread(target=publish_all, args=(mine,)) for mine in by_order.values()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    read: list[tuple[str, OrderEvent]] = []
    after = "0-0"
    while page := read_events(redis_client, stream, after=after, count=7):
        read += page
        after = page[-1][0]
    assert len(read) == len(recorded) == 48
    assert [entry_id for entry_id, _ in read] == sorted(
        (entry_id for entry_id, _ in read), key=position
    )
    seen: dict[str, list[OrderEvent]] = {}
    for _, event in read:
        seen.setdefault(event.order.id, []).append(event)
    assert seen == by_order
    for events_of_one_order in seen.values():
        versions = [event.order.version for event in events_of_one_order]
        assert versions == sorted(versions)
        assert [event.name for event in events_of_one_order] == CHECKOUT


def test_a_failed_append_does_not_leave_a_claim_behind(
    redis_client: redis.Redis, stream: str, events: list[OrderEvent], make_publisher: MakePublisher
) -> None:
    publisher = make_publisher()
    redis_client.set(stream, "not a stream")
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        publisher.publish(events[0])
    # had the claim stayed, the retry below would be taken for a duplicate and never appended
    assert not redis_client.exists(publisher.dedupe_key(events[0].id))

    redis_client.delete(stream)
    publisher.publish(events[0])
    assert [event for _, event in read_events(redis_client, stream)] == [events[0]]


def test_maxlen_trims_the_stream(
    redis_client: redis.Redis, stream: str, events: list[OrderEvent], make_publisher: MakePublisher
) -> None:
    publisher = make_publisher(maxlen=10)
    published = [replace(events[0], id=f"{events[0].id}-{n}") for n in range(250)]
    for event in published:
        publisher.publish(event)
    # MAXLEN ~ trims whole radix-tree nodes (100 entries by default): about, never below, 10
    assert 10 <= redis_client.xlen(stream) < 250
    ((_, newest),) = cast(Entries, redis_client.xrevrange(stream, count=1))
    assert event_from_fields(newest).id == published[-1].id


def test_a_consumer_group_reads_each_event_once(
    redis_client: redis.Redis, stream: str, events: list[OrderEvent], make_publisher: MakePublisher
) -> None:
    """The README's consumer: XREADGROUP, ``event_from_fields``, XACK."""
    publisher = make_publisher()
    redis_client.xgroup_create(stream, "erp", id="0", mkstream=True)
    for event in events:
        publisher.publish(event)

    handled: list[OrderEvent] = []
    while batch := cast(
        list[tuple[bytes, Entries]],
        redis_client.xreadgroup("erp", "worker-1", {stream: ">"}, count=5, block=100),
    ):
        for _stream, read in batch:
            for entry_id, fields in read:
                handled.append(event_from_fields(fields))
                redis_client.xack(stream, "erp", entry_id)
    assert handled == events
    assert redis_client.xpending(stream, "erp")["pending"] == 0


def test_an_entry_without_a_body_is_refused() -> None:
    with pytest.raises(ValueError, match="no 'body' field"):
        event_from_fields({b"event_id": b"evt-1"})


# -- failures raise, so the relay retries --------------------------------------------------------


def test_an_unreachable_redis_raises(
    events: list[OrderEvent], caplog: pytest.LogCaptureFixture
) -> None:
    publisher = RedisStreamPublisher("redis://:hunter2@127.0.0.1:1/0", "oms:order-events")
    try:
        with pytest.raises(redis.ConnectionError) as info:
            publisher.publish(events[0])
    finally:
        publisher.close()
    assert "hunter2" not in str(info.value)
    assert "hunter2" not in repr(publisher)
    (warning,) = [r for r in caplog.records if r.name == "oms_redis_streams"]
    assert warning.getMessage().startswith(
        f"orders.create {events[0].id} not appended to oms:order-events: ConnectionError: "
    )
    assert "hunter2" not in caplog.text
    assert EMAIL not in caplog.text
    assert repr(publisher) == (
        "RedisStreamPublisher('redis://127.0.0.1:1/0', 'oms:order-events', name='redis_streams')"
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"stream": ""}, "stream must be a non-empty string"),
        ({"maxlen": 0}, "maxlen must be a positive integer"),
        ({"dedupe_ttl": 0}, "dedupe_ttl must be a positive integer"),
        ({"dedupe_ttl": True}, "dedupe_ttl must be a positive integer"),
        ({"name": ""}, "name must be a non-empty string"),
        ({"timeout": 0}, "timeout must be positive"),
        ({"url": "http://127.0.0.1:6379"}, "Redis URL must specify"),
    ],
)
def test_bad_options_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RedisStreamPublisher(**options)


# -- configured from the environment -----------------------------------------------------------

POLICY = """\
plugins: [redis_streams]
markets:
  - code: EU
    name: Europe
    currency: EUR
    prices:
      items:
        TEE: {name: T-shirt, price: "20.00"}
    payment_methods:
      - {code: transfer, name: Bank transfer, gateway: manual}
"""


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    path = tmp_path / "eu.yaml"
    path.write_text(POLICY, encoding="utf-8")
    return path


def relay_publishers(oms: OMS) -> list[EventPublisher]:
    """What the relay gets from the ``oms_event_publishers`` hook."""
    return [p for found in oms.plugins.hook.oms_event_publishers(oms=oms) for p in found]


def test_the_entry_point_reads_the_environment(
    policy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(URL_ENV, "redis://:s3cret@redis.example.com:6380/2")
    monkeypatch.setenv(STREAM_ENV, "shop:{eu}:events")
    with OMS.open(policy, fresh_database_url()) as oms:
        assert "redis_streams" in oms.plugins.names
        (publisher,) = relay_publishers(oms)
        assert isinstance(publisher, RedisStreamPublisher)
        assert (publisher.url, publisher.stream, publisher.name) == (
            "redis://:s3cret@redis.example.com:6380/2",
            "shop:{eu}:events",
            "redis_streams",
        )
        connection = publisher.client.connection_pool.connection_kwargs
        assert (connection["host"], connection["port"], connection["db"]) == (
            "redis.example.com",
            6380,
            2,
        )
        # kept between relay runs (it holds the connection pool) while the variables stay
        assert relay_publishers(oms) == [publisher]

        monkeypatch.setenv(STREAM_ENV, "shop:{eu}:events-v2")
        (changed,) = relay_publishers(oms)
        assert changed is not publisher
        assert changed.stream == "shop:{eu}:events-v2"  # type: ignore[attr-defined]

        monkeypatch.delenv(URL_ENV)
        monkeypatch.setenv(STREAM_ENV, "")
        (default,) = relay_publishers(oms)
        assert (default.url, default.stream) == (DEFAULT_URL, DEFAULT_STREAM)  # type: ignore[attr-defined]
        assert oms_redis_streams.oms_event_publishers(oms) == [default]


def test_a_bad_url_fails_the_open(policy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(URL_ENV, "http://:s3cret@redis.example.com/0")
    with pytest.raises(PluginError, match="redis_streams: OMS_REDIS_URL") as info:
        OMS.open(policy, fresh_database_url())
    assert "s3cret" not in str(info.value)


def test_a_publisher_passed_in_code_replaces_the_entry_point(
    policy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(STREAM_ENV, "from-the-environment")
    mine = RedisStreamPublisher(stream="mine", maxlen=1000)
    try:
        with OMS.open(policy, fresh_database_url(), plugins=[mine]) as oms:
            assert oms.plugins.manager.get_plugin("redis_streams") is mine
            assert relay_publishers(oms) == [mine]  # not the environment's next to it
    finally:
        mine.close()


# -- the outbox relay, end to end ------------------------------------------------------------------


def test_the_relay_publishes_committed_commands_in_order(
    redis_client: redis.Redis, redis_url: str, stream: str
) -> None:
    publisher = RedisStreamPublisher(redis_url, stream)
    try:
        with OMS.open(example_policies(), fresh_database_url(), plugins=[publisher]) as oms:
            checkout(oms)
            checkout(oms)
            report = oms.relay_outbox()
            assert report.delivered.get("redis_streams") == 2 * len(CHECKOUT)
            assert not any(report.failed.values())
            assert report.waiting == 0

            again = oms.relay_outbox()  # everything was delivered: nothing is sent twice
            assert not any(again.delivered.values())
    finally:
        publisher.close()

    read = [event for _, event in read_events(redis_client, stream)]
    assert redis_client.xlen(stream) == len(read) == 2 * len(CHECKOUT)
    assert len({event.id for event in read}) == len(read)
    numbers = list(dict.fromkeys(event.order.number for event in read))
    assert len(numbers) == 2
    for number in numbers:
        mine = [event for event in read if event.order.number == number]
        assert [event.name for event in mine] == CHECKOUT
        assert [event.order.version for event in mine] == sorted(e.order.version for e in mine)
    assert read[-1].order.status == "placed"


def test_the_relay_offers_again_what_redis_did_not_take(
    redis_client: redis.Redis, redis_url: str, stream: str
) -> None:
    down = RedisStreamPublisher("redis://127.0.0.1:1/0", stream)
    up = RedisStreamPublisher(redis_url, stream)  # the same name: the same delivery records
    try:
        with OMS.open(example_policies(), fresh_database_url()) as oms:
            checkout(oms)
            checkout(oms)
            report = oms.relay_outbox(publishers=[down])
            # each order's first event failed and held back its later ones
            assert report.failed == {"redis_streams": 2}
            assert report.delivered == {"redis_streams": 0}
            assert report.waiting == 2 * len(CHECKOUT)

            report = oms.relay_outbox(publishers=[up])
            assert report.delivered == {"redis_streams": 2 * len(CHECKOUT)}
            assert report.waiting == 0
    finally:
        down.close()
        up.close()
    read = [event for _, event in read_events(redis_client, stream)]
    assert [event.name for event in read if event.order.id == read[0].order.id] == CHECKOUT
