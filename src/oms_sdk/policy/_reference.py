"""The policy file reference: Markdown generated from the models, so it cannot drift.

``policy_reference()`` renders one section per model of a policy file, in reading order from
the top of a file down: where the model sits in a file, its docstring, a table of every key
(type, required or default, description, an example value) and, where one exists, an excerpt
of ``config_examples/`` with its comments. Descriptions are the models' attribute docstrings;
types and constraints come from the annotations pydantic validates with.

The documentation site calls it at build time (``docs/hooks.py``) and puts the result in
place of ``<!-- generated: policy-reference -->`` in ``docs/reference/policy.md``.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import json
import re
import textwrap
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any, Literal, TypeAlias

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from ruamel.yaml import YAML
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ..money import Money
from ._models import (
    CatalogItem,
    FixedAmountPromotion,
    GiftCardPolicy,
    LifecycleStep,
    MarketPolicy,
    OrderRules,
    PaymentMethodPolicy,
    PercentagePromotion,
    PolicyFile,
    PriceList,
    ShippingMethodPolicy,
)

__all__ = ["policy_reference"]

Model: TypeAlias = type[BaseModel]

#: One step of a path through a policy file: a key, any item of a list, any value of a
#: mapping, or a filter on a discriminator (``type: percentage``).
Step: TypeAlias = (
    tuple[Literal["key"], str]
    | tuple[Literal["item"]]
    | tuple[Literal["value"]]
    | tuple[Literal["where"], str, str]
)
ModelPath: TypeAlias = tuple[Step, ...]

#: How the reference names the types of keys.
_SCALARS: Mapping[type, str] = {
    str: "string",
    int: "integer",
    bool: "boolean",
    Decimal: "decimal",
    datetime: "date-time (ISO 8601)",
    Money: "decimal string (major units)",
}

_LEGEND = """\
Types, as this reference names them:

* **decimal string (major units)**: an amount in the market's currency, written the way
  people write prices: `"19.90"` in EUR, `3300` in JPY, `"9.750"` in KWD. Quote it or write
  it unquoted (`19.90`): either way it is read as an exact decimal, never as a binary float.
  More decimals than the currency has is an error when the file loads, never a rounding.
* **decimal**: an exact number such as `"22"` or `"8.875"`, read like amounts.
* **date-time (ISO 8601)**: `2025-01-01T00:00:00+01:00`; a time without a zone is UTC.
* **list of …** is a YAML sequence, **mapping of … to …** a YAML mapping.
* **required** keys must be written; every other key may be left out and then takes the
  default shown. A key the reference does not list is an error, not ignored (inside
  `extensions`, each plugin checks its own section).
"""

#: The smallest useful policy file (the tests load it).
_MINIMAL_FILE = """\
# A complete, minimal policy file: one market that sells one thing.
plugins: []                   # entry-point plugins to load, e.g. [sandbox, stock]
markets:
  - code: EU
    name: European Union
    currency: EUR
    prices:
      items:
        TEE-ORG-M:
          name: Organic cotton T-shirt, size M
          price: "29.90"
    payment_methods:
      - code: bank_transfer
        name: Bank transfer
        gateway: manual       # built in: an operator records the payment
