"""Sections on splits and sources: split sizes, leak checks, provenance, PII entities."""
from __future__ import annotations

from curate.report.data import ReportData
from curate.report.format import _by_count, _clip, _e, _empty, _figure, _num, _ordered, _pct, _stat, _table
from curate.report.style import (
    ENTITY_COLOUR, MUTED, OTHER, PROVENANCE_COLOURS, PROVENANCE_ORDER, SPLIT_COLOURS, SPLIT_ORDER, WIDTH
)
from curate.report.svg import _Svg, _hbars, _label_width


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
