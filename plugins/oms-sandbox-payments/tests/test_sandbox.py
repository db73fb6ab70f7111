"""The sandbox gateway, called directly: tokens, partial captures, idempotency, its books."""

from __future__ import annotations

import pytest
from oms_sandbox_payments import SANDBOX_TOKENS, SandboxGateway, SandboxGatewayError

from oms_sdk import GatewayResult, Money, PaymentGateway, PaymentRequest


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


@pytest.fixture
def sandbox() -> SandboxGateway:
    return SandboxGateway()


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


def authorize(sandbox: SandboxGateway, key: Keys, amount: str = "100.00") -> str:
    result = sandbox.authorize(request(eur(amount), key(), source="tok_visa"))
    assert result.success
    assert result.reference is not None
    return result.reference


def capture(sandbox: SandboxGateway, key: Keys, authorization: str, amount: str) -> GatewayResult:
    return sandbox.capture(request(eur(amount), key(), reference=authorization))


# -- the protocol -----------------------------------------------------------------------------


def test_sandbox_speaks_the_protocol() -> None:
    assert isinstance(SandboxGateway(), PaymentGateway)
    assert SandboxGateway().name == "sandbox"


# -- sandbox: authorizations ------------------------------------------------------------------


@pytest.mark.parametrize("token", ["tok_visa", "tok_mastercard", "tok_amex"])
def test_sandbox_success_tokens_authorize(sandbox: SandboxGateway, key: Keys, token: str) -> None:
    result = sandbox.authorize(request(eur("25.00"), key(), source=token))

    assert result.success is True
    assert result.amount == eur("25.00")
    assert result.reference is not None
    assert result.reference.startswith("sbx_auth_")
    assert dict(result.metadata) == {"token": token}
    assert result.error_code is None
    authorization = sandbox.authorizations[result.reference]
    assert authorization.amount == eur("25.00")
    assert authorization.captured == eur("0")
    assert authorization.voided is False


def test_sandbox_without_a_source_authorizes_as_tok_visa(sandbox: SandboxGateway) -> None:
    result = sandbox.authorize(request(eur("1.00"), "k"))
    assert result.success
    assert dict(result.metadata) == {"token": "tok_visa"}


@pytest.mark.parametrize(
    ("token", "code", "message"),
    [
        ("tok_chargeDeclined", "card_declined", "Your card was declined."),
        (
            "tok_chargeDeclinedInsufficientFunds",
            "insufficient_funds",
            "Your card has insufficient funds.",
        ),
        ("tok_chargeDeclinedExpiredCard", "expired_card", "Your card has expired."),
    ],
)
def test_sandbox_decline_tokens(
    sandbox: SandboxGateway, key: Keys, token: str, code: str, message: str
) -> None:
    result = sandbox.authorize(request(eur("25.00"), key(), source=token))

    assert result.success is False
    assert result.reference is None
    assert result.amount == eur("25.00")
    assert (result.error_code, result.error_message) == (code, message)
    assert sandbox.authorizations == {}


def test_every_decline_token_is_tested() -> None:
    declining = {token for token, decline in SANDBOX_TOKENS.items() if decline is not None}
    assert declining == {
        "tok_chargeDeclined",
        "tok_chargeDeclinedInsufficientFunds",
        "tok_chargeDeclinedExpiredCard",
    }


def test_sandbox_gateway_error_raises(sandbox: SandboxGateway, key: Keys) -> None:
    with pytest.raises(SandboxGatewayError, match="upstream processor unavailable"):
        sandbox.authorize(request(eur("25.00"), key(), source="tok_gatewayError"))
    assert sandbox.authorizations == {}
    assert issubclass(SandboxGatewayError, RuntimeError)


def test_sandbox_unknown_token_fails(sandbox: SandboxGateway, key: Keys) -> None:
    result = sandbox.authorize(request(eur("25.00"), key(), source="4242424242424242"))
    assert result.success is False
    assert result.error_code == "invalid_payment_source"
    assert result.error_message == "unknown sandbox token '4242424242424242'"
    assert sandbox.authorizations == {}


# -- sandbox: captures, voids, refunds --------------------------------------------------------


def test_partial_captures_up_to_the_authorization(sandbox: SandboxGateway, key: Keys) -> None:
    auth = authorize(sandbox, key, "100.00")

    first = capture(sandbox, key, auth, "30.00")
    second = capture(sandbox, key, auth, "70.00")

    assert first.success
    assert second.success
    assert first.reference != second.reference
    assert first.reference is not None
    assert first.reference.startswith("sbx_cap_")
    assert sandbox.authorizations[auth].captured == eur("100.00")
    assert {c.authorization for c in sandbox.captures.values()} == {auth}
    assert sandbox.captured_total("EUR") == eur("100.00")

    third = capture(sandbox, key, auth, "0.01")
    assert (third.success, third.error_code) == (False, "amount_too_large")
    assert third.error_message == "capture exceeds the authorization"
    assert len(sandbox.captures) == 2


def test_over_capture_fails_and_moves_nothing(sandbox: SandboxGateway, key: Keys) -> None:
    auth = authorize(sandbox, key, "10.00")
    result = capture(sandbox, key, auth, "10.01")
    assert (result.success, result.error_code) == (False, "amount_too_large")
    assert sandbox.captures == {}
    assert sandbox.authorizations[auth].captured == eur("0")


def test_capture_of_an_unknown_authorization_fails(sandbox: SandboxGateway, key: Keys) -> None:
    result = capture(sandbox, key, "sbx_auth_nope", "1.00")
    assert (result.success, result.error_code) == (False, "no_such_authorization")
    missing = sandbox.capture(request(eur("1.00"), key()))  # no reference at all
    assert missing.error_code == "no_such_authorization"


