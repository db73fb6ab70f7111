"""Loading plugins, and what a failing plugin does to an order: nothing."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from oms_sandbox_payments import SandboxGateway
from oms_stock import reservations_of, stock_levels

from oms_sdk import (
    OMS,
    GatewayResult,
    OrderView,
    PaymentDeclined,
    PaymentOutcomeUnknown,
    PluginError,
    PolicyError,
    TransitionNotAllowed,
    hookimpl,
)
from oms_sdk._plugins import PluginHost, installed_plugins
from oms_sdk.payments import ManualGateway
from oms_sdk.testing import fresh_database_url

ADDRESS = {
    "name": "Ada",
    "line1": "Via Roma 1",
    "city": "Milano",
    "postal_code": "20121",
    "country": "IT",
}


def cart(oms: OMS, method: str = "card", token: str = "tok_visa") -> OrderView:
    order = oms.create_order("EU", customer_email="ada@example.com")
    oms.add_line_item(order.id, "TEE-ORG-M", 2)
    oms.set_addresses(order.id, ADDRESS)
    oms.select_shipping_method(order.id, "standard")
    return oms.select_payment_method(order.id, method, payment_source=token)


class Boom(Exception):
    """What a broken plugin raises."""


def snapshot(oms: OMS, order: str) -> tuple[Any, ...]:
    """Everything a command may touch: the order and its ledger, history, gift card, stock."""
    view = oms.get_order(order)
    return (
        view.model_dump(exclude={"updated_at"}),
        len(oms.history(order)),
        oms.gift_card("GC-PLUGIN").balance,
        stock_levels(oms, "EU"),
        reservations_of(oms, order),
    )


# -- loading -------------------------------------------------------------------------------------


def test_installed_plugins_are_listed_without_importing_them() -> None:
    names = {p.name: p for p in installed_plugins()}
    assert names["sandbox"].distribution == "oms-sandbox-payments"
    assert names["sandbox"].value == "oms_sandbox_payments"


def test_an_installed_but_unlisted_plugin_is_never_imported(tmp_path: Path) -> None:
    policy = tmp_path / "manual_only.yaml"
    policy.write_text(
        textwrap.dedent(
            """\
            markets:
              - code: XX
                name: Manual only
                currency: EUR
                prices: {items: {A: {name: A, price: "1.00"}}}
                payment_methods: [{code: cash, name: Cash, gateway: manual}]
            """
        )
    )
    script = (
        "import sys; from oms_sdk import OMS; "
        f"oms = OMS.open({str(policy)!r}, 'sqlite://'); "
        "print(sorted(oms.gateways), 'oms_sandbox_payments' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "['manual'] False"


def test_a_listed_plugin_that_is_not_installed_is_an_error(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "plugins: [no_such_plugin]\n"
        "markets:\n"
        "  - {code: XX, name: X, currency: EUR, prices: {items: {A: {name: A, price: '1'}}},\n"
        "     payment_methods: [{code: cash, name: Cash, gateway: manual}]}\n"
    )
    with pytest.raises(PluginError, match="no_such_plugin listed in the policy are not installed"):
        OMS.open(policy, fresh_database_url())


def test_a_gateway_no_plugin_provides_is_a_located_policy_error(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "markets:\n"
        "  - code: XX\n"
        "    name: X\n"
        "    currency: EUR\n"
        "    prices: {items: {A: {name: A, price: '1'}}}\n"
        "    payment_methods:\n"
        "      - code: card\n"
        "        name: Card\n"
        "        gateway: stripe\n"
    )
    with pytest.raises(PolicyError) as caught:
        OMS.open(policy, fresh_database_url())
    (problem,) = caught.value.problems
    assert (problem.file, problem.key_path, problem.line) == (
        str(policy),
        "markets[0].payment_methods[0].gateway",
        9,
    )
    assert "stripe" in problem.message


def test_an_extension_section_needs_its_plugin(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "markets:\n"
        "  - code: XX\n"
        "    name: X\n"
        "    currency: EUR\n"
        "    prices: {items: {A: {name: A, price: '1'}}}\n"
        "    payment_methods: [{code: cash, name: Cash, gateway: manual}]\n"
        "    extensions:\n"
        "      warp_drive: {speed: 9}\n"
    )
    with pytest.raises(PolicyError) as caught:
        OMS.open(policy, fresh_database_url())
    (problem,) = caught.value.problems
    assert (problem.key_path, problem.line) == ("markets[0].extensions.warp_drive", 8)
    assert problem.message == "no active plugin named 'warp_drive' reads it"


def test_two_plugins_providing_one_gateway_name_conflict() -> None:
    class Twin:
        @hookimpl
        def oms_payment_gateways(self) -> list[Any]:
            return [SandboxGateway()]

    with pytest.raises(PluginError, match="two plugins provide a gateway named 'sandbox'"):
        PluginHost([Twin(), Twin()])


def test_a_wrapper_that_is_not_a_generator_is_refused() -> None:
    class NotAGenerator:
        @hookimpl(wrapper=True)
        def oms_gateway_call(self) -> None:
            return None

    with pytest.raises(PluginError, match="not a generator function"):
        PluginHost([NotAGenerator()])


def test_a_plugin_with_a_misspelled_hook_is_refused() -> None:
    class Typo:
        @hookimpl
        def oms_transition_gaurd(self) -> None:
            return None

    with pytest.raises(PluginError, match="oms_transition_gaurd"):
        PluginHost([Typo()])


def test_the_sdk_defaults_step_aside_for_a_plugin_gateway_of_the_same_name() -> None:
    mine = ManualGateway()

    class Mine:
        @hookimpl
        def oms_payment_gateways(self) -> list[Any]:
            return [mine]

    assert PluginHost([Mine()]).gateways["manual"] is mine


# -- a broken plugin changes nothing --------------------------------------------------------------


@pytest.fixture
def sandbox() -> SandboxGateway:
    return SandboxGateway()


def open_with(plugin: object, sandbox: SandboxGateway) -> OMS:
    oms = OMS.open("config_examples", fresh_database_url(), plugins=[plugin], gateways=[sandbox])
    oms.issue_gift_card("GC-PLUGIN", oms.policies.market("EU").money(500))
    return oms


def raising(hook: str, **opts: Any) -> object:
    """A plugin whose only hook raises."""

    def broken(**kwargs: Any) -> Any:
        raise Boom(hook)

    broken.__name__ = hook
    namespace = {hook: hookimpl(**opts)(broken)}
    return type(f"Broken_{hook}", (), {k: staticmethod(v) for k, v in namespace.items()})()


@pytest.mark.parametrize("hook", ["oms_payment_gateways", "oms_check_market", "oms_opened"])
def test_a_plugin_failing_at_open_stops_the_open(hook: str, sandbox: SandboxGateway) -> None:
    with pytest.raises(Boom):
        OMS.open(
            "config_examples", fresh_database_url(), plugins=[raising(hook)], gateways=[sandbox]
        )


@pytest.mark.parametrize(
    ("hook", "command"),
    [
        ("oms_transition_guard", "place"),
        ("oms_stock_problems", "place"),
        ("oms_plan_shipments", "place"),
        ("oms_shipping_price", "add_line_item"),
        ("oms_decrement_stock", "approve"),
        ("oms_fulfillment_started", "approve"),
        ("oms_release_stock", "cancel"),
    ],
)
def test_a_plugin_failing_in_a_command_leaves_the_order_as_it_was(
    hook: str, command: str, sandbox: SandboxGateway
) -> None:
    armed = {"on": False}

    class Switch:
        """Raises only once armed, so the order can first reach the command's start."""

        pass

    def broken(**kwargs: Any) -> Any:
        if armed["on"]:
            raise Boom(hook)
        return None

    broken.__name__ = hook
    setattr(Switch, hook, staticmethod(hookimpl(tryfirst=True)(broken)))
    oms = open_with(Switch(), sandbox)
    order = cart(oms)
    oms.apply_gift_card(order.id, "GC-PLUGIN")
    if command in ("approve", "cancel"):
        oms.place(order.id)
        oms.capture(order.id)
    before = snapshot(oms, order.id)
    authorizations = len(sandbox.authorizations)
    armed["on"] = True
    run = (
        (lambda: oms.add_line_item(order.id, "MUG-CER-350"))
        if command == "add_line_item"
        else (lambda: getattr(oms, command)(order.id))
    )
    with pytest.raises(Boom):
        run()
    assert snapshot(oms, order.id) == before
    assert len(sandbox.authorizations) == authorizations, "no money may move"
    assert all(not auth.voided for auth in sandbox.authorizations.values())


