"""Structured outputs against a local endpoint: the schema is sent, refused fields fall back, refusals are rejects."""
from __future__ import annotations

import json

import pytest
from synth_fakes import kind_of, read_jsonl, scenario_script, topic_of, write_topics

from synth.config import load_config
from synth.fake_endpoint import REFUSAL, FakeEndpoint
from synth.generate import run_generate
from synth.prompts import AnswerOut, QuestionOut, RubricOut
from synth.structured import strict_schema

NAMES = ["alpha", "bravo", "charlie", "delta"]


def _cfg(ep: FakeEndpoint, **extra):
    over = {"client.base_url": ep.base_url, "client.model": "fake", "generate.per_topic": 1,
            "generate.curate.enabled": False, "client.max_in_flight": 2, "client.backoff_base_s": 0.01,
            "client.backoff_max_s": 0.05}
    over.update(extra)
    return load_config(None, over)


def _run(tmp_path, ep: FakeEndpoint, names=NAMES, out="sft.jsonl", **extra):
    topics = write_topics(tmp_path / "topics.yaml", names)
    return run_generate(topics, tmp_path / out, _cfg(ep, **extra))


def test_every_json_request_carries_the_strict_schema_of_the_reply_it_expects(tmp_path):
    with FakeEndpoint(response_format_support="json_schema") as ep:
        manifest = _run(tmp_path, ep)
    bodies = ep.bodies()
    assert len(bodies) == 4 * 3 and ep.format_requests() == {"json_schema": 12}
    want = {"question": QuestionOut, "answer": AnswerOut, "judge": RubricOut}
    for b in bodies:
        rf = b["response_format"]
        cls = want[kind_of(b)]
        assert rf == {"type": "json_schema", "json_schema": {"name": cls.__name__, "schema": strict_schema(cls),
                                                             "strict": True}}
    judge = strict_schema(RubricOut)
    assert judge["required"] == ["correctness", "helpfulness", "format", "rationale"]
    assert judge["additionalProperties"] is False and judge["properties"]["format"]["maximum"] == 5
    so = manifest["endpoint"]["structured_output"]
    assert so == {"configured": "auto", "models": {"fake": {"mode": "json_schema", "requests": {"json_schema": 12}}},
                  "fallbacks": []}
    assert manifest["counts"]["n_out"] == 4


@pytest.mark.parametrize("support,final,steps", [
    ("json_object", "json_object", [("json_schema", "json_object")]),
    ("none", "none", [("json_schema", "json_object"), ("json_object", "none")]),
])
def test_an_endpoint_that_answers_400_for_response_format_gets_the_next_mode_and_it_is_remembered(
        tmp_path, support, final, steps):
    with FakeEndpoint(response_format_support=support) as ep:
        manifest = _run(tmp_path, ep)
        refused = [e for e in ep.entries() if e.outcome == "400_response_format"]
        answered = ep.answered()
        # The step down is remembered: only the requests already in flight (2) meet each refusal.
        assert 1 <= len(refused) <= 2 * len(steps)
        assert len(answered) == 12  # each item's question, answer and judge answered once, none lost
        so = manifest["endpoint"]["structured_output"]
        assert so["models"]["fake"]["mode"] == final and so["models"]["fake"]["requests"] == {final: 12}
        assert [(f["from_mode"], f["to_mode"]) for f in so["fallbacks"]] == steps
        assert all("response_format" in f["why"] for f in so["fallbacks"])
        assert manifest["counts"] == {"n_in": 4, "n_out": 4, "n_rejected": 0, "reasons": {}}
        led = manifest["ledger"]
        assert led["requests"] == 12 and led["failures"] == 0
        assert led["errors"] == {"http_400_response_format": len(refused)}
        # A re-run starts from json_schema again, yet pays for nothing: answers stored under the mode they
        # were asked in answer it.
        before = len(ep.entries())
        again = _run(tmp_path, ep)
        assert len(ep.entries()) == before
        assert again["ledger"]["cache_hits"] == 12 and again["ledger"]["requests"] == 0
    assert (tmp_path / "sft.jsonl").read_bytes() and read_jsonl(tmp_path / "sft.jsonl")


def test_a_fixed_mode_that_the_endpoint_refuses_is_a_failed_request_not_a_silent_fallback(tmp_path):
    with FakeEndpoint(response_format_support="json_object") as ep:
        manifest = _run(tmp_path, ep, names=["alpha"], **{"client.response_format": "json_schema"})
    assert manifest["counts"]["reasons"] == {"synth.request_failed": 1}
    rej = read_jsonl(tmp_path / "sft.rejects.jsonl")[0]
    assert rej["step"] == "synth_question" and "response_format" in rej["detail"]
    assert ep.format_requests() == {"json_schema": 1}


def test_a_complete_reply_that_breaks_the_schema_shows_the_endpoint_ignores_it_and_requests_step_down(tmp_path):
    # The endpoint takes response_format and ignores it: its first reply to alpha's question is prose.
    script = scenario_script({("alpha", "question"): ["garbage"], ("alpha", "question_repair"): ["garbage"]},
                             NAMES)
    with FakeEndpoint(script=script) as ep:
        manifest = _run(tmp_path, ep, names=["alpha"])
    so = manifest["endpoint"]["structured_output"]
    assert [(f["from_mode"], f["to_mode"]) for f in so["fallbacks"]] == [("json_schema", "json_object"),
                                                                         ("json_object", "none")]
    assert "did not fit" in so["fallbacks"][0]["why"]
    # What was sent follows the story: schema, then json_object for the repair, then nothing.
    assert [b.get("response_format", {}).get("type") for b in ep.bodies()] == ["json_schema", "json_object"]
    assert manifest["counts"]["reasons"] == {"synth.invalid_json": 1}


