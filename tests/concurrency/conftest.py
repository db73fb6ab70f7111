"""Set-up of the concurrency and recovery tests: a policy, both databases, checkouts.

Both test files run on a SQLite file and on the PostgreSQL test server whatever
``OMS_TEST_DATABASE_URL`` says: races are what they are about, and each database loses them
differently. PostgreSQL is required (set ``OMS_SKIP_POSTGRES=1`` to skip it knowingly).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from oms_sandbox_payments import SandboxGateway
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from oms_sdk import OMS

POSTGRES_URL = os.environ.get(
    "OMS_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
#: How many times each concurrency test runs per database (CI: the default, 20).
ROUNDS = int(os.environ.get("OMS_CONCURRENCY_ROUNDS", "20"))
STOCK_UNITS = 10
COUPON_USES = 3
ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "Via Roma 1",
    "city": "Milano",
    "postal_code": "20121",
    "country": "IT",
}


def policy_text(rounds: int = ROUNDS) -> str:
    """Market CC: one 100.00 item, free shipping, manual capture. Market ST: a stocked SKU
    per round, so that every round starts with exactly ``STOCK_UNITS`` units."""
    skus = {f"UNIT-{n:03d}": {"name": f"Unit {n}", "price": "5.00"} for n in range(rounds)}
    stock = {
        "reservation_ttl_minutes": 30,
        "models": {
            "one_warehouse": {
                "strategy": "no_split",
                "locations": [{"code": "MXP", "name": "Milan", "priority": 1}],
                "initial_stock": {"MXP": dict.fromkeys(skus, STOCK_UNITS)},
            }
        },
    }
    coupons = [
        {"code": f"few{n:03d}", "name": f"Few {n}", "type": "percentage", "percentage": "10",
         "coupon": f"FEW{n:03d}", "usage_limit": COUPON_USES}
        for n in range(rounds)
    ]  # fmt: skip
    return (
        "plugins: [sandbox, stock]\n"
        "markets:\n"
        "  - code: CC\n"
        "    name: Concurrency\n"
        "    currency: EUR\n"
        "    prices:\n"
        "      items:\n"
        '        WIDGET: {name: Widget, price: "100.00"}\n'
        '    shipping_methods: [{code: standard, name: Standard, price: "0.00"}]\n'
        "    payment_methods:\n"
        "      - {code: card, name: Card, gateway: sandbox}\n"
        "      - {code: auto, name: Card, gateway: sandbox, auto_capture: true}\n"
        f"    promotions: {json.dumps(coupons)}\n"
        "  - code: ST\n"
        "    name: Stocked\n"
        "    currency: EUR\n"
        "    inventory_model: one_warehouse\n"
        f"    prices: {{items: {json.dumps(skus)}}}\n"
        '    shipping_methods: [{code: standard, name: Standard, price: "0.00"}]\n'
        "    payment_methods:\n"
        "      - {code: card, name: Card, gateway: sandbox}\n"
        f"    extensions: {{stock: {json.dumps(stock)}}}\n"
    )


def postgres_schema() -> Iterator[str]:
    """A fresh schema on the PostgreSQL test server, dropped afterwards."""
    if os.environ.get("OMS_SKIP_POSTGRES") == "1":
        pytest.skip("OMS_SKIP_POSTGRES=1")
    admin = create_engine(POSTGRES_URL)
    schema = f"oms_race_{uuid.uuid4().hex[:12]}"
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # not a skip: PostgreSQL is part of the test environment
        pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_URL}: {exc}")
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def database_url(kind: str, folder: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'race.sqlite3'}"
    else:
        yield from postgres_schema()


def write_policy(folder: Path) -> Path:
    path = folder / "race.yaml"
    path.write_text(policy_text(), encoding="utf-8")
    return path


def cart(oms: Any, market: str, sku: str, *, token: str = "tok_visa", method: str = "card") -> str:
    order = oms.create_order(market, customer_email="ada@example.com")
    oms.add_line_item(order.id, sku, 1)
    oms.set_addresses(order.id, ADDRESS)
    oms.select_shipping_method(order.id, "standard")
    oms.select_payment_method(order.id, method, payment_source=token)
    return str(order.id)


@dataclass
class Race:
    """One OMS on one database, its sandbox gateway, and the round's own SKU for stock."""

    oms: OMS
    sandbox: SandboxGateway
    database: str
    policy: Path
    url: str

    def cart(
        self,
        market: str = "CC",
        sku: str = "WIDGET",
        *,
        token: str = "tok_visa",
        method: str = "card",
    ) -> str:
        return cart(self.oms, market, sku, token=token, method=method)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def race(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Race]:
    """Shared by every round of a test module on one database: rounds use their own orders."""
    folder = tmp_path_factory.mktemp(f"race-{request.param}")
    policy = write_policy(folder)
    for url in database_url(request.param, folder):
        sandbox = SandboxGateway()
        oms = OMS.open(policy, url, gateways=[sandbox])
        try:
            yield Race(oms, sandbox, request.param, policy, url)
        finally:
            oms.close()
