"""The canonical internal record and the reject row."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from schemas.messages import Message

Provenance = Literal["real", "synthetic", "mix"]
ReasonCode = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]+\.[a-z0-9_]+$")]


class Record(BaseModel):
    """One conversation as every curation step sees it.

    ``group`` is the split key: all records sharing it land in one split.
    ``chosen``/``rejected`` are set only for preference records, whose
    ``messages`` are then the prompt.
    """

    model_config = ConfigDict(extra="forbid")

    id: Annotated[str, Field(min_length=1, description="Stable record id, unique in a run.")]
    source: str = Field(description="Input file the record came from.")
    line: int | None = Field(default=None, description="1-based line (or first line) in the source.")
    group: str = Field(description="Split key: conversation, customer or document id.")
    messages: list[Message]
    chosen: Message | None = None
    rejected: Message | None = None
    provenance: Provenance = "real"
    meta: dict[str, Any] = Field(default_factory=dict)


class RejectRow(BaseModel):
    """Why a record was not kept. ``detail`` names fields and reasons, never raw content."""

    model_config = ConfigDict(extra="forbid")

    id: str
    step: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]+$")]
    reason: ReasonCode
    detail: Annotated[str, StringConstraints(max_length=500)] = ""
    source: str = ""
    line: int | None = None
