"""Ask for JSON, parse and validate it, repair once, else report why with every raw reply kept."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

from pydantic import BaseModel

from synth.client import LLMClient
from synth.parse import ParseProblem, parse_output
from synth.prompts import repair_messages

M = TypeVar("M", bound=BaseModel)


@dataclass
class JsonResult(Generic[M]):
    value: M | None
    raw: list[str] = field(default_factory=list)
    problem: ParseProblem | None = None
    repaired: bool = False

    @property
    def ok(self) -> bool:
        return self.value is not None


async def ask_json(client: LLMClient, messages: list[dict], model_cls: type[M], template: str, *,
                   temperature: float, max_tokens: int, seed: int | None, repair: bool = True,
                   model: str | None = None) -> JsonResult[M]:
    """One request (plus one repair request if the reply does not parse or validate).

    Raises :class:`synth.client.RequestFailed` when a request gets no answer.
    """
    raws: list[str] = []
    ans = await client.chat(messages, model=model, temperature=temperature, max_tokens=max_tokens, seed=seed,
                            json_mode=True)
    raws.append(ans.text)
    got = parse_output(ans.text, model_cls)
    if not isinstance(got, ParseProblem):
        return JsonResult(got, raws)
    problem = _with_cut(got, ans.truncated)
    if not repair:
        return JsonResult(None, raws, problem)
    fix = repair_messages(messages, ans.text, problem.message, template)
    ans2 = await client.chat(fix, model=model, temperature=temperature, max_tokens=max_tokens, seed=seed,
                             json_mode=True)
    raws.append(ans2.text)
    got2 = parse_output(ans2.text, model_cls)
    if not isinstance(got2, ParseProblem):
        return JsonResult(got2, raws, repaired=True)
    return JsonResult(None, raws, _with_cut(got2, ans2.truncated))


def _with_cut(p: ParseProblem, truncated: bool) -> ParseProblem:
    if truncated:
        return ParseProblem(p.reason, p.message + " (the reply was cut off at max_tokens)")
    return p