"""


@dataclass(frozen=True)
class _Excerpt:
    """A piece of an example policy file, shown with its comments.

    ``path`` leads from the top of the file to a mapping key (the key and its value are
    shown) or to a list item (shown under its list's key). ``keep`` names, for the mapping at
    a path relative to the excerpt's value, the keys to show; the others are left out.
    """

    file: str
    path: tuple[str | int, ...]
    keep: Mapping[tuple[str | int, ...], tuple[str, ...]] = field(default_factory=dict)
    note: str = ""


#: Realistic examples of each model, taken from ``config_examples/``.
_EXCERPTS: Mapping[Model, tuple[_Excerpt, ...]] = {
    MarketPolicy: (_Excerpt("nordics_gulf.yaml", ("markets", 1), note="a whole market"),),
    PriceList: (
        _Excerpt(
            "us.yaml",
            ("markets", 0, "prices"),
            keep={("items",): ("TEE-ORG-M", "EBOOK-CARE")},
            note="2 of its SKUs",
        ),
    ),
    CatalogItem: (
        _Excerpt(
            "eu.yaml",
            ("markets", 0, "prices", "items"),
            keep={(): ("TOTE-CNV", "EBOOK-CARE")},
            note="2 of its SKUs",
        ),
    ),
    ShippingMethodPolicy: (_Excerpt("eu.yaml", ("markets", 0, "shipping_methods")),),
    PaymentMethodPolicy: (
        _Excerpt("eu.yaml", ("markets", 0, "payment_methods")),
        _Excerpt("us.yaml", ("markets", 0, "payment_methods", 0)),
    ),
    LifecycleStep: (
        _Excerpt("us.yaml", ("markets", 0, "steps")),
        _Excerpt("jp.yaml", ("markets", 0, "payment_methods", 0, "steps")),
    ),
    PercentagePromotion: (_Excerpt("eu.yaml", ("markets", 0, "promotions", 0)),),
    FixedAmountPromotion: (_Excerpt("eu.yaml", ("markets", 0, "promotions", 1)),),
    GiftCardPolicy: (_Excerpt("eu.yaml", ("markets", 0, "gift_cards")),),
    OrderRules: (_Excerpt("eu.yaml", ("markets", 0, "rules")),),
}


def policy_reference() -> str:
    """The reference of every key of a policy file, as Markdown (sections start at ``##``).

    Deterministic: the same models and example files always give the same text.
    """
    models = _models(PolicyFile)
    examples = _Examples.find()
    out: list[str] = [_LEGEND, "The models of a policy file, from the top of a file down:", ""]
    out += _outline(PolicyFile, depth=0, seen=set())
    out.append("")
    for model, paths in models.items():
        out += _section(model, paths, examples)
    return "\n".join(out).rstrip("\n") + "\n"


# ---------------------------------------------------------------------------------------------
# the models of a policy file, and where they sit
# ---------------------------------------------------------------------------------------------


def _models(root: Model) -> dict[Model, list[ModelPath]]:
    """Every model reachable from ``root``, in reading order, with the paths leading to it."""
    found: dict[Model, list[ModelPath]] = {}

    def visit(model: Model, path: ModelPath) -> None:
        first = model not in found
        found.setdefault(model, []).append(path)
        if not first:
            return
        for name, info in model.model_fields.items():
            for child, steps in _models_in(info.annotation, ()):
                visit(child, (*path, ("key", name), *steps))

    visit(root, ())
    return found


def _unwrap(annotation: Any) -> tuple[Any, list[Any]]:
    """The type under ``Annotated[...]`` and the metadata around it (FieldInfos flattened)."""
    metadata: list[Any] = []
    while typing.get_origin(annotation) is typing.Annotated:
        annotation, *extra = typing.get_args(annotation)
        for item in extra:
            if isinstance(item, FieldInfo):
                metadata.extend(item.metadata)
                if item.discriminator is not None:
                    metadata.append(_Discriminator(str(item.discriminator)))
            else:
                metadata.append(item)
    return annotation, metadata


@dataclass(frozen=True)
class _Discriminator:
    key: str


def _members(annotation: Any) -> list[Any]:
    """The members of a union other than ``None``; ``[annotation]`` if it is no union."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    return [annotation]


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _models_in(annotation: Any, steps: ModelPath) -> Iterator[tuple[Model, ModelPath]]:
    annotation, metadata = _unwrap(annotation)
    members = _members(annotation)
    discriminator = next((m.key for m in metadata if isinstance(m, _Discriminator)), None)
    for member in members:
        member, _ = _unwrap(member)
        origin = typing.get_origin(member)
        if _is_model(member):
            where: ModelPath = ()
            if discriminator is not None and len(members) > 1:
                where = (("where", discriminator, _literal_of(member, discriminator)),)
            yield member, (*steps, *where)
        elif origin is tuple or origin is list:
            yield from _models_in(typing.get_args(member)[0], (*steps, ("item",)))
        elif origin is dict:
            yield from _models_in(typing.get_args(member)[1], (*steps, ("value",)))


def _literal_of(model: Model, key: str) -> str:
    annotation, _ = _unwrap(model.model_fields[key].annotation)
    return str(typing.get_args(annotation)[0])


def _path_text(path: ModelPath) -> str:
    text = ""
    where = ""
    for step in path:
        if step[0] == "key":
            text += f".{step[1]}" if text else step[1]
        elif step[0] == "item":
            text += "[]"
        elif step[0] == "value":
            text += ".<key>"
        else:
            where = f" with `{step[1]}: {step[2]}`"
    return f"`{text}`{where}" if text else "the top level of the file"


def _anchor(model: Model) -> str:
    return model.__name__.lower()


def _link(model: Model) -> str:
    return f"[`{model.__name__}`](#{_anchor(model)})"


def _outline(model: Model, depth: int, seen: set[Model]) -> list[str]:
    """A nested list of the models, by the keys that lead to them."""
    lines: list[str] = []
    if depth == 0:
        lines.append(f"* {_link(model)}: the top level")
    seen = seen | {model}
    for name, info in model.model_fields.items():
        for child, steps in _models_in(info.annotation, ()):
            shape = "".join(
                "[]" if s[0] == "item" else ".<key>" if s[0] == "value" else "" for s in steps
            )
            where = next((f" (`{s[1]}: {s[2]}`)" for s in steps if s[0] == "where"), "")
            indent = "    " * (depth + 1)
            lines.append(f"{indent}* `{name}{shape}`{where}: {_link(child)}")
            if child not in seen:
                lines += _outline(child, depth + 1, seen)
    return lines


# ---------------------------------------------------------------------------------------------
# descriptions: the attribute docstrings of the models
# ---------------------------------------------------------------------------------------------


@cache
def _own_docstrings(cls: type) -> Mapping[str, str]:
    """``name: type`` followed by a string literal, in the body of ``cls`` itself."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):  # no source (a frozen application): descriptions only
        return {}
    tree = ast.parse(source)
    body = next(n for n in tree.body if isinstance(n, ast.ClassDef)).body
    found: dict[str, str] = {}
    for statement, following in itertools.pairwise(body):
        if (
            isinstance(statement, ast.AnnAssign)
            and isinstance(statement.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            found[statement.target.id] = inspect.cleandoc(following.value.value)
    return found


def _field_description(model: Model, name: str, info: FieldInfo) -> str:
    if info.description:
        return _markdown(info.description)
    for cls in model.__mro__:
        if isinstance(cls, type) and issubclass(cls, BaseModel):
            text = _own_docstrings(cls).get(name)
            if text:
                return _markdown(text)
    return ""


def _model_description(model: Model) -> str:
    doc = model.__dict__.get("__doc__")
    return _markdown(inspect.cleandoc(doc), one_line=False) if isinstance(doc, str) else ""


def _markdown(text: str, *, one_line: bool = True) -> str:
    """Docstring literals (double backticks) as Markdown code spans; one line for tables."""
    text = re.sub(r"``(.+?)``", r"`\1`", text)
    if one_line:
        text = " ".join(text.split()).replace("|", "\\|")
    return text


# ---------------------------------------------------------------------------------------------
# types and constraints
# ---------------------------------------------------------------------------------------------


def _type(annotation: Any, metadata: Sequence[Any], scope: str) -> tuple[str, list[str]]:
    """A human-readable type, and the constraints on values of it (as sentences)."""
    annotation, inner = _unwrap(annotation)
    metadata = [*metadata, *inner]
    members = _members(annotation)
    if len(members) > 1:
        texts, notes = [], []
        for member in members:
            text, more = _type(member, [], scope)
            texts.append(text)
            notes += more
        discriminator = next((m.key for m in metadata if isinstance(m, _Discriminator)), None)
        chosen = f", chosen by `{discriminator}`" if discriminator else ""
        return " or ".join(texts) + chosen, notes
    if members[0] is not annotation:  # Optional[X]: the default column says it may be left out
        return _type(members[0], metadata, scope)
    origin = typing.get_origin(annotation)
    if origin is Literal:
        values = ", ".join(f"`{_inline_value(v)}`" for v in typing.get_args(annotation))
        single = len(typing.get_args(annotation)) == 1
        return (f"the text {values}" if single else f"one of {values}"), []
    if origin is tuple or origin is list:
        text, notes = _type(typing.get_args(annotation)[0], [], _scoped(scope, "each item"))
        return f"list of {text}", _constraints(metadata, scope, "list") + notes
    if origin is dict:
        key, value = typing.get_args(annotation)
        key_text, key_notes = _type(key, [], _scoped(scope, "each key"))
        value_text, value_notes = _type(value, [], _scoped(scope, "each value"))
        notes = _constraints(metadata, scope, "mapping") + key_notes + value_notes
        return f"mapping of {key_text} to {value_text}", notes
    if _is_model(annotation):
        return _link(annotation), []
    if annotation is Any:
        return "any value", []
    name = _SCALARS.get(annotation) if isinstance(annotation, type) else None
    if name is None:
        name = str(getattr(annotation, "__name__", annotation))
    kind = "text" if annotation is str else "number"
    return name, _constraints(metadata, scope, kind)


def _scoped(outer: str, inner: str) -> str:
    return f"{outer}, {inner}" if outer else inner


def _constraints(metadata: Sequence[Any], scope: str, kind: str) -> list[str]:
    found: dict[str, Any] = {}
    for item in metadata:
        for attribute in ("pattern", "min_length", "max_length", "ge", "gt", "le", "lt"):
            value = getattr(item, attribute, None)
            if value is not None:
                found.setdefault(attribute, value)
    parts: list[str] = []
    if "pattern" in found:
        parts.append(f"matches `{found['pattern']}`")
    unit = {"text": "character", "list": "item", "mapping": "key"}.get(kind, "item")
    if found.get("min_length") == 1 and kind == "text":
        parts.append("not empty")
    elif "min_length" in found:
        count = found["min_length"]
        parts.append(f"at least {count} {unit}{'s' if count != 1 else ''}")
    if "max_length" in found:
        count = found["max_length"]
        parts.append(f"at most {count} {unit}{'s' if count != 1 else ''}")
    low = (
        f"at least {found['ge']}" if "ge" in found
        else f"more than {found['gt']}" if "gt" in found
        else None
    )  # fmt: skip
    high = (
        f"at most {found['le']}" if "le" in found
        else f"less than {found['lt']}" if "lt" in found
        else None
    )  # fmt: skip
    if "ge" in found and "le" in found:
        parts.append(f"from {found['ge']} to {found['le']}")
    else:
        parts += [bound for bound in (low, high) if bound]
    if not parts:
        return []
    text = ", ".join(parts)
    return [f"{scope[0].upper()}{scope[1:]}: {text}." if scope else f"{text[0].upper()}{text[1:]}."]


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "**required**"
    value = info.get_default(call_default_factory=True)
    if value is None:
        return "optional"
    if isinstance(value, BaseModel):
        return "optional (each key at its default)"
    return f"`{_inline_value(_plain(value))}`"


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


_PLAIN_TEXT = re.compile(r"^[A-Za-z_][A-Za-z0-9_./-]*$")
_YAML_WORDS = frozenset({"true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"})


def _inline_value(value: Any) -> str:
    """A Python value as YAML flow text: ``[pending, placed]``, ``true``, ``"19.90"``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, str):
        plain = _PLAIN_TEXT.match(value) and value.lower() not in _YAML_WORDS
        return value if plain else json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_inline_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_inline_value(v)}" for k, v in value.items()) + "}"
    return str(value)


