"""The data card: ``report.html``, one self-contained page a person reads in a browser.

The report receives only numbers and names (:class:`ReportData`), never record
text, so it cannot leak a record. Plots are inline SVG written here: no scripts,
no external links, no plotting dependency, and a small file. The page is a pure
function of its input (no clock, no random ids, every mapping drawn in a fixed
order), so the same run renders byte-identical reports.
"""
from __future__ import annotations

import html
import math
import os
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from schemas.jsonl import write_bytes_atomic

SPLIT_ORDER = ("train", "val", "test")
PROVENANCE_ORDER = ("real", "synthetic", "mix")

# Colours are attributes on the SVG shapes (not CSS) so they survive printing and
# copying a plot out of the page. Chosen to stay apart in greyscale too.
KEPT, REJECTED = "#3b6ea8", "#e08a3c"
SPLIT_COLOURS = {"train": "#3b6ea8", "val": "#e08a3c", "test": "#4a9c5d"}
PROVENANCE_COLOURS = {"real": "#3b6ea8", "synthetic": "#b5589b", "mix": "#d8b23a"}
OTHER = "#8a8f98"
REASON_COLOUR, ENTITY_COLOUR, CLUSTER_COLOUR, PPL_COLOUR = "#c0603a", "#6d5fa8", "#4a9c5d", "#5a7fa8"
THRESHOLD_COLOUR = "#c0392b"
INK, GRID, MUTED = "#2b2f36", "#e3e6ea", "#6b7280"

WIDTH = 760  # every plot's viewBox width; CSS scales it down on narrow screens


@dataclass
class ReportData:
    """Everything the data card shows. Only ``title`` is required; an empty field renders a "not run" note.

    Leak checks count problems: ``0`` / ``False`` / ``"pass"`` / ``"ok"`` pass,
    a number above 0, ``True`` or ``"fail"`` fails, any other string (``"skipped"``)
    is shown as information.
    """

    title: str
    summary: dict[str, str | int | float] = field(default_factory=dict)
    funnel: list[tuple[str, int, int, int]] = field(default_factory=list)  # (step, n_in, n_kept, n_rejected)
    reasons: dict[str, int] = field(default_factory=dict)
    lengths: dict[str, list[int]] = field(default_factory=dict)
    cluster_sizes: dict[int, int] = field(default_factory=dict)  # cluster size -> number of clusters
    splits: dict[str, int] = field(default_factory=dict)
    split_groups: dict[str, int] = field(default_factory=dict)
    leak_checks: dict[str, int | bool | str] = field(default_factory=dict)
    entity_counts: dict[str, int] = field(default_factory=dict)
    perplexity: list[float] = field(default_factory=list)
    ppl_thresholds: tuple[float | None, float | None] = (None, None)  # (min, max) kept range
    provenance: dict[str, dict[str, int]] = field(default_factory=dict)  # split -> provenance -> count
    outputs: list[tuple[str, int, str]] = field(default_factory=list)  # (file, records, sha256)
    notes: list[str] = field(default_factory=list)
    selection: dict = field(default_factory=dict)  # expressions, on_missing, keep_meta, fields: {f: [(v, in, kept)]}
    # distinct_in, kept, retention, duplicates, removed_share_by_step (see curate.retention)
    retention: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # shown as a banner at the top


def funnel_from_reports(reports: Iterable) -> tuple[list[tuple[str, int, int, int]], dict[str, int]]:
    """``(funnel, reasons)`` from step reports in pipeline order (anything with ``step``, ``n_in``,
    ``n_kept``, ``n_rejected`` and a ``reasons`` mapping, e.g. :class:`curate.step.StepReport`)."""
    funnel, reasons = [], {}
    for r in reports:
        funnel.append((r.step, r.n_in, r.n_kept, r.n_rejected))
        for code, n in r.reasons.items():
            reasons[code] = reasons.get(code, 0) + n
    return funnel, reasons


def write_report(path: str | os.PathLike, data: ReportData) -> None:
    """Render ``data`` and write it to ``path`` atomically (temp file + rename)."""
    write_bytes_atomic(path, render_report(data).encode("utf-8"))


