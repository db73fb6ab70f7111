"""mkdocs hooks: the generated parts of the site, written from the package at build time.

A page asks for a generated part with a marker line, ``<!-- generated: NAME -->``. The policy
reference comes from the pydantic models, the diagrams from the lifecycle compiler (the code
path of ``oms diagram``), so a change to a model or to a policy file changes the docs with it.
Every diagram is also written as an SVG file next to its page.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from oms_sdk.lifecycle import LifecycleCompiler
from oms_sdk.policy import PolicySet, load_policies, policy_reference

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "config_examples"
MARKER = re.compile(r"^<!-- generated: ([a-z-]+) -->$", re.M)

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
    return (
        f"*{lifecycle.definition.capture_mode}* · "
        f"[SVG]({svgs}{svg_name(market, pm)})\n\n"
        f"```mermaid\n{lifecycle.mermaid().strip()}\n```\n"
    )


def diagrams_markdown(svgs: str = "diagrams/") -> str:
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


def capture_modes_markdown(svgs: str = "diagrams/") -> str:
    policies = example_policies()
    compiler = LifecycleCompiler()
    parts: list[str] = []
    for title, market, method in CAPTURE_MODES:
        parts.append(f"### {title}\n\nMarket `{market}`, payment method `{method}`:\n")
        parts.append(_diagram(compiler, policies, market, method, svgs))
    return "\n".join(parts)


GENERATORS: dict[str, Callable[[str], str]] = {
    "policy-reference": lambda _svgs: policy_reference(),
    "diagrams": diagrams_markdown,
    "capture-modes": capture_modes_markdown,
}


def render(markdown: str, page_url: str = "") -> str:
    """Replace every marker with its generated Markdown; an unknown marker is an error.

    ``page_url`` (``concepts/``) places the links to the SVG files, which live in
    ``diagrams/`` at the root of the site.
    """
    svgs = "../" * page_url.count("/") + "diagrams/"

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in GENERATORS:
            raise KeyError(f"unknown generated part {name!r} (known: {', '.join(GENERATORS)})")
        return GENERATORS[name](svgs)

    return MARKER.sub(replace, markdown)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    return render(markdown, page.url)


def on_post_build(config: Any) -> None:
    """Write each diagram as an SVG file, where the pages link to it."""
    policies = example_policies()
    compiler = LifecycleCompiler()
    folder = Path(config["site_dir"]) / "diagrams"
    folder.mkdir(parents=True, exist_ok=True)
    for market, pm in variants(policies):
        svg = compiler.lifecycle(policies.market(market), pm).svg()
        (folder / svg_name(market, pm)).write_text(svg, encoding="utf-8")
