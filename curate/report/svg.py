"""The inline-SVG kit: horizontal bars and histograms, no plotting dependency."""
from __future__ import annotations

from typing import Iterable, Sequence

from curate.report.format import _axis_top, _c, _clip, _e, _tick_label
from curate.report.style import GRID, INK, MUTED, THRESHOLD_COLOUR, WIDTH


class _Svg:
    """A tiny SVG writer: shapes in user units, every string escaped."""

    def __init__(self, height: float, label: str, width: float = WIDTH):
        self.width, self.height, self.label = width, height, label
        self.parts: list[str] = []

    def rect(self, x: float, y: float, w: float, h: float, fill: str, tip: str | None = None) -> None:
        attrs = f'x="{_c(x)}" y="{_c(y)}" width="{_c(max(w, 0))}" height="{_c(max(h, 0))}" fill="{fill}"'
        self.parts.append(f"<rect {attrs}><title>{_e(tip)}</title></rect>" if tip else f"<rect {attrs}/>")

    def line(self, x1: float, y1: float, x2: float, y2: float, stroke: str = GRID, width: float = 1,
             dash: str | None = None) -> None:
        d = f' stroke-dasharray="{dash}"' if dash else ""
        self.parts.append(f'<line x1="{_c(x1)}" y1="{_c(y1)}" x2="{_c(x2)}" y2="{_c(y2)}" stroke="{stroke}" '
                          f'stroke-width="{_c(width)}"{d}/>')

    def text(self, x: float, y: float, s: str, anchor: str = "start", size: float = 11, fill: str = INK,
             bold: bool = False) -> None:
        b = ' font-weight="600"' if bold else ""
        self.parts.append(f'<text x="{_c(x)}" y="{_c(y)}" text-anchor="{anchor}" font-size="{_c(size)}" '
                          f'fill="{fill}"{b}>{_e(s)}</text>')

    def legend(self, x: float, y: float, items: Sequence[tuple[str, str]]) -> None:
        for name, colour in items:
            self.rect(x, y - 9, 10, 10, colour)
            self.text(x + 14, y, name)
            x += 24 + 6.5 * len(name)

    def render(self) -> str:
        return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_c(self.width)} {_c(self.height)}" '
                f'width="{_c(self.width)}" height="{_c(self.height)}" role="img" aria-label="{_e(self.label)}" '
                f'font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif">'
                f"<title>{_e(self.label)}</title>" + "".join(self.parts) + "</svg>")


def _label_width(labels: Iterable[str], cap: int = 34) -> tuple[float, int]:
    """Left margin for bar labels at 11px (capitals, digits and '_' about 7.4 units, other characters
    6.2), and the clip length."""
    wide = [sum(7.4 if c.isupper() or c.isdigit() or c == "_" else 6.2 for c in s[:cap]) for s in labels]
    return 12 + max(wide, default=6.2 * 4), cap


def _hbars(label: str, rows: Sequence[tuple[str, int, str]], value_text: Sequence[str] | None = None) -> str:
    """Horizontal bars, one per row ``(name, value, colour)``, in the given order."""
    margin, cap = _label_width(r[0] for r in rows)
    right = 130
    bar_h, gap, top = 18, 6, 8
    plot_w = WIDTH - margin - right
    vmax = max((r[1] for r in rows), default=0) or 1
    svg = _Svg(top + len(rows) * (bar_h + gap) + 4, label)
    for i, (name, value, colour) in enumerate(rows):
        y = top + i * (bar_h + gap)
        w = plot_w * value / vmax
        svg.text(margin - 8, y + 13, _clip(name, cap), anchor="end")
        svg.rect(margin, y, w, bar_h, colour, tip=f"{name}: {value}")
        svg.text(margin + w + 6, y + 13, value_text[i] if value_text else str(value), fill=MUTED)
    svg.line(margin, top - 4, margin, top + len(rows) * (bar_h + gap) - gap + 4, stroke=INK)
    return svg.render()


def _histogram(label: str, edges: Sequence[float], panels: Sequence[tuple[str, list[int], str]],
               ticks: Sequence[tuple[float, str]], x_title: str,
               markers: Sequence[tuple[float, str]] = (), panel_h: float = 80,
               bin_names: Sequence[str] | None = None) -> str:
    """Small multiples of histograms over shared ``edges`` (in axis units, e.g. log10), one panel per
    ``(name, counts, colour)``, each with its own count scale; ``markers`` are vertical threshold lines;
    ``bin_names`` label the bins in the hover tips."""
    left, right, top, gap, bottom = 64, 16, 20 if markers else 8, 26, 40
    plot_w = WIDTH - left - right
    lo, hi = edges[0], edges[-1]
    span = (hi - lo) or 1.0

    def x_of(v: float) -> float:
        return left + plot_w * (v - lo) / span

    height = top + len(panels) * panel_h + (len(panels) - 1) * gap + bottom
    svg = _Svg(height, label)
    for p, (name, counts, colour) in enumerate(panels):
        y0 = top + p * (panel_h + gap)
        base = y0 + panel_h
        ymax, yticks = _axis_top(max(counts, default=0), 2)
        for t in yticks:
            y = base - panel_h * t / ymax
            svg.line(left, y, left + plot_w, y)
            svg.text(left - 6, y + 4, _tick_label(t), anchor="end", size=10, fill=MUTED)
        for i, n in enumerate(counts):
            if n:
                x1, x2 = x_of(edges[i]), x_of(edges[i + 1])
                h = max(panel_h * n / ymax, 1.0)  # a bin holding one record stays visible
                where = f" {bin_names[i]}" if bin_names else ""
                svg.rect(x1, base - h, max(x2 - x1 - 0.6, 0.6), h, colour, tip=f"{name}{where}: {n}".strip())
        if len(panels) > 1 or name:
            svg.text(left + plot_w - 4, y0 + 11, name, anchor="end", bold=True)
        svg.line(left, base, left + plot_w, base, stroke=INK)
    last_base = top + len(panels) * panel_h + (len(panels) - 1) * gap
    for v, t in ticks:
        x = x_of(v)
        svg.line(x, last_base, x, last_base + 4, stroke=INK)
        svg.text(x, last_base + 16, t, anchor="middle", size=10, fill=MUTED)
    svg.text(left + plot_w / 2, height - 6, x_title, anchor="middle", size=11, fill=MUTED)
    for v, t in markers:
        x = x_of(v)
        svg.line(x, top - 4, x, last_base, stroke=THRESHOLD_COLOUR, width=1.5, dash="5 3")
        half = 2.9 * len(t)  # keep the label inside the plot near either edge
        anchor = "end" if x + half > WIDTH - 2 else "start" if x - half < 2 else "middle"
        svg.text(x, top - 8, t, anchor=anchor, size=10, fill=THRESHOLD_COLOUR)
    svg.text(4, top + (last_base - top) / 2, "records", anchor="start", size=10, fill=MUTED)
    return svg.render()


def _counts(values: Iterable[float], edges: Sequence[float]) -> list[int]:
    """Counts per bin; bins are ``[e_i, e_i+1)``, the last one closed; values outside go to the end bins."""
    n_bins = len(edges) - 1
    lo, width = edges[0], (edges[-1] - edges[0]) / n_bins
    out = [0] * n_bins
    for v in values:
        i = int((v - lo) // width) if width else 0
        out[min(max(i, 0), n_bins - 1)] += 1
    return out
