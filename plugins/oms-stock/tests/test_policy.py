"""The ``extensions.stock`` section: problems located by file, key path and line; seeding."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import oms_stock
import pytest
from oms_sandbox_payments import SandboxGateway

from oms_sdk import OMS, PolicyError, PolicyProblem
from oms_sdk._service import load_with_plugins
from oms_sdk.testing import fresh_database_url

HEAD = """\
plugins: [sandbox, stock]
markets:
  - code: EU
    name: European Union
    currency: EUR
    inventory_model: eu_warehouses
    prices:
      items:
        TEE: {name: Organic tee, price: "29.90"}
    payment_methods:
      - {code: card, name: Card, gateway: sandbox}
    extensions:
      stock:
"""  # the stock section's keys start on line 14

GOOD_MODEL = """\
    models:
      eu_warehouses:
        strategy: no_split
        locations:
          - {code: MXP, name: Milan, priority: 1}
          - {code: AMS, name: Amsterdam, priority: 2}
        initial_stock:
          MXP: {TEE: 5}
"""


def problems_of(tmp_path: Path, text: str) -> list[PolicyProblem]:
    policy = tmp_path / "eu.yaml"
    policy.write_text(text)
    with pytest.raises(PolicyError) as caught:
        OMS.open(policy, fresh_database_url())
    return list(caught.value.problems)


def located(tmp_path: Path, problems: list[PolicyProblem]) -> list[tuple[str, str, int | None]]:
    assert {p.file for p in problems} == {str(tmp_path / "eu.yaml")}
    return [(p.key_path, p.message, p.line) for p in problems]


def section(body: str) -> str:
    return HEAD + textwrap.indent(textwrap.dedent(body), " " * 8)


def test_a_valid_section_loads(tmp_path: Path) -> None:
    policy = tmp_path / "eu.yaml"
    policy.write_text(HEAD + textwrap.indent(GOOD_MODEL, "    "))
    with OMS.open(policy, fresh_database_url()) as oms:
        assert "stock" in oms.plugins.names
        levels = oms_stock.stock_levels(oms, "EU")
    assert [(lv.location, lv.sku, lv.on_hand) for lv in levels] == [("MXP", "TEE", 5)]


def test_a_bad_strategy_name_is_located(tmp_path: Path) -> None:
    text = section(
        """\
        models:
          eu_warehouses:
            strategy: split_everything
            locations: [{code: MXP, name: Milan, priority: 1}]
        """
    )
    ((key, message, line),) = located(tmp_path, problems_of(tmp_path, text))
    assert key == "markets[0].extensions.stock.models.eu_warehouses.strategy"
    assert line == 16
    assert "'no_split'" in message
    assert "'ship_from_first_available_or_primary'" in message


def test_an_unknown_inventory_model_is_located(tmp_path: Path) -> None:
    text = HEAD.replace("inventory_model: eu_warehouses", "inventory_model: us_warehouses")
    text += textwrap.indent(GOOD_MODEL, "    ")
    ((key, message, line),) = located(tmp_path, problems_of(tmp_path, text))
    assert (key, line) == ("markets[0].inventory_model", 6)
    assert message == (
        "inventory model 'us_warehouses' is not defined in extensions.stock.models "
        "(defined: eu_warehouses)"
    )


def test_a_market_without_inventory_model_uses_default_which_must_be_defined(
    tmp_path: Path,
) -> None:
    text = HEAD.replace("    inventory_model: eu_warehouses\n", "")
    text += textwrap.indent(GOOD_MODEL, "    ")
    ((key, message, line),) = located(tmp_path, problems_of(tmp_path, text))
    assert key == "markets[0].inventory_model"
    assert line == 3  # not written: the market itself
    assert "'default' is not defined" in message


def test_location_problems_are_each_located(tmp_path: Path) -> None:
    text = section(
        """\
        models:
          eu_warehouses:
            locations:
              - {code: MXP, name: Milan, priority: 0}
              - code: AMS
                name: Amsterdam
                priority: 2
              - {code: AMS, name: Again, priority: 2}
            initial_stock:
              BER: {TEE: 5}
              MXP: {TEE: -1}
        """
    )
    found = located(tmp_path, problems_of(tmp_path, text))
    base = "markets[0].extensions.stock.models.eu_warehouses"
    assert found == [
        (f"{base}.locations[0].priority", "Input should be greater than or equal to 1", 17),
        (f"{base}.initial_stock.MXP.TEE", "Input should be greater than or equal to 0", 24),
    ]
    # Fixing the type errors reveals the cross-checks, also located.
    text = text.replace("priority: 0", "priority: 1").replace("TEE: -1", "TEE: 1")
    found = located(tmp_path, problems_of(tmp_path, text))
    assert found == [
        (f"{base}.locations[2].code", "duplicate location code 'AMS'", 21),
        (
            f"{base}.locations[2].priority",
            "priority 2 is also given to 'AMS': priorities order the locations, "
            "so each must be unique",
            21,
        ),
        (f"{base}.initial_stock.BER", "unknown stock location 'BER' (locations: MXP, AMS)", 23),
    ]


def test_unknown_keys_and_wrong_types_are_refused(tmp_path: Path) -> None:
    text = section(
        """\
        reservation_ttl: 30
        models:
          eu_warehouses:
            strategy: no_split
            stock_transfers: "yes"
            locations: [{code: MXP, name: Milan, priority: 1, city: Milano}]
            initial_stock: {MXP: {TEE: 2.5}}
        """
    )
    found = located(tmp_path, problems_of(tmp_path, text))
    base = "markets[0].extensions.stock"
    keys = {key: (message, line) for key, message, line in found}
    assert keys[f"{base}.reservation_ttl"] == (
        "unknown key 'reservation_ttl' (allowed: reservation_ttl_minutes, models)",
        14,
    )
    assert keys[f"{base}.models.eu_warehouses.stock_transfers"][1] == 18
    assert keys[f"{base}.models.eu_warehouses.locations[0].city"][0].startswith(
        "unknown key 'city' (allowed: code, name, priority)"
    )
    assert keys[f"{base}.models.eu_warehouses.initial_stock.MXP.TEE"][1] == 20
    assert len(found) == 4


def test_missing_models_is_a_missing_key(tmp_path: Path) -> None:
    found = located(tmp_path, problems_of(tmp_path, section("reservation_ttl_minutes: 15\n")))
    assert found == [("markets[0].extensions.stock.models", "missing required key 'models'", 13)]


def test_the_stock_section_needs_the_plugin(tmp_path: Path) -> None:
    text = (HEAD + textwrap.indent(GOOD_MODEL, "    ")).replace("[sandbox, stock]", "[sandbox]")
    ((key, message, line),) = located(tmp_path, problems_of(tmp_path, text))
    assert (key, message, line) == (
        "markets[0].extensions.stock",
        "no active plugin named 'stock' reads it",
        13,
    )


def test_the_plugin_object_can_be_registered_by_hand(tmp_path: Path) -> None:
    policy = tmp_path / "eu.yaml"
    policy.write_text(
        (HEAD + textwrap.indent(GOOD_MODEL, "    ")).replace("[sandbox, stock]", "[sandbox]")
    )
    with OMS.open(policy, fresh_database_url(), plugins=[oms_stock.plugin]) as oms:
        assert "stock" in oms.plugins.names
        assert [lv.on_hand for lv in oms_stock.stock_levels(oms)] == [5]


def test_the_policy_check_sees_the_same_problems(tmp_path: Path) -> None:
    """``oms policy check`` loads through the same plugin checks, without a database."""
    policy = tmp_path / "eu.yaml"
    policy.write_text(
        HEAD.replace("eu_warehouses", "nowhere", 1) + textwrap.indent(GOOD_MODEL, "    ")
    )
    with pytest.raises(PolicyError, match=r"eu.yaml:6: markets\[0\].inventory_model"):
        load_with_plugins([policy], gateways=[SandboxGateway()])


# -- seeding ---------------------------------------------------------------------------------------


def test_locations_follow_the_policy_on_reopen(
    tmp_path: Path, make_policy: Callable[..., str]
) -> None:
    from oms_stock._tables import locations
    from sqlalchemy import select

    policy = tmp_path / "eu.yaml"
    database = "sqlite:///" + str(tmp_path / "x.sqlite3")
    policy.write_text(make_policy())
    OMS.open(policy, database).close()
    policy.write_text(make_policy(locations=[("MXP", "Milano centrale", 2), ("BER", "Berlin", 1)]))
    with OMS.open(policy, database) as oms, oms.store.engine.connect() as connection:
        rows = connection.execute(
            select(
                locations.c.market, locations.c.code, locations.c.name, locations.c.priority
            ).order_by(locations.c.priority)
        ).all()
    assert [tuple(r) for r in rows] == [
        ("EU", "BER", "Berlin", 1),
        ("EU", "MXP", "Milano centrale", 2),
    ]
