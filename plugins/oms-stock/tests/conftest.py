"""Fixtures: small policy files written into tmp_path, an OMS on a SQLite file, a fake clock."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import oms_stock
import pytest
from oms_sandbox_payments import SandboxGateway
from sqlalchemy import select

from oms_sdk import OMS, OrderView

START = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
ADDRESS = {
    "name": "Giulia Rossi",
    "line1": "Via Torino 12",
    "city": "Milano",
    "postal_code": "20121",
    "country": "IT",
}
#: Two locations, as in the README's examples: MXP is the primary.
LOCATIONS: tuple[tuple[str, str, int], ...] = (
    ("MXP", "Milan warehouse", 1),
    ("AMS", "Amsterdam warehouse", 2),
)

Stock = Mapping[str, Mapping[str, int]]


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def policy_text(
    strategy: str = "no_split",
    stock: Stock | None = None,
    *,
    locations: Sequence[tuple[str, str, int]] = LOCATIONS,
    stock_transfers: bool = False,
    decrement: str = "on_approval",
    ttl: int = 30,
    plugins: str = "[sandbox, stock]",
) -> str:
    """A one-market policy (EU) whose stock section is built from the arguments.

    JSON is YAML: the nested parts are written as flow mappings so they need no indenting.
    """
    stock = {"MXP": {"TEE": 10, "MUG": 10}} if stock is None else stock
    locs = [{"code": code, "name": name, "priority": prio} for code, name, prio in locations]
    section = {
        "reservation_ttl_minutes": ttl,
        "models": {
            "eu_warehouses": {
                "strategy": strategy,
                "stock_transfers": stock_transfers,
                "decrement": decrement,
                "locations": locs,
                "initial_stock": stock,
            }
        },
    }
    return (
        f"plugins: {plugins}\n"
        "markets:\n"
        "  - code: EU\n"
        "    name: European Union\n"
        "    currency: EUR\n"
        "    inventory_model: eu_warehouses\n"
        "    prices:\n"
        "      items:\n"
        '        TEE: {name: Organic tee, price: "29.90"}\n'
        '        MUG: {name: Ceramic mug, price: "14.50"}\n'
        '        EBOOK: {name: Care e-book, price: "4.99", requires_shipping: false}\n'
        '    shipping_methods: [{code: standard, name: Standard, price: "4.90"}]\n'
        "    payment_methods:\n"
        "      - {code: card, name: Card, gateway: sandbox, auto_capture: true}\n"
        f"    extensions: {{stock: {json.dumps(section)}}}\n"
    )


@dataclass
class Shop:
    """One OMS on a SQLite file, with the sandbox gateway at hand, and checkout helpers."""

    oms: OMS
    clock: FakeClock
    sandbox: SandboxGateway
    policy: Path
    database: str
    _closed: list[OMS] = field(default_factory=list)

    def cart(self, *lines: tuple[str, int], oms: OMS | None = None) -> OrderView:
        """A pending order with the lines, ready to be placed."""
        oms = oms or self.oms
        order = oms.create_order("EU", customer_email="giulia@example.com")
        for sku, quantity in lines:
            oms.add_line_item(order.id, sku, quantity)
        oms.set_addresses(order.id, ADDRESS)
        oms.select_shipping_method(order.id, "standard")
        return oms.select_payment_method(order.id, "card", payment_source="tok_visa")

    def place(self, *lines: tuple[str, int]) -> OrderView:
        return self.oms.place(self.cart(*lines).id)

    @staticmethod
    def shipments(view: OrderView) -> list[tuple[str | None, tuple[tuple[str, int], ...]]]:
        """(stock location, lines) of each shipment."""
        return [(s.stock_location, s.lines) for s in view.shipments]

    def levels(self) -> dict[tuple[str, str], tuple[int, int, int]]:
        """(on_hand, reserved, available) by (location, sku)."""
        return {
            (level.location, level.sku): (level.on_hand, level.reserved, level.available)
            for level in oms_stock.stock_levels(self.oms)
        }

    def rows(self) -> tuple[list[Any], list[Any]]:
        """Every stock item and reservation row, as stored."""
        from oms_stock._tables import items, reservations

        with self.oms.store.engine.connect() as connection:
            stock = list(connection.execute(select(items).order_by(items.c.location, items.c.sku)))
            held = list(connection.execute(select(reservations).order_by(reservations.c.id)))
        return [tuple(r) for r in stock], [tuple(r) for r in held]

    def reopen(self, text: str | None = None) -> OMS:
        """Close the OMS and open the same database again (with a new policy text if given)."""
        self.oms.close()
        if text is not None:
            self.policy.write_text(text)
        self.oms = OMS.open(self.policy, self.database, gateways=[self.sandbox], clock=self.clock)
        self._closed.append(self.oms)
        return self.oms


@pytest.fixture
def make_policy() -> Callable[..., str]:
    """``policy_text`` (test modules cannot import this conftest under importlib mode)."""
    return policy_text


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def open_shop(tmp_path: Path, clock: FakeClock) -> Iterator[Callable[..., Shop]]:
    """``open_shop(strategy, stock, ...)``: write the policy, open an OMS on a SQLite file."""
    opened: list[Shop] = []

    def open_(*args: Any, **kwargs: Any) -> Shop:
        policy = tmp_path / f"policy{len(opened)}.yaml"
        policy.write_text(policy_text(*args, **kwargs))
        database = "sqlite:///" + str(tmp_path / f"shop{len(opened)}.sqlite3")
        sandbox = SandboxGateway()
        oms = OMS.open(policy, database, gateways=[sandbox], clock=clock)
        shop = Shop(oms, clock, sandbox, policy, database)
        opened.append(shop)
        return shop

    yield open_
    for shop in opened:
        shop.oms.close()
        for other in shop._closed:
            other.close()
