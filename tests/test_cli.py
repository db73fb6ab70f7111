"""The ``oms`` command line."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from typer.testing import CliRunner

from oms_sdk import OMS
from oms_sdk.cli import app

runner = CliRunner()


def test_policy_check_prints_every_market_and_capture_mode() -> None:
    result = runner.invoke(app, ["policy", "check", "config_examples"])
    assert result.exit_code == 0, result.output
    for expected in (
        "EU",
        "US",
        "JP",
        "NO",
        "KW",
        "automatic up to $500.00, manual above",
        "delayed (fulfillment may start before capture)",
        "pass_review",
        "draft → pending → placed → review → approved → cancelled",
    ):
        assert expected in result.output
    assert "ok: 5 market(s)" in result.output


def test_policy_check_lists_all_problems_and_exits_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "markets:\n"
        "  - code: ZZ\n"
        "    name: Broken\n"
        "    currency: XXX\n"
        "    colour: blue\n"
        "    prices: {items: {A: {name: a, price: '1'}}}\n"
        "    payment_methods:\n"
        "      - {code: card, name: Card, gateway: stripe}\n"
    )
    result = runner.invoke(app, ["policy", "check", str(bad)])
    assert result.exit_code == 1
    output = " ".join(result.output.split())
    assert f"{bad}:4: markets[0].currency:" in output
    assert f"{bad}:5: markets[0].colour: unknown key 'colour'" in output


def test_policy_schema_is_json_schema() -> None:
    result = runner.invoke(app, ["policy", "schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert schema["$schema"].endswith("2020-12/schema")
    assert "markets" in schema["properties"]


def test_diagram_prints_mermaid(tmp_path: Path) -> None:
    result = runner.invoke(app, ["diagram", "--market", "JP", "--payment-method", "card"])
    assert result.exit_code == 0, result.output
    assert "stateDiagram-v2" in result.output
    assert "review --> approved: pass_review" in result.output
    target = tmp_path / "jp.mmd"
    result = runner.invoke(app, ["diagram", "-m", "US", "-p", "card", "-o", str(target)])
    assert result.exit_code == 0
    assert "fraud_review" in target.read_text()


def test_diagram_unknown_market_fails_cleanly() -> None:
    result = runner.invoke(app, ["diagram", "--market", "ZZ"])
    assert result.exit_code == 1
    assert "ZZ" in result.output


def test_demo_runs_every_scenario_on_a_sqlite_file(tmp_path: Path) -> None:
    database = tmp_path / "demo.sqlite3"
    result = runner.invoke(app, ["demo", "--database", str(database)])
    assert result.exit_code == 0, result.output
    assert "demo done: 11 orders" in result.output
    with OMS.open("config_examples", f"sqlite:///{database}") as oms:
        orders = {o.number: o for o in oms.list_orders(archived=None)}
        finals = sorted((o.status, o.payment_status, o.fulfillment_status) for o in orders.values())
    assert len(orders) == 11
    assert ("cancelled", "voided", "unfulfilled") in finals
    assert ("cancelled", "refunded", "unfulfilled") in finals
    assert ("approved", "partially_refunded", "fulfilled") in finals
    assert ("approved", "paid", "not_required") in finals


def test_oms_reconcile_settles_a_payment_whose_answer_was_lost(tmp_path: Path) -> None:
    from oms_sdk.testing import DEFAULT_ADDRESSES

    url = f"sqlite:///{tmp_path / 'stuck.sqlite3'}"

    class Crash(BaseException):
        pass

    def crash(point: str) -> None:
        if point == "gateway_answered":
            raise Crash(point)

    with OMS.open("config_examples", url) as oms:
        order = oms.create_order("EU", customer_email="ada@example.com").id
        oms.add_line_item(order, "TEE-ORG-M", 1)
        oms.set_addresses(order, DEFAULT_ADDRESSES["EU"])
        oms.select_shipping_method(order, "standard")
        oms.select_payment_method(order, "card", payment_source="tok_visa")
        number = oms.place(order).number
        oms._crash_at = crash
        with contextlib.suppress(Crash):
            oms.capture(order)

    waiting = runner.invoke(app, ["reconcile", "config_examples", "--database", url])
    assert waiting.exit_code == 0, waiting.output
    assert "nothing to reconcile" in waiting.output  # younger than in_flight_timeout

    result = runner.invoke(
        app, ["reconcile", "config_examples", "--database", url, "--older-than", "0"]
    )
    assert result.exit_code == 0, result.output
    assert number in result.output
    assert "capture" in result.output
    # The sandbox keeps its books in memory: the one of this new process never saw the
    # authorization, and says so. reconcile records what the gateway answers, whatever it is.
    assert "failed (no_such_authorization)" in result.output
    with OMS.open("config_examples", url) as oms:
        view = oms.get_order(order)
    assert view.payment_status == "authorized"
    assert not any(t.pending for t in view.transactions)
    assert [t.error_code for t in view.transactions if t.kind == "capture"] == [
        "no_such_authorization"
    ]


def test_oms_bench_quick_completes_with_finite_ratios(tmp_path: Path) -> None:
    """A smoke run only: speed is measured by the benchmark itself, never asserted here."""
    import math

    result = runner.invoke(app, ["bench", "--quick", "--json", str(tmp_path / "b.json")])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "b.json").read_text())
    ratios = [run["ratio"] for run in report["sqlite"]["runs"].values()]
    ratios.append(report["engine"]["ratio"])
    ratios.append(report["engine"]["dispatch_only_us"] / report["engine"]["bare_us"])
    ratios.append(report["engine"]["bare_direct_us"] / report["engine"]["bare_us"])
    ratios.append(report["engine"]["least_ratio"])
    assert report["engine"]["rules_only_us"] > 0
    assert ratios
    assert all(math.isfinite(r) and r > 0 for r in ratios)
    assert (
        report["sqlite"]["machines_built"]["at_warm_up"]
        == (report["sqlite"]["machines_built"]["after_run"])
    )
    assert report["sqlite"]["per_lifecycle"]["transactions"] > 0
    assert report["sqlite"]["orm_command_ms"] > 0  # what bounds the ratio: the ORM alone
    for run in report["sqlite"]["runs"].values():  # and the CPU per lifecycle
        assert run["cpu_ms_per_lifecycle"] > 0
        assert run["floor_cpu_ms_per_lifecycle"] > 0
