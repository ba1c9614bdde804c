"""The embedded server (synth.local_server) with the real embedded model: a schema it is given is enforced.

The model is SmolLM2-135M-Instruct: left alone it ignores schemas it was never shown. Under llguidance's
grammar every reply must still parse and validate, including one cut off by max_tokens.
"""
from __future__ import annotations

import json
import threading
from typing import Literal

import httpx
import pytest
from pydantic import BaseModel, ConfigDict, Field

from synth.local_server import CLOSE_TOKENS, LocalModel, make_server
from synth.prompts import AnswerOut, answer_messages
from synth.structured import response_format

pytestmark = pytest.mark.slow


class Odd(BaseModel):
    """Nothing in the prompt asks for this: only the grammar can make the model write it."""

    model_config = ConfigDict(extra="forbid")
    colour: Literal["red", "green", "blue"]
    count: int = Field(ge=3, le=7)
    note: str = Field(min_length=5, max_length=40)


@pytest.fixture(scope="module")
def server(local_model_dir):
    srv = make_server(LocalModel(local_model_dir, threads=1), "127.0.0.1", 0, "smol")
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_port}/v1"
    srv.shutdown()
    srv.server_close()


def _post(url: str, body: dict) -> httpx.Response:
    return httpx.post(f"{url}/chat/completions", json=body, timeout=120)


def test_a_schema_the_prompt_never_mentions_is_followed_at_every_temperature(server):
    rf = response_format("json_schema", Odd)
    for seed, temperature in ((1, 0.0), (2, 1.0), (3, 1.5)):
        r = _post(server, {"model": "smol", "messages": [{"role": "user", "content": "Tell me a joke about cats."}],
                           "max_tokens": 60, "temperature": temperature, "seed": seed, "response_format": rf})
        assert r.status_code == 200, r.text
        doc = r.json()
        choice = doc["choices"][0]
        assert choice["finish_reason"] == "stop", choice
        Odd.model_validate_json(choice["message"]["content"])  # raises if the grammar let anything slip
        assert doc["usage"]["completion_tokens"] > 0 and doc["system_fingerprint"] == "curatekit-llguidance"


def test_a_reply_cut_by_max_tokens_is_closed_into_valid_json_and_reported_as_length(server):
    msgs = answer_messages("I was charged twice for my plan this month. How do I get one payment back?",
                           "You are the support assistant of Acme.")
    r = _post(server, {"model": "smol", "messages": msgs, "max_tokens": 12, "temperature": 0,
                       "response_format": response_format("json_schema", AnswerOut)})
    doc = r.json()
    choice = doc["choices"][0]
    assert choice["finish_reason"] == "length"
    out = AnswerOut.model_validate_json(choice["message"]["content"])
    assert len(out.answer) >= 10
    assert 12 < doc["usage"]["completion_tokens"] <= 12 + CLOSE_TOKENS  # every token is counted


def test_json_object_mode_gives_an_object_and_plain_requests_are_unconstrained(server):
    r = _post(server, {"model": "smol", "messages": [{"role": "user", "content": "Name a fruit."}],
                       "max_tokens": 24, "temperature": 0, "response_format": {"type": "json_object"}})
    choice = r.json()["choices"][0]
    if choice["finish_reason"] == "stop":
        assert isinstance(json.loads(choice["message"]["content"]), dict)
    r = _post(server, {"model": "smol", "messages": [{"role": "user", "content": "Name a fruit."}],
                       "max_tokens": 8, "temperature": 0})
    assert r.json()["system_fingerprint"] == "curatekit" and r.json()["choices"][0]["message"]["content"]


def test_an_unknown_response_format_or_a_bad_field_is_a_400_that_names_it(server):
    r = _post(server, {"model": "smol", "messages": [{"role": "user", "content": "hi"}],
                       "response_format": {"type": "regex", "pattern": "a+"}})
    assert r.status_code == 400 and r.json()["error"]["param"] == "response_format"
    assert "regex" in r.json()["error"]["message"]
    r = _post(server, {"model": "smol", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 0})
    assert r.status_code == 400 and "max_tokens" in r.json()["error"]["message"]
    assert httpx.get(server.removesuffix("/v1") + "/health").json() == {"status": "ok"}


def test_generate_through_the_server_rejects_answers_cut_at_max_tokens_as_truncated_not_as_broken_json(
        server, tmp_path):
    from synth_fakes import read_jsonl, write_topics

    from synth.config import load_config
    from synth.generate import run_generate

    topics = write_topics(tmp_path / "topics.yaml", ["password reset", "refund for a double charge"])
    cfg = load_config(None, {"client.base_url": server, "client.model": "smol", "client.cache": False,
                             "client.timeout_s": 120, "generate.per_topic": 1, "generate.answer_max_tokens": 10,
                             "generate.question_max_tokens": 60, "generate.question_temperature": 0,
                             "generate.curate.enabled": False})
    manifest = run_generate(topics, tmp_path / "sft.jsonl", cfg)
    rejects = read_jsonl(tmp_path / "sft.rejects.jsonl")
    steps = {(r["step"], r["reason"]) for r in rejects}
    # Every question fits in 60 tokens or is closed; every 10-token answer is cut: closed JSON, a clear reason.
    assert manifest["counts"]["n_out"] == 0 and len(rejects) == 2
    assert steps <= {("synth_answer", "synth.truncated"), ("synth_question", "synth.truncated")}
    assert all(r["raw"] and json.loads(r["raw"][-1]) for r in rejects)  # the cut replies still parse
    so = manifest["endpoint"]["structured_output"]
    assert so["fallbacks"] == [] and so["models"]["smol"]["mode"] == "json_schema"
