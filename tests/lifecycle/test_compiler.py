"""The compiled lifecycles: shared per variant, refusing with reasons, drawn as Mermaid."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import pytest
from transitions import Machine
from transitions.extensions import LockedMachine

import oms_sdk.lifecycle._compiler as compiler_module
from oms_sdk import OMS, Money, TransitionNotAllowed
from oms_sdk.lifecycle import FulfillmentStatus, LifecycleCompiler, PaymentStatus
from oms_sdk.lifecycle._compiler import DirectTrigger
from oms_sdk.policy import MarketPolicy, load_policies
from oms_sdk.testing import fresh_database_url

EXAMPLES = "config_examples"


@pytest.fixture(scope="module")
def markets() -> dict[str, MarketPolicy]:
    return {m.code: m for m in load_policies(EXAMPLES)}


@dataclass
class FakeOrder:
    """The smallest object the guards can read: a flyweight like the real aggregate."""

    number: str = "EU-000001"
    currency: str = "EUR"
    status: str = "draft"
    payment_status: str = "unpaid"
    fulfillment_status: str = "unfulfilled"
    customer_email: str | None = None
    payment_method: str | None = "card"
    archived_at: datetime | None = None
    line_count: int = 0
    has_billing_address: bool = False
    shipping_problem: str | None = None
    total_money: Money = field(default_factory=lambda: Money(1000, "EUR"))
    capturable_minor: int = 1000
    refundable_minor: int = 0
    last_captured_at: datetime | None = None
    authorized_at: datetime | None = None
    pending_action: str | None = None
    shipped_count: int = 0
    all_shipped: bool = False


def test_one_lifecycle_per_variant_is_built_once(markets: dict[str, MarketPolicy]) -> None:
    compiler = LifecycleCompiler()
    first = compiler.compile_market(markets["EU"])
    again = compiler.compile_market(markets["EU"])
    assert [a is b for a, b in zip(first, again, strict=True)] == [True] * 4
    assert compiler.built == 1 + len(markets["EU"].payment_methods)


def test_no_machine_is_built_per_order(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[Any] = []
    real = compiler_module.Machine

    def counting(*args: Any, **kwargs: Any) -> Any:
        built.append(kwargs.get("states"))
        return real(*args, **kwargs)

    monkeypatch.setattr(compiler_module, "Machine", counting)
    oms = OMS.open(EXAMPLES, fresh_database_url())
    at_open = len(built)
    assert at_open == sum(1 + len(m.payment_methods) for m in oms.policies)
    address = {
        "name": "A",
        "line1": "1 Rue",
        "city": "Paris",
        "postal_code": "75001",
        "country": "FR",
    }
    for index in range(25):
        order = oms.create_order("EU", customer_email=f"c{index}@example.com")
        oms.add_line_item(order.id, "TEE-ORG-M", 1)
        oms.set_addresses(order.id, address)
        oms.select_shipping_method(order.id, "standard")
        oms.select_payment_method(order.id, "card", payment_source="tok_visa")
        oms.place(order.id)
        oms.capture(order.id)
        oms.approve(order.id)
        oms.ship(order.id)
    assert len(built) == at_open, "orders must never cause a Machine to be built"
    assert oms.compiler.built == at_open


def test_refusal_names_order_trigger_statuses_and_reason(markets: dict[str, MarketPolicy]) -> None:
    lifecycle = LifecycleCompiler().lifecycle(markets["EU"], "card")
    order = FakeOrder(number="EU-001042", status="cancelled", payment_status="voided")
    with pytest.raises(TransitionNotAllowed) as caught:
        lifecycle.fire(order, "capture")
    message = str(caught.value)
    assert message.startswith("cannot capture order EU-001042 (cancelled/voided/unfulfilled)")
    assert "status is cancelled" in message
    assert caught.value.reasons == ("status is cancelled (allowed in: approved, placed)",)
    assert order.status == "cancelled"

    order = FakeOrder(status="placed", payment_status="voided")
    with pytest.raises(TransitionNotAllowed, match="payment_status is voided"):
        lifecycle.fire(order, "capture")


def test_place_lists_every_missing_piece(markets: dict[str, MarketPolicy]) -> None:
    lifecycle = LifecycleCompiler().lifecycle(markets["EU"], "card")
    order = FakeOrder(status="pending", shipping_problem="no shipping method is selected")
    reasons = lifecycle.reasons(order, "place", {})
    assert reasons == [
        "the order has no line items",
        "the order has no customer e-mail",
        "the order has no billing address",
        "no shipping method is selected",
    ]


def test_free_variant_needs_a_zero_total(markets: dict[str, MarketPolicy]) -> None:
    lifecycle = LifecycleCompiler().lifecycle(markets["EU"], None)
    ready = {"line_count": 1, "customer_email": "a@b.co", "has_billing_address": True}
    order = FakeOrder(status="pending", payment_method=None, **ready)  # type: ignore[arg-type]
    assert lifecycle.reasons(order, "place", {}) == [
        "no payment method is selected and the total is €10.00"
    ]
    order.total_money = Money(0, "EUR")
    assert lifecycle.allows(order, "place")
    assert "capture" not in lifecycle.definition.triggers


def test_require_capture_decides_approval(markets: dict[str, MarketPolicy]) -> None:
    compiler = LifecycleCompiler()
    manual = compiler.lifecycle(markets["EU"], "card")
    delayed = compiler.lifecycle(markets["JP"], "card")
    order = FakeOrder(status="placed", payment_status="authorized")
    assert manual.reasons(order, "approve", {}) == [
        "payment_status is authorized: this payment method requires capture before approval"
    ]
    assert delayed.allows(order, "approve")
    delayed.fire(order, "approve")
    assert order.status == "review"
    delayed.fire(order, "pass_review")
    assert order.status == "approved"


def test_auto_place_makes_authorize_place(markets: dict[str, MarketPolicy]) -> None:
    compiler = LifecycleCompiler()
    paypal = compiler.lifecycle(markets["EU"], "paypal").definition
    card = compiler.lifecycle(markets["EU"], "card").definition
    assert [t.dest for t in paypal.transitions if t.trigger == "authorize"] == ["placed"]
    assert [t.dest for t in card.transitions if t.trigger == "authorize"] == [None]
    placed_paypal = next(s for s in paypal.states if s.name == "placed")
    placed_card = next(s for s in card.states if s.name == "placed")
    assert placed_paypal.on_enter == ("on_placed", "auto_capture")
    assert placed_card.on_enter == ("on_placed",)


def test_capture_modes_are_described(markets: dict[str, MarketPolicy]) -> None:
    compiler = LifecycleCompiler()
    modes = {
        (m, p): compiler.lifecycle(markets[m], p).definition.capture_mode
        for m, p in [("EU", "card"), ("EU", "paypal"), ("US", "card"), ("JP", "card")]
    }
    assert modes[("EU", "card")] == "manual"
    assert modes[("EU", "paypal")] == "automatic at authorization; auto-place on authorization"
    assert modes[("US", "card")] == "automatic up to $500.00, manual above"
    assert modes[("JP", "card")] == "manual; delayed (fulfillment may start before capture)"


def test_refund_window(markets: dict[str, MarketPolicy]) -> None:
    lifecycle = LifecycleCompiler().lifecycle(markets["EU"], "card")
    days = markets["EU"].rules.refund_window_days
    assert days is not None
    captured_at = datetime(2026, 1, 1, tzinfo=UTC)
    order = FakeOrder(
        status="approved",
        payment_status="paid",
        last_captured_at=captured_at,
        capturable_minor=0,
        refundable_minor=1000,
    )
    inside = datetime(2026, 1, 1 + days - 1, tzinfo=UTC) if days < 28 else captured_at
    assert lifecycle.allows(order, "refund", now=inside, amount=Money(100, "EUR"))
    late = datetime(2027, 1, 1, tzinfo=UTC)
    reasons = lifecycle.reasons(order, "refund", {"now": late, "amount": Money(100, "EUR")})
    assert reasons == [f"the refund window of {days} days after capture has passed"]


def test_authorization_validity_bounds_capture(markets: dict[str, MarketPolicy]) -> None:
    lifecycle = LifecycleCompiler().lifecycle(markets["EU"], "card")
    days = markets["EU"].payment_method("card").authorization_validity_days  # type: ignore[union-attr]
    authorized_at = datetime(2026, 3, 1, tzinfo=UTC)
    order = FakeOrder(status="placed", payment_status="authorized", authorized_at=authorized_at)
    assert lifecycle.allows(order, "capture", now=authorized_at)
    late = datetime(2026, 3, 1 + days + 1, tzinfo=UTC)
    assert lifecycle.reasons(order, "capture", {"now": late}) == [
        f"the authorization expired on 2026-03-{1 + days:02d} (valid {days} days)"
    ]


def test_mermaid_diagram_shows_states_triggers_and_guards(
    markets: dict[str, MarketPolicy],
) -> None:
    text = LifecycleCompiler().lifecycle(markets["JP"], "card").mermaid()
    assert "stateDiagram-v2" in text
    assert "placed --> review: approve [authorized_or_paid]" in text
    assert "review --> approved: pass_review" in text
    assert "[*] --> draft" in text


class RecordingEffects:
    """Effects that note which one ran, in which status: the order of the callbacks. With
    ``veto``, every plugin guard refuses; with ``fail``, every effect raises once noted."""

    def __init__(self, *, veto: bool = False, fail: bool = False) -> None:
        self.ran: list[tuple[str, str]] = []
        self.veto, self.fail = veto, fail

    def vetoes(self, order: Any, trigger: str, ctx: Any) -> list[str]:
        return ["a plugin refuses"] if self.veto else []

    def stock_problems(self, order: Any) -> list[str]:
        return []

    def __getattr__(self, name: str) -> Any:
        def effect(order: Any, ctx: Any, definition: Any) -> None:
            self.ran.append((name, order.status))
            if self.fail:
                raise RuntimeError(name)

        return effect


def _orders() -> list[FakeOrder]:
    """Orders whose facts pass or fail each guard in turn, in every status."""
    found = []
    for payment_status in PaymentStatus:
        for fulfillment_status in FulfillmentStatus:
            for ready in (True, False):
                found.append(
                    FakeOrder(
                        payment_status=payment_status.value,
                        fulfillment_status=fulfillment_status.value,
                        customer_email="c@example.com" if ready else None,
                        line_count=1 if ready else 0,
                        has_billing_address=ready,
                        capturable_minor=1000 if ready else 0,
                        refundable_minor=1000 if ready else 500,
                        all_shipped=ready,
                        shipped_count=0 if ready else 1,
                    )
                )
    return found


def _outcome(fire: Any, *args: Any, **kwargs: Any) -> bool | str:
    try:
        return bool(fire(*args, **kwargs))
    except RuntimeError as failed:
        return f"raised {failed}"


def test_firing_runs_what_the_machines_own_event_trigger_runs(
    markets: dict[str, MarketPolicy],
) -> None:
    """``fire`` executes the compiled transitions without ``transitions``' event layer: for
    every variant, state, trigger and a spread of facts, with plugins vetoing or effects
    failing, it must refuse, run or raise exactly as the machine's own
    ``events[trigger].trigger(order, **ctx)`` does, effects in the same order and statuses."""
    compared = 0
    for market in markets.values():
        for lifecycle in LifecycleCompiler().compile_market(market):
            machine = lifecycle.machine
            for state in lifecycle.definition.state_names:
                for trigger in lifecycle.definition.triggers:
                    cases = [(facts, amount, {}) for facts in _orders() for amount in (None, 500)]
                    cases += [(facts, None, {"veto": True}) for facts in _orders()]
                    cases += [(facts, None, {"fail": True}) for facts in _orders()]
                    for facts, amount, mode in cases:
                        ours = replace(facts, status=state)
                        theirs = replace(facts, status=state)
                        ours_fx, theirs_fx = RecordingEffects(**mode), RecordingEffects(**mode)
                        ctx = {"amount": Money(amount, "EUR")} if amount else {}
                        ran = _outcome(lifecycle.try_fire, ours, trigger, effects=ours_fx, **ctx)
                        event = machine.events[trigger]
                        if state in event.transitions:
                            expected = _outcome(event.trigger, theirs, effects=theirs_fx, **ctx)
                        else:
                            expected = False
                        assert (ran, ours.status, ours_fx.ran) == (
                            expected,
                            theirs.status,
                            theirs_fx.ran,
                        ), (market.code, lifecycle.definition.payment_method, state, trigger, mode)
                        compared += ran is True
    assert compared > 1000  # the spread of facts lets many transitions through


def test_refused_firing_changes_nothing_and_runs_no_effect(
    markets: dict[str, MarketPolicy],
) -> None:
    lifecycle = LifecycleCompiler().lifecycle(markets["EU"], "card")
    effects = RecordingEffects()
    order = FakeOrder(status="pending", line_count=1, customer_email="c@example.com")
    assert lifecycle.try_fire(order, "place", effects=effects) is False  # no billing address
    assert lifecycle.try_fire(order, "teleport", effects=effects) is False
    assert lifecycle.try_fire(order, "approve", effects=effects) is False  # not from pending
    assert (order.status, effects.ran) == ("pending", [])
    gone = FakeOrder(status="on_hold")  # a status the policy no longer has
    assert lifecycle.try_fire(gone, "place", effects=effects) is False
    with pytest.raises(TransitionNotAllowed, match="status is on_hold"):
        lifecycle.fire(gone, "place", effects=effects)
    assert (gone.status, effects.ran) == ("on_hold", [])


@pytest.mark.parametrize(
    "options",
    [
        {"prepare_event": "note"},
        {"finalize_event": "note"},
        {"on_exception": "note"},
        {"queued": True},
    ],
)
def test_a_machine_with_event_callbacks_or_a_queue_is_not_fired_directly(
    options: dict[str, Any],
) -> None:
    """Firing directly leaves out the event layer: a machine that uses it must say so."""
    options = {"ignore_invalid_triggers": True, **options}
    machine = Machine(
        model=None, states=["a", "b"], transitions=[["go", "a", "b"]], initial="a", **options
    )
    with pytest.raises(ValueError, match=r"fire it with Event\.trigger"):
        DirectTrigger(machine)


def test_a_locked_machine_is_not_fired_directly() -> None:
    machine = LockedMachine(model=None, states=["a"], initial="a", ignore_invalid_triggers=True)
    with pytest.raises(ValueError, match="LockedMachine is not a plain Machine"):
        DirectTrigger(machine)
