"""select: keep conversations whose metadata match an expression (``resolved = true and csat >= 4``).

The expression language is polars SQL (``pl.sql_expr``): comparisons, ``and``/``or``/``not``,
``in (...)``, ``between``, ``like``, ``is null``, ``DATE '2024-01-01'``, functions such as
``lower(channel)``. It runs over typed columns built from ``meta.fields`` (see
``curate.metadata``). Before evaluating, every field the expression names must exist in
the records it applies to, and each comparison of a field with a literal must compare like
with like; either mistake is one error line naming the field and the fields that exist.

Rejects: ``select.not_matched`` (the expression is in the detail), ``select.missing_field``
(a field the expression uses is absent; ``on_missing: keep`` keeps such records), and
``select.unsafe_meta`` (a kept metadata value the PII scrubber cannot make safe). Only the
fields named in ``keep_meta`` survive this step, their values scrubbed with the run's PII
config. Stats count the records per value of every selection field, before and after.
"""
from __future__ import annotations

from collections import Counter
from fnmatch import fnmatch
from pathlib import PurePath
from typing import Any

import orjson
import polars as pl

from curate.config import SelectConfig
from curate.console import fail
from curate.metadata import FIELDS, describe_fields, field_frame, fields_of, kind
from curate.step import StepResult, partition

MAX_VALUES = 20  # distinct values listed per selection field in stats and the report
_COMPARE = {"Eq", "NotEq", "Lt", "LtEq", "Gt", "GtEq", "EqValidity", "NotEqValidity"}
_LIT_KIND = {"String": "text", "Boolean": "boolean", "Int": "number", "Float": "number", "Decimal": "number",
             "Date": "date", "Datetime": "datetime"}
_A = {"text": "text", "boolean": "a boolean", "number": "a number", "date": "a date", "datetime": "a timestamp"}
_HINT = {("boolean", "text"): "write {f} = true or {f} = false (yes/no values are read as booleans)",
         ("number", "text"): "drop the quotes around the number",
         ("text", "number"): "quote the value: {f} = '...'",
         ("mixed", "number"): "its values are not all numbers ({kinds}); fix them at the source or compare as text",
         ("mixed", "date"): "its values are not all dates ({kinds}); fix them at the source or compare as text",
         ("date", "text"): "write {f} >= DATE '2024-01-01'",
         ("datetime", "text"): "write {f} >= TIMESTAMP '2024-01-01 00:00:00'"}


def parse_expression(text: str) -> pl.Expr:
    """The polars expression of ``text``; a syntax error is a ValueError with one line."""
    if not text or not text.strip():
        raise ValueError("empty selection expression")
    try:
        return pl.sql_expr(text)
    except Exception as e:  # polars raises several SQL error types
        raise ValueError(f"not a valid expression {text!r}: {_first_line(e)}") from None


def _first_line(e: Exception) -> str:
    lines = [x.strip() for x in str(e).splitlines() if x.strip()]
    return lines[0] if lines else type(e).__name__


def _literal_kind(node: Any) -> str | None:
    lit = node.get("Literal") if isinstance(node, dict) else None
    inner = (lit.get("Scalar") or lit.get("Dyn")) if isinstance(lit, dict) else None
    if not isinstance(inner, dict) or not inner:
        return None
    key = next(iter(inner))
    return _LIT_KIND.get(key) or ("number" if key.startswith(("Int", "UInt", "Float")) else None)


def _comparisons(node: Any, out: list[tuple[str, str]]) -> None:
    """(field, literal kind) of every field-vs-literal comparison in polars' serialized expression tree."""
    if isinstance(node, dict):
        pair = None
        b = node.get("BinaryExpr")
        if isinstance(b, dict) and b.get("op") in _COMPARE:
            pair = (b.get("left"), b.get("right"))
        fn = node.get("Function")
        if isinstance(fn, dict) and isinstance(fn.get("function"), dict):
            sql = fn["function"].get("Sql")
            if isinstance(sql, dict) and sql.get("Binary") in _COMPARE and len(fn.get("input", [])) == 2:
                pair = tuple(fn["input"])
        if pair:
            for a, c in (pair, pair[::-1]):
                if isinstance(a, dict) and isinstance(a.get("Column"), str):
                    lk = _literal_kind(c)
                    if lk:
                        out.append((a["Column"], lk))
        for v in node.values():
            _comparisons(v, out)
    elif isinstance(node, list):
        for v in node:
            _comparisons(v, out)


def _compatible(field_kind: str, lit_kind: str) -> bool:
    if field_kind == "missing":
        return True
    if field_kind in ("date", "datetime"):
        return lit_kind in ("date", "datetime")
    return field_kind == lit_kind


