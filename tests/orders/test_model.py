"""Tests of the order aggregate without a database: the ledger and the facts guards read."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from oms_sdk.lifecycle import PaymentStatus
from oms_sdk.money import Money
from oms_sdk.orders import LineItem, Order, PaymentTransaction, Shipment, TransactionKind

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
_ids = itertools.count(1)

AUTH = TransactionKind.AUTHORIZATION
CAPTURE = TransactionKind.CAPTURE
VOID = TransactionKind.VOID
REFUND = TransactionKind.REFUND


def eur(minor: int) -> Money:
    return Money(minor, "EUR")


def make_order(total: int = 10_000, *, lines: int = 1) -> Order:
    order = Order(id="order-1", number="EU-000001", market="EU", currency="EUR", now=NOW)
    for position in range(lines):
        order.lines.append(
            LineItem(
                sku=f"SKU-{position}",
                name="Item",
                quantity=1,
                unit_price=total // max(lines, 1),
                requires_shipping=True,
                position=position,
            )
        )
    order.total = total
    return order


def row(
    kind: TransactionKind,
    minor: int,
    *,
    succeeded: bool = True,
    reference: str | None = None,
    parent: str | None = None,
    at: datetime = NOW,
) -> PaymentTransaction:
    number = next(_ids)
    return PaymentTransaction(
        id=f"tx-{number}",
        kind=kind,
        amount=eur(minor),
        succeeded=succeeded,
        gateway="sandbox",
        reference=reference or (f"ref-{number}" if succeeded else None),
        parent_reference=parent,
        error_code=None if succeeded else "card_declined",
        error_message=None if succeeded else "declined",
        idempotency_key=f"key-{number}",
        metadata={},
        created_at=at,
    )


def ledger(order: Order, *rows: PaymentTransaction) -> Order:
    for transaction in rows:
        order.record(transaction)
    return order


# -- derive_payment_status --------------------------------------------------------------------


FAILED = False

#: (kind, minor units, succeeded) rows; built inside the test, so that the rows are created
#: after the store has (maybe) mapped the domain classes.
Rows = list[tuple[TransactionKind, int] | tuple[TransactionKind, int, bool]]


@pytest.mark.parametrize(
    ("total", "rows", "expected"),
    [
        (10_000, [], PaymentStatus.UNPAID),
        (10_000, [(AUTH, 10_000, FAILED)], PaymentStatus.UNPAID),
        (10_000, [(AUTH, 10_000)], PaymentStatus.AUTHORIZED),
        (10_000, [(AUTH, 6_000)], PaymentStatus.PARTIALLY_AUTHORIZED),
        (10_000, [(AUTH, 10_000), (CAPTURE, 4_000)], PaymentStatus.PARTIALLY_PAID),
        (10_000, [(AUTH, 10_000), (CAPTURE, 4_000), (CAPTURE, 6_000)], PaymentStatus.PAID),
        (10_000, [(AUTH, 10_000), (CAPTURE, 10_000)], PaymentStatus.PAID),
        (10_000, [(AUTH, 10_000), (CAPTURE, 10_000, FAILED)], PaymentStatus.AUTHORIZED),
        (10_000, [(AUTH, 10_000), (VOID, 10_000)], PaymentStatus.VOIDED),
        (
            10_000,
            [(AUTH, 10_000), (CAPTURE, 10_000), (REFUND, 2_500)],
            PaymentStatus.PARTIALLY_REFUNDED,
        ),
        (
            10_000,
            [(AUTH, 10_000), (CAPTURE, 10_000), (REFUND, 2_500), (REFUND, 7_500)],
            PaymentStatus.REFUNDED,
        ),
        (
            10_000,
            [(AUTH, 10_000), (CAPTURE, 10_000), (REFUND, 10_000, FAILED)],
            PaymentStatus.PAID,
        ),
        (0, [], PaymentStatus.FREE),
        (0, [(AUTH, 1_000, FAILED)], PaymentStatus.FREE),
    ],
)
def test_derive_payment_status(total: int, rows: Rows, expected: PaymentStatus) -> None:
    order = make_order(total)
    for spec in rows:
        kind, minor, *succeeded = spec
        order.record(row(kind, minor, succeeded=succeeded[0] if succeeded else True))
    assert order.derive_payment_status() is expected
    if rows:
        assert order.payment_status == expected.value  # record() re-derives it


def test_empty_cart_is_unpaid_not_free() -> None:
    order = make_order(0, lines=0)
    assert order.derive_payment_status() is PaymentStatus.UNPAID


def test_zero_total_with_an_authorization_is_not_free() -> None:
    order = ledger(make_order(0), row(AUTH, 1))
    assert order.derive_payment_status() is PaymentStatus.AUTHORIZED


def test_record_numbers_the_ledger_and_rederives() -> None:
    order = make_order(10_000)
    assert order.payment_status == "unpaid"
    order.record(row(AUTH, 10_000))
    assert order.payment_status == "authorized"
    order.record(row(CAPTURE, 3_000))
    assert order.payment_status == "partially_paid"
    assert [t.seq for t in order.transactions] == [0, 1]


# -- ledger sums ------------------------------------------------------------------------------


def test_ledger_sums_ignore_failed_rows() -> None:
    order = ledger(
        make_order(10_000),
        row(AUTH, 10_000, succeeded=False),
        row(AUTH, 10_000, reference="auth-1"),
        row(CAPTURE, 3_000, reference="cap-1", parent="auth-1"),
        row(CAPTURE, 9_999, succeeded=False),
        row(CAPTURE, 2_000, reference="cap-2", parent="auth-1"),
        row(REFUND, 500, parent="cap-2"),
    )
    assert order.authorized == eur(10_000)
    assert order.captured == eur(5_000)
    assert order.refunded == eur(500)
    assert order.voided == eur(0)
    assert order.capturable == eur(5_000)
    assert order.refundable == eur(4_500)
    authorization = order.authorization()
    assert authorization is not None
    assert authorization.reference == "auth-1"
    assert [c.reference for c in order.captures()] == ["cap-1", "cap-2"]
    assert order.total_money == eur(10_000)


def test_capturable_after_void_is_zero() -> None:
    order = ledger(make_order(10_000), row(AUTH, 10_000), row(CAPTURE, 4_000), row(VOID, 6_000))
    assert order.capturable == eur(0)


def test_authorization_is_the_latest_succeeded_one() -> None:
    order = ledger(
        make_order(),
        row(AUTH, 10_000, reference="old"),
        row(AUTH, 10_000, reference="new"),
        row(AUTH, 10_000, succeeded=False),
    )
    authorization = order.authorization()
    assert authorization is not None
    assert authorization.reference == "new"
    assert make_order().authorization() is None


def test_capture_and_authorization_times() -> None:
    order = make_order()
    assert (order.last_captured_at, order.authorized_at) == (None, None)
    ledger(
        order,
        row(AUTH, 10_000, at=NOW),
        row(CAPTURE, 1_000, at=NOW + timedelta(days=2)),
        row(CAPTURE, 1_000, at=NOW + timedelta(days=1)),
        row(CAPTURE, 1_000, succeeded=False, at=NOW + timedelta(days=5)),
    )
    assert order.authorized_at == NOW
    assert order.last_captured_at == NOW + timedelta(days=2)


def test_transaction_money() -> None:
    transaction = row(CAPTURE, 1_234)
    assert transaction.kind == "capture"
    assert transaction.money == eur(1_234)
    assert (transaction.amount, transaction.currency) == (1_234, "EUR")


# -- facts the guards read --------------------------------------------------------------------


def test_new_order_defaults() -> None:
    order = Order(id="o", number="EU-000009", market="EU", currency="EUR", now=NOW)
    assert order.statuses() == ("draft", "unpaid", "unfulfilled")
    assert order.line_count == 0
    assert order.has_billing_address is False
    assert order.created_at == order.updated_at == NOW
    assert order.money(150) == eur(150)
    assert order.gift_card_held is False


def test_shipping_problem() -> None:
    order = make_order()
    assert order.shipping_problem is None  # requires_shipping is set by reprice
    order.requires_shipping = True
    assert order.shipping_problem == "the order has no shipping address"
    order.shipping_address = {"country": "IT"}
    assert order.shipping_problem == "no shipping method is selected"
    order.shipping_method = "standard"
    assert order.shipping_problem is None


def test_shipments_facts() -> None:
    order = make_order()
    assert order.all_shipped is False  # no shipment at all
    first, second = (
        Shipment(number="EU-000001/1", lines=[]),
        Shipment(number="EU-000001/2", lines=[]),
    )
    order.shipments.extend([first, second])
    assert first.status == "upcoming"
    assert (order.shipped_count, order.all_shipped) == (0, False)

    first.status = "shipped"
    assert (order.shipped_count, order.all_shipped) == (1, False)
    second.status = "cancelled"  # a cancelled shipment does not hold the order back
    assert (order.shipped_count, order.all_shipped) == (1, True)
    first.status = "delivered"
    assert first.has_shipped is True
    assert order.all_shipped is True


def test_line_and_shipment_lookup() -> None:
    order = make_order(lines=2)
    line = order.line("SKU-1")
    assert line is not None
    assert line.position == 1
    assert order.line("nope") is None

    assert order.shipment(None) is None  # no shipment
    only = Shipment(number="EU-000001/1", lines=[])
    order.shipments.append(only)
    assert order.shipment(None) is only  # the only one needs no name
    order.shipments.append(Shipment(number="EU-000001/2", lines=[]))
    assert order.shipment(None) is None  # ambiguous
    assert order.shipment("EU-000001/2") is order.shipments[1]
    assert order.shipment("EU-000001/3") is None


def test_line_amount() -> None:
    line = LineItem(
        sku="A", name="A", quantity=3, unit_price=1_990, requires_shipping=True, position=0
    )
    assert line.amount == 5_970
    assert line.discount == 0
