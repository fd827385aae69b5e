"""Hand-drawn inline SVG charts for the report: no script, no network, no plotting library.

Every function returns an ``<svg>`` element as text; every string drawn is
escaped here. Sizes are in CSS pixels; charts scale down with their container.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 × 10^k at or above ``value`` (1 for zero), for axis tops.

    Example:
        >>> nice_ceiling(37), nice_ceiling(0.3), nice_ceiling(0)
        (50, 0.5, 1)
    """
    if value <= 0:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5):
        if value <= step * power * (1 + 1e-9):
            return step * power
    return 10 * power


def _num(value: float) -> str:
    """A compact axis number: 1,200 / 15 / 0.5."""
    if value >= 1000:
        return f"{value:,.0f}"
    if value == int(value):
        return str(int(value))
    return f"{value:g}"


def _svg(width: int, height: int, body: list[str], title: str) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>{"".join(body)}</svg>'
    )


def _segments(parts: Sequence[tuple[str, int, str]], width: int) -> list[tuple[str, int, str, float, float, float]]:
    """``(name, count, colour, x, w, share)`` of each non-empty part of a 100% bar ``width`` wide."""
    total = sum(n for _, n, _ in parts)
    out, x = [], 0.0
    for name, count, colour in parts:
        if total and count:
            w = width * count / total
            out.append((name, count, colour, x, w, count / total))
            x += w
    return out


def share_bar(parts: Sequence[tuple[str, int, str]], width: int = 1080, height: int = 40) -> str:
    """One bar split by share: ``(name, count, colour)`` parts, the name and share inside wide segments."""
    body = [f'<rect x="0" y="0" width="{width}" height="{height}" rx="6" fill="#edf0f4"/>']
    for name, count, colour, x, w, share in _segments(parts, width):
        body.append(
            f'<rect x="{x:.2f}" y="0" width="{w:.2f}" height="{height}" fill="{colour}">'
            f"<title>{escape(name)}: {count:,} ({share:.1%})</title></rect>"
        )
        text = f"{name} {share:.1%}"
        if w > 9 * len(text):
            body.append(
                f'<text x="{x + 10:.2f}" y="{height / 2 + 5:.1f}" fill="#fff" font-size="14" '
                f'font-weight="600">{escape(text)}</text>'
            )
    return _svg(width, height, body, "label shares")


def histogram(
    counts: Sequence[int],
    colour: str,
    title: str,
    mark: float | None = None,
    start: float = 0.0,
    width: int = 340,
    height: int = 170,
) -> str:
    """Bars of notes per equal-width bin of a probability over [0, 1], drawn from ``start`` (bins below it
    are empty by construction: a label's probability is never below 1/labels); a dashed line at ``mark``."""
    left, right, top, bottom = 40, 12, 10, 26
    plot_w, plot_h = width - left - right, height - top - bottom
    n = max(len(counts), 1)
    first = min(int(start * n + 1e-9), n - 1)
    lo_edge = first / n
    ymax = nice_ceiling(max(counts, default=0))
    body = _y_grid(ymax, left, top, plot_w, plot_h)

    def x_at(p: float) -> float:
        return left + plot_w * (p - lo_edge) / (1 - lo_edge)

    step = x_at(1 / n) - x_at(0)
    for i, c in enumerate(counts[first:], start=first):
        if not c:
            continue
        h = plot_h * c / ymax
        body.append(
            f'<rect x="{x_at(i / n) + 1:.2f}" y="{top + plot_h - h:.2f}" width="{max(step - 2, 1):.2f}" '
            f'height="{h:.2f}" fill="{colour}"><title>{i / n:.2f}–{(i + 1) / n:.2f}: {c:,} notes</title></rect>'
        )
    if mark is not None and lo_edge < mark < 1:
        body.append(
            f'<line x1="{x_at(mark):.1f}" y1="{top}" x2="{x_at(mark):.1f}" y2="{top + plot_h}" stroke="#718096" '
            f'stroke-dasharray="3 3"><title>{_num(mark)}</title></line>'
        )
    ticks = [lo_edge] + [t / 10 for t in range(2, 11, 2) if t / 10 - lo_edge > 0.15]
    for tick in ticks:
        anchor = "start" if tick == lo_edge else "end" if tick == 1 else "middle"
        body.append(
            f'<line x1="{x_at(tick):.1f}" y1="{top + plot_h}" x2="{x_at(tick):.1f}" y2="{top + plot_h + 4}" '
            f'stroke="#a0aec0"/><text x="{x_at(tick):.1f}" y="{height - 6}" text-anchor="{anchor}" '
            f'class="tick">{_num(round(tick, 2))}</text>'
        )
    return _svg(width, height, body, title)


