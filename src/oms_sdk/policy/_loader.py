"""Load market policy files: YAML 1.2 in, validated markets or one ``PolicyError`` out.

Reading is strict on purpose. A policy file moves money, so nothing in it may be guessed:

* YAML 1.2 core schema only (ruamel.yaml, round-trip loader): a market code ``NO`` stays the
  string "NO", ``01234`` is never the octal 668, timestamps stay text until a datetime field
  reads them;
* no tags but the standard core ones: ``!!python/object:...``, ``!foo`` and friends are
  problems, never constructed;
* floats are read as exact ``Decimal`` from their source text (``19.90`` is 19.90, not
  19.899999...), so an amount written without quotes is still exact;
* duplicate keys are problems, not "last one wins".

Every problem of every file is collected and reported at once, each located by file, key path
(``markets[0].payment_methods[1].gateway``) and line. A policy set with any problem loads
nothing.
"""

from __future__ import annotations

import contextlib
import os
import re
import types
import typing
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, TypeAlias

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import ConstructorError, RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.scalarbool import ScalarBoolean

from ..errors import PolicyError, PolicyProblem
from ._models import BUILTIN_STATUSES, MarketPolicy, PolicyFile

__all__ = [
    "MarketCheck",
    "PolicySet",
    "format_key_path",
    "load_policies",
    "load_policy_text",
    "policy_json_schema",
]

KeyPath: TypeAlias = tuple[str | int, ...]

#: A check run on every validated market. It yields ``(path, message)`` problems, the path
#: relative to the market mapping, e.g. ``(("payment_methods", 1, "steps", 0, "exit_to"),
#: "state 'placed' is unreachable")``; the loader locates them in the file.
MarketCheck = Callable[[MarketPolicy], Iterable[tuple[tuple[str | int, ...], str]]]

POLICY_SUFFIXES: tuple[str, ...] = (".yaml", ".yml")

_CORE = "tag:yaml.org,2002:"
#: Tags a node may carry, explicitly or by resolution. Everything else is refused.
_ALLOWED_TAGS = frozenset(
    _CORE + name for name in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp")
)
_MERGE_TAG = _CORE + "merge"
#: Upper bound of values in one document once aliases are expanded (a "billion laughs" guard).
_MAX_VALUES = 200_000


# ---------------------------------------------------------------------------------------------
# the result
# ---------------------------------------------------------------------------------------------


class PolicySet:
    """The markets of a successful load, by market code in load order. Immutable."""

    __slots__ = ("_files", "_markets", "_origins", "_plugins")

    _markets: Mapping[str, MarketPolicy]
    _origins: Mapping[str, str]
    _files: tuple[Path, ...]
    _plugins: tuple[str, ...]

    def __init__(
        self,
        markets: Mapping[str, MarketPolicy],
        origins: Mapping[str, str],
        files: Iterable[Path] = (),
        plugins: Iterable[str] = (),
    ) -> None:
        missing = set(markets) - set(origins)
        if missing:
            raise ValueError(f"no origin given for markets {sorted(missing)}")
        object.__setattr__(self, "_markets", types.MappingProxyType(dict(markets)))
        object.__setattr__(self, "_origins", types.MappingProxyType(dict(origins)))
        object.__setattr__(self, "_files", tuple(files))
        object.__setattr__(self, "_plugins", tuple(dict.fromkeys(plugins)))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("PolicySet is immutable")

    @property
    def markets(self) -> Mapping[str, MarketPolicy]:
        """Markets by code, in load order (read-only)."""
        return self._markets

    @property
    def files(self) -> tuple[Path, ...]:
        """The policy files read, in load order (empty for ``load_policy_text``)."""
        return self._files

    @property
    def plugins(self) -> tuple[str, ...]:
        """Entry-point plugins the files ask for (``plugins:``), without duplicates."""
        return self._plugins

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(self._markets)

    def market(self, code: str) -> MarketPolicy:
        """The market ``code``; ``KeyError`` naming the known codes if there is none."""
        try:
            return self._markets[code]
        except KeyError:
            known = ", ".join(self._markets) or "none"
            raise KeyError(f"no market {code!r} in this policy set (known: {known})") from None

    def origin(self, code: str) -> str:
        """The file market ``code`` was loaded from."""
        self.market(code)
        return self._origins[code]

    def __contains__(self, code: object) -> bool:
        return code in self._markets

    def __iter__(self) -> Iterator[MarketPolicy]:
        return iter(self._markets.values())

    def __len__(self) -> int:
        return len(self._markets)

    def __repr__(self) -> str:
        return f"PolicySet(markets={list(self._markets)!r})"


