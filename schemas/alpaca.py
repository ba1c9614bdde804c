"""Alpaca instruction format: ``{"instruction", "input", "output"}``."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic_core import PydanticCustomError

from schemas.messages import NonEmptyText


class AlpacaExample(BaseModel):
    """One single-turn instruction example. ``input`` may be empty; ``system`` is optional."""

    model_config = ConfigDict(extra="allow")

    instruction: NonEmptyText
    input: str = ""
    output: NonEmptyText
    system: str | None = None

    @model_validator(mode="after")
    def _not_blank(self) -> "AlpacaExample":
        for name in ("instruction", "output"):
            if getattr(self, name).isspace():
                raise PydanticCustomError("blank_content", f"{name} is only whitespace")
        return self
