"""mix_general: blend a general instruction set into train at a target fraction.

The usual guard against catastrophic forgetting. Candidates are normalised,
deduplicated against the domain data (exact and near), then a deterministic
sample (hash order of ids) sized so that mixed records make up ``fraction`` of
train. Every candidate not taken is a reject with a reason; taken records carry
provenance ``mix`` and their source file.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import polars as pl
import xxhash

from curate.config import ExactDedupConfig, IngestConfig, MixConfig, NearDedupConfig, NormalizeConfig
from curate.dedup import exact_keys
from curate.frame import FRAME_SCHEMA, full_text, records_to_frame
from curate.ingest import Ingested, ingest_jsonl
from curate.normalize import normalize
from curate.sketches import sketches
from curate.step import REJECT_SCHEMA, StepReport, StepResult, checked


def load_candidates(files: list[str]) -> tuple[pl.DataFrame, list[dict]]:
    ing = Ingested()
    for f in files:
        ingest_jsonl(Path(f), IngestConfig(group_field=None), ing)
    recs = [r.model_copy(update={"provenance": "mix", "id": f"mix:{r.id}", "group": f"mix:{r.id}"})
            for r in ing.records]
    return (records_to_frame(recs) if recs else pl.DataFrame(schema=FRAME_SCHEMA)), ing.rejects


def mix_general(frame: pl.DataFrame, cfg: MixConfig, near: NearDedupConfig, exact: ExactDedupConfig) -> StepResult:
    """``frame`` is the split domain data; returns it plus the sampled mix records (split=train)."""
    if not cfg.files:
        return checked(StepResult(frame, pl.DataFrame(schema=REJECT_SCHEMA), StepReport("mix", frame.height, frame.height)),
                       frame.height)
    from curate import minhash

    cand, bad = load_candidates(cfg.files)
    norm = normalize(cand, NormalizeConfig())
    cand = norm.kept
    rejects = [dict(r, step="mix", reason=r["reason"].replace("schema.", "mix.invalid_")) for r in bad]
    rejects += [dict(r, step="mix", reason="mix.empty_content") for r in norm.rejects.to_dicts()]
    reasons: dict[str, str] = {}
    details: dict[str, str] = {}
    dom_keys = dict(zip(exact_keys(frame, exact.case_sensitive), frame["id"].to_list())) if frame.height else {}
    seen: dict[str, str] = {}
    for rid, k in zip(cand["id"].to_list(), exact_keys(cand, exact.case_sensitive) if cand.height else []):
        if k in dom_keys:
            reasons[rid], details[rid] = "mix.duplicate_of_domain", f"duplicate of {dom_keys[k]}"
        elif k in seen:
            reasons[rid], details[rid] = "mix.duplicate", f"duplicate of {seen[k]}"
        else:
            seen[k] = rid
    if cand.height and frame.height:
        texts = frame.select(full_text().alias("t"))["t"].to_list() + cand.select(full_text().alias("t"))["t"].to_list()
        params = near.minhash_params()
        res = minhash.near_dedup(texts, params, verify="exact", sigs=sketches().signatures(texts, params))
        all_ids = frame["id"].to_list() + cand["id"].to_list()
        for i in range(frame.height, len(all_ids)):
            r = int(res.representative[i])
            rid = all_ids[i]
            if r != i and rid not in reasons:
                dom = r < frame.height
                reasons[rid] = "mix.duplicate_of_domain" if dom else "mix.duplicate"
                details[rid] = f"near-duplicate of {all_ids[r]}"
    pool = [rid for rid in cand["id"].to_list() if rid not in reasons]
    n_train = int((frame["split"] == "train").sum()) if frame.height else 0
    target = round(cfg.fraction / (1 - cfg.fraction) * n_train) if cfg.fraction else 0
    order = sorted(pool, key=lambda rid: xxhash.xxh64_intdigest(f"{cfg.seed}\x00{rid}".encode()))
    take = set(order[:target])
    for rid in order[target:]:
        reasons[rid], details[rid] = "mix.over_target", f"target is {target} mixed records for {n_train} train"
    chosen = cand.filter(pl.col("id").is_in(list(take))).with_columns(
        pl.lit("train").alias("split"), pl.col("id").alias("cluster"), pl.lit(1, dtype=pl.Int64).alias("cluster_size"))
    for col in frame.columns:
        if col not in chosen.columns:
            chosen = chosen.with_columns(pl.lit(None, dtype=frame.schema[col]).alias(col))
    kept = pl.concat([frame, chosen.select(frame.columns)], how="vertical_relaxed")
    rej_rows = cand.filter(pl.col("id").is_in(list(reasons))).select("id", "source", "line").to_dicts()
    rejects += [{"id": r["id"], "step": "mix", "reason": reasons[r["id"]], "detail": details[r["id"]],
                 "source": r["source"], "line": r["line"]} for r in rej_rows]
    rej = pl.DataFrame(rejects, schema=REJECT_SCHEMA) if rejects else pl.DataFrame(schema=REJECT_SCHEMA)
    n_in = frame.height + cand.height + len(bad) + norm.rejects.height
    stats = {"mixed": len(take), "candidates": n_in - frame.height, "target": target, "train_domain": n_train}
    report = StepReport("mix", n_in, kept.height, rej.height, Counter(rej["reason"].to_list()), stats)
    return checked(StepResult(kept, rej, report), n_in)
