"""The order lifecycle as data, and how a market policy shapes it.

The built-in table follows Commerce Layer's action matrix. A market and a payment method change
it in three ways: the payment method's capture mode (which guards and effects apply), the
``auto_place`` flag (where ``authorize`` leads), and extra steps declared by policy. The result,
a ``LifecycleDefinition``, is plain data: the compiler turns it into a ``transitions`` machine,
and the diagram export draws it, so both always agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace

from ..money import Money
from ..policy import BUILTIN_STATUSES, LifecycleStep, MarketPolicy, PaymentMethodPolicy
from . import _guards as g
from ._guards import Guard
from ._statuses import OrderStatus

__all__ = [
    "BUILTIN_TRIGGERS",
    "DefinitionProblem",
    "LifecycleDefinition",
    "LifecycleDefinitionError",
    "StateSpec",
    "TransitionSpec",
    "check_market",
    "define_lifecycle",
]

PolicyPath = tuple[str | int, ...]


@dataclass(frozen=True)
class TransitionSpec:
    """One arrow of the lifecycle. ``dest=None`` keeps ``status`` (the other statuses move)."""

    trigger: str
    sources: tuple[str, ...]
    dest: str | None
    guards: tuple[Guard, ...] = ()
    effects: tuple[str, ...] = ()
    """Names of ``LifecycleEffects`` methods run before the state changes (they may refuse)."""


@dataclass(frozen=True)
class StateSpec:
    name: str
    on_enter: tuple[str, ...] = ()
    """Names of ``LifecycleEffects`` methods run once the order has entered the state."""
    terminal: bool = False
    description: str = ""


@dataclass(frozen=True)
class LifecycleDefinition:
    """Everything the machine of one (market, payment method) variant is built from."""

    market: str
    payment_method: str | None
    fingerprint: str
    states: tuple[StateSpec, ...]
    transitions: tuple[TransitionSpec, ...]
    auto_capture: bool = False
    auto_capture_max_amount: Money | None = None
    require_capture: bool = True
    auto_place: bool = False

    @property
    def triggers(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t.trigger for t in self.transitions))

    @property
    def state_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.states)

    @property
    def capture_mode(self) -> str:
        """One line for humans: how and when this variant's money is captured."""
        if self.payment_method is None:
            return "none (free orders only)"
        if self.auto_capture and self.auto_capture_max_amount is not None:
            mode = f"automatic up to {self.auto_capture_max_amount.format()}, manual above"
        elif self.auto_capture:
            mode = "automatic at authorization"
        else:
            mode = "manual"
        if not self.require_capture:
            mode += "; delayed (fulfillment may start before capture)"
        if self.auto_place:
            mode += "; auto-place on authorization"
        return mode


@dataclass(frozen=True)
class DefinitionProblem:
    """A policy step that breaks the lifecycle, located by its path inside the market."""

    path: PolicyPath
    message: str