def _y_grid(ymax: float, left: int, top: int, plot_w: float, plot_h: float) -> list[str]:
    body = []
    for frac in (0, 0.5, 1):
        y = top + plot_h * (1 - frac)
        stroke = "#a0aec0" if frac == 0 else "#e2e8f0"
        body.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w:.1f}" y2="{y:.1f}" stroke="{stroke}"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">{_num(ymax * frac)}</text>'
        )
    return body


def line_chart(
    series: Sequence[tuple[str, str, Sequence[int]]],
    x_labels: Sequence[str],
    title: str,
    width: int = 1080,
    height: int = 200,
) -> str:
    """Lines of counts over time: ``(name, colour, values)`` series sharing ``x_labels``."""
    left, right, top, bottom = 48, 16, 12, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    n = len(x_labels)
    ymax = nice_ceiling(max((v for _, _, values in series for v in values), default=0))
    body = _y_grid(ymax, left, top, plot_w, plot_h)

    def x_at(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    ticks = sorted({round(i * (n - 1) / 5) for i in range(6)}) if n > 6 else list(range(n))
    for i in ticks:
        anchor = "start" if i == 0 and n > 1 else "end" if i == n - 1 and n > 1 else "middle"
        body.append(
            f'<line x1="{x_at(i):.1f}" y1="{top + plot_h}" x2="{x_at(i):.1f}" y2="{top + plot_h + 4}" '
            f'stroke="#a0aec0"/><text x="{x_at(i):.1f}" y="{height - 8}" text-anchor="{anchor}" '
            f'class="tick">{escape(x_labels[i])}</text>'
        )
    for name, colour, values in series:
        points = [(x_at(i), top + plot_h * (1 - v / ymax)) for i, v in enumerate(values)]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            body.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2" '
                f'stroke-linejoin="round"><title>{escape(name)}</title></polyline>'
            )
        if len(points) <= 40:
            for (x, y), v, label in zip(points, values, x_labels, strict=False):
                body.append(
                    f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}">'
                    f"<title>{escape(name)}, {escape(label)}: {v:,}</title></circle>"
                )
    return _svg(width, height, body, title)


def mini_bar(parts: Sequence[tuple[str, int, str]], width: int = 160, height: int = 12) -> str:
    """A small 100% bar for a table cell: ``(name, count, colour)`` parts."""
    body = [f'<rect width="{width}" height="{height}" rx="2" fill="#edf0f4"/>']
    for name, count, colour, x, w, _ in _segments(parts, width):
        body.append(
            f'<rect x="{x:.2f}" width="{w:.2f}" height="{height}" fill="{colour}">'
            f"<title>{escape(name)}: {count:,}</title></rect>"
        )
    return _svg(width, height, body, "labels")


def spark_bars(values: Sequence[int], colour: str, labels: Sequence[str], width: int = 180, height: int = 24) -> str:
    """A tiny column chart of counts over time for a table cell (one column per bucket)."""
    peak = max(values, default=0) or 1
    n = max(len(values), 1)
    step = width / n
    body = [f'<line x1="0" y1="{height - 0.5}" x2="{width}" y2="{height - 0.5}" stroke="#cbd5e0"/>']
    for i, (v, label) in enumerate(zip(values, labels, strict=False)):
        if not v:
            continue
        h = max((height - 2) * v / peak, 1.5)
        body.append(
            f'<rect x="{i * step + step * 0.1:.2f}" y="{height - 1 - h:.2f}" width="{max(step * 0.8, 0.8):.2f}" '
            f'height="{h:.2f}" fill="{colour}"><title>{escape(label)}: {v:,}</title></rect>'
        )
    return _svg(width, height, body, "over time")