# ---------------------------------------------------------------------------------------------
# example files
# ---------------------------------------------------------------------------------------------


def _examples_dir() -> Path | None:
    """``config_examples/`` of a source checkout, or the copy packaged in a wheel."""
    here = Path(__file__).resolve()
    for candidate in (here.parents[3] / "config_examples", here.parents[1] / "_examples"):
        if candidate.is_dir():
            return candidate
    return None


@dataclass(frozen=True)
class _Source:
    name: str
    lines: tuple[str, ...]
    root: Node


@dataclass(frozen=True)
class _Examples:
    sources: Mapping[str, _Source]

    @classmethod
    def find(cls) -> _Examples:
        folder = _examples_dir()
        sources: dict[str, _Source] = {}
        if folder is not None:
            for path in sorted(folder.glob("*.yaml")):
                text = path.read_text(encoding="utf-8")
                root = YAML(typ="rt").compose(text)
                if root is not None:
                    sources[path.name] = _Source(path.name, tuple(text.splitlines()), root)
        return cls(sources)

    def value_of(self, paths: Sequence[ModelPath], key: str) -> Node | None:
        """The first value of ``key`` written in an instance of the model, file by file."""
        for source in self.sources.values():
            for path in paths:
                for instance in _instances(source.root, path):
                    value = _get(instance, key)
                    if value is not None:
                        return value
        return None

    def excerpt(self, excerpt: _Excerpt) -> str | None:
        source = self.sources.get(excerpt.file)
        if source is None:
            return None
        return _render_excerpt(source, excerpt)


