"""Sections on the kept corpus: lengths, near-duplicate clusters, perplexity."""
from __future__ import annotations

import math

from curate.report.data import ReportData
from curate.report.format import (
    _axis_top, _e, _empty, _figure, _nice_step, _num, _ordered, _quantile, _stat, _table, _tick_label
)
from curate.report.style import CLUSTER_COLOUR, INK, MUTED, OTHER, PPL_COLOUR, SPLIT_COLOURS, SPLIT_ORDER, WIDTH
from curate.report.svg import _Svg, _counts, _histogram


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
