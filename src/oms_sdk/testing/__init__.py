"""A test kit for plugin authors: pytest fixtures, and the gateway conformance suite.

Use the fixtures with ``pytest_plugins = ["oms_sdk.testing"]`` in your top-level
``conftest.py`` (or import them into a test module)::

    def test_an_order_is_placed(oms, make_order):
        order = oms.place(make_order("EU").id)
        assert order.status == "placed"

Check a payment gateway with ``GatewayConformance`` (see ``docs/plugins.md``). This module
imports pytest; ``import oms_sdk`` never imports it.

PYTEST_DONT_REWRITE: the kit reports failures with its own exceptions, not ``assert``, so it
needs no assertion rewriting and may be imported before pytest registers it as a plugin.
"""

from ._conformance import OPTIONAL_RULES, RULES, ConformanceFailure, GatewayConformance, Rule
from ._databases import fresh_database_url, using_postgresql
from ._fixtures import (
    DEFAULT_ADDRESSES,
    START,
    Checkout,
    FakeClock,
    checkout,
    clock,
    default_address,
    example_policies,
    make_order,
    oms,
    oms_gateways,
    oms_plugins,
    oms_policy_paths,
)
from ._races import all_at_once

__all__ = [
    "DEFAULT_ADDRESSES",
    "OPTIONAL_RULES",
    "RULES",
    "START",
    "Checkout",
    "ConformanceFailure",
    "FakeClock",
    "GatewayConformance",
    "Rule",
    "all_at_once",
    "checkout",
    "clock",
    "default_address",
    "example_policies",
    "fresh_database_url",
    "make_order",
    "oms",
    "oms_gateways",
    "oms_plugins",
    "oms_policy_paths",
    "using_postgresql",
]