def test_refusals_are_rejects_with_their_own_reason_and_are_not_repaired(tmp_path):
    script = scenario_script({("bravo", "question"): ["refusal"], ("charlie", "judge"): ["refusal"]}, NAMES)
    with FakeEndpoint(script=script, response_format_support="json_schema") as ep:
        manifest = _run(tmp_path, ep)
    rejects = {r["topic"]: r for r in read_jsonl(tmp_path / "sft.rejects.jsonl")}
    assert {t: (r["step"], r["reason"]) for t, r in rejects.items()} == {
        "bravo": ("synth_question", "synth.refused"), "charlie": ("synth_judge", "synth.refused")}
    assert REFUSAL in rejects["bravo"]["detail"] and rejects["bravo"]["raw"] == [""]
    assert sorted(r["id"] for r in read_jsonl(tmp_path / "sft.jsonl")) == ["alpha-001", "delta-001"]
    kinds = [kind_of(b) for b in ep.bodies() if topic_of(b, NAMES) in ("bravo", "charlie")]
    assert not any(k.endswith("_repair") for k in kinds)  # a refusal is final: no repair request
    assert manifest["endpoint"]["structured_output"]["fallbacks"] == []  # a refusal is not an ignored schema
    assert manifest["ledger"]["requests"] == len(ep.answered()) == 4 * 3 - 2


def test_the_manifest_and_summary_show_the_yield_per_topic(tmp_path, capsys):
    from synth.report import print_summary

    script = scenario_script({("bravo", "answer"): ["garbage"], ("bravo", "answer_repair"): ["garbage"],
                              ("charlie", "question"): ["refusal"]}, NAMES)
    low = json.dumps({"correctness": 1, "helpfulness": 1, "format": 1, "rationale": "Off topic."})

    def responder(body):
        from synth.fake_endpoint import default_responder
        if topic_of(body, NAMES) == "delta" and kind_of(body) == "judge":
            return low
        return default_responder(body)

    with FakeEndpoint(script=script, responder=responder) as ep:
        manifest = _run(tmp_path, ep, **{"generate.per_topic": 2})
    topics = manifest["topics"]
    assert list(topics) == NAMES
    assert topics["alpha"] == {"requested": 2, "requests": 6, "generated": 2, "kept": 2, "rejected": 0,
                               "reasons": {}}
    # bravo: every answer and its repair are prose.
    assert topics["bravo"] == {"requested": 2, "requests": 2 * 3, "generated": 0, "kept": 0, "rejected": 2,
                               "reasons": {"synth.invalid_json": 2}}
    # charlie: both items' questions are refused (the fake refuses by topic and kind).
    assert topics["charlie"] == {"requested": 2, "requests": 2, "generated": 0, "kept": 0, "rejected": 2,
                                 "reasons": {"synth.refused": 2}}
    assert topics["delta"] == {"requested": 2, "requests": 6, "generated": 2, "kept": 0, "rejected": 2,
                               "reasons": {"synth.low_score": 2}}
    assert sum(t["requests"] for t in topics.values()) == manifest["ledger"]["requests"] == len(ep.answered())
    assert sum(t["kept"] for t in topics.values()) == manifest["counts"]["n_out"]
    print_summary("synth generate", manifest, "examples")
    err = capsys.readouterr().err
    assert "yield per topic" in err and "low_score 2" in err and "response_format: fake:" in err


def test_a_pairwise_judge_that_refuses_every_comparison_is_a_refused_prompt_in_prefs(tmp_path):
    from synth.prefs import run_prefs

    prompts = tmp_path / "prompts.txt"
    prompts.write_text("alpha: my sync stopped after the update, what now?\nbravo: can I pay by invoice?\n")
    script = scenario_script({("alpha", "pair"): ["refusal"]}, NAMES)
    with FakeEndpoint(script=script, response_format_support="json_schema") as ep:
        cfg = load_config(None, {"client.base_url": ep.base_url, "client.model": "fake", "prefs.candidates": 2,
                                 "prefs.min_margin": 0.5})
        manifest = run_prefs([prompts], tmp_path / "dpo.jsonl", cfg)
    rejects = read_jsonl(tmp_path / "dpo.rejects.jsonl")
    assert [(r["id"], r["step"], r["reason"]) for r in rejects] == [("prompts:1", "synth_judge", "synth.refused")]
    assert "2 of 2 judgements refused" in rejects[0]["detail"] and REFUSAL in rejects[0]["detail"]
    assert [r["meta"]["prompt_id"] for r in read_jsonl(tmp_path / "dpo.jsonl")] == ["prompts:2"]
    pair_bodies = [b for b in ep.bodies() if kind_of(b) == "pair"]
    assert len(pair_bodies) == 4 and all(b["response_format"]["json_schema"]["name"] == "PairOut"
                                         for b in pair_bodies)
    assert "response_format" not in [k for b in ep.bodies() if kind_of(b) == "candidate" for k in b]
    assert manifest["endpoint"]["structured_output"]["models"]["fake"]["requests"] == {"json_schema": 4}
