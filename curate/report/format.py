"""HTML formatting helpers: escaping, numbers, percentages, axes, tables, figures."""
from __future__ import annotations

import html
import math
from typing import Iterable, Sequence


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
