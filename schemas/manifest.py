"""The run manifest: what went in, what came out, and the proof in between."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class FileEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="Path relative to the run directory (outputs) or as given (inputs).")
    sha256: str
    bytes: int
    records: int | None = None
    format: str | None = None


class StepCounts(BaseModel):
    model_config = ConfigDict(extra="forbid")

    step: str
    n_in: int
    n_kept: int
    n_rejected: int
    reasons: dict[str, int] = Field(default_factory=dict)
    stats: dict[str, Any] = Field(default_factory=dict)


class Manifest(BaseModel):
    """Written last, atomically; training refuses data whose manifest does not validate."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = 1
    tool: str = "curatekit"
    tool_version: str
    inputs: list[FileEntry]
    config: dict[str, Any]
    versions: dict[str, str]
    steps: list[StepCounts]
    splits: dict[str, int]
    leak_checks: dict[str, Any] = Field(default_factory=dict)
    outputs: list[FileEntry]
    totals: dict[str, int] = Field(default_factory=dict)
    status: Literal["ok", "failed"] = Field(
        "ok", description="'failed' when a leak check failed: the outputs are written for inspection, and "
                          "training refuses them.")
    failures: list[str] = Field(default_factory=list, description="One line per failed check: what, how many, the fix.")
    retention: dict[str, Any] = Field(default_factory=dict,
                                      description="Distinct conversations in vs kept, share removed per step.")
    warnings: list[str] = Field(default_factory=list, description="Steps that removed a large share, split drift.")