def test_a_wrapper_failing_before_the_gateway_answered_leaves_the_payment_unknown(
    sandbox: SandboxGateway,
) -> None:
    class BrokenWrapper:
        @hookimpl(wrapper=True)
        def oms_gateway_call(self, operation: str) -> Iterator[None]:
            raise Boom(operation)
            yield  # a wrapper is a generator

    oms = open_with(BrokenWrapper(), sandbox)
    order = cart(oms)
    with pytest.raises(PaymentOutcomeUnknown) as caught:
        oms.place(order.id)
    assert "the gateway gave no answer (Boom: authorize)" in str(caught.value)
    view = oms.get_order(order.id)
    assert (view.status, view.payment_status) == ("pending", "unpaid")
    assert [(t.kind, t.pending, t.succeeded, t.error_code) for t in view.transactions] == [
        ("authorization", True, False, "no_answer")
    ]
    assert view.transactions[0].id == caught.value.transaction_id
    assert sandbox.authorizations == {}


def test_a_gateway_wrapper_sees_every_call(sandbox: SandboxGateway) -> None:
    seen: list[tuple[str, bool]] = []

    class Timing:
        @hookimpl(wrapper=True)
        def oms_gateway_call(self, operation: str) -> Iterator[None]:
            result: GatewayResult = yield
            seen.append((operation, result.success))
            return result  # type: ignore[return-value]

    oms = open_with(Timing(), sandbox)
    order = oms.place(cart(oms).id)
    oms.capture(order.id, "10.00")
    oms.cancel(order.id)
    assert seen == [("authorize", True), ("capture", True), ("refund", True), ("void", True)]


