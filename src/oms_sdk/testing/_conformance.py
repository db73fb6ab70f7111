"""The gateway conformance suite: what the SDK relies on when it moves money through a gateway.

Subclass ``GatewayConformance`` in a test module (name the subclass ``Test…``), give it a
``gateway`` fixture and describe how to drive the gateway::

    class TestMyGateway(GatewayConformance):
        currency = "EUR"
        success_source = "tok_ok"        # a payment source that authorizes
        decline_source = "tok_declined"  # one that declines; None if the gateway cannot decline

        @pytest.fixture
        def gateway(self) -> MyGateway:
            return MyGateway()

Every test is one ``Rule``. A broken rule fails with ``ConformanceFailure``, whose message
names the rule, says what it requires and what the gateway answered. A gateway that cannot
keep an *optional* rule declares it in ``opt_outs`` with the reason; the rule's test then
still runs and is reported ``xfail`` with that reason, and it fails once the gateway keeps the
rule after all (so the opt-out cannot outlive its reason). Required rules cannot be opted out.

The suite talks to the gateway only through the ``PaymentGateway`` protocol and judges it only
by the ``GatewayResult``\\ s it answers: no gateway-specific introspection.
"""

from __future__ import annotations

import functools
import itertools
import uuid
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any, ClassVar, TypeVar, cast

import pytest

from oms_sdk.money import CURRENCY_EXPONENTS, Money
from oms_sdk.payments import GatewayResult, PaymentGateway, PaymentRequest

__all__ = [
    "OPTIONAL_RULES",
    "RULES",
    "ConformanceFailure",
    "GatewayConformance",
    "Rule",
]


class Rule(StrEnum):
    """The conformance rules, one test each."""

    PROTOCOL = "protocol"
    RESULT_SHAPE = "result_shape"
    AUTHORIZE = "authorize"
    CAPTURE_FULL = "capture_full"
    PARTIAL_CAPTURE = "partial_capture"
    OVER_CAPTURE_REFUSED = "over_capture_refused"
    VOID = "void"
    CAPTURE_AFTER_VOID_REFUSED = "capture_after_void_refused"
    REFUND = "refund"
    OVER_REFUND_REFUSED = "over_refund_refused"
    DECLINE = "decline"
    CURRENCY_MISMATCH_REFUSED = "currency_mismatch_refused"
    IDEMPOTENT_RETRY = "idempotent_retry"
    IDEMPOTENT_ONE_EFFECT = "idempotent_one_effect"
    DISTINCT_KEYS = "distinct_keys"


#: What each rule requires, as failure messages quote it.
RULES: Mapping[Rule, str] = {
    Rule.PROTOCOL: (
        "the gateway is a PaymentGateway: a non-empty str `name` and authorize, capture, "
        "void and refund methods"
    ),
    Rule.RESULT_SHAPE: (
        "every call returns a GatewayResult (never raises for a refusal) whose amount equals "
        "the request's; a success carries a reference and no error; a refusal carries an "
        "error_code and an error_message and no reference"
    ),
    Rule.AUTHORIZE: (
        "authorizing with success_source succeeds at once (not pending) with a reference, "
        "for exactly the requested amount and currency"
    ),
    Rule.CAPTURE_FULL: (
        "capturing the whole authorization, referring to the authorization's reference, "
        "succeeds with a reference of its own"
    ),
    Rule.PARTIAL_CAPTURE: (
        "with supports_partial_capture, partial captures succeed and add up to the "
        "authorization; without it, a partial capture is refused and moves nothing"
    ),
    Rule.OVER_CAPTURE_REFUSED: (
        "a capture beyond what is left of the authorization is refused and moves nothing"
    ),
    Rule.VOID: (
        "voiding an authorization succeeds; so does voiding what is left after a partial "
        "capture (what cancel does)"
    ),
    Rule.CAPTURE_AFTER_VOID_REFUSED: "a capture after the void is refused",
    Rule.REFUND: (
        "a refund, referring to a capture's reference, succeeds: in parts that add up to the "
        "capture, or all at once"
    ),
    Rule.OVER_REFUND_REFUSED: (
        "a refund beyond what is left of its capture is refused and moves nothing"
    ),
    Rule.DECLINE: (
        "authorizing with decline_source answers success=False with an error_code and an "
        "error_message and no reference"
    ),
    Rule.CURRENCY_MISMATCH_REFUSED: (
        "a capture or refund in another currency than the authorization's is refused and "
        "moves nothing"
    ),
    Rule.IDEMPOTENT_RETRY: (
        "a request repeated with the same idempotency key gets the first answer again "
        "(authorize, capture, void, refund, and a decline)"
    ),
    Rule.IDEMPOTENT_ONE_EFFECT: (
        "a request repeated with the same idempotency key moves money once: what is left "
        "to capture or refund afterwards can be moved exactly once"
    ),
    Rule.DISTINCT_KEYS: (
        "identical requests with different idempotency keys are different movements, each "
        "with its own reference"
    ),
}