def _get(node: Node, key: str | int) -> Node | None:
    if isinstance(node, MappingNode) and isinstance(key, str):
        return next((v for k, v in node.value if k.value == key), None)
    if isinstance(node, SequenceNode) and isinstance(key, int) and key < len(node.value):
        found: Node = node.value[key]
        return found
    return None


def _instances(node: Node, path: ModelPath) -> Iterator[Node]:
    if not path:
        yield node
        return
    step, rest = path[0], path[1:]
    if step[0] == "key":
        child = _get(node, step[1])
        if child is not None:
            yield from _instances(child, rest)
    elif step[0] == "item" and isinstance(node, SequenceNode):
        for item in node.value:
            yield from _instances(item, rest)
    elif step[0] == "value" and isinstance(node, MappingNode):
        for _, value in node.value:
            yield from _instances(value, rest)
    elif step[0] == "where":
        tag = _get(node, step[1])
        if isinstance(tag, ScalarNode) and tag.value == step[2]:
            yield from _instances(node, rest)


def _inline_node(node: Node, depth: int = 0, budget: int = 60) -> str:
    """A value as written in the file, on one line; nested collections abbreviated."""
    if isinstance(node, ScalarNode):
        if node.style == '"':
            return json.dumps(node.value, ensure_ascii=False)
        if node.style == "'":
            return "'" + str(node.value).replace("'", "''") + "'"
        text = str(node.value)
        in_flow = depth > 0 and (re.search(r"[,\[\]{}]|: | #", text) is not None)
        return json.dumps(text, ensure_ascii=False) if in_flow else text
    is_map = isinstance(node, MappingNode)
    opening, closing = ("{", "}") if is_map else ("[", "]")
    items = node.value if isinstance(node.value, list) else []
    if depth >= 2 or (isinstance(node, SequenceNode) and depth == 1 and not _all_scalars(node)):
        return f"{opening}…{closing}"
    if depth == 1 and is_map:  # a mapping inside the value: its first key is enough
        if not items:
            return "{}"
        key, value = items[0]
        more = ", …" if len(items) > 1 else ""
        return f"{{{key.value}: {_inline_node(value, depth + 1)}{more}}}"
    parts: list[str] = []
    for item in items:
        text = (
            f"{item[0].value}: {_inline_node(item[1], depth + 1)}"
            if is_map
            else _inline_node(item, depth + 1)
        )
        if parts and len(", ".join([*parts, text])) > budget:
            parts.append("…")
            break
        parts.append(text)
    return opening + ", ".join(parts) + closing


