"""Tests of the policy loader: YAML 1.2 in, validated markets or one located PolicyError out."""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from textwrap import dedent, indent
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from ruamel.yaml import YAML

from oms_sdk.errors import PolicyError, PolicyProblem
from oms_sdk.money import Money
from oms_sdk.policy import (
    BUILTIN_STATUSES,
    MarketPolicy,
    PolicyFile,
    PolicySet,
    load_policies,
    load_policy_text,
    policy_json_schema,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "config_examples"
GATEWAYS = frozenset({"manual", "sandbox"})

#: A valid one-market file; cases below change one thing in it.
MINIMAL = """\
markets:
  - code: EU
    name: Europe
    currency: EUR
    prices:
      items:
        TEE:
          name: T-shirt
          price: "29.90"
    payment_methods:
      - code: card
        name: Card
        gateway: sandbox
"""


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based line of the ``occurrence``-th line containing ``needle``."""
    hits = [n for n, line in enumerate(text.splitlines(), start=1) if needle in line]
    assert len(hits) >= occurrence, f"{needle!r} not found {occurrence} time(s)"
    return hits[occurrence - 1]


def in_market(snippet: str) -> str:
    """``snippet`` indented as keys of the (first) market mapping of ``MINIMAL``."""
    return indent(dedent(snippet), "    ")


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(dedent(text), encoding="utf-8")
    return path


def problems_of(*paths: str | Path, **kwargs: Any) -> list[PolicyProblem]:
    with pytest.raises(PolicyError) as info:
        load_policies(*paths, **kwargs)
    return list(info.value.problems)


def only_problem(*paths: str | Path, **kwargs: Any) -> PolicyProblem:
    problems = problems_of(*paths, **kwargs)
    assert len(problems) == 1, "\n".join(map(str, problems))
    return problems[0]


# -- the shipped examples --------------------------------------------------------------------


@pytest.fixture(scope="module")
def examples() -> PolicySet:
    return load_policies(EXAMPLES, known_gateways=GATEWAYS)


def test_examples_load_from_the_relative_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    policies = load_policies("config_examples", known_gateways=GATEWAYS)
    assert [p.name for p in policies.files] == sorted(p.name for p in EXAMPLES.glob("*.yaml"))
    assert len(policies.files) >= 3


def test_every_example_file_loads_on_its_own() -> None:
    files = sorted(EXAMPLES.glob("*.y*ml"))
    assert {f.name for f in files} >= {"eu.yaml", "us.yaml", "jp.yaml"}
    for file in files:
        assert len(load_policies(file, known_gateways=GATEWAYS)) >= 1


def test_example_market_codes(examples: PolicySet) -> None:
    assert list(examples.markets) == ["EU", "JP", "NO", "KW", "US"]  # files sorted, then in file
    assert examples.origin("EU").endswith("eu.yaml")
    assert examples.origin("US").endswith("us.yaml")
    assert examples.origin("JP").endswith("jp.yaml")
    assert examples.origin("KW") == examples.origin("NO")


def test_market_code_no_stays_the_string_no(examples: PolicySet) -> None:
    norway = examples.market("NO")
    assert norway.code == "NO"
    assert isinstance(norway.code, str)
    assert norway.currency == "NOK"


def test_example_amounts_are_exact(examples: PolicySet) -> None:
    eu, us, jp, kw = (examples.market(c) for c in ("EU", "US", "JP", "KW"))
    assert eu.prices.items["TEE-ORG-M"].price == Money(2990, "EUR")
    assert eu.prices.items["TOTE-CNV"].price == Money(1990, "EUR")  # written unquoted: 19.90
    assert eu.prices.tax_rate == Decimal("22")
    assert eu.shipping_method("standard") is not None
    assert eu.shipping_method("standard").free_over == Money(5000, "EUR")  # type: ignore[union-attr]
    assert eu.payment_method("bank_transfer").surcharge == Money(150, "EUR")  # type: ignore[union-attr]
    assert us.prices.tax_rate == Decimal("8.875")
    assert us.prices.tax_included is False
    card = us.payment_method("card")
    assert card is not None
    assert card.auto_capture is True
    assert card.auto_capture_max_amount == Money(50000, "USD")
    assert jp.prices.items["TEE-ORG-M"].price == Money(3300, "JPY")
    assert kw.prices.items["TEE-ORG-M"].price == Money(9750, "KWD")
    assert kw.enabled is False


def test_example_eu_market(examples: PolicySet) -> None:
    eu = examples.market("EU")
    assert eu.number_prefix == "EU"
    assert eu.inventory_model == "eu_warehouses"
    assert eu.prices.tax_included is True
    assert len(eu.prices.items) >= 8
    assert any(not item.requires_shipping for item in eu.prices.items.values())
    methods = {m.code: m for m in eu.payment_methods}
    assert (methods["card"].gateway, methods["card"].auto_capture) == ("sandbox", False)
    assert (methods["paypal"].auto_capture, methods["paypal"].auto_place) == (True, True)
    assert methods["bank_transfer"].gateway == "manual"
    assert {m.code for m in eu.shipping_methods} == {"standard", "express"}
    welcome = eu.coupon("welcome10")
    assert welcome is not None
    assert welcome.type == "percentage"
    assert welcome.percentage == Decimal("10")
    assert welcome.minimum_order_amount == Money(4000, "EUR")
    assert welcome.usage_limit is not None
    assert welcome.starts_at is not None
    assert welcome.expires_at is not None
    assert welcome.starts_at.utcoffset() == datetime.timedelta(hours=1)
    automatic = [p for p in eu.promotions if p.coupon is None]
    assert [p.type for p in automatic] == ["fixed_amount"]
    assert eu.gift_cards.accepted is True
    assert eu.rules.refund_window_days == 30


def test_example_us_and_jp_markets(examples: PolicySet) -> None:
    us, jp = examples.market("US"), examples.market("JP")
    assert us.inventory_model == "us_split_shipments"
    assert {m.code for m in us.shipping_methods} == {"ground", "two_day"}
    assert us.gift_cards.accepted is False
    assert jp.inventory_model == "jp_single_warehouse"
    card = jp.payment_method("card")
    assert card is not None
    assert card.gateway == "sandbox"
    assert card.require_capture is False
    step = card.steps[0]
    assert (step.state, step.after, step.entered_by, step.exit_trigger, step.exit_to) == (
        "review",
        "placed",
        "approve",
        "pass_review",
        "approved",
    )
    assert step.cancellable is True
    assert step.description
    konbini = jp.payment_method("konbini")
    assert konbini is not None
    assert konbini.gateway == "manual"


def _models_in(value: Any) -> Iterator[BaseModel]:
    if isinstance(value, BaseModel):
        yield value
        for name in type(value).model_fields:
            yield from _models_in(getattr(value, name))
    elif isinstance(value, tuple | list):
        for item in value:
            yield from _models_in(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _models_in(item)


def test_examples_set_every_option_of_every_model(examples: PolicySet) -> None:
    """Every field of every policy model is written explicitly somewhere in the examples."""
    written: dict[type[BaseModel], set[str]] = {}
    for market in examples:
        for model in _models_in(market):
            written.setdefault(type(model), set()).update(model.model_fields_set)
    unused = {
        cls.__name__: sorted(set(cls.model_fields) - fields) for cls, fields in written.items()
    }
    assert {name: fields for name, fields in unused.items() if fields} == {}
    kinds = {cls.__name__ for cls in written}
    assert {"LifecycleStep", "PercentagePromotion", "FixedAmountPromotion"} <= kinds


def test_examples_use_only_known_gateways(examples: PolicySet) -> None:
    assert {m.gateway for market in examples for m in market.payment_methods} <= GATEWAYS


# -- reading YAML exactly --------------------------------------------------------------------


def test_unquoted_float_reads_exactly() -> None:
    text = MINIMAL.replace('price: "29.90"', "price: 19.90").replace(
        "    prices:\n", "    prices:\n      tax_rate: 8.875\n"
    )
    market = load_policy_text(text).market("EU")
    assert market.prices.items["TEE"].price == Money(1990, "EUR")
    assert market.prices.tax_rate == Decimal("8.875")
    assert str(market.prices.tax_rate) == "8.875"


@settings(max_examples=60, deadline=None)
@given(st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False))
def test_any_two_decimal_amount_reads_exactly(amount: Decimal) -> None:
    text = MINIMAL.replace('price: "29.90"', f"price: {amount:.2f}")
    price = load_policy_text(text).market("EU").prices.items["TEE"].price
    assert price == Money.parse(amount, "EUR")


def test_yaml_1_2_keeps_no_and_leading_zeros_as_text() -> None:
    text = MINIMAL.replace("code: EU", "code: NO").replace("TEE:", "01234:")
    market = load_policy_text(text).market("NO")
    assert market.code == "NO"
    assert "01234" in market.prices.items  # a SKU written 01234 is the text "01234", not 668


def test_a_numeric_market_code_is_an_error_not_a_number() -> None:
    text = MINIMAL.replace("code: EU", "code: 01234")
    with pytest.raises(PolicyError) as info:
        load_policy_text(text, "codes.yaml")
    (problem,) = info.value.problems
    assert (problem.file, problem.key_path, problem.line) == ("codes.yaml", "markets[0].code", 2)
    assert "expected text" in problem.message


def test_anchors_and_aliases_are_allowed() -> None:
    text = dedent(
        """\
        markets:
          - code: JP
            name: Japan
            currency: JPY
            prices: {items: {TEE: {name: T-shirt, price: 3300}}}
            payment_methods:
              - code: card
                name: Card
                gateway: sandbox
                steps: &review
                  - {state: review, after: placed, entered_by: approve,
                     exit_trigger: pass_review, exit_to: approved}
              - code: card2
                name: Card again
                gateway: sandbox
                steps: *review
        """
    )
    market = load_policy_text(text).market("JP")
    assert market.payment_methods[0].steps == market.payment_methods[1].steps


def test_yaml_1_1_directive_is_refused() -> None:
    with pytest.raises(PolicyError) as info:
        load_policy_text("%YAML 1.1\n---\n" + MINIMAL, "old.yaml")
    (problem,) = info.value.problems
    assert problem.line == 1
    assert "YAML 1.2" in problem.message


# -- malformed policies: every problem located, nothing loaded ------------------------------


def test_unknown_key(tmp_path: Path) -> None:
    text = MINIMAL.replace("name: T-shirt", "name: T-shirt\n          colour: blue")
    path = write(tmp_path, "unknown.yaml", text)
    problem = only_problem(path)
    assert problem.file == str(path)
    assert problem.key_path == "markets[0].prices.items.TEE.colour"
    assert problem.line == line_of(text, "colour:")
    assert problem.message.startswith("unknown key 'colour'")
    assert "name, price, requires_shipping" in problem.message


def test_unknown_currency_without_follow_on_amount_errors(tmp_path: Path) -> None:
    text = MINIMAL.replace("currency: EUR", "currency: EUX")
    path = write(tmp_path, "currency.yaml", text)
    problem = only_problem(path)
    assert (problem.key_path, problem.line) == ("markets[0].currency", line_of(text, "EUX"))
    assert "unknown currency 'EUX'" in problem.message


def test_missing_currency_is_one_problem_at_the_market(tmp_path: Path) -> None:
    text = MINIMAL.replace("    currency: EUR\n", "")
    path = write(tmp_path, "nocurrency.yaml", text)
    problem = only_problem(path)
    assert problem.key_path == "markets[0].currency"
    assert problem.line == line_of(text, "- code: EU")  # the enclosing mapping
    assert problem.message == "missing required key 'currency'"


def test_negative_price(tmp_path: Path) -> None:
    text = MINIMAL.replace('price: "29.90"', 'price: "-5.00"')
    path = write(tmp_path, "negative.yaml", text)
    problem = only_problem(path)
    assert (problem.key_path, problem.line) == (
        "markets[0].prices.items.TEE.price",
        line_of(text, "-5.00"),
    )
    assert "negative" in problem.message
    assert not problem.message.startswith("Value error")


def test_jpy_price_with_decimals(tmp_path: Path) -> None:
    text = MINIMAL.replace("currency: EUR", "currency: JPY").replace(
        'price: "29.90"', "price: 3300.5"
    )
    path = write(tmp_path, "yen.yaml", text)
    problem = only_problem(path)
    assert (problem.key_path, problem.line) == (
        "markets[0].prices.items.TEE.price",
        line_of(text, "3300.5"),
    )
    assert "more decimals than JPY allows (0)" in problem.message


def test_float_amount_with_too_many_decimals(tmp_path: Path) -> None:
    text = MINIMAL.replace('price: "29.90"', "price: 19.999")
    path = write(tmp_path, "decimals.yaml", text)
    problem = only_problem(path)
    assert (problem.key_path, problem.line) == (
        "markets[0].prices.items.TEE.price",
        line_of(text, "19.999"),
    )
    assert "19.999 has more decimals than EUR allows (2)" in problem.message


def test_duplicate_market_code_in_one_file(tmp_path: Path) -> None:
    second = MINIMAL.split("\n", 1)[1].replace("name: Europe", "name: Europe again")
    text = MINIMAL + second
    path = write(tmp_path, "twice.yaml", text)
    problem = only_problem(path)
    assert problem.key_path == "markets[1].code"
    assert problem.line == line_of(text, "- code: EU", occurrence=2)
    assert "duplicate market code 'EU'" in problem.message
    assert f"line {line_of(text, '- code: EU')}" in problem.message


def test_duplicate_market_code_across_two_files_of_a_folder(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", MINIMAL)
    text_b = "# the same market again\n" + MINIMAL
    path_b = write(tmp_path, "b.yaml", text_b)
    problem = only_problem(tmp_path)
    assert problem.file == str(path_b)
    assert (problem.key_path, problem.line) == ("markets[0].code", line_of(text_b, "code: EU"))
    assert "a.yaml" in problem.message


def test_python_tag_is_a_problem_and_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    text = MINIMAL.replace(
        "    name: Europe\n",
        f'    name: !!python/object/apply:os.system ["touch {marker}"]\n',
    )
    path = write(tmp_path, "evil.yaml", text)
    problem = only_problem(path)
    assert not marker.exists()
    assert problem.file == str(path)
    assert (problem.key_path, problem.line) == ("markets[0].name", line_of(text, "!!python"))
    assert "!!python/object/apply:os.system" in problem.message
    assert "not allowed" in problem.message


def test_a_tagged_unknown_key_is_two_problems(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    text = MINIMAL.replace(
        "    prices:\n",
        f'    hack: !!python/object/apply:os.system ["touch {marker}"]\n    prices:\n',
    )
    problems = problems_of(write(tmp_path, "evil.yaml", text))
    assert not marker.exists()
    assert [(p.key_path, p.line) for p in problems] == [("markets[0].hack", 5)] * 2
    assert "not allowed" in problems[0].message
    assert problems[1].message.startswith("unknown key 'hack'")


@pytest.mark.parametrize(
    "value",
    [
        "!!python/name:os.system ''",
        "!!python/object/new:os.system [echo hi]",
        '!!python/object:os.system {"a": 1}',
    ],
)
def test_other_python_tags_are_problems(tmp_path: Path, value: str) -> None:
    text = MINIMAL.replace("name: Europe", f"name: {value}")
    problem = only_problem(write(tmp_path, "evil.yaml", text))
    assert (problem.key_path, problem.line) == ("markets[0].name", line_of(text, "!!python"))
    assert "not allowed" in problem.message


def test_custom_tag_is_a_problem(tmp_path: Path) -> None:
    text = MINIMAL.replace('price: "29.90"', 'price: !money "29.90"')
    path = write(tmp_path, "tag.yaml", text)
    problem = only_problem(path)
    assert (problem.key_path, problem.line) == (
        "markets[0].prices.items.TEE.price",
        line_of(text, "!money"),
    )
    assert "'!money'" in problem.message


def test_core_tags_are_allowed() -> None:
    text = MINIMAL.replace('price: "29.90"', "price: !!float 29.90").replace(
        "name: T-shirt", "name: !!str 1234"
    )
    item = load_policy_text(text).market("EU").prices.items["TEE"]
    assert (item.name, item.price) == ("1234", Money(2990, "EUR"))


def test_merge_keys_work_and_merged_keys_point_at_the_mapping(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "    payment_methods:\n",
        "    shipping_methods:\n"
        '      - &ship {code: standard, name: Standard, price: "4.90"}\n'
        "      - <<: *ship\n"
        "        code: express\n"
        "    payment_methods:\n",
    )
    market = load_policy_text(text).market("EU")
    assert [(m.code, m.price) for m in market.shipping_methods] == [
        ("standard", Money(490, "EUR")),
        ("express", Money(490, "EUR")),
    ]
    broken = text.replace('price: "4.90"', 'price: "4.999"')
    problems = problems_of(write(tmp_path, "merge.yaml", broken))
    assert [(p.key_path, p.line) for p in problems] == [
        ("markets[0].shipping_methods[0].price", line_of(broken, "&ship")),
        ("markets[0].shipping_methods[1].price", line_of(broken, "<<: *ship")),
    ]


def test_duplicate_yaml_key(tmp_path: Path) -> None:
    text = MINIMAL.replace("    currency: EUR\n", "    currency: EUR\n    currency: USD\n")
    problem = only_problem(write(tmp_path, "dupkey.yaml", text))
    assert (problem.key_path, problem.line) == ("markets[0].currency", line_of(text, "USD"))
    assert "duplicate key 'currency'" in problem.message


def test_gateway_not_in_known_gateways(tmp_path: Path) -> None:
    text = MINIMAL.replace("gateway: sandbox", "gateway: stripe")
    path = write(tmp_path, "gateway.yaml", text)
    assert len(load_policies(path)) == 1  # without known_gateways any name is accepted
    problem = only_problem(path, known_gateways=GATEWAYS)
    assert (problem.key_path, problem.line) == (
        "markets[0].payment_methods[0].gateway",
        line_of(text, "stripe"),
    )
    assert "'stripe'" in problem.message
    assert "manual, sandbox" in problem.message


def test_known_gateways_may_be_a_single_name(tmp_path: Path) -> None:
    path = write(tmp_path, "gateway.yaml", MINIMAL)
    assert len(load_policies(path, known_gateways="sandbox")) == 1
    assert "available: manual" in only_problem(path, known_gateways="manual").message


def test_coupons_differing_only_in_case_are_duplicates(tmp_path: Path) -> None:
    text = MINIMAL + in_market(
        """\
        promotions:
          - {code: a, name: A, type: percentage, percentage: "10", coupon: SAVE10}
          - {code: b, name: B, type: percentage, percentage: "20", coupon: save10}
        """
    )
    problem = only_problem(write(tmp_path, "coupons.yaml", text))
    assert (problem.key_path, problem.line) == ("markets[0]", line_of(text, "- code: EU"))
    assert "duplicate coupon code 'SAVE10'" in problem.message


def test_quoted_currency_with_spaces_reads_amounts() -> None:
    text = MINIMAL.replace("currency: EUR", 'currency: " EUR "')
    market = load_policy_text(text).market("EU")
    assert market.prices.items["TEE"].price == Money(2990, "EUR")


def test_cancel_allowed_in_unknown_status(tmp_path: Path) -> None:
    text = MINIMAL + "    rules:\n      cancel_allowed_in:\n        - pending\n        - shipped\n"
    problem = only_problem(write(tmp_path, "cancel.yaml", text))
    assert (problem.key_path, problem.line) == (
        "markets[0].rules.cancel_allowed_in[1]",
        line_of(text, "- shipped"),
    )
    assert "'shipped'" in problem.message
    assert all(status in problem.message for status in BUILTIN_STATUSES)


def test_cancel_allowed_in_may_name_declared_step_states() -> None:
    text = MINIMAL.replace(
        "gateway: sandbox",
        "gateway: sandbox\n"
        "        steps:\n"
        "          - {state: review, after: placed, entered_by: approve,\n"
        "             exit_trigger: pass_review, exit_to: approved}",
    ) + in_market(
        """\
            steps:
              - {state: packing, after: approved, entered_by: fulfill,
                 exit_trigger: packed, exit_to: approved}
            rules:
              cancel_allowed_in: [pending, placed, review, packing]
        """
    )
    market = load_policy_text(text).market("EU")
    assert market.rules.cancel_allowed_in == ("pending", "placed", "review", "packing")


def test_check_problem_is_located_under_its_market(tmp_path: Path) -> None:
    text = MINIMAL + in_market(
        """\
            steps:
              - state: review
                after: placed
                entered_by: approve
                exit_trigger: pass_review
                exit_to: nowhere
        """
    )
    seen: list[MarketPolicy] = []

    def check(market: MarketPolicy) -> list[tuple[tuple[str | int, ...], str]]:
        seen.append(market)
        return [(("steps", 0, "exit_to"), "state 'nowhere' does not exist")]

    path = write(tmp_path, "check.yaml", text)
    problem = only_problem(path, checks=[check])
    assert [m.code for m in seen] == ["EU"]
    assert problem.file == str(path)
    assert problem.key_path == "markets[0].steps[0].exit_to"
    assert problem.line == line_of(text, "exit_to: nowhere")
    assert problem.message == "state 'nowhere' does not exist"


def test_check_problem_at_a_default_value_falls_back_to_the_nearest_written_key() -> None:
    def check(market: MarketPolicy) -> list[tuple[tuple[str | int, ...], str]]:
        return [(("rules", "refund_window_days"), "a refund window is required")]

    with pytest.raises(PolicyError) as info:
        load_policy_text(MINIMAL, "x.yaml", checks=[check])
    (problem,) = info.value.problems
    assert problem.key_path == "markets[0].rules.refund_window_days"
    assert problem.line == line_of(MINIMAL, "- code: EU")


def test_checks_run_on_every_market_of_every_file(tmp_path: Path) -> None:
    write(tmp_path, "eu.yaml", MINIMAL)
    write(tmp_path, "us.yaml", MINIMAL.replace("code: EU", "code: US").replace("EUR", "USD"))
    codes: list[str] = []
    load_policies(tmp_path, checks=[lambda m: codes.append(m.code) or ()])
    assert codes == ["EU", "US"]


def test_several_errors_in_several_files_are_all_listed(tmp_path: Path) -> None:
    text_a = MINIMAL.replace("currency: EUR", "currency: EUX").replace(
        "gateway: sandbox", "gateway: sandbox\n        colour: red"
    )
    text_b = MINIMAL.replace("code: EU", "code: US").replace('price: "29.90"', "price: 1.001")
    text_c = MINIMAL.replace("code: EU", "code: JP")  # fine on its own
    path_a = write(tmp_path, "a.yaml", text_a)
    path_b = write(tmp_path, "b.yaml", text_b)
    write(tmp_path, "c.yaml", text_c)
    missing = tmp_path / "missing.yaml"
    with pytest.raises(PolicyError) as info:
        load_policies(tmp_path, missing, known_gateways={"manual"})
    found = [(p.file, p.key_path, p.line) for p in info.value.problems]
    assert found == [
        (str(missing), "", None),
        (str(path_a), "markets[0].currency", line_of(text_a, "EUX")),
        (str(path_a), "markets[0].payment_methods[0].colour", line_of(text_a, "colour")),
        (str(path_b), "markets[0].prices.items.TEE.price", line_of(text_b, "1.001")),
        # b.yaml's market is invalid, so its gateway is not checked: only valid markets are
        (
            str(tmp_path / "c.yaml"),
            "markets[0].payment_methods[0].gateway",
            line_of(text_c, "gateway"),
        ),
    ]
    message = str(info.value)
    assert message.startswith("5 problems in policy files")
    assert f"{path_a}:{line_of(text_a, 'EUX')}: markets[0].currency: unknown currency" in message


def test_missing_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    problem = only_problem(missing)
    assert (problem.file, problem.key_path, problem.line) == (str(missing), "", None)
    assert "no such file" in problem.message


def test_a_missing_path_loads_nothing_even_beside_a_good_file(tmp_path: Path) -> None:
    good = write(tmp_path, "good.yaml", MINIMAL)
    problem = only_problem(good, tmp_path / "nope")
    assert "no such file" in problem.message


def test_folder_without_policy_files(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a policy")
    problem = only_problem(tmp_path)
    assert problem.file == str(tmp_path)
    assert "no policy files" in problem.message


def test_folder_is_not_recursive_and_reads_yml_too(tmp_path: Path) -> None:
    write(tmp_path, "eu.yml", MINIMAL)
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub", "broken.yaml", "markets: [")
    assert list(load_policies(tmp_path).markets) == ["EU"]


def test_a_file_named_with_its_folder_loads_once(tmp_path: Path) -> None:
    path = write(tmp_path, "eu.yaml", MINIMAL)
    assert len(load_policies(tmp_path, path)) == 1


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    text = MINIMAL.replace("    name: Europe\n", "    name: [Europe\n")
    problem = only_problem(write(tmp_path, "syntax.yaml", text))
    assert problem.line is not None
    assert problem.line >= line_of(text, "[Europe")
    assert problem.message.startswith("invalid YAML")


def test_empty_file(tmp_path: Path) -> None:
    problem = only_problem(write(tmp_path, "empty.yaml", "# nothing yet\n"))
    assert "empty" in problem.message


def test_no_follow_on_error_at_the_parent_when_a_child_failed(tmp_path: Path) -> None:
    text = MINIMAL.replace("gateway: sandbox", "gateway: Sandbox!")
    problems = problems_of(write(tmp_path, "child.yaml", text))
    assert [p.key_path for p in problems] == ["markets[0].payment_methods[0].gateway"]


def test_empty_market_list(tmp_path: Path) -> None:
    problem = only_problem(write(tmp_path, "none.yaml", "markets: []\n"))
    assert (problem.key_path, problem.line) == ("markets", 1)
    assert "at least 1 item" in problem.message


def test_promotion_errors_have_plain_key_paths(tmp_path: Path) -> None:
    text = MINIMAL + in_market(
        """\
            promotions:
              - code: big
                name: Too big
                type: percentage
                percentage: "150"
              - code: notype
                name: No type
              - code: weird
                name: Weird
                type: bogo
        """
    )
    problems = problems_of(write(tmp_path, "promo.yaml", text))
    found = [(p.key_path, p.line) for p in problems]
    assert found == [
        ("markets[0].promotions[0].percentage", line_of(text, '"150"')),
        ("markets[0].promotions[1].type", line_of(text, "code: notype")),
        ("markets[0].promotions[2].type", line_of(text, "bogo")),
    ]
    assert "missing required key 'type'" in problems[1].message
    assert "'bogo'" in problems[2].message


def test_model_level_error_is_located_at_its_mapping(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "gateway: sandbox", 'gateway: sandbox\n        auto_capture_max_amount: "500.00"'
    )
    problem = only_problem(write(tmp_path, "model.yaml", text))
    assert (problem.key_path, problem.line) == (
        "markets[0].payment_methods[0]",
        line_of(text, "- code: card"),
    )
    assert problem.message == "auto_capture_max_amount is set but auto_capture is false"


def test_sku_with_a_dot_is_quoted_in_the_key_path(tmp_path: Path) -> None:
    text = MINIMAL.replace("TEE:", "tee.v2:").replace('price: "29.90"', 'price: "x"')
    problem = only_problem(write(tmp_path, "sku.yaml", text))
    assert problem.key_path == "markets[0].prices.items['tee.v2'].price"


def test_load_policy_text_uses_the_filename() -> None:
    policies = load_policy_text(MINIMAL, "inline.yaml")
    assert policies.origin("EU") == "inline.yaml"
    assert policies.files == ()
    with pytest.raises(PolicyError) as info:
        load_policy_text(MINIMAL.replace("EUR", "XXX"), "inline.yaml")
    assert info.value.problems[0].file == "inline.yaml"


# -- the policy set --------------------------------------------------------------------------


def test_policy_set_is_an_immutable_collection(examples: PolicySet) -> None:
    assert len(examples) == 5
    assert [m.code for m in examples] == list(examples.markets)
    assert "EU" in examples
    assert "XX" not in examples
    with pytest.raises(KeyError, match="known: EU, JP, NO, KW, US"):
        examples.market("XX")
    with pytest.raises(KeyError):
        examples.origin("XX")
    with pytest.raises(AttributeError):
        examples.files = ()  # type: ignore[misc]
    with pytest.raises(TypeError):
        examples.markets["XX"] = examples.market("EU")  # type: ignore[index]


# -- JSON Schema -----------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime.date | datetime.datetime):
        return value.isoformat()
    return value


def test_policy_json_schema() -> None:
    schema = policy_json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"]
    assert schema["title"]
    assert "markets" in schema["properties"]
    assert schema["required"] == ["markets"]
    json.dumps(schema)  # plain JSON
    assert set(schema["properties"]) == set(PolicyFile.model_fields)


def test_examples_validate_against_the_json_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = policy_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    yaml = YAML(typ="safe")
    for file in sorted(EXAMPLES.glob("*.yaml")):
        errors = [e.message for e in validator.iter_errors(_jsonable(yaml.load(file)))]
        assert errors == [], file
    bad = _jsonable(yaml.load(MINIMAL.replace("name: Europe", "name: Europe\n    colour: red")))
    assert not validator.is_valid(bad)
