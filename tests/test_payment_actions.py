"""Payments that wait for the customer: 3-D Secure, bank redirects."""

from __future__ import annotations

import pytest
from oms_sandbox_payments import SandboxGateway

from oms_sdk import OMS, OrderView, PaymentActionRequired, PaymentDeclined, TransitionNotAllowed
from oms_sdk.testing import fresh_database_url

ADDRESS = {
    "name": "Ada",
    "line1": "Via Roma 1",
    "city": "Milano",
    "postal_code": "20121",
    "country": "IT",
}


@pytest.fixture
def sandbox() -> SandboxGateway:
    return SandboxGateway()


@pytest.fixture
def oms(sandbox: SandboxGateway) -> OMS:
    return OMS.open("config_examples", fresh_database_url(), gateways=[sandbox])


def cart(oms: OMS, method: str) -> OrderView:
    order = oms.create_order("EU", customer_email="ada@example.com")
    oms.add_line_item(order.id, "TEE-ORG-M", 2)
    oms.set_addresses(order.id, ADDRESS)
    oms.select_shipping_method(order.id, "standard")
    return oms.select_payment_method(order.id, method, payment_source="tok_threeDSecureRequired")


def wait_for_customer(oms: OMS, order: OrderView) -> str:
    with pytest.raises(PaymentActionRequired) as caught:
        oms.authorize(order.id)
    view = oms.get_order(order.id)
    (pending,) = view.transactions
    assert (pending.kind, pending.pending, pending.succeeded) == ("authorization", True, False)
    assert pending.action_id == caught.value.action_id
    assert (view.status, view.payment_status) == ("pending", "unpaid")
    assert oms.history(order.id)[-1].trigger == "authorize_failed"
    return caught.value.action_id


def test_auto_place_places_and_captures_when_the_action_succeeds(
    oms: OMS, sandbox: SandboxGateway
) -> None:
    order = cart(oms, "paypal")  # auto_place + auto_capture
    action = wait_for_customer(oms, order)
    sandbox.resolve_action(action, succeeded=True)
    done = oms.complete_payment_action(order.id, action)
    assert (done.status, done.payment_status) == ("placed", "paid")
    assert [(t.kind, t.succeeded, t.pending) for t in done.transactions] == [
        ("authorization", True, False),
        ("capture", True, False),
    ]
    assert done.captured == done.totals.total
    assert sandbox.captured_total("EUR") == done.totals.total


def test_without_auto_place_the_order_waits_authorized(oms: OMS, sandbox: SandboxGateway) -> None:
    order = cart(oms, "card")
    action = wait_for_customer(oms, order)
    sandbox.resolve_action(action)
    done = oms.complete_payment_action(order.id, action)
    assert (done.status, done.payment_status) == ("pending", "authorized")
    placed = oms.place(order.id)
    assert (placed.status, placed.payment_status) == ("placed", "authorized")
    assert len(sandbox.authorizations) == 1, "place must not authorize a second time"


def test_a_failed_action_is_a_recorded_decline(oms: OMS, sandbox: SandboxGateway) -> None:
    order = cart(oms, "paypal")
    action = wait_for_customer(oms, order)
    sandbox.resolve_action(action, succeeded=False)
    with pytest.raises(PaymentDeclined) as caught:
        oms.complete_payment_action(order.id, action)
    assert caught.value.error_code == "authentication_failed"
    view = oms.get_order(order.id)
    assert (view.status, view.payment_status) == ("pending", "unpaid")
    (row,) = view.transactions
    assert (row.succeeded, row.pending, row.error_code) == (False, False, "authentication_failed")


def test_a_still_pending_action_changes_nothing_and_blocks_a_second_payment(
    oms: OMS, sandbox: SandboxGateway
) -> None:
    order = cart(oms, "paypal")
    action = wait_for_customer(oms, order)
    same = oms.complete_payment_action(order.id, action)
    assert same.transactions[0].pending
    with pytest.raises(TransitionNotAllowed, match=f"payment action {action} is pending"):
        oms.place(order.id)
    assert len(sandbox.authorizations) == 0


def test_an_unknown_action_is_refused(oms: OMS) -> None:
    order = cart(oms, "paypal")
    with pytest.raises(Exception, match="no pending payment action 'nope'"):
        oms.complete_payment_action(order.id, "nope")