# ---------------------------------------------------------------------------------------------
# public entry points
# ---------------------------------------------------------------------------------------------


def load_policies(
    *paths: str | os.PathLike[str],
    known_gateways: Collection[str] | None = None,
    checks: Sequence[MarketCheck] = (),
) -> PolicySet:
    """Load policy files and folders (every ``*.yaml``/``*.yml`` in a folder, sorted).

    ``known_gateways``: when given, every payment method must name one of them.
    ``checks``: extra checks run on every validated market (see ``MarketCheck``).
    Raises one ``PolicyError`` listing every problem of every file; loads nothing then.
    """
    if isinstance(known_gateways, str):  # one name, not its letters
        known_gateways = (known_gateways,)
    problems: list[PolicyProblem] = []
    files = _expand_paths(paths, problems)
    sources: list[tuple[str, str]] = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            problems.append(PolicyProblem(str(path), "", None, f"not UTF-8 text: {exc.reason}"))
            continue
        except OSError as exc:
            problems.append(PolicyProblem(str(path), "", None, f"cannot read: {exc.strerror}"))
            continue
        sources.append((str(path), text))
    return _load(sources, tuple(files), problems, known_gateways, checks)


def load_policy_text(
    text: str,
    filename: str = "<string>",
    *,
    known_gateways: Collection[str] | None = None,
    checks: Sequence[MarketCheck] = (),
) -> PolicySet:
    """Load one policy document given as text; ``filename`` is used in problems and origins."""
    if isinstance(known_gateways, str):
        known_gateways = (known_gateways,)
    return _load([(filename, text)], (), [], known_gateways, checks)


