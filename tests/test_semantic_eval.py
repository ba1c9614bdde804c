"""The measuring kit of semantic dedup: the held-out paraphrase set, the side-by-side table, the 100k corpus."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import eval_paraphrase  # noqa: E402


def _text(side) -> str:
    return side if isinstance(side, str) else "\n".join(side)


def test_the_held_out_paraphrase_set_is_large_labelled_and_shares_no_text_with_the_dev_set():
    dev = eval_paraphrase.load_pairs(eval_paraphrase.DATA)
    held = eval_paraphrase.load_pairs(eval_paraphrase.HELDOUT)
    assert len(held) >= 120
    assert len({r["id"] for r in held}) == len(held)
    assert not {r["id"] for r in held} & {r["id"] for r in dev}
    kinds = {(r["kind"], r["type"], r["label"]) for r in held}
    for want in [("question", "paraphrase", 1), ("conversation", "paraphrase", 1), ("question", "hard_negative", 0),
                 ("conversation", "hard_negative", 0), ("question", "other_topic", 0)]:
        assert want in kinds
    assert {r["strength"] for r in held if r["label"] == 1} == {"strong", "medium", "weak"}
    dev_texts = {_text(r[s]).lower() for r in dev for s in ("a", "b")}
    held_texts = {_text(r[s]).lower() for r in held for s in ("a", "b")}
    assert not dev_texts & held_texts
    assert all(_text(r["a"]) != _text(r["b"]) for r in held)


def test_the_second_held_out_set_is_blind_to_the_others_covers_every_hard_negative_kind_and_each_style():
    earlier = eval_paraphrase.load_pairs(eval_paraphrase.DATA) + eval_paraphrase.load_pairs(eval_paraphrase.HELDOUT)
    held = eval_paraphrase.load_pairs(eval_paraphrase.HELDOUT2)
    assert len(held) >= 200 and len({r["id"] for r in held}) == len(held)
    assert not {r["id"] for r in held} & {r["id"] for r in earlier}
    earlier_texts = {_text(r[s]).lower() for r in earlier for s in ("a", "b")}
    assert not earlier_texts & {_text(r[s]).lower() for r in held for s in ("a", "b")}
    negatives = [r for r in held if r["type"] == "hard_negative"]
    subtypes = {r["subtype"] for r in negatives}
    assert subtypes == {"swap", "negation", "entity", "number", "scope", "followup", "answer"}
    assert min(sum(r["subtype"] == t for r in negatives) for t in subtypes) >= 12
    assert {r["style"] for r in held} == {"typed", "synthetic", "formal"}
    assert all((r["label"] == 1) == (r["type"] == "paraphrase") for r in held)
    assert sum(r["kind"] == "conversation" for r in held) >= 0.45 * len(held)


def test_the_side_by_side_table_marks_the_frozen_thresholds_and_counts_each_set(capsys):
    def one_set(cos, labels):
        n = len(labels)
        return {"cosine": np.asarray(cos), "jaccard 5-gram": np.zeros(n), "jaccard 1-gram": np.zeros(n),
                "labels": np.asarray(labels), "kinds": np.asarray(["question"] * n)}

    sets = {"dev": one_set([0.95, 0.93, 0.50, 0.10], [1, 1, 1, 0]),
            "held-out": one_set([0.93, 0.40, 0.94, 0.96], [1, 1, 0, 0])}
    eval_paraphrase.side_by_side(sets, {0.92: "dedup default"})
    row = next(line for line in capsys.readouterr().out.splitlines()
               if line.startswith("cosine") and " 0.92 " in line)
    dev_cell, held_cell = [c.split() for c in row.split("|")[1:3]]
    assert dev_cell[:3] == ["1.000", "0.667", "0"]      # 2 of 3 paraphrases, no non-pair
    assert held_cell[:3] == ["0.333", "0.500", "2"]     # 1 of 2 paraphrases, both non-pairs above
    assert row.endswith("<- dedup default")


def test_the_mixed_benchmark_corpus_is_distinct_real_text_from_both_packages_in_a_fixed_shuffle():
    pytest.importorskip("chitchat_dataset")
    pytest.importorskip("chatterbot_corpus")
    import bench_semantic

    convs = bench_semantic.mixed_texts(120_000)
    assert len(convs) == 120_000
    texts = [bench_semantic.conversation_text(c) for c in convs]
    assert len(set(texts)) == len(texts)
    chatterbot = {bench_semantic.conversation_text(c) for c in bench_semantic.chatterbot_all()}
    head = texts[:2000]
    share = sum(t in chatterbot for t in head) / len(head)
    assert 0.01 < share < 0.2  # 7,642 of 138,003 overall: any prefix mixes both sources
    assert all(c[0]["role"] == "user" and len(c) >= 2 for c in convs[:2000])
    assert bench_semantic.conversation_text(bench_semantic.mixed_texts(5)[0]) == texts[0]
