"""The plugin API of oms-sdk: every hook a plugin may implement, in one file.

A plugin is any object or module with functions decorated ``@oms_sdk.hookimpl`` whose names
match the hooks below. Register it with ``OMS.open(..., plugins=[...])``, or publish it under
the ``oms_sdk`` entry-point group and list its name in a policy file's ``plugins:``.
An implementation may take any subset of a hook's arguments, by name.

Three kinds of call, chosen per hook:

* **one answer** (``firstresult``): plugins are asked in turn and the first one that does not
  answer ``None`` decides. Used where exactly one integration is in charge: which gateway moves
  money, which inventory system plans shipments, what a shipping method costs. The SDK's own
  default answers last (``trylast``), so any plugin overrides it.
* **everyone** (plain): every implementation is called and all results are collected. Used to
  gather (gateways, policy problems, vetoes) and to notify (stock released, order events).
* **around** (implement with ``@hookimpl(wrapper=True)``): ``oms_gateway_call`` runs the real
  call inside ``yield``; wrappers add timing, logging or circuit breaking around every gateway
  call. A wrapper that raises after the gateway answered cannot hide the answer: the SDK
  records what the gateway said.

Transactions: every hook whose arguments include ``session`` runs inside the command's database
transaction. If it raises, the whole command rolls back (order, ledger, stock, everything) and
the exception reaches the caller; only a gateway's recorded answers survive (see
``oms_gateway_call``). ``oms_order_committed`` runs after the commit: it cannot undo anything, so
its exceptions are logged and swallowed.

A command that moves money runs more than once: no gateway is called inside a transaction, so
the command stops at the movement, commits its intent, calls the gateway, and runs again from
the start with the answer. Hooks that take ``session`` may therefore run several times per
command, and only the last run's database writes are kept; keep effects outside the database
(a carrier booking, an e-mail) for ``oms_order_committed`` or an outbox publisher.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from ._service import OMS
    from .events import EventPublisher, OrderEvent
    from .money import Money
    from .orders import Order, Shipment
    from .payments import GatewayResult, PaymentGateway, PaymentRequest
    from .policy import MarketPolicy, ShippingMethodPolicy
    from .shipping import ShipmentPlan
    from .store import PluginMigrations

__all__ = ["PROJECT_NAME", "hookimpl", "hookspec"]

#: The pluggy project name, and the entry-point group plugins publish under.
PROJECT_NAME = "oms_sdk"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

PolicyPath = tuple[str | int, ...]


# -- set-up ----------------------------------------------------------------------------------


@hookspec
def oms_payment_gateways() -> Iterable[PaymentGateway]:
    """Payment gateways this plugin provides, each known by its ``name``.

    Called once, when ``OMS.open`` starts. Policy files name gateways by that name
    (``gateway: sandbox``); a name provided twice, or named by a policy and provided by no
    plugin, is an error at open time (and in ``oms policy check``).
    """


@hookspec
def oms_check_market(market: MarketPolicy) -> Iterable[tuple[PolicyPath, str]]:
    """Problems this plugin finds in a market policy, e.g. in its own ``extensions`` section.

    Return ``(path inside the market, message)`` pairs such as
    ``(("extensions", "stock", "locations", 0, "priority"), "must be positive")``; the loader
    turns each into a problem naming the file, the key path and the line. Called at load time,
    for every market, by ``OMS.open`` and ``oms policy check``. Must not touch the database.
    """


@hookspec
def oms_migrations() -> PluginMigrations | None:
    """The Alembic revisions of this plugin's own tables (on ``oms_sdk.store.metadata``).

    Run after the SDK's: on ``OMS.open`` for a new database, by ``oms db upgrade`` otherwise,
    with the plugin's own version table ``oms_<name>_alembic_version``. A plugin table that no
    migrations own is created with ``create_all`` when the OMS opens.
    """


@hookspec
def oms_opened(oms: OMS) -> None:
    """The ``OMS`` is ready: its database exists and its lifecycles are compiled.

    Called once at the end of ``OMS.open``, e.g. to seed a plugin's tables from its policy
    section. Raising aborts the open.
    """


# -- lifecycle -------------------------------------------------------------------------------


@hookspec
def oms_transition_guard(
    order: Order, trigger: str, market: MarketPolicy, context: dict[str, Any]
) -> str | None:
    """Veto a lifecycle trigger: return a reason to refuse it, or ``None`` to allow it.

    Called for every trigger an order's lifecycle would fire (``place``, ``approve``,
    ``capture``, a policy step's ``pass_review`` …), after the built-in guards passed and
    before any effect runs. ``order`` is read-only here; ``context`` holds the trigger's
    arguments (``amount``, ``now``). Every reason given is shown in ``TransitionNotAllowed``.
    Raising rolls the command back.
    """


@hookspec
def oms_order_committed(event: OrderEvent) -> None:
    """Observe a committed change: called once per command, after its transaction commits.

    ``event`` is immutable: the trigger, the statuses before and after, the amount moved, and
    the order's view. Exceptions are logged and swallowed, since the change is already durable.
    This hook is best effort: a crash right after the commit loses the call. For durable,
    at-least-once delivery, provide a publisher (``oms_event_publishers``) instead.
    """


@hookspec
def oms_event_publishers(oms: OMS) -> Iterable[EventPublisher]:
    """Publishers that the outbox relay (``oms outbox relay``) delivers order events to.

    Every committed command writes its event to the outbox table in the command's own
    transaction; the relay hands each event to every publisher, at least once and in order
    per order. ``publish`` raises when an event was not delivered: that publisher's later
    events of the same order wait, and the relay offers the event again on its next run.
    Called when the relay starts.
    """


# -- payments --------------------------------------------------------------------------------


@hookspec(firstresult=True)
def oms_gateway_call(
    gateway: PaymentGateway, operation: str, request: PaymentRequest
) -> GatewayResult | None:
    """Run one gateway operation: ``authorize``, ``capture``, ``void``, ``refund``, or
    ``complete_action`` (``request.reference`` is then the action id).

    Called with no database transaction open: the movement's pending ledger row is already
    committed. ``OMS.reconcile`` calls it again with the same ``request.idempotency_key`` when
    the first answer was lost, so a gateway must answer a repeated key with its first result.

    The SDK's default implementation calls ``gateway.<operation>(request)``. Implement it with
    ``@hookimpl(wrapper=True)`` to wrap every gateway call (``result = yield``). A gateway that
    raises or times out has not said whether the money moved: the SDK asks again once with
    the same key, then leaves the payment pending and raises ``PaymentOutcomeUnknown`` until
    ``OMS.reconcile`` gets an answer. A wrapper that raises after the gateway answered cannot
    hide the answer.
    """


# -- inventory -------------------------------------------------------------------------------


@hookspec
def oms_stock_problems(
    order: Order, market: MarketPolicy, session: Session, now: datetime
) -> Sequence[str]:
    """Lines that cannot be supplied now, as reasons ("TEE-M: 2 wanted, 1 available").

    Called as a guard of ``place`` and ``authorize``, before any money moves; any reason
    refuses the trigger with ``TransitionNotAllowed``.
    """


@hookspec(firstresult=True)
def oms_plan_shipments(
    order: Order, market: MarketPolicy, session: Session, now: datetime
) -> Sequence[ShipmentPlan] | None:
    """Reserve stock for the order and say which stock location ships which lines.

    Called when the order is placed (or authorized), before the payment is authorized, inside
    the command's transaction. Raise ``OutOfStock`` when a reservation cannot be made (another
    order took the last unit): the command rolls back and no money moves. The default plan is
    one shipment with every line that needs shipping, from no particular location.
    """


@hookspec
def oms_release_stock(order: Order, market: MarketPolicy, session: Session, now: datetime) -> None:
    """Give back what ``oms_plan_shipments`` reserved: the order was cancelled."""


@hookspec
def oms_decrement_stock(
    order: Order, market: MarketPolicy, session: Session, now: datetime
) -> None:
    """Turn the order's reservations into stock that left: the order was approved."""


# -- shipping --------------------------------------------------------------------------------


@hookspec(firstresult=True)
def oms_shipping_price(
    order: Order, market: MarketPolicy, method: ShippingMethodPolicy
) -> Money | None:
    """The price of ``method`` for this cart (by weight, destination …), or ``None``.

    Called whenever a cart is priced. The default is the method's ``price`` from the policy,
    free over its ``free_over`` amount. Must not touch the database: pricing is pure. Raise
    ``InvalidOrderInput`` when the method cannot carry this cart to this destination: the cart
    command is refused and changes nothing.
    """


@hookspec
def oms_fulfillment_started(
    order: Order, shipments: Sequence[Shipment], market: MarketPolicy, session: Session
) -> None:
    """The order was approved and its shipments may be picked: book carriers, print labels."""


@hookspec(firstresult=True)
def oms_tracking_trigger(carrier: str, status: str) -> str | None:
    """Map a carrier's tracking status (``"in_transit"``, ``"DLV"``) to a shipment trigger.

    ``OMS.apply_tracking_event`` asks this hook and fires the trigger it names (``ship``,
    ``deliver`` …); ``None`` from every plugin means the status is ignored.
    """
