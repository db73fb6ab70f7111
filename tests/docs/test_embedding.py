"""docs/embedding.md: the example web application works over HTTP, and the page shows it as is.

The app runs through FastAPI's ``TestClient`` (its lifespan included) on a fresh database:
in-memory SQLite, or a new PostgreSQL schema when ``OMS_TEST_DATABASE_URL`` is set.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import markdown
import pytest
from fastapi.testclient import TestClient
from oms_sandbox_payments import SandboxGateway

import oms_sdk
from oms_sdk import (
    OMS,
    OMSError,
    OrderError,
    OrderView,
    PaymentActionRequired,
    PaymentDeclined,
    PaymentOutcomeUnknown,
    TransitionNotAllowed,
)
from oms_sdk.testing import fresh_database_url

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGE = DOCS / "embedding.md"
WEBAPP = DOCS / "examples" / "webapp"
SHOWN = ("examples/webapp/app.py", "examples/webapp/session.py")

ADDRESS = {
    "name": "Giulia Rossi",
    "line1": "Via Torino 12",
    "city": "Milano",
    "postal_code": "20123",
    "country": "IT",
}
OFFICE = {**ADDRESS, "name": "Rossi S.r.l.", "line1": "Corso Como 1", "postal_code": "20154"}


def load(name: str) -> ModuleType:
    """``docs/examples/webapp/<name>.py``, imported under a private module name."""
    private = f"_embedding_example_{name}"
    spec = importlib.util.spec_from_file_location(private, WEBAPP / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[private] = module  # pydantic finds the request models' module there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def webapp() -> ModuleType:
    return load("app")


@pytest.fixture
def client(webapp: ModuleType, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The app started as a deployment starts it: configured by the environment."""
    monkeypatch.setenv("OMS_DATABASE_URL", fresh_database_url())
    monkeypatch.delenv("OMS_POLICY_PATH", raising=False)
    with TestClient(webapp.app) as client:
        yield client


def oms_of(client: TestClient) -> OMS:
    oms: OMS = client.app.state.oms  # type: ignore[attr-defined]
    return oms


def sandbox_of(client: TestClient) -> SandboxGateway:
    gateway = oms_of(client).gateways["sandbox"]
    assert isinstance(gateway, SandboxGateway)
    return gateway


def key(value: str) -> dict[str, str]:
    return {"Idempotency-Key": value}


def eur(minor: int) -> dict[str, Any]:
    return {"minor": minor, "currency": "EUR"}