class LifecycleDefinitionError(ValueError):
    def __init__(self, problems: Iterable[DefinitionProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(p.message for p in self.problems))


BUILTIN_TRIGGERS: tuple[str, ...] = (
    "mark_pending",
    "mark_draft",
    "authorize",
    "place",
    "approve",
    "capture",
    "refund",
    "cancel",
    "fulfill",
    "archive",
    "unarchive",
)

_PLACE_GUARDS = (
    g.HAS_LINE_ITEMS,
    g.HAS_CUSTOMER_EMAIL,
    g.HAS_BILLING_ADDRESS,
    g.SHIPPING_READY,
    g.STOCK_AVAILABLE,
    g.NO_PENDING_ACTION,
)
#: Triggers the SDK fires on its own to follow the cart's content: plugins cannot veto them.
_AUTOMATIC = ("mark_pending", "mark_draft")


def _with_plugin_guards(spec: TransitionSpec) -> TransitionSpec:
    if spec.trigger in _AUTOMATIC:
        return spec
    return replace(spec, guards=(*spec.guards, g.plugin_veto(spec.trigger)))


@dataclass
class _Draft:
    """A definition being assembled; steps are inserted into it one by one."""

    states: list[StateSpec] = field(default_factory=list)
    flow: list[TransitionSpec] = field(default_factory=list)
    cancel_from: list[str] = field(default_factory=list)

    def state(self, name: str) -> StateSpec | None:
        return next((s for s in self.states if s.name == name), None)


def _base(payment_method: PaymentMethodPolicy | None, market: MarketPolicy) -> _Draft:
    D, P, PL, A, C = (  # noqa: N806 - short names keep the table readable
        OrderStatus.DRAFT.value,
        OrderStatus.PENDING.value,
        OrderStatus.PLACED.value,
        OrderStatus.APPROVED.value,
        OrderStatus.CANCELLED.value,
    )
    pay_guards: tuple[Guard, ...] = (
        (g.FREE_WITHOUT_PAYMENT_METHOD,) if payment_method is None else ()
    )
    placed_effects: tuple[str, ...] = ("on_placed",)
    if payment_method is not None and payment_method.auto_capture:
        placed_effects += ("auto_capture",)
    draft = _Draft(
        states=[
            StateSpec(D, description="a cart"),
            StateSpec(P, description="line items and a customer e-mail: ready to check out"),
            StateSpec(PL, on_enter=placed_effects, description="payment authorized"),
            StateSpec(A, on_enter=("on_approved",), description="fulfillment may start"),
            StateSpec(C, on_enter=("on_cancelled",), terminal=True, description="closed"),
        ],
        flow=[
            TransitionSpec("mark_pending", (D,), P, (g.HAS_LINE_ITEMS, g.HAS_CUSTOMER_EMAIL)),
            TransitionSpec("mark_draft", (P,), D, (g.LACKS_LINES_OR_EMAIL,)),
            TransitionSpec(
                "place",
                (P,),
                PL,
                (*_PLACE_GUARDS, *pay_guards, g.NOT_PARTIALLY_AUTHORIZED),
                ("reserve", "authorize"),
            ),
            TransitionSpec(
                "approve",
                (PL,),
                A,
                (g.approvable(payment_method.require_capture if payment_method else True),),
            ),
        ],
        cancel_from=[s for s in market.rules.cancel_allowed_in if s in BUILTIN_STATUSES],
    )
    if payment_method is not None:
        # Authorize without placing; with auto_place, the authorization places the order.
        draft.flow.insert(
            2,
            TransitionSpec(
                "authorize",
                (P,),
                PL if payment_method.auto_place else None,
                (*_PLACE_GUARDS, g.UNPAID),
                ("reserve", "authorize"),
            ),
        )
    return draft


def _insert_step(draft: _Draft, step: LifecycleStep, path: PolicyPath) -> list[DefinitionProblem]:
    names = {s.name for s in draft.states}
    problems: list[DefinitionProblem] = []
    if step.state in names:
        problems.append(DefinitionProblem((*path, "state"), f"state {step.state!r} already exists"))
    if step.after not in names:
        problems.append(DefinitionProblem((*path, "after"), f"unknown state {step.after!r}"))
    if step.exit_to not in names | {step.state}:
        problems.append(DefinitionProblem((*path, "exit_to"), f"unknown state {step.exit_to!r}"))
    used_triggers = {t.trigger for t in draft.flow} | set(BUILTIN_TRIGGERS)
    if step.exit_trigger in used_triggers:
        problems.append(
            DefinitionProblem(
                (*path, "exit_trigger"), f"trigger {step.exit_trigger!r} already exists"
            )
        )
    entering = [t for t in draft.flow if t.trigger == step.entered_by and step.after in t.sources]
    if not entering and not problems:
        problems.append(
            DefinitionProblem(
                (*path, "entered_by"),
                f"no {step.entered_by!r} transition leaves {step.after!r} to lead into the step",
            )
        )
    if problems:
        return problems
    for spec in entering:
        index = draft.flow.index(spec)
        rest = tuple(s for s in spec.sources if s != step.after)
        redirected = replace(spec, sources=(step.after,), dest=step.state)
        draft.flow[index : index + 1] = [redirected] + (
            [replace(spec, sources=rest)] if rest else []
        )
    position = [s.name for s in draft.states].index(step.after) + 1
    draft.states.insert(position, StateSpec(step.state, description=step.description))
    draft.flow.append(TransitionSpec(step.exit_trigger, (step.state,), step.exit_to))
    if step.cancellable:
        draft.cancel_from.append(step.state)
    return []


def _edges(draft: _Draft) -> dict[str, set[str]]:
    """Where each state can lead, counting cancel and the full refund that ends in cancelled."""
    edges: dict[str, set[str]] = {s.name: set() for s in draft.states}
    for spec in draft.flow:
        for source in spec.sources:
            if spec.dest is not None and source in edges:
                edges[source].add(spec.dest)
    cancelled = OrderStatus.CANCELLED.value
    for source in draft.cancel_from:
        edges.setdefault(source, set()).add(cancelled)
    for source in _walk(edges, OrderStatus.PLACED.value) - {cancelled}:
        edges[source].add(cancelled)
    return edges


def _walk(edges: dict[str, set[str]], start: str) -> set[str]:
    seen = {start}
    frontier = [start]
    while frontier:
        for dest in edges.get(frontier.pop(), ()):
            if dest not in seen:
                seen.add(dest)
                frontier.append(dest)
    return seen


def _reachable(draft: _Draft, start: str) -> set[str]:
    return _walk(_edges(draft), start)


def _money_flow(
    draft: _Draft, payment_method: PaymentMethodPolicy | None, market: MarketPolicy
) -> list[TransitionSpec]:
    """Transitions that exist in every status after placement: capture, refund, archive."""
    cancelled = OrderStatus.CANCELLED.value
    after_placement = tuple(
        s.name for s in draft.states if s.name in _reachable(draft, OrderStatus.PLACED.value)
    )
    live = tuple(s for s in after_placement if s != cancelled)
    refund_guards: tuple[Guard, ...] = (g.REFUNDABLE,)
    if market.rules.refund_window_days is not None:
        refund_guards += (g.refund_window(market.rules.refund_window_days),)
    specs = [
        TransitionSpec(
            "refund", live, cancelled, (*refund_guards, g.FULL_REFUND), ("release_holds", "refund")
        ),
        TransitionSpec("refund", live, None, refund_guards, ("refund",)),
        TransitionSpec(
            "fulfill",
            (OrderStatus.APPROVED.value,),
            None,
            (g.FULFILLMENT_IN_PROGRESS, g.ALL_SHIPPED),
            ("mark_fulfilled",),
        ),
        TransitionSpec(
            "archive", (*live, cancelled), None, (g.CLOSED, g.NOT_ARCHIVED), ("archive",)
        ),
        TransitionSpec("unarchive", (*live, cancelled), None, (g.ARCHIVED,), ("unarchive",)),
    ]
    if payment_method is not None:
        validity = g.authorization_valid(payment_method.authorization_validity_days)
        specs.insert(
            0, TransitionSpec("capture", live, None, (g.CAPTURABLE, validity), ("capture",))
        )
    return specs


def _graph_problems(draft: _Draft, path: PolicyPath) -> list[DefinitionProblem]:
    edges = _edges(draft)
    reachable = _walk(edges, OrderStatus.DRAFT.value)
    problems = []
    for state in draft.states:
        if state.name not in reachable:
            problems.append(DefinitionProblem(path, f"state {state.name!r} becomes unreachable"))
        elif not state.terminal and not edges[state.name] - {state.name}:
            problems.append(DefinitionProblem(path, f"state {state.name!r} has no way out"))
    return problems


def _steps_of(
    market: MarketPolicy, payment_method: PaymentMethodPolicy | None
) -> Iterator[tuple[LifecycleStep, PolicyPath]]:
    for index, step in enumerate(market.steps):
        yield step, ("steps", index)
    if payment_method is not None:
        pm_index = market.payment_methods.index(payment_method)
        for index, step in enumerate(payment_method.steps):
            yield step, ("payment_methods", pm_index, "steps", index)


def define_lifecycle(
    market: MarketPolicy, payment_method: PaymentMethodPolicy | None
) -> LifecycleDefinition:
    """The lifecycle of ``market`` orders paid with ``payment_method`` (None: free orders).

    Raises ``LifecycleDefinitionError`` when a policy step breaks the graph.
    """
    draft = _base(payment_method, market)
    problems: list[DefinitionProblem] = []
    for step, path in _steps_of(market, payment_method):
        step_problems = _insert_step(draft, step, path)
        if not step_problems:
            step_problems = _graph_problems(draft, path)
        problems.extend(step_problems)
        if step_problems:
            break
    if problems:
        raise LifecycleDefinitionError(problems)
    cancel = TransitionSpec(
        "cancel",
        tuple(dict.fromkeys(draft.cancel_from)),
        OrderStatus.CANCELLED.value,
        (g.NOTHING_SHIPPED,),
        ("release_holds", "release_payment"),
    )
    transitions = tuple(
        _with_plugin_guards(spec)
        for spec in (*draft.flow, cancel, *_money_flow(draft, payment_method, market))
    )
    return LifecycleDefinition(
        market=market.code,
        payment_method=payment_method.code if payment_method else None,
        fingerprint=market.fingerprint,
        states=tuple(draft.states),
        transitions=transitions,
        auto_capture=bool(payment_method and payment_method.auto_capture),
        auto_capture_max_amount=payment_method.auto_capture_max_amount if payment_method else None,
        require_capture=payment_method.require_capture if payment_method else True,
        auto_place=bool(payment_method and payment_method.auto_place),
    )


def check_market(market: MarketPolicy) -> list[tuple[PolicyPath, str]]:
    """Policy-load check: every variant of ``market`` must compile (see ``load_policies``)."""
    found: dict[tuple[PolicyPath, str], None] = {}
    for payment_method in (None, *market.payment_methods):
        try:
            define_lifecycle(market, payment_method)
        except LifecycleDefinitionError as exc:
            for problem in exc.problems:
                found[(problem.path, problem.message)] = None
    return list(found)
