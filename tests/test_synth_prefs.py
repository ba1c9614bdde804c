"""synth prefs: K candidates, a judge asked in both orders, pairs only with a real margin, reasons for the rest."""
from __future__ import annotations

import json

from synth_fakes import curate_validate, kind_of, read_jsonl, run_cli

from synth.config import load_config
from synth.fake_endpoint import FakeEndpoint, default_responder
from synth.prefs import KTOConversational, run_prefs

PROMPTS = {
    "P-good": "P-good: my sync stopped after the update, what now?",
    "P-tie": "P-tie: can I pay by invoice?",
    "P-bias": "P-bias: how do I add a second user?",
    "P-same": "P-same: the app crashes on start.",
    "P-garbage": "P-garbage: where is my invoice?",
    "P-cut": "P-cut: explain every plan in detail.",
    "P-small": "P-small: is there a student discount?",
}


def _all_text(body: dict) -> str:
    return " ".join(str(m.get("content") or "") for m in body.get("messages") or [])


def _pair_scores(body: dict, better: float, worse: float) -> str:
    """Score the longer of the two answers higher (consistently in both orders)."""
    text = body["messages"][-1]["content"]
    a = text.split("Answer A:\n", 1)[1].split("\n\nAnswer B:", 1)[0]
    b = text.split("Answer B:\n", 1)[1].split("\n\n", 1)[0]
    sa, sb = (better, worse) if len(a) >= len(b) else (worse, better)
    return json.dumps({"score_a": sa, "score_b": sb, "rationale": "longer is better"})


def responder(body: dict) -> str:
    text, kind = _all_text(body), kind_of(body)
    if kind == "candidate":
        if "P-same" in text:
            return "Restart the app and sign in again."
        if "P-cut" in text:
            return "word " * 400
        return default_responder(body)
    if kind.startswith("pair"):
        if "P-tie" in text:
            return json.dumps({"score_a": 6, "score_b": 6, "rationale": "both fine"})
        if "P-bias" in text:  # always prefers whatever comes first
            return json.dumps({"score_a": 9, "score_b": 2, "rationale": "A is better"})
        if "P-garbage" in text:
            return "I cannot decide."
        if "P-small" in text:
            return _pair_scores(body, 6, 5.5)
    return default_responder(body)


def _prompts_file(tmp_path):
    path = tmp_path / "prompts.txt"
    path.write_text("\n".join(PROMPTS.values()) + "\n")
    return path


def test_pairs_ties_bias_identical_unparseable_truncated_and_small_margins_each_end_once(tmp_path):
    prompts = _prompts_file(tmp_path)
    with FakeEndpoint(responder=responder) as ep:
        cfg = load_config(None, {"client.base_url": ep.base_url, "client.model": "fake", "prefs.candidates": 3,
                                 "prefs.max_tokens": 200, "prefs.pairs_per_prompt": 2})
        manifest = run_prefs([prompts], tmp_path / "dpo.jsonl", cfg, kto_out=tmp_path / "kto.jsonl")
    rows = read_jsonl(tmp_path / "dpo.jsonl")
    rejects = read_jsonl(tmp_path / "dpo.rejects.jsonl")
    ids = {name: f"prompts:{k + 1}" for k, name in enumerate(PROMPTS)}
    assert {r["id"]: r["reason"] for r in rejects} == {
        ids["P-tie"]: "synth.tie", ids["P-bias"]: "synth.tie", ids["P-same"]: "synth.identical_candidates",
        ids["P-garbage"]: "synth.judge_unparseable", ids["P-cut"]: "synth.one_candidate",
        ids["P-small"]: "synth.low_margin"}
    # P-good: three candidates, three comparisons, each in both orders; best vs worst and best vs middle.
    assert [r["id"] for r in rows] == [ids["P-good"], ids["P-good"] + "#2"]
    first, second = rows
    assert first["meta"]["margin"] == 4.0 and second["meta"]["margin"] == 2.0
    assert first["chosen"] == second["chosen"] and first["rejected"] != second["rejected"]
    assert len(first["chosen"][0]["content"]) > len(first["rejected"][0]["content"])
    judge = first["meta"]["judge"]
    assert len(judge["comparisons"]) == 3 and all({"ab", "ba"} <= set(c) for c in judge["comparisons"])
    assert sorted(judge["scores"].values()) == [4.0, 6.0, 8.0]
    # Position bias: the judge that always prefers A gave each side the same mean, which is a tie.
    bias = next(r for r in rejects if r["id"] == ids["P-bias"])
    assert bias["judge"]["position_bias"] == 3 and set(bias["judge"]["scores"].values()) == {5.5}
    garbage = next(r for r in rejects if r["id"] == ids["P-garbage"])
    assert garbage["raw"].count("I cannot decide.") == 12  # 3 pairs x 2 orders x (reply + repair)
    assert "3 cut off at max_tokens" in next(r for r in rejects if r["id"] == ids["P-cut"])["detail"]
    assert manifest["counts"]["n_in"] == 7 and manifest["notes"]["prompts_paired"] == 1
    # KTO rows from the same scores: the best is good, the worst bad, the middle one neither.
    kto = read_jsonl(tmp_path / "kto.jsonl")
    good = [k for k in kto if k["meta"]["prompt_id"] == ids["P-good"]]
    assert sorted((k["label"], k["meta"]["score"]) for k in good) == [(False, 4.0), (True, 8.0)]
    for k in kto:
        KTOConversational.model_validate(k)
    r = curate_validate(tmp_path / "dpo.jsonl", "dpo")
    assert r.returncode == 0, r.stdout + r.stderr