#: Rules a gateway may opt out of, with a reason. The others are what the SDK relies on.
OPTIONAL_RULES: frozenset[Rule] = frozenset(
    {
        Rule.OVER_CAPTURE_REFUSED,
        Rule.CAPTURE_AFTER_VOID_REFUSED,
        Rule.OVER_REFUND_REFUSED,
        Rule.CURRENCY_MISMATCH_REFUSED,
    }
)


class ConformanceFailure(AssertionError):
    """A gateway broke a conformance rule; the message names the rule and what happened."""

    def __init__(self, rule: Rule, gateway: str, detail: str) -> None:
        self.rule = rule
        self.gateway = gateway
        self.detail = detail
        hint = (
            f"if the gateway cannot keep it, declare opt_outs = {{Rule.{rule.name}: '<why>'}}"
            if rule in OPTIONAL_RULES
            else "the SDK relies on this rule: it cannot be opted out of"
        )
        super().__init__(
            f"gateway {gateway!r} breaks conformance rule {rule.value!r}: {RULES[rule]}.\n"
            f"  what happened: {detail}\n"
            f"  ({hint})"
        )


_Test = TypeVar("_Test", bound=Callable[..., None])


def _rule(rule: Rule, *, requires: tuple[Rule, ...] = ()) -> Callable[[_Test], _Test]:
    """Make a test method the check of ``rule``, honouring the subclass's ``opt_outs``.

    A rule observed *through* other rules (``requires``) is skipped, with the reason, when the
    gateway opts out of one of them: without it the observation would prove nothing.
    """

    def decorate(test: _Test) -> _Test:
        @functools.wraps(test)
        def run(self: GatewayConformance, *args: Any, **kwargs: Any) -> None:
            self._check_configuration()
            for needed in requires:
                if needed in self.opt_outs:
                    pytest.skip(
                        f"conformance rule {rule.value!r} is observed through rule "
                        f"{needed.value!r}, which this gateway opts out of "
                        f"({self.opt_outs[needed]})"
                    )
            reason = self.opt_outs.get(rule)
            if reason is None:
                test(self, *args, **kwargs)
                return
            try:
                test(self, *args, **kwargs)
            except ConformanceFailure as failure:
                if failure.rule is not rule:
                    raise
                pytest.xfail(f"opted out of rule {rule.value!r}: {reason} — {failure.detail}")
            pytest.fail(
                f"the gateway keeps conformance rule {rule.value!r} but opts out of it "
                f"({reason}): remove {rule.value!r} from opt_outs",
                pytrace=False,
            )

        run.conformance_rule = rule  # type: ignore[attr-defined]
        return cast("_Test", run)

    return decorate


