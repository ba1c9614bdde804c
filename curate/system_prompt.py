"""A system turn set at export: one prompt for every record, or one per source file.

Applied when the split files are written, not as a pipeline step: a long
prompt shared by every record would make every pair of conversations look
alike to near-dedup and bloat the n-gram tables of the leak checks, while the
prompt itself is the user's own fixed text, not data to filter.
"""
from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from schemas.messages import Message
from schemas.frozen import Frozen
from schemas.record import Record


def read_prompt(value: str | None) -> str | None:
    """``TEXT`` as is, ``@FILE`` as the file's text (trailing newline dropped); a missing file is one clear error."""
    if value is None or not value.startswith("@"):
        return value
    path = Path(value[1:]).expanduser()
    try:
        text = path.read_text(encoding="utf-8").rstrip("\n")
    except OSError as e:
        raise ValueError(f"{path}: cannot read the system prompt file ({e.strerror or e})") from None
    if not text.strip():
        raise ValueError(f"{path}: the system prompt file is empty")
    return text


class SystemPromptConfig(Frozen):
    """The system turn of exported records. ``@FILE`` values are read when the config loads,
    so the manifest records the text itself."""

    text: str | None = Field(None, description="System prompt for every record (TEXT or @FILE); none keeps records as they are.")
    per_source: dict[str, str] = Field(
        default_factory=dict,
        description="Glob over the source path relative to the input root (e.g. 'billing/*.txt') -> prompt "
                    "(TEXT or @FILE); the first matching glob wins over `text`.")
    mode: Literal["replace", "keep"] = Field(
        "replace", description="replace: the prompt replaces an existing system turn; keep: records that "
                               "already have a system turn keep it, the others get the prompt.")

    @field_validator("text", mode="before")
    @classmethod
    def _read_text(cls, v):
        return read_prompt(v) if isinstance(v, str) else v

    @field_validator("per_source", mode="before")
    @classmethod
    def _read_per_source(cls, v):
        return {k: read_prompt(p) for k, p in v.items()} if isinstance(v, dict) else v

    @property
    def active(self) -> bool:
        return bool(self.text or self.per_source)

    def prompt_for(self, source: str) -> str | None:
        for pattern, prompt in self.per_source.items():
            if fnmatch.fnmatch(source, pattern):
                return prompt
        return self.text


def with_system_prompt(rec: Record, prompt: str | None, mode: str) -> tuple[Record, str | None]:
    """The record with ``prompt`` as its system turn, and what happened: added, replaced, kept or None."""
    if not prompt:
        return rec, None
    has = bool(rec.messages) and rec.messages[0].role == "system"
    if has and (mode == "keep" or rec.messages[0].content == prompt):
        return rec, "kept"
    rest = rec.messages[1:] if has else rec.messages
    return rec.model_copy(update={"messages": [Message(role="system", content=prompt), *rest]}), (
        "replaced" if has else "added")
