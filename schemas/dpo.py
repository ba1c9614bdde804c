"""Preference (DPO) format in TRL's two explicit-prompt forms.

Plain:          {"prompt": str, "chosen": str, "rejected": str}
Conversational: {"prompt": [messages ending on a user turn],
                 "chosen": [assistant message], "rejected": [assistant message]}
"""
from __future__ import annotations

from typing import Annotated, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from schemas.messages import Message, NonEmptyText, turn_order_problem


def _texts_differ(chosen: str, rejected: str) -> None:
    if chosen.strip() == rejected.strip():
        raise PydanticCustomError("chosen_equals_rejected", "chosen and rejected are the same text")


class DPOPlain(BaseModel):
    model_config = ConfigDict(extra="allow")

    prompt: NonEmptyText
    chosen: NonEmptyText
    rejected: NonEmptyText

    @model_validator(mode="after")
    def _check(self) -> "DPOPlain":
        for name in ("prompt", "chosen", "rejected"):
            if getattr(self, name).isspace():
                raise PydanticCustomError("blank_content", f"{name} is only whitespace")
        _texts_differ(self.chosen, self.rejected)
        return self


class DPOConversational(BaseModel):
    model_config = ConfigDict(extra="allow")

    prompt: Annotated[list[Message], Field(min_length=1)]
    chosen: Annotated[list[Message], Field(min_length=1, max_length=1)]
    rejected: Annotated[list[Message], Field(min_length=1, max_length=1)]

    @model_validator(mode="after")
    def _check(self) -> "DPOConversational":
        roles = [m.role for m in self.prompt]
        if roles[-1] != "user":
            raise PydanticCustomError("turn_order", "prompt must end with a user turn")
        problem = turn_order_problem(roles + ["assistant"])
        if problem:
            raise PydanticCustomError(problem[0], "prompt " + problem[1])
        for name in ("chosen", "rejected"):
            if getattr(self, name)[0].role != "assistant":
                raise PydanticCustomError("wrong_role", f"{name} must be one assistant message")
        _texts_differ(self.chosen[0].content, self.rejected[0].content)
        return self


def dpo_form(obj: dict) -> str:
    """``"conversational"`` when the prompt is a list, else ``"plain"``."""
    return "conversational" if isinstance(obj.get("prompt"), list) else "plain"


DPOExample = Union[DPOPlain, DPOConversational]
