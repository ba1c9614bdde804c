"""Ask for JSON, parse and validate it, repair once, else report why with every raw reply kept.

The request carries the reply's JSON schema as ``response_format`` where the
endpoint takes it (synth.structured). A refusal (``message.refusal``) is a
result of its own (reason ``refused``), never repaired. A complete reply
that does not fit, asked in a mode that should have guaranteed it, tells the
client the endpoint ignores that mode: later requests step down.
"""
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
    truncated: bool = False  # the reply that was used was cut at max_tokens (its JSON closed by the server)
    mode: str = "none"

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
                            schema=model_cls)
    raws.append(ans.text)
    if ans.refusal:
        return JsonResult(None, raws, ParseProblem("refused", f"the model refused: {ans.refusal[:300]}"),
                          mode=ans.mode)
    got = parse_output(ans.text, model_cls)
    if not isinstance(got, ParseProblem):
        return JsonResult(got, raws, truncated=ans.truncated, mode=ans.mode)
    _note_ignored(client, model, ans, got)
    problem = _with_cut(got, ans.truncated)
    if not repair:
        return JsonResult(None, raws, problem, mode=ans.mode)
    fix = repair_messages(messages, ans.text, problem.message, template)
    ans2 = await client.chat(fix, model=model, temperature=temperature, max_tokens=max_tokens, seed=seed,
                             schema=model_cls)
    raws.append(ans2.text)
    if ans2.refusal:
        return JsonResult(None, raws, ParseProblem("refused", f"the model refused: {ans2.refusal[:300]}"),
                          mode=ans2.mode)
    got2 = parse_output(ans2.text, model_cls)
    if not isinstance(got2, ParseProblem):
        return JsonResult(got2, raws, repaired=True, truncated=ans2.truncated, mode=ans2.mode)
    _note_ignored(client, model, ans2, got2)
    return JsonResult(None, raws, _with_cut(got2, ans2.truncated), mode=ans2.mode)


def _note_ignored(client: LLMClient, model: str | None, ans, problem: ParseProblem) -> None:
    """A complete reply that breaks the mode it was asked in: the endpoint does not enforce that mode."""
    if ans.finish_reason != "stop":
        return
    if ans.mode == "json_schema" or (ans.mode == "json_object" and problem.reason == "invalid_json"):
        client.modes.step_down(model or client.endpoint.model, ans.mode,
                               f"a complete reply in {ans.mode} mode did not fit ({problem.message})")


def _with_cut(p: ParseProblem, truncated: bool) -> ParseProblem:
    if truncated:
        return ParseProblem(p.reason, p.message + " (the reply was cut off at max_tokens)")
    return p