def _check_types(expr: pl.Expr, text: str, kinds: dict[str, str], value_kinds: dict, fields: list[dict]) -> None:
    pairs: list[tuple[str, str]] = []
    try:
        _comparisons(orjson.loads(expr.meta.serialize(format="json")), pairs)
    except Exception:  # the tree's format is polars' own; without it polars' evaluation errors still apply
        return
    for f, lk in pairs:
        fk = kinds.get(f)
        if fk is None or _compatible(fk, lk):
            continue
        vk = ", ".join(f"{k} in {n} records" for k, n in sorted(value_kinds[f].items()))
        hint = _HINT.get((fk, lk), "compare it with a value of its own type").format(f=f, kinds=vk)
        fail(f"select: field '{f}' is {fk} but {text!r} compares it with {_A[lk]}; {hint}; "
             f"fields: {describe_fields(fields)}")


def _evaluate(text: str, fields: list[dict]) -> tuple[list[bool | None], list[bool], list[str]]:
    """Per record: does it match (None: unknown), does it lack a used field; and the used fields."""
    expr = parse_expression(text)
    used = sorted(set(expr.meta.root_names()))
    present = {k for f in fields for k in f}
    for name in used:
        if name not in present:
            lit = " (quote text values: 'yes')" if name in ("yes", "no", "y", "n") else ""
            fail(f"select: unknown field '{name}' in {text!r}{lit}; fields: {describe_fields(fields)}")
    frame, kinds, value_kinds = field_frame(fields, used)
    _check_types(expr, text, kinds, value_kinds, fields)
    base = frame if used else pl.DataFrame({"_r": range(len(fields))})
    try:
        res = base.select(expr.alias("_m")).to_series()
    except Exception as e:
        fail(f"select: cannot evaluate {text!r}: {_first_line(e)}; fields used: "
             f"{', '.join(f'{n} ({kinds[n]})' for n in used)}; fields: {describe_fields(fields)}")
    if res.dtype != pl.Boolean:
        fail(f"select: {text!r} gives {res.dtype} values, not true/false; write a comparison such as csat >= 4")
    if res.len() == 1 and len(fields) != 1:
        res = pl.Series("_m", [res[0]] * len(fields), dtype=pl.Boolean)
    missing = [any(f.get(n) is None for n in used) for f in fields]
    return res.to_list(), missing, used


def _expression_for(source: str, cfg: SelectConfig) -> str | None:
    name = PurePath(source).name
    for pattern, text in cfg.sources.items():
        if fnmatch(source, pattern) or fnmatch(name, pattern):
            return text
    return cfg.expression


def _shown(v: Any) -> str:
    return "true" if v is True else "false" if v is False else str(v)


def _value_counts(before: list[dict], after: list[dict], names: list[str]) -> tuple[dict, dict]:
    """Records per shown value of each field, before and after, under the same labels: dates by
    month when a field has more than MAX_VALUES distinct values, then the most frequent values
    before the step and ``(other)`` for the rest."""
    out_before: dict[str, Counter] = {}
    out_after: dict[str, Counter] = {}
    for n in names:
        raw_b = Counter((type(f.get(n)), f.get(n)) for f in before)  # (type, value): True and 1 apart
        raw_a = Counter((type(f.get(n)), f.get(n)) for f in after)
        by_month = len(raw_b) > MAX_VALUES and all(kind(v) in ("date", "datetime") for _, v in raw_b if v is not None)

        def label(v: Any) -> str:
            return "(missing)" if v is None else str(v)[:7] if by_month else _shown(v)

        cb, ca = Counter(), Counter()
        for c, raw in ((cb, raw_b), (ca, raw_a)):
            for (_, v), k in raw.items():
                c[label(v)] += k
        if len(cb) > MAX_VALUES:
            listed = {v for v, _ in cb.most_common(MAX_VALUES - 1)}
            cb, ca = _fold(cb, listed), _fold(ca, listed)
        out_before[n], out_after[n] = cb, ca
    return out_before, out_after


def _fold(c: Counter, listed: set[str]) -> Counter:
    out: Counter = Counter()
    for v, k in c.items():
        out[v if v in listed else "(other)"] += k
    return out


_SCRUBBERS: dict[str, Any] = {}


def _scrub_values(values: list[str], pii: dict) -> dict[str, tuple[str, str | None]]:
    """Each distinct value -> (scrubbed value, reason or None), through the PII scrubber's public
    ``PiiScrubber.scrub`` with the run's pii config (one one-turn conversation per value)."""
    from curate.pii import PiiScrubber
    from curate.pii_step import PiiStepConfig

    distinct = sorted(set(values))
    if not distinct:
        return {}
    cfg = PiiStepConfig(**pii).scrubber_config()
    key = cfg.model_dump_json()
    if key not in _SCRUBBERS:
        _SCRUBBERS[key] = PiiScrubber(cfg)
    results = _SCRUBBERS[key].scrub([[{"role": "user", "content": v}] for v in distinct])
    return {v: (r.messages[0]["content"] if r.ok else "", r.reason) for v, r in zip(distinct, results)}


def _relabel(counts: Counter, scrubbed: dict[str, tuple[str, str | None]]) -> Counter:
    """Value counts under their scrubbed labels (several names may become one placeholder)."""
    out: Counter = Counter()
    for v, k in counts.items():
        out[(scrubbed[v][0] or "(unsafe)") if v in scrubbed else v] += k
    return out


