"""Model output is untrusted input: find the JSON (or the marker lines), then validate it.

``parse_output(text, Model)`` tries, in order:

1. the whole text (after stripping a Markdown code fence) as JSON,
2. the first ``{...}`` in the text that decodes to an object,
3. marker lines such as ``QUESTION: ...`` / ``score_a = 7`` (a small model
   that cannot keep JSON straight often manages these),
4. ``"field": value`` pairs of a JSON object cut off by max_tokens (only
   complete values: a judge's scores survive a truncated rationale),

then validates the fields with the pydantic ``Model``. The result is either
the validated model or a :class:`ParseProblem` with a reason code
(``invalid_json``: nothing object-like found; ``schema_invalid``: an object,
but fields missing or wrong) and a message fit for a repair prompt.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)

_FENCE = re.compile(r"^\s*```[a-zA-Z]*\s*\n?(.*?)\n?```\s*$", re.S)


@dataclass(frozen=True)
class ParseProblem:
    reason: str  # invalid_json | schema_invalid
    message: str


def _objects(text: str) -> list[dict[str, Any]]:
    """Every JSON object that starts at some '{' in the text (lenient on raw newlines in strings)."""
    dec = json.JSONDecoder(strict=False)
    out: list[dict[str, Any]] = []
    i = text.find("{")
    while i != -1 and len(out) < 8:
        try:
            obj, end = dec.raw_decode(text, i)
        except json.JSONDecodeError:
            i = text.find("{", i + 1)
            continue
        if isinstance(obj, dict):
            out.append(obj)
        i = text.find("{", end)
    return out


def _markers(text: str, fields: list[str]) -> dict[str, str]:
    """``FIELD: value`` lines (any case, optional ** or quotes); a value runs until the next marker."""
    names = "|".join(re.escape(f) for f in sorted(fields, key=len, reverse=True))
    pat = re.compile(rf"^[ \t>*_\-\"']*({names})[*_\"']*[ \t]*[:=][ \t]*", re.I | re.M)
    found = list(pat.finditer(text))
    out: dict[str, str] = {}
    for k, m in enumerate(found):
        end = found[k + 1].start() if k + 1 < len(found) else len(text)
        value = text[m.end():end].strip().strip(",").strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        name = next(f for f in fields if f.lower() == m.group(1).lower())
        out.setdefault(name, value)
    return out


def _loose_pairs(text: str, fields: list[str]) -> dict[str, Any]:
    """``"field": value`` pairs found anywhere, for JSON cut off by max_tokens: a number, or a string
    that is closed. A string left open at the end of the text is dropped, not guessed."""
    out: dict[str, Any] = {}
    for f in fields:
        m = re.search(rf'"{re.escape(f)}"\s*:\s*(-?\d+(?:\.\d+)?|"((?:[^"\\]|\\.)*)")', text)
        if not m:
            continue
        if m.group(2) is not None:
            try:
                out[f] = json.loads(f'"{m.group(2)}"', strict=False)
            except json.JSONDecodeError:
                continue
        else:
            out[f] = float(m.group(1))
    return out


def _first_error(e: ValidationError) -> str:
    err = e.errors(include_url=False)[0]
    loc = ".".join(str(x) for x in err["loc"]) or "object"
    more = len(e.errors()) - 1
    return f"field '{loc}': {err['msg'].lower()}" + (f" (+{more} more)" if more else "")


def _field_names(model: type[BaseModel]) -> list[str]:
    """Field names plus their accepted aliases (for picking the right object and for marker lines)."""
    from pydantic import AliasChoices

    names: list[str] = []
    for name, info in model.model_fields.items():
        names.append(name)
        alias = info.validation_alias
        if isinstance(alias, AliasChoices):
            names += [c for c in alias.choices if isinstance(c, str) and c != name]
        elif isinstance(alias, str) and alias != name:
            names.append(alias)
    return names


def parse_output(text: str, model: type[M]) -> M | ParseProblem:
    """Parse and validate one model answer; see the module docstring."""
    fields = _field_names(model)
    body = text or ""
    fence = _FENCE.match(body)
    if fence:
        body = fence.group(1)
    candidates: list[dict[str, Any]] = []
    try:
        whole = json.loads(body, strict=False)
        if isinstance(whole, dict):
            candidates.append(whole)
    except json.JSONDecodeError:
        pass
    if not candidates:
        candidates = _objects(body)
    # Prefer an object that has at least one of the wanted fields.
    candidates.sort(key=lambda o: -len(set(o) & set(fields)))
    first_error: str | None = None
    for obj in candidates:
        try:
            return model.model_validate(obj)
        except ValidationError as e:
            first_error = first_error or _first_error(e)
    marks = _markers(body, fields) if not candidates else {}
    if not marks and not candidates:
        marks = _loose_pairs(body, fields)
    if marks:
        try:
            return model.model_validate(marks)
        except ValidationError as e:
            first_error = first_error or _first_error(e)
    if first_error is not None:
        return ParseProblem("schema_invalid", f"the JSON object does not fit: {first_error}")
    if not body.strip():
        return ParseProblem("invalid_json", "the reply was empty")
    return ParseProblem("invalid_json", "no JSON object found in the reply")