def _all_scalars(node: SequenceNode) -> bool:
    return all(isinstance(item, ScalarNode) for item in node.value) and len(node.value) <= 4


def _last_line(node: Node) -> int:
    """0-based line of the last character of ``node`` written in the file."""
    last = int(node.start_mark.line)
    if isinstance(node, ScalarNode) or getattr(node, "flow_style", False):
        last = max(last, int(node.end_mark.line) - (1 if node.end_mark.column == 0 else 0))
    if isinstance(node, MappingNode):
        for key, value in node.value:
            last = max(last, _last_line(key), _last_line(value))
    elif isinstance(node, SequenceNode):
        for item in node.value:
            last = max(last, _last_line(item))
    return last


def _span(lines: Sequence[str], first: int, node: Node, column: int) -> range:
    """Lines ``first`` to the end of ``node``, with the comment lines that continue it."""
    last = _last_line(node)
    while last + 1 < len(lines):
        line = lines[last + 1]
        stripped = line.lstrip()
        if not stripped.startswith("#") or len(line) - len(stripped) <= column:
            break
        last += 1
    return range(first, last + 1)


def _render_excerpt(source: _Source, excerpt: _Excerpt) -> str:
    parent: Node | None = None
    node: Node = source.root
    key_node: Node | None = None
    for part in excerpt.path:
        found = _get(node, part)
        if found is None:
            raise LookupError(f"config_examples/{source.name} has no {_key_path(excerpt.path)}")
        if isinstance(node, MappingNode):
            key_node = next(k for k, v in node.value if v is found)
        parent, node = node, found
    last = excerpt.path[-1]
    if isinstance(last, int):  # a list item, shown under its list's key
        assert parent is not None
        column = int(parent.start_mark.column)
        span = _span(source.lines, int(node.start_mark.line), node, column)
        wrap = f"{excerpt.path[-2]}:"
    else:
        assert key_node is not None
        column = int(key_node.start_mark.column)
        span = _span(source.lines, int(key_node.start_mark.line), node, column)
        wrap = ""
    dropped: set[int] = set()
    for sub, keep in excerpt.keep.items():
        mapping: Node | None = node
        for part in sub:
            mapping = _get(mapping, part) if mapping is not None else None
        if not isinstance(mapping, MappingNode):
            raise LookupError(f"no mapping at {sub} of {_key_path(excerpt.path)}")
        for key, value in mapping.value:
            if key.value not in keep:
                start = int(key.start_mark.line)
                dropped.update(_span(source.lines, start, value, int(key.start_mark.column)))
    body = [_dedent(source.lines[i], column) for i in span if i not in dropped]
    if wrap:
        body = [wrap, *(f"  {line}" if line else line for line in body)]
    code: Node | None = None
    if len(excerpt.path) > 1 and excerpt.path[0] == "markets":
        market = _get(source.root, "markets")
        market = _get(market, excerpt.path[1]) if market is not None else None
        code = _get(market, "currency") if market is not None else None
    money = f" ({code.value})" if isinstance(code, ScalarNode) else ""
    note = f", {excerpt.note}" if excerpt.note else ""
    header = f"# config_examples/{source.name}: {_key_path(excerpt.path)}{money}{note}"
    return "\n".join([header, *body])


