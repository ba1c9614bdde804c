"""Leak-free splits by grouping, never by deleting: the relatedness graph, dedup on the scrubbed
text, incremental runs, and what a failed leak check does."""
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from curate.config import NearDedupConfig, PipelineConfig, SplitConfig
from curate.frame import records_to_frame
from curate.minhash import shingle_hash_sets
from curate.run import run
from curate.decontam import overlaps
from curate.split import split_by_group
from curate.config import DecontamConfig
from schemas.record import Record

REPO = Path(__file__).resolve().parents[1]
SEEDS = [f"seed-{i}" for i in range(24)]


def words(i, n=40):
    """A distinct text per ``i``: no two share a 5-word shingle or a 13-word span by chance."""
    r = random.Random(i)
    return " ".join("".join(r.choice("bcdfgklmnprstvz") + r.choice("aeiou") for _ in range(3)) for _ in range(n))


def rec(rid, answer, question=None, group=None, prov="real"):
    return Record(id=rid, source="in.jsonl", line=1, group=group or rid, provenance=prov,
                  messages=[{"role": "user", "content": question or words(hash(rid) % 10**6, 8)},
                            {"role": "assistant", "content": answer}])


def jaccard(a, b):
    sa, sb = (set(x.tolist()) for x in shingle_hash_sets([a, b], 5))
    return len(sa & sb) / len(sa | sb)


def together(f, ids, cfg=None):
    """Over many hash seeds: do the records ``ids`` always land in one split?"""
    out = []
    for seed in SEEDS:
        kept = split_by_group(f, (cfg or SplitConfig()).model_copy(update={"seed": seed})).kept
        out.append(kept.filter(pl.col("id").is_in(ids))["split"].n_unique() == 1)
    return out


def related_pair():
    base = words(7, 60).split()
    edited = list(base)
    for j in range(0, 60, 20):  # one word in 20 changed: exact 5-gram Jaccard between 0.5 and 0.8
        edited[j] = "zzz" + edited[j]
    return " ".join(base), " ".join(edited)


SPAN = "please restart the modem then hold the reset button for ten full seconds before you call back"


def test_conversations_related_at_jaccard_05_to_08_or_by_a_shared_13_gram_land_in_one_split():
    a, b = related_pair()
    q = "How do I fix my connection?"
    assert 0.5 <= jaccard(q + "\n" + a, q + "\n" + b) < 0.8
    c, d = words(11, 30) + " " + SPAN, SPAN + " " + words(12, 30)
    assert jaccard(c, d) < 0.3
    records = [rec(f"f{i}", words(100 + i)) for i in range(40)]
    records += [rec("A", a, q), rec("B", b, q), rec("C", c), rec("D", d)]
    f = records_to_frame(records)
    assert all(together(f, ["A", "B"])) and all(together(f, ["C", "D"]))
    # The same pairs without those edges (related threshold above their Jaccard, n-gram edges off)
    # are split apart by some seeds: the grouping above is the graph's doing, not luck.
    loose = SplitConfig(related_threshold=0.9, boilerplate_max_records=1)
    assert not all(together(f, ["A", "B"], loose)) and not all(together(f, ["C", "D"], loose))
    st = split_by_group(f, SplitConfig()).report.stats
    assert st["edges_minhash"] >= 1 and st["edges_ngram"] >= 1 and st["largest_component"] == 2


def test_a_canned_macro_shared_by_hundreds_of_records_does_not_merge_them():
    macro = ("Thank you for contacting Northwind support, if there is anything else we can help you with "
             "today just reply to this message and an agent will be with you shortly")
    records = [rec(f"m{i}", words(1000 + i, 25) + ". " + macro) for i in range(300)]
    records += [rec("C", words(11, 30) + " " + SPAN), rec("D", SPAN + " " + words(12, 30))]
    f = records_to_frame(records)
    r = split_by_group(f, SplitConfig())
    st = r.report.stats
    assert st["largest_component"] == 2 and st["components"] == 301  # only C and D are joined
    assert 2 <= st["boilerplate_k"] < 300  # the macro's spans (in 300 records) are boilerplate
    kept = r.kept
    assert set(kept["split"]) == {"train", "val", "test"}
    assert kept.filter(pl.col("id").is_in(["C", "D"]))["split"].n_unique() == 1
    # ... and the leak check, with the same bound, finds no overlap although the macro is everywhere.
    assert sum(h is not None for h in overlaps(kept, DecontamConfig(), {})) == 0
    # A share cap forces the bound down: a span in 30 records would make a 30-record component.
    small = records_to_frame([rec(f"s{i}", words(2000 + i, 25) + ". " + macro) for i in range(30)]
                             + [rec(f"t{i}", words(3000 + i, 25)) for i in range(70)])
    st2 = split_by_group(small, SplitConfig(boilerplate_max_records=50, max_component_share=0.15)).report.stats
    assert st2["largest_component"] <= 15 and st2["boilerplate_k"] < 30
    st3 = split_by_group(small, SplitConfig(boilerplate_max_records=50, max_component_share=0.5)).report.stats
    assert st3["largest_component"] == 30 and st3["boilerplate_k"] == 50


