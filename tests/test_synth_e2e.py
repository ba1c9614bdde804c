"""End to end against the real embedded model: `transformers serve` of SmolLM2-135M-Instruct, started by synth.

No endpoint is configured, so each command starts the server on a free loopback port, waits for /health,
uses it and stops it. The 135M model often writes unusable JSON: that must end in rejects with the raw text
and a reason. What must hold: every input ends exactly once (output or rejects), outputs validate, the
ledger counts real answers, and the server is gone afterwards.
"""
from __future__ import annotations

import json
import socket

import pytest
from synth_fakes import curate_validate, read_jsonl, run_cli, write_topics

pytestmark = pytest.mark.slow

SMALL = ["--set", "generate.question_max_tokens=48", "--set", "generate.answer_max_tokens=96",
         "--set", "generate.judge.max_tokens=64", "--set", "generate.question_temperature=0.3",
         "--set", "generate.answer_temperature=0.3"]


def _port_closed(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) != 0


def _check_rejects(rejects: list[dict]) -> None:
    for r in rejects:
        assert r["reason"].count(".") == 1 and r["step"] and r["id"]
        if r["reason"] in ("synth.invalid_json", "synth.schema_invalid", "synth.judge_unparseable"):
            assert r["raw"] and all(isinstance(t, str) for t in r["raw"])  # the model's own text, kept


def test_generate_then_prefs_with_the_embedded_local_model(tmp_path, local_model_dir):
    names = ["password reset", "refund for a double charge"]
    topics = write_topics(tmp_path / "topics.yaml", names, "You are the support assistant of Acme Cloud.")
    sft = tmp_path / "out" / "sft.jsonl"
    g = run_cli(["generate", "--topics", str(topics), "--out", str(sft), "--per-topic", "1", "--no-progress", *SMALL],
                timeout=400)
    assert g.returncode == 0, g.stderr[-3000:]
    assert "starting embedded server: curatekit local_server SmolLM2-135M-Instruct" in g.stderr
    assert "embedded server stopped" in g.stderr
    rows, rejects = read_jsonl(sft), read_jsonl(sft.with_name("sft.rejects.jsonl"))
    assert sorted(r["id"] for r in rows + rejects) == ["password-reset-001", "refund-for-a-double-charge-001"]
    _check_rejects(rejects)
    v = curate_validate(sft, "chatml")
    assert v.returncode == 0, v.stdout + v.stderr
    m = json.loads(sft.with_name("sft.manifest.json").read_text())
    assert m["endpoint"]["embedded"] is True and m["endpoint"]["identity"].startswith("embedded:SmolLM2-135M-Instruct:")
    assert m["ledger"]["requests"] >= 2 and m["ledger"]["completion_tokens"] > 0 and m["ledger"]["errors"] == {}
    assert _port_closed(m["endpoint"]["server"]["port"])  # stopped at the end
    # The schema was sent and enforced: no reply failed to parse or fit, and nothing stepped down.
    so = m["endpoint"]["structured_output"]
    assert so["fallbacks"] == [] and set(so["models"][m["endpoint"]["model"]]["requests"]) == {"json_schema"}
    assert not {"synth.invalid_json", "synth.schema_invalid", "synth.judge_unparseable"} & set(m["counts"]["reasons"])
    assert sum(t["requested"] for t in m["topics"].values()) == 2

    prompts = tmp_path / "prompts.txt"
    prompts.write_text("I was charged twice for my monthly plan. How do I get one payment back?\n")
    dpo = tmp_path / "out" / "dpo.jsonl"
    sources = ["--prompts", str(prompts)] + (["--prompts", str(sft)] if rows else [])
    p = run_cli(["prefs", *sources, "--out", str(dpo), "-k", "2", "--no-progress", "--kto-out",
                 str(tmp_path / "out" / "kto.jsonl"), "--set", "prefs.max_tokens=48",
                 "--set", "prefs.drop_truncated=false", "--set", "prefs.judge.max_tokens=48"], timeout=400)
    assert p.returncode == 0, p.stderr[-3000:]
    pairs, prejects = read_jsonl(dpo), read_jsonl(dpo.with_name("dpo.rejects.jsonl"))
    want = ["prompts:1"] + [r["id"] for r in rows]
    assert sorted({r["meta"]["prompt_id"] for r in pairs} | {r["id"] for r in prejects}) == sorted(want)
    assert len(prejects) + len({r["meta"]["prompt_id"] for r in pairs}) == len(want)  # each prompt once
    _check_rejects(prejects)
    v = curate_validate(dpo, "dpo")
    assert v.returncode == 0, v.stdout + v.stderr
    pm = json.loads(dpo.with_name("dpo.manifest.json").read_text())
    assert pm["ledger"]["requests"] >= 2 * len(want)  # at least K candidates per prompt
    assert _port_closed(pm["endpoint"]["server"]["port"])
    # Kept for the record (the closing note quotes them): what the embedded model produced.
    print("SFT:", json.dumps(rows[:1] or rejects[:1], ensure_ascii=False))
    print("DPO:", json.dumps(pairs[:1] or prejects[:1], ensure_ascii=False))
