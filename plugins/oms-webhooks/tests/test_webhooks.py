"""Webhooks against a real HTTP server on localhost: signatures, filtering, retries, giving up,
never slowing a command down, the entry point configured from the environment, and delivery
from the outbox (``WebhookPublisher``, the ``outbox`` delivery mode, the relay)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import oms_webhooks
import pytest
from oms_webhooks import (
    DELIVERY_ENV_VAR,
    ENV_VAR,
    Endpoint,
    WebhookDeliveryError,
    WebhookPlugin,
    WebhookPublisher,
    endpoints_from_env,
    event_body,
    sign,
    verify_signature,
)

from oms_sdk import OMS, EventPublisher, OrderEvent, OrderView, PluginError, hookimpl
from oms_sdk._plugins import installed_plugins
from oms_sdk.testing import fresh_database_url

EXAMPLES = Path(__file__).resolve().parents[3] / "config_examples"
SECRET = "whsec_test_5ecr3t"
EMAIL = "giulia.rossi@example.com"
ADDRESS = {
    "name": "Giulia Rossi",
    "line1": "Via Torino 12",
    "city": "Milano",
    "postal_code": "20123",
    "country": "IT",
}
CHECKOUT = [
    "orders.create",
    "orders.add_line_item",
    "orders.set_addresses",
    "orders.select_shipping_method",
    "orders.select_payment_method",
    "orders.place",
]


# -- a real receiver ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    path: str
    headers: Message
    """Looked up case-insensitively, as HTTP header names are."""
    body: bytes
    at: float

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """An HTTP server on 127.0.0.1 that records every POST and answers as scripted."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._answers: dict[str, list[int]] = {}
        self._delays: dict[str, list[float]] = {}
        self._held: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                path = self.path.split("?", 1)[0]
                with receiver._lock:
                    receiver.received.append(Received(path, self.headers, body, time.monotonic()))
                    answers = receiver._answers.get(path, [])
                    status = answers.pop(0) if answers else 200
                    delays = receiver._delays.get(path, [])
                    delay = delays.pop(0) if delays else 0.0
                    held = receiver._held.get(path)
                if held is not None:
                    held.wait(timeout=30)
                if delay:
                    time.sleep(delay)
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.handle_error = self._quiet  # type: ignore[method-assign,assignment]
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @staticmethod
    def _quiet(*_: object) -> None:
        """A client that hung up (a timeout test) is not an error worth printing."""

    def url(self, path: str = "/hook") -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}{path}"

    def answer(self, path: str, *statuses: int) -> None:
        """Answer the next requests to ``path`` with ``statuses``, then 200."""
        self._answers[path] = list(statuses)

    def delay(self, path: str, *seconds: float) -> None:
        """Wait before answering the next requests to ``path``."""
        self._delays[path] = list(seconds)

    def hold(self, path: str) -> threading.Event:
        """Answer nothing on ``path`` until the returned event is set (at most 30 s)."""
        self._held[path] = threading.Event()
        return self._held[path]

    def at(self, path: str = "/hook") -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


class Plugins:
    """Makes ``WebhookPlugin``s and closes them after the test."""

    def __init__(self) -> None:
        self.made: list[WebhookPlugin] = []

    def __call__(self, *endpoints: Endpoint, **options: Any) -> WebhookPlugin:
        options.setdefault("backoff", 0.01)
        plugin = WebhookPlugin(endpoints, **options)
        self.made.append(plugin)
        return plugin


@pytest.fixture
def make_plugin() -> Iterator[Plugins]:
    plugins = Plugins()
    yield plugins
    for plugin in plugins.made:
        plugin.close(timeout=5)


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="oms_webhooks")
    return caplog


def open_oms(*plugins: object) -> OMS:
    return OMS.open(EXAMPLES, fresh_database_url(), plugins=plugins)


def checkout(oms: OMS) -> OrderView:
    """One EU card checkout: six commands, six events (see ``CHECKOUT``)."""
    order = oms.create_order("EU", customer_email=EMAIL)
    oms.add_line_item(order.id, "TEE-ORG-M", 2)
    oms.set_addresses(order.id, ADDRESS)
    oms.select_shipping_method(order.id, "standard")
    oms.select_payment_method(order.id, "card", payment_source="tok_visa")
    return oms.place(order.id)


