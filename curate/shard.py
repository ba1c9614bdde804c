"""Sharded execution of the curation steps: the same results as one process, in pieces.

A step is *shard-parallel* when each record's outcome depends only on that
record and the step's config (normalize, quality, perplexity with absolute
thresholds, PII). Running it on contiguous shards and concatenating the shard
results in shard order gives the frame, the reject rows and (reports add up)
the report that one call over the whole frame gives. Ingest is parallel per
input file, followed by a cheap global pass that makes ids unique across
files. Steps that need a global view (exact and near dedup, split, mix,
decontamination) run once over the concatenated shards; near-dedup can take
MinHash signatures computed per shard (map) and band them once (reduce).

Orchestrators (``flows/``) call these functions and move shards as files;
nothing here knows about Prefect.
"""
from __future__ import annotations

import functools
import operator
from pathlib import Path

import numpy as np
import polars as pl

from curate.config import IngestConfig, NearDedupConfig, PipelineConfig
from curate.pipeline import Step, run_checked
from curate.step import REJECT_SCHEMA, StepReport, StepResult, checked
from schemas.atomic import write_parquet_atomic

def is_shard_parallel(name: str, cfg: PipelineConfig) -> bool:
    """True when step ``name`` may run per shard with results identical to one whole-frame call
    (the registry's ``per_shard``; perplexity with a percentile cut is global: the percentile is over
    the scores of the frame it is given, see ``curate.perplexity``)."""
    from curate import steps

    return steps.get(name).shardable(cfg)


def pipeline_steps(cfg: PipelineConfig, cache_dir: Path | None = None) -> list[Step]:
    """The run's steps (name, config JSON, function) for ``cfg``, as ``curate.run.plan`` builds them,
    without reading any input (ingest reads none here). ``cache_dir``: where steps keep caches that
    outlive a run (semantic dedup's embeddings)."""
    from curate import steps

    return steps.build_all(cfg, steps.RunContext(cfg, [], cache_dir))


def step_of(cfg: PipelineConfig, name: str, cache_dir: Path | None = None) -> Step:
    """Step ``name`` of the run, built alone: the ``against`` corpus, eval files and mix files are
    loaded only when that step reads them."""
    from curate import steps

    return steps.build(steps.get(name), cfg, steps.RunContext(cfg, [], cache_dir))


def shard_map_of(cfg: PipelineConfig, name: str):
    """The map/reduce form of global step ``name`` for ``cfg`` (``curate.steps.base.ShardMap``), or
    None when it runs as one whole-frame call."""
    from curate import steps

    sm = steps.get(name).shard_map
    return sm if sm is not None and sm.applies(cfg) else None


def map_shard(cfg: PipelineConfig, name: str, frame: pl.DataFrame) -> np.ndarray:
    """The map half of step ``name`` on one shard."""
    return shard_map_of(cfg, name).map(frame, cfg)


def reduce_shards(cfg: PipelineConfig, name: str, frame: pl.DataFrame, arrays: list[np.ndarray]) -> StepResult:
    """The reduce half of step ``name``: its result over the concatenated shards, checked."""
    result = shard_map_of(cfg, name).reduce(frame, cfg, np.concatenate(arrays))
    return checked(result, frame.height)


def drop_unscrubbed(work: Path, steps: list[str], maps: tuple[str, ...] = ("ingest_file",)) -> list[str]:
    """Delete a sharded run's work-dir outputs (one folder per step, ``maps`` first) of every step
    before the PII step, whose frames hold raw text, and temp files a killed run left. Later steps'
    outputs (scrubbed) stay cached. Returns what was removed."""
    import shutil

    removed = [str(f) for f in Path(work).rglob(".*.tmp")]
    for f in removed:
        Path(f).unlink(missing_ok=True)
    if "pii" not in steps:
        return removed
    for name in [*maps, *steps[:steps.index("pii")]]:
        if (Path(work) / name).is_dir():
            shutil.rmtree(Path(work) / name)
            removed.append(str(Path(work) / name))
    return removed


