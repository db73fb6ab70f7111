"""The conformance suite on the built-in manual gateway, and the suite itself on broken ones."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Mapping

import pytest

from oms_sdk import GatewayResult, Money, PaymentRequest
from oms_sdk.payments import ManualGateway
from oms_sdk.testing import OPTIONAL_RULES, RULES, ConformanceFailure, GatewayConformance, Rule

# -- the manual gateway ---------------------------------------------------------------------------


class TestManualGatewayConformance(GatewayConformance):
    """``manual`` records what an operator confirms: every operation succeeds.

    It keeps no balances, so it cannot refuse amounts; the SDK bounds every amount by the
    order's own ledger (``PaymentAmountError``) and refuses another currency before any
    gateway is called. It cannot decline, so ``decline`` does not apply, and the one-effect half
    of idempotency cannot be observed through its answers (it is skipped, naming why).
    """

    currency = "EUR"
    success_source = None  # no token: money moves outside any gateway
    decline_source = None
    supports_partial_capture = True
    opt_outs: Mapping[Rule, str] = {
        Rule.OVER_CAPTURE_REFUSED: (
            "manual keeps no balance of what was authorized; the SDK bounds captures by the "
            "order's ledger before calling it"
        ),
        Rule.CAPTURE_AFTER_VOID_REFUSED: (
            "manual keeps no state per authorization; the SDK refuses to capture a voided "
            "order (its lifecycle guards) before calling it"
        ),
        Rule.OVER_REFUND_REFUSED: (
            "manual keeps no balance of what was captured; the SDK bounds refunds by the "
            "order's ledger before calling it"
        ),
        Rule.CURRENCY_MISMATCH_REFUSED: (
            "manual does not remember the authorization's currency; the SDK refuses amounts "
            "in another currency than the order's before calling any gateway"
        ),
    }

    @pytest.fixture
    def gateway(self) -> ManualGateway:
        return ManualGateway()


# -- the suite judges gateways by their answers --------------------------------------------------


class Leaky(ManualGateway):
    """A gateway with one configurable defect, for checking the suite's verdicts."""

    def __init__(self, defect: str) -> None:
        super().__init__()
        self.defect = defect
        self.captured: dict[str, int] = {}
        self.authorized: dict[str, int] = {}

    def authorize(self, request: PaymentRequest) -> GatewayResult:
        if self.defect == "raises":
            raise RuntimeError("processor down")
        if self.defect == "wrong_amount":
            return GatewayResult.ok(request.amount + Money(1, request.amount.currency), "ref")
        if self.defect == "pending":
            return GatewayResult.requires_action(request.amount, "act_1")
        if self.defect == "forgetful":  # no idempotency at all
            return GatewayResult.ok(request.amount, f"auth_{uuid.uuid4().hex}")
        result = super().authorize(request)
        assert result.reference is not None
        self.authorized[result.reference] = request.amount.minor
        return result

    def capture(self, request: PaymentRequest) -> GatewayResult:
        if self.defect == "silent_refusal":
            return GatewayResult(False, request.amount)
        if self.defect == "double_capture":  # answers the first result, but moves money again
            reference = request.reference or ""
            taken = self.captured.get(reference, 0) + request.amount.minor
            if taken > self.authorized.get(reference, 0):
                return GatewayResult.failed(request.amount, "amount_too_large", "too much")
            self.captured[reference] = taken
        return super().capture(request)


def verdict(defect: str, test: str, **settings: object) -> ConformanceFailure:
    """Run one rule of the suite against a ``Leaky`` gateway; the failure it reports."""
    suite = type("Suite", (GatewayConformance,), dict(settings))()
    with pytest.raises(ConformanceFailure) as caught:
        getattr(suite, test)(Leaky(defect))
    return caught.value


def test_an_exception_breaks_result_shape() -> None:
    failure = verdict("raises", "test_authorize")
    assert failure.rule is Rule.RESULT_SHAPE
    assert "RuntimeError: processor down" in str(failure)
    assert str(failure).startswith("gateway 'manual' breaks conformance rule 'result_shape'")


def test_a_wrong_amount_breaks_result_shape() -> None:
    failure = verdict("wrong_amount", "test_authorize")
    assert failure.rule is Rule.RESULT_SHAPE
    assert "answered the amount Money(10001, 'EUR')" in failure.detail


