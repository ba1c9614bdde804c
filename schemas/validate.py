"""Validate JSONL files against a format, with one located problem per bad record."""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from pydantic import ValidationError

from schemas.formats import FORMATS, adapter_for, shape_of
from schemas.jsonl import DEFAULT_MAX_RECORD_BYTES, LineProblem, ReadStats, iter_jsonl

_SAFE_TOKEN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


def _loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _short_value(v: Any) -> str | None:
    """A value safe to echo in an error: a short identifier-like string, never free text."""
    if isinstance(v, str) and 0 < len(v) <= 24 and set(v) <= _SAFE_TOKEN:
        return v
    return None


def classify_error(err: dict, fmt: str) -> LineProblem:
    """Map one pydantic error to (reason, field, message), without echoing content."""
    t, loc = err["type"], tuple(err.get("loc", ()))
    # DPO unions and model validators put the model name into loc; drop it.
    loc = tuple(p for p in loc if p not in ("DPOPlain", "DPOConversational"))
    fld = _loc(loc) or {"chatml": "messages", "sharegpt": "conversations"}.get(fmt, "record")
    last = loc[-1] if loc else ""
    if t == "missing":
        return LineProblem(0, "missing_field", fld, "required field is missing")
    if t == "extra_forbidden":
        return LineProblem(0, "unknown_field", fld, "unknown field (not part of the format)")
    if t == "literal_error":
        v = _short_value(err.get("input"))
        allowed = err.get("ctx", {}).get("expected", "")
        if last in ("role", "from"):
            got = f"unknown role '{v}'" if v else "unknown role"
            return LineProblem(0, "unknown_role", fld, f"{got}; expected {allowed}")
        return LineProblem(0, "invalid_value", fld, f"expected {allowed}")
    if t in ("string_too_short", "blank_content"):
        return LineProblem(0, "empty_content", fld, err["msg"] if t == "blank_content" and "null" in err["msg"]
                           else "empty or whitespace-only text")
    if t == "too_short":
        return LineProblem(0, "empty_list", fld, "list is empty")
    if t == "too_long":
        return LineProblem(0, "too_many", fld, err["msg"])
    if t.endswith("_type") or t in ("model_attributes_type", "dict_type", "list_type"):
        got = type(err.get("input")).__name__
        return LineProblem(0, "wrong_type", fld, f"{err['msg'].lower()} (got {got})")
    if t in ("turn_order", "no_assistant", "chosen_equals_rejected", "wrong_role", "unsupported_content"):
        return LineProblem(0, t, fld, err["msg"])
    return LineProblem(0, "invalid_value", fld, err["msg"])


def validate_object(obj: dict, fmt: str) -> LineProblem | None:
    """Validate one parsed record; return its first problem (with a '+N more' note) or None."""
    try:
        adapter_for(fmt, obj).validate_python(obj)
        return None
    except ValidationError as e:
        errs = e.errors(include_url=False)
        p = classify_error(errs[0], fmt)
        if len(errs) > 1:
            p = LineProblem(0, p.reason, p.field, f"{p.message} (+{len(errs) - 1} more)")
        return p


@dataclass
class FileReport:
    path: str
    format: str | None
    detected: bool
    records: int = 0
    valid: int = 0
    problems: list[LineProblem] = field(default_factory=list)
    reasons: Counter = field(default_factory=Counter)
    shapes: Counter = field(default_factory=Counter)
    stats: ReadStats = field(default_factory=ReadStats)

    @property
    def invalid(self) -> int:
        return self.records - self.valid

    @property
    def detection_note(self) -> str:
        if not self.detected:
            return f"format {self.format} (given)"
        if self.format is None:
            return "format unknown (no record looks like chatml, alpaca, sharegpt or dpo)"
        seen = ", ".join(f"{k}: {v}" for k, v in self.shapes.most_common())
        return f"format {self.format} (detected from all {sum(self.shapes.values())} parsed records: {seen})"


def iter_valid(path: str | os.PathLike, fmt: str, report: FileReport,
               max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> Iterator[tuple[int, dict]]:
    """Yield ``(line, obj)`` for valid records of a known format; problems go into ``report``."""
    for lineno, obj, problem in iter_jsonl(path, report.stats, max_record_bytes):
        report.records += lineno > 0
        if problem is None:
            problem = validate_object(obj, fmt)
            if problem is None:
                report.valid += 1
                yield lineno, obj
                continue
            problem = LineProblem(lineno, problem.reason, problem.field, problem.message)
        report.problems.append(problem)
        report.reasons[problem.reason] += 1


def validate_file(path: str | os.PathLike, fmt: str | None = None,
                  max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
                  on_valid: Callable[[int, dict, str], None] | None = None) -> FileReport:
    """Validate every record of a JSONL(.gz) file.

    With ``fmt=None`` the format is detected from the shape of *every* parsed
    record; the majority shape wins and records of another shape are problems
    (``format_mismatch``), so a mixed file is never silently accepted.
    """
    if fmt is not None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}")
        report = FileReport(str(path), fmt, detected=False)
        for line, obj in iter_valid(path, fmt, report, max_record_bytes):
            if on_valid:
                on_valid(line, obj, fmt)
        report.problems.sort(key=lambda p: p.line)
        return report

    report = FileReport(str(path), None, detected=True)
    pending: list[tuple[int, str | None, LineProblem | None]] = []
    for lineno, obj, problem in iter_jsonl(path, report.stats, max_record_bytes):
        report.records += lineno > 0
        if problem is not None:
            report.problems.append(problem)
            report.reasons[problem.reason] += 1
            continue
        shape = shape_of(obj)
        report.shapes[shape or "unknown"] += 1
        problem = validate_object(obj, shape) if shape else None
        pending.append((lineno, shape, problem))
    known = Counter({k: v for k, v in report.shapes.items() if k != "unknown"})
    report.format = known.most_common(1)[0][0] if known else None
    for lineno, shape, problem in pending:
        if shape is None:
            problem = LineProblem(lineno, "unknown_format", "record",
                                  "no format's keys found (messages, conversations, instruction/output, prompt/chosen/rejected)")
        elif shape != report.format:
            problem = LineProblem(lineno, "format_mismatch", "record",
                                  f"looks like {shape} but the file is {report.format}; split mixed files or pass --format")
        elif problem is not None:
            problem = LineProblem(lineno, problem.reason, problem.field, problem.message)
        if problem is None:
            report.valid += 1
        else:
            report.problems.append(problem)
            report.reasons[problem.reason] += 1
    report.problems.sort(key=lambda p: p.line)
    if on_valid and report.format:
        # A second pass hands valid records over only once the format is settled.
        bad = {p.line for p in report.problems}
        for lineno, obj, problem in iter_jsonl(path, ReadStats(), max_record_bytes):
            if problem is None and lineno not in bad:
                on_valid(lineno, obj, report.format)
    return report
