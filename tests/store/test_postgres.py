"""The SDK on a real PostgreSQL server: a whole lifecycle, and stock under concurrent checkouts.

PostgreSQL is part of the test environment (see README): these tests fail when it cannot be
reached. Set ``OMS_SKIP_POSTGRES=1`` to skip them knowingly on a machine without it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import oms_stock
import pytest
from oms_sandbox_payments import SandboxGateway
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from oms_sdk import OMS, OMSError

BASE_URL = os.environ.get(
    "OMS_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
ADDRESS = {
    "name": "Ada",
    "line1": "Via Roma 1",
    "city": "Milano",
    "postal_code": "20121",
    "country": "IT",
}

pytestmark = pytest.mark.skipif(
    os.environ.get("OMS_SKIP_POSTGRES") == "1", reason="OMS_SKIP_POSTGRES=1"
)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh schema on the test server, dropped afterwards."""
    admin = create_engine(BASE_URL)
    schema = f"oms_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # not a skip: PostgreSQL is required
        pytest.fail(f"PostgreSQL is not reachable at {BASE_URL}: {exc}")
    url = make_url(BASE_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    yield url.render_as_string(hide_password=False)
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def checkout(oms: OMS, sku: str = "TEE-ORG-M", quantity: int = 1) -> str:
    order = oms.create_order("EU", customer_email="ada@example.com")
    oms.add_line_item(order.id, sku, quantity)
    oms.set_addresses(order.id, ADDRESS)
    oms.select_shipping_method(order.id, "standard")
    oms.select_payment_method(order.id, "card", payment_source="tok_visa")
    return order.id


def test_a_whole_lifecycle_on_postgresql(postgres_url: str) -> None:
    sandbox = SandboxGateway()
    with OMS.open("config_examples", postgres_url, gateways=[sandbox]) as oms:
        assert oms.store.dialect == "postgresql"
        order = checkout(oms, "HOODIE-MER-L")
        oms.add_line_item(order, "MUG-CER-350", 2)
        oms.place(order)
        oms.capture(order, "50.00")
        oms.capture(order)
        oms.approve(order)
        for parcel in oms.get_order(order).shipments:
            oms.ship(order, parcel.number)
        oms.refund(order, "10.00")
        view = oms.get_order(order)
        assert (view.status, view.payment_status, view.fulfillment_status) == (
            "approved",
            "partially_refunded",
            "fulfilled",
        )
        assert len(view.shipments) == 2, "split_shipments: Amsterdam and Milan"
        assert view.captured == sandbox.captured_total("EUR")
        assert view.refunded == sandbox.refunded_total("EUR")
        assert [h.trigger for h in oms.history(order)][-3:] == [
            "shipment.ship",
            "shipment.ship",
            "refund",
        ]


def test_concurrent_checkouts_never_oversell(postgres_url: str) -> None:
    with OMS.open("config_examples", postgres_url, gateways=[SandboxGateway()]) as oms:
        oms_stock.set_stock(oms, "MXP", "TOTE-CNV", 10)
        orders = [checkout(oms, "TOTE-CNV") for _ in range(30)]

        def place(order: str) -> bool:
            try:
                oms.place(order)
            except OMSError:
                return False
            return True

        with ThreadPoolExecutor(max_workers=8) as pool:
            placed = list(pool.map(place, orders))
        assert sum(placed) == 10
        (level,) = [
            s
            for s in oms_stock.stock_levels(oms, "EU")
            if (s.location, s.sku) == ("MXP", "TOTE-CNV")
        ]
        assert (level.on_hand, level.reserved, level.available) == (10, 10, 0)
