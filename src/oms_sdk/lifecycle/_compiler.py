"""Compile a ``LifecycleDefinition`` into one shared ``transitions`` machine.

One machine exists per (market, payment method, policy fingerprint) and serves every order of
that variant: orders are flyweight models whose ``status`` attribute the machine reads and
writes (``Machine(model=None)``); no order is ever added to a machine and no machine is built
per order. A trigger executes the machine's own ``Transition`` objects, found once per (trigger,
status) at compile time rather than by ``transitions``' event layer on every call (see
``DirectTrigger``).

Side effects (authorize, capture, void, refund, holds) are not known to the machine: the caller
passes an ``effects`` object with the trigger, and the machine calls its methods by the names the
definition gives. Effects of a transition run before the state changes, so a refusal there
leaves the status untouched; effects of a state run after it has been entered, inside the same
unit of work.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from transitions import Event, EventData, Machine, State, Transition
from transitions.extensions.diagrams import GraphMachine

from ..errors import TransitionNotAllowed
from ..policy import MarketPolicy
from ._definition import LifecycleDefinition, TransitionSpec, define_lifecycle
from ._guards import Guard, OrderFacts, context_of
from ._svg import render_svg

__all__ = ["DirectTrigger", "Lifecycle", "LifecycleCompiler", "LifecycleEffects"]


class LifecycleEffects(Protocol):
    """What the machine asks the order service to do; see ``OMS`` for the implementation.

    Every method receives the order, the trigger's keyword arguments, and the definition of the
    variant (capture mode, limits).
    """

    def reserve(self, order: Any, ctx: Mapping[str, Any], lc: LifecycleDefinition) -> None: ...
    def authorize(self, order: Any, ctx: Mapping[str, Any], lc: LifecycleDefinition) -> None: ...
    def capture(self, order: Any, ctx: Mapping[str, Any], lc: LifecycleDefinition) -> None: ...
    def refund(self, order: Any, ctx: Mapping[str, Any], lc: LifecycleDefinition) -> None: ...
    def release_holds(
        self, order: Any, ctx: Mapping[str, Any], lc: LifecycleDefinition
    ) -> None: ...
    def release_payment(
        self, order: Any, ctx: Mapping[str, Any], lc: LifecycleDefinition
    ) -> None: ...
    def on_placed(self, order: Any, ctx: Mapping[str, Any], lc: LifecycleDefinition) -> None: ...
    def auto_capture(self, order: Any, ctx: Mapping[str, Any], lc: LifecycleDefinition) -> None: ...
    def on_approved(self, order: Any, ctx: Mapping[str, Any], lc: LifecycleDefinition) -> None: ...
    def on_cancelled(self, order: Any, ctx: Mapping[str, Any], lc: LifecycleDefinition) -> None: ...
    def mark_fulfilled(
        self, order: Any, ctx: Mapping[str, Any], lc: LifecycleDefinition
    ) -> None: ...
    def archive(self, order: Any, ctx: Mapping[str, Any], lc: LifecycleDefinition) -> None: ...
    def unarchive(self, order: Any, ctx: Mapping[str, Any], lc: LifecycleDefinition) -> None: ...


class _Effects:
    """The effects of one transition or state, in order, as one ``transitions`` callback.

    One callback instead of one per effect: ``transitions`` spends more on dispatching a
    callback than most effects cost."""

    def __init__(self, names: Sequence[str], definition: LifecycleDefinition) -> None:
        self.names = tuple(names)
        self.definition = definition

    def __call__(self, event: Any) -> None:
        ctx = context_of(event)
        effects = ctx.get("effects")
        if effects is not None:
            order, definition = event.model, self.definition
            for name in self.names:
                getattr(effects, name)(order, ctx, definition)


class _Guards:
    """Every guard of one transition as one ``transitions`` condition: true when none has a
    reason to refuse (the reasons themselves are asked for only after a refusal)."""

    def __init__(self, guards: Sequence[Guard]) -> None:
        self.checks = tuple(guard.check for guard in guards)

    def __call__(self, event: Any) -> bool:
        order, ctx = event.model, context_of(event)
        for check in self.checks:  # noqa: SIM110 (a loop: cheaper than all() over a generator)
            if check(order, ctx) is not None:
                return False
        return True


#: The classes whose event layer ``DirectTrigger`` leaves out: subclasses (locked, nested,
#: asynchronous machines) do their own work there.
_PLAIN = (Machine, Event, Transition)


class DirectTrigger:
    """What ``Event.trigger`` does for a machine like ours, with the event layer resolved ahead.

    ``transitions`` runs a trigger as an event: it looks up the model's state, checks it is a
    valid source, runs the machine's ``prepare_event``, tries each transition of that state in
    turn, then runs ``finalize_event`` and ``on_exception``, through a queue. A compiled
    lifecycle's machine has none of those callbacks and no queue, and the transitions that may
    leave each state on each trigger are known once it is built: so the same ``Transition``
    objects are executed, in the same order, on the same ``EventData``, without the layer that
    would find them again on every call (a third of a bare trigger's cost). An unknown trigger,
    or a state it cannot leave, is refused as ``transitions`` does with
    ``ignore_invalid_triggers``, without logging a warning for each call. The transitions are
    read once: a compiled machine is never changed afterwards.
    """

    def __init__(self, machine: Machine) -> None:
        if machine.prepare_event or machine.finalize_event or machine.on_exception:
            raise ValueError("the machine has event callbacks: fire it with Event.trigger")
        if machine.has_queue:
            raise ValueError("the machine queues its events: fire it with Event.trigger")
        if not machine.ignore_invalid_triggers:
            raise ValueError("the machine raises on invalid triggers: fire it with Event.trigger")
        if (type(machine), machine.event_cls, machine.transition_cls) != _PLAIN:
            raise ValueError(
                f"{type(machine).__name__} is not a plain Machine: fire it with Event.trigger"
            )
        self.machine = machine
        self.attribute = machine.model_attribute
        self.routes: dict[tuple[str, str], tuple[Event, State, tuple[Transition, ...]]] = {
            (trigger, source): (event, machine.get_state(source), tuple(candidates))
            for trigger, event in machine.events.items()
            for source, candidates in event.transitions.items()
        }

    def __call__(self, model: Any, trigger: str, ctx: Mapping[str, Any]) -> bool:
        """True when a transition ran; False when none could (and nothing ran or changed)."""
        route = self.routes.get((trigger, getattr(model, self.attribute)))
        if route is None:
            return False
        event, state, candidates = route
        event_data = EventData(state, event, self.machine, model, (ctx,), {})
        for transition in candidates:
            event_data.transition = transition
            if transition.execute(event_data):
                event_data.result = True
                return True
        return False


def _callbacks(names: Sequence[str], definition: LifecycleDefinition) -> list[_Effects]:
    return [_Effects(names, definition)] if names else []


class Lifecycle:
    """The compiled, shared lifecycle of one (market, payment method) variant."""

    def __init__(self, definition: LifecycleDefinition) -> None:
        self.definition = definition
        states = [
            {"name": s.name, "on_enter": _callbacks(s.on_enter, definition)}
            for s in definition.states
        ]
        transitions = [
            {
                "trigger": spec.trigger,
                "source": list(spec.sources),
                "dest": spec.dest,
                "conditions": [_Guards(spec.guards)] if spec.guards else [],
                "before": _callbacks(spec.effects, definition),
            }
            for spec in definition.transitions
        ]
        self.machine = Machine(
            model=None,
            states=states,
            transitions=transitions,
            initial=definition.states[0].name,
            auto_transitions=False,
            send_event=True,
            ignore_invalid_triggers=True,
            model_attribute="status",
        )
        self._run = DirectTrigger(self.machine)
        self._specs: dict[str, list[TransitionSpec]] = {}
        for spec in definition.transitions:
            self._specs.setdefault(spec.trigger, []).append(spec)

    # -- firing ---------------------------------------------------------------------------

    def fire(self, order: OrderFacts, trigger: str, **ctx: Any) -> None:
        """Run ``trigger`` on ``order`` or raise ``TransitionNotAllowed`` with every reason."""
        if not self._run(order, trigger, ctx):
            raise self.refusal(order, trigger, ctx)

    def try_fire(self, order: OrderFacts, trigger: str, **ctx: Any) -> bool:
        """Run ``trigger`` if its guards allow it; False (and nothing changed) otherwise."""
        return self._run(order, trigger, ctx)

    # -- introspection --------------------------------------------------------------------

    def reasons(self, order: OrderFacts, trigger: str, ctx: Mapping[str, Any]) -> list[str]:
        """Why ``trigger`` is refused now (empty when it is allowed)."""
        specs = self._specs.get(trigger)
        if not specs:
            known = ", ".join(self.definition.triggers)
            return [f"{trigger!r} is not a trigger of this lifecycle (known: {known})"]
        from_here = [s for s in specs if order.status in s.sources]
        if not from_here:
            allowed = sorted({src for s in specs for src in s.sources})
            return [f"status is {order.status} (allowed in: {', '.join(allowed)})"]
        best: list[str] | None = None
        for spec in from_here:
            failing = [r for gd in spec.guards if (r := gd.check(order, ctx)) is not None]
            if not failing:
                return []
            if best is None or len(failing) < len(best):
                best = failing
        return best or []

    def allows(self, order: OrderFacts, trigger: str, **ctx: Any) -> bool:
        return not self.reasons(order, trigger, ctx)

    def available_triggers(self, order: OrderFacts, **ctx: Any) -> list[str]:
        """Triggers whose guards pass for ``order`` now (amount-dependent ones excluded)."""
        return [t for t in self.definition.triggers if not self.reasons(order, t, ctx)]

    def refusal(
        self, order: OrderFacts, trigger: str, ctx: Mapping[str, Any]
    ) -> TransitionNotAllowed:
        reasons = self.reasons(order, trigger, ctx) or ["the lifecycle refused it"]
        return TransitionNotAllowed(
            order=order.number,
            trigger=trigger,
            status=order.status,
            payment_status=order.payment_status,
            fulfillment_status=order.fulfillment_status,
            reasons=reasons,
        )

    # -- diagrams -------------------------------------------------------------------------

    def mermaid(self) -> str:
        """The lifecycle as a Mermaid ``stateDiagram-v2``, guards shown on the arrows."""
        return render_mermaid(self.definition)

    def svg(self) -> str:
        """The lifecycle as a standalone SVG picture, guards in each arrow's tooltip."""
        return render_svg(self.definition)


#: Guards that every arrow has (plugin vetoes) or that only route (full vs partial refund).
_HIDDEN_GUARDS = frozenset({"full_refund", "plugin_guards"})


def render_mermaid(definition: LifecycleDefinition) -> str:
    """Draw ``definition`` with transitions' own Mermaid engine (no graphviz needed)."""
    graph_machine = GraphMachine(
        states=[s.name for s in definition.states],
        transitions=[
            {
                "trigger": spec.trigger,
                "source": list(spec.sources),
                "dest": spec.dest if spec.dest is not None else None,
                "conditions": [gd.name for gd in spec.guards if gd.name not in _HIDDEN_GUARDS],
            }
            for spec in definition.transitions
            if spec.trigger not in ("mark_draft", "archive", "unarchive")
        ],
        initial=definition.states[0].name,
        auto_transitions=False,
        graph_engine="mermaid",
        show_conditions=True,
        title=f"{definition.market} / {definition.payment_method or 'free orders'}",
    )
    source: str = graph_machine.get_graph().source
    return source


class LifecycleCompiler:
    """Builds each variant's lifecycle once and hands out the shared instance afterwards.

    Thread-safe; ``built`` counts machines ever built, so a test or a benchmark can prove that
    orders never cause one to be built.
    """

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str | None, str], Lifecycle] = {}
        self._lock = threading.Lock()
        self.built = 0

    def lifecycle(self, market: MarketPolicy, payment_method: str | None) -> Lifecycle:
        key = (market.code, payment_method, market.fingerprint)
        found = self._cache.get(key)
        if found is not None:
            return found
        with self._lock:
            found = self._cache.get(key)
            if found is None:
                method = market.payment_method(payment_method) if payment_method else None
                if payment_method is not None and method is None:
                    raise KeyError(f"market {market.code} has no payment method {payment_method!r}")
                found = Lifecycle(define_lifecycle(market, method))
                self._cache[key] = found
                self.built += 1
            return found

    def compile_market(self, market: MarketPolicy) -> list[Lifecycle]:
        """Every variant of ``market``: free orders first, then one per payment method."""
        return [
            self.lifecycle(market, code)
            for code in (None, *(m.code for m in market.payment_methods))
        ]