def policy_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a policy file, e.g. for editor completion."""
    schema = PolicyFile.model_json_schema(mode="validation")
    schema.pop("title", None)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:oms-sdk:schema:policy-file",
        "title": "oms-sdk market policy file",
        **schema,
    }


# ---------------------------------------------------------------------------------------------
# the pipeline
# ---------------------------------------------------------------------------------------------


@dataclass
class _Document:
    """One parsed policy file: plain data plus what is needed to point into the text."""

    file: str
    data: Any
    key_lines: dict[KeyPath, int] = field(default_factory=dict)
    """1-based line of each key (for a sequence item: of the item) by key path."""
    root_line: int = 1
    yaml_paths: list[KeyPath] = field(default_factory=list)
    """Paths that already have a YAML-level problem: validation errors there are follow-ons."""
    markets: list[tuple[int, MarketPolicy]] = field(default_factory=list)
    """The markets that validated, with their index in the file."""
    plugins: tuple[str, ...] = ()

    def line(self, path: KeyPath) -> int:
        """Line of the key at ``path``, or of its nearest ancestor written in the file."""
        for end in range(len(path), 0, -1):
            line = self.key_lines.get(path[:end])
            if line is not None:
                return line
        return self.root_line

    def problem(self, path: KeyPath, message: str, *, line: int | None = None) -> PolicyProblem:
        return PolicyProblem(
            self.file, format_key_path(path), self.line(path) if line is None else line, message
        )


def _load(
    sources: Sequence[tuple[str, str]],
    files: tuple[Path, ...],
    problems: list[PolicyProblem],
    known_gateways: Collection[str] | None,
    checks: Sequence[MarketCheck],
) -> PolicySet:
    documents: list[_Document] = []
    for filename, text in sources:
        parsed, reading = _parsed(text, filename)
        problems.extend(reading)
        if parsed is not None:
            document = replace(parsed, markets=[], plugins=())
            _validate(document, problems)
            documents.append(document)

    cross: list[PolicyProblem] = []
    _check_duplicate_codes(documents, cross)
    for document in documents:
        for index, market in document.markets:
            prefix: KeyPath = ("markets", index)
            found: list[tuple[KeyPath, str]] = list(_check_cancel_statuses(market))
            if known_gateways is not None:
                found.extend(_check_gateways(market, known_gateways))
            for check in checks:
                found.extend((tuple(path), str(message)) for path, message in check(market))
            cross.extend(document.problem(prefix + path, message) for path, message in found)
    problems.extend(cross)

    if problems:
        # By file in load order (paths that could not be read first), then by line.
        order = {name: index for index, (name, _) in enumerate(sources)}
        problems.sort(key=lambda p: (order.get(p.file, -1), p.line or 0))
        raise PolicyError(problems)
    markets: dict[str, MarketPolicy] = {}
    origins: dict[str, str] = {}
    for document in documents:
        for _, market in document.markets:
            markets[market.code] = market
            origins[market.code] = document.file
    plugins = [name for document in documents for name in document.plugins]
    return PolicySet(markets, origins, files, plugins)


def _expand_paths(
    paths: Sequence[str | os.PathLike[str]], problems: list[PolicyProblem]
) -> list[Path]:
    if not paths:
        problems.append(PolicyProblem("", "", None, "no policy files or folders given"))
    files: list[Path] = []
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(
                p for p in path.iterdir() if p.suffix.lower() in POLICY_SUFFIXES and p.is_file()
            )
            if not found:
                suffixes = " or ".join(f"*{s}" for s in POLICY_SUFFIXES)
                problems.append(
                    PolicyProblem(str(path), "", None, f"folder has no policy files ({suffixes})")
                )
        elif path.is_file():
            found = [path]
        elif path.exists():
            problems.append(PolicyProblem(str(path), "", None, "not a file or folder"))
            continue
        else:
            problems.append(PolicyProblem(str(path), "", None, "no such file or folder"))
            continue
        for file in found:
            resolved = file.resolve()
            if resolved not in seen:  # a file named twice (itself and its folder) loads once
                seen.add(resolved)
                files.append(file)
    return files


# ---------------------------------------------------------------------------------------------
# YAML
# ---------------------------------------------------------------------------------------------


class _PolicyConstructor(RoundTripConstructor):
    """Round-trip constructor reading the YAML 1.2 core schema exactly."""

    def construct_non_recursive_object(self, node: Any, tag: str | None = None) -> Any:
        # Belt and braces: the node walk already reported any other tag; never construct it.
        if (tag or node.tag) not in _ALLOWED_TAGS:
            return None
        return super().construct_non_recursive_object(node, tag)

    def construct_exact_float(self, node: Any) -> Decimal:
        """A YAML float as the exact decimal written in the file: ``19.90`` -> Decimal("19.90")."""
        text = str(self.construct_scalar(node)).strip().replace("_", "")
        special = text.lower().lstrip("+-")
        if special in (".inf", ".nan"):
            sign = "-" if text.startswith("-") else ""
            return Decimal(sign + ("Infinity" if special == ".inf" else "NaN"))
        try:
            return Decimal(text)
        except InvalidOperation:
            raise ConstructorError(
                None, None, f"{text!r} is not a number", node.start_mark
            ) from None

    def construct_plain_str(self, node: Any) -> str:
        """Text as plain ``str``, also when tagged ``!!str`` (round-trip would wrap it)."""
        return str(self.construct_scalar(node))

    def construct_timestamp_text(self, node: Any) -> str:
        """YAML 1.2 core has no timestamps: keep the text; datetime fields parse it."""
        return str(self.construct_scalar(node))


_PolicyConstructor.add_constructor(_CORE + "str", _PolicyConstructor.construct_plain_str)
_PolicyConstructor.add_constructor(_CORE + "float", _PolicyConstructor.construct_exact_float)
_PolicyConstructor.add_constructor(_CORE + "timestamp", _PolicyConstructor.construct_timestamp_text)


def _tag_text(node: Node) -> str:
    ctag = node.ctag
    if ctag is not None and ctag.handle:
        return f"{ctag.handle}{ctag.suffix}"
    return str(node.tag)


@lru_cache(maxsize=256)
def _parsed(text: str, filename: str) -> tuple[_Document | None, tuple[PolicyProblem, ...]]:
    """``_parse``, once per text: ``OMS.open`` loads the same files twice (first to learn
    which plugins they enable, then to check them with those plugins), and YAML parsing with
    line numbers is most of the cost. The document's data is never mutated afterwards."""
    problems: list[PolicyProblem] = []
    return _parse(text, filename, problems), tuple(problems)


