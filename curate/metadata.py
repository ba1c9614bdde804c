"""Conversation-level metadata: one typed place on the record, ``meta["fields"]``.

Ingest fills it from every input shape: transcript ``# key: value`` headers,
CSV columns beyond the turn columns, JSONL top-level fields and the entries of
their ``meta`` object. Names are lower-case snake_case (``"CSAT Score"`` ->
``csat_score``), then renamed by ``ingest.meta_rename``. Values are typed where
they parse: yes/no/true/false -> booleans, integers, decimals; ISO dates and
datetimes stay ISO text in JSON and become date columns in :func:`field_frame`;
everything else is text. Empty values are absent, not empty strings.
"""
from __future__ import annotations

import re
from collections import Counter
from datetime import date, datetime, timezone
from typing import Any, Iterable

import orjson
import polars as pl

FIELDS = "fields"
# Keys that name the record itself, not a property of the conversation.
ID_KEYS = frozenset({"id", "conversation_id"})
_TRUE, _FALSE = frozenset({"yes", "true"}), frozenset({"no", "false"})
_INT = re.compile(r"[+-]?(?:0|[1-9]\d{0,17})")  # a leading zero (zip codes, ids) stays text
_DEC = re.compile(r"[+-]?(?:\d+\.\d*|\.\d+)(?:[eE][+-]?\d+)?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:?\d{2})?")

Scalar = bool | int | float | str


def field_name(key: str) -> str:
    """A metadata key as an expression-friendly name: lower-case, runs of non-word characters -> ``_``."""
    return re.sub(r"\W+", "_", str(key).strip().lower()).strip("_")


def typed_value(v: Any) -> Scalar | None:
    """One metadata value, typed where it parses; None when it is empty."""
    if v is None:
        return None
    if isinstance(v, (bool, int, float)):
        return v
    if isinstance(v, (dict, list)):
        return orjson.dumps(v, option=orjson.OPT_SORT_KEYS).decode() if v else None
    s = str(v).strip()
    if not s:
        return None
    low = s.lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    if _INT.fullmatch(s):
        return int(s)
    if _DEC.fullmatch(s):
        return float(s)
    return s


def carry_fields(meta: dict, rename: dict[str, str] | None = None) -> None:
    """Fill ``meta["fields"]`` from what ingest kept of the input: header (text transcripts),
    extra (JSONL top-level fields and their ``meta`` entries) and raw CSV columns already in
    ``meta["fields"]``. A renamed field does not overwrite one already called that."""
    raw: list[tuple[str, Any]] = []
    raw += [(k, v) for k, v in (meta.get("header") or {}).items() if k not in ID_KEYS]
    extra = meta.get("extra") or {}
    raw += [(k, v) for k, v in extra.items() if k not in ID_KEYS and k != "meta"]
    if isinstance(extra.get("meta"), dict):
        raw += list(extra["meta"].items())
    raw += list((meta.get(FIELDS) or {}).items())
    names = {field_name(k): field_name(v) for k, v in (rename or {}).items()}
    fields: dict[str, Scalar] = {}
    for key, value in raw:
        name = field_name(key)
        value = typed_value(value)
        if not name or value is None:
            continue
        fields.setdefault(names.get(name, name), value)
    if fields:
        meta[FIELDS] = fields
    else:
        meta.pop(FIELDS, None)


def fields_of(meta_json: str | None) -> dict[str, Scalar]:
    """The metadata fields of one frame row's ``meta`` JSON."""
    return (orjson.loads(meta_json).get(FIELDS) or {}) if meta_json else {}


def kind(v: Any) -> str:
    """The type a value reads as: boolean, number, date, datetime or text."""
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        for name, pattern, parse in (("date", _DATE, date.fromisoformat), ("datetime", _DATETIME, datetime.fromisoformat)):
            if pattern.fullmatch(v):
                try:
                    parse(v)
                except ValueError:
                    return "text"
                return name
    return "text"


def _as_datetime(v: str) -> datetime:
    d = datetime.fromisoformat(v)
    return d.astimezone(timezone.utc).replace(tzinfo=None) if d.tzinfo else d


def field_column(name: str, values: list[Any]) -> tuple[pl.Series, str, Counter]:
    """One field over many records as a typed column, its kind, and the kinds of its values.

    A field whose values do not share one kind is a text column (kind ``"mixed"``): comparing
    it with a number or a date is then a type error that names it.
    """
    kinds: Counter = Counter()
    for (_, v), n in Counter((type(v), v) for v in values).items():  # kind() once per distinct value
        if v is not None:  # (type, value) keys: True and 1 are equal in Python but not the same kind
            kinds[kind(v)] += n
    ks = set(kinds)
    if not ks:
        return pl.Series(name, values, dtype=pl.String), "missing", kinds
    if ks == {"boolean"}:
        return pl.Series(name, values, dtype=pl.Boolean), "boolean", kinds
    if ks == {"number"}:
        ints = all(v is None or isinstance(v, int) for v in values)
        return pl.Series(name, values, dtype=pl.Int64 if ints else pl.Float64), "number", kinds
    if ks == {"date"}:
        return pl.Series(name, [date.fromisoformat(v) if v else None for v in values], dtype=pl.Date), "date", kinds
    if ks <= {"date", "datetime"}:
        return (pl.Series(name, [_as_datetime(v) if v else None for v in values], dtype=pl.Datetime("us")),
                "datetime", kinds)
    text = [None if v is None else ("true" if v is True else "false" if v is False else str(v)) for v in values]
    return pl.Series(name, text, dtype=pl.String), "text" if ks == {"text"} else "mixed", kinds


def field_frame(fields: list[dict[str, Any]], names: Iterable[str]) -> tuple[pl.DataFrame, dict[str, str], dict]:
    """Typed columns of ``names`` over records' fields; with each field's kind and value kinds."""
    cols, kinds, value_kinds = [], {}, {}
    for n in names:
        s, k, vk = field_column(n, [f.get(n) for f in fields])
        cols.append(s)
        kinds[n], value_kinds[n] = k, vk
    return pl.DataFrame(cols) if cols else pl.DataFrame(), kinds, value_kinds


def describe_fields(fields: list[dict[str, Any]]) -> str:
    """``name (kind), ...`` of every field present in ``fields``, for error lines."""
    names = sorted({k for f in fields for k in f})
    if not names:
        return "(none: these records carry no metadata)"
    _, kinds, _ = field_frame(fields, names)
    return ", ".join(f"{n} ({kinds[n]})" for n in names)
