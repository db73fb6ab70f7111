"""The reference pages are complete and true: they fail when something is missing from them.

* docs/reference/policy.md: the generated policy reference (``policy_reference()``) has every
  key of every model, its YAML examples load, and the ``oms policy check`` output shown is what
  the command prints for the file shown;
* docs/reference/api.md: every public method of ``OMS``, with its real signature;
* docs/errors.md: every public exception, and the hierarchy as the classes define it.

Every hook of ``oms_sdk.hookspecs`` appearing in docs/plugins.md is checked by
tests/docs/test_plugin_guide.py (``test_the_hook_table_names_every_hook_and_nothing_else``).
"""

from __future__ import annotations

import inspect
import io
import os
import re
import shlex
import subprocess
import sys
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from ruamel.yaml import YAML

from oms_sdk import OMS, errors
from oms_sdk.lifecycle import check_market
from oms_sdk.policy import PolicyFile, load_policy_text, policy_reference
from oms_sdk.policy import _reference as reference_module

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
POLICY_PAGE = DOCS / "reference" / "policy.md"
API_PAGE = DOCS / "reference" / "api.md"
ERRORS_PAGE = DOCS / "errors.md"
MARKER = "<!-- generated: policy-reference -->"


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


# -- the policy reference ---------------------------------------------------------------------


def policy_models() -> list[type[BaseModel]]:
    """Every model of a policy file, found through ``model_fields`` from ``PolicyFile`` down."""
    found: list[type[BaseModel]] = []

    def models_in(annotation: Any) -> Iterator[type[BaseModel]]:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield annotation
        for arg in typing.get_args(annotation):
            yield from models_in(arg)

    def visit(model: type[BaseModel]) -> None:
        if model in found:
            return
        found.append(model)
        for info in model.model_fields.values():
            for child in models_in(info.annotation):
                visit(child)

    visit(PolicyFile)
    return found