def _parse(text: str, filename: str, problems: list[PolicyProblem]) -> _Document | None:
    """Parse one YAML document into plain data and a line map; ``None`` if it cannot be read."""
    yaml = YAML(typ="rt")
    yaml.Constructor = _PolicyConstructor
    yaml.allow_duplicate_keys = True  # reported by the node walk, every one of them
    try:
        node = yaml.compose(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        message = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        problems.append(PolicyProblem(filename, "", line, f"invalid YAML: {message}"))
        return None
    except YAMLError as exc:
        problems.append(PolicyProblem(filename, "", None, f"invalid YAML: {exc}"))
        return None

    version = yaml.doc_infos[-1].doc_version if yaml.doc_infos else None
    if version is not None and (version.major, version.minor) != (1, 2):
        problems.append(
            PolicyProblem(
                filename,
                "",
                1,
                f"policy files are YAML 1.2; remove the '%YAML {version.major}.{version.minor}' "
                "directive",
            )
        )
        return None
    if node is None:
        problems.append(
            PolicyProblem(filename, "", None, "the file is empty; expected a 'markets' list")
        )
        return None

    document = _Document(filename, None, root_line=node.start_mark.line + 1)
    before = len(problems)
    _walk_nodes(node, (), document, problems, set(), set())
    if any(p.message.startswith("recursive alias") for p in problems[before:]):
        return None
    try:
        data = yaml.constructor.construct_document(node)
    except MarkedYAMLError as exc:
        if len(problems) == before:
            mark = exc.problem_mark or exc.context_mark
            problems.append(
                PolicyProblem(
                    filename,
                    "",
                    mark.line + 1 if mark is not None else None,
                    f"invalid YAML: {exc.problem or exc}",
                )
            )
        return None
    counter = [0]
    try:
        document.data = _plain(data, (), document, counter)
    except _TooLargeError:
        problems.append(
            PolicyProblem(
                filename, "", None, f"document expands to more than {_MAX_VALUES} values (aliases)"
            )
        )
        return None
    return document


def _walk_nodes(
    node: Node,
    path: KeyPath,
    document: _Document,
    problems: list[PolicyProblem],
    done: set[int],
    stack: set[int],
) -> None:
    """Report refused tags, duplicate and complex keys, recursive aliases; normalise keys.

    Every node is checked once, at the path where it first appears. Keys are made text: in a
    policy every key is a name or a SKU, so ``01234:`` is the SKU "01234", never a number.
    """
    if id(node) in stack:
        problems.append(
            document.problem(
                path, "recursive alias: a value contains itself", line=node.start_mark.line + 1
            )
        )
        return
    if id(node) in done:
        return
    done.add(id(node))
    line = node.start_mark.line + 1
    if node.tag not in _ALLOWED_TAGS and not (
        isinstance(node, ScalarNode) and node.tag == _MERGE_TAG
    ):
        problems.append(
            document.problem(
                path,
                f"tag {_tag_text(node)!r} is not allowed: policy files hold plain values only",
                line=line,
            )
        )
        document.yaml_paths.append(path)
        return
    stack.add(id(node))
    try:
        if isinstance(node, MappingNode):
            seen: dict[str, int] = {}
            for key_node, value_node in node.value:
                key_line = key_node.start_mark.line + 1
                if not isinstance(key_node, ScalarNode):
                    problems.append(
                        document.problem(
                            path, "keys must be plain text, not a list or mapping", line=key_line
                        )
                    )
                    document.yaml_paths.append(path)
                    continue
                if key_node.tag == _MERGE_TAG:
                    key: str = "<<"
                elif key_node.tag not in _ALLOWED_TAGS:
                    problems.append(
                        document.problem(
                            path,
                            f"tag {_tag_text(key_node)!r} is not allowed: "
                            "policy files hold plain values only",
                            line=key_line,
                        )
                    )
                    document.yaml_paths.append(path)
                    continue
                else:
                    key = str(key_node.value)
                    key_node.tag = _CORE + "str"
                if key in seen:
                    problems.append(
                        document.problem(
                            (*path, key),
                            f"duplicate key {key!r} (first on line {seen[key]})",
                            line=key_line,
                        )
                    )
                    document.yaml_paths.append((*path, key))
                else:
                    seen[key] = key_line
                _walk_nodes(value_node, (*path, key), document, problems, done, stack)
        elif isinstance(node, SequenceNode):
            for index, item in enumerate(node.value):
                _walk_nodes(item, (*path, index), document, problems, done, stack)
    finally:
        stack.discard(id(node))


class _TooLargeError(Exception):
    pass


def _plain(value: Any, path: KeyPath, document: _Document, counter: list[int]) -> Any:
    """ruamel's round-trip objects as plain dict/list/str/int/bool/Decimal, recording lines."""
    counter[0] += 1
    if counter[0] > _MAX_VALUES:
        raise _TooLargeError
    if isinstance(value, CommentedMap):
        result: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                continue  # a complex key, already reported
            sub = (*path, str(key))
            try:
                line, _column = value.lc.key(key)
            except (KeyError, TypeError):  # merged in from an alias: use the mapping's line
                line = value.lc.line
            document.key_lines.setdefault(sub, line + 1)
            result[str(key)] = _plain(item, sub, document, counter)
        return result
    if isinstance(value, CommentedSeq):
        items: list[Any] = []
        for index, item in enumerate(value):
            sub = (*path, index)
            try:
                line, _column = value.lc.item(index)
            except (KeyError, TypeError, IndexError):
                line = value.lc.line
            document.key_lines.setdefault(sub, line + 1)
            items.append(_plain(item, sub, document, counter))
        return items
    if isinstance(value, dict):
        return {str(k): _plain(v, (*path, str(k)), document, counter) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, (*path, i), document, counter) for i, v in enumerate(value)]
    if isinstance(value, bool) or value is None or isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        # ScalarBoolean (anchored booleans) is an int subclass too; keep bools bools.
        return bool(value) if isinstance(value, ScalarBoolean) else int(value)
    if isinstance(value, str):
        return str(value)
    return value


