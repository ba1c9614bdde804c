"""ShareGPT format: ``{"conversations": [{"from": "human"|"gpt"|"system", "value": ...}]}``."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from schemas.messages import NonEmptyText, turn_order_problem

SHAREGPT_TO_ROLE = {"human": "user", "gpt": "assistant", "system": "system"}
ROLE_TO_SHAREGPT = {v: k for k, v in SHAREGPT_TO_ROLE.items()}


class ShareGPTTurn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    from_: Literal["human", "gpt", "system"] = Field(alias="from")
    value: NonEmptyText

    @model_validator(mode="after")
    def _not_blank(self) -> "ShareGPTTurn":
        if self.value.isspace():
            raise PydanticCustomError("blank_content", "value is only whitespace")
        return self


class ShareGPTExample(BaseModel):
    """A ShareGPT conversation; the same turn-order rules as ChatML apply."""

    model_config = ConfigDict(extra="allow")

    conversations: Annotated[list[ShareGPTTurn], Field(min_length=1)]

    @model_validator(mode="after")
    def _order(self) -> "ShareGPTExample":
        problem = turn_order_problem([SHAREGPT_TO_ROLE[t.from_] for t in self.conversations])
        if problem:
            raise PydanticCustomError(problem[0], problem[1])
        return self