def test_prompts_come_from_chatml_jsonl_and_bad_lines_are_rejects_with_their_line(tmp_path):
    p = tmp_path / "in.jsonl"
    p.write_text("\n".join([
        json.dumps({"id": "c1", "messages": [{"role": "system", "content": "Be brief."},
                                             {"role": "user", "content": "How do I export my data?"},
                                             {"role": "assistant", "content": "Settings > Export."}]}),
        "{not json",
        json.dumps({"messages": [{"role": "assistant", "content": "hello"}]}),
        json.dumps({"id": "c1", "prompt": "A second prompt with a reused id"}),
        json.dumps({"prompt": "Plain prompt form"}),
    ]) + "\n")
    with FakeEndpoint() as ep:
        cfg = load_config(None, {"client.base_url": ep.base_url, "client.model": "fake", "prefs.candidates": 2})
        manifest = run_prefs([p], tmp_path / "dpo.jsonl", cfg)
    rows = read_jsonl(tmp_path / "dpo.jsonl")
    rejects = read_jsonl(tmp_path / "dpo.rejects.jsonl")
    assert {r["id"] for r in rows} == {"c1", "in:5"}
    c1 = next(r for r in rows if r["id"] == "c1")
    assert [m["role"] for m in c1["prompt"]] == ["system", "user"]  # the prompt stops at the last user turn
    assert {(r["id"], r["reason"], r["line"]) for r in rejects} == {
        ("in:2", "synth.invalid_prompt", 2), ("in:3", "synth.invalid_prompt", 3),
        (f"c1@{p}:4", "synth.duplicate_id", 4)}
    assert manifest["counts"]["n_in"] == 5


def test_a_weaker_second_model_supplies_some_candidates(tmp_path):
    prompts = tmp_path / "p.txt"
    prompts.write_text("How do I cancel?\nWhy was I charged?\n")
    with FakeEndpoint() as ep:
        r = run_cli(["prefs", "--prompts", str(prompts), "--out", str(tmp_path / "dpo.jsonl"), "--base-url",
                     ep.base_url, "--model", "strong", "-k", "3", "--weak-model", "weak", "--weak-candidates", "1",
                     "--no-progress"])
        models = [e.model for e in ep.entries()]
    assert r.returncode == 0, r.stderr
    assert models.count("weak") == 2  # one candidate per prompt
    assert models.count("strong") == 2 * 2 + 2 * 3 * 2  # 2 strong candidates + 3 pairs x 2 orders, per prompt
    rows = read_jsonl(tmp_path / "dpo.jsonl")
    assert rows and all({r["meta"]["chosen"]["model"], r["meta"]["rejected"]["model"]} <= {"strong", "weak"}
                        for r in rows)
    ledger = json.loads((tmp_path / "dpo.manifest.json").read_text())["ledger"]
    assert set(ledger["by_model"]) == {"strong", "weak"} and ledger["by_model"]["weak"]["requests"] == 2
