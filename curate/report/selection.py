"""The data card's selection section: the expression(s) and, for each field they use, records per
value before and after the select step (from the step's stats; string values PII-scrubbed there)."""
from __future__ import annotations

from curate.report.data import ReportData
from curate.report.format import _e, _pct, _table


def section_selection(d: ReportData) -> tuple[str, str, str]:
    sid, head = "selection", "Selection by metadata"
    sel = d.selection or {}
    exprs = sel.get("expressions") or []
    kept_meta = sel.get("keep_meta") or []
    if not exprs:
        note = f" Kept metadata fields in the exported rows: {_e(', '.join(kept_meta))}." if kept_meta else ""
        return sid, head, ('<p class="empty">No selection: no --select expression (select.expression / '
                           f'select.sources), so no record was tested.{note}</p>')
    parts = ["<ul>" + "".join(f"<li>{_e(where)}: <code>{_e(x)}</code></li>" for where, x in exprs) + "</ul>",
             f'<p class="caption">Records lacking a field the expression uses: '
             f'{"rejected (select.missing_field)" if sel.get("on_missing", "reject") == "reject" else "kept"}.'
             + (f" Kept metadata fields in the exported rows: {_e(', '.join(kept_meta))}." if kept_meta else "")
             + "</p>"]
    for field, rows in (sel.get("fields") or {}).items():
        total_in = sum(a for _, a, _ in rows)
        body = [[_e(v), _e(a), _e(b), _pct(b, a)] for v, a, b in rows]
        parts.append(f"<h3>{_e(field)}</h3>")
        parts.append(_table(["value", "before select", "after select", "kept"], body, [False, True, True, True],
                            foot=["total", _e(total_in), _e(sum(b for _, _, b in rows)),
                                  _pct(sum(b for _, _, b in rows), total_in)]))
    return sid, head, "\n".join(parts)
