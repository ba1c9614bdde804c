"""Untrusted model output: JSON, fenced JSON, JSON in prose, marker lines, cut-off JSON; and the HTTP layer."""
from __future__ import annotations

import asyncio

import pytest

from synth.client import Endpoint, LLMClient, use_lean_transport
from synth.config import ClientConfig
from synth.fake_endpoint import FakeEndpoint
from synth.parse import ParseProblem, parse_output
from synth.prompts import AnswerOut, PairOut, QuestionOut, RubricOut


@pytest.mark.parametrize("text", [
    '{"question": "My files stopped syncing today."}',
    '```json\n{"question": "My files stopped syncing today."}\n```',
    'Sure! Here it is: {"question": "My files stopped syncing today.", "extra": 1} Hope it helps.',
    'QUESTION: My files stopped syncing today.',
    '{"problem": "My files stopped syncing today.", "difficulty": "easy"}',  # a synonym key
    '**Question**: "My files stopped syncing today."',
    '{"question": "My files stopped\nsyncing today."}',  # a raw newline inside a string
])
def test_a_question_is_found_in_every_form_a_small_model_writes(text):
    got = parse_output(text, QuestionOut)
    assert isinstance(got, QuestionOut) and got.question.replace("\n", " ") == "My files stopped syncing today."


def test_judge_scores_survive_a_rationale_cut_off_by_max_tokens():
    got = parse_output('{"correctness": 4, "helpfulness": 3, "format": 5, "rationale": "It says to check the sp',
                       RubricOut)
    assert isinstance(got, RubricOut) and got.score == 4.0 and got.rationale == ""


@pytest.mark.parametrize("text, reason, words", [
    ("", "invalid_json", "empty"),
    ("I am not sure what you mean.", "invalid_json", "no JSON object"),
    ('{"issue": "My sync is broken since Monday"}', "schema_invalid", "field 'question'"),
    ('{"question": "short"}', "schema_invalid", "at least 10 characters"),
])
def test_unusable_output_gets_a_reason_and_a_message_for_the_repair_prompt(text, reason, words):
    got = parse_output(text, QuestionOut)
    assert isinstance(got, ParseProblem) and got.reason == reason and words in got.message


def test_scores_outside_the_scale_are_schema_errors():
    assert isinstance(parse_output('{"score_a": 11, "score_b": 3}', PairOut), ParseProblem)
    assert isinstance(parse_output('{"score_a": "7", "score_b": 3.5}', PairOut), PairOut)
    assert isinstance(parse_output('{"answer": "Open Settings, then Billing."}', AnswerOut), AnswerOut)


@pytest.mark.parametrize("transport", ["lean", "httpx"])
def test_chunked_responses_and_keep_alive_work_on_both_transports(transport):
    with FakeEndpoint(chunked=True) as ep:
        async def go():
            c = LLMClient(Endpoint(ep.base_url, "m", "m"), ClientConfig(http_transport=transport, max_retries=0))
            try:
                return c.transport, [await c.chat([{"role": "user", "content": f"q{i}"}], max_tokens=99)
                                     for i in range(3)]
            finally:
                await c.aclose()
        used, answers = asyncio.run(go())
    assert used == transport and len({a.text for a in answers}) == 3 and all(a.prompt_tokens for a in answers)


def test_the_lean_transport_is_only_for_plain_http_without_a_proxy(monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(var, raising=False)
    assert use_lean_transport("http://127.0.0.1:8000/v1", "auto")
    assert not use_lean_transport("https://api.openai.com/v1", "auto")
    assert not use_lean_transport("http://127.0.0.1:8000/v1", "httpx")
    monkeypatch.setenv("HTTP_PROXY", "http://proxy:3128")
    assert not use_lean_transport("http://10.0.0.5:8000/v1", "auto")
