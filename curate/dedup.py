"""exact_dedup and near_dedup steps. The first record (in input order) of a set is kept.

Both can also dedup against an existing curated corpus (an earlier run's
``corpus/`` index): new records that duplicate old ones are rejected, old
records are never touched.
"""
from __future__ import annotations

import numpy as np
import polars as pl
import xxhash

from curate.config import ExactDedupConfig, NearDedupConfig
from curate.frame import full_text
from curate.sketches import sketches
from curate.step import StepResult, partition


def exact_keys(frame: pl.DataFrame, case_sensitive: bool = False) -> list[str]:
    """Stable content hash per record: roles and whitespace-collapsed text of every turn."""
    el = pl.element()
    body = pl.col("messages").list.eval(
        el.struct.field("role") + pl.lit("\x1f") + el.struct.field("content")).list.join("\x1e")
    body = body + pl.lit("\x1d") + pl.col("chosen").fill_null("") + pl.lit("\x1d") + pl.col("rejected").fill_null("")
    body = body.str.replace_all(r"\s+", " ")
    if not case_sensitive:
        body = body.str.to_lowercase()
    texts = frame.select(body.alias("k"))["k"].to_list()
    return [xxhash.xxh3_128_hexdigest(t.encode("utf-8")) for t in texts]


def exact_dedup(frame: pl.DataFrame, cfg: ExactDedupConfig,
                existing: dict[str, str] | None = None) -> StepResult:
    """Reject later copies of identical (normalised) records; ``existing`` maps key -> old id."""
    keys = exact_keys(frame, cfg.case_sensitive) if frame.height else []
    first: dict[str, str] = dict(existing or {})
    old = set(first)
    reasons, details = [], []
    for rid, k in zip(frame["id"].to_list(), keys):
        if not cfg.enabled:
            reasons.append(None)
            details.append(None)
        elif k in first:
            reasons.append("dedup.exact_duplicate")
            details.append(f"duplicate of {first[k]}" + (" (existing corpus)" if k in old else ""))
        else:
            first[k] = rid
            reasons.append(None)
            details.append(None)
    df = frame.with_columns(pl.Series("exact_key", keys, dtype=pl.String),
                            pl.Series("_reason", reasons, dtype=pl.String),
                            pl.Series("_detail", details, dtype=pl.String))
    return partition("exact_dedup", df)


def near_dedup(frame: pl.DataFrame, cfg: NearDedupConfig,
               existing_sigs: np.ndarray | None = None, existing_ids: list[str] | None = None,
               sigs: np.ndarray | None = None) -> StepResult:
    """MinHash LSH near-dedup: one representative per cluster (the earliest record) is kept.

    Kept rows get ``cluster`` (the representative's id) and ``cluster_size``.
    With an existing corpus, a new record in a cluster with an old one is
    rejected in favour of the old one; old records are never changed.
    ``sigs`` are the records' signatures when already computed (e.g. per shard); otherwise they come
    from the run's sketch store (`curate.sketches`), which computes each text's once per run.
    A member whose text equals its representative's (after PII scrubbing, which runs
    before this step) is an ``exact_duplicate``.
    """
    from curate import minhash

    ids = frame["id"].to_list()
    if not cfg.enabled or frame.height == 0:
        df = frame.with_columns(pl.col("id").alias("cluster"), pl.lit(1, dtype=pl.Int64).alias("cluster_size"),
                                pl.lit(None, dtype=pl.String).alias("_reason"))
        return partition("near_dedup", df)
    params = cfg.minhash_params()
    texts = frame.select(full_text().alias("t"))["t"].to_list()
    if sigs is None:
        sigs = sketches().signatures(texts, params, workers=cfg.workers)
    verify = "exact" if cfg.verify else "none"
    reasons: list[str | None] = [None] * len(ids)
    details: list[str | None] = [None] * len(ids)
    if existing_sigs is not None and len(existing_sigs):
        res = minhash.near_dedup_against(texts, existing_sigs, params, corpus_ids=existing_ids,
                                         verify="signature" if cfg.verify else "none", workers=cfg.workers,
                                         new_sigs=sigs)
        rep = np.asarray(res.representative)
        for i, old in enumerate(res.corpus_match_id):
            if old is not None:
                reasons[i] = "dedup.near_duplicate"
                details[i] = f"near-duplicate of {old} (existing corpus)"
        rep = np.where(rep < 0, np.arange(len(ids)), rep)
    else:
        res = minhash.near_dedup(texts, params, verify=verify, workers=cfg.workers, sigs=sigs)
        rep = np.asarray(res.representative)
    # Runs after PII scrubbing: texts that differed only in scrubbed values are now identical.
    now = exact_keys(frame, True)
    raw = frame["exact_key"].to_list() if "exact_key" in frame.columns else now
    for i, r in enumerate(rep):
        if r != i and reasons[i] is None:
            if now[i] == now[r]:
                reasons[i] = "dedup.exact_duplicate"
                details[i] = f"duplicate of {ids[r]}" + (" once PII is scrubbed" if raw[i] != raw[r] else "")
            else:
                reasons[i] = "dedup.near_duplicate"
                details[i] = f"near-duplicate of {ids[r]}"
    size = np.bincount(rep, minlength=len(ids))
    stats = {k: int(v) for k, v in res.stats.items() if isinstance(v, (int, np.integer))}
    sizes, counts = np.unique(np.bincount(rep, minlength=len(ids))[np.unique(rep)], return_counts=True)
    stats.update({f"clusters_of_size_{int(a)}": int(b) for a, b in zip(sizes, counts) if a > 1})
    df = frame.with_columns(
        pl.Series("cluster", [ids[r] for r in rep], dtype=pl.String),
        pl.Series("cluster_size", size[rep], dtype=pl.Int64),
        pl.Series("_reason", reasons, dtype=pl.String),
        pl.Series("_detail", details, dtype=pl.String),
    )
    return partition("near_dedup", df, stats)
