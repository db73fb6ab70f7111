"""Policy steps: inserted as data; refused with file, key path and line when they break."""

from __future__ import annotations

import textwrap

import pytest

from oms_sdk import PolicyError
from oms_sdk.lifecycle import LifecycleCompiler, check_market
from oms_sdk.policy import load_policy_text

MARKET = """\
markets:
  - code: XX
    name: Test market
    currency: EUR
    prices:
      items:
        A: {name: Item A, price: "10.00"}
    shipping_methods:
      - {code: std, name: Standard, price: "1.00"}
    payment_methods:
      - code: card
        name: Card
        gateway: sandbox
        steps:
{steps}
"""


def load(steps: str):  # type: ignore[no-untyped-def]
    text = MARKET.replace("{steps}", textwrap.indent(textwrap.dedent(steps), " " * 10))
    return load_policy_text(text, "market.yaml", checks=[check_market])


def problems_of(steps: str) -> list[tuple[str, int | None, str]]:
    with pytest.raises(PolicyError) as caught:
        load(steps)
    return [(p.key_path, p.line, p.message) for p in caught.value.problems]


def test_a_valid_step_is_inserted_between_its_states() -> None:
    policies = load(
        """\
        - state: review
          after: placed
          entered_by: approve
          exit_trigger: pass_review
          exit_to: approved
        """
    )
    definition = LifecycleCompiler().lifecycle(policies.market("XX"), "card").definition
    assert definition.state_names == (
        "draft",
        "pending",
        "placed",
        "review",
        "approved",
        "cancelled",
    )
    arrows = {(t.trigger, t.sources, t.dest) for t in definition.transitions}
    assert ("approve", ("placed",), "review") in arrows
    assert ("pass_review", ("review",), "approved") in arrows
    cancel = next(t for t in definition.transitions if t.trigger == "cancel")
    assert "review" in cancel.sources
    capture = next(t for t in definition.transitions if t.trigger == "capture")
    assert set(capture.sources) == {"placed", "review", "approved"}


def test_a_step_that_makes_a_state_unreachable_is_refused_with_its_line() -> None:
    found = problems_of(
        """\
        - state: hold
          after: placed
          entered_by: approve
          exit_trigger: release
          exit_to: placed
        """
    )
    assert found == [
        ("markets[0].payment_methods[0].steps[0]", 15, "state 'approved' becomes unreachable")
    ]


def test_a_step_without_a_way_out_is_refused() -> None:
    found = problems_of(
        """\
        - state: limbo
          after: pending
          entered_by: place
          exit_trigger: stay
          exit_to: limbo
          cancellable: false
        """
    )
    messages = [m for _, _, m in found]
    assert "state 'placed' becomes unreachable" in messages or (
        "state 'limbo' has no way out" in messages
    )
    assert all(path == "markets[0].payment_methods[0].steps[0]" for path, _, _ in found)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("after", "shipped", "unknown state 'shipped'"),
        ("exit_to", "nowhere", "unknown state 'nowhere'"),
        ("state", "approved", "state 'approved' already exists"),
        ("exit_trigger", "capture", "trigger 'capture' already exists"),
        ("entered_by", "refund_all", "no 'refund_all' transition leaves 'placed' to lead into"),
    ],
)
def test_each_bad_field_is_located(field: str, value: str, message: str) -> None:
    step = {
        "state": "review",
        "after": "placed",
        "entered_by": "approve",
        "exit_trigger": "pass_review",
        "exit_to": "approved",
    }
    step[field] = value
    lines = "\n".join(
        f"{'- ' if i == 0 else '  '}{k}: {v}" for i, (k, v) in enumerate(step.items())
    )
    found = problems_of(lines + "\n")
    line_of_field = 15 + list(step).index(field)
    path = f"markets[0].payment_methods[0].steps[0].{field}"
    assert [(p, line) for p, line, _ in found] == [(path, line_of_field)]
    assert found[0][2].startswith(message)


def test_holds_are_always_taken_right_before_the_authorization() -> None:
    """``OrderEffects`` keeps the holds of a checkout as taken, with no rollback, when the
    authorization that needs the gateway comes right after them; another effect between the
    two would have to be rolled back, so none may be put there."""
    from pathlib import Path

    from oms_sdk.policy import load_policies

    compiler = LifecycleCompiler()
    examples = Path(__file__).resolve().parents[2] / "config_examples"
    checked = 0
    for market in load_policies(examples).markets.values():
        for lifecycle in compiler.compile_market(market):
            for spec in lifecycle.definition.transitions:
                if "reserve" in spec.effects:
                    at = spec.effects.index("reserve")
                    assert spec.effects[at + 1 : at + 2] == ("authorize",), spec
                    checked += 1
    assert checked > 0