def test_a_failing_observer_cannot_undo_the_commit(
    sandbox: SandboxGateway, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []

    class Observers:
        @hookimpl
        def oms_order_committed(self, event: Any) -> None:
            seen.append(event.name)
            raise Boom(event.name)

    oms = open_with(Observers(), sandbox)
    order = oms.place(cart(oms).id)
    assert order.status == "placed"
    assert oms.get_order(order.id).status == "placed"
    assert seen[-1] == "orders.place"
    assert "observer" in caplog.text
    assert "ada@example.com" not in caplog.text


def test_observers_get_one_event_per_command_with_statuses(sandbox: SandboxGateway) -> None:
    events: list[Any] = []

    class Recorder:
        @hookimpl
        def oms_order_committed(self, event: Any) -> None:
            events.append(event)

    oms = open_with(Recorder(), sandbox)
    order = oms.place(cart(oms).id)
    names = [e.name for e in events]
    assert names == [
        "orders.create",
        "orders.add_line_item",
        "orders.set_addresses",
        "orders.select_shipping_method",
        "orders.select_payment_method",
        "orders.place",
    ]
    place = events[-1]
    assert (place.from_statuses, place.statuses) == (
        ("pending", "unpaid", "unfulfilled"),
        ("placed", "authorized", "unfulfilled"),
    )
    assert place.amount == order.totals.total
    assert len({e.id for e in events}) == len(events)


def test_a_plugin_guard_vetoes_with_its_reason(sandbox: SandboxGateway) -> None:
    class BigOrdersNeedReview:
        @hookimpl
        def oms_transition_guard(self, order: Any, trigger: str) -> str | None:
            if trigger == "approve" and order.total > 5000:
                return "orders above 50.00 need a manual review"
            return None

    oms = open_with(BigOrdersNeedReview(), sandbox)
    order = cart(oms)
    oms.add_line_item(order.id, "HOODIE-MER-L")
    oms.place(order.id)
    oms.capture(order.id)
    with pytest.raises(TransitionNotAllowed) as caught:
        oms.approve(order.id)
    assert caught.value.reasons == ("orders above 50.00 need a manual review",)
    assert oms.get_order(order.id).status == "placed"


def test_a_tracking_event_moves_the_shipment(sandbox: SandboxGateway) -> None:
    class Carrier:
        @hookimpl
        def oms_tracking_trigger(self, carrier: str, status: str) -> str | None:
            return {"PU": "ship", "DL": "deliver"}.get(status) if carrier == "acme" else None

    oms = open_with(Carrier(), sandbox)
    order = oms.place(cart(oms).id)
    oms.capture(order.id)
    oms.approve(order.id)
    parcel = oms.get_order(order.id).shipments[0].number
    ignored = oms.apply_tracking_event(order.id, parcel, carrier="acme", status="XX")
    assert ignored.shipments[0].status == "upcoming"
    shipped = oms.apply_tracking_event(
        order.id, parcel, carrier="acme", status="PU", tracking_number="ACME1"
    )
    assert shipped.shipments[0].status == "shipped"
    assert (shipped.shipments[0].carrier, shipped.shipments[0].tracking_number) == (
        "acme",
        "ACME1",
    )
    assert shipped.fulfillment_status == "fulfilled"
    again = oms.apply_tracking_event(order.id, parcel, carrier="acme", status="PU")
    assert again.version == shipped.version, "a repeated status changes nothing"
    delivered = oms.apply_tracking_event(order.id, parcel, carrier="acme", status="DL")
    assert delivered.shipments[0].status == "delivered"


def test_tracking_hook_failure_changes_nothing(sandbox: SandboxGateway) -> None:
    oms = open_with(raising("oms_tracking_trigger"), sandbox)
    order = oms.place(cart(oms).id)
    oms.capture(order.id)
    oms.approve(order.id)
    before = snapshot(oms, order.id)
    with pytest.raises(Boom):
        oms.apply_tracking_event(order.id, f"{order.number}/1", carrier="acme", status="PU")
    assert snapshot(oms, order.id) == before


def test_a_wrapper_failing_after_the_gateway_answered_cannot_hide_the_movement(
    sandbox: SandboxGateway,
) -> None:
    class LateFailure:
        @hookimpl(wrapper=True)
        def oms_gateway_call(self) -> Iterator[None]:
            yield
            raise Boom("after the gateway answered")

    oms = open_with(LateFailure(), sandbox)
    order = oms.place(cart(oms).id)
    assert (order.status, order.payment_status) == ("placed", "authorized")
    (auth,) = order.transactions
    assert auth.succeeded
    assert auth.reference in sandbox.authorizations


def test_available_triggers_ask_plugin_guards(sandbox: SandboxGateway) -> None:
    class NoApprovals:
        @hookimpl
        def oms_transition_guard(self, trigger: str) -> str | None:
            return "approvals are frozen" if trigger == "approve" else None

    oms = open_with(NoApprovals(), sandbox)
    order = oms.place(cart(oms).id)
    oms.capture(order.id)
    assert "approve" not in oms.available_triggers(order.id)
    assert "refund" in oms.available_triggers(order.id)


def test_a_retried_command_reuses_its_gateway_keys(sandbox: SandboxGateway) -> None:
    oms = open_with(object(), sandbox)
    order = cart(oms, token="tok_chargeDeclined")
    with pytest.raises(PaymentDeclined):
        oms.place(order.id, idempotency_key="checkout-42")
    with pytest.raises(PaymentDeclined):  # the same attempt again: the same answer
        oms.place(order.id, idempotency_key="checkout-42")
    assert len(oms.get_order(order.id).transactions) == 1, "one attempt, recorded once"
    oms.select_payment_method(order.id, "card", payment_source="tok_visa")
    placed = oms.place(order.id, idempotency_key="checkout-42")  # a new card: a new attempt
    assert placed.status == "placed"
    assert sandbox.calls == 2


def test_a_plugin_object_can_own_a_policy_section(tmp_path: Path) -> None:
    class Loyalty:
        plugin_name = "loyalty"

        @hookimpl
        def oms_check_market(self, market: Any) -> list[Any]:
            points = market.extensions["loyalty"].get("points_per_euro")
            return [] if points == 1 else [(("extensions", "loyalty", "points_per_euro"), "!")]

    policy = tmp_path / "p.yaml"
    policy.write_text(
        "markets:\n"
        "  - code: XX\n"
        "    name: X\n"
        "    currency: EUR\n"
        "    prices: {items: {A: {name: A, price: '1'}}}\n"
        "    payment_methods: [{code: cash, name: Cash, gateway: manual}]\n"
        "    extensions:\n"
        "      loyalty: {points_per_euro: 1}\n"
    )
    assert (
        OMS.open(policy, fresh_database_url(), plugins=[Loyalty()]).plugins.names[-1] == "loyalty"
    )


def test_only_the_last_run_of_a_command_keeps_a_hooks_database_writes(
    sandbox: SandboxGateway,
) -> None:
    """``place`` runs twice (before and after the gateway); a guard hook that writes through
    the session writes twice, and the first run's write is rolled back, whatever else that run
    changed or did not change."""
    from sqlalchemy import update

    from oms_sdk.store._tables import gift_cards

    class CountingGuard:
        runs = 0

        @hookimpl
        def oms_stock_problems(self, session: Any, **kwargs: Any) -> list[str]:
            self.runs += 1
            session.execute(
                update(gift_cards)
                .where(gift_cards.c.code == "GC-PLUGIN")
                .values(balance=gift_cards.c.balance + 1)
            )
            return []

    guard = CountingGuard()
    oms = open_with(guard, sandbox)
    view = oms.place(cart(oms).id)
    assert view.status == "placed"
    assert guard.runs == 2
    assert oms.gift_card("GC-PLUGIN").balance == oms.policies.market("EU").money(501)
