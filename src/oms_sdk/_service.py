"""The ``OMS`` facade: one method per thing an application wants to do with an order.

Every mutating method is one unit of work: load and lock the order, run the command (through the
order's compiled lifecycle when a status may change), append the history entry, commit, and
return an immutable ``OrderView``. When anything fails, nothing is written, with one exception:
money that a gateway moved (or refused to move) is always recorded on the ledger.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.orm.exc import StaleDataError

from ._effects import (
    GatewayCall,
    GatewayOutcome,
    NeedsGateway,
    NoAnswer,
    OrderEffects,
    call_gateway,
    transaction_id,
)
from ._outbox import RelayReport, publishers_of, relay_outbox
from ._plugins import PluginHost
from .errors import (
    ConcurrentModification,
    GiftCardError,
    IdempotencyConflict,
    InvalidOrderInput,
    PaymentDeclined,
    PaymentOutcomeUnknown,
    PolicyError,
    PolicyProblem,
    TransitionNotAllowed,
)
from .events import EventPublisher, OrderEvent
from .lifecycle import (
    BUILTIN_TRIGGERS,
    Lifecycle,
    LifecycleCompiler,
    OrderStatus,
    ShipmentLifecycle,
    check_market,
)
from .money import Money
from .orders import (
    Address,
    GiftCard,
    GiftCardView,
    HistoryEntryView,
    LineItem,
    Order,
    OrderView,
    PaymentTransaction,
    TransactionKind,
    gift_card_view,
    history_view,
    promotion_problem,
    reprice,
)
from .payments import PaymentGateway, PaymentRequest
from .policy import MarketPolicy, PolicySet, load_policies
from .store import Store
from .store._store import UNANSWERED

__all__ = ["OMS", "Reconciled"]

Clock = Callable[[], datetime]
log = logging.getLogger("oms_sdk")
_EDITABLE = (OrderStatus.DRAFT.value, OrderStatus.PENDING.value)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CARD_NUMBER = re.compile(r"^[\d -]{12,23}$")
#: A command that needs more gateway calls than this is a bug, not a big order.
_MAX_GATEWAY_CALLS = 64
#: SQLSTATEs of a PostgreSQL transaction that lost a race: serialization failure, deadlock,
#: lock not available.
_RACE_SQLSTATES = frozenset({"40001", "40P01", "55P03"})


def _in_utc(clock: Clock) -> Clock:
    """``clock`` read in UTC, as timestamps come back from the database: an order's objects
    kept between commands then hold the same values as a freshly loaded order."""

    def now() -> datetime:
        value = clock()
        return value.astimezone(UTC) if value.tzinfo is not None else value

    return now


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


class _Busy(Exception):
    """Another command holds the order: try again shortly."""

    def __init__(self, message: str, order: str) -> None:
        super().__init__(message)
        self.order = order


class _NeedsSavepoint(Exception):
    """A command run without a savepoint reached a gateway call: run it again with one."""


class _LostClaim(Exception):
    """Another run took this run's idempotency key over: this one must not answer for it."""


@dataclass(frozen=True)
class _Claim:
    """This run's hold on an idempotency key."""

    key: str
    owner: str

    def lost(self) -> _LostClaim:
        return _LostClaim(
            f"another request with idempotency key {self.key!r} took over from this one "
            "(it looked stale); its answer is the key's answer"
        )


class _Backoff:
    """Jittered exponential sleeps within a time budget, for commands that lost a race."""

    def __init__(self, budget: float) -> None:
        self.deadline = time.monotonic() + budget
        self.delay = 0.002

    def sleep(self) -> bool:
        """Sleep before the next try; False when the budget is spent."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(self.delay * (0.5 + random.random()), left))
        self.delay = min(self.delay * 2, 0.1)
        return True


def _lost_race(error: Exception) -> bool:
    """Whether a database error means another transaction won, so retrying may succeed."""
    if isinstance(error, StaleDataError):
        return True
    if isinstance(error, DBAPIError):
        sqlstate = getattr(error.orig, "sqlstate", None)
        if sqlstate in _RACE_SQLSTATES:
            return True
        return "database is locked" in str(error.orig)
    return False


@dataclass(frozen=True)
class Reconciled:
    """A payment that ``OMS.reconcile`` settled with the gateway's answer."""

    order: str
    transaction_id: str
    kind: str
    amount: Money
    outcome: str
    """``succeeded``, ``failed``, ``action_required`` (the customer must act), or ``unknown``
    (the gateway still gave no answer: the row stays pending)."""
    error_code: str | None

    @classmethod
    def of(cls, order: str, row: PaymentTransaction) -> Reconciled:
        outcome = "succeeded" if row.succeeded else "action_required" if row.pending else "failed"
        return cls(order, row.id, row.kind, row.money, outcome, row.error_code)


@dataclass
class _Step:
    """What a command did, for the history entry."""

    trigger: str
    amount: Money | None = None
    detail: dict[str, Any] | None = None


