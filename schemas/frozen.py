"""The base of every config model: frozen (hashable, never edited after validation) and
``extra="forbid"`` (a misspelt key is an error, not a silently ignored setting)."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