def an_event(view: OrderView, name: str = "orders.create", **changes: Any) -> OrderEvent:
    event = OrderEvent(
        id="evt-1",
        name=name,
        at=view.created_at,
        actor="system",
        from_statuses=("draft", "unpaid", "unfulfilled"),
        statuses=(view.status, view.payment_status, view.fulfillment_status),
        amount=None,
        order=view,
    )
    return replace(event, **changes)


# -- the entry point ------------------------------------------------------------------------------


def test_published_under_the_oms_sdk_entry_point_group() -> None:
    found = {p.name: p for p in installed_plugins()}
    assert found["webhooks"].value == "oms_webhooks"
    assert found["webhooks"].distribution == "oms-webhooks"


# -- signing --------------------------------------------------------------------------------------


def test_the_body_is_signed_with_the_endpoint_secret(
    receiver: Receiver, make_plugin: Plugins
) -> None:
    plugin = make_plugin(Endpoint(receiver.url(), SECRET, ["orders.place"]))
    with open_oms(plugin) as oms:
        placed = checkout(oms)
    assert plugin.flush(timeout=5)

    (request,) = receiver.at()
    header = request.headers["X-OMS-Signature"]
    expected = hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert header == f"sha256={expected}"
    assert verify_signature(SECRET, request.body, header)
    assert verify_signature(SECRET.encode(), request.body, header)
    assert not verify_signature("another secret", request.body, header)
    assert not verify_signature(SECRET, request.body + b" ", header)

    body = request.json
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-OMS-Event-Id"] == body["id"]
    assert request.headers["X-OMS-Event-Type"] == "orders.place"
    assert request.headers["X-OMS-Delivery-Attempt"] == "1"
    assert abs(int(request.headers["X-OMS-Timestamp"]) - time.time()) < 60
    assert request.headers["User-Agent"].startswith("oms-webhooks/")
    assert list(body) == ["id", "type", "created_at", "previous", "amount", "actor", "data"]
    assert body["type"] == "orders.place"
    assert body["previous"] == {
        "status": "pending",
        "payment_status": "unpaid",
        "fulfillment_status": "unfulfilled",
    }
    assert body["data"] == placed.model_dump(mode="json")
    assert body["data"]["status"] == "placed"
    assert body["amount"] == {"minor": placed.totals.total.minor, "currency": "EUR"}
    assert body["actor"] == "system"
    assert body["created_at"] == placed.placed_at.isoformat()  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "header",
    [None, "", "sha256=", "sha1=abc", "deadbeef", "sha256=é", " ", "sha256=" + "0" * 64],
)
def test_verify_signature_refuses_what_is_not_the_signature(header: str | None) -> None:
    assert verify_signature(SECRET, b"{}", header) is False


def test_verify_signature_accepts_surrounding_whitespace_and_needs_a_secret() -> None:
    assert verify_signature(SECRET, b"{}", f"  {sign(SECRET, b'{}')} ")
    assert verify_signature("", b"{}", sign("", b"{}")) is False


# -- which events go where ----------------------------------------------------------------------


def test_each_endpoint_gets_the_events_it_asked_for(
    receiver: Receiver, make_plugin: Plugins
) -> None:
    plugin = make_plugin(
        Endpoint(receiver.url("/placed"), "secret-a", ["orders.place", "orders.cancel"]),
        Endpoint(receiver.url("/all"), "secret-b", ["*"]),
        Endpoint(receiver.url("/none"), "secret-c", ["orders.refund"]),
    )
    with open_oms(plugin) as oms:
        checkout(oms)
    assert plugin.flush(timeout=5)

    placed, everything = receiver.at("/placed"), receiver.at("/all")
    assert [r.json["type"] for r in placed] == ["orders.place"]
    assert sorted(r.json["type"] for r in everything) == sorted(CHECKOUT)
    assert receiver.at("/none") == []
    assert all(verify_signature("secret-a", r.body, r.headers["X-OMS-Signature"]) for r in placed)
    assert all(
        verify_signature("secret-b", r.body, r.headers["X-OMS-Signature"]) for r in everything
    )
    # one event, two endpoints: the same bytes, signed with each endpoint's own secret
    (same,) = [r for r in everything if r.json["type"] == "orders.place"]
    assert same.body == placed[0].body
    assert same.headers["X-OMS-Signature"] != placed[0].headers["X-OMS-Signature"]