def test_records_that_differ_only_in_pii_are_deduplicated(tmp_path):
    pytest.importorskip("presidio_analyzer")

    def chat(cid, name, email, phone, order):
        return {"id": cid, "messages": [
            {"role": "user", "content": f"Hi, this is {name}. My order {order} never arrived; reach me at "
                                        f"{email} or {phone}."},
            {"role": "assistant", "content": f"Sorry about that, {name}. I have reshipped order {order} today "
                                             f"and sent the tracking link to {email}."}]}

    rows = [chat("P1", "Maria Garcia", "maria.garcia@example.com", "(415) 555-0134", "ORD-48213"),
            chat("P2", "John Miller", "jmiller77@example.org", "(212) 555-0187", "ORD-99120"),
            {"id": "X1", "messages": [{"role": "user", "content": "Can I change my plan to the yearly one?"},
                                      {"role": "assistant", "content": "Yes, open Plans in the app, choose "
                                                                       "Yearly and confirm; it starts next month."}]}]
    inp = tmp_path / "in"
    inp.mkdir()
    (inp / "chats.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    res = run([str(inp)], tmp_path / "out", PipelineConfig())
    rejects = [json.loads(x) for x in (tmp_path / "out" / "rejects.jsonl").read_text().splitlines()]
    assert [(r["id"], r["reason"], r["detail"]) for r in rejects] == [
        ("P2", "dedup.exact_duplicate", "duplicate of P1 once PII is scrubbed")]
    assert res.manifest.leak_checks["passed"] and res.manifest.totals["kept"] == 2


def _jsonl(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _chat(cid, cust, i):
    return {"id": cid, "customer_id": cust, "messages": [
        {"role": "user", "content": words(5000 + i, 10) + "?"},
        {"role": "assistant", "content": words(9000 + i, 30) + "."}]}


def _long_chat(cid, cust, i, edit=False):
    answer = words(40000 + i, 60).split()
    if edit:  # two words changed: Jaccard about 0.7 with the original, related but no near-duplicate
        answer[20], answer[45] = "zzz" + answer[20], "zzz" + answer[45]
    return {"id": cid, "customer_id": cust, "messages": [
        {"role": "user", "content": words(50000 + i, 10) + "?"},
        {"role": "assistant", "content": " ".join(answer) + "."}]}


def test_a_new_increment_never_moves_an_old_group(tmp_path):
    first = [_chat(f"a{i}", f"C{i}", i) for i in range(40)] + [_long_chat(f"r{i}", f"RC{i}", i) for i in range(12)]
    _jsonl(tmp_path / "in1" / "chats.jsonl", first)
    cfg = PipelineConfig.model_validate({"pii": {"enabled": False}})
    run([str(tmp_path / "in1")], tmp_path / "run1", cfg)
    # The increment: more conversations of every old customer, all of them in the new run, plus new
    # customers; balancing may move new components, never an old group.
    second = [_chat(f"b{i}", f"C{i}", 100 + i) for i in range(40)] + \
             [_chat(f"n{i}", f"N{i}", 200 + i) for i in range(20)] + \
             [_long_chat(f"s{i}", f"SN{i}", i, edit=True) for i in range(12)]  # related to old r{i}, new customer
    _jsonl(tmp_path / "in2" / "chats.jsonl", second)
    new = run([str(tmp_path / "in2")], tmp_path / "run2", cfg.model_copy(update={"against": str(tmp_path / "run1")}))

    def splits(d):
        return {r["meta"]["group"]: s for s in ("train", "val", "test")
                for r in map(json.loads, (d / f"{s}.chatml.jsonl").read_text().splitlines())}

    old, now = splits(tmp_path / "run1"), splits(tmp_path / "run2")
    common = set(old) & set(now)
    assert len(common) == 40 and all(now[g] == old[g] for g in common)

    def by_id(d):
        return {r["id"]: s for s in ("train", "val", "test")
                for r in map(json.loads, (d / f"{s}.chatml.jsonl").read_text().splitlines())}

    ids1, ids2 = by_id(tmp_path / "run1"), by_id(tmp_path / "run2")
    followed = [i for i in range(12) if f"s{i}" in ids2]  # a few may be near-duplicates of the old one
    assert len(followed) >= 9 and all(ids2[f"s{i}"] == ids1[f"r{i}"] for i in followed)
    assert len({ids1[f"r{i}"] for i in followed}) > 1  # the old ones are spread over splits
    assert new.manifest.leak_checks["passed"]
    st = next(s for s in new.manifest.steps if s.step == "split").stats
    assert st["components_kept_from_earlier_runs"] == 40 + len(followed)


def test_the_sample_splits_the_same_whether_its_path_is_typed_relative_or_absolute(tmp_path):
    cfg = PipelineConfig.model_validate({"pii": {"enabled": False}})
    cwd = os.getcwd()
    try:
        os.chdir(REPO)
        rel = run(["data/sample"], tmp_path / "rel", cfg)
    finally:
        os.chdir(cwd)
    ab = run([str(REPO / "data" / "sample")], tmp_path / "abs", cfg)

    def groups(d):
        return sorted((r["meta"]["group"], s) for s in ("train", "val", "test")
                      for r in map(json.loads, (d / f"{s}.chatml.jsonl").read_text().splitlines()))

    assert rel.manifest.totals == ab.manifest.totals and rel.manifest.splits == ab.manifest.splits
    assert groups(tmp_path / "rel") == groups(tmp_path / "abs")


def test_a_failed_leak_check_is_one_clear_line_and_train_refuses_it(tmp_path):
    from train.intake import IntakeError, open_run

    domain = [_chat(f"d{i}", f"C{i}", i) for i in range(40)]
    _jsonl(tmp_path / "in" / "chats.jsonl", domain)
    # General data that copies a long span of every domain answer; with decontamination switched
    # off, the mixed-in records (train) overlap val and test.
    mix = [{"instruction": words(20000 + i, 12) + "?",
            "output": " ".join(d["messages"][1]["content"].split()[:16]) + " " + words(30000 + i, 30)}
           for i, d in enumerate(domain)]
    _jsonl(tmp_path / "general.jsonl", mix)
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "curate", "run", str(tmp_path / "in"), "--out", str(out), "--no-pii",
                        "--mix", str(tmp_path / "general.jsonl"), "--mix-fraction", "0.3",
                        "--set", "decontam.enabled=false"], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 1
    m = json.loads((out / "manifest.json").read_text())
    n = m["leak_checks"]["ngram_overlaps"]
    assert n > 0 and m["status"] == "failed"
    line = (f"{out}: leak check ngram_overlaps failed: {n} train records share a long span with val, test or "
            "an eval file; fix: keep decontam.enabled true, or raise split.max_component_share / "
            "split.boilerplate_max_records so related records can share a split (outputs marked failed in "
            "manifest.json; train refuses them)")
    assert [x for x in r.stderr.splitlines() if x.startswith(str(out))] == [line]
    assert "leak checks: FAIL" in r.stderr
    assert "Traceback" not in r.stderr
    with pytest.raises(IntakeError) as e:
        open_run(out)
    assert str(e.value).startswith(f"{out / 'manifest.json'}: the run is marked failed, not for training: "
                                   f"leak check ngram_overlaps failed: {n} train records")
    t = subprocess.run([sys.executable, "-m", "train", "sft", "--data", str(out), "--out", str(tmp_path / "t")],
                       capture_output=True, text=True, cwd=REPO)
    assert t.returncode == 1 and len(t.stderr.strip().splitlines()) == 1 and "marked failed" in t.stderr
    # With decontamination on (the default), the same run deletes the overlapping mixed-in records
    # (never a real one) and passes.
    ok = subprocess.run([sys.executable, "-m", "curate", "run", str(tmp_path / "in"), "--out", str(tmp_path / "ok"),
                         "--no-pii", "--mix", str(tmp_path / "general.jsonl"), "--mix-fraction", "0.3"],
                        capture_output=True, text=True, cwd=REPO)
    assert ok.returncode == 0, ok.stderr
    rej = [json.loads(x) for x in (tmp_path / "ok" / "rejects.jsonl").read_text().splitlines()]
    decon = [x for x in rej if x["step"] == "decontam"]
    assert decon and all(x["id"].startswith("mix:") for x in decon)
