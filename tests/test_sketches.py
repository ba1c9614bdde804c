"""Signatures and n-gram tables are computed once per run (curate.sketches) and give the same
results as computing them directly."""
from pathlib import Path

import numpy as np
import polars as pl

from curate import minhash
from curate.config import NearDedupConfig, PipelineConfig
from curate.frame import full_text
from curate.ingest import ingest_step
from curate.ngrams import ngram_table
from curate.run import run
from curate.sketches import SketchStore, run_scope, sketches

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


def _sample_texts() -> list[str]:
    from curate.config import IngestConfig
    from curate.ingest import discover

    files, _ = discover([str(SAMPLE)])
    frame = ingest_step(files, IngestConfig())[0].kept
    return frame.select(full_text().alias("t"))["t"].to_list()


def test_the_store_gives_the_same_signatures_and_ngram_tables_as_computing_them_directly():
    texts = _sample_texts()[:300]
    batch = texts[:200] + texts[:50] + texts[250:] + [""]  # repeats, a new tail, an empty text
    params = NearDedupConfig().minhash_params()
    store = SketchStore()
    first = store.signatures(texts[:200], params)
    assert np.array_equal(first, minhash.signatures(texts[:200], params))
    got = store.signatures(batch, params)
    assert np.array_equal(got, minhash.signatures(batch, params))
    assert store.computed["signatures"] == len(set(texts[:200]) | set(texts[250:]) | {""})
    for n in (3, 13):
        assert store.ngram_table(texts[:200], n).equals(ngram_table(texts[:200], n))
        assert store.ngram_table(batch, n).equals(ngram_table(batch, n))
    assert store.ngram_table([], 13).equals(ngram_table([], 13))


def test_another_minhash_fingerprint_is_computed_apart():
    texts = _sample_texts()[:40]
    store = SketchStore()
    a = store.signatures(texts, NearDedupConfig().minhash_params())
    b = store.signatures(texts, NearDedupConfig(ngram=3).minhash_params())
    assert np.array_equal(b, minhash.signatures(texts, NearDedupConfig(ngram=3).minhash_params()))
    assert not np.array_equal(a, b)
    assert store.computed["signatures"] == 2 * len(set(texts))


def test_outside_a_run_nothing_is_kept_between_calls():
    texts = _sample_texts()[:10]
    params = NearDedupConfig().minhash_params()
    one, two = sketches(), sketches()
    one.signatures(texts, params)
    assert one is not two and two.computed["signatures"] == 0


def test_a_run_computes_each_signature_once_and_every_consumer_reuses_it(tmp_path):
    cfg = PipelineConfig(pii={"enabled": False})
    with run_scope() as store:
        result = run([str(SAMPLE)], tmp_path / "out", cfg)
    steps = {s.step: s for s in result.manifest.steps}
    kept = result.manifest.totals["kept"]
    near_in, split_in = steps["near_dedup"].n_in, steps["split"].n_in
    # near_dedup, the split's relatedness graph and the final corpus (leak check + index) all asked ...
    assert store.requested["signatures"] >= near_in + split_in + kept
    # ... but no text was hashed twice: at most one signature per record that reached near_dedup.
    assert store.computed["signatures"] <= near_in
    # the n-gram tables: the split's graph, decontamination and the leak check, each text once
    assert store.requested["ngram_tables"] >= split_in + kept
    assert store.computed["ngram_tables"] <= split_in
    # the corpus index holds exactly the signatures computed from scratch for the exported texts
    # (its ids are the run's internal ids, so compared as a multiset)
    sf = minhash.load_signatures(tmp_path / "out" / "corpus" / "signatures.parquet")
    frames = [pl.read_ndjson(tmp_path / "out" / f"{s}.chatml.jsonl") for s in ("train", "val", "test")]
    assert len(sf.ids) == kept == sum(f.height for f in frames)
    texts = ["\n".join(m["content"] for m in msgs) for f in frames for msgs in f["messages"].to_list()]
    direct = minhash.signatures(texts, cfg.near_dedup.minhash_params())
    assert sorted(map(bytes, sf.sigs)) == sorted(map(bytes, direct))