def split_frame(frame: pl.DataFrame, n: int) -> list[pl.DataFrame]:
    """``n`` contiguous slices in order (sizes differ by at most one; some may be empty)."""
    n = max(1, n)
    h = frame.height
    bounds = [h * i // n for i in range(n + 1)]
    return [frame.slice(bounds[i], bounds[i + 1] - bounds[i]) for i in range(n)]


def concat_frames(frames: list[pl.DataFrame]) -> pl.DataFrame:
    """Shards back into one frame, in order (schemas must agree).

    Empty shards are left out: a step may return an empty frame with its columns in
    another order (e.g. normalize's early return), which holds no rows to lose.
    """
    if not frames:
        raise ValueError("no frames to concatenate")
    rows = [f for f in frames if f.height]
    if not rows:
        return frames[0]
    return pl.concat(rows, how="vertical") if len(rows) > 1 else rows[0]


def run_on_shard(step: Step, frame: pl.DataFrame) -> StepResult:
    """Run a shard-parallel step on one shard, checking conservation as ``run_steps`` does."""
    return run_checked(step, frame)


def merge_results(parts: list[StepResult], with_kept: bool = True) -> StepResult:
    """Shard results of one step into the result of one call over the concatenated shards.

    ``with_kept=False`` merges only rejects, reports and notes (the kept frame is left
    empty), for callers that hold the kept shards elsewhere.
    """
    if not parts:
        raise ValueError("no shard results to merge")
    kept = concat_frames([p.kept for p in parts]) if with_kept else pl.DataFrame()
    rejects = pl.concat([p.rejects for p in parts], how="vertical_relaxed") if len(parts) > 1 else parts[0].rejects
    report: StepReport = functools.reduce(operator.add, [p.report for p in parts])
    extra: dict = {}
    for p in parts:
        for k, v in p.extra.items():
            if isinstance(v, dict):  # per-file facts (records_per_file): one entry per shard's files
                extra[k] = {**extra.get(k, {}), **v}
            else:
                extra[k] = extra.get(k, []) + list(v) if isinstance(v, list) else v
    if not with_kept:
        report.check()
        if rejects.height != report.n_rejected:
            raise ValueError(f"step {report.step}: {rejects.height} reject rows for {report.n_rejected} rejected")
        return StepResult(kept, rejects, report, extra)
    n_in = sum(p.report.n_in for p in parts)
    return checked(StepResult(kept, rejects, report, extra), n_in)


def ingest_file(path: str | Path, cfg: IngestConfig) -> StepResult:
    """Ingest one input file (the per-file map of the ingest step)."""
    from curate.ingest import ingest_step

    return ingest_step([Path(path)], cfg)[0]


def merge_ingest(parts: list[StepResult], cfg: IngestConfig) -> StepResult:
    """Per-file ingest results, in input-file order, into the ingest step's result.

    Ids must be unique in a run: a repeated id gets its source and line appended, as
    ``curate.ingest`` does within one call (the first occurrence in file order keeps it).
    """
    if not parts:
        from curate.ingest import ingest_step

        return ingest_step([], cfg)[0]
    merged = merge_results(parts)
    kept = merged.kept
    if kept.height:
        ids = kept["id"].to_list()
        groups = kept["group"].to_list()
        seen: set[str] = set()
        changed = False
        for i, (rid, src, line) in enumerate(zip(ids, kept["source"].to_list(), kept["line"].to_list())):
            if rid in seen:
                new = f"{rid}@{src}:{line}"
                groups[i] = groups[i] if groups[i] != rid else new
                ids[i] = new
                changed = True
            seen.add(ids[i])
        if changed:
            kept = kept.with_columns(pl.Series("id", ids, dtype=pl.String), pl.Series("group", groups, dtype=pl.String))
    return StepResult(kept, merged.rejects, merged.report, merged.extra)


def shard_signatures(frame: pl.DataFrame, cfg: NearDedupConfig) -> np.ndarray:
    """MinHash signatures of one shard's records (the map half of near-dedup)."""
    from curate.frame import full_text
    from curate.sketches import sketches

    params = cfg.minhash_params()
    if frame.height == 0:
        return np.zeros((0, params.num_perm), dtype=np.uint32)
    texts = frame.select(full_text().alias("t"))["t"].to_list()
    return sketches().signatures(texts, params)


def near_dedup_from_signatures(frame: pl.DataFrame, cfg: NearDedupConfig, sigs: np.ndarray) -> StepResult:
    """The reduce half of near-dedup: banding, verification and clustering over signatures
    computed per shard. Equals ``curate.dedup.near_dedup(frame, cfg)`` (no existing corpus)."""
    from curate.dedup import near_dedup

    if cfg.enabled and frame.height and sigs.shape[0] != frame.height:
        raise ValueError(f"{sigs.shape[0]} signatures for {frame.height} records")
    return near_dedup(frame, cfg, sigs=sigs if cfg.enabled and frame.height else None)


def merge_corpora(run_dirs: list[str | Path], dest: str | Path, cfg: NearDedupConfig) -> Path | None:
    """Write ``dest/corpus/{index,signatures}.parquet``: the union of earlier runs' corpus indexes.

    Incremental runs each index only the records they kept; pointing
    ``PipelineConfig.against`` at ``dest`` dedups new data against every earlier
    run and pins every earlier group's split. Returns ``dest`` (None when no run
    has an index yet).
    """
    from curate import minhash

    params = cfg.minhash_params()
    idx_parts, ids, sigs = [], [], []
    for d in run_dirs:
        c = Path(d) / "corpus"
        if not (c / "index.parquet").is_file():
            continue
        idx_parts.append(pl.read_parquet(c / "index.parquet"))
        sf = minhash.load_signatures(c / "signatures.parquet", params)
        ids.extend(sf.ids)
        sigs.append(sf.sigs)
    if not idx_parts:
        return None
    out = Path(dest) / "corpus"
    out.mkdir(parents=True, exist_ok=True)
    idx = pl.concat(idx_parts, how="vertical")
    write_parquet_atomic(out / "index.parquet", idx)
    minhash.save_signatures(out / "signatures.parquet", ids, np.concatenate(sigs), params)
    return Path(dest)


def empty_rejects() -> pl.DataFrame:
    return pl.DataFrame(schema=REJECT_SCHEMA)


__all__ = ["is_shard_parallel", "pipeline_steps", "step_of", "split_frame", "concat_frames",
           "run_on_shard", "merge_results", "ingest_file", "merge_ingest", "shard_signatures",
           "near_dedup_from_signatures", "merge_corpora", "shard_map_of", "map_shard", "reduce_shards",
           "drop_unscrubbed"]
