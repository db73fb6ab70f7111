"""The built-in ``manual`` gateway and the gateway result shape, called directly."""

from __future__ import annotations

import pytest

from oms_sdk.money import Money
from oms_sdk.payments import (
    GatewayResult,
    ManualGateway,
    PaymentGateway,
    PaymentRequest,
)


def eur(amount: str) -> Money:
    return Money.parse(amount, "EUR")


class Keys:
    """Fresh idempotency keys, one per money movement."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> str:
        self.count += 1
        return f"key-{self.count}"


@pytest.fixture
def key() -> Keys:
    return Keys()


def request(
    amount: Money,
    key: str,
    *,
    source: str | None = None,
    reference: str | None = None,
) -> PaymentRequest:
    return PaymentRequest(
        order_number="EU-000001",
        amount=amount,
        idempotency_key=key,
        payment_source=source,
        reference=reference,
    )


# -- the protocol -----------------------------------------------------------------------------


def test_builtin_gateways_speak_the_protocol() -> None:
    assert isinstance(ManualGateway(), PaymentGateway)
    assert ManualGateway.name == "manual"


def test_gateway_result_constructors() -> None:
    ok = GatewayResult.ok(eur("1.00"), "ref-1", token="tok_visa")
    assert (ok.success, ok.amount, ok.reference, dict(ok.metadata)) == (
        True,
        eur("1.00"),
        "ref-1",
        {"token": "tok_visa"},
    )
    assert (ok.error_code, ok.error_message) == (None, None)
    failed = GatewayResult.failed(eur("1.00"), "card_declined", "no")
    assert (failed.success, failed.reference, failed.error_code, failed.error_message) == (
        False,
        None,
        "card_declined",
        "no",
    )


# -- manual -----------------------------------------------------------------------------------


@pytest.mark.parametrize("operation", ["authorize", "capture", "void", "refund"])
def test_manual_gateway_always_succeeds(operation: str) -> None:
    manual = ManualGateway()
    result = getattr(manual, operation)(request(eur("12.34"), "m-1", reference="anything"))
    assert result.success is True
    assert result.amount == eur("12.34")
    assert result.reference.startswith(f"manual_{operation}_")
    assert result.error_code is None


def test_manual_gateway_is_idempotent() -> None:
    manual = ManualGateway()
    first = manual.capture(request(eur("5.00"), "m-1"))
    assert manual.capture(request(eur("5.00"), "m-1")) == first
    other = manual.capture(request(eur("5.00"), "m-2"))
    assert other.reference != first.reference
    assert manual.refund(request(eur("5.00"), "m-1")).reference != first.reference


def test_manual_gateway_needs_no_payment_source() -> None:
    manual = ManualGateway()
    result = manual.authorize(request(eur("99.00"), "m-1", source=None))
    assert result.success
    assert result.amount == eur("99.00")
