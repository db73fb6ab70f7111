"""mkdocs hooks: the generated parts of the site, written from the package at build time.

A page asks for a generated part with a marker line, ``<!-- generated: NAME -->``. The policy
reference comes from the pydantic models, the diagrams from the lifecycle compiler (the code
path of ``oms diagram``), so a change to a model or to a policy file changes the docs with it.
Every diagram is also an SVG file of the site (``lifecycles/``),
drawn by the code of ``oms diagram --format svg``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

from oms_sdk.lifecycle import LifecycleCompiler
from oms_sdk.policy import PolicySet, load_policies, policy_reference

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "config_examples"
MARKER = re.compile(r"^<!-- generated: ([a-z-]+) -->$", re.M)
SVG_FOLDER = "lifecycles"

#: The capture modes the Concepts page draws, each from an example market's payment method.
CAPTURE_MODES = (
    ("Manual capture", "EU", "card"),
    ("Automatic capture at authorization, auto-place", "EU", "paypal"),
    ("Delayed capture, with a review step", "JP", "card"),
)


def example_policies() -> PolicySet:
    return load_policies(EXAMPLES)


def variants(policies: PolicySet) -> list[tuple[str, str | None]]:
    """Every (market, payment method) of the example policies, free orders included."""
    found: list[tuple[str, str | None]] = []
    for market in policies:
        found.extend((market.code, method.code) for method in market.payment_methods)
        found.append((market.code, None))
    return found


def svg_name(market: str, payment_method: str | None) -> str:
    return f"{market.lower()}-{payment_method or 'free'}.svg"


def _diagram(
    compiler: LifecycleCompiler, policies: PolicySet, market: str, pm: str | None, svgs: str
) -> str:
    lifecycle = compiler.lifecycle(policies.market(market), pm)
    picture = f"{svgs}{svg_name(market, pm)}"
    return (
        f"*{lifecycle.definition.capture_mode}*\n\n"
        f"![{market} / {pm or 'free orders'}]({picture})\n\n"
        "The same lifecycle in Mermaid, guards on the arrows:\n\n"
        f"```mermaid\n{lifecycle.mermaid().strip()}\n```\n"
    )


def diagrams_markdown(svgs: str = "lifecycles/") -> str:
    """One section per market, one diagram per payment method (and free orders)."""
    policies = example_policies()
    compiler = LifecycleCompiler()
    parts: list[str] = []
    for market in policies:
        parts.append(f"## {market.code}: {market.name} ({market.currency})\n")
        for method in [*market.payment_methods, None]:
            code = method.code if method is not None else None
            title = f"{method.name} (`{method.code}`)" if method is not None else "Free orders"
            parts.append(f"### {market.code} · {title}\n")
            parts.append(_diagram(compiler, policies, market.code, code, svgs))
    return "\n".join(parts)


def capture_modes_markdown(svgs: str = "lifecycles/") -> str:
    policies = example_policies()
    compiler = LifecycleCompiler()
    parts: list[str] = []
    for title, market, method in CAPTURE_MODES:
        parts.append(f"### {title}\n\nMarket `{market}`, payment method `{method}`:\n")
        parts.append(_diagram(compiler, policies, market, method, svgs))
    return "\n".join(parts)


def action_matrix_markdown(market: str = "EU", payment_method: str = "card") -> str:
    """Which command each status allows, as the compiled lifecycle says (guards aside)."""
    policies = example_policies()
    definition = LifecycleCompiler().lifecycle(policies.market(market), payment_method).definition
    statuses = [s.name for s in definition.states]
    triggers: dict[str, set[str]] = {}
    for spec in definition.transitions:
        if spec.trigger not in ("mark_pending", "mark_draft"):
            triggers.setdefault(spec.trigger, set()).update(spec.sources)
    rows = [
        "| command | " + " | ".join(f"`{s}`" for s in statuses) + " |",
        "|---|" + "|".join(":-:" for _ in statuses) + "|",
    ]
    for trigger, sources in triggers.items():
        cells = " | ".join("✓" if s in sources else "" for s in statuses)
        rows.append(f"| `{trigger}` | {cells} |")
    return "\n".join(rows) + "\n"


GENERATORS: dict[str, Callable[[str], str]] = {
    "action-matrix": lambda _svgs: action_matrix_markdown(),
    "policy-reference": lambda _svgs: policy_reference(),
    "diagrams": diagrams_markdown,
    "capture-modes": capture_modes_markdown,
}


def render(markdown: str, page_path: str = "index.md") -> str:
    """Replace every marker with its generated Markdown; an unknown marker is an error.

    ``page_path`` (``reference/policy.md``) places the links to the SVG files, which live in
    ``lifecycles/`` at the root of the docs.
    """
    svgs = "../" * page_path.count("/") + f"{SVG_FOLDER}/"

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in GENERATORS:
            raise KeyError(f"unknown generated part {name!r} (known: {', '.join(GENERATORS)})")
        return GENERATORS[name](svgs)

    return MARKER.sub(replace, markdown)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    return render(markdown, page.file.src_uri)


def on_files(files: Files, config: Any) -> Files:
    """Add each diagram as an SVG file of the site, where the pages link to it."""
    policies = example_policies()
    compiler = LifecycleCompiler()
    for market, pm in variants(policies):
        svg = compiler.lifecycle(policies.market(market), pm).svg()
        files.append(File.generated(config, f"{SVG_FOLDER}/{svg_name(market, pm)}", content=svg))
    return files