def test_event_ids_are_unique(receiver: Receiver, make_plugin: Plugins) -> None:
    plugin = make_plugin(Endpoint(receiver.url(), SECRET))
    with open_oms(plugin) as oms:
        checkout(oms)
        checkout(oms)
    assert plugin.flush(timeout=5)

    requests = receiver.at()
    ids = [r.headers["X-OMS-Event-Id"] for r in requests]
    assert len(requests) == 2 * len(CHECKOUT)
    assert len(set(ids)) == len(ids)
    assert ids == [r.json["id"] for r in requests]


# -- retries ----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_retries_after_a_server_error_then_succeeds(
    receiver: Receiver, make_plugin: Plugins, logs: pytest.LogCaptureFixture, status: int
) -> None:
    receiver.answer("/hook", status, status)
    plugin = make_plugin(Endpoint(receiver.url(), SECRET), backoff=0.05, max_attempts=5)
    with open_oms(plugin) as oms:
        oms.create_order("EU", customer_email=EMAIL)
    assert plugin.flush(timeout=5)

    attempts = receiver.at()
    assert [r.headers["X-OMS-Delivery-Attempt"] for r in attempts] == ["1", "2", "3"]
    assert len({r.body for r in attempts}) == 1  # the same event, byte for byte
    assert len({r.headers["X-OMS-Event-Id"] for r in attempts}) == 1
    assert all(verify_signature(SECRET, r.body, r.headers["X-OMS-Signature"]) for r in attempts)
    # exponential backoff: 0.05 s, then 0.10 s
    assert attempts[1].at - attempts[0].at >= 0.05
    assert attempts[2].at - attempts[1].at >= 0.10
    retries = [r.getMessage() for r in logs.records if "retrying" in r.getMessage()]
    assert len(retries) == 2
    assert f"(attempt 1/5: HTTP {status}); retrying in 0.05s" in retries[0]


@pytest.mark.parametrize("status", [400, 401, 404, 410, 422, 302])
def test_no_retry_after_a_client_error_or_redirect(
    receiver: Receiver, make_plugin: Plugins, logs: pytest.LogCaptureFixture, status: int
) -> None:
    receiver.answer("/hook", status)
    plugin = make_plugin(Endpoint(receiver.url(), SECRET), max_attempts=5)
    with open_oms(plugin) as oms:
        oms.create_order("EU", customer_email=EMAIL)
    assert plugin.flush(timeout=5)

    assert len(receiver.at()) == 1
    assert receiver.at("/elsewhere") == []  # a redirect is not followed
    (error,) = [r for r in logs.records if r.levelno == logging.ERROR]
    assert error.getMessage().endswith(f"refused (HTTP {status}); not retried")


def test_gives_up_after_max_attempts_and_logs_no_secret(
    receiver: Receiver, make_plugin: Plugins, logs: pytest.LogCaptureFixture
) -> None:
    path = "/hooks/T0KEN-in-the-path"
    receiver.answer(path, *[500] * 10)
    plugin = make_plugin(
        Endpoint(receiver.url(path) + "?token=query-s3cret", SECRET), max_attempts=3
    )
    with open_oms(plugin) as oms:
        order = oms.create_order("EU", customer_email=EMAIL)
    assert plugin.flush(timeout=5)

    assert len(receiver.at(path)) == 3
    host, port = receiver.server.server_address[:2]
    (error,) = [r for r in logs.records if r.levelno == logging.ERROR]
    assert error.getMessage() == (
        f"webhook orders.create {receiver.at(path)[0].json['id']} to http://{host!s}:{port} "
        "gave up after 3 attempt(s): HTTP 500"
    )
    assert order.number not in logs.text  # nothing of the order's content is logged
    for secret in (SECRET, "T0KEN", "query-s3cret", EMAIL):
        assert secret not in logs.text
        assert secret not in repr(plugin)