def render_report(data: ReportData) -> str:
    """The whole HTML document for ``data``: deterministic, self-contained, every string escaped."""
    from curate.report_select import section_selection

    sections = [
        _section_retention(data),
        _section_funnel(data),
        section_selection(data),
        _section_reasons(data),
        _section_lengths(data),
        _section_clusters(data),
        _section_splits(data),
        _section_leaks(data),
        _section_provenance(data),
        _section_entities(data),
        _section_perplexity(data),
        _section_outputs(data),
        _section_notes(data),
    ]
    nav = "".join(f'<a href="#{sid}">{_e(h)}</a>' for sid, h, _ in sections)
    body = "\n".join(f'<section id="{sid}">\n<h2>{_e(h)}</h2>\n{content}\n</section>' for sid, h, content in sections)
    title = _e(data.title)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{title}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<header>\n<h1>{title}</h1>\n{_banner(data)}{_headline(data)}\n{_summary_table(data)}\n</header>\n"
        f'<nav aria-label="sections">{nav}</nav>\n'
        f"<main>\n{body}\n</main>\n"
        '<footer>Data card written by curatekit. It holds counts and names only, never record text.</footer>\n'
        "</body>\n</html>\n"
    )


# ---------------------------------------------------------------- formatting

def _e(x: object) -> str:
    return html.escape(str(x), quote=True)


def _num(x: object) -> str:
    """An input value exactly as given: ints plain, floats as their shortest round-trip repr."""
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, float):
        return repr(x) if math.isfinite(x) else str(x)
    return str(x)


def _stat(x: float) -> str:
    """A derived statistic (mean, percentile), rounded for reading."""
    if not math.isfinite(x):
        return str(x)
    if float(x).is_integer() and abs(x) < 1e15:
        return str(int(x))
    if abs(x) >= 100:
        return f"{x:.1f}"
    return f"{x:.3g}"


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "–"


def _c(v: float) -> str:
    """An SVG coordinate: one decimal, no trailing ``.0``."""
    s = f"{v:.1f}"
    if s.endswith(".0"):
        s = s[:-2]
    return "0" if s == "-0" else s


def _tick_label(v: float) -> str:
    if abs(v) >= 1e6 or (v and abs(v) < 1e-3):
        return f"{v:.3g}"
    if float(v).is_integer():
        return str(int(v))
    return f"{v:.6g}"


def _clip(label: str, n: int) -> str:
    return label if len(label) <= n else label[: n - 1] + "…"


def _ordered(keys: Iterable[str], first: Sequence[str]) -> list[str]:
    """``first`` in its order (where present), then the rest sorted."""
    keys = set(keys)
    return [k for k in first if k in keys] + sorted((k for k in keys if k not in first), key=str)


def _by_count(d: dict) -> list[tuple[str, int]]:
    return sorted(d.items(), key=lambda kv: (-kv[1], str(kv[0])))


