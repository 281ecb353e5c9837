"""Charts as inline SVG: no script, no external file, readable by screen readers.

Each chart has ``role="img"`` with a ``<title>`` and ``<desc>`` (its text alternative); the report
also gives every chart a table of the same figures. A total with masked parts is drawn as a solid
bar up to its lowest possible value and a hatched extension up to its highest, never as a point.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from html import escape

BLUE = "#005EB8"  # NHS blue
DARK = "#212B32"  # NHS text colour
GREY = "#4C6272"  # NHS secondary text (contrast 6.3:1 on white)
PALE = "#D8DDE0"
SERIES = ("#005EB8", "#330072", "#007F3B", "#AE2573", "#8A1538", "#ED8B00", "#00A499", "#425563")

_ids = itertools.count(1)


@dataclass(frozen=True)
class Bar:
    label: str
    low: float
    high: float | None  # None: no upper bound known
    text: str  # the value as the report writes it


@dataclass(frozen=True)
class Series:
    name: str
    points: tuple[tuple[str, float, float | None], ...]  # (x label, low, high)


def _pattern(pid: str, colour: str) -> str:
    return (
        f'<pattern id="{pid}" width="6" height="6" patternUnits="userSpaceOnUse" '
        f'patternTransform="rotate(45)"><rect width="6" height="6" fill="#fff"/>'
        f'<line x1="0" y1="0" x2="0" y2="6" stroke="{colour}" stroke-width="3"/></pattern>'
    )


def _open(width: int, height: int, title: str, desc: str) -> tuple[str, str]:
    n = next(_ids)
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="100%" viewBox="0 0 {width} {height}" '
        f'role="img" aria-labelledby="chart{n}-t chart{n}-d" class="chart">'
        f'<title id="chart{n}-t">{escape(title)}</title><desc id="chart{n}-d">{escape(desc)}</desc>'
    )
    return head, f"hatch{n}"


def bar_chart(title: str, desc: str, bars: list[Bar], width: int = 640) -> str:
    """Horizontal bars, one per label, scaled to the largest upper bound."""
    row, left, right = 28, 190, 150
    height = row * len(bars) + 12
    head, pid = _open(width, height, title, desc)
    scale_max = max([b.high if b.high is not None else b.low for b in bars] + [1])
    span = width - left - right
    parts = [head, f"<defs>{_pattern(pid, BLUE)}</defs>"]
    for i, bar in enumerate(bars):
        y = 6 + i * row
        low = span * bar.low / scale_max
        high = span * (bar.high if bar.high is not None else bar.low * 1.15) / scale_max
        parts.append(
            f'<text x="{left - 8}" y="{y + 17}" text-anchor="end" font-size="14" '
            f'fill="{DARK}">{escape(bar.label)}</text>'
            f'<rect x="{left}" y="{y + 2}" width="{low:.1f}" height="20" fill="{BLUE}"/>'
        )
        if high > low:
            parts.append(
                f'<rect x="{left + low:.1f}" y="{y + 2}" width="{high - low:.1f}" height="20" '
                f'fill="url(#{pid})" stroke="{BLUE}" stroke-width="1"/>'
            )
        parts.append(
            f'<text x="{left + max(low, high) + 6:.1f}" y="{y + 17}" font-size="14" '
            f'fill="{DARK}">{escape(bar.text)}</text>'
        )
    parts.append(f'<line x1="{left}" y1="4" x2="{left}" y2="{height - 4}" stroke="{GREY}"/>')
    parts.append("</svg>")
    return "".join(parts)


def line_chart(title: str, desc: str, series: list[Series], width: int = 640) -> str:
    """Lines over months; a shaded band shows the range where masked parts make it uncertain."""
    height, left, top, bottom, right = 300, 56, 16, 56, 40
    xs = sorted({x for s in series for x, _lo, _hi in s.points})
    head, _pid = _open(width, height, title, desc)
    if not xs:
        return head + "</svg>"
    top_value = max([hi if hi is not None else lo for s in series for _x, lo, hi in s.points] + [1])
    plot_w, plot_h = width - left - right, height - top - bottom

    def px(x: str) -> float:
        return left + (plot_w * xs.index(x) / max(len(xs) - 1, 1) if len(xs) > 1 else plot_w / 2)

    def py(value: float) -> float:
        return top + plot_h * (1 - value / top_value)

    parts = [head, _axes(left, top, plot_w, plot_h, top_value, xs, px)]
    for colour, s in zip(itertools.cycle(SERIES), series, strict=False):
        upper = [(px(x), py(hi if hi is not None else lo)) for x, lo, hi in s.points]
        lower = [(px(x), py(lo)) for x, lo, _hi in s.points]
        band = " ".join(f"{x:.1f},{y:.1f}" for x, y in upper + lower[::-1])
        parts.append(f'<polygon points="{band}" fill="{colour}" opacity="0.12"/>')
        mid = " ".join(
            f"{x:.1f},{(y1 + y2) / 2:.1f}" for (x, y1), (_, y2) in zip(upper, lower, strict=True)
        )
        parts.append(f'<polyline points="{mid}" fill="none" stroke="{colour}" stroke-width="2.5"/>')
        parts.extend(
            f'<circle cx="{x:.1f}" cy="{(y1 + y2) / 2:.1f}" r="3.5" fill="{colour}"/>'
            for (x, y1), (_, y2) in zip(upper, lower, strict=True)
        )
    parts.append("</svg>")
    return "".join(parts)


def _axes(
    left: float,
    top: float,
    w: float,
    h: float,
    top_value: float,
    xs: list[str],
    px: Callable[[str], float],
) -> str:
    parts = []
    for fraction in (0, 0.25, 0.5, 0.75, 1):
        y = top + h * (1 - fraction)
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + w}" y2="{y:.1f}" stroke="{PALE}"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="12" '
            f'fill="{GREY}">{round(top_value * fraction):,}</text>'
        )
    step = max(1, len(xs) // 8)
    parts.extend(
        f'<text x="{px(x):.1f}" y="{top + h + 20}" text-anchor="middle" font-size="12" '
        f'fill="{GREY}">{escape(x)}</text>'
        for x in xs[::step]
    )
    return "".join(parts)


def legend(series: list[Series]) -> str:
    """An HTML legend (text, so it reads and zooms well) in the charts' colours."""
    items = "".join(
        f'<li><span class="swatch" style="background:{colour}"></span>{escape(s.name)}</li>'
        for colour, s in zip(itertools.cycle(SERIES), series, strict=False)
    )
    return f'<ul class="legend" aria-hidden="true">{items}</ul>'
