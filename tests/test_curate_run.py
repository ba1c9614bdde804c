"""`python -m curate run` end to end: accounting, leak proofs, resume after kill -9, incremental runs."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

from curate.config import PipelineConfig
from curate.run import run

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"
FAST = ["--no-pii"]


def cli(*args, env=None, **kw):
    return subprocess.run([sys.executable, "-m", "curate", *args], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, **(env or {})}, **kw)


def read(path):
    return [json.loads(x) for x in Path(path).read_text().splitlines()]


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "sample"
    r = cli("run", "data/sample", "--out", str(out), *FAST)
    assert r.returncode == 0, r.stderr
    return out, r


def test_every_record_is_kept_or_rejected_with_a_reason(sample_run):
    out, _ = sample_run
    m = json.loads((out / "manifest.json").read_text())
    kept = sum(len(read(out / f"{s}.chatml.jsonl")) for s in ("train", "val", "test"))
    rejects = read(out / "rejects.jsonl")
    assert m["totals"] == {"records_in": kept + len(rejects), "kept": kept, "rejected": len(rejects)}
    for s in m["steps"]:
        assert s["n_in"] == s["n_kept"] + s["n_rejected"] == (s["n_in"])
        assert sum(s["reasons"].values()) == s["n_rejected"]
    assert all(r["reason"].count(".") == 1 and r["step"] for r in rejects)


def test_planted_problems_get_the_expected_reasons(sample_run):
    out, _ = sample_run
    rejects = read(out / "rejects.jsonl")
    (dup,) = [r for r in rejects if r["id"].startswith("CM-000777@")]
    assert (dup["reason"], dup["detail"]) == ("dedup.exact_duplicate", "duplicate of CM-000777")
    chats = sorted(r["reason"] for r in rejects if r["source"] == "data/sample/chats.jsonl" and r["step"] == "ingest")
    assert chats == ["schema.empty_content", "schema.invalid_json", "schema.invalid_json", "schema.unknown_role"]
    legacy = sorted(r["reason"] for r in rejects if r["source"].endswith("legacy_phone_notes.txt") and r["step"] == "ingest")
    assert legacy == ["ingest.no_assistant", "ingest.no_speaker_labels", "ingest.unknown_speaker"]
    reasons = defaultdict(int)
    for r in rejects:
        reasons[r["reason"]] += 1
    assert reasons["dedup.near_duplicate"] >= 5
    for code in ("quality.refusal", "quality.repetition", "quality.wrong_language", "quality.placeholder",
                 "quality.truncated", "quality.too_short"):
        assert reasons[code] >= 1, code
    # The two conversations ending on a customer turn are trimmed and kept, not rejected.
    m = json.loads((out / "manifest.json").read_text())
    quality = next(s for s in m["steps"] if s["step"] == "quality")
    assert quality["stats"]["trimmed.ends_on_user"] == 2 and reasons["quality.ends_on_user"] == 0
    # Nothing real is deleted for overlapping val/test: the split keeps related records together.
    assert reasons["decontam.ngram_overlap"] == 0


def test_outputs_validate_and_the_manifest_proves_no_leaks(sample_run):
    out, _ = sample_run
    m = json.loads((out / "manifest.json").read_text())
    lc = m["leak_checks"]
    assert (lc["shared_groups"], lc["cross_split_near_duplicates"], lc["ngram_overlaps"], lc["synthetic_in_eval"]) \
        == (0, 0, 0, 0) and lc["passed"]
    files = [str(out / f"{s}.chatml.jsonl") for s in ("train", "val", "test")]
    assert cli("validate", *files, "--format", "chatml").returncode == 0
    rows = {s: read(out / f"{s}.chatml.jsonl") for s in ("train", "val", "test")}
    groups = defaultdict(set)
    for s, rs in rows.items():
        for r in rs:
            groups[r["meta"]["group"]].add(s)
            if r["meta"]["provenance"] != "real":
                assert s == "train"
    assert all(len(v) == 1 for v in groups.values())
    assert {o["path"] for o in m["outputs"]} >= {"train.chatml.jsonl", "rejects.jsonl"}
    assert (out / "report.html").read_text().count("<svg") >= 4


def test_a_killed_run_resumes_without_redoing_steps_and_gives_identical_bytes(tmp_path, sample_run):
    ref, _ = sample_run
    out = tmp_path / "killed"
    p = subprocess.Popen([sys.executable, "-m", "curate", "run", "data/sample", "--out", str(out), *FAST], cwd=REPO,
                         env={**os.environ, "CURATEKIT_PAUSE_AFTER_STEP": "quality"},
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    marker = out / ".steps" / "04_quality" / "report.json"
    deadline = time.time() + 120
    while not marker.exists() and time.time() < deadline:
        time.sleep(0.1)
    assert marker.exists()
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert not (out / "manifest.json").exists()
    r = cli("run", "data/sample", "--out", str(out), *FAST)
    assert r.returncode == 0, r.stderr
    for step in ("ingest", "normalize", "exact_dedup", "quality"):
        assert f"{step}: reused" in r.stderr
    assert "near_dedup: running" in r.stderr
    names = sorted(p.name for p in ref.iterdir() if p.is_file())
    assert names == sorted(p.name for p in out.iterdir() if p.is_file())
    for name in names:
        assert (out / name).read_bytes() == (ref / name).read_bytes(), name
    again = cli("run", "data/sample", "--out", str(out), *FAST)
    assert "decontam: reused" in again.stderr and "ingest: reused" in again.stderr


def test_an_incremental_run_dedups_against_the_old_corpus_and_keeps_old_assignments(tmp_path):
    first_in = tmp_path / "first"
    first_in.mkdir()
    shutil.copy(SAMPLE / "chats.jsonl", first_in)
    second_in = tmp_path / "second"
    second_in.mkdir()
    shutil.copy(SAMPLE / "turns.csv", second_in)
    shutil.copy(SAMPLE / "chats.jsonl", second_in / "chats_again.jsonl")
    cfg = PipelineConfig.model_validate({"pii": {"enabled": False}})
    old = run([str(first_in)], tmp_path / "run1", cfg)
    new = run([str(second_in)], tmp_path / "run2",
              PipelineConfig.model_validate({"pii": {"enabled": False}, "against": str(tmp_path / "run1")}))
    rejects = read(tmp_path / "run2" / "rejects.jsonl")
    again = [r for r in rejects if r["source"].endswith("chats_again.jsonl") and r["step"] != "schema"]
    # every valid record of the re-landed file is a duplicate of the old corpus (or was filtered as before)
    old_kept = old.manifest.totals["kept"]
    corpus_dups = [r for r in again if "(existing corpus)" in r["detail"]]
    assert len(corpus_dups) >= old_kept
    kept_new = {r["id"] for s in ("train", "val", "test") for r in read(tmp_path / "run2" / f"{s}.chatml.jsonl")}
    kept_old = {r["id"] for s in ("train", "val", "test") for r in read(tmp_path / "run1" / f"{s}.chatml.jsonl")}
    assert kept_old and not kept_new & kept_old
    # groups seen in both runs keep their split
    def splits(d):
        return {r["meta"]["group"]: s for s in ("train", "val", "test") for r in read(d / f"{s}.chatml.jsonl")}
    s1, s2 = splits(tmp_path / "run1"), splits(tmp_path / "run2")
    common = set(s1) & set(s2)
    assert common and all(s1[g] == s2[g] for g in common)
    assert new.manifest.leak_checks["passed"]