class OMS:
    """An order management system embedded in your application.

    Create one per process with ``OMS.open(...)`` and share it: it is thread-safe, and each
    method runs in its own database transaction (or a few, when it moves money: see
    ``reconcile``).
    """

    busy_timeout: float = 10.0
    """Seconds a command waits for an order that another command holds, before it raises
    ``ConcurrentModification``."""
    in_flight_timeout: timedelta = timedelta(seconds=60)
    """How long a payment may be on its way to the gateway before its outcome counts as unknown:
    commands on its order then fail until ``reconcile`` asks the gateway."""
    _crash_at: Callable[[str], None] | None = None

    def __init__(
        self,
        policies: PolicySet,
        store: Store,
        *,
        plugins: PluginHost | None = None,
        clock: Clock = _utcnow,
        actor: str = "system",
        compiler: LifecycleCompiler | None = None,
    ) -> None:
        self.policies = policies
        self.store = store
        self.plugins = plugins or PluginHost(enabled=policies.plugins)
        self.clock = _in_utc(clock)
        self.actor = actor
        self.compiler = compiler or LifecycleCompiler()
        self._shipments = ShipmentLifecycle()
        missing = [
            PolicyProblem(
                policies.origin(market.code),
                f"markets[{market.code}].payment_methods[{method.code}].gateway",
                None,
                f"gateway {method.gateway!r} is not registered "
                f"(registered: {', '.join(sorted(self.gateways)) or 'none'})",
            )
            for market in policies
            for method in market.payment_methods
            if method.gateway not in self.gateways
        ]
        if missing:
            raise PolicyError(missing)
        for market in policies:
            self.compiler.compile_market(market)
        self.plugins.hook.oms_opened(oms=self)

    @property
    def gateways(self) -> Mapping[str, PaymentGateway]:
        """Every payment gateway the plugins provide, by name."""
        return self.plugins.gateways

    @classmethod
    def open(
        cls,
        policy_path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        database_url: str | None = None,
        *,
        plugins: Sequence[object] = (),
        gateways: Iterable[PaymentGateway] = (),
        clock: Clock = _utcnow,
        actor: str = "system",
        keep_loaded: int = 256,
    ) -> OMS:
        """Load the policy files and plugins, open (and create) the database, compile.

        ``database_url`` defaults to ``$OMS_DATABASE_URL``, then to ``sqlite:///oms.sqlite3``.
        ``plugins`` are registered before the entry-point plugins the policy files enable;
        ``gateways`` are used instead of any plugin's gateway of the same name (handy to keep
        a handle on a test gateway). Up to ``keep_loaded`` orders stay loaded between
        commands, used again while their version in the database is unchanged (0: off).
        """
        paths = [policy_path] if isinstance(policy_path, str | os.PathLike) else policy_path
        policies, host = load_with_plugins(paths, plugins=plugins, gateways=gateways)
        store = Store(
            database_url or os.environ.get("OMS_DATABASE_URL"),
            migrations=host.migrations,
            keep_loaded=keep_loaded,
        )
        return cls(policies, store, plugins=host, clock=clock, actor=actor)

    def with_actor(self, actor: str) -> OMS:
        """The same OMS, recording ``actor`` (an operator, a job name) in the history."""
        clone = object.__new__(OMS)
        clone.__dict__.update(self.__dict__)
        clone.actor = actor
        return clone

    def close(self) -> None:
        """Close the database connections (``with OMS.open(...) as oms:`` calls it on exit)."""
        self.store.close()

    def __enter__(self) -> OMS:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing -------------------------------------------------------------------------

    def _market(self, code: str) -> MarketPolicy:
        try:
            return self.policies.market(code)
        except KeyError:
            known = ", ".join(self.policies.codes)
            raise InvalidOrderInput(f"unknown market {code!r} (known: {known})") from None

    def lifecycle(self, order: Order | OrderView) -> Lifecycle:
        """The compiled, shared lifecycle that governs ``order``."""
        return self.compiler.lifecycle(self._market(order.market), order.payment_method)

    def _effects(
        self,
        session: Session,
        market: MarketPolicy,
        now: datetime,
        command_key: str | None = None,
        answers: Mapping[str, GatewayOutcome] | None = None,
    ) -> OrderEffects:
        return OrderEffects(
            store=self.store,
            session=session,
            market=market,
            plugins=self.plugins,
            now=now,
            command_key=command_key or uuid.uuid4().hex,
            answers=answers if answers is not None else {},
        )

    def _fire(self, order: Order, effects: OrderEffects, trigger: str, **ctx: Any) -> None:
        self.lifecycle(order).fire(order, trigger, effects=effects, now=effects.now, **ctx)

    def _history(
        self,
        session: Session,
        order: Order,
        before: tuple[str, str, str],
        step: _Step,
        now: datetime,
        actor: str,
    ) -> None:
        after = order.statuses()
        self.store.add_history(
            session,
            order_id=order.id,
            at=now,
            trigger=step.trigger,
            actor=actor,
            from_status=before[0],
            from_payment_status=before[1],
            from_fulfillment_status=before[2],
            status=after[0],
            payment_status=after[1],
            fulfillment_status=after[2],
            amount=step.amount.minor if step.amount is not None else None,
            currency=order.currency,
            detail=step.detail or {},
        )

    def _finish(
        self,
        session: Session,
        command: str,
        order: Order,
        before: tuple[str, str, str],
        step: _Step,
        now: datetime,
        actor: str,
        claim: _Claim | None,
        *,
        new: bool = False,
    ) -> tuple[OrderView, OrderEvent]:
        """The end of every command's transaction: version, history, outbox, stored answer."""
        if not new:
            order.updated_at = now
            flag_modified(order, "updated_at")  # every command bumps the version
        session.flush()
        self._history(session, order, before, step, now, actor)
        view = OrderView.of(order)
        event = OrderEvent(
            id=str(uuid.uuid4()),
            name=f"orders.{command}",
            at=now,
            actor=actor,
            from_statuses=before,
            statuses=(view.status, view.payment_status, view.fulfillment_status),
            amount=step.amount,
            order=view,
        )
        self.store.add_event(
            session,
            event_id=event.id,
            order_id=order.id,
            name=event.name,
            payload=event.to_dict(),
            now=now,
        )
        if claim is not None and not self.store.remember_response(
            session,
            key=claim.key,
            owner=claim.owner,
            order_id=order.id,
            response=view.model_dump(mode="json"),
        ):
            raise claim.lost()  # rolls this transaction back: one answer per key
        return view, event

    def _idempotently(
        self,
        key: str | None,
        command: str,
        args: Mapping[str, Any],
        body: Callable[[_Claim | None], tuple[OrderView, OrderEvent]],
    ) -> OrderView:
        """Run ``body`` once per idempotency key.

        The key is claimed (inserted) before the command runs, so concurrent requests with
        one key cannot both act: the others wait for the first one's answer and return it. A
        key first used for another request raises ``IdempotencyConflict`` before anything runs.
        A failed request frees its key: retrying it runs the command again, and the ledger
        rows it already has (found by their keys) keep any money from moving twice.
        """
        claim = _Claim(key, str(uuid.uuid4())) if key is not None else None
        if key is not None and claim is not None:
            fingerprint = hashlib.sha256(
                json.dumps([command, args], sort_keys=True, default=str).encode()
            ).hexdigest()
            backoff = _Backoff(self.busy_timeout)
            while True:
                now = self.clock()
                found = self.store.claim_idempotency_key(
                    key,
                    command=command,
                    fingerprint=fingerprint,
                    owner=claim.owner,
                    now=now,
                    stale_before=now - self.in_flight_timeout,
                )
                if found.state != "claimed" and (found.command, found.fingerprint) != (
                    command,
                    fingerprint,
                ):
                    raise IdempotencyConflict(
                        f"idempotency key {key!r} was first used for a different request "
                        f"({found.command}); use a new key for a new request"
                    )
                if found.state == "done":
                    return OrderView.model_validate(found.response)
                if found.state == "claimed":
                    break
                if not backoff.sleep():
                    raise ConcurrentModification(
                        f"a request with idempotency key {key!r} is still running; "
                        "retry later with the same key"
                    )
        try:
            view, event = body(claim)
        except _LostClaim as lost:
            raise ConcurrentModification(str(lost)) from None
        except Exception:
            if key is not None:
                self.store.release_idempotency_key(key)
            raise
        self._observe(event)
        return view

    def _command(
        self,
        command: str,
        ref: str,
        run: Callable[[Session, Order, OrderEffects], _Step],
        *,
        idempotency_key: str | None = None,
        args: Mapping[str, Any] | None = None,
        allow_in_flight: bool = False,
        moves_money: bool = True,
    ) -> OrderView:
        """Run one command on one order: claimed by its idempotency key, then attempted.

        ``moves_money=False`` (cart edits) runs it without the savepoint that a gateway call
        needs; should one be needed after all, the attempt is run again with it."""
        return self._idempotently(
            idempotency_key,
            command,
            {"order": ref, **(args or {})},
            lambda claim: self._attempts(
                command,
                ref,
                run,
                idempotency_key,
                claim,
                allow_in_flight=allow_in_flight,
                use_savepoint=moves_money,
            ),
        )

    def _attempts(
        self,
        command: str,
        ref: str,
        run: Callable[[Session, Order, OrderEffects], _Step],
        idempotency_key: str | None,
        claim: _Claim | None,
        *,
        allow_in_flight: bool = False,
        use_savepoint: bool = True,
    ) -> tuple[OrderView, OrderEvent]:
        """Run the command until it completes, calling gateways between its transactions.

        Each attempt locks the order and runs the whole command. When it reaches a money
        movement it has no answer for, the attempt commits only that movement's intent (a
        pending ledger row), the gateway is called with no transaction open, and the next
        attempt runs the command again with the answer. An attempt that finds the order busy
        (locked, or another command's payment on its way) is retried with backoff for up to
        ``busy_timeout`` seconds, then ``ConcurrentModification`` is raised.
        """
        # The caller's key makes the gateway keys repeat when the command is retried, so a
        # retry after a crash or timeout cannot move the money twice.
        command_key = f"idem:{idempotency_key}" if idempotency_key else uuid.uuid4().hex
        answers: dict[str, GatewayOutcome] = {}
        now, actor = self.clock(), self.actor
        backoff = _Backoff(self.busy_timeout)
        while len(answers) < _MAX_GATEWAY_CALLS:
            self._keep(claim)
            try:
                finished, call = self._attempt(
                    command,
                    ref,
                    run,
                    claim,
                    command_key,
                    answers,
                    now,
                    actor,
                    allow_in_flight,
                    use_savepoint,
                )
            except _NeedsSavepoint:
                use_savepoint = True  # nothing was committed: the same attempt, with a savepoint
                continue
            except _Busy as busy:
                if backoff.sleep():
                    continue
                self._give_up(ref, command, answers, now, actor, busy)
                raise ConcurrentModification(str(busy), order=busy.order) from None
            except (StaleDataError, DBAPIError) as error:
                if not _lost_race(error):
                    raise
                if backoff.sleep():
                    continue
                self._give_up(ref, command, answers, now, actor, error)
                raise ConcurrentModification(
                    f"order {ref}: another command kept changing it ({type(error).__name__}); "
                    "nothing was changed, retry later",
                    order=ref,
                ) from error
            except _LostClaim:
                raise
            except Exception as error:
                # Whatever failed, money a gateway moved (or refused to move) stays on record.
                if answers:
                    self._record_outcomes(ref, command, answers, now, actor, error)
                raise
            if finished is not None:
                return finished
            assert call is not None
            self._recovery_point("intent_committed")
            self._keep(claim)
            answers[call.key] = self._ask(ref, command, call, answers, now, actor)
            self._recovery_point("gateway_answered")
        raise RuntimeError(f"{command} on order {ref} made more than {_MAX_GATEWAY_CALLS} calls")

    def _keep(self, claim: _Claim | None) -> None:
        """Refresh the idempotency claim: a live run is never taken over as stale."""
        if claim is not None and not self.store.refresh_claim(claim.key, claim.owner, self.clock()):
            raise claim.lost()

    def _ask(
        self,
        ref: str,
        command: str,
        call: GatewayCall,
        answers: Mapping[str, GatewayOutcome],
        now: datetime,
        actor: str,
    ) -> GatewayOutcome:
        """The gateway's answer; asked again once, with the same key, if it gave none."""
        try:
            return call_gateway(self.plugins, call)
        except NoAnswer:
            pass
        try:
            return call_gateway(self.plugins, call)
        except NoAnswer as silence:
            self.store.mark_unanswered(call.key, str(silence))
            error = PaymentOutcomeUnknown(
                f"{call.kind.value} of {call.request.amount.format()} for order "
                f"{call.request.order_number}: the gateway gave no answer ({silence}); the "
                "payment stays pending until it is settled: retry with the same idempotency "
                "key, or run OMS.reconcile()",
                order=call.request.order_number,
                transaction_id=transaction_id(call.key),
            )
            if answers:
                self._record_outcomes(ref, command, answers, now, actor, error)
            raise error from None

    def _give_up(
        self,
        ref: str,
        command: str,
        answers: Mapping[str, GatewayOutcome],
        now: datetime,
        actor: str,
        error: Exception,
    ) -> None:
        """A command that gives up still records the answers it got (reconcile would too)."""
        if not answers:
            return
        try:
            self._record_outcomes(ref, command, answers, now, actor, error)
        except Exception:
            log.warning("answers of %s on %s left for reconcile", command, ref, exc_info=True)

    def _attempt(
        self,
        command: str,
        ref: str,
        run: Callable[[Session, Order, OrderEffects], _Step],
        claim: _Claim | None,
        command_key: str,
        answers: dict[str, GatewayOutcome],
        now: datetime,
        actor: str,
        allow_in_flight: bool = False,
        use_savepoint: bool = True,
    ) -> tuple[tuple[OrderView, OrderEvent] | None, GatewayCall | None]:
        with self.store.unit_of_work() as session:
            order = self.store.load_order(session, ref)
            effects = self._effects(session, self._market(order.market), now, command_key, answers)
            if not allow_in_flight:
                self._check_in_flight(order, effects, now)
            before = order.statuses()
            lifecycle = self.lifecycle(order)
            if use_savepoint:
                effects.writes_since_savepoint = self.store.writes_since(session)
            savepoint = session.begin_nested() if use_savepoint else None
            self._unsettle_own(order, effects, answers)  # inside: the rollback undoes it
            call: GatewayCall | None
            try:
                step = run(session, order, effects)
            except NeedsGateway as need:
                if savepoint is None:
                    raise _NeedsSavepoint from None  # the unit of work rolls back
                # Keep the lock, drop the command's changes, commit only the intent (and the
                # holds). When the holds are all it changed, they are kept as taken: a rollback
                # would expire the order and taking them again would reload it.
                if not need.holds_only:
                    savepoint.rollback()
                    if need.hold:
                        effects.reserve(order, {}, lifecycle.definition)
                call = replace(need.call, at=self.clock())  # when it is sent, not started
                if not need.resume:
                    self.store.add_intent(session, order, call.intent())
                if need.holds_only:
                    savepoint.commit()  # the holds and the intent: one flush, one version
                finished = None
            else:
                for outcome in answers.values():  # an answer the command no longer asked for
                    row = order.transaction(outcome.idempotency_key)
                    if row is not None and row.pending and row.action_id is None:
                        outcome.settle(row)
                        order.refresh_payment_status()
                if effects.notes:
                    step.detail = {**(step.detail or {}), **effects.notes}
                finished = self._finish(session, command, order, before, step, now, actor, claim)
                if savepoint is not None:
                    savepoint.commit()
                call = None
                self._recovery_point("before_commit")
        self.store.keep_loaded(order)  # committed: the next command may take it as it is
        return finished, call

    @staticmethod
    def _unsettle_own(
        order: Order, effects: OrderEffects, answers: dict[str, GatewayOutcome]
    ) -> None:
        """A retried command (same idempotency key) whose movements were already answered, by
        its earlier attempt or by ``reconcile``, runs as it first did: its own rows count as
        not yet answered, and the answers they hold settle them again, without a gateway call.
        In memory only: the attempt writes them back unchanged."""
        changed = False
        for row in order.transactions:
            # A row settled by complete_payment_action stays as it is: its action is over.
            if effects.owns(row) and not row.pending and row.action_id is None:
                answers.setdefault(row.idempotency_key, GatewayOutcome.of_row(row))
                row.pending, row.succeeded = True, False
                changed = True
        if changed:
            order.refresh_payment_status()

    def _check_in_flight(self, order: Order, effects: OrderEffects, now: datetime) -> None:
        """Wait while another command's payment is on its way to the gateway."""
        foreign = [row for row in order.in_flight() if not effects.owns(row)]
        if not foreign:
            return
        row = min(foreign, key=lambda r: r.created_at)
        what = f"the {row.kind} of {row.money.format()} sent at {row.created_at.isoformat()}"
        if row.error_code == UNANSWERED or now - row.created_at > self.in_flight_timeout:
            raise ConcurrentModification(
                f"order {order.number}: {what} has no recorded answer; run OMS.reconcile() "
                "(oms reconcile) to ask the gateway how it ended, or record what its dashboard "
                "says with OMS.resolve_payment()",
                order=order.number,
                needs_reconcile=True,
            )
        raise _Busy(f"order {order.number}: {what} is still on its way", order.number)

    def _recovery_point(self, name: str) -> None:
        """Where a crash leaves work for ``reconcile``: tests inject crashes here."""
        if self._crash_at is not None:
            self._crash_at(name)

    def _observe(self, event: OrderEvent) -> None:
        """Tell ``oms_order_committed`` observers; their failures cannot undo the commit."""
        for impl in self.plugins.hook.oms_order_committed.get_hookimpls():
            try:
                impl.function(event=event)
            except Exception:
                log.exception("observer %s failed on %s", impl.plugin_name, event.name)

    def _record_outcomes(
        self,
        ref: str,
        command: str,
        answers: Mapping[str, GatewayOutcome],
        now: datetime,
        actor: str,
        error: Exception,
    ) -> None:
        """After a rolled-back command, keep every gateway answer it got on the ledger."""
        with self.store.unit_of_work() as session:
            order = self.store.load_order(session, ref)
            before = order.statuses()
            for outcome in answers.values():
                row = order.transaction(outcome.idempotency_key)
                if row is None:
                    order.record(outcome.to_row())
                elif row.pending and row.action_id is None:
                    outcome.settle(row)
            order.refresh_payment_status()
            self._effects(session, self._market(order.market), now).release_unpaid_holds(order)
            code = getattr(error, "error_code", None) or type(error).__name__
            last = list(answers.values())[-1]
            step = _Step(
                f"{command}_failed", last.amount, {"error_code": code, "error": str(error)}
            )
            _, event = self._finish(
                session, f"{command}_failed", order, before, step, now, actor, None
            )
        self._observe(event)

    def _cart(self, order: Order, what: str) -> None:
        if order.status not in _EDITABLE:
            raise TransitionNotAllowed(
                order=order.number,
                trigger=what,
                status=order.status,
                payment_status=order.payment_status,
                fulfillment_status=order.fulfillment_status,
                reasons=[f"status is {order.status}: only draft and pending orders can be edited"],
            )
        if order.authorization() is not None:
            raise TransitionNotAllowed(
                order=order.number,
                trigger=what,
                status=order.status,
                payment_status=order.payment_status,
                fulfillment_status=order.fulfillment_status,
                reasons=["the payment is already authorized: cancel the order to change it"],
            )

    def _cart_command(
        self,
        command: str,
        ref: str,
        edit: Callable[[Session, Order, OrderEffects], _Step],
        *,
        idempotency_key: str | None = None,
        args: Mapping[str, Any] | None = None,
        amount: Callable[[Order], Money] | None = None,
    ) -> OrderView:
        """A command that edits a cart: refused once the order is placed, then re-priced."""

        def run(session: Session, order: Order, effects: OrderEffects) -> _Step:
            self._cart(order, command)
            step = edit(session, order, effects)
            self._refresh(session, order, effects)
            if amount is not None:
                step.amount = amount(order)
            return step

        return self._command(
            command, ref, run, idempotency_key=idempotency_key, args=args, moves_money=False
        )

    def _refresh(self, session: Session, order: Order, effects: OrderEffects) -> None:
        """Re-price a cart and move it between draft and pending as its content says."""
        balance = None
        if order.gift_card_code:
            card = self.store.gift_card(session, order.gift_card_code)
            balance = Money(card.balance, card.currency) if card is not None else None
        reprice(
            order,
            effects.market,
            now=effects.now,
            promotion_usage=effects.promotion_usage(),
            gift_card_balance=balance,
            shipping_price=lambda method: self.plugins.hook.oms_shipping_price(
                order=order, market=effects.market, method=method
            ),
        )
        lifecycle = self.lifecycle(order)
        lifecycle.try_fire(order, "mark_pending", effects=effects)
        lifecycle.try_fire(order, "mark_draft", effects=effects)

    # -- carts ----------------------------------------------------------------------------

    def create_order(
        self,
        market: str,
        *,
        customer_email: str | None = None,
        idempotency_key: str | None = None,
    ) -> OrderView:
        """A new, empty draft order (a cart) in ``market``."""
        policy = self._market(market)
        if not policy.enabled:
            raise InvalidOrderInput(f"market {market} is disabled")
        if customer_email is not None:
            _check_email(customer_email)

        def create(claim: _Claim | None) -> tuple[OrderView, OrderEvent]:
            now = self.clock()
            with self.store.unit_of_work() as session:
                order = Order(
                    id=str(uuid.uuid4()),
                    number=self.store.next_order_number(session, policy.number_prefix),
                    market=market,
                    currency=policy.currency,
                    now=now,
                )
                order.customer_email = customer_email
                session.add(order)
                session.flush()
                before = order.statuses()
                self._refresh(session, order, self._effects(session, policy, now))
                finished = self._finish(
                    session,
                    "create",
                    order,
                    before,
                    _Step("create"),
                    now,
                    self.actor,
                    claim,
                    new=True,
                )
            self.store.keep_loaded(order)
            return finished

        return self._idempotently(
            idempotency_key, "create_order", {"market": market, "email": customer_email}, create
        )

    def add_line_item(
        self, order: str, sku: str, quantity: int = 1, *, idempotency_key: str | None = None
    ) -> OrderView:
        """Add ``quantity`` of ``sku``, priced from the market's price list."""
        _check_quantity(quantity)

        def run(session: Session, o: Order, fx: OrderEffects) -> _Step:
            item = fx.market.prices.items.get(sku)
            if item is None:
                raise InvalidOrderInput(
                    f"SKU {sku!r} is not in the price list of market {o.market}", order=o.number
                )
            line = o.line(sku)
            if line is None:
                o.lines.append(
                    LineItem(
                        sku=sku,
                        name=item.name,
                        quantity=quantity,
                        unit_price=item.price.minor,
                        requires_shipping=item.requires_shipping,
                        position=max((x.position for x in o.lines), default=-1) + 1,
                    )
                )
            else:
                line.quantity += quantity
            return _Step("add_line_item", detail={"sku": sku, "quantity": quantity})

        return self._cart_command(
            "add_line_item",
            order,
            run,
            idempotency_key=idempotency_key,
            args={"sku": sku, "quantity": quantity},
        )

    def update_line_item(
        self, order: str, sku: str, quantity: int, *, idempotency_key: str | None = None
    ) -> OrderView:
        """Set the quantity of an existing line (remove it with ``remove_line_item``)."""
        _check_quantity(quantity)

        def run(session: Session, o: Order, fx: OrderEffects) -> _Step:
            line = _line(o, sku)
            line.quantity = quantity
            return _Step("update_line_item", detail={"sku": sku, "quantity": quantity})

        return self._cart_command(
            "update_line_item",
            order,
            run,
            idempotency_key=idempotency_key,
            args={"sku": sku, "quantity": quantity},
        )

    def remove_line_item(
        self, order: str, sku: str, *, idempotency_key: str | None = None
    ) -> OrderView:
        """Remove the line of ``sku``; ``InvalidOrderInput`` when the order has none."""

        def run(session: Session, o: Order, fx: OrderEffects) -> _Step:
            o.lines.remove(_line(o, sku))
            return _Step("remove_line_item", detail={"sku": sku})

        return self._cart_command(
            "remove_line_item", order, run, idempotency_key=idempotency_key, args={"sku": sku}
        )

    def set_customer(
        self, order: str, email: str, *, idempotency_key: str | None = None
    ) -> OrderView:
        """Set the customer's e-mail (kept on the order, never written to logs)."""
        _check_email(email)

        def run(session: Session, o: Order, fx: OrderEffects) -> _Step:
            o.customer_email = email
            return _Step("set_customer")

        return self._cart_command(
            "set_customer", order, run, idempotency_key=idempotency_key, args={"email": email}
        )

    def set_addresses(
        self,
        order: str,
        billing: Address | Mapping[str, Any],
        shipping: Address | Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> OrderView:
        """Set the billing address, and the shipping address (defaults to the billing one)."""
        try:
            bill = billing if isinstance(billing, Address) else Address.model_validate(billing)
            ship = (
                bill
                if shipping is None
                else (
                    shipping if isinstance(shipping, Address) else Address.model_validate(shipping)
                )
            )
        except ValueError as exc:
            raise InvalidOrderInput(f"invalid address: {exc}") from None

        def run(session: Session, o: Order, fx: OrderEffects) -> _Step:
            o.billing_address = bill.model_dump()
            o.shipping_address = ship.model_dump()
            return _Step("set_addresses", detail={"country": ship.country})

        return self._cart_command(
            "set_addresses",
            order,
            run,
            idempotency_key=idempotency_key,
            args={"billing": bill.model_dump(), "shipping": ship.model_dump()},
        )

    def select_shipping_method(
        self, order: str, code: str, *, idempotency_key: str | None = None
    ) -> OrderView:
        """Choose one of the market's shipping methods by ``code``; its price is added to the
        total. A code the market does not have raises ``InvalidOrderInput``."""

        def run(session: Session, o: Order, fx: OrderEffects) -> _Step:
            if fx.market.shipping_method(code) is None:
                known = ", ".join(m.code for m in fx.market.shipping_methods) or "none"
                raise InvalidOrderInput(
                    f"market {o.market} has no shipping method {code!r} (known: {known})",
                    order=o.number,
                )
            o.shipping_method = code
            return _Step("select_shipping_method", detail={"shipping_method": code})

        return self._cart_command(
            "select_shipping_method",
            order,
            run,
            idempotency_key=idempotency_key,
            args={"code": code},
        )

    def select_payment_method(
        self,
        order: str,
        code: str,
        *,
        payment_source: str | None = None,
        idempotency_key: str | None = None,
    ) -> OrderView:
        """Choose how the order is paid. ``payment_source`` is a gateway token, never a card
        number: anything that looks like one is refused."""
        if payment_source is not None:
            digits = re.sub(r"[ -]", "", payment_source)
            if _CARD_NUMBER.match(payment_source) and digits.isdigit() and _luhn(digits):
                raise InvalidOrderInput(
                    "payment_source looks like a card number; pass the gateway's token instead"
                )

        def run(session: Session, o: Order, fx: OrderEffects) -> _Step:
            if fx.market.payment_method(code) is None:
                known = ", ".join(m.code for m in fx.market.payment_methods)
                raise InvalidOrderInput(
                    f"market {o.market} has no payment method {code!r} (known: {known})",
                    order=o.number,
                )
            o.payment_method = code
            o.payment_source = payment_source
            return _Step("select_payment_method", detail={"payment_method": code})

        return self._cart_command(
            "select_payment_method",
            order,
            run,
            idempotency_key=idempotency_key,
            args={"code": code, "source": payment_source},
        )

    def apply_coupon(
        self, order: str, code: str, *, idempotency_key: str | None = None
    ) -> OrderView:
        """Apply the promotion whose coupon is ``code`` (matched case-insensitively).

        An unknown coupon, or one that cannot be used now (minimum order amount, not started
        or expired, usage limit reached), raises ``InvalidOrderInput``.
        """

        def run(session: Session, o: Order, fx: OrderEffects) -> _Step:
            promotion = fx.market.coupon(code)
            if promotion is None:
                raise InvalidOrderInput(f"unknown coupon {code!r}", order=o.number)
            used = self.store.promotion_usage(session, o.market).get(promotion.code, 0)
            problem = promotion_problem(promotion, o.money(o.subtotal), fx.now, used)
            if problem is not None:
                raise InvalidOrderInput(f"coupon {code} cannot be used: {problem}", order=o.number)
            o.coupon_code = promotion.coupon
            return _Step("apply_coupon", detail={"coupon": promotion.coupon})

        return self._cart_command(
            "apply_coupon", order, run, idempotency_key=idempotency_key, args={"code": code}
        )

    def remove_coupon(self, order: str, *, idempotency_key: str | None = None) -> OrderView:
        """Remove the order's coupon; automatic promotions stay."""

        def run(session: Session, o: Order, fx: OrderEffects) -> _Step:
            o.coupon_code = None
            return _Step("remove_coupon")

        return self._cart_command("remove_coupon", order, run, idempotency_key=idempotency_key)

    def apply_gift_card(
        self, order: str, code: str, *, idempotency_key: str | None = None
    ) -> OrderView:
        """Pay part (or all) of the order with a gift card; its balance is taken at placement."""

        def run(session: Session, o: Order, fx: OrderEffects) -> _Step:
            if not fx.market.gift_cards.accepted:
                raise GiftCardError(f"market {o.market} does not accept gift cards")
            card = self.store.gift_card(session, code)
            if card is None:
                raise GiftCardError(f"unknown gift card {code!r}")
            if card.currency != o.currency:
                raise GiftCardError(
                    f"gift card {code} is in {card.currency}, the order in {o.currency}"
                )
            if card.balance <= 0:
                raise GiftCardError(f"gift card {code} has no balance left")
            o.gift_card_code = code
            return _Step("apply_gift_card", detail={"gift_card": code})

        return self._cart_command(
            "apply_gift_card",
            order,
            run,
            idempotency_key=idempotency_key,
            args={"code": code},
            amount=lambda o: o.money(o.gift_card),
        )

    def refresh(self, order: str, *, idempotency_key: str | None = None) -> OrderView:
        """Re-price a cart from the current price list, promotions and gift card balance.

        Every cart command re-prices; call this when time alone changed the price (a promotion
        expired) and ``place`` refused the stale quote.
        """

        def run(session: Session, o: Order, fx: OrderEffects) -> _Step:
            self._cart(o, "refresh")
            total = o.total
            self._refresh(session, o, fx)
            return _Step("refresh", detail={"total_changed": total != o.total})

        return self._command("refresh", order, run, idempotency_key=idempotency_key)

    # -- lifecycle commands ---------------------------------------------------------------

    def _trigger(
        self,
        trigger: str,
        order: str,
        *,
        idempotency_key: str | None,
        amount: Money | str | Decimal | None = None,
    ) -> OrderView:
        def run(session: Session, o: Order, fx: OrderEffects) -> _Step:
            value = _money(amount, o.currency) if amount is not None else None
            self._fire(o, fx, trigger, amount=value)
            moved = sorted((t for t in o.transactions if t.succeeded and fx.owns(t)), key=_seq)
            if not moved:
                return _Step(trigger, value)
            detail = {"payments": [f"{t.kind} {t.money}" for t in moved]}
            first = [t.money for t in moved if t.kind == moved[0].kind]
            return _Step(trigger, sum(first, o.money(0)), detail)

        return self._command(
            trigger,
            order,
            run,
            idempotency_key=idempotency_key,
            args={"amount": str(amount) if amount is not None else None},
        )

    def authorize(self, order: str, *, idempotency_key: str | None = None) -> OrderView:
        """Authorize the payment without placing; with ``auto_place`` this places the order."""
        return self._trigger("authorize", order, idempotency_key=idempotency_key)

    def place(self, order: str, *, idempotency_key: str | None = None) -> OrderView:
        """Check the order, authorize its payment, place it; auto-capture when policy says so.

        A declined payment raises ``PaymentDeclined``; the order stays pending with the failed
        authorization on its ledger, ready for another payment source.
        """
        return self._trigger("place", order, idempotency_key=idempotency_key)

    def approve(self, order: str, *, idempotency_key: str | None = None) -> OrderView:
        """Approve a placed order: stock is decremented and fulfillment starts.

        With a policy step after ``placed`` (a fraud review), the order enters that step
        instead. ``TransitionNotAllowed`` when the lifecycle refuses, e.g. when the payment
        method requires a capture first.
        """
        return self._trigger("approve", order, idempotency_key=idempotency_key)

    def capture(
        self,
        order: str,
        amount: Money | str | Decimal | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> OrderView:
        """Capture ``amount`` (default: everything still authorized); partial captures add up."""
        return self._trigger("capture", order, idempotency_key=idempotency_key, amount=amount)

    def refund(
        self,
        order: str,
        amount: Money | str | Decimal | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> OrderView:
        """Refund ``amount`` (default: all that is left); a full refund cancels the order."""
        return self._trigger("refund", order, idempotency_key=idempotency_key, amount=amount)

    def cancel(self, order: str, *, idempotency_key: str | None = None) -> OrderView:
        """Cancel: void the authorization, or refund what was captured; release holds."""
        return self._trigger("cancel", order, idempotency_key=idempotency_key)

    def advance(self, order: str, trigger: str, *, idempotency_key: str | None = None) -> OrderView:
        """Fire a trigger declared by a policy step, e.g. ``pass_review``."""
        if trigger in BUILTIN_TRIGGERS:
            raise InvalidOrderInput(
                f"{trigger!r} is a built-in trigger: call OMS.{trigger}() instead"
            )
        return self._trigger(trigger, order, idempotency_key=idempotency_key)

    def archive(self, order: str, *, idempotency_key: str | None = None) -> OrderView:
        """Archive a finished order (cancelled, or approved, paid and fulfilled): ``list_orders``
        leaves it out by default. ``TransitionNotAllowed`` for an order not finished."""
        return self._trigger("archive", order, idempotency_key=idempotency_key)

    def unarchive(self, order: str, *, idempotency_key: str | None = None) -> OrderView:
        """Bring an archived order back; ``TransitionNotAllowed`` when it is not archived."""
        return self._trigger("unarchive", order, idempotency_key=idempotency_key)

    # -- shipments ------------------------------------------------------------------------

    def _shipment_command(
        self,
        order: str,
        trigger: str,
        shipment: str | None,
        idempotency_key: str | None,
        tracking_number: str | None = None,
        carrier: str | None = None,
    ) -> OrderView:
        def run(session: Session, o: Order, fx: OrderEffects) -> _Step:
            def refuse(reason: str) -> TransitionNotAllowed:
                return TransitionNotAllowed(
                    order=o.number,
                    trigger=trigger,
                    status=o.status,
                    payment_status=o.payment_status,
                    fulfillment_status=o.fulfillment_status,
                    reasons=[reason],
                )

            target = o.shipment(shipment)
            if target is None:
                numbers = ", ".join(s.number for s in o.shipments) or "none"
                raise refuse(
                    f"no shipment {shipment!r} (shipments: {numbers})"
                    if shipment
                    else f"name the shipment (shipments: {numbers})"
                )
            if trigger != "cancel" and o.fulfillment_status not in ("in_progress", "fulfilled"):
                raise refuse(
                    f"fulfillment_status is {o.fulfillment_status}: fulfillment has not started"
                )
            reason = self._shipments.fire(target, trigger)
            if reason is not None:
                raise refuse(reason)
            if trigger == "ship":
                target.shipped_at = fx.now
                target.tracking_number = tracking_number or target.tracking_number
                target.carrier = carrier or target.carrier
                self.lifecycle(o).try_fire(o, "fulfill", effects=fx, now=fx.now)
            elif trigger == "deliver":
                target.delivered_at = fx.now
            return _Step(f"shipment.{trigger}", detail={"shipment": target.number})

        return self._command(
            f"shipment.{trigger}",
            order,
            run,
            idempotency_key=idempotency_key,
            args={"shipment": shipment, "tracking": tracking_number},
        )

    def ship(
        self,
        order: str,
        shipment: str | None = None,
        *,
        tracking_number: str | None = None,
        carrier: str | None = None,
        idempotency_key: str | None = None,
    ) -> OrderView:
        """Mark a shipment shipped; the order is fulfilled when all of its shipments are."""
        return self._shipment_command(
            order, "ship", shipment, idempotency_key, tracking_number, carrier
        )

    def deliver(
        self, order: str, shipment: str | None = None, *, idempotency_key: str | None = None
    ) -> OrderView:
        """Mark a shipped shipment delivered. ``TransitionNotAllowed`` when there is no such
        shipment (or several and none is named) or it has not shipped."""
        return self._shipment_command(order, "deliver", shipment, idempotency_key)

    def update_shipment(
        self,
        order: str,
        trigger: str,
        shipment: str | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> OrderView:
        """Move a shipment: ``start_picking``, ``start_packing``, ``mark_ready_to_ship``,
        ``put_on_hold`` or ``cancel``."""
        return self._shipment_command(order, trigger, shipment, idempotency_key)

    def apply_tracking_event(
        self,
        order: str,
        shipment: str,
        *,
        carrier: str,
        status: str,
        tracking_number: str | None = None,
        idempotency_key: str | None = None,
    ) -> OrderView:
        """Move a shipment from a carrier's tracking update.

        The ``oms_tracking_trigger`` hook maps the carrier's status to a shipment trigger; a
        status no plugin maps, or one the shipment is already past, changes nothing.
        """
        trigger = self.plugins.hook.oms_tracking_trigger(carrier=carrier, status=status)
        current = self.get_order(order)
        parcel = next((p for p in current.shipments if p.number == shipment), None)
        if trigger is None or parcel is None or not self._shipments.allows(parcel, trigger):
            if parcel is None:
                raise InvalidOrderInput(f"order {current.number} has no shipment {shipment!r}")
            return current
        return self._shipment_command(
            order, trigger, shipment, idempotency_key, tracking_number, carrier
        )

    def complete_payment_action(
        self, order: str, action_id: str, *, idempotency_key: str | None = None
    ) -> OrderView:
        """Finish a payment that waited for the customer (``PaymentActionRequired``).

        Asks the gateway how the action ended and records it. A success authorizes the order,
        and places it when its payment method has ``auto_place``; a failure raises
        ``PaymentDeclined`` (recorded first); still pending changes nothing.
        """
        failure: list[str] = []
        current = self.get_order(order)
        if any(t.action_id == action_id and not t.pending for t in current.transactions):
            return current  # completed already (the browser and a webhook both reported it)

        def run(session: Session, o: Order, fx: OrderEffects) -> _Step:
            row = o.pending_row(action_id)
            if row is None:
                if any(t.action_id == action_id for t in o.transactions):
                    return _Step("complete_payment_action", detail={"completed": action_id})
                raise InvalidOrderInput(
                    f"order {o.number} has no pending payment action {action_id!r}",
                    order=o.number,
                )
            result = fx.complete_action(o, row)
            if result is None:
                return _Step("complete_payment_action", detail={"pending": action_id})
            if not result.success:
                failure.append(result.error_code or "declined")
                return _Step("complete_payment_action", row.money, {"declined": failure[0]})
            lifecycle = self.lifecycle(o)
            if lifecycle.definition.auto_place and o.status == OrderStatus.PENDING:
                lifecycle.fire(o, "place", effects=fx, now=fx.now)
            return _Step("complete_payment_action", row.money)

        view = self._command(
            "complete_payment_action",
            order,
            run,
            idempotency_key=idempotency_key,
            args={"action_id": action_id},
        )
        if failure:
            raise PaymentDeclined(
                f"payment action {action_id} of order {view.number} failed: {failure[0]}",
                order=view.number,
                error_code=failure[0],
                transaction_id=action_id,
            )
        return view

    # -- gift cards -----------------------------------------------------------------------

    def issue_gift_card(self, code: str, amount: Money) -> GiftCardView:
        """Create a gift card with a balance of ``amount`` (its currency is the card's).

        Raises ``GiftCardError`` for an empty code, an amount that is not a positive ``Money``,
        or a code that exists already. It takes no idempotency key: a repeated call fails
        instead of issuing twice.
        """
        if not isinstance(code, str) or not code.strip():
            raise GiftCardError(f"a gift card needs a non-empty code, got {code!r}")
        if not isinstance(amount, Money):
            raise GiftCardError(
                f"a gift card amount must be Money (it carries the card's currency), got "
                f"{amount!r}: pass e.g. Money.parse('10.00', 'EUR')"
            )
        if amount.minor <= 0:
            raise GiftCardError("a gift card needs a positive balance")
        with self.store.unit_of_work() as session:
            if self.store.gift_card(session, code) is not None:
                raise GiftCardError(f"gift card {code!r} already exists")
            card = GiftCard(code=code, amount=amount, created_at=self.clock())
            session.add(card)
            session.flush()
            return gift_card_view(card)

    def gift_card(self, code: str) -> GiftCardView:
        """The card's current and initial balance; ``GiftCardError`` for an unknown code."""
        with self.store.unit_of_work() as session:
            card = self.store.gift_card(session, code)
            if card is None:
                raise GiftCardError(f"unknown gift card {code!r}")
            return gift_card_view(card)

    # -- recovery and delivery ------------------------------------------------------------

    def reconcile(
        self, *, older_than: timedelta | None = None, order: str | None = None
    ) -> list[Reconciled]:
        """Settle payments whose gateway answer was lost (a crash, a timeout).

        Every movement is committed as a pending ledger row before its gateway call. A row
        still pending after ``older_than`` (default ``in_flight_timeout``) is sent again with
        its own idempotency key: the gateway answers its first result, or makes the movement
        if it never received it, and never moves the money twice. The answer settles the row,
        so the ledger agrees with the gateway; nothing is ever compensated. Requests that were
        running with an idempotency key when they died are freed, so retrying them (same key)
        resumes them with the recorded answers.
        """
        now = self.clock()
        cutoff = now - (self.in_flight_timeout if older_than is None else older_than)
        with self.store.unit_of_work() as session:
            order_ids = self.store.orders_in_flight(session, before=cutoff, order=order)
            self.store.release_stale_claims(session, before=cutoff)
        settled: list[Reconciled] = []
        for order_id in order_ids:
            with self.store.unit_of_work() as session:
                found = self.store.load_order(session, order_id)
                calls = [
                    GatewayCall(
                        TransactionKind(row.kind),
                        found.id,
                        self.gateways[row.gateway],
                        PaymentRequest(
                            order_number=found.number,
                            amount=row.money,
                            idempotency_key=row.idempotency_key,
                            payment_source=(
                                found.payment_source
                                if row.kind == TransactionKind.AUTHORIZATION
                                else None
                            ),
                            reference=row.parent_reference,
                        ),
                        row.created_at,
                    )
                    for row in found.in_flight()
                    if row.created_at <= cutoff or row.error_code == UNANSWERED
                ]
            outcomes: list[GatewayOutcome] = []
            for call in calls:
                try:
                    outcomes.append(call_gateway(self.plugins, call))
                except NoAnswer as silence:  # still no answer: stays pending, and says so
                    self.store.mark_unanswered(call.key, str(silence))
                    settled.append(
                        Reconciled(
                            call.request.order_number,
                            transaction_id(call.key),
                            call.kind.value,
                            call.request.amount,
                            "unknown",
                            UNANSWERED,
                        )
                    )
            if not outcomes:
                continue
            with self.store.unit_of_work() as session:
                found = self.store.load_order(session, order_id)
                before = found.statuses()
                mine: list[Reconciled] = []
                for outcome in outcomes:
                    row = found.transaction(outcome.idempotency_key)
                    if row is None or not row.pending or row.action_id is not None:
                        continue  # settled meanwhile by the command itself
                    outcome.settle(row)
                    mine.append(Reconciled.of(found.number, row))
                if not mine:
                    continue
                found.refresh_payment_status()
                market = self._market(found.market)
                self._effects(session, market, now).release_unpaid_holds(found)
                step = _Step(
                    "reconcile",
                    detail={"settled": [f"{r.kind} {r.amount} {r.outcome}" for r in mine]},
                )
                _, event = self._finish(
                    session, "reconcile", found, before, step, now, self.actor, None
                )
            settled.extend(mine)
            self._observe(event)
        return settled

    def resolve_payment(
        self,
        order: str,
        transaction_id: str,
        *,
        succeeded: bool,
        reference: str | None = None,
        note: str,
        idempotency_key: str | None = None,
    ) -> OrderView:
        """Record by hand how a payment the gateway never answered for ended.

        For an operator who checked the gateway's dashboard after ``reconcile`` kept reporting
        ``unknown``: the pending row becomes a success (with the gateway's ``reference``) or a
        failure, the history says who did it and why (``note``), and the order moves on.
        """

        def run(session: Session, o: Order, fx: OrderEffects) -> _Step:
            row = next((t for t in o.in_flight() if t.id == transaction_id), None)
            if row is None:
                raise InvalidOrderInput(
                    f"order {o.number} has no payment {transaction_id!r} waiting for an answer",
                    order=o.number,
                )
            if succeeded and not reference:
                raise InvalidOrderInput("a payment that succeeded needs the gateway's reference")
            row.pending = False
            row.succeeded = succeeded
            row.reference = reference if succeeded else None
            row.error_code = None if succeeded else "resolved_failed"
            row.error_message = None if succeeded else note
            row.metadata_ = {**row.metadata_, "resolved_by_hand": note}
            o.refresh_payment_status()
            fx.release_unpaid_holds(o)
            return _Step(
                "resolve_payment",
                row.money,
                {"transaction": transaction_id, "succeeded": succeeded, "note": note},
            )

        return self._command(
            "resolve_payment",
            order,
            run,
            idempotency_key=idempotency_key,
            args={"transaction": transaction_id, "succeeded": succeeded, "reference": reference},
            allow_in_flight=True,
        )

    def relay_outbox(
        self, *, limit: int = 500, publishers: Iterable[EventPublisher] | None = None
    ) -> RelayReport:
        """Deliver committed order events to the publishers, at least once and in order per
        order (``oms outbox relay`` runs this in a loop).

        ``publishers`` defaults to what the plugins' ``oms_event_publishers`` return.
        """
        chosen = (
            publishers
            if publishers is not None
            else publishers_of(self.plugins.hook.oms_event_publishers(oms=self))
        )
        return relay_outbox(self.store, chosen, limit=limit, clock=self.clock)

    # -- queries --------------------------------------------------------------------------

    def get_order(self, order: str) -> OrderView:
        """The order whose id or number is ``order``."""
        with self.store.unit_of_work() as session:
            return OrderView.of(self.store.load_order(session, order, for_update=False))

    def list_orders(
        self,
        *,
        market: str | None = None,
        status: str | Sequence[str] | None = None,
        payment_status: str | Sequence[str] | None = None,
        fulfillment_status: str | Sequence[str] | None = None,
        archived: bool | None = False,
        limit: int = 100,
        offset: int = 0,
    ) -> list[OrderView]:
        """Orders, oldest first. ``archived=None`` lists archived and live orders alike."""

        def many(value: str | Sequence[str] | None) -> Sequence[str] | None:
            return [value] if isinstance(value, str) else value

        with self.store.unit_of_work() as session:
            found = self.store.list_orders(
                session,
                market=market,
                statuses=many(status),
                payment_statuses=many(payment_status),
                fulfillment_statuses=many(fulfillment_status),
                archived=archived,
                limit=limit,
                offset=offset,
            )
            return [OrderView.of(o) for o in found]

    def history(self, order: str) -> list[HistoryEntryView]:
        """The order's timeline, oldest first: every command that changed it, and failures."""
        with self.store.unit_of_work() as session:
            found = self.store.load_order(session, order, for_update=False)
            return [history_view(e) for e in self.store.history(session, found.id)]

    def available_triggers(self, order: str) -> list[str]:
        """The lifecycle triggers the order's guards allow right now."""
        with self.store.unit_of_work() as session:
            found = self.store.load_order(session, order, for_update=False)
            now = self.clock()
            effects = self._effects(session, self._market(found.market), now)
            return self.lifecycle(found).available_triggers(found, now=now, effects=effects)


def _seq(row: PaymentTransaction) -> int:
    return row.seq


def _check_quantity(quantity: int) -> None:
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
        raise InvalidOrderInput(f"quantity must be a positive integer, got {quantity!r}")


def _check_email(email: str) -> None:
    if not isinstance(email, str) or not _EMAIL.match(email):
        raise InvalidOrderInput("customer e-mail is not a valid address")


def _line(order: Order, sku: str) -> LineItem:
    line = order.line(sku)
    if line is None:
        raise InvalidOrderInput(
            f"order {order.number} has no line for SKU {sku!r}", order=order.number
        )
    return line


def _money(value: Money | str | Decimal, currency: str) -> Money:
    """Read a command's amount. An int is refused: is 10 ten euros or ten cents?"""
    if isinstance(value, Money):
        return value
    if isinstance(value, int):
        raise InvalidOrderInput(
            f"ambiguous amount {value!r}: pass Money({value}, {currency!r}) for minor units "
            f"or the string {str(value)!r} for major units"
        )
    return Money.parse(value, currency)


def load_with_plugins(
    paths: Sequence[str | os.PathLike[str]],
    *,
    plugins: Sequence[object] = (),
    gateways: Iterable[PaymentGateway] = (),
) -> tuple[PolicySet, PluginHost]:
    """Load policies whose ``plugins:`` decide which entry-point plugins load, then check
    them again with what those plugins bring (gateways, their own policy checks)."""
    first = load_policies(*paths, checks=[check_market])
    host = PluginHost(plugins, enabled=first.plugins, gateways=list(gateways))
    policies = load_policies(
        *paths, known_gateways=set(host.gateways), checks=[check_market, host.check_market]
    )
    return policies, host