def ok(response: Any, status: int = 200) -> dict[str, Any]:
    """The body of a response that must have ``status``; the failure shows the body."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def cart(client: TestClient, token: str = "tok_visa", *, name: str = "c") -> str:
    """A pending EU cart paid by card with ``token``: 2 T-shirts and a mug, 74.30 EUR."""
    order = ok(client.post("/orders", json={"market": "EU"}, headers=key(f"{name}-new")), 201)
    oid: str = order["id"]
    ok(client.post(f"/orders/{oid}/lines", json={"sku": "TEE-ORG-M", "quantity": 2}))
    ok(client.post(f"/orders/{oid}/lines", json={"sku": "MUG-CER-350", "quantity": 1}))
    ok(client.put(f"/orders/{oid}/customer", json={"email": "giulia@example.com"}))
    ok(client.put(f"/orders/{oid}/addresses", json={"billing": OFFICE, "shipping": ADDRESS}))
    ok(client.put(f"/orders/{oid}/shipping-method", json={"code": "standard"}))
    body = {"code": "card", "payment_source": token}
    view = ok(client.put(f"/orders/{oid}/payment-method", json=body, headers=key(f"{name}-pay")))
    assert (view["status"], view["totals"]["total"]) == ("pending", eur(7430))
    return oid


# -- a checkout over HTTP ------------------------------------------------------------------------


def test_checkout_capture_and_partial_refund(client: TestClient) -> None:
    created = client.post(
        "/orders", json={"market": "EU", "customer_email": "x@example.com"}, headers=key("k1")
    )
    order = ok(created, 201)
    oid = order["id"]
    assert created.headers["Location"] == f"/orders/{oid}"
    assert (order["status"], order["number"]) == ("draft", "EU-000001")

    lines = {"sku": "TEE-ORG-M", "quantity": 2}
    ok(client.post(f"/orders/{oid}/lines", json=lines, headers=key("k2")))
    ok(client.post(f"/orders/{oid}/lines", json={"sku": "MUG-CER-350"}, headers=key("k3")))
    customer = {"email": "giulia@example.com"}
    ok(client.put(f"/orders/{oid}/customer", json=customer, headers=key("k4")))
    addresses = {"billing": OFFICE, "shipping": ADDRESS}
    ok(client.put(f"/orders/{oid}/addresses", json=addresses, headers=key("k5")))
    ok(client.put(f"/orders/{oid}/shipping-method", json={"code": "standard"}, headers=key("k6")))
    payment = {"code": "card", "payment_source": "tok_visa"}
    view = ok(client.put(f"/orders/{oid}/payment-method", json=payment, headers=key("k7")))
    assert view["customer_email"] == "giulia@example.com"
    assert (view["billing_address"]["name"], view["shipping_address"]["name"]) == (
        "Rossi S.r.l.",
        "Giulia Rossi",
    )
    assert [(line["sku"], line["quantity"]) for line in view["lines"]] == [
        ("TEE-ORG-M", 2),
        ("MUG-CER-350", 1),
    ]
    assert view["totals"]["shipping"] == eur(0)  # free over 50.00 in Italy
    assert view["totals"]["total"] == eur(7430)

    placed = ok(client.post(f"/orders/{oid}/place", headers=key("k8")))
    assert (placed["status"], placed["payment_status"]) == ("placed", "authorized")
    assert placed["authorized"] == eur(7430)

    captured = ok(client.post(f"/orders/{oid}/capture", headers=key("k9")))
    assert (captured["status"], captured["payment_status"]) == ("placed", "paid")
    assert captured["captured"] == eur(7430)

    ten = {"amount": "10.00"}
    refunded = ok(client.post(f"/orders/{oid}/refunds", json=ten, headers=key("k10")))
    assert (refunded["status"], refunded["payment_status"]) == ("placed", "partially_refunded")
    assert refunded["refunded"] == eur(1000)
    assert [(t["kind"], t["amount"], t["succeeded"]) for t in refunded["transactions"]] == [
        ("authorization", eur(7430), True),
        ("capture", eur(7430), True),
        ("refund", eur(1000), True),
    ]

    sandbox = sandbox_of(client)
    assert sandbox.captured_total("EUR").minor == 7430
    assert sandbox.refunded_total("EUR").minor == 1000
    # The body is the SDK's OrderView, dumped in JSON mode.
    fetched = ok(client.get(f"/orders/{placed['number']}"))
    assert fetched == oms_of(client).get_order(oid).model_dump(mode="json") == refunded
    assert OrderView.model_validate(fetched).refunded == oms_sdk.Money(1000, "EUR")


def test_a_capture_of_part_then_the_rest(client: TestClient) -> None:
    oid = cart(client)
    ok(client.post(f"/orders/{oid}/place"))
    part = ok(client.post(f"/orders/{oid}/capture", json={"amount": "30.00"}))
    assert (part["payment_status"], part["captured"]) == ("partially_paid", eur(3000))
    rest = ok(client.post(f"/orders/{oid}/capture", json={}))
    assert (rest["payment_status"], rest["captured"]) == ("paid", eur(7430))


def test_a_cancel_voids_the_authorization(client: TestClient) -> None:
    oid = cart(client)
    ok(client.post(f"/orders/{oid}/place"))
    cancelled = ok(client.post(f"/orders/{oid}/cancel", headers=key("bye")))
    assert (cancelled["status"], cancelled["payment_status"]) == ("cancelled", "voided")


# -- idempotency ---------------------------------------------------------------------------------


def test_a_retry_with_the_same_key_answers_the_same_and_moves_no_money(
    client: TestClient,
) -> None:
    first_cart = client.post("/orders", json={"market": "EU"}, headers=key("new-cart"))
    again_cart = client.post("/orders", json={"market": "EU"}, headers=key("new-cart"))
    assert again_cart.json() == ok(first_cart, 201)
    assert again_cart.status_code == 201
    assert len(oms_of(client).list_orders()) == 1

    oid = cart(client)
    sandbox = sandbox_of(client)
    for path, body in [
        ("place", None),
        ("capture", {"amount": "50.00"}),
        ("refunds", {"amount": "20.00"}),
    ]:
        url, headers = f"/orders/{oid}/{path}", key(f"{path}-once")
        first = ok(client.post(url, json=body, headers=headers))
        calls, ledger = sandbox.calls, oms_of(client).get_order(oid).transactions
        retry = ok(client.post(url, json=body, headers=headers))
        assert retry == first, path
        assert sandbox.calls == calls, f"a retried {path} called the gateway"
        assert oms_of(client).get_order(oid).transactions == ledger, path

    view = ok(client.get(f"/orders/{oid}"))
    assert (view["captured"], view["refunded"]) == (eur(5000), eur(2000))
    assert sandbox.captured_total("EUR").minor == 5000
    assert sandbox.refunded_total("EUR").minor == 2000


def test_one_key_for_two_requests_is_a_conflict(client: TestClient) -> None:
    oid = cart(client)
    ok(client.post(f"/orders/{oid}/place"))
    ok(client.post(f"/orders/{oid}/capture", json={"amount": "10.00"}, headers=key("same")))
    other = client.post(f"/orders/{oid}/capture", json={"amount": "20.00"}, headers=key("same"))
    assert other.status_code == 409
    assert other.json()["error"] == "IdempotencyConflict"
    assert ok(client.get(f"/orders/{oid}"))["captured"] == eur(1000)


def test_a_key_longer_than_the_store_keeps_is_refused(client: TestClient) -> None:
    oid = cart(client)
    response = client.post(f"/orders/{oid}/place", headers=key("k" * 256))
    assert response.status_code == 422
    assert ok(client.get(f"/orders/{oid}"))["status"] == "pending"


# -- payments that fail or wait ------------------------------------------------------------------


def test_a_declined_card_is_402_with_the_code_and_the_order_stays_pending(
    client: TestClient,
) -> None:
    oid = cart(client, "tok_chargeDeclined")
    declined = client.post(f"/orders/{oid}/place", headers=key("place-1"))
    assert declined.status_code == 402
    body = declined.json()
    assert (body["error"], body["code"], body["order"]) == (
        "PaymentDeclined",
        "card_declined",
        "EU-000001",
    )
    assert "card_declined" in body["detail"]

    view = ok(client.get(f"/orders/{oid}"))
    assert (view["status"], view["payment_status"]) == ("pending", "unpaid")
    assert [(t["kind"], t["succeeded"], t["error_code"]) for t in view["transactions"]] == [
        ("authorization", False, "card_declined")
    ]

    # Another card, then a new attempt: placed.
    another = {"code": "card", "payment_source": "tok_mastercard"}
    ok(client.put(f"/orders/{oid}/payment-method", json=another))
    placed = ok(client.post(f"/orders/{oid}/place", headers=key("place-2")))
    assert (placed["status"], placed["payment_status"]) == ("placed", "authorized")


def test_a_gateway_without_an_answer_is_502_and_the_same_key_asks_again(
    client: TestClient,
) -> None:
    oid = cart(client, "tok_gatewayError")
    for _ in range(2):  # the retry, with the same key, asks the gateway again
        silent = client.post(f"/orders/{oid}/place", headers=key("place-1"))
        assert silent.status_code == 502
        assert silent.headers["Retry-After"] == "10"
        assert silent.json() == {  # no gateway internals
            "error": "PaymentOutcomeUnknown",
            "detail": "Bad Gateway",
            "order": "EU-000001",
        }
    (pending,) = ok(client.get(f"/orders/{oid}"))["transactions"]
    assert (pending["kind"], pending["pending"]) == ("authorization", True)

    # Until the payment is settled (reconcile, or an operator), the order takes no command.
    other = client.post(f"/orders/{oid}/cancel", headers=key("cancel-1"))
    assert (other.status_code, other.json()["error"]) == (409, "ConcurrentModification")
    assert "OMS.reconcile()" in other.json()["detail"]


def test_three_d_secure_answers_202_until_the_customer_is_done(client: TestClient) -> None:
    oid = cart(client, "tok_threeDSecureRequired")
    waiting = client.post(f"/orders/{oid}/place", headers=key("place-1"))
    assert waiting.status_code == 202
    body = waiting.json()
    assert (body["error"], body["order"]) == ("PaymentActionRequired", "EU-000001")
    action = body["action_id"]
    (pending,) = ok(client.get(f"/orders/{oid}"))["transactions"]
    assert (pending["kind"], pending["pending"], pending["action_id"]) == (
        "authorization",
        True,
        action,
    )

    complete = f"/orders/{oid}/payment-actions/{action}/complete"
    still = client.post(complete, headers=key("complete-1"))
    assert still.status_code == 202
    assert still.json()["transactions"][0]["pending"]

    sandbox_of(client).resolve_action(action)  # the customer passed the challenge
    done = ok(client.post(complete, headers=key("complete-2")))
    assert (done["status"], done["payment_status"]) == ("pending", "authorized")

    placed = ok(client.post(f"/orders/{oid}/place", headers=key("place-2")))
    assert (placed["status"], placed["payment_status"]) == ("placed", "authorized")
    assert len(sandbox_of(client).authorizations) == 1


def test_a_failed_challenge_is_402(client: TestClient) -> None:
    oid = cart(client, "tok_threeDSecureRequired")
    action = client.post(f"/orders/{oid}/place").json()["action_id"]
    sandbox_of(client).resolve_action(action, succeeded=False)
    failed = client.post(f"/orders/{oid}/payment-actions/{action}/complete")
    assert failed.status_code == 402
    assert failed.json()["code"] == "authentication_failed"
    assert ok(client.get(f"/orders/{oid}"))["payment_status"] == "unpaid"


# -- refusals ------------------------------------------------------------------------------------


def test_an_illegal_transition_is_409(client: TestClient) -> None:
    oid = cart(client)
    early = client.post(f"/orders/{oid}/capture", headers=key("too-early"))
    assert early.status_code == 409
    assert early.json()["error"] == "TransitionNotAllowed"
    assert early.json()["detail"].startswith("cannot capture order EU-000001 (pending/")

    ok(client.post(f"/orders/{oid}/place"))
    late = client.post(f"/orders/{oid}/lines", json={"sku": "TOTE-CNV"})
    assert late.status_code == 409
    assert "only draft and pending orders can be edited" in late.json()["detail"]

    ok(client.post(f"/orders/{oid}/cancel"))
    after = client.post(f"/orders/{oid}/capture")
    assert (after.status_code, after.json()["error"]) == (409, "TransitionNotAllowed")
    assert ok(client.get(f"/orders/{oid}"))["captured"] == eur(0)


def test_more_than_is_left_is_409(client: TestClient) -> None:
    oid = cart(client)
    ok(client.post(f"/orders/{oid}/place"))
    ok(client.post(f"/orders/{oid}/capture"))
    too_much = client.post(f"/orders/{oid}/refunds", json={"amount": "74.31"})
    assert (too_much.status_code, too_much.json()["error"]) == (409, "PaymentAmountError")


def test_an_unknown_order_is_404(client: TestClient) -> None:
    for response in (
        client.get("/orders/EU-999999"),
        client.post("/orders/nope/place"),
        client.post("/orders/nope/refunds", json={"amount": "1.00"}),
    ):
        assert response.status_code == 404
        assert response.json()["error"] == "OrderNotFound"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"amount": 10.0}, "RequestValidationError"),  # a float
        ({"amount": 10}, "RequestValidationError"),  # ten euros or ten cents?
        ({"amount": "ten"}, "RequestValidationError"),
        ({"amount": "-5.00"}, "RequestValidationError"),
        ({"ammount": "5.00"}, "RequestValidationError"),  # would have captured everything
        ({"amount": "5.001"}, "MoneyError"),  # more decimals than EUR has
    ],
)
def test_an_amount_that_is_not_exact_is_422(
    client: TestClient, body: dict[str, Any], error: str
) -> None:
    oid = cart(client)
    ok(client.post(f"/orders/{oid}/place"))
    refused = client.post(f"/orders/{oid}/capture", json=body)
    assert refused.status_code == 422
    assert refused.json()["error"] == error
    assert ok(client.get(f"/orders/{oid}"))["captured"] == eur(0)


def test_input_the_market_does_not_have_is_422(client: TestClient) -> None:
    oid = cart(client)
    unknown = client.post(f"/orders/{oid}/lines", json={"sku": "NOPE"})
    assert (unknown.status_code, unknown.json()["error"]) == (422, "InvalidOrderInput")
    fractional = client.post(f"/orders/{oid}/lines", json={"sku": "TOTE-CNV", "quantity": 1.5})
    assert fractional.status_code == 422


def test_the_policy_path_comes_from_the_environment(
    webapp: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMS_POLICY_PATH", str(ROOT / "config_examples" / "eu.yaml"))
    monkeypatch.setenv("OMS_DATABASE_URL", fresh_database_url())
    with TestClient(webapp.app) as client:
        refused = client.post("/orders", json={"market": "JP"})
        assert refused.status_code == 422
        assert "unknown market 'JP' (known: EU)" in refused.json()["detail"]


def test_the_openapi_document_builds(client: TestClient) -> None:
    paths = ok(client.get("/openapi.json"))["paths"]
    assert "/orders/{order_id}/payment-actions/{action_id}/complete" in paths


# -- the error table -----------------------------------------------------------------------------


def page() -> str:
    return PAGE.read_text(encoding="utf-8")


def error_table() -> list[tuple[str, int]]:
    """``(error class, status)`` for each row of the page's error table."""
    text = page()
    start = text.index("| Error | Status |")
    rows: list[tuple[str, int]] = []
    for line in text[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        error, status = (cell.strip() for cell in line.strip("|").split("|")[:2])
        name = re.fullmatch(r"`(\w+)`", error)
        number = re.match(r"(\d{3})\b", status)
        assert name, line
        assert number, line
        rows.append((name.group(1), int(number.group(1))))
    return rows


def example(name: str) -> OMSError:
    """An instance of the SDK error ``name``, as the SDK would raise it."""
    cls = getattr(oms_sdk, name)
    if cls is TransitionNotAllowed:
        return TransitionNotAllowed(
            order="EU-000042",
            trigger="capture",
            status="cancelled",
            payment_status="voided",
            fulfillment_status="unfulfilled",
            reasons=["status is cancelled"],
        )
    if cls is PaymentDeclined:
        return PaymentDeclined(
            "declined", order="EU-000042", error_code="card_declined", transaction_id="t"
        )
    if cls is PaymentActionRequired:
        return PaymentActionRequired("3-D Secure", order="EU-000042", action_id="act_1")
    if cls is PaymentOutcomeUnknown:
        return PaymentOutcomeUnknown("no answer", order="EU-000042", transaction_id="t")
    error: OMSError = (
        cls("refused", order="EU-000042") if issubclass(cls, OrderError) else cls("refused")
    )
    return error


def test_the_error_table_is_what_the_app_answers(webapp: ModuleType) -> None:
    rows = error_table()
    assert [name for name, _ in rows] == [cls.__name__ for cls in webapp.STATUS_OF]
    for name, status in rows:
        error = example(name)
        response = webapp.error_response(error)
        assert response.status_code == status, name
        body = json.loads(response.body)
        assert body["error"] == name
        if isinstance(error, OrderError):
            assert body["order"] == "EU-000042"


def test_every_error_a_command_raises_has_a_status(webapp: ModuleType) -> None:
    """Only the errors of startup (policies, plugins, the schema) are left to answer 500.

    The base classes are never raised themselves.
    """
    bases = {"OMSError", "OrderError", "PaymentError"}
    startup = {*bases, "PolicyError", "PluginError", "DatabaseNotUpToDate"}
    mapped = {cls.__name__ for cls in webapp.STATUS_OF}
    for name in oms_sdk.__all__:
        cls = getattr(oms_sdk, name)
        if isinstance(cls, type) and issubclass(cls, OMSError) and name not in startup:
            assert any(issubclass(cls, getattr(oms_sdk, m)) for m in mapped), name


def test_extra_fields_tell_the_client_what_to_do(webapp: ModuleType) -> None:
    busy = webapp.error_response(example("ConcurrentModification"))
    assert busy.headers["Retry-After"] == "1"
    declined = json.loads(webapp.error_response(example("PaymentDeclined")).body)
    assert declined["code"] == "card_declined"
    action = json.loads(webapp.error_response(example("PaymentActionRequired")).body)
    assert action["action_id"] == "act_1"
    assert webapp.error_response(example("PluginError")).status_code == 500


# -- the page ------------------------------------------------------------------------------------

#: A fenced block: its language and its body.
_FENCE = re.compile(r"^```(\w+)\n(.*?)^```$", re.S | re.M)
#: A block that is one snippet include: ``--8<-- "path"`` or ``--8<-- "path:section"``.
_INCLUDE = re.compile(r'--8<-- "([^":]+)(?::(\w+))?"\n')
_MARKER = re.compile(r"^[ \t]*# --8<-- \[(?:start|end):\w+\]\n", re.M)


def fences() -> list[tuple[str, str]]:
    return _FENCE.findall(page())


def expanded_page() -> str:
    """The page as mkdocs renders its Markdown: every snippet include replaced by the file."""
    snippets = markdown.Markdown(
        extensions=["pymdownx.snippets"],
        extension_configs={"pymdownx.snippets": {"base_path": [str(DOCS)], "check_paths": True}},
    )
    return "\n".join(snippets.preprocessors["snippet"].run(page().splitlines()))


def test_every_python_block_is_an_included_file_that_the_tests_run() -> None:
    included = []
    for language, body in fences():
        assert language in {"python", "json", "mermaid"}, f"an untested {language} block"
        if language == "python":
            match = _INCLUDE.fullmatch(body)
            assert match, f"a Python block that is not an included file: {body[:60]!r}"
            included.append(match.groups())
    assert included == [
        ("examples/webapp/app.py", "lifespan"),
        ("examples/webapp/app.py", "refund"),
        ("examples/webapp/app.py", None),
        ("examples/webapp/session.py", None),
    ]
    for name in SHOWN:
        assert (DOCS / name).is_file()


def test_the_page_shows_the_example_files_whole() -> None:
    expanded = expanded_page()
    assert "--8<--" not in expanded
    for name in SHOWN:
        source = _MARKER.sub("", (DOCS / name).read_text(encoding="utf-8"))
        assert f"```python\n{source}" in expanded, name


def test_the_pages_error_body_is_what_a_decline_answers(client: TestClient) -> None:
    (shown,) = [json.loads(body) for language, body in fences() if language == "json"]
    oid = cart(client, "tok_chargeDeclined")
    assert client.post(f"/orders/{oid}/place").json() == shown


def test_the_pages_http_session_runs(client: TestClient) -> None:
    order = load("session").checkout(client)
    view = oms_of(client).get_order(order)
    assert (view.status, view.payment_status) == ("placed", "partially_refunded")
    assert len([t for t in view.transactions if t.kind == "refund"]) == 1