# ---------------------------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------------------------


def _validate(document: _Document, problems: list[PolicyProblem]) -> None:
    try:
        policy = PolicyFile.model_validate(document.data)
    except ValidationError as exc:
        problems.extend(_translate(exc.errors(include_url=False), document))
        # Markets that are fine on their own still get the cross-market checks.
        raw_markets = document.data.get("markets") if isinstance(document.data, dict) else None
        if isinstance(raw_markets, list):
            for index, raw in enumerate(raw_markets):
                with contextlib.suppress(ValidationError):
                    document.markets.append((index, MarketPolicy.model_validate(raw)))
        return
    document.markets.extend(enumerate(policy.markets))
    document.plugins = policy.plugins


def _translate(errors: list[ErrorDetails], document: _Document) -> list[PolicyProblem]:
    described = [_describe(error) for error in errors]
    paths = [path for path, _, _ in described]

    def is_follow_on(path: KeyPath, message: str, kind: str) -> bool:
        # A parent error when a child already failed ("markets: should have at least 1 item").
        if any(len(other) > len(path) and other[: len(path)] == path for other in paths):
            return True
        # An error about a value the YAML walk already refused (a tag, a duplicate key); an
        # unknown key stays an error of its own.
        if kind != "extra_forbidden" and any(
            path[: len(bad)] == bad for bad in document.yaml_paths
        ):
            return True
        # Amounts of a market whose currency is itself the problem.
        if "currency is unknown" in message and len(path) >= 2:
            return (*path[:2], "currency") in paths
        return False

    problems: list[PolicyProblem] = []
    for error, (path, message, at_parent) in zip(errors, described, strict=True):
        if is_follow_on(path, message, error["type"]):
            continue
        line = document.line(path[:-1]) if at_parent and path else document.line(path)
        problems.append(document.problem(path, message, line=line))
    return problems