def test_capture_in_another_currency_fails(sandbox: SandboxGateway, key: Keys) -> None:
    auth = authorize(sandbox, key, "10.00")
    result = sandbox.capture(request(Money.parse("1.00", "USD"), key(), reference=auth))
    assert (result.success, result.error_code) == (False, "currency_mismatch")
    assert sandbox.captures == {}


def test_void_then_capture_fails(sandbox: SandboxGateway, key: Keys) -> None:
    auth = authorize(sandbox, key, "50.00")

    void = sandbox.void(request(eur("50.00"), key(), reference=auth))
    assert void.success
    assert void.reference is not None
    assert void.reference.startswith("sbx_void_")
    assert sandbox.authorizations[auth].voided is True

    result = capture(sandbox, key, auth, "1.00")
    assert (result.success, result.error_code) == (False, "authorization_voided")
    assert sandbox.captures == {}

    unknown = sandbox.void(request(eur("1.00"), key(), reference="sbx_auth_nope"))
    assert (unknown.success, unknown.error_code) == (False, "no_such_authorization")


def test_refund_is_bounded_by_its_capture(sandbox: SandboxGateway, key: Keys) -> None:
    auth = authorize(sandbox, key, "100.00")
    cap = capture(sandbox, key, auth, "40.00")
    assert cap.reference is not None

    first = sandbox.refund(request(eur("15.00"), key(), reference=cap.reference))
    second = sandbox.refund(request(eur("25.00"), key(), reference=cap.reference))
    assert first.success
    assert second.success
    assert first.reference is not None
    assert first.reference.startswith("sbx_ref_")
    assert sandbox.captures[cap.reference].refunded == eur("40.00")

    over = sandbox.refund(request(eur("0.01"), key(), reference=cap.reference))
    assert (over.success, over.error_code) == (False, "amount_too_large")
    assert over.error_message == "refund exceeds the capture"
    assert sandbox.refunded_total("EUR") == eur("40.00")

    # a refund refers to a capture, not to the authorization
    wrong = sandbox.refund(request(eur("1.00"), key(), reference=auth))
    assert (wrong.success, wrong.error_code) == (False, "no_such_capture")


def test_captured_and_refunded_totals_per_currency(sandbox: SandboxGateway, key: Keys) -> None:
    assert sandbox.captured_total("EUR") == eur("0")
    assert sandbox.refunded_total("EUR") == eur("0")

    first = authorize(sandbox, key, "30.00")
    second = authorize(sandbox, key, "20.00")
    cap_1 = capture(sandbox, key, first, "30.00")
    capture(sandbox, key, second, "12.34")
    usd_auth = sandbox.authorize(request(Money.parse("9.99", "USD"), key()))
    assert usd_auth.reference is not None
    sandbox.capture(request(Money.parse("9.99", "USD"), key(), reference=usd_auth.reference))
    assert cap_1.reference is not None
    sandbox.refund(request(eur("5.55"), key(), reference=cap_1.reference))

    assert sandbox.captured_total("EUR") == eur("42.34")
    assert sandbox.refunded_total("EUR") == eur("5.55")
    assert sandbox.captured_total("USD") == Money.parse("9.99", "USD")
    assert sandbox.refunded_total("USD") == Money.parse("0", "USD")
    assert sandbox.captured_total("JPY") == Money(0, "JPY")


# -- sandbox: idempotency ---------------------------------------------------------------------


def test_same_key_same_result_and_no_second_capture(sandbox: SandboxGateway, key: Keys) -> None:
    auth = authorize(sandbox, key, "100.00")
    repeated = request(eur("60.00"), "capture-once", reference=auth)

    first = sandbox.capture(repeated)
    again = sandbox.capture(repeated)

    assert again == first
    assert len(sandbox.captures) == 1
    assert sandbox.authorizations[auth].captured == eur("60.00")
    assert sandbox.captured_total("EUR") == eur("60.00")


def test_same_key_same_authorization(sandbox: SandboxGateway) -> None:
    repeated = request(eur("10.00"), "auth-once", source="tok_visa")
    assert sandbox.authorize(repeated) == sandbox.authorize(repeated)
    assert len(sandbox.authorizations) == 1


def test_same_key_same_decline(sandbox: SandboxGateway) -> None:
    repeated = request(eur("10.00"), "decline-once", source="tok_chargeDeclined")
    first = sandbox.authorize(repeated)
    assert sandbox.authorize(repeated) == first
    assert first.error_code == "card_declined"


def test_same_key_same_refund(sandbox: SandboxGateway, key: Keys) -> None:
    auth = authorize(sandbox, key, "10.00")
    cap = capture(sandbox, key, auth, "10.00")
    assert cap.reference is not None
    repeated = request(eur("4.00"), "refund-once", reference=cap.reference)
    first = sandbox.refund(repeated)
    assert sandbox.refund(repeated) == first
    assert sandbox.refunded_total("EUR") == eur("4.00")


def test_same_key_for_another_operation_is_another_movement(
    sandbox: SandboxGateway, key: Keys
) -> None:
    auth = authorize(sandbox, key, "10.00")
    captured = sandbox.capture(request(eur("4.00"), "shared", reference=auth))
    voided = sandbox.void(request(eur("6.00"), "shared", reference=auth))
    assert captured.success
    assert voided.success
    assert captured.reference != voided.reference


def test_a_failed_answer_is_replayed_too(sandbox: SandboxGateway, key: Keys) -> None:
    auth = authorize(sandbox, key, "10.00")
    too_much = request(eur("20.00"), "retry", reference=auth)
    assert sandbox.capture(too_much).error_code == "amount_too_large"
    assert sandbox.capture(too_much).error_code == "amount_too_large"
    assert sandbox.captures == {}