class _Calls:
    """The gateway under test, called the way the SDK calls it, every answer checked."""

    def __init__(self, suite: GatewayConformance, gateway: PaymentGateway) -> None:
        self.suite = suite
        self.gateway = gateway
        self.name = str(getattr(gateway, "name", type(gateway).__name__))
        self.currency = suite.currency
        self._prefix = f"conformance-{uuid.uuid4().hex[:12]}"
        self._counter = itertools.count(1)

    # -- amounts and keys -----------------------------------------------------------------

    def money(self, minor: int, currency: str | None = None) -> Money:
        return Money(minor, currency or self.currency)

    def show(self, minor: int) -> str:
        """``minor`` units of the suite's currency, for messages: ``70.01 EUR``."""
        return str(self.money(minor))

    def key(self) -> str:
        """A fresh idempotency key, unique to this test run."""
        return f"{self._prefix}:{next(self._counter)}"

    def fail(self, rule: Rule, detail: str) -> ConformanceFailure:
        return ConformanceFailure(rule, self.name, detail)

    # -- calls ------------------------------------------------------------------------------

    def request(
        self,
        amount: Money,
        *,
        key: str | None = None,
        source: str | None = None,
        reference: str | None = None,
    ) -> PaymentRequest:
        return PaymentRequest(
            order_number="CONFORMANCE-000001",
            amount=amount,
            idempotency_key=key or self.key(),
            payment_source=source,
            reference=reference,
        )

    def call(self, operation: str, request: PaymentRequest) -> GatewayResult:
        """One call, checked against ``Rule.RESULT_SHAPE`` whatever the test is about."""
        what = f"{operation} of {request.amount} (key {request.idempotency_key!r})"
        try:
            result = getattr(self.gateway, operation)(request)
        except Exception as exc:
            raise self.fail(
                Rule.RESULT_SHAPE,
                f"{what} raised {type(exc).__name__}: {exc} (the SDK takes an exception for "
                "no answer and leaves the payment pending; answer a refusal instead)",
            ) from exc
        if not isinstance(result, GatewayResult):
            raise self.fail(
                Rule.RESULT_SHAPE, f"{what} returned {type(result).__name__}, not GatewayResult"
            )
        if not isinstance(result.amount, Money) or result.amount != request.amount:
            raise self.fail(Rule.RESULT_SHAPE, f"{what} answered the amount {result.amount!r}")
        if result.success:
            if not isinstance(result.reference, str) or not result.reference:
                raise self.fail(
                    Rule.RESULT_SHAPE, f"{what} succeeded without a reference ({result!r})"
                )
            if result.error_code is not None or result.error_message is not None:
                raise self.fail(Rule.RESULT_SHAPE, f"{what} succeeded with an error ({result!r})")
        elif not result.pending:
            if not result.error_code or not result.error_message:
                raise self.fail(
                    Rule.RESULT_SHAPE,
                    f"{what} was refused without an error_code and error_message ({result!r}); "
                    "the ledger would record it as 'declined'",
                )
            if result.reference is not None:
                raise self.fail(
                    Rule.RESULT_SHAPE, f"{what} was refused but carries a reference ({result!r})"
                )
        return result

    def authorize(
        self, minor: int | None = None, *, key: str | None = None, source: str | None = None
    ) -> GatewayResult:
        amount = self.money(self.suite.authorization_minor if minor is None else minor)
        chosen = self.suite.success_source if source is None else source
        return self.call("authorize", self.request(amount, key=key, source=chosen))

    def authorized(self, minor: int | None = None) -> str:
        """The reference of a fresh authorization (``Rule.AUTHORIZE`` must hold)."""
        result = self.authorize(minor)
        if not result.success or result.reference is None:
            raise self.fail(
                Rule.AUTHORIZE,
                f"authorize with success_source {self.suite.success_source!r} answered {result!r}",
            )
        return result.reference

    def capture(
        self, reference: str, amount: Money | int, *, key: str | None = None
    ) -> GatewayResult:
        money = amount if isinstance(amount, Money) else self.money(amount)
        return self.call("capture", self.request(money, key=key, reference=reference))

    def void(self, reference: str, amount: Money | int, *, key: str | None = None) -> GatewayResult:
        money = amount if isinstance(amount, Money) else self.money(amount)
        return self.call("void", self.request(money, key=key, reference=reference))

    def refund(
        self, reference: str, amount: Money | int, *, key: str | None = None
    ) -> GatewayResult:
        money = amount if isinstance(amount, Money) else self.money(amount)
        return self.call("refund", self.request(money, key=key, reference=reference))

    # -- expectations -----------------------------------------------------------------------

    def succeeded(self, rule: Rule, result: GatewayResult, what: str) -> str:
        """``result`` must be a success; its reference."""
        if not result.success or result.reference is None:
            raise self.fail(rule, f"{what} should succeed; the gateway answered {result!r}")
        return result.reference

    def refused(self, rule: Rule, result: GatewayResult, what: str) -> None:
        """``result`` must be a refusal (a failure, not a pending action)."""
        if result.success or result.pending:
            raise self.fail(rule, f"{what} should be refused; the gateway answered {result!r}")

    def captured(self, rule: Rule, reference: str, minor: int, what: str) -> str:
        """Capture ``minor`` of authorization ``reference``: it must succeed."""
        return self.succeeded(rule, self.capture(reference, minor), what)