def reference_sections() -> dict[str, str]:
    """The generated reference by model name: ``## `Model` {#anchor}`` up to the next one."""
    parts = re.split(r"^## `(\w+)`.*$", policy_reference(), flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def table_keys(section: str) -> list[str]:
    return re.findall(r"^\| `(\w+)` \|", section, flags=re.M)


def test_the_reference_has_a_section_per_model_in_reading_order() -> None:
    models = [model.__name__ for model in policy_models()]
    assert len(models) >= 11
    sections = list(reference_sections())
    assert sorted(sections) == sorted(models)
    assert sections[:2] == ["PolicyFile", "MarketPolicy"], "start at the top of a file"


def test_every_field_of_every_model_is_in_the_reference() -> None:
    sections = reference_sections()
    for model in policy_models():
        keys = table_keys(sections[model.__name__])
        assert keys == list(model.model_fields), (
            f"{model.__name__}: the reference lists {keys}, the model has "
            f"{list(model.model_fields)}"
        )


def test_no_field_lacks_a_description() -> None:
    """No exceptions: a new field needs an attribute docstring in ``policy/_models.py``."""
    undocumented = {
        f"{model.__name__}.{name}"
        for model in policy_models()
        for name, info in model.model_fields.items()
        if not reference_module._field_description(model, name, info)
    }
    assert not undocumented, (
        f"give these fields a docstring in policy/_models.py: {sorted(undocumented)}"
    )


def test_the_reference_is_deterministic_and_its_links_resolve() -> None:
    text = policy_reference()
    assert text == policy_reference()
    anchors = set(re.findall(r"\{#([\w-]+)\}", text))
    links = set(re.findall(r"\]\(#([\w-]+)\)", text))
    assert links
    assert links <= anchors, f"links to missing sections: {sorted(links - anchors)}"


def test_the_reference_names_types_humanly() -> None:
    sections = reference_sections()
    market = sections["MarketPolicy"]
    assert "list of [`PaymentMethodPolicy`](#paymentmethodpolicy)" in market
    assert "chosen by `type`" in market
    assert "decimal string (major units)" in sections["CatalogItem"]
    assert "the text `percentage`" in sections["PercentagePromotion"]
    assert "**required**" in market
    assert "| `[pending, placed, approved]` |" in sections["OrderRules"]


# -- the YAML examples of the reference ---------------------------------------------------------

#: ``# config_examples/eu.yaml: markets[0].payment_methods (EUR)[, a note]``
_EXCERPT = re.compile(r"^# config_examples/(?P<file>[\w.-]+): (?P<path>\S+) \((?P<cur>[A-Z]{3})\)")


def yaml_examples() -> list[tuple[str, str]]:
    """``(model name, block)`` for every YAML block of the reference."""
    return [
        (model, block)
        for model, section in reference_sections().items()
        for block in re.findall(r"^```yaml\n(.*?)^```$", section, flags=re.S | re.M)
    ]


def key_path(text: str) -> list[str | int]:
    return [
        int(index) if index else key
        for key, index in re.findall(r"([A-Za-z_][\w-]*)|\[(\d+)\]", text)
    ]


def base_document(currency: str) -> dict[str, Any]:
    """A valid policy file with one market in ``currency``, to put an excerpt into."""
    return {
        "markets": [
            {
                "code": "DOC",
                "name": "Documentation",
                "currency": currency,
                "prices": {"items": {"SKU-1": {"name": "Thing", "price": "1"}}},
                "payment_methods": [{"code": "pay", "name": "Pay", "gateway": "manual"}],
            }
        ]
    }


def as_policy_file(block: str) -> tuple[str, list[str | int]]:
    """The example as a whole policy file (an excerpt goes where it came from in a market),
    and the key path of the excerpt's value in the market ``DOC`` (empty: whole markets)."""
    header = _EXCERPT.match(block)
    if header is None:
        return block, []  # a whole file already
    yaml = YAML(typ="rt")
    fragment = yaml.load(block)
    path = key_path(header["path"])
    key, container = (path[-2], path[:-2]) if isinstance(path[-1], int) else (path[-1], path[:-1])
    assert list(fragment) == [key], f"the excerpt of {header['path']} shows {list(fragment)}"
    if not container:
        return block, []  # the excerpt is the top of a file (a market list)
    assert container[:1] == ["markets"], header["path"]
    document = base_document(header["cur"])
    target: Any = document
    for part in ["markets", 0, *container[2:]]:
        target = target[part]
    target[key] = fragment[key]
    out = io.StringIO()
    yaml.dump(document, out)
    return out.getvalue(), [*container[2:], key]


def test_every_model_has_a_yaml_example() -> None:
    shown = {model for model, _ in yaml_examples()}
    assert shown == set(reference_sections())


@pytest.mark.parametrize(
    "model_block", yaml_examples(), ids=lambda mb: f"{mb[0]}:{mb[1].splitlines()[0][:60]}"
)
def test_the_yaml_examples_validate(model_block: tuple[str, str]) -> None:
    name, block = model_block
    text, path = as_policy_file(block)
    policies = load_policy_text(text, f"{name}.yaml", checks=[check_market])
    # What the example shows is, once loaded, instances of the section's model.
    value: Any = list(policies) if not path else policies.market("DOC")
    for part in path:
        value = value[part] if isinstance(part, int) else getattr(value, part)
    shown = list(value.values()) if isinstance(value, dict) else value
    shown = list(shown) if isinstance(shown, list | tuple) else [shown]
    model = next(m for m in policy_models() if m.__name__ == name)
    if model is PolicyFile:
        return
    assert shown
    assert all(isinstance(item, model) for item in shown), (name, shown)


@pytest.mark.parametrize("block", [b for _, b in yaml_examples() if _EXCERPT.match(b)])
def test_excerpts_are_quoted_from_the_example_files(block: str) -> None:
    header = _EXCERPT.match(block)
    assert header is not None
    source = ROOT / "config_examples" / header["file"]
    lines = {line.strip() for line in read(source).splitlines()}
    for line in block.splitlines()[1:]:
        assert line.strip() in lines, f"{line!r} is not in {source.name}"


# -- docs/reference/policy.md ---------------------------------------------------------------------


def test_the_policy_page_has_the_marker_once() -> None:
    lines = read(POLICY_PAGE).splitlines()
    assert lines.count(MARKER) == 1


def check_command() -> tuple[str, list[str]]:
    """The ``oms policy check`` command shown on the policy page, and the output shown."""
    match = re.search(
        r"^```console\n\$ (oms policy check [^\n]+)\n(.*?)^```$",
        read(POLICY_PAGE),
        flags=re.S | re.M,
    )
    assert match, "policy.md shows no `$ oms policy check ...` console block"
    return match[1], match[2].splitlines()


def test_the_page_includes_the_bad_file_it_checks() -> None:
    command, _ = check_command()
    included = re.findall(r'^```yaml[^\n]*\n--8<-- "([^"]+)"\n```$', read(POLICY_PAGE), re.M)
    assert included == ["examples/policy/bad.yaml"]
    assert (DOCS / included[0]).is_file()
    assert shlex.split(command)[-1] == f"docs/{included[0]}"


def test_the_check_output_shown_is_what_the_cli_prints() -> None:
    command, shown = check_command()
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in {"FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "CLICOLOR_FORCE"}
    }
    environment.update(COLUMNS="400", NO_COLOR="1")  # no line is wrapped: wide as the page
    result = subprocess.run(
        [sys.executable, "-c", "from oms_sdk.cli import main; main()", *shlex.split(command)[1:]],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    printed = [line.rstrip() for line in (result.stdout + result.stderr).splitlines()]
    assert printed == shown, "\n".join(printed)
    assert result.returncode == 1
    assert "status 1" in read(POLICY_PAGE)


# -- docs/reference/api.md ---------------------------------------------------------------------


def public_methods() -> list[str]:
    """Public methods of ``OMS``: no leading underscore, callable, defined on the class."""
    return [name for name in vars(OMS) if not name.startswith("_") and callable(getattr(OMS, name))]


def written_signatures() -> dict[str, str]:
    """``OMS.name(...) -> ...`` of every ``python`` block of api.md that is a signature."""
    found: dict[str, str] = {}
    for block in re.findall(r"^```python\n(.*?)\n```$", read(API_PAGE), flags=re.S | re.M):
        match = re.fullmatch(r"OMS\.(\w+)\(.*", block, flags=re.S)
        if match:
            assert match[1] not in found, f"api.md shows the signature of {match[1]} twice"
            found[match[1]] = normalized(block)
    return found


def normalized(text: str) -> str:
    text = " ".join(text.split())
    text = re.sub(r",\s*\)", ")", text)
    return text.replace("( ", "(").replace(" )", ")")


def _annotation(annotation: Any) -> str:
    return annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)


def _default(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, types.FunctionType):
        return value.__name__
    return repr(value)


def real_signature(name: str) -> str:
    """``OMS.name(...)`` as the source declares it (annotations as written, no self/cls)."""
    signature = inspect.signature(getattr(OMS, name))
    parts: list[str] = []
    star = False
    for parameter in signature.parameters.values():
        if parameter.name == "self":
            continue
        prefix = ""
        if parameter.kind is parameter.VAR_POSITIONAL:
            prefix, star = "*", True
        elif parameter.kind is parameter.VAR_KEYWORD:
            prefix = "**"
        elif parameter.kind is parameter.KEYWORD_ONLY and not star:
            parts.append("*")
            star = True
        text = prefix + parameter.name
        if parameter.annotation is not parameter.empty:
            text += f": {_annotation(parameter.annotation)}"
        if parameter.default is not parameter.empty:
            text += f" = {_default(parameter.default)}"
        parts.append(text)
    returns = ""
    if signature.return_annotation is not signature.empty:
        returns = f" -> {_annotation(signature.return_annotation)}"
    return f"OMS.{name}({', '.join(parts)}){returns}"


def test_the_api_reference_has_every_public_method() -> None:
    text = read(API_PAGE)
    methods = public_methods()
    assert len(methods) >= 35
    headings = re.findall(r"^### `(\w+)`$", text, flags=re.M)
    missing = [name for name in methods if name not in headings]
    assert not missing, f"api.md: no section for {missing}"
    unknown = [name for name in headings if name not in methods]
    assert not unknown, f"api.md documents methods OMS does not have: {unknown}"
    assert len(headings) == len(set(headings))


def test_the_api_reference_signatures_are_the_real_ones() -> None:
    written = written_signatures()
    assert sorted(written) == sorted(public_methods())
    for name, text in written.items():
        assert text == real_signature(name), f"api.md, {name}:\n{text}\n!=\n{real_signature(name)}"


def test_the_api_reference_describes_the_public_types() -> None:
    text = read(API_PAGE)
    for name in ("OrderView", "Money", "OrderEvent", "EventPublisher", "RelayReport", "Reconciled"):
        assert re.search(rf"^\* \*\*`{name}`\*\*: ", text, flags=re.M), f"api.md: no {name}"


# -- docs/errors.md ----------------------------------------------------------------------------


def test_every_public_error_has_a_section() -> None:
    text = read(ERRORS_PAGE)
    headings = re.findall(r"^## `(\w+)`", text, flags=re.M)
    missing = sorted(set(errors.__all__) - set(headings))
    assert not missing, f"docs/errors.md: no section for {missing}"
    assert sorted(headings) == sorted(errors.__all__)
    for name in errors.__all__:
        section = text.split(f"## `{name}`", 1)[1].split("\n## ", 1)[0]
        for part in ("**Raised by:**", "**What to do:**", "**Written:**"):
            assert part in section, f"docs/errors.md, {name}: no {part}"


def hierarchy_tree() -> list[tuple[int, str]]:
    """``(depth, name)`` of every line of the tree in errors.md."""
    block = re.search(r"^```text\n(OMSError\n.*?)^```$", read(ERRORS_PAGE), flags=re.S | re.M)
    assert block, "docs/errors.md shows no hierarchy tree"
    rows: list[tuple[int, str]] = []
    for line in block[1].splitlines():
        match = re.match(r"^([│ ]*)(?:[├└]── )?(\w+)", line)
        assert match, line
        depth = 0 if line.startswith("OMSError") else len(match[1]) // 4 + 1
        rows.append((depth, match[2]))
    return rows


def test_the_hierarchy_tree_is_the_class_hierarchy() -> None:
    rows = hierarchy_tree()
    exceptions = [name for name in errors.__all__ if isinstance(getattr(errors, name), type)]
    exceptions = [n for n in exceptions if issubclass(getattr(errors, n), BaseException)]
    assert sorted(name for _, name in rows) == sorted(exceptions)
    parents: list[str] = []
    for depth, name in rows:
        del parents[depth:]
        cls = getattr(errors, name)
        if parents:
            own = [base for base in cls.__bases__ if base.__module__ == errors.__name__]
            assert [base.__name__ for base in own] == [parents[-1]], name
        parents.append(name)


def test_the_pages_link_to_existing_error_sections() -> None:
    anchors = set(re.findall(r"\{#([\w-]+)\}", read(ERRORS_PAGE)))
    anchors |= {
        re.sub(r"[^\w]+", "-", heading.lower()).strip("-")
        for heading in re.findall(r"^#+ ([^`{\n]+)$", read(ERRORS_PAGE), flags=re.M)
    }
    for page in (POLICY_PAGE, API_PAGE):
        for anchor in re.findall(r"errors\.md#([\w-]+)", read(page)):
            assert anchor in anchors, f"{page.name} links to errors.md#{anchor}"
