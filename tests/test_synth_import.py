"""import-prefs: human chosen/rejected pairs or rankings from CSV into validated DPO JSONL."""
from __future__ import annotations

import csv
import json

from synth_fakes import curate_validate, read_jsonl, run_cli


def _csv(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def test_pairwise_rows_become_dpo_pairs_and_bad_rows_rejects_with_their_line(tmp_path):
    src = _csv(tmp_path / "prefs.csv", ["id", "system", "prompt", "chosen", "rejected"], [
        ["a", "Be kind.", "How do I reset my password?", "Use 'Forgot password' on the sign-in page.", "No idea."],
        ["b", "", "Refund?", "Yes, within 30 days from Billing.", "yes,  within 30 days from billing."],
        ["c", "", "Cancel?", "", "Whatever."],
        ["d", "Be kind.", "How do I reset my password?", "Use 'Forgot password' on the sign-in page.", "No idea."],
        ["", "", "Multi\nline prompt", "Answer one.", "Answer two."],
    ])
    r = run_cli(["import-prefs", str(src), "--out", str(tmp_path / "dpo.jsonl")])
    assert r.returncode == 0, r.stderr
    rows = read_jsonl(tmp_path / "dpo.jsonl")
    rejects = read_jsonl(tmp_path / "dpo.rejects.jsonl")
    assert [x["id"] for x in rows] == ["a", "prefs:6"]  # the multi-line row starts on line 6 (of 6-7)
    assert rows[0]["prompt"] == [{"role": "system", "content": "Be kind."},
                                 {"role": "user", "content": "How do I reset my password?"}]
    assert {(x["id"], x["reason"], x["line"]) for x in rejects} == {
        ("b", "synth.identical_texts", 3), ("c", "synth.missing_field", 4), ("d", "synth.duplicate", 5)}
    manifest = json.loads((tmp_path / "dpo.manifest.json").read_text())
    assert manifest["counts"]["n_in"] == 5 and manifest["counts"]["n_out"] == 2
    assert curate_validate(tmp_path / "dpo.jsonl", "dpo").returncode == 0


def test_ranked_rows_pair_the_best_and_worst_response_per_prompt(tmp_path):
    src = _csv(tmp_path / "ranks.csv", ["question", "answer", "rank"], [
        ["Q1", "best", "1"], ["Q1", "middle", "2"], ["Q1", "worst", "3"],
        ["Q2", "only one", "1"],
        ["Q3", "x", "1"], ["Q3", "y", "1"],
        ["Q4", "z", "high"],
    ])
    r = run_cli(["import-prefs", str(src), "--out", str(tmp_path / "dpo.jsonl"), "--prompt-col", "question",
                 "--response-col", "answer", "--rank-col", "rank"])
    assert r.returncode == 0, r.stderr
    rows = read_jsonl(tmp_path / "dpo.jsonl")
    assert len(rows) == 1
    assert rows[0]["chosen"][0]["content"] == "best" and rows[0]["rejected"][0]["content"] == "worst"
    assert rows[0]["meta"]["lines"] == [2, 3, 4]
    assert {(x["reason"], x["line"]) for x in read_jsonl(tmp_path / "dpo.rejects.jsonl")} == {
        ("synth.one_candidate", 5), ("synth.tie", 6), ("synth.invalid_rank", 8)}


def test_a_csv_without_the_needed_columns_is_one_clear_error(tmp_path):
    src = _csv(tmp_path / "x.csv", ["q", "a"], [["1", "2"]])
    r = run_cli(["import-prefs", str(src), "--out", str(tmp_path / "dpo.jsonl")])
    assert r.returncode == 1 and "missing column(s) ['prompt', 'chosen', 'rejected']" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "dpo.jsonl").exists()
