"""Structured outputs: which ``response_format`` a JSON request carries, and falling back when unsupported.

Every request that expects JSON (questions, evolutions, answers, rubric and
pairwise judges) knows its pydantic model. In ``auto`` mode synth first
sends the model's JSON schema as ``{"type": "json_schema", "json_schema":
{"name", "schema", "strict": true}}`` (OpenAI structured outputs, vLLM,
SGLang, llama.cpp server and synth's embedded server enforce it). It steps
down, for that (endpoint, model), to ``json_object`` and then to ``none``
(the prompt alone asks for JSON) when the endpoint shows it cannot:

- it answers 400/422 with an error that names ``response_format`` (or
  ``json_schema``): the same request is sent again one step down, at once
  (a refused request costs nothing);
- it ignores the field: a complete reply (``finish_reason`` ``stop``, no
  refusal) in ``json_schema`` mode that does not validate, or one in
  ``json_object`` mode with no JSON object in it, proves the endpoint does
  not enforce the mode; later requests go one step down.

A configured mode other than ``auto`` is fixed: a 400 for it is a failed
request. The mode is part of each request body, so of its cache key; the
client looks a request up under every mode, so a re-run whose mode memory
starts afresh never pays twice for an answer it stored under another mode.
"""
from __future__ import annotations

import copy
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

MODES = ("json_schema", "json_object", "none")
# Keywords OpenAI's strict mode does not take; the client validates them itself anyway.
_DROP = ("title", "default", "examples", "description")


def strict_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema in strict form: every property required, no extra properties, no
    titles or defaults. Length and range keywords stay (an enforcing endpoint then cannot emit a
    string too short to validate)."""
    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            out = {k: walk(v) for k, v in node.items() if k not in _DROP or k == "properties"}
            if out.get("type") == "object" and isinstance(out.get("properties"), dict):
                out["properties"] = {k: walk(v) for k, v in node["properties"].items()}
                out["required"] = list(out["properties"])
                out["additionalProperties"] = False
            return out
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(copy.deepcopy(model.model_json_schema()))


def response_format(mode: str, model: type[BaseModel] | None) -> dict[str, Any] | None:
    """The ``response_format`` body field for ``mode`` (None: send nothing)."""
    if mode == "json_schema" and model is not None:
        return {"type": "json_schema", "json_schema": {"name": model.__name__, "schema": strict_schema(model),
                                                       "strict": True}}
    if mode in ("json_schema", "json_object"):
        return {"type": "json_object"}
    return None


def names_response_format(status: int, message: str) -> bool:
    """A 400/422 whose error text says the endpoint refuses the response_format field."""
    text = (message or "").lower()
    return status in (400, 422) and any(w in text for w in ("response_format", "response format", "json_schema"))


@dataclass
class Fallback:
    model: str
    from_mode: str
    to_mode: str
    why: str


@dataclass
class ResponseModes:
    """The ``response_format`` mode of each model at one endpoint, with the story of every step down."""

    configured: str = "auto"
    current: dict[str, str] = field(default_factory=dict)
    fallbacks: list[Fallback] = field(default_factory=list)
    used: Counter = field(default_factory=Counter)  # (model, mode) -> requests answered (cache hits included)

    @property
    def adaptive(self) -> bool:
        return self.configured == "auto"

    def mode(self, model: str) -> str:
        if not self.adaptive:
            return self.configured
        return self.current.get(model, MODES[0])

    def step_down(self, model: str, from_mode: str, why: str) -> bool:
        """Use the next mode for ``model`` (once per mode); False when fixed or already at ``none``."""
        if not self.adaptive or from_mode not in MODES[:-1]:
            return False
        if self.mode(model) != from_mode:
            return True  # another request already stepped down from it
        nxt = MODES[MODES.index(from_mode) + 1]
        self.current[model] = nxt
        self.fallbacks.append(Fallback(model, from_mode, nxt, why[:300]))
        return True

    def note_used(self, model: str, mode: str) -> None:
        self.used[(model, mode)] += 1

    def describe(self) -> dict[str, Any]:
        models = sorted({m for m, _ in self.used} | set(self.current))
        return {"configured": self.configured,
                "models": {m: {"mode": self.mode(m),
                               "requests": {mode: n for (mm, mode), n in sorted(self.used.items()) if mm == m}}
                           for m in models},
                "fallbacks": [f.__dict__ for f in self.fallbacks]}