def test_a_pending_authorization_breaks_authorize() -> None:
    assert verdict("pending", "test_authorize").rule is Rule.AUTHORIZE


def test_a_refusal_without_an_error_code_breaks_result_shape() -> None:
    failure = verdict("silent_refusal", "test_capture_full")
    assert failure.rule is Rule.RESULT_SHAPE
    assert "'declined'" in failure.detail


def test_a_gateway_without_idempotency_breaks_idempotent_retry() -> None:
    failure = verdict("forgetful", "test_idempotent_retry")
    assert failure.rule is Rule.IDEMPOTENT_RETRY
    assert "authorize with key" in failure.detail


def test_same_answer_but_two_effects_breaks_idempotent_one_effect() -> None:
    failure = verdict("double_capture", "test_idempotent_one_effect")
    assert failure.rule is Rule.IDEMPOTENT_ONE_EFFECT
    assert "left after a retried capture" in failure.detail
    # the retry rule alone cannot see it: the answers are identical
    suite = type("Suite", (GatewayConformance,), {})()
    suite.test_idempotent_retry(Leaky("double_capture"))


def test_an_unkept_optional_rule_says_how_to_opt_out() -> None:
    failure = verdict("none", "test_over_capture_refused")
    assert failure.rule is Rule.OVER_CAPTURE_REFUSED
    assert "opt_outs = {Rule.OVER_CAPTURE_REFUSED: '<why>'}" in str(failure)
    assert "capture of 70.01 EUR when 70.00 EUR is left" in failure.detail


def test_an_opt_out_reports_xfail_with_its_reason() -> None:
    suite = type("Suite", (GatewayConformance,), {"opt_outs": {Rule.OVER_CAPTURE_REFUSED: "why"}})()
    with pytest.raises(
        pytest.xfail.Exception, match="opted out of rule 'over_capture_refused': why"
    ):
        suite.test_over_capture_refused(ManualGateway())


def test_an_opt_out_of_a_kept_rule_fails() -> None:
    from oms_sandbox_payments import SandboxGateway

    suite = type("Suite", (GatewayConformance,), {"opt_outs": {Rule.OVER_CAPTURE_REFUSED: "why"}})()
    with pytest.raises(pytest.fail.Exception, match="remove 'over_capture_refused' from opt_outs"):
        suite.test_over_capture_refused(SandboxGateway())


def test_a_rule_observed_through_an_opted_out_one_is_skipped_with_the_reason() -> None:
    suite = type("Suite", (GatewayConformance,), {"opt_outs": {Rule.OVER_REFUND_REFUSED: "why"}})()
    with pytest.raises(pytest.skip.Exception, match=r"through rule 'over_refund_refused'.*why"):
        suite.test_idempotent_one_effect(ManualGateway())


@pytest.mark.parametrize(
    ("opt_outs", "message"),
    [
        ({Rule.IDEMPOTENT_RETRY: "no"}, "'idempotent_retry' cannot be opted out of"),
        ({Rule.OVER_REFUND_REFUSED: " "}, "needs a reason"),
        ({"over_refund_refused": "why"}, "is not a Rule"),
    ],
)
def test_misconfigured_opt_outs_fail_every_rule(opt_outs: object, message: str) -> None:
    suite = type("Suite", (GatewayConformance,), {"opt_outs": opt_outs})()
    with pytest.raises(pytest.fail.Exception, match=message):
        suite.test_protocol(ManualGateway())


def test_a_subclass_without_a_gateway_fixture_is_told_so() -> None:
    class TestNothing(GatewayConformance):
        pass

    with pytest.raises(pytest.fail.Exception, match="must define a `gateway` fixture"):
        GatewayConformance.gateway.__wrapped__(TestNothing())  # type: ignore[attr-defined]


def test_every_rule_has_a_description_and_a_test() -> None:
    assert set(RULES) == set(Rule)
    tests = {
        getattr(member, "conformance_rule", None) for member in vars(GatewayConformance).values()
    }
    assert tests - {None} == set(Rule)
    assert set(Rule) > OPTIONAL_RULES


def test_importing_oms_sdk_does_not_import_pytest() -> None:
    script = "import sys, oms_sdk, oms_sdk.cli; print('pytest' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
