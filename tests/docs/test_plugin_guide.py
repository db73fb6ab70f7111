"""docs/plugins.md: its examples run, its code is the example files, its tables are complete."""

from __future__ import annotations

import importlib.util
import inspect
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from oms_sdk import OMS, Money, PaymentDeclined, TransitionNotAllowed, hookspecs
from oms_sdk.testing import OPTIONAL_RULES, GatewayConformance, Rule, checkout, fresh_database_url

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
GUIDE = DOCS / "plugins.md"
EXAMPLES = DOCS / "examples" / "plugins"

#: A fenced block announced by an HTML comment: ``<!-- example: examples/plugins/x.py -->``.
_BLOCK = re.compile(r"<!-- (\w+): (\S+) -->\n```(\w+)\n(.*?)^```$", re.S | re.M)


def guide() -> str:
    return GUIDE.read_text(encoding="utf-8")


def blocks(kind: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for block_kind, name, _language, body in _BLOCK.findall(guide()):
        if block_kind == kind:
            assert name not in found, f"{kind} {name} appears twice in the guide"
            found[name] = body
    return found


def load_example(name: str) -> ModuleType:
    """A fresh import of ``docs/examples/plugins/<name>.py``.

    It is kept in ``sys.modules`` under a private name (dataclasses look their module up
    there); the tests that need ``import <name>`` to work set that name themselves.
    """
    private = f"_plugin_guide_example_{name}"
    spec = importlib.util.spec_from_file_location(private, EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[private] = module
    spec.loader.exec_module(module)
    return module


def table(heading: str) -> list[list[str]]:
    """The rows of the first table after ``heading``, as stripped cells (header excluded)."""
    text = guide()
    start = text.index(f"\n{heading}\n")
    rows: list[list[str]] = []
    for line in text[start:].splitlines()[1:]:
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif rows:
            break
    assert len(rows) > 2, f"no table after {heading!r}"
    assert set("".join(rows[1])) <= set("-: "), "the second row separates the header"
    return rows[2:]


def first_code(cell: str) -> str:
    match = re.match(r"`([^`]+)`", cell)
    assert match, f"{cell!r} does not start with a `name`"
    return match.group(1)


# -- the code in the guide is the example files ---------------------------------------------------


def test_every_example_file_is_quoted_exactly() -> None:
    quoted = blocks("example")
    files = {f"examples/plugins/{p.name}" for p in EXAMPLES.glob("*.py")}
    assert set(quoted) == files
    for name, body in quoted.items():
        assert body == (DOCS / name).read_text(encoding="utf-8"), f"{name} differs from the guide"


def test_the_guide_has_the_blocks_the_tests_run() -> None:
    assert set(blocks("policy")) == {"staff.yaml"}
    assert set(blocks("usage")) == {"example_gateway"}
    assert set(blocks("conformance")) == {"example_gateway"}
    assert set(blocks("kit")) == {"example_guard"}


# -- the hook table --------------------------------------------------------------------------------


def hookspec_names() -> dict[str, dict[str, Any]]:
    """Every ``oms_*`` function of ``oms_sdk.hookspecs`` that carries a hookspec marker."""
    marker = f"{hookspecs.PROJECT_NAME}_spec"
    return {
        name: getattr(function, marker)
        for name, function in vars(hookspecs).items()
        if name.startswith("oms_") and inspect.isfunction(function) and hasattr(function, marker)
    }


def test_the_hook_table_names_every_hook_and_nothing_else() -> None:
    rows = table("## Every hook")
    named = [first_code(row[0]) for row in rows]
    assert len(named) == len(set(named)), "a hook appears twice"
    specs = hookspec_names()
    assert len(specs) >= 13
    missing = set(specs) - set(named)
    unknown = set(named) - set(specs)
    assert (missing, unknown) == (set(), set()), (
        f"docs/plugins.md: hooks missing from the table: {sorted(missing)}; "
        f"hooks in the table that oms_sdk.hookspecs does not define: {sorted(unknown)}"
    )


def test_the_hook_table_says_each_hooks_kind_and_transaction() -> None:
    specs = hookspec_names()
    for row in table("## Every hook"):
        assert len(row) == 4, row
        name, kind, when, transaction = row
        hook = first_code(name)
        assert hook in specs, f"{hook} is not a hook"
        assert kind in {"one answer", "everyone", "one answer / around"}, (hook, kind)
        assert kind.startswith("one answer") == specs[hook]["firstresult"], hook
        assert when
        assert transaction


def test_the_guide_tells_apart_the_three_kinds() -> None:
    text = guide()
    for kind in ("**one answer** (`firstresult`)", "**everyone** (plain)", "**around**"):
        assert kind in text


# -- the example gateway ---------------------------------------------------------------------------


@pytest.fixture
def example_gateway(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The example gateway module, importable as ``example_gateway`` like in the guide."""
    module = load_example("example_gateway")
    monkeypatch.setitem(sys.modules, "example_gateway", module)
    return module


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with ``config_examples`` and the guide's ``staff.yaml``."""
    shutil.copytree(ROOT / "config_examples", tmp_path / "config_examples")
    (tmp_path / "staff.yaml").write_text(blocks("policy")["staff.yaml"], encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_guides_gateway_usage_runs_as_written(
    example_gateway: ModuleType, shop: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = blocks("usage")["example_gateway"]
    exec(compile(code, "docs/plugins.md", "exec"), {"__name__": "guide"})
    printed = capsys.readouterr().out.splitlines()
    promised = re.findall(r"^print\(.*\)\s+# (.*)$", code, re.M)
    assert printed == promised == ["paid 11.00 EUR", "partially_refunded 20.00 EUR"]


@pytest.fixture
def staff_oms(example_gateway: ModuleType, shop: Path) -> Iterator[OMS]:
    """The guide's staff shop, plus a store-credit method captured by hand."""
    policy = shop / "staff.yaml"
    policy.write_text(
        policy.read_text(encoding="utf-8")
        + "      - code: credit_later\n"
        + "        name: Store credit, captured when the goods leave\n"
        + "        gateway: store_credit\n",
        encoding="utf-8",
    )
    with OMS.open(
        ["config_examples", policy], fresh_database_url(), plugins=[example_gateway]
    ) as oms:
        yield oms


def eur(amount: str) -> Money:
    return Money.parse(amount, "EUR")


def test_store_credit_declines_then_pays_then_refunds(staff_oms: OMS) -> None:
    credit = staff_oms.gateways["store_credit"]
    credit.credit("emp-7", eur("50.00"))
    cart = checkout(
        staff_oms, "STAFF", [("HOODIE-MER-L", 1)], payment_method="credit", payment_source="emp-7"
    )

    with pytest.raises(PaymentDeclined) as caught:
        staff_oms.place(cart.id)
    assert caught.value.error_code == "insufficient_credit"
    view = staff_oms.get_order(cart.id)
    assert (view.status, view.payment_status) == ("pending", "unpaid")
    assert [(t.kind, t.succeeded, t.error_code) for t in view.transactions] == [
        ("authorization", False, "insufficient_credit")
    ]
    assert credit.balances["emp-7"] == eur("50.00")

    credit.credit("emp-7", eur("50.00"))
    placed = staff_oms.place(cart.id)
    assert (placed.status, placed.payment_status) == ("placed", "paid")
    assert credit.balances["emp-7"] == eur("11.00")
    assert [(t.kind, t.amount, t.gateway) for t in placed.transactions if t.succeeded] == [
        ("authorization", eur("89.00"), "store_credit"),
        ("capture", eur("89.00"), "store_credit"),
    ]

    cancelled = staff_oms.cancel(placed.id)
    assert (cancelled.status, cancelled.payment_status) == ("cancelled", "refunded")
    assert credit.balances["emp-7"] == eur("100.00")


def test_store_credit_partial_capture_then_cancel_releases_the_rest(staff_oms: OMS) -> None:
    credit = staff_oms.gateways["store_credit"]
    credit.credit("emp-9", eur("200.00"))
    cart = checkout(
        staff_oms,
        "STAFF",
        [("HOODIE-MER-L", 1), ("TOTE-CNV", 1)],
        payment_method="credit_later",
        payment_source="emp-9",
    )
    placed = staff_oms.place(cart.id)
    assert placed.payment_status == "authorized"
    assert credit.balances["emp-9"] == eur("91.10")  # 108.90 held

    staff_oms.capture(placed.id, "19.90")
    cancelled = staff_oms.cancel(placed.id)

    assert [(t.kind, t.amount) for t in cancelled.transactions if t.succeeded] == [
        ("authorization", eur("108.90")),
        ("capture", eur("19.90")),
        ("refund", eur("19.90")),
        ("void", eur("89.00")),
    ]
    assert credit.balances["emp-9"] == eur("200.00")
    assert all(hold.voided for hold in credit.holds.values())


# -- the guide's conformance test, run as written -------------------------------------------


def _guide_conformance() -> type[GatewayConformance]:
    """The class the guide's conformance block defines, with ``example_gateway`` importable."""
    previous = sys.modules.get("example_gateway")
    sys.modules["example_gateway"] = load_example("example_gateway")
    try:
        namespace: dict[str, Any] = {"__name__": "guide"}
        exec(
            compile(blocks("conformance")["example_gateway"], "docs/plugins.md", "exec"), namespace
        )
    finally:
        if previous is None:
            del sys.modules["example_gateway"]
        else:
            sys.modules["example_gateway"] = previous
    suite: type[GatewayConformance] = namespace["TestStoreCreditConformance"]
    return suite


class TestExampleGatewayConformance(_guide_conformance()):  # type: ignore[misc]
    """The store-credit gateway passes every rule, configured exactly as the guide shows."""


def test_the_example_gateway_keeps_every_rule() -> None:
    assert issubclass(TestExampleGatewayConformance, GatewayConformance)
    assert TestExampleGatewayConformance.opt_outs == {}
    assert TestExampleGatewayConformance.decline_source is not None


# -- the conformance rules table ------------------------------------------------------------


def test_the_rules_table_lists_every_rule_and_which_are_optional() -> None:
    optional = {first_code(row[0]): row[2] for row in table("### The gateway conformance suite")}
    assert set(optional) == {rule.value for rule in Rule}
    for rule in Rule:
        assert optional[rule.value].startswith("yes") == (rule in OPTIONAL_RULES), rule


# -- the example guard ----------------------------------------------------------------------------


@pytest.fixture
def reviews() -> Any:
    return load_example("example_guard").ReviewLargeOrders({"EUR": eur("100.00")})


@pytest.fixture
def guarded(reviews: Any) -> Iterator[OMS]:
    with OMS.open("config_examples", fresh_database_url(), plugins=[reviews]) as oms:
        yield oms


def test_a_large_order_is_approved_only_after_review(guarded: OMS, reviews: Any) -> None:
    order = guarded.place(checkout(guarded, "EU", [("HOODIE-MER-L", 2)]).id)
    order = guarded.capture(order.id)
    assert order.totals.total == eur("173.00")  # 2 x 89.00, 5.00 off from 100.00

    with pytest.raises(TransitionNotAllowed) as caught:
        guarded.approve(order.id)
    message = (
        "cannot approve order EU-000001 (placed/paid/unfulfilled): "
        "orders above €100.00 need a manual review first"
    )
    assert str(caught.value) == message
    assert message in " ".join(guide().replace("`", "").split())
    assert guarded.get_order(order.id).status == "placed"

    reviews.mark_reviewed(order.number)
    approved = guarded.approve(order.id)
    assert (approved.status, approved.fulfillment_status) == ("approved", "in_progress")


def test_small_orders_and_other_currencies_pass_the_guard(guarded: OMS) -> None:
    small = guarded.capture(guarded.place(checkout(guarded, "EU").id).id)
    assert guarded.approve(small.id).status == "approved"

    dollars = guarded.place(checkout(guarded, "US", [("HOODIE-MER-L", 10)]).id)
    guarded.capture(dollars.id)  # above 500.00: not captured automatically
    assert guarded.approve(dollars.id).status == "fraud_review"  # the US policy's own step


def test_the_guides_kit_example_passes(pytester: pytest.Pytester) -> None:
    """The guide's tests of the guard, with ``oms_sdk.testing`` enabled in a conftest."""
    pytester.makeconftest('pytest_plugins = ["oms_sdk.testing"]\n')
    shutil.copy(EXAMPLES / "example_guard.py", pytester.path / "example_guard.py")
    pytester.makepyfile(test_guard=blocks("kit")["example_guard"])
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_the_guard_only_vetoes_approve(guarded: OMS) -> None:
    large = guarded.place(checkout(guarded, "EU", [("HOODIE-MER-L", 2)]).id)
    cancelled = guarded.cancel(large.id)
    assert cancelled.status == "cancelled"
