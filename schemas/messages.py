"""Chat messages and the ChatML / OpenAI ``messages`` format."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from schemas.frozen import Frozen

Role = Literal["system", "user", "assistant", "tool"]
NonEmptyText = Annotated[str, StringConstraints(min_length=1)]


class Message(Frozen):
    """One chat turn. ``content`` must contain a non-whitespace character."""

    role: Role
    content: str
    name: str | None = None
    tool_call_id: str | None = None
    tool_calls: list[dict[str, Any]] | None = None

    @model_validator(mode="before")
    @classmethod
    def _openai_content(cls, data: Any) -> Any:
        """Accept the OpenAI shapes: text parts (joined by newlines) and null content beside tool calls
        (held as ""; written back as null). Other parts (images, audio) cannot be held: say so precisely."""
        if not isinstance(data, dict):
            return data
        content = data.get("content")
        if content is None and "content" in data:
            if data.get("tool_calls"):
                return {**data, "content": ""}
            raise PydanticCustomError("blank_content", "content is null and the turn calls no tools")
        if isinstance(content, list):
            texts = []
            for i, part in enumerate(content):
                kind = part.get("type") if isinstance(part, dict) else None
                if kind == "text" and isinstance(part.get("text"), str):
                    texts.append(part["text"])
                elif kind == "text":
                    raise PydanticCustomError("unsupported_content", "content[{i}]: a text part needs a string 'text'",
                                              {"i": i})
                else:
                    what = f"a '{kind}' part" if isinstance(kind, str) and len(kind) <= 24 else "a part without a type"
                    raise PydanticCustomError(
                        "unsupported_content",
                        "content[{i}] is {what}; only text parts can be held: drop the part or the record",
                        {"i": i, "what": what})
            return {**data, "content": "\n".join(texts)}
        return data

    @model_validator(mode="after")
    def _content_not_blank(self) -> "Message":
        if self.tool_calls and not self.content:
            return self  # an assistant turn that only calls tools
        if not self.content or self.content.isspace():
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
