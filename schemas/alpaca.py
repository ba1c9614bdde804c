"""Alpaca instruction format: ``{"instruction", "input", "output"}``, earlier turns in ``history``.

``history`` is LLaMA-Factory's field for multi-turn Alpaca: a list of
``[user, assistant]`` pairs that come before ``instruction`` / ``output``.
"""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic_core import PydanticCustomError

from schemas.messages import NonEmptyText


class AlpacaExample(BaseModel):
    """One instruction example. ``input`` may be empty; ``system`` and ``history`` are optional."""

    model_config = ConfigDict(extra="allow")

    instruction: NonEmptyText
    input: str = ""
    output: NonEmptyText
    system: str | None = None
    history: list[tuple[NonEmptyText, NonEmptyText]] | None = None

    @model_validator(mode="after")
    def _not_blank(self) -> "AlpacaExample":
        for name in ("instruction", "output"):
            if getattr(self, name).isspace():
                raise PydanticCustomError("blank_content", f"{name} is only whitespace")
        for i, pair in enumerate(self.history or []):
            if any(t.isspace() for t in pair):
                raise PydanticCustomError("blank_content", f"history[{i}] has a turn that is only whitespace")
        return self