def _describe(error: ErrorDetails) -> tuple[KeyPath, str, bool]:
    """(clean key path, short message, whether to point at the enclosing mapping's line)."""
    path, model, final = _clean_loc(error["loc"])
    kind = error["type"]
    ctx = error.get("ctx") or {}
    message = error["msg"]
    key = path[-1] if path else None

    if kind == "missing":
        return path, f"missing required key {key!r}", True
    if kind == "extra_forbidden":
        allowed = f" (allowed: {', '.join(model.model_fields)})" if model is not None else ""
        return path, f"unknown key {key!r}{allowed}", False
    if kind == "union_tag_not_found":
        discriminator = str(ctx.get("discriminator", "type")).strip("'")
        tags = _literal_tags(final)
        expected = f" (one of {', '.join(map(repr, tags))})" if tags else ""
        return (*path, discriminator), f"missing required key {discriminator!r}{expected}", True
    if kind == "union_tag_invalid":
        discriminator = str(ctx.get("discriminator", "type")).strip("'")
        return (
            (*path, discriminator),
            f"unknown {discriminator} {ctx.get('tag')!r} (expected one of "
            f"{ctx.get('expected_tags')})",
            False,
        )
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return path, f"expected a mapping of keys, got {_kind(error['input'])}", False
    if kind in ("tuple_type", "list_type"):
        return path, f"expected a list, got {_kind(error['input'])}", False
    if kind == "string_type":
        hint = " (put it in quotes)" if isinstance(error["input"], int | Decimal) else ""
        return path, f"expected text, got {_kind(error['input'])}{hint}", False
    if kind == "too_short" and "min_length" in ctx:
        count = ctx["min_length"]
        return path, f"needs at least {count} item{'s' if count != 1 else ''}", False
    if kind == "value_error":
        message = message.removeprefix("Value error, ")
    elif kind == "assertion_error":
        message = message.removeprefix("Assertion failed, ")
    if error["loc"] and error["loc"][-1] == "[key]":
        message = f"invalid key {key!r}: {message}"
    return path, message, False


def _kind(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | Decimal):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _unwrap(tp: Any) -> Any:
    """Strip ``Annotated`` and ``| None`` until a model, container or multi-member union."""
    while True:
        if typing.get_origin(tp) is typing.Annotated:
            tp = typing.get_args(tp)[0]
            continue
        if typing.get_origin(tp) in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(members) == 1:
                tp = members[0]
                continue
        return tp


def _literal_tags(tp: Any) -> list[Any]:
    """The ``Literal`` values that tell the members of a model union apart."""
    tags: list[Any] = []
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        for member in typing.get_args(tp):
            if isinstance(member, type) and issubclass(member, BaseModel):
                for info in member.model_fields.values():
                    if typing.get_origin(info.annotation) is Literal:
                        tags.extend(typing.get_args(info.annotation))
    return tags


