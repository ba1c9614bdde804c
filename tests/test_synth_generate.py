"""synth generate against a fault-injecting local endpoint: every input ends exactly once, with exact reasons."""
from __future__ import annotations

import json
import random

import pytest
from synth_fakes import (curate_validate, read_jsonl, responder_with, run_cli, scenario_script, write_topics)

from synth.config import load_config
from synth.errors import SynthUserError
from synth.fake_endpoint import FakeEndpoint
from synth.generate import run_generate
from synth.topics import load_topics

NAMES = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo", "lima"]

# (topic, request kind) -> what the endpoint does on attempt 0, 1, ... (then "ok").
SCENARIOS = {
    ("bravo", "question"): ["429_retry_after"],
    ("charlie", "question"): ["429", "500"],
    ("delta", "answer"): ["hang"],
    ("echo", "answer"): ["truncated"],
    ("foxtrot", "judge"): ["invalid_body"],
    ("golf", "question"): ["garbage"], ("golf", "question_repair"): ["garbage"],
    ("hotel", "question"): ["garbage"],
    ("india", "answer"): ["500", "500", "500", "500"],
    ("kilo", "judge"): ["garbage"], ("kilo", "judge_repair"): ["garbage"],
    ("lima", "answer"): ["429", "hang", "truncated"],
}
LOW = json.dumps({"correctness": 1, "helpfulness": 2, "format": 2, "rationale": "Wrong and vague."})
EXPECT_KEPT = {"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "hotel", "lima"}
EXPECT_REJECTED = {"golf": ("synth_question", "synth.invalid_json"), "india": ("synth_answer", "synth.request_failed"),
                   "juliet": ("synth_judge", "synth.low_score"), "kilo": ("synth_judge", "synth.judge_unparseable")}


def _fault_cfg(**extra):
    over = {"client.timeout_s": 0.5, "client.backoff_base_s": 0.02, "client.backoff_max_s": 0.1,
            "client.max_retries": 3, "client.max_in_flight": 4, "generate.per_topic": 1,
            "generate.curate.enabled": False}
    over.update(extra)
    return over


def test_faults_in_random_order_end_each_input_once_with_exact_reasons_and_a_matching_ledger(tmp_path):
    order = NAMES[:]
    random.Random(5).shuffle(order)  # the faults arrive in a random order
    topics = write_topics(tmp_path / "topics.yaml", order)
    ep = FakeEndpoint(script=scenario_script(SCENARIOS, NAMES), hang_s=5, retry_after="1",
                      responder=responder_with({("juliet", "judge"): LOW}, NAMES))
    with ep:
        cfg = load_config(None, {**_fault_cfg(), "client.base_url": ep.base_url, "client.model": "fake"})
        manifest = run_generate(topics, tmp_path / "sft.jsonl", cfg)
    rows = read_jsonl(tmp_path / "sft.jsonl")
    rejects = read_jsonl(tmp_path / "sft.rejects.jsonl")
    kept = {r["meta"]["synth"]["topic"] for r in rows}
    assert kept == EXPECT_KEPT
    assert {r["topic"]: (r["step"], r["reason"]) for r in rejects} == EXPECT_REJECTED
    ids = [r["id"] for r in rows] + [r["id"] for r in rejects]
    assert sorted(ids) == sorted(f"{n}-001" for n in NAMES)  # each input exactly once
    # Raw model text kept for parse failures; score and rationale kept for low scores.
    by_topic = {r["topic"]: r for r in rejects}
    assert by_topic["golf"]["raw"] == ["Sure! I think the best reply is to be kind."] * 2
    assert len(by_topic["kilo"]["raw"]) == 2
    assert by_topic["juliet"]["judge"]["score"] == 1.6667 and by_topic["juliet"]["judge"]["rationale"]
    assert "4 attempts" in by_topic["india"]["detail"]
    assert [r["meta"]["synth"].get("repaired") for r in rows if r["meta"]["synth"]["topic"] == "hotel"] == [
        ["synth_question"]]
    # The ledger is what the endpoint actually answered: complete 200s, their tokens, nothing else.
    led = manifest["ledger"]
    answered = ep.answered()
    # 12 x (question, answer, judge) = 36; golf: 2 garbage replies and stop (-1); hotel: +1 repair;
    # india: question only (-2); kilo: judge + repair, both garbage (+1).
    assert led["requests"] == len(answered) == 35
    assert led["prompt_tokens"] == sum(e.prompt_tokens for e in answered)
    assert led["completion_tokens"] == sum(e.completion_tokens for e in answered)
    assert led["errors"] == {"bad_body": 1, "connection": 2, "http_429": 3, "http_500": 5, "timeout": 2}
    assert led["retries"] == 12 and led["failures"] == 1
    assert manifest["counts"] == {"n_in": 12, "n_out": 8, "n_rejected": 4, "reasons": {
        "synth.invalid_json": 1, "synth.judge_unparseable": 1, "synth.low_score": 1, "synth.request_failed": 1}}
    assert curate_validate(tmp_path / "sft.jsonl", "chatml").returncode == 0


def test_generated_examples_pass_curation_duplicates_and_eval_overlaps_are_rejected(tmp_path):
    names = ["alpha", "bravo", "charlie", "delta"]
    same = json.dumps({"answer": "Please open Settings, choose Billing and press Refund; the money is back in "
                                 "five working days and you get an email when it is done."})
    leaked = ("To restore a deleted file open the web app, go to Trash, tick the file and press Restore; "
              "files stay in the trash for thirty days before they are removed for good.")
    evals = tmp_path / "eval.jsonl"
    evals.write_text(json.dumps({"messages": [{"role": "user", "content": "how do I restore a file?"},
                                              {"role": "assistant", "content": leaked}]}) + "\n")
    # alpha and bravo get the same question (it names alpha first, so its answer is alpha's too).
    question = json.dumps({"question": "Where is my refund? I asked about alpha and bravo last week."})
    responder = responder_with({("alpha", "question"): question, ("bravo", "question"): question,
                                ("alpha", "answer"): same, ("delta", "answer"): json.dumps({"answer": leaked})}, names)
    topics = write_topics(tmp_path / "topics.yaml", names)
    with FakeEndpoint(responder=responder) as ep:
        cfg = load_config(None, {"client.base_url": ep.base_url, "client.model": "fake", "generate.per_topic": 1,
                                 "generate.curate.eval_files": [str(evals)]})
        manifest = run_generate(topics, tmp_path / "sft.jsonl", cfg)
    rows = read_jsonl(tmp_path / "sft.jsonl")
    rejects = read_jsonl(tmp_path / "sft.rejects.jsonl")
    assert [r["id"] for r in rows] == ["alpha-001", "charlie-001"]
    assert {r["id"]: r["reason"] for r in rejects} == {"bravo-001": "dedup.exact_duplicate",
                                                       "delta-001": "decontam.ngram_overlap"}
    assert rejects[0]["messages"][-1]["role"] == "assistant"
    assert [s["step"] for s in manifest["steps"]] == ["synth_question", "synth_evolve", "synth_answer", "synth_judge",
                                                      "normalize", "exact_dedup", "near_dedup", "quality", "decontam"]
    for s in manifest["steps"]:
        assert s["n_in"] == s["n_kept"] + s["n_rejected"]
    assert str(evals) in [i["path"] for i in manifest["inputs"]]
    assert all(r["meta"]["provenance"] == "synthetic" for r in rows)


def test_evolution_rewrites_the_question_and_records_each_operation(tmp_path):
    topics = write_topics(tmp_path / "topics.yaml", ["alpha", "bravo"])
    with FakeEndpoint() as ep:
        cfg = load_config(None, {"client.base_url": ep.base_url, "client.model": "fake", "generate.per_topic": 2,
                                 "generate.evolve.enabled": True, "generate.evolve.rounds": 2,
                                 "generate.curate.enabled": False})
        manifest = run_generate(topics, tmp_path / "sft.jsonl", cfg)
    rows = read_jsonl(tmp_path / "sft.jsonl")
    assert len(rows) == 4
    for r in rows:
        evo = r["meta"]["synth"]["evolution"]
        assert len(evo) == 2 and all(e["operation"] in ("deepen", "add_constraints", "concretise") for e in evo)
        assert evo[0]["before"] != r["messages"][1]["content"]  # the kept question is the evolved one
    assert manifest["ledger"]["requests"] == 4 * 5  # question, 2 evolutions, answer, judge


def test_budget_stops_cleanly_and_a_rerun_with_more_budget_finishes_without_paying_twice(tmp_path):
    names = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"]
    topics = write_topics(tmp_path / "topics.yaml", names)
    common = ["generate", "--topics", str(topics), "--out", str(tmp_path / "sft.jsonl"), "--model", "fake",
              "--no-curate", "--no-progress", "--max-in-flight", "1", "--price", "fake=0,1000000", "--per-topic", "1"]
    # One cost unit per output token; an answer request reserves its max_tokens (400) before it is sent.
    with FakeEndpoint() as ep:
        first = run_cli(common + ["--base-url", ep.base_url, "--budget", "500"])
        assert first.returncode == 0, first.stderr
        m1 = json.loads((tmp_path / "sft.manifest.json").read_text())
        sent_first = len(ep.entries())
        assert m1["complete"] is False and m1["ledger"]["stopped_by_budget"]
        assert m1["ledger"]["cost"] <= 500 and m1["ledger"]["requests"] == sent_first
        n_out, reasons = m1["counts"]["n_out"], m1["counts"]["reasons"]
        assert n_out >= 1  # finished examples are kept
        assert reasons == {"synth.budget_exhausted": 6 - n_out}
        assert [r["id"] for r in read_jsonl(tmp_path / "sft.jsonl")] == [f"{n}-001" for n in names[:n_out]]
        assert "budget 500" in first.stderr and "reached" in first.stderr
        second = run_cli(common + ["--base-url", ep.base_url])
        assert second.returncode == 0, second.stderr
        m2 = json.loads((tmp_path / "sft.manifest.json").read_text())
        firsts = {e.identity for e in ep.entries()[:sent_first]}
        assert not firsts & {e.identity for e in ep.entries()[sent_first:]}  # nothing paid twice
        assert m2["complete"] is True and m2["counts"]["n_out"] == 6
        assert m2["ledger"]["cache_hits"] == sent_first
        assert m2["ledger"]["requests"] + sent_first == len(ep.entries()) == 18


def test_topics_files_yaml_or_text_and_their_errors_name_the_file(tmp_path):
    t = tmp_path / "t.txt"
    t.write_text("# comment\npassword reset\n\nbilling\n")
    tf = load_topics(t)
    assert [x.name for x in tf.topics] == ["password reset", "billing"] and [x.line for x in tf.topics] == [2, 4]
    bad = tmp_path / "bad.yaml"
    bad.write_text("topics: [a, b]\npersonnas: [x]\n")
    with pytest.raises(SynthUserError, match=r"bad.yaml: unknown key\(s\) \['personnas'\]"):
        load_topics(bad)
    broken = tmp_path / "broken.yaml"
    broken.write_text("topics:\n  - a\n  - [b\n")
    with pytest.raises(SynthUserError, match=r"broken.yaml:\d+: not valid YAML"):
        load_topics(broken)
    shipped = load_topics("data/seed_topics.yaml")
    assert len(shipped.topics) >= 4 and shipped.system_prompt and len(shipped.personas) >= 3


def test_user_errors_are_one_line_with_a_nonzero_exit(tmp_path):
    r = run_cli(["generate", "--topics", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "o.jsonl")])
    assert r.returncode == 1 and r.stderr.strip().count("\n") == 0 and "topics file not found" in r.stderr
    topics = write_topics(tmp_path / "t.yaml", ["alpha"])
    r = run_cli(["generate", "--topics", str(topics), "--out", str(tmp_path / "o.jsonl"), "--base-url",
                 "http://127.0.0.1:9/v1"])
    assert r.returncode == 2 and "no model: pass --model" in r.stderr and "Traceback" not in r.stderr
    r = run_cli(["generate", "--topics", str(topics), "--out", str(tmp_path / "o.jsonl"), "--set",
                 "generate.judge.min_score=9"])
    assert r.returncode == 2 and "generate.judge.min_score" in r.stderr and "Traceback" not in r.stderr


def test_the_progress_bar_shows_requests_tokens_and_cost(tmp_path):
    topics = write_topics(tmp_path / "topics.yaml", ["alpha", "bravo"])
    with FakeEndpoint() as ep:
        r = run_cli(["generate", "--topics", str(topics), "--out", str(tmp_path / "sft.jsonl"), "--base-url",
                     ep.base_url, "--model", "fake", "--progress", "--price", "fake=1,2"])
    assert r.returncode == 0, r.stderr
    assert "generate" in r.stderr and "12 req (0 cached, 0 retries)" in r.stderr and "tok in/out" in r.stderr
    assert "cost 0.00" in r.stderr
