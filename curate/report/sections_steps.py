"""Sections on what the steps did: retention, records per step, reject reasons, outputs, notes."""
from __future__ import annotations

from curate.report.data import ReportData
from curate.report.format import _by_count, _clip, _e, _empty, _figure, _pct, _table
from curate.report.style import KEPT, MUTED, REASON_COLOUR, REJECTED, WIDTH
from curate.report.svg import _Svg, _hbars, _label_width


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