def _quantile(sorted_xs: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), on a sorted list."""
    pos = (len(sorted_xs) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_xs) - 1)
    return sorted_xs[lo] + (sorted_xs[hi] - sorted_xs[lo]) * (pos - lo)


def _nice_step(raw: float) -> float:
    if raw <= 0 or not math.isfinite(raw):
        return 1.0
    exp = math.floor(math.log10(raw))
    f = raw / 10 ** exp
    nice = 1 if f <= 1 else 2 if f <= 2 else 5 if f <= 5 else 10
    return nice * 10.0 ** exp


def _axis_top(vmax: float, n: int = 4) -> tuple[float, list[float]]:
    """A round upper bound for a count axis from 0, and its ticks."""
    step = max(1.0, _nice_step(max(vmax, 1) / n))
    top = step * math.ceil(max(vmax, 1) / step)
    return top, [step * i for i in range(int(round(top / step)) + 1)]


def _empty(what: str) -> str:
    return f'<p class="empty">Not run: {what}</p>'


def _table(head: Sequence[str], rows: Iterable[Sequence[str]], numeric: Sequence[bool],
           foot: Sequence[str] | None = None, row_classes: Sequence[str] | None = None) -> str:
    """A table from already-escaped cells; ``numeric`` right-aligns a column."""
    def cls(i: int) -> str:
        return ' class="n"' if numeric[i] else ""
    out = ["<table>", "<thead><tr>" + "".join(f"<th{cls(i)}>{h}</th>" for i, h in enumerate(head)) + "</tr></thead>",
           "<tbody>"]
    for j, row in enumerate(rows):
        rc = f' class="{row_classes[j]}"' if row_classes and row_classes[j] else ""
        out.append(f"<tr{rc}>" + "".join(f"<td{cls(i)}>{c}</td>" for i, c in enumerate(row)) + "</tr>")
    out.append("</tbody>")
    if foot:
        out.append("<tfoot><tr>" + "".join(f"<td{cls(i)}>{c}</td>" for i, c in enumerate(foot)) + "</tr></tfoot>")
    out.append("</table>")
    return "\n".join(out)


def _figure(svg: str, caption: str) -> str:
    return f"<figure>\n{svg}\n<figcaption>{caption}</figcaption>\n</figure>"


# ---------------------------------------------------------------- SVG

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


# ---------------------------------------------------------------- header

def _headline(d: ReportData) -> str:
    chips = []
    if d.funnel:
        n_in, n_out = d.funnel[0][1], d.funnel[-1][2]
        chips.append(f'<span class="chip">{_e(n_out)} of {_e(n_in)} records kept ({_pct(n_out, n_in)})</span>')
    if d.leak_checks:
        states = [_leak_state(v) for v in d.leak_checks.values()]
        failed = states.count("fail")
        if failed:
            chips.append(f'<span class="badge fail">{failed} of {len(states)} leak checks failed</span>')
        else:
            chips.append(f'<span class="badge pass">leak checks: {states.count("pass")} passed</span>')
    else:
        chips.append('<span class="badge info">leak checks: not run</span>')
    if any(d.funnel[i][1] != d.funnel[i][2] + d.funnel[i][3] for i in range(len(d.funnel))):
        chips.append('<span class="badge fail">a step does not add up: in ≠ kept + rejected</span>')
    return f'<p class="headline">{" ".join(chips)}</p>'


def _banner(d: ReportData) -> str:
    if not d.warnings:
        return ""
    items = "".join(f"<li>{_e(w)}</li>" for w in d.warnings)
    return f'<div class="banner" role="alert"><strong>Warning</strong><ul>{items}</ul></div>\n'


def _summary_table(d: ReportData) -> str:
    if not d.summary:
        return ""
    rows = "\n".join(f"<tr><th>{_e(k)}</th><td>{_e(_num(v))}</td></tr>" for k, v in d.summary.items())
    return f'<table class="summary">\n<tbody>\n{rows}\n</tbody>\n</table>'


# ---------------------------------------------------------------- sections

def _section_retention(d: ReportData) -> tuple[str, str, str]:
    sid, head = "retention", "Retention"
    r = d.retention
    if not r:
        return sid, head, _empty("no retention figures were passed.")
    distinct, kept = r.get("distinct_in", 0), r.get("kept", 0)
    removed = r.get("removed_share_by_step", {})
    rows = [[_e(step), f"{_e(round(share * distinct))} ({_pct(share * distinct, distinct)})"]
            for step, share in removed.items()]
    table = _table(["step", "distinct conversations removed"], rows, [False, True],
                   foot=["kept", f"{_e(kept)} ({_pct(kept, distinct)})"])
    text = (f'<p class="caption">{_e(kept)} of {_e(distinct)} distinct conversations kept ({_pct(kept, distinct)}). '
            f'Distinct = records in ({_e(r.get("records_in", 0))}) less duplicates ({_e(r.get("duplicates", 0))}), '
            'which are kept once and are no loss; mixed-in general records are not counted.</p>')
    return sid, head, text + "\n" + table


def _section_funnel(d: ReportData) -> tuple[str, str, str]:
    sid, head = "funnel", "Records per step"
    if not d.funnel:
        return sid, head, _empty("no pipeline steps were reported.")
    margin, cap = _label_width(s for s, *_ in d.funnel)
    right, bar_h, gap, top = 150, 20, 8, 26
    plot_w = WIDTH - margin - right
    vmax = max(max(n_in, k + r) for _, n_in, k, r in d.funnel) or 1
    svg = _Svg(top + len(d.funnel) * (bar_h + gap) + 2, "Records in, kept and rejected per step")
    svg.legend(margin, 12, [("kept", KEPT), ("rejected", REJECTED)])
    for i, (step, n_in, kept, rej) in enumerate(d.funnel):
        y = top + i * (bar_h + gap)
        wk, wr = plot_w * kept / vmax, plot_w * rej / vmax
        svg.text(margin - 8, y + 14, _clip(str(step), cap), anchor="end")
        svg.rect(margin, y, wk, bar_h, KEPT, tip=f"{step}: {kept} kept")
        svg.rect(margin + wk, y, wr, bar_h, REJECTED, tip=f"{step}: {rej} rejected")
        svg.text(margin + wk + wr + 6, y + 14, f"{kept} / {n_in}", fill=MUTED)
    rows, classes = [], []
    for step, n_in, kept, rej in d.funnel:
        ok = n_in == kept + rej
        rows.append([_e(step), _e(n_in), _e(kept), _e(rej), _pct(rej, n_in),
                     "" if ok else '<span class="badge fail">in ≠ kept + rejected</span>'])
        classes.append("" if ok else "bad")
    first_in, last_kept = d.funnel[0][1], d.funnel[-1][2]
    total_rej = sum(r for *_, r in d.funnel)
    table = _table(["step", "in", "kept", "rejected", "rejected %", "check"], rows,
                   [False, True, True, True, True, False],
                   foot=["all steps", _e(first_in), _e(last_kept), _e(total_rej), _pct(total_rej, first_in), ""],
                   row_classes=classes)
    cap_txt = "Each bar is one step's input: kept (left) and rejected (right), in pipeline order."
    return sid, head, _figure(svg.render(), cap_txt) + "\n" + table


def _section_reasons(d: ReportData) -> tuple[str, str, str]:
    sid, head = "reasons", "Reject reasons"
    if not d.reasons:
        return sid, head, '<p class="empty">Nothing to show: no records were rejected, or no reject counts were passed.</p>'
    items = _by_count(d.reasons)
    total = sum(n for _, n in items)
    svg = _hbars("Rejected records by reason", [(str(k), n, REASON_COLOUR) for k, n in items],
                 [f"{n} ({_pct(n, total)})" for _, n in items])
    rows = [[_e(str(k).split(".", 1)[0]), f"<code>{_e(k)}</code>", _e(n), _pct(n, total)] for k, n in items]
    table = _table(["step", "reason", "records", "share"], rows, [False, False, True, True],
                   foot=["", "total", _e(total), "100.0%" if total else "–"])
    note = ""
    funnel_rej = sum(r for *_, r in d.funnel)
    if d.funnel and funnel_rej != total:
        note = (f'\n<p class="warn">Reason counts add up to {_e(total)}; the steps report '
                f'{_e(funnel_rej)} rejected records.</p>')
    return sid, head, _figure(svg, "Rejected records per reason code, most frequent first.") + "\n" + table + note


def _section_lengths(d: ReportData) -> tuple[str, str, str]:
    sid, head = "lengths", "Record lengths per split"
    splits = _ordered(d.lengths, SPLIT_ORDER)
    lengths = {s: [v for v in d.lengths[s] if v is not None] for s in splits}
    values = [v for s in splits for v in lengths[s]]
    if not values:
        return sid, head, _empty("no record lengths were passed.")
    ordered = sorted(values)
    lo, vmax = ordered[0], ordered[-1]
    # A few very long records would squash every bar into the first bins: cut the axis
    # at the 99th percentile and let the last bar hold the longer ones (said in the caption).
    p99 = _quantile(ordered, 0.99)
    hi = p99 if vmax > 1.25 * p99 > 0 else vmax
    start = 0.0 if lo >= 0 else float(lo)
    width = _nice_step((hi - start) / 30) if hi > start else 1.0
    if all(float(v).is_integer() for v in values[:1000]):
        width = max(1.0, math.ceil(width))
    n_bins = max(1, math.ceil((hi - start) / width + 1e-9))
    if start + n_bins * width <= hi:
        n_bins += 1
    edges = [start + i * width for i in range(n_bins + 1)]
    panels = [(s, _counts(lengths[s], edges), SPLIT_COLOURS.get(s, OTHER)) for s in splits]
    step = _nice_step((edges[-1] - edges[0]) / 8)
    ticks = [(t, _tick_label(t)) for t in (edges[0] + i * step for i in range(int((edges[-1] - edges[0]) / step) + 1))]
    names = [f"{_tick_label(edges[i])}–{_tick_label(edges[i + 1])}" for i in range(n_bins)]
    svg = _histogram("Histogram of record lengths per split", edges, panels, ticks, "length (words)",
                     bin_names=names)
    over = sum(1 for v in values if v > edges[-1])
    caption = (f"Records per length bin (words in all turns; bin width {_tick_label(width)} words); each panel has "
               "its own count scale.")
    if over:
        caption += f" The last bar also holds {over} records longer than {_tick_label(edges[-1])} (longest {_e(vmax)})."
    rows = []
    for s in splits:
        xs = sorted(lengths[s])
        if xs:
            rows.append([_e(s), _e(len(xs)), _e(xs[0]), _stat(_quantile(xs, 0.05)), _stat(_quantile(xs, 0.5)),
                         _stat(sum(xs) / len(xs)), _stat(_quantile(xs, 0.95)), _e(xs[-1])])
        else:
            rows.append([_e(s), "0", "–", "–", "–", "–", "–", "–"])
    table = _table(["split", "records", "min", "p5", "median", "mean", "p95", "max"], rows,
                   [False] + [True] * 7)
    return sid, head, _figure(svg, caption) + "\n" + table


def _section_clusters(d: ReportData) -> tuple[str, str, str]:
    sid, head = "clusters", "Near-duplicate clusters"
    everything = sorted((int(k), int(v)) for k, v in d.cluster_sizes.items() if k is not None)
    if not everything:
        return sid, head, _empty("near-dedup did not run or found no clusters.")
    table = _table(["cluster size", "clusters", "records in them"],
                   [[_e(size), _e(n), _e(size * n)] for size, n in everything], [True, True, True],
                   foot=["total", _e(sum(n for _, n in everything)), _e(sum(s * n for s, n in everything))])
    # Size 1 is a record with no near-duplicate; drawn, it would dwarf every real cluster.
    items = [(size, n) for size, n in everything if size >= 2]
    if not items:
        return sid, head, '<p class="caption">No near-duplicate clusters: every record stands alone.</p>\n' + table
    left, right, top, bottom = 64, 16, 18, 40
    plot_w, plot_h = WIDTH - left - right, 160
    ymax, yticks = _axis_top(max(v for _, v in items))
    svg = _Svg(top + plot_h + bottom, "Number of near-duplicate clusters by cluster size")
    base = top + plot_h
    for t in yticks:
        y = base - plot_h * t / ymax
        svg.line(left, y, left + plot_w, y)
        svg.text(left - 6, y + 4, _tick_label(t), anchor="end", size=10, fill=MUTED)
    slot = plot_w / len(items)
    every = max(1, math.ceil(len(items) / 30))  # keep x labels from overlapping
    for i, (size, n) in enumerate(items):
        h = max(plot_h * n / ymax, 1.0)
        x = left + i * slot
        svg.rect(x + slot * 0.12, base - h, slot * 0.76, h, CLUSTER_COLOUR, tip=f"size {size}: {n} clusters")
        if slot >= 6.5 * len(str(n)) + 4:  # counts over the bars, where they fit
            svg.text(x + slot / 2, base - h - 4, str(n), anchor="middle", size=10, fill=MUTED)
        if i % every == 0 or i == len(items) - 1:
            svg.text(x + slot / 2, base + 14, str(size), anchor="middle", size=10, fill=MUTED)
    svg.line(left, base, left + plot_w, base, stroke=INK)
    svg.text(left + plot_w / 2, base + 32, "cluster size (records)", anchor="middle", fill=MUTED)
    svg.text(4, top + plot_h / 2, "clusters", anchor="start", size=10, fill=MUTED)
    caption = "How many near-duplicate clusters have each size (2 or more records)."
    if len(items) < len(everything):
        caption += " Size 1 (records with no near-duplicate) is in the table only."
    return sid, head, _figure(svg.render(), caption) + "\n" + table


def _section_splits(d: ReportData) -> tuple[str, str, str]:
    sid, head = "splits", "Split sizes"
    names = _ordered(set(d.splits) | set(d.split_groups), SPLIT_ORDER)
    if not names:
        return sid, head, _empty("no split was made.")
    total = sum(d.splits.values())
    rows_svg = [(s, d.splits.get(s, 0), SPLIT_COLOURS.get(s, OTHER)) for s in names]
    texts = [f"{d.splits.get(s, 0)} ({_pct(d.splits.get(s, 0), total)})" for s in names]
    svg = _hbars("Records per split", rows_svg, texts)
    rows = []
    for s in names:
        n, g = d.splits.get(s), d.split_groups.get(s)
        per = _stat(n / g) if n is not None and g else "–"
        rows.append([_e(s), "–" if n is None else _e(n), _pct(n or 0, total), "–" if g is None else _e(g), per])
    foot = ["total", _e(total), "100.0%" if total else "–",
            _e(sum(d.split_groups.values())) if d.split_groups else "–", ""]
    table = _table(["split", "records", "share", "groups", "records / group"], rows,
                   [False, True, True, True, True], foot=foot)
    return sid, head, _figure(svg, "Records per split; groups never cross splits.") + "\n" + table


def _leak_state(v: object) -> str:
    if isinstance(v, (bool, int, float)):
        return "pass" if v == 0 else "fail"
    s = str(v).strip().lower()
    if s in {"pass", "passed", "ok", "0", "false", "none"}:
        return "pass"
    if s in {"fail", "failed", "true"} or (s.isdigit() and int(s) > 0):
        return "fail"
    return "info"


def _section_leaks(d: ReportData) -> tuple[str, str, str]:
    sid, head = "leaks", "Leak checks"
    if not d.leak_checks:
        return sid, head, _empty("no leak checks were reported.")
    rows, classes = [], []
    for name, v in d.leak_checks.items():
        state = _leak_state(v)
        rows.append([_e(name), _e(_num(v)), f'<span class="badge {state}">{state.upper()}</span>'])
        classes.append("bad" if state == "fail" else "")
    table = _table(["check", "value", "result"], rows, [False, False, False], row_classes=classes)
    return sid, head, '<p class="caption">0 means the check found nothing: pass.</p>\n' + table


def _section_provenance(d: ReportData) -> tuple[str, str, str]:
    sid, head = "provenance", "Real and synthetic records per split"
    splits = _ordered(d.provenance, SPLIT_ORDER)
    kinds = _ordered({k for s in splits for k in d.provenance[s]}, PROVENANCE_ORDER)
    if not splits or not kinds:
        return sid, head, _empty("no provenance counts were passed.")
    margin = _label_width(splits)[0]
    right, bar_h, gap, top = 70, 20, 8, 26
    plot_w = WIDTH - margin - right
    colours = {k: PROVENANCE_COLOURS.get(k, OTHER) for k in kinds}
    svg = _Svg(top + len(splits) * (bar_h + gap) + 2, "Share of real, synthetic and mixed records per split")
    svg.legend(margin, 12, [(k, colours[k]) for k in kinds])
    for i, s in enumerate(splits):
        y = top + i * (bar_h + gap)
        total = sum(d.provenance[s].values())
        svg.text(margin - 8, y + 14, _clip(s, 34), anchor="end")
        x = margin
        for k in kinds:
            n = d.provenance[s].get(k, 0)
            w = plot_w * n / total if total else 0
            svg.rect(x, y, w, bar_h, colours[k], tip=f"{s} {k}: {n} ({_pct(n, total)})")
            x += w
        svg.text(margin + plot_w + 6, y + 14, str(total), fill=MUTED)
    rows = []
    for s in splits:
        total = sum(d.provenance[s].values())
        rows.append([_e(s)] + [_e(d.provenance[s].get(k, 0)) for k in kinds] + [_e(total)]
                    + [_pct(d.provenance[s].get("synthetic", 0), total)])
    table = _table(["split"] + [_e(k) for k in kinds] + ["total", "synthetic %"], rows,
                   [False] + [True] * (len(kinds) + 2))
    return sid, head, _figure(svg.render(), "Share of each provenance within a split (bar = 100%).") + "\n" + table


def _section_entities(d: ReportData) -> tuple[str, str, str]:
    sid, head = "entities", "PII entities found"
    if not d.entity_counts:
        return sid, head, _empty("the PII step was off, or it reported no entity counts.")
    items = _by_count(d.entity_counts)
    total = sum(n for _, n in items)
    svg = _hbars("PII entities by type", [(str(k), n, ENTITY_COLOUR) for k, n in items])
    rows = [[_e(k), _e(n), _pct(n, total)] for k, n in items]
    table = _table(["entity type", "found", "share"], rows, [False, True, True],
                   foot=["total", _e(total), "100.0%" if total else "–"])
    return sid, head, _figure(svg, "Entities detected (and redacted) by type.") + "\n" + table


def _section_perplexity(d: ReportData) -> tuple[str, str, str]:
    sid, head = "perplexity", "Perplexity"
    good = sorted(v for v in d.perplexity if v is not None and math.isfinite(v) and v > 0)
    dropped = len(d.perplexity) - len(good)
    if not good:
        extra = f" ({dropped} values were not finite or not positive)" if dropped else ""
        return sid, head, _empty(f"no perplexity scores were passed{_e(extra)}.")
    lo_t, hi_t = d.ppl_thresholds if d.ppl_thresholds else (None, None)
    points = [math.log10(v) for v in (good[0], good[-1])]
    points += [math.log10(t) for t in (lo_t, hi_t) if t is not None and t > 0]
    a, b = min(points), max(points)
    if b - a < 0.2:  # one value, or nearly: give the axis some room
        a, b = a - 0.1, b + 0.1
    pad = (b - a) * 0.02
    a, b = a - pad, b + pad
    n_bins = 40
    edges = [a + (b - a) * i / n_bins for i in range(n_bins + 1)]
    counts = _counts((math.log10(v) for v in good), edges)
    names = [f"{_stat(10 ** edges[i])}–{_stat(10 ** edges[i + 1])}" for i in range(n_bins)]
    svg = _histogram("Histogram of perplexity, log scale", edges, [("", counts, PPL_COLOUR)],
                     _log_ticks(a, b), "perplexity (log scale)",
                     markers=[(math.log10(t), f"{name} {_num(t)}") for name, t in (("min", lo_t), ("max", hi_t))
                              if t is not None and t > 0],
                     panel_h=160, bin_names=names)
    rows = [["records scored", _e(len(d.perplexity))]]
    if dropped:
        rows.append(["missing, not finite or ≤ 0 (not plotted)", _e(dropped)])
    for name, q in (("min", 0.0), ("p5", 0.05), ("median", 0.5), ("p95", 0.95), ("max", 1.0)):
        rows.append([name, _stat(_quantile(good, q))])
    rows.append(["min threshold", "none" if lo_t is None else _e(_num(lo_t))])
    rows.append(["max threshold", "none" if hi_t is None else _e(_num(hi_t))])
    if lo_t is not None:
        rows.append([f"below min threshold (&lt; {_e(_num(lo_t))})", _e(sum(1 for v in good if v < lo_t))])
    if hi_t is not None:
        rows.append([f"above max threshold (&gt; {_e(_num(hi_t))})", _e(sum(1 for v in good if v > hi_t))])
    table = _table(["", "value"], rows, [False, True])
    caption = "Records per perplexity bin; bins are equal on a log scale."
    if any(t is not None and t > 0 for t in (lo_t, hi_t)):
        caption += " Dashed lines: the filter's thresholds."
    return sid, head, _figure(svg, caption) + "\n" + table


def _log_ticks(a: float, b: float) -> list[tuple[float, str]]:
    """Ticks for a log10 axis from ``a`` to ``b``: powers of ten, plus 2 and 5 when the range is short."""
    decades = range(math.floor(a), math.ceil(b) + 1)
    mults = (1,) if b - a > 3 else (1, 2, 5)
    ticks = [(math.log10(m) + k, m * 10.0 ** k) for k in decades for m in mults]
    ticks = [(x, v) for x, v in ticks if a <= x <= b]
    if len(ticks) < 2:  # under a factor of two: linear ticks read better
        step = _nice_step((10 ** b - 10 ** a) / 5)
        first = math.ceil(10 ** a / step) * step
        vals = [first + i * step for i in range(int((10 ** b - first) / step) + 1)]
        ticks = [(math.log10(v), v) for v in vals if v > 0]
    return [(x, _tick_label(float(f"{v:.6g}"))) for x, v in ticks]


def _section_outputs(d: ReportData) -> tuple[str, str, str]:
    sid, head = "outputs", "Output files"
    if not d.outputs:
        return sid, head, _empty("no output files were written.")
    rows = [[f"<code>{_e(f)}</code>", _e(n), f'<code class="hash">{_e(h)}</code>'] for f, n, h in d.outputs]
    table = _table(["file", "records", "sha256"], rows, [False, True, False],
                   foot=["total", _e(sum(n for _, n, _ in d.outputs)), ""])
    return sid, head, table


def _section_notes(d: ReportData) -> tuple[str, str, str]:
    sid, head = "notes", "Notes"
    if not d.notes:
        return sid, head, '<p class="empty">No notes.</p>'
    return sid, head, "<ul>\n" + "\n".join(f"<li>{_e(n)}</li>" for n in d.notes) + "\n</ul>"


_CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 960px; padding: 24px 28px 48px; color: #2b2f36; background: #fff;
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
  -webkit-print-color-adjust: exact; print-color-adjust: exact; }
h1 { font-size: 26px; margin: 0 0 8px; overflow-wrap: anywhere; }
h2 { font-size: 18px; margin: 0 0 10px; padding-bottom: 4px; border-bottom: 2px solid #e3e6ea; }
header { margin-bottom: 12px; }
nav { display: flex; flex-wrap: wrap; gap: 4px 14px; margin: 12px 0 20px; font-size: 13px; }
nav a { color: #3b6ea8; text-decoration: none; }
nav a:hover { text-decoration: underline; }
section { margin: 0 0 32px; }
figure { margin: 0 0 10px; }
figure svg { display: block; max-width: 100%; height: auto; }
figcaption, .caption { color: #6b7280; font-size: 12.5px; margin: 4px 0 8px; }
table { border-collapse: collapse; margin: 6px 0; font-size: 13px; min-width: 50%; }
th, td { padding: 3px 10px; border-bottom: 1px solid #e3e6ea; text-align: left; vertical-align: top; }
thead th { border-bottom: 2px solid #c9ced6; font-weight: 600; }
tfoot td { border-top: 2px solid #c9ced6; border-bottom: none; font-weight: 600; }
.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.summary th { font-weight: 600; color: #4b5260; white-space: nowrap; }
table.summary td { overflow-wrap: anywhere; }
code { font: 12.5px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; overflow-wrap: anywhere; }
code.hash { font-size: 11.5px; color: #4b5260; word-break: break-all; }
tr.bad td { background: #fdf0ee; }
.headline { margin: 4px 0 12px; }
.chip, .badge { display: inline-block; padding: 2px 9px; border-radius: 10px; font-size: 12.5px; margin-right: 6px;
  border: 1px solid transparent; }
.chip { background: #eef2f7; border-color: #d5dce6; }
.badge { font-weight: 600; letter-spacing: .02em; }
.badge.pass { background: #e6f4ea; color: #1e6b34; border-color: #a9d8b6; }
.badge.fail { background: #fbe7e4; color: #9b2418; border-color: #eaa89f; }
.badge.info { background: #eef0f3; color: #4b5260; border-color: #cfd4db; }
.empty { color: #6b7280; font-style: italic; }
.warn { color: #9b2418; }
.banner { border: 2px solid #9b2418; background: #fdf1ef; color: #9b2418; padding: 6px 12px; margin: 8px 0; }
footer { margin-top: 36px; color: #6b7280; font-size: 12px; border-top: 1px solid #e3e6ea; padding-top: 8px; }
@media (max-width: 640px) {  /* phones: wide tables and charts scroll sideways instead of clipping */
  body { padding: 16px 12px 32px; }
  table { display: block; max-width: 100%; overflow-x: auto; }
  th, td { padding: 3px 6px; }
  figure { overflow-x: auto; }
  figure svg { min-width: 600px; }
}
@page { margin: 14mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 11pt; }
  nav { display: none; }
  section, figure, table { break-inside: avoid; }
  h2 { break-after: avoid; }
  a { color: inherit; text-decoration: none; }
}
"""