def select_pii(cfg) -> dict | None:
    """The pii config the select step scrubs metadata with: the run's, when PII is on and a selection
    or kept metadata could show values (None otherwise, so PII settings do not re-key this step)."""
    return cfg.pii.model_dump(mode="json") if cfg.pii.enabled and cfg.select.active() else None


def select_records(frame: pl.DataFrame, cfg: SelectConfig, pii: dict | None = None) -> StepResult:
    """Apply the selection; keep only ``keep_meta`` fields (PII-scrubbed when ``pii`` is given)."""
    if frame.height == 0:
        return partition("select", frame.with_columns(pl.lit(None, dtype=pl.String).alias("_reason")))
    metas = [orjson.loads(m) if m else {} for m in frame["meta"].to_list()]
    fields = [m.get(FIELDS) or {} for m in metas]
    sources = frame["source"].to_list()
    by_source = {s: _expression_for(s or "", cfg) for s in set(sources)}
    texts = [by_source[s] for s in sources]
    reasons: list[str | None] = [None] * frame.height
    details: list[str | None] = [None] * frame.height
    selection_fields: set[str] = set()
    stats: dict[str, float] = {}
    for text in sorted({t for t in texts if t}):
        idx = [i for i, t in enumerate(texts) if t == text]
        matched, missing, used = _evaluate(text, [fields[i] for i in idx])
        selection_fields.update(used)
        for i, ok, miss in zip(idx, matched, missing):
            if miss:
                if cfg.on_missing == "reject":
                    absent = [n for n in used if fields[i].get(n) is None]
                    reasons[i], details[i] = "select.missing_field", f"lacks {', '.join(absent)} for {text!r}"
                else:
                    stats["kept_missing_field"] = stats.get("kept_missing_field", 0) + 1
            elif not ok:
                reasons[i], details[i] = "select.not_matched", f"does not match {text!r}"
    present = {k for f in fields for k in f}
    for name in cfg.keep_meta:
        if name not in present:
            fail(f"select: --keep-meta field '{name}' is in no record; fields: {describe_fields(fields)}")
    kept_fields = [{n: f[n] for n in cfg.keep_meta if n in f} for f in fields]
    if pii is not None:  # kept values first: a value the scrubber cannot make safe rejects its record
        scrubbed = _scrub_values([str(v) for f in kept_fields for v in f.values() if not isinstance(v, bool)], pii)
        for i, f in enumerate(kept_fields):
            for n, v in [(n, v) for n, v in f.items() if not isinstance(v, bool)]:
                new, bad = scrubbed[str(v)]
                if bad and reasons[i] is None:
                    reasons[i], details[i] = "select.unsafe_meta", f"kept field {n}: {bad}"
                elif new != str(v):
                    f[n] = new
    names = sorted(selection_fields)
    before, after = _value_counts(fields, [f for f, r in zip(fields, reasons) if r is None], names)
    if pii is not None:  # the text values the report will list
        shown = _scrub_values([v for c in (before, after) for n in names for v in c[n]
                               if not v.startswith("(") and kind(v) == "text"], pii)
        before, after = ({n: _relabel(c[n], shown) for n in names} for c in (before, after))
    for phase, counts in (("in", before), ("kept", after)):
        for n, c in counts.items():
            for v, k in c.items():
                stats[f"{phase}:{n}={v}"] = stats.get(f"{phase}:{n}={v}", 0) + k
    new_meta = []
    for m, f in zip(metas, kept_fields):
        m.pop(FIELDS, None)
        if f:
            m[FIELDS] = f
        new_meta.append(orjson.dumps(m, option=orjson.OPT_SORT_KEYS).decode())
    df = frame.with_columns(pl.Series("meta", new_meta, dtype=pl.String),
                            pl.Series("_reason", reasons, dtype=pl.String),
                            pl.Series("_detail", details, dtype=pl.String))
    return partition("select", df, stats)


def selection_counts(stats: dict[str, Any]) -> dict[str, list[tuple[str, int, int]]]:
    """From the select step's stats: field -> [(value, records in, records kept)], most frequent first."""
    table: dict[str, dict[str, list[int]]] = {}
    for key, n in stats.items():
        phase, sep, rest = key.partition(":")
        if not sep or phase not in ("in", "kept") or "=" not in rest:
            continue
        field, value = rest.split("=", 1)
        table.setdefault(field, {}).setdefault(value, [0, 0])[0 if phase == "in" else 1] += int(n)
    def order(rows: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
        special = [r for r in rows if r[0] in ("(missing)", "(other)")]
        plain = [r for r in rows if r not in special]
        try:  # numbers in their own order, other values most frequent first
            plain.sort(key=lambda r: float(r[0]))
        except ValueError:
            plain.sort(key=lambda r: (-r[1], r[0]))
        return plain + sorted(special)

    return {f: order([(v, a, b) for v, (a, b) in vals.items()]) for f, vals in sorted(table.items())}
