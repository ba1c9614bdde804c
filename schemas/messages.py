"""Chat messages and the ChatML / OpenAI ``messages`` format."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

Role = Literal["system", "user", "assistant", "tool"]
NonEmptyText = Annotated[str, StringConstraints(min_length=1)]


class Message(BaseModel):
    """One chat turn. ``content`` must contain a non-whitespace character."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Role
    content: NonEmptyText
    name: str | None = None
    tool_call_id: str | None = None
    tool_calls: list[dict[str, Any]] | None = None

    @model_validator(mode="after")
    def _content_not_blank(self) -> "Message":
        if self.content.isspace():
            raise PydanticCustomError("blank_content", "content is only whitespace")
        return self


def turn_order_problem(roles: list[str]) -> tuple[str, str] | None:
    """Return ``(code, message)`` for the first turn that breaks a sensible order, or None.

    Rules: system only as the first turn; the first non-system turn is a user
    turn; user and assistant alternate; a tool turn follows an assistant or tool
    turn and is followed by an assistant turn; at least one assistant turn.
    """
    prev: str | None = None
    saw_assistant = False
    for i, r in enumerate(roles):
        what = None
        if r == "system":
            if i != 0:
                what = "a system turn is only allowed first"
        elif r == "user":
            if prev == "user":
                what = "two user turns in a row"
            elif prev == "tool":
                what = "a user turn right after a tool turn"
        elif r == "assistant":
            if prev in (None, "system"):
                what = "the conversation starts with an assistant turn"
            elif prev == "assistant":
                what = "two assistant turns in a row"
            saw_assistant = True
        elif prev not in ("assistant", "tool"):
            what = "a tool turn must follow an assistant turn"
        if what:
            return "turn_order", f"turn {i}: {what}"
        prev = r
    if not saw_assistant:
        return "no_assistant", "no assistant turn (an SFT example needs at least one)"
    return None


def check_messages(messages: list[Message]) -> None:
    problem = turn_order_problem([m.role for m in messages])
    if problem:
        raise PydanticCustomError(problem[0], problem[1])


class ChatExample(BaseModel):
    """A ChatML / OpenAI-style SFT example: ``{"messages": [...]}``.

    Extra top-level keys (``id``, ``meta``...) are allowed and kept. Ending on
    a user turn is valid here; the quality filter rejects it with a reason.
    """

    model_config = ConfigDict(extra="allow")

    messages: Annotated[list[Message], Field(min_length=1)]

    @model_validator(mode="after")
    def _order(self) -> "ChatExample":
        check_messages(self.messages)
        return self