class GatewayConformance:
    """Base class of a gateway's conformance tests (see the module documentation).

    Class attributes describe how to drive the gateway under test:
    """

    currency: ClassVar[str] = "EUR"
    """The currency the suite authorizes in."""
    success_source: ClassVar[str | None] = None
    """The ``payment_source`` of an authorization that succeeds (``None``: none needed)."""
    decline_source: ClassVar[str | None] = None
    """The ``payment_source`` of an authorization that is declined; ``None`` if the gateway
    cannot decline (``Rule.DECLINE`` is then skipped, with that reason)."""
    supports_partial_capture: ClassVar[bool] = True
    """Whether several captures may share an authorization (``Rule.PARTIAL_CAPTURE``)."""
    authorization_minor: ClassVar[int] = 10_000
    """The amount authorized by most tests, in minor units of ``currency``."""
    opt_outs: ClassVar[Mapping[Rule, str]] = {}
    """Optional rules (``OPTIONAL_RULES``) this gateway does not keep, each with the reason."""

    @pytest.fixture
    def gateway(self) -> PaymentGateway:
        """The gateway under test: override with a fixture returning a fresh instance."""
        pytest.fail(
            f"{type(self).__name__} must define a `gateway` fixture returning the gateway "
            "under test",
            pytrace=False,
        )

    # -- plumbing ---------------------------------------------------------------------------

    def _check_configuration(self) -> None:
        problems: list[str] = []
        if self.currency not in CURRENCY_EXPONENTS:
            problems.append(f"currency {self.currency!r} is not a currency oms-sdk knows")
        if not isinstance(self.authorization_minor, int) or self.authorization_minor < 10:
            problems.append("authorization_minor must be an int of at least 10 (minor units)")
        for rule, reason in self.opt_outs.items():
            if not isinstance(rule, Rule):
                problems.append(f"opt_outs key {rule!r} is not a Rule")
            elif rule not in OPTIONAL_RULES:
                problems.append(f"rule {rule.value!r} cannot be opted out of: the SDK relies on it")
            if not isinstance(reason, str) or not reason.strip():
                problems.append(f"the opt-out of {rule!r} needs a reason")
        if problems:
            pytest.fail(
                f"{type(self).__name__} is misconfigured: " + "; ".join(problems), pytrace=False
            )

    def _calls(self, gateway: PaymentGateway) -> _Calls:
        return _Calls(self, gateway)

    @property
    def _total(self) -> int:
        return self.authorization_minor

    @property
    def _part(self) -> int:
        """About 30% of the authorization: a partial amount with a larger rest."""
        return max(1, self.authorization_minor * 3 // 10)

    @property
    def _other_currency(self) -> str:
        return "USD" if self.currency != "USD" else "EUR"

    # -- the rules --------------------------------------------------------------------------

    @_rule(Rule.PROTOCOL)
    def test_protocol(self, gateway: PaymentGateway) -> None:
        """The gateway speaks the ``PaymentGateway`` protocol and has a name."""
        calls = self._calls(gateway)
        if not isinstance(gateway, PaymentGateway):
            missing = [
                attr
                for attr in ("name", "authorize", "capture", "void", "refund")
                if not hasattr(gateway, attr)
            ]
            raise calls.fail(Rule.PROTOCOL, f"{gateway!r} lacks {', '.join(missing)}")
        name = getattr(gateway, "name", None)
        if not isinstance(name, str) or not name.strip():
            raise calls.fail(Rule.PROTOCOL, f"name is {name!r}")

    @_rule(Rule.RESULT_SHAPE)
    def test_result_shape(self, gateway: PaymentGateway) -> None:
        """Odd amounts come back exactly, on every operation (checked on every call)."""
        calls = self._calls(gateway)
        for minor in (1, 12_345, self._total):
            authorization = calls.authorized(minor)
            capture = calls.succeeded(
                Rule.CAPTURE_FULL,
                calls.capture(authorization, minor),
                f"capture of {calls.show(minor)}",
            )
            calls.succeeded(
                Rule.REFUND, calls.refund(capture, minor), f"refund of {calls.show(minor)}"
            )
            voided = calls.authorized(minor)
            calls.succeeded(Rule.VOID, calls.void(voided, minor), f"void of {calls.show(minor)}")

    @_rule(Rule.AUTHORIZE)
    def test_authorize(self, gateway: PaymentGateway) -> None:
        calls = self._calls(gateway)
        request = calls.request(calls.money(self._total), source=self.success_source)
        result = calls.call("authorize", request)
        if result.pending:
            raise calls.fail(
                Rule.AUTHORIZE, f"the authorization is pending on action {result.action_id!r}"
            )
        calls.succeeded(Rule.AUTHORIZE, result, f"authorize of {request.amount}")
        if result.amount.currency != self.currency or result.amount.minor != self._total:
            raise calls.fail(Rule.AUTHORIZE, f"authorized {result.amount} for {request.amount}")

    @_rule(Rule.CAPTURE_FULL)
    def test_capture_full(self, gateway: PaymentGateway) -> None:
        calls = self._calls(gateway)
        authorization = calls.authorized()
        reference = calls.captured(
            Rule.CAPTURE_FULL, authorization, self._total, "capture of the whole authorization"
        )
        if not reference:
            raise calls.fail(Rule.CAPTURE_FULL, "the capture has an empty reference")

    @_rule(Rule.PARTIAL_CAPTURE)
    def test_partial_capture(self, gateway: PaymentGateway) -> None:
        calls = self._calls(gateway)
        authorization = calls.authorized()
        rest = self._total - self._part
        if not self.supports_partial_capture:
            calls.refused(
                Rule.PARTIAL_CAPTURE,
                calls.capture(authorization, self._part),
                "a partial capture (supports_partial_capture is False)",
            )
            calls.captured(
                Rule.PARTIAL_CAPTURE,
                authorization,
                self._total,
                "the full capture after a refused partial one",
            )
            return
        first = calls.captured(Rule.PARTIAL_CAPTURE, authorization, self._part, "a first part")
        second = calls.captured(Rule.PARTIAL_CAPTURE, authorization, rest, "the rest")
        if first == second:
            raise calls.fail(Rule.PARTIAL_CAPTURE, f"two captures share the reference {first!r}")

    @_rule(Rule.OVER_CAPTURE_REFUSED)
    def test_over_capture_refused(self, gateway: PaymentGateway) -> None:
        calls = self._calls(gateway)
        rule = Rule.OVER_CAPTURE_REFUSED
        authorization = calls.authorized()
        if self.supports_partial_capture:
            calls.captured(rule, authorization, self._part, "a first part")
            rest = self._total - self._part
            calls.refused(
                rule,
                calls.capture(authorization, rest + 1),
                f"capture of {calls.show(rest + 1)} when {calls.show(rest)} is left",
            )
            calls.captured(rule, authorization, rest, "the exact rest after a refused capture")
            calls.refused(
                rule,
                calls.capture(authorization, 1),
                f"capture of {calls.show(1)} when none is left",
            )
        else:
            calls.refused(
                rule,
                calls.capture(authorization, self._total + 1),
                f"capture of {calls.show(self._total + 1)} "
                f"on an authorization of {calls.show(self._total)}",
            )
            calls.captured(rule, authorization, self._total, "the full capture after a refusal")
            calls.refused(rule, calls.capture(authorization, self._total), "a second full capture")

    @_rule(Rule.VOID)
    def test_void(self, gateway: PaymentGateway) -> None:
        calls = self._calls(gateway)
        authorization = calls.authorized()
        calls.succeeded(
            Rule.VOID, calls.void(authorization, self._total), "void of a whole authorization"
        )
        if self.supports_partial_capture:
            partly = calls.authorized()
            calls.captured(Rule.VOID, partly, self._part, "a partial capture before the void")
            calls.succeeded(
                Rule.VOID,
                calls.void(partly, self._total - self._part),
                "void of what is left after a partial capture",
            )

    @_rule(Rule.CAPTURE_AFTER_VOID_REFUSED)
    def test_capture_after_void_refused(self, gateway: PaymentGateway) -> None:
        calls = self._calls(gateway)
        rule = Rule.CAPTURE_AFTER_VOID_REFUSED
        authorization = calls.authorized()
        calls.succeeded(rule, calls.void(authorization, self._total), "void")
        calls.refused(
            rule, calls.capture(authorization, self._total), "capture of a voided authorization"
        )
        if self.supports_partial_capture:
            partly = calls.authorized()
            calls.captured(rule, partly, self._part, "a partial capture before the void")
            calls.succeeded(rule, calls.void(partly, self._total - self._part), "void of the rest")
            calls.refused(rule, calls.capture(partly, 1), "capture after the rest was voided")

    @_rule(Rule.REFUND)
    def test_refund(self, gateway: PaymentGateway) -> None:
        calls = self._calls(gateway)
        capture = calls.captured(Rule.REFUND, calls.authorized(), self._total, "capture")
        first = calls.succeeded(Rule.REFUND, calls.refund(capture, self._part), "partial refund")
        second = calls.succeeded(
            Rule.REFUND, calls.refund(capture, self._total - self._part), "refund of the rest"
        )
        if first == second:
            raise calls.fail(Rule.REFUND, f"two refunds share the reference {first!r}")
        whole = calls.captured(Rule.REFUND, calls.authorized(), self._total, "capture")
        calls.succeeded(Rule.REFUND, calls.refund(whole, self._total), "refund of a capture")

    @_rule(Rule.OVER_REFUND_REFUSED)
    def test_over_refund_refused(self, gateway: PaymentGateway) -> None:
        calls = self._calls(gateway)
        rule = Rule.OVER_REFUND_REFUSED
        capture = calls.captured(rule, calls.authorized(), self._total, "capture")
        calls.refused(
            rule,
            calls.refund(capture, self._total + 1),
            f"refund of {calls.show(self._total + 1)} on a capture of {calls.show(self._total)}",
        )
        calls.succeeded(rule, calls.refund(capture, self._part), "a partial refund")
        rest = self._total - self._part
        calls.refused(
            rule,
            calls.refund(capture, rest + 1),
            f"refund of {calls.show(rest + 1)} when {calls.show(rest)} is left",
        )
        calls.succeeded(rule, calls.refund(capture, rest), "refund of the exact rest")
        calls.refused(
            rule, calls.refund(capture, 1), f"refund of {calls.show(1)} when none is left"
        )

    @_rule(Rule.DECLINE)
    def test_decline(self, gateway: PaymentGateway) -> None:
        if self.decline_source is None:
            pytest.skip(
                "conformance rule 'decline' does not apply: decline_source is None "
                "(the gateway cannot decline)"
            )
        calls = self._calls(gateway)
        result = calls.authorize(source=self.decline_source)
        calls.refused(Rule.DECLINE, result, f"authorize with {self.decline_source!r}")
        if not result.error_code or not result.error_message or result.reference is not None:
            raise calls.fail(Rule.DECLINE, f"the decline is {result!r}")

    @_rule(Rule.CURRENCY_MISMATCH_REFUSED)
    def test_currency_mismatch_refused(self, gateway: PaymentGateway) -> None:
        calls = self._calls(gateway)
        rule = Rule.CURRENCY_MISMATCH_REFUSED
        other = self._other_currency
        authorization = calls.authorized()
        calls.refused(
            rule,
            calls.capture(authorization, calls.money(self._total, other)),
            f"capture in {other} of a {self.currency} authorization",
        )
        capture = calls.captured(
            rule, authorization, self._total, "the capture in the right currency afterwards"
        )
        calls.refused(
            rule,
            calls.refund(capture, calls.money(self._total, other)),
            f"refund in {other} of a {self.currency} capture",
        )
        calls.succeeded(
            rule,
            calls.refund(capture, self._total),
            "the refund in the right currency afterwards",
        )

    @_rule(Rule.IDEMPOTENT_RETRY)
    def test_idempotent_retry(self, gateway: PaymentGateway) -> None:
        calls = self._calls(gateway)
        rule = Rule.IDEMPOTENT_RETRY

        def twice(operation: str, request: PaymentRequest) -> GatewayResult:
            first = calls.call(operation, request)
            again = calls.call(operation, request)
            if again != first:
                raise calls.fail(
                    rule,
                    f"{operation} with key {request.idempotency_key!r} answered {first!r}, "
                    f"then {again!r}",
                )
            return first

        amount = calls.money(self._total)
        authorization = calls.succeeded(
            rule,
            twice("authorize", calls.request(amount, source=self.success_source)),
            "authorize",
        )
        part = self._part if self.supports_partial_capture else self._total
        capture = calls.succeeded(
            rule,
            twice("capture", calls.request(calls.money(part), reference=authorization)),
            "capture",
        )
        calls.succeeded(
            rule,
            twice("refund", calls.request(calls.money(max(1, part // 2)), reference=capture)),
            "refund",
        )
        voided = calls.authorized()
        calls.succeeded(rule, twice("void", calls.request(amount, reference=voided)), "void")
        if self.decline_source is not None:
            declined = twice("authorize", calls.request(amount, source=self.decline_source))
            calls.refused(rule, declined, f"authorize with {self.decline_source!r}")

    @_rule(
        Rule.IDEMPOTENT_ONE_EFFECT,
        requires=(Rule.OVER_CAPTURE_REFUSED, Rule.OVER_REFUND_REFUSED),
    )
    def test_idempotent_one_effect(self, gateway: PaymentGateway) -> None:
        calls = self._calls(gateway)
        rule = Rule.IDEMPOTENT_ONE_EFFECT
        authorization = calls.authorized()
        if self.supports_partial_capture:
            key = calls.key()
            calls.succeeded(rule, calls.capture(authorization, self._part, key=key), "capture")
            calls.capture(authorization, self._part, key=key)  # the retry
            rest = self._total - self._part
            capture = calls.captured(
                rule,
                authorization,
                rest,
                f"capture of the {calls.show(rest)} left after a retried capture",
            )
            calls.refused(
                rule,
                calls.capture(authorization, 1),
                f"capture of {calls.show(1)} more after the rest",
            )
            refundable = rest
        else:
            key = calls.key()
            capture = calls.succeeded(
                rule, calls.capture(authorization, self._total, key=key), "capture"
            )
            calls.capture(authorization, self._total, key=key)  # the retry
            refundable = self._total
        key = calls.key()
        part = max(1, refundable // 3)
        calls.succeeded(rule, calls.refund(capture, part, key=key), "refund")
        calls.refund(capture, part, key=key)  # the retry
        calls.succeeded(
            rule,
            calls.refund(capture, refundable - part),
            f"refund of the {calls.show(refundable - part)} left after a retried refund",
        )
        calls.refused(
            rule, calls.refund(capture, 1), f"refund of {calls.show(1)} more after the rest"
        )

    @_rule(Rule.DISTINCT_KEYS)
    def test_distinct_keys(self, gateway: PaymentGateway) -> None:
        calls = self._calls(gateway)
        rule = Rule.DISTINCT_KEYS
        first = calls.authorized()
        second = calls.authorized()
        if first == second:
            raise calls.fail(
                rule, f"two authorizations with different keys share the reference {first!r}"
            )
        if self.supports_partial_capture:
            captures = [
                calls.captured(rule, first, self._part, "a capture of part of the authorization")
                for _ in range(2)
            ]
        else:
            captures = [
                calls.captured(rule, auth, self._total, "a full capture")
                for auth in (first, second)
            ]
        if captures[0] == captures[1]:
            raise calls.fail(
                rule, f"two captures with different keys share the reference {captures[0]!r}"
            )
        refunds = [
            calls.succeeded(rule, calls.refund(captures[0], 1), f"a refund of {calls.show(1)}")
            for _ in range(2)
        ]
        if refunds[0] == refunds[1]:
            raise calls.fail(
                rule, f"two refunds with different keys share the reference {refunds[0]!r}"
            )