def _clean_loc(loc: tuple[str | int, ...]) -> tuple[KeyPath, type[BaseModel] | None, Any]:
    """Turn a pydantic ``loc`` into the key path written in the file.

    Walks the models alongside the loc to drop what is not a key: the tag pydantic adds for a
    member of a discriminated union (``promotions.0.percentage.percentage``) and the
    ``[key]`` marker of a dict key error. Also returns the model holding the last key (to list
    its allowed keys) and the type at the end of the path.
    """
    path: list[str | int] = []
    tp: Any = PolicyFile
    model: type[BaseModel] | None = None
    for item in loc:
        tp = _unwrap(tp)
        if typing.get_origin(tp) in (typing.Union, types.UnionType) and isinstance(item, str):
            chosen = next(
                (
                    member
                    for member in typing.get_args(tp)
                    if isinstance(member, type)
                    and issubclass(member, BaseModel)
                    and (
                        member.__name__ == item
                        or any(
                            typing.get_origin(info.annotation) is Literal
                            and item in typing.get_args(info.annotation)
                            for info in member.model_fields.values()
                        )
                    )
                ),
                None,
            )
            if chosen is not None:
                tp = chosen
                continue
        if item == "[key]":
            tp = None
            continue
        path.append(item)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            model = tp
            info = tp.model_fields.get(item) if isinstance(item, str) else None
            tp = info.annotation if info is not None else None
        elif typing.get_origin(tp) in (tuple, list) and isinstance(item, int):
            tp = typing.get_args(tp)[0]
            model = None
        elif typing.get_origin(tp) is dict:
            tp = typing.get_args(tp)[1]
            model = None
        else:
            tp = None
            model = None
    return tuple(path), model, _unwrap(tp)


def format_key_path(path: KeyPath) -> str:
    """``("markets", 0, "prices", "items", "TEE-M")`` -> ``markets[0].prices.items.TEE-M``."""
    text = ""
    for item in path:
        if isinstance(item, int):
            text += f"[{item}]"
        elif re.fullmatch(r"[A-Za-z0-9_<-][A-Za-z0-9_<-]*", item):
            text += f".{item}" if text else item
        else:
            text += f"[{item!r}]"
    return text


# ---------------------------------------------------------------------------------------------
# checks across markets and files
# ---------------------------------------------------------------------------------------------


def _check_duplicate_codes(documents: Sequence[_Document], problems: list[PolicyProblem]) -> None:
    """A market code defined twice, in one file or across files: located at the second."""
    first: dict[str, tuple[str, int]] = {}
    for document in documents:
        raw_markets = document.data.get("markets") if isinstance(document.data, dict) else None
        if not isinstance(raw_markets, list):
            continue
        for index, raw in enumerate(raw_markets):
            code = raw.get("code") if isinstance(raw, dict) else None
            if not isinstance(code, str):
                continue
            code = code.strip()
            path: KeyPath = ("markets", index, "code")
            line = document.line(path)
            if code in first:
                where, where_line = first[code]
                place = f"line {where_line}" if where == document.file else f"{where}:{where_line}"
                problems.append(
                    document.problem(path, f"duplicate market code {code!r} (first in {place})")
                )
            else:
                first[code] = (document.file, line)


def _check_gateways(
    market: MarketPolicy, known_gateways: Collection[str]
) -> Iterator[tuple[KeyPath, str]]:
    available = ", ".join(sorted(known_gateways)) or "none"
    for index, method in enumerate(market.payment_methods):
        if method.gateway not in known_gateways:
            yield (
                ("payment_methods", index, "gateway"),
                f"unknown gateway {method.gateway!r} (available: {available})",
            )


def _check_cancel_statuses(market: MarketPolicy) -> Iterator[tuple[KeyPath, str]]:
    """``rules.cancel_allowed_in`` may only name built-in statuses or declared step states."""
    declared = [step.state for step in market.steps]
    declared += [step.state for method in market.payment_methods for step in method.steps]
    known = list(dict.fromkeys([*BUILTIN_STATUSES, *declared]))
    for index, status in enumerate(market.rules.cancel_allowed_in):
        if status not in known:
            yield (
                ("rules", "cancel_allowed_in", index),
                f"unknown status {status!r} (known: {', '.join(known)})",
            )
