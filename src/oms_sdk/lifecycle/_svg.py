"""Draw a compiled lifecycle as a standalone SVG picture, with no graphviz or browser.

The layout is small and deterministic: statuses in columns by their distance from ``draft``,
arrows between columns as curves, arrows that keep the status as loops above their box, and
each arrow's guards in a tooltip (``<title>``). Lifecycles have a handful of statuses, so a
layered drawing reads well and the same policy always gives the same bytes.
"""

from __future__ import annotations

from collections import defaultdict
from xml.sax.saxutils import escape

from ._definition import LifecycleDefinition

__all__ = ["render_svg"]

#: Arrows the pictures leave out, as the Mermaid ones do: automatic or bookkeeping only.
HIDDEN_TRIGGERS = frozenset({"mark_draft", "archive", "unarchive"})
_HIDDEN_GUARDS = frozenset({"full_refund", "plugin_guards"})

_BOX_W, _BOX_H = 150, 44
_COL, _ROW = 260, 120
_MARGIN_X, _MARGIN_Y = 60, 110
_FONT = "font-family:system-ui,-apple-system,'Segoe UI',sans-serif"


def _layers(definition: LifecycleDefinition) -> dict[str, int]:
    """Column of each status: its shortest distance from the first status."""
    names = [s.name for s in definition.states]
    layer = {names[0]: 0}
    frontier = [names[0]]
    while frontier:
        following: list[str] = []
        for name in frontier:
            for spec in definition.transitions:
                if spec.trigger in HIDDEN_TRIGGERS or name not in spec.sources:
                    continue
                if spec.dest is not None and spec.dest not in layer:
                    layer[spec.dest] = layer[name] + 1
                    following.append(spec.dest)
        frontier = following
    last = max(layer.values()) + 1
    return {name: layer.get(name, last) for name in names}


def _arrows(definition: LifecycleDefinition) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """(source, destination) → [(trigger, guards)], in the definition's order."""
    arrows: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    for spec in definition.transitions:
        if spec.trigger in HIDDEN_TRIGGERS:
            continue
        guards = " & ".join(g.name for g in spec.guards if g.name not in _HIDDEN_GUARDS)
        for source in spec.sources:
            arrows[(source, spec.dest or source)].append((spec.trigger, guards))
    return arrows


def render_svg(definition: LifecycleDefinition) -> str:
    """``definition`` as an SVG document (UTF-8 text)."""
    layers = _layers(definition)
    rows: dict[int, int] = defaultdict(int)
    position: dict[str, tuple[int, int]] = {}
    for state in definition.states:
        column = layers[state.name]
        position[state.name] = (
            _MARGIN_X + column * _COL,
            _MARGIN_Y + rows[column] * _ROW,
        )
        rows[column] += 1
    width = _MARGIN_X * 2 + max(layers.values()) * _COL + _BOX_W + 40
    height = _MARGIN_Y + max(rows.values()) * _ROW + 60
    title = f"{definition.market} / {definition.payment_method or 'free orders'}"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" '
        'markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'fill="#455a64"/></marker></defs>',
        f'<text x="{_MARGIN_X}" y="32" style="{_FONT};font-size:18px;font-weight:600" '
        f'fill="#263238">{escape(title)}</text>',
        f'<text x="{_MARGIN_X}" y="54" style="{_FONT};font-size:12px" fill="#607d8b">'
        f"{escape(definition.capture_mode)}</text>",
    ]
    loops: dict[str, int] = defaultdict(int)
    for (source, dest), triggers in _arrows(definition).items():
        label = " | ".join(trigger for trigger, _ in triggers)
        tooltip = "; ".join(f"{t} [{g}]" if g else t for t, g in triggers)
        sx, sy = position[source]
        dx, dy = position[dest]
        lx: float
        ly: float
        x0: float
        y0: float
        x1: float
        y1: float
        if source == dest:  # keeps the status: a loop above the box
            lift = 26 + 16 * loops[source]
            loops[source] += 1
            x0, x1, top = sx + 40, sx + _BOX_W - 40, sy - lift
            path = f"M{x0},{sy} C{x0},{top} {x1},{top} {x1},{sy}"
            lx, ly = sx + _BOX_W / 2, top + 2
        elif layers[dest] > layers[source]:  # forwards: right side to left side
            x0, y0 = sx + _BOX_W, sy + _BOX_H / 2
            x1, y1 = dx, dy + _BOX_H / 2
            mid = (x0 + x1) / 2
            path = f"M{x0},{y0} C{mid},{y0} {mid},{y1} {x1},{y1}"
            lx, ly = mid, (y0 + y1) / 2 - 6
        elif layers[dest] == layers[source]:  # the same column: straight down (or up)
            x0 = sx + _BOX_W / 2
            y0, y1 = (sy + _BOX_H, dy) if dy > sy else (sy, dy + _BOX_H)
            path = f"M{x0},{y0} L{x0},{y1}"
            lx, ly = x0 + 8 + 3.2 * len(label), (y0 + y1) / 2 + 4
        else:  # backwards: from below the source round to the right side of the target
            x0, y0 = sx + _BOX_W / 2, sy + _BOX_H
            x1, y1 = dx + _BOX_W, dy + _BOX_H / 2
            path = f"M{x0},{y0} C{x0},{y1 + 30} {x1 + 60},{y1} {x1},{y1}"
            lx, ly = x0 + 12 + 3.2 * len(label), y0 + 30  # beside the curve, as it leaves
        parts.append(
            f'<g class="transition"><title>{escape(tooltip)}</title>'
            f'<path d="{path}" fill="none" stroke="#455a64" stroke-width="1.4" '
            'marker-end="url(#arrow)"/>'
            f'<text x="{lx:.0f}" y="{ly:.0f}" text-anchor="middle" '
            f'style="{_FONT};font-size:12px" fill="#37474f">{escape(label)}</text></g>'
        )
    for index, state in enumerate(definition.states):
        x, y = position[state.name]
        border = 'stroke="#1a237e" stroke-width="3"' if state.terminal else 'stroke="#3949ab"'
        parts.append(
            f'<g class="state" id="state-{escape(state.name)}">'
            f"<title>{escape(state.description or state.name)}</title>"
            f'<rect x="{x}" y="{y}" width="{_BOX_W}" height="{_BOX_H}" rx="10" '
            f'fill="#e8eaf6" {border}/>'
            f'<text x="{x + _BOX_W / 2:.0f}" y="{y + _BOX_H / 2 + 5:.0f}" text-anchor="middle" '
            f'style="{_FONT};font-size:15px" fill="#1a237e">{escape(state.name)}</text></g>'
        )
        if index == 0:  # where every order starts
            parts.append(
                f'<circle cx="{x - 30}" cy="{y + _BOX_H / 2:.0f}" r="7" fill="#263238"/>'
                f'<path d="M{x - 23},{y + _BOX_H / 2:.0f} L{x},{y + _BOX_H / 2:.0f}" '
                'stroke="#263238" stroke-width="1.4" marker-end="url(#arrow)"/>'
            )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