def test_connection_errors_are_retried(
    make_plugin: Plugins, logs: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    plugin = make_plugin(Endpoint(f"http://127.0.0.1:{port}/hook", SECRET), max_attempts=2)
    with open_oms(plugin) as oms:
        oms.create_order("EU")
    assert plugin.flush(timeout=5)

    messages = [r.getMessage() for r in logs.records]
    assert any("(attempt 1/2: connection error" in m for m in messages)
    assert any("gave up after 2 attempt(s): connection error" in m for m in messages)


def test_timeouts_are_retried(receiver: Receiver, make_plugin: Plugins) -> None:
    receiver.delay("/hook", 1.0)
    plugin = make_plugin(Endpoint(receiver.url(), SECRET), timeout=0.2, max_attempts=3)
    with open_oms(plugin) as oms:
        oms.create_order("EU")
    assert plugin.flush(timeout=5)

    attempts = receiver.at()
    assert [r.headers["X-OMS-Delivery-Attempt"] for r in attempts] == ["1", "2"]


def test_a_slow_endpoint_does_not_hold_up_another_one(
    receiver: Receiver, make_plugin: Plugins
) -> None:
    receiver.answer("/down", *[503] * 100)
    plugin = make_plugin(
        Endpoint(receiver.url("/down"), SECRET),
        Endpoint(receiver.url("/up"), SECRET),
        backoff=0.5,
        max_attempts=3,
    )
    with open_oms(plugin) as oms:
        checkout(oms)
    assert plugin.flush(timeout=10)

    up = {r.json["id"]: r.at for r in receiver.at("/up")}
    down: dict[str, list[float]] = {}
    for request in receiver.at("/down"):
        down.setdefault(request.json["id"], []).append(request.at)
    assert len(up) == len(down) == len(CHECKOUT)
    assert all(len(attempts) == 3 for attempts in down.values())
    # /down is listed first, yet every event reached /up before /down was tried again: the
    # worker did not sit out /down's backoff
    for event_id, arrived in up.items():
        assert arrived < down[event_id][1]


# -- never in the command's way -------------------------------------------------------------


def test_the_command_returns_before_delivery_completes(
    receiver: Receiver, make_plugin: Plugins
) -> None:
    """No clock involved: the receiver answers nothing until the test lets it, so a command
    that waited for its webhook could not return with the delivery still pending."""
    release = receiver.hold("/hook")
    plugin = make_plugin(Endpoint(receiver.url(), SECRET, ["orders.place"]), timeout=60)
    try:
        with open_oms(plugin) as oms:
            order = oms.create_order("EU", customer_email=EMAIL)
            oms.add_line_item(order.id, "TEE-ORG-M", 1)
            oms.set_addresses(order.id, ADDRESS)
            oms.select_shipping_method(order.id, "standard")
            oms.select_payment_method(order.id, "card", payment_source="tok_visa")
            placed = oms.place(order.id)
            assert placed.status == "placed"
            assert plugin.pending == 1  # returned while its webhook is still being delivered
    finally:
        release.set()
    assert plugin.flush(timeout=30)
    assert plugin.pending == 0
    assert [r.json["type"] for r in receiver.at()] == ["orders.place"]


def test_the_queue_is_bounded(
    receiver: Receiver, make_plugin: Plugins, logs: pytest.LogCaptureFixture
) -> None:
    receiver.delay("/hook", 0.5)
    plugin = make_plugin(Endpoint(receiver.url(), SECRET), queue_size=2)
    with open_oms() as oms:
        view = oms.create_order("EU")
    queued = [plugin.submit(an_event(view, id=f"evt-{n}")) for n in range(4)]
    assert queued == [1, 1, 0, 0]
    assert plugin.flush(timeout=5)
    assert [r.json["id"] for r in receiver.at()] == ["evt-0", "evt-1"]
    dropped = [r.getMessage() for r in logs.records if "dropped" in r.getMessage()]
    assert len(dropped) == 2
    assert "webhook queue full (2): dropped orders.create evt-2 to http://127.0.0.1:" in dropped[0]


def test_close_stops_accepting_events(receiver: Receiver, make_plugin: Plugins) -> None:
    plugin = make_plugin(Endpoint(receiver.url(), SECRET))
    with open_oms() as oms:
        view = oms.create_order("EU")
    assert plugin.submit(an_event(view)) == 1
    assert plugin.close(timeout=5)
    assert plugin.submit(an_event(view, id="evt-2")) == 0
    assert [r.json["id"] for r in receiver.at()] == ["evt-1"]


def test_close_abandons_what_it_cannot_finish_in_time(
    receiver: Receiver, make_plugin: Plugins, logs: pytest.LogCaptureFixture
) -> None:
    receiver.answer("/hook", *[500] * 10)
    plugin = make_plugin(Endpoint(receiver.url(), SECRET), backoff=30, max_attempts=5)
    with open_oms() as oms:
        view = oms.create_order("EU")
    plugin.submit(an_event(view))
    deadline = time.monotonic() + 5
    while plugin.pending and time.monotonic() < deadline:  # until the retry is scheduled
        if any("retrying in 30.00s" in r.getMessage() for r in logs.records):
            break
        time.sleep(0.01)
    started = time.monotonic()
    assert plugin.close(timeout=0.2) is False
    # behaviour, not speed: waiting out the 30 s backoff would take 30 s, not 10
    assert time.monotonic() - started < 10
    assert plugin.pending == 0
    assert any("1 delivery(ies) abandoned" in r.getMessage() for r in logs.records)


# -- configuration --------------------------------------------------------------------------


def test_endpoints_are_checked_and_never_show_their_secret() -> None:
    endpoint = Endpoint("https://hooks.example.com/T0/B0?k=v", SECRET, ["orders.place"])
    assert SECRET not in repr(endpoint)
    assert endpoint.label == "https://hooks.example.com"
    assert Endpoint("http://localhost:8080/x", SECRET, "orders.place").events == ("orders.place",)
    assert Endpoint("http://localhost/x", SECRET, name="erp").label == "erp"
    assert Endpoint("http://localhost/x", SECRET).wants("orders.anything")

    for url in ("ftp://example.com/x", "file:///etc/passwd", "example.com/x", "http:///x"):
        with pytest.raises(ValueError, match="url must be an absolute http"):
            Endpoint(url, SECRET)
    with pytest.raises(ValueError, match="must not carry credentials") as info:
        Endpoint("https://user:pa55word@example.com/x", SECRET)
    assert "pa55word" not in str(info.value)
    with pytest.raises(ValueError, match="secret must be a non-empty string"):
        Endpoint("https://example.com/x", "")
    with pytest.raises(ValueError, match="events is empty"):
        Endpoint("https://example.com/x", SECRET, [])
    with pytest.raises(TypeError, match="expected Endpoint objects"):
        WebhookPlugin(["https://example.com/x"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="max_attempts"):
        WebhookPlugin([], max_attempts=0)


def test_endpoints_from_the_environment() -> None:
    value = json.dumps(
        [
            {"url": "https://a.example.com/hook", "secret": "s-a", "events": ["orders.place"]},
            {"url": "https://b.example.com/hook", "secret": "s-b", "name": "warehouse"},
        ]
    )
    first, second = endpoints_from_env({ENV_VAR: value})
    assert (first.url, first.secret, first.events) == (
        "https://a.example.com/hook",
        "s-a",
        ("orders.place",),
    )
    assert (second.events, second.label) == (("*",), "warehouse")
    assert endpoints_from_env({}) == []
    assert endpoints_from_env({ENV_VAR: "  "}) == []


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('[{"url": "https://x.example.com", "secret": "s3cr3t-value",}]', "is not valid JSON"),
        ('{"url": "https://x.example.com", "secret": "s3cr3t-value"}', "must be a JSON list"),
        ('["s3cr3t-value"]', r"\[0\]: expected an object"),
        ('[{"url": "https://x.example.com"}]', r"\[0\]: missing secret"),
        ('[{"url": "https://x.example.com", "secret": "s3cr3t-value", "evnts": []}]', "evnts"),
        ('[{"url": "ftp://x", "secret": "s3cr3t-value"}]', r"\[0\]: webhook endpoint ftp://x"),
        ('[{"url": "https://x.example.com", "secret": "s3cr3t-value", "events": "*"}]', "list"),
    ],
)
def test_a_bad_environment_is_named_without_its_secrets(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        endpoints_from_env({ENV_VAR: value})
    assert str(info.value).startswith(ENV_VAR)
    assert "s3cr3t-value" not in str(info.value)


POLICY = """\
plugins: [webhooks]
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
def policy(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "eu.yaml"
    path.write_text(POLICY, encoding="utf-8")
    yield path
    oms_webhooks.close(timeout=5)


def test_the_entry_point_reads_its_endpoints_from_the_environment(
    receiver: Receiver, policy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoints = [{"url": receiver.url("/env"), "secret": SECRET, "events": ["orders.create"]}]
    monkeypatch.setenv(ENV_VAR, json.dumps(endpoints))
    with OMS.open(policy, fresh_database_url()) as oms:
        assert "webhooks" in oms.plugins.names
        order = oms.create_order("EU", customer_email=EMAIL)
        oms.add_line_item(order.id, "TEE", 1)
    assert oms_webhooks.flush(timeout=5)

    (request,) = receiver.at("/env")
    assert request.json["data"]["number"] == order.number
    assert verify_signature(SECRET, request.body, request.headers["X-OMS-Signature"])


def test_a_changed_environment_takes_over(
    receiver: Receiver, policy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_VAR, json.dumps([{"url": receiver.url("/one"), "secret": "a"}]))
    with OMS.open(policy, fresh_database_url()) as oms:
        first = oms_webhooks.env_plugin()
        oms.create_order("EU")
        monkeypatch.setenv(ENV_VAR, json.dumps([{"url": receiver.url("/two"), "secret": "b"}]))
        oms.create_order("EU")
        assert oms_webhooks.env_plugin() is not first
    assert oms_webhooks.flush(timeout=5)
    assert first.flush(timeout=5)
    assert (len(receiver.at("/one")), len(receiver.at("/two"))) == (1, 1)


def test_a_broken_environment_fails_the_open(policy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, '[{"url": "https://x.example.com", "secrt": "s3cr3t-value"}]')
    with pytest.raises(PluginError, match=r"webhooks: OMS_WEBHOOK_ENDPOINTS\[0\]") as info:
        OMS.open(policy, fresh_database_url())
    assert "s3cr3t-value" not in str(info.value)


def test_an_empty_environment_sends_nothing_and_says_so(
    policy: Path, monkeypatch: pytest.MonkeyPatch, logs: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    with OMS.open(policy, fresh_database_url()) as oms:
        oms.create_order("EU")
    assert oms_webhooks.env_plugin().endpoints == ()
    assert any(f"{ENV_VAR} is empty" in r.getMessage() for r in logs.records)


def test_an_application_plugin_replaces_the_entry_point(
    receiver: Receiver, policy: Path, make_plugin: Plugins, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_VAR, json.dumps([{"url": receiver.url("/env"), "secret": "e"}]))
    plugin = make_plugin(Endpoint(receiver.url("/app"), SECRET))
    with OMS.open(policy, fresh_database_url(), plugins=[plugin]) as oms:
        assert oms.plugins.manager.get_plugin("webhooks") is plugin
        oms.create_order("EU")
    assert plugin.flush(timeout=5)
    assert oms_webhooks.flush(timeout=5)
    assert (len(receiver.at("/app")), len(receiver.at("/env"))) == (1, 0)


# -- the body ---------------------------------------------------------------------------------


def test_the_body_is_the_events_dict_as_compact_json() -> None:
    with open_oms() as oms:
        view = oms.create_order("EU", customer_email="jürgen.müller@example.com")
    event = an_event(view, amount=view.totals.total)
    body = event_body(event)

    def compact(data: dict[str, Any]) -> bytes:
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    assert body == compact(event.to_dict())
    # byte for byte the document receivers have always had: same keys, order and encoding
    before = event.from_statuses
    legacy: dict[str, Any] = {
        "id": event.id,
        "type": event.name,
        "created_at": event.at.isoformat(),
        "previous": {
            "status": before[0],
            "payment_status": before[1],
            "fulfillment_status": before[2],
        },
        "amount": {"minor": view.totals.total.minor, "currency": "EUR"},
        "actor": "system",
        "data": view.model_dump(mode="json"),
    }
    assert body == compact(legacy)
    assert "jürgen.müller".encode() in body


# -- outbox mode: WebhookPublisher ----------------------------------------------------------------


class Recorder:
    """A plugin that keeps every event the OMS commits: what the outbox relay hands over."""

    def __init__(self) -> None:
        self.events: list[OrderEvent] = []

    @hookimpl
    def oms_order_committed(self, event: OrderEvent) -> None:
        self.events.append(event)


@pytest.fixture(scope="module")
def events() -> list[OrderEvent]:
    """The six events of one checkout (see ``CHECKOUT``)."""
    recorder = Recorder()
    with open_oms(recorder) as oms:
        checkout(oms)
    assert [event.name for event in recorder.events] == CHECKOUT
    return recorder.events


def test_the_publisher_delivers_before_it_returns(
    receiver: Receiver, events: list[OrderEvent], logs: pytest.LogCaptureFixture
) -> None:
    publisher = WebhookPublisher(
        [
            Endpoint(receiver.url("/placed"), "secret-a", ["orders.place"]),
            Endpoint(receiver.url("/all"), "secret-b", ["*"]),
            Endpoint(receiver.url("/none"), "secret-c", ["orders.refund"]),
        ]
    )
    assert isinstance(publisher, EventPublisher)
    assert publisher.name == "webhooks"
    for event in events:
        publisher.publish(event)
        # synchronous: the receiver has it when publish returns, no flush needed
        assert receiver.at("/all")[-1].json["id"] == event.id

    everything, placed = receiver.at("/all"), receiver.at("/placed")
    assert [r.json["id"] for r in everything] == [event.id for event in events]
    assert [r.json["type"] for r in placed] == ["orders.place"]
    assert receiver.at("/none") == []
    for request, secret in [(placed[0], "secret-a"), *((r, "secret-b") for r in everything)]:
        assert verify_signature(secret, request.body, request.headers["X-OMS-Signature"])
        assert request.headers["X-OMS-Delivery-Attempt"] == "1"
        assert request.body == event_body(events[[e.id for e in events].index(request.json["id"])])
    assert EMAIL not in logs.text


@pytest.mark.parametrize("status", [503, 429, 404, 302])
def test_the_publisher_raises_until_every_endpoint_accepts_and_retries_them_all(
    receiver: Receiver, events: list[OrderEvent], status: int
) -> None:
    receiver.answer("/down", status)
    publisher = WebhookPublisher(
        [Endpoint(receiver.url("/up"), SECRET), Endpoint(receiver.url("/down"), SECRET)]
    )
    event = events[-1]
    with pytest.raises(WebhookDeliveryError) as info:
        publisher.publish(event)
    host, port = receiver.server.server_address[:2]
    assert str(info.value) == (
        f"orders.place {event.id} not accepted by http://{host!s}:{port} (HTTP {status})"
    )
    assert info.value.event_id == event.id
    assert len(receiver.at("/up")) == 1  # the healthy endpoint got it all the same

    publisher.publish(event)  # the relay's next run: now /down answers 200

    up, down = receiver.at("/up"), receiver.at("/down")
    assert [r.headers["X-OMS-Delivery-Attempt"] for r in down] == ["1", "2"]
    assert [r.headers["X-OMS-Delivery-Attempt"] for r in up] == ["1", "2"]
    assert {r.body for r in up + down} == {event_body(event)}  # the same event, byte for byte
    assert receiver.at("/elsewhere") == []


def test_the_publisher_raises_on_connection_errors_and_timeouts(
    receiver: Receiver, events: list[OrderEvent], logs: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    unreachable = WebhookPublisher(
        [Endpoint(f"http://127.0.0.1:{port}/hooks/T0KEN?k=query-s3cret", SECRET, name="erp")]
    )
    with pytest.raises(WebhookDeliveryError, match=r"not accepted by erp \(connection error"):
        unreachable.publish(events[0])

    release = receiver.hold("/slow")  # never answers while the publisher waits
    slow = WebhookPublisher([Endpoint(receiver.url("/slow"), SECRET)], timeout=0.2)
    try:
        with pytest.raises(WebhookDeliveryError, match=r"no answer within 0.2s"):
            slow.publish(events[0])
    finally:
        release.set()

    for secret in (SECRET, "T0KEN", "query-s3cret", EMAIL):
        assert secret not in logs.text
        assert secret not in repr(unreachable)
    assert "webhook orders.create" in logs.text


def test_the_publisher_checks_its_options() -> None:
    with pytest.raises(ValueError, match="timeout must be positive"):
        WebhookPublisher([], timeout=0)
    with pytest.raises(ValueError, match="name must be a non-empty string"):
        WebhookPublisher([], name="")
    with pytest.raises(TypeError, match="expected Endpoint objects"):
        WebhookPublisher(["https://example.com/x"])  # type: ignore[list-item]


# -- the entry point's delivery mode --------------------------------------------------------------


def relay_publishers(oms: OMS) -> list[EventPublisher]:
    """What the relay gets from the ``oms_event_publishers`` hook."""
    return [p for found in oms.plugins.hook.oms_event_publishers(oms=oms) for p in found]


@pytest.mark.parametrize("mode", [None, "", "direct", " Direct "])
def test_direct_mode_gives_the_relay_no_publisher(
    receiver: Receiver, policy: Path, monkeypatch: pytest.MonkeyPatch, mode: str | None
) -> None:
    if mode is None:
        monkeypatch.delenv(DELIVERY_ENV_VAR, raising=False)
    else:
        monkeypatch.setenv(DELIVERY_ENV_VAR, mode)
    monkeypatch.setenv(ENV_VAR, json.dumps([{"url": receiver.url("/env"), "secret": SECRET}]))
    with OMS.open(policy, fresh_database_url()) as oms:
        assert relay_publishers(oms) == []  # or the relay would send every event twice
        oms.create_order("EU")
    assert oms_webhooks.flush(timeout=5)
    assert [r.json["type"] for r in receiver.at("/env")] == ["orders.create"]


def test_outbox_mode_leaves_delivery_to_the_relay(
    receiver: Receiver,
    policy: Path,
    events: list[OrderEvent],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(DELIVERY_ENV_VAR, "outbox")
    monkeypatch.setenv(ENV_VAR, json.dumps([{"url": receiver.url("/env"), "secret": SECRET}]))
    with OMS.open(policy, fresh_database_url()) as oms:
        order = oms.create_order("EU", customer_email=EMAIL)
        oms.add_line_item(order.id, "TEE", 1)
        (publisher,) = relay_publishers(oms)
        assert relay_publishers(oms) == [publisher]  # kept between relay runs
    assert isinstance(publisher, WebhookPublisher)
    assert [endpoint.url for endpoint in publisher.endpoints] == [receiver.url("/env")]
    assert oms_webhooks.flush(timeout=5)  # nothing was scheduled for direct delivery
    assert receiver.at("/env") == []

    publisher.publish(events[0])
    (request,) = receiver.at("/env")
    assert request.json["id"] == events[0].id
    assert verify_signature(SECRET, request.body, request.headers["X-OMS-Signature"])


def test_a_bad_delivery_mode_fails_the_open(policy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DELIVERY_ENV_VAR, "outbx")
    with pytest.raises(PluginError, match="webhooks: OMS_WEBHOOK_DELIVERY must be 'direct' or"):
        OMS.open(policy, fresh_database_url())


def test_a_publisher_passed_in_code_replaces_the_entry_point(
    receiver: Receiver, policy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_VAR, json.dumps([{"url": receiver.url("/env"), "secret": "e"}]))
    publisher = WebhookPublisher([Endpoint(receiver.url("/app"), SECRET)])
    with OMS.open(policy, fresh_database_url(), plugins=[publisher]) as oms:
        assert oms.plugins.manager.get_plugin("webhooks") is publisher
        assert relay_publishers(oms) == [publisher]
        oms.create_order("EU")
    assert oms_webhooks.flush(timeout=5)
    # the entry point's direct delivery is not loaded next to it; the relay has not run
    assert (len(receiver.at("/app")), len(receiver.at("/env"))) == (0, 0)


def test_the_relay_delivers_webhooks_in_outbox_mode(
    receiver: Receiver, policy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DELIVERY_ENV_VAR, "outbox")
    endpoints = [{"url": receiver.url("/env"), "secret": SECRET, "events": ["*"]}]
    monkeypatch.setenv(ENV_VAR, json.dumps(endpoints))
    with OMS.open(policy, fresh_database_url()) as oms:
        first = oms.create_order("EU", customer_email=EMAIL)
        second = oms.create_order("EU")
        oms.add_line_item(first.id, "TEE", 1)
        oms.add_line_item(second.id, "TEE", 2)
        assert receiver.at("/env") == []  # committed, in the outbox, not sent yet

        report = oms.relay_outbox()
        assert report.delivered.get("webhooks") == 4
        assert not any(report.failed.values())
        assert report.waiting == 0
        again = oms.relay_outbox()
        assert not any(again.delivered.values())

    requests = receiver.at("/env")
    assert len(requests) == 4
    assert len({r.json["id"] for r in requests}) == 4
    for order in (first, second):
        mine = [r.json for r in requests if r.json["data"]["id"] == order.id]
        assert [body["type"] for body in mine] == ["orders.create", "orders.add_line_item"]
    assert all(verify_signature(SECRET, r.body, r.headers["X-OMS-Signature"]) for r in requests)
