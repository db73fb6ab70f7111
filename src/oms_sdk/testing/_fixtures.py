"""Pytest fixtures and helpers: an ``OMS`` on in-memory SQLite, a hand-moved clock, carts.

The ``oms`` fixture is built from three small fixtures a test module (or a ``conftest.py``)
may override: ``oms_policy_paths`` (which policy files), ``oms_plugins`` (plugin objects to
register) and ``oms_gateways`` (gateway instances used instead of any plugin's of the same
name, to keep a handle on them).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import oms_sdk
from oms_sdk import OMS, Address, OrderView, PaymentGateway
from oms_sdk.errors import InvalidOrderInput

from ._databases import fresh_database_url

__all__ = [
    "DEFAULT_ADDRESSES",
    "START",
    "Checkout",
    "FakeClock",
    "checkout",
    "clock",
    "default_address",
    "example_policies",
    "make_order",
    "oms",
    "oms_gateways",
    "oms_plugins",
    "oms_policy_paths",
]

#: Where ``FakeClock`` starts: a Monday morning inside every example promotion's window.
START = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)

#: Addresses for the markets of ``config_examples``; other markets get ``_FALLBACK_ADDRESS``.
DEFAULT_ADDRESSES: Mapping[str, Address] = {
    "EU": Address(
        name="Giulia Rossi",
        line1="Via Torino 12",
        city="Milano",
        postal_code="20123",
        country="IT",
    ),
    "US": Address(
        name="Sam Carter",
        line1="350 5th Ave",
        city="New York",
        postal_code="10118",
        region="NY",
        country="US",
    ),
    "JP": Address(
        name="Sato Hana",
        line1="1-1 Marunouchi",
        city="Chiyoda-ku, Tokyo",
        postal_code="100-0005",
        country="JP",
    ),
    "NO": Address(
        name="Ola Nordmann",
        line1="Karl Johans gate 1",
        city="Oslo",
        postal_code="0154",
        country="NO",
    ),
    "KW": Address(
        name="Fatima Al-Sabah",
        line1="Block 1, Street 10",
        city="Kuwait City",
        postal_code="13001",
        country="KW",
    ),
}
_FALLBACK_ADDRESS = Address(
    name="Test Customer",
    line1="1 Test Street",
    city="Testville",
    postal_code="12345",
    country="US",
)


def default_address(market: str) -> Address:
    """A valid address for ``market`` (one of the examples', or a neutral one)."""
    return DEFAULT_ADDRESSES.get(market, _FALLBACK_ADDRESS)


def example_policies() -> Path:
    """The SDK's own ``config_examples``: a source checkout's, or the copy packaged in a wheel.

    Unlike ``oms_sdk.cli.example_policies`` this never looks in the current directory: a
    plugin project's own ``config_examples`` must not change what the fixtures open.
    """
    package = Path(oms_sdk.__file__).resolve().parent
    for candidate in (package.parents[1] / "config_examples", package / "_examples"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        "oms_sdk.testing: no example policies found next to the oms_sdk package; "
        "override the oms_policy_paths fixture with your own policy files"
    )


class FakeClock:
    """A clock that moves only when a test moves it. Pass it as ``OMS.open(clock=...)``."""

    def __init__(self, now: datetime = START) -> None:
        if now.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime (the SDK compares with UTC)")
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(
        self,
        delta: timedelta | None = None,
        /,
        *,
        days: float = 0,
        hours: float = 0,
        minutes: float = 0,
        seconds: float = 0,
    ) -> datetime:
        """Move forward by ``delta`` or by the keyword amounts; return the new time."""
        step = delta or timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
        if step < timedelta(0):
            raise ValueError("a clock only moves forward; use set() to jump back on purpose")
        self.now += step
        return self.now

    def set(self, now: datetime) -> datetime:
        """Jump to ``now`` (an aware datetime)."""
        if now.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime (the SDK compares with UTC)")
        self.now = now
        return self.now

    def __repr__(self) -> str:
        return f"FakeClock({self.now.isoformat()})"


def checkout(
    oms: OMS,
    market: str = "EU",
    lines: Sequence[tuple[str, int]] | None = None,
    *,
    payment_method: str | None = "card",
    payment_source: str | None = "tok_visa",
    shipping_method: str | None = None,
    address: Address | Mapping[str, Any] | None = None,
    email: str = "customer@example.com",
) -> OrderView:
    """A cart of ``market`` that is ready to place: lines, e-mail, address, shipping, payment.

    ``lines`` defaults to one unit of the market's first SKU that ships; ``shipping_method``
    to the market's first one (skipped when nothing ships); ``address`` to
    ``default_address(market)``. ``payment_method=None`` leaves the payment unchosen (a free
    order, or a test that picks it itself); ``payment_source`` is the gateway token (ignored
    by ``manual``). Returns the pending order's view.
    """
    policy = oms.policies.market(market)
    if lines is None:
        shippable = [sku for sku, item in policy.prices.items.items() if item.requires_shipping]
        first = shippable[0] if shippable else next(iter(policy.prices.items))
        lines = [(first, 1)]
    order = oms.create_order(market, customer_email=email)
    for sku, quantity in lines:
        order = oms.add_line_item(order.id, sku, quantity)
    order = oms.set_addresses(order.id, address if address is not None else default_address(market))
    if any(line.requires_shipping for line in order.lines):
        code = shipping_method
        if code is None:
            if not policy.shipping_methods:
                raise InvalidOrderInput(f"market {market} has no shipping method to choose")
            code = policy.shipping_methods[0].code
        order = oms.select_shipping_method(order.id, code)
    elif shipping_method is not None:
        order = oms.select_shipping_method(order.id, shipping_method)
    if payment_method is not None:
        order = oms.select_payment_method(order.id, payment_method, payment_source=payment_source)
    return order


class Checkout:
    """What the ``make_order`` fixture returns: ``checkout`` bound to one ``OMS``."""

    def __init__(self, oms: OMS) -> None:
        self.oms = oms

    def __call__(
        self,
        market: str = "EU",
        lines: Sequence[tuple[str, int]] | None = None,
        *,
        payment_method: str | None = "card",
        payment_source: str | None = "tok_visa",
        shipping_method: str | None = None,
        address: Address | Mapping[str, Any] | None = None,
        email: str = "customer@example.com",
    ) -> OrderView:
        return checkout(
            self.oms,
            market,
            lines,
            payment_method=payment_method,
            payment_source=payment_source,
            shipping_method=shipping_method,
            address=address,
            email=email,
        )


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def clock() -> FakeClock:
    """A ``FakeClock`` at ``START``; the ``oms`` fixture runs on it."""
    return FakeClock()


@pytest.fixture
def oms_policy_paths() -> Sequence[str | os.PathLike[str]]:
    """Policy files the ``oms`` fixture opens; default: the SDK's example policies."""
    return [example_policies()]


@pytest.fixture
def oms_plugins() -> Sequence[object]:
    """Plugin objects the ``oms`` fixture registers; override to add yours."""
    return []


@pytest.fixture
def oms_gateways() -> Sequence[PaymentGateway]:
    """Gateway instances the ``oms`` fixture uses instead of plugins' gateways of that name."""
    return []


@pytest.fixture
def oms(
    clock: FakeClock,
    oms_policy_paths: Sequence[str | os.PathLike[str]],
    oms_plugins: Sequence[object],
    oms_gateways: Sequence[PaymentGateway],
) -> Iterator[OMS]:
    """An ``OMS`` on a private in-memory SQLite database (``sqlite://``), on ``clock``.

    With ``OMS_TEST_DATABASE_URL`` set, on a fresh PostgreSQL schema instead.
    """
    with OMS.open(
        list(oms_policy_paths),
        fresh_database_url(),
        plugins=list(oms_plugins),
        gateways=list(oms_gateways),
        clock=clock,
    ) as service:
        yield service


@pytest.fixture
def make_order(oms: OMS) -> Checkout:
    """``checkout`` bound to the ``oms`` fixture: ``make_order("US", payment_method="card")``."""
    return Checkout(oms)