def _dedent(line: str, column: int) -> str:
    indent = len(line) - len(line.lstrip(" "))
    return line[min(indent, column) :].rstrip()


def _key_path(path: Sequence[str | int]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


# ---------------------------------------------------------------------------------------------
# sections
# ---------------------------------------------------------------------------------------------


def _section(model: Model, paths: Sequence[ModelPath], examples: _Examples) -> list[str]:
    out = [f"## `{model.__name__}` {{#{_anchor(model)}}}", ""]
    where = " and ".join(_path_text(p) for p in paths)
    out += [f"**Where:** {where}.", ""]
    description = _model_description(model)
    if description:
        out += [description, ""]
    out += [
        "| Key | Type | Required / default | Description | Example |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, info in model.model_fields.items():
        type_text, notes = _type(info.annotation, info.metadata, "")
        description = " ".join(
            part for part in (_field_description(model, name, info), *notes) if part
        )
        value = examples.value_of(paths, name)
        example = f"`{_inline_node(value)}`" if value is not None else "—"
        out.append(
            f"| `{name}` | {type_text} | {_default(info)} | {description or '—'} | {example} |"
        )
    out.append("")
    blocks = [_MINIMAL_FILE.rstrip("\n")] if model is PolicyFile else []
    blocks += [text for e in _EXCERPTS.get(model, ()) if (text := examples.excerpt(e))]
    for block in blocks:
        out += ["```yaml", block, "```", ""]
    return out
