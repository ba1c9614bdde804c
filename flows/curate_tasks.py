"""Curation tasks: thin adapters from manifests to curate's library calls and back.

Each task reads the files its upstream manifests name, calls one function of
``curate`` (``curate.shard`` for the sharded forms of the steps), writes the
result into the work store and returns a :class:`~flows.store.StepOutput`.
Caching is by the ``key`` argument (see ``flows.keys``). Only ``ingest_file``
(reads raw input files) and ``finish_run`` (writes the run directory) retry:
the steps are deterministic, so a retry of one would fail the same way.
"""
from __future__ import annotations

import time
from pathlib import Path

from prefect import task

from flows import store
from flows.keys import STEP_KEY
from flows.store import StepOutput

CACHED = dict(cache_policy=STEP_KEY, persist_result=True)
IO_RETRIES = dict(retries=2, retry_delay_seconds=[1, 5])


def _cfg(cfg_json: str):
    from curate.config import PipelineConfig

    return PipelineConfig.model_validate_json(cfg_json)


def _reuse(work_dir: str, step: str, key: str, force: bool) -> StepOutput | None:
    return None if force else store.load_output(work_dir, step, key)


@task(name="ingest-file", task_run_name="ingest[{label}]", **CACHED, **IO_RETRIES)
def ingest_file(work_dir: str, key: str, path: str, label: str, cfg_json: str, force: bool = False) -> StepOutput:
    """Ingest one input file (map)."""
    from curate.shard import ingest_file as ingest_one

    if (done := _reuse(work_dir, "ingest_file", key, force)) is not None:
        return done
    t0 = time.perf_counter()
    result = ingest_one(path, _cfg(cfg_json).ingest)
    return store.write_result(work_dir, "ingest_file", key, result, [result.kept], None, time.perf_counter() - t0)


@task(name="ingest", task_run_name="ingest", **CACHED)
def merge_ingest(work_dir: str, key: str, parts: list[StepOutput], cfg_json: str, shards: int,
                 force: bool = False) -> StepOutput:
    """Per-file ingest results into the ingest step (ids made unique across files), resharded (reduce)."""
    from curate import shard

    if (done := _reuse(work_dir, "ingest", key, force)) is not None:
        return done
    t0 = time.perf_counter()
    results = []
    for p in parts:
        r = store.load_result(work_dir, p)
        results.append(type(r)(store.read_frame(work_dir, p.kept[0]), r.rejects, r.report, r.extra))
    merged = shard.merge_ingest(results, _cfg(cfg_json).ingest)
    return store.write_result(work_dir, "ingest", key, merged, shard.split_frame(merged.kept, shards), None,
                              time.perf_counter() - t0)


@task(name="shard-step", task_run_name="{step}[{index}]", **CACHED)
def shard_step(work_dir: str, key: str, step: str, upstream: StepOutput, part: int, index: int, cfg_json: str,
               force: bool = False) -> StepOutput:
    """One shard-parallel step (the registry's ``per_shard``: normalize, quality, perplexity, pii) on shard ``index``: the kept part
    ``part`` of ``upstream`` (map)."""
    from curate import shard

    if (done := _reuse(work_dir, step, key, force)) is not None:
        return done
    t0 = time.perf_counter()
    frame = store.read_frame(work_dir, upstream.kept[part])
    result = shard.run_on_shard(shard.step_of(_cfg(cfg_json), step), frame)
    return store.write_result(work_dir, step, key, result, [result.kept], index, time.perf_counter() - t0)


@task(name="signatures", task_run_name="signatures[{index}]", **CACHED)
def signatures(work_dir: str, key: str, step: str, upstream: StepOutput, part: int, index: int, cfg_json: str,
               force: bool = False) -> StepOutput:
    """The map half of a map-reduced global step on one shard (``curate.shard.map_shard``: near-dedup's
    MinHash signatures)."""
    from curate import shard

    cfg = _cfg(cfg_json)
    name = shard.shard_map_of(cfg, step).name
    if (done := _reuse(work_dir, name, key, force)) is not None:
        return done
    t0 = time.perf_counter()
    frame = store.read_frame(work_dir, upstream.kept[part])
    arr = shard.map_shard(cfg, step, frame)
    sig_part = store.write_array(work_dir, Path(name) / key / "sigs.npy", arr)
    return store.save_output(work_dir, StepOutput(step=name, key=key, shard=index, files={"sigs": sig_part},
                                                  seconds=round(time.perf_counter() - t0, 4)))


@task(name="global-step", task_run_name="{step}", **CACHED)
def global_step(work_dir: str, key: str, step: str, upstream: list[StepOutput], cfg_json: str, shards: int,
                sigs: list[StepOutput] | None = None, force: bool = False) -> StepOutput:
    """A step over the whole frame (exact / near dedup, split, mix, decontam), resharded (reduce)."""
    from curate import shard

    if (done := _reuse(work_dir, step, key, force)) is not None:
        return done
    t0 = time.perf_counter()
    cfg = _cfg(cfg_json)
    frame = shard.concat_frames(store.load_kept(work_dir, upstream))
    if sigs:
        result = shard.reduce_shards(cfg, step, frame, [store.read_array(work_dir, s.files["sigs"]) for s in sigs])
    else:
        from curate.pipeline import run_checked

        # semantic dedup's embeddings cache survives re-runs in the work dir
        result = run_checked(shard.step_of(cfg, step, Path(work_dir) / "embeddings"), frame)
    return store.write_result(work_dir, step, key, result, shard.split_frame(result.kept, shards), None,
                              time.perf_counter() - t0)


@task(name="finish", task_run_name="finish", **IO_RETRIES)
def finish_run(work_dir: str, inputs: list[str], planned: list[dict], cfg_json: str, out: str,
               steps: list[list[StepOutput]], reused: list[str]) -> dict:
    """Export, rejects, leak checks, corpus index, manifest and report.html: ``curate.run.finish``."""
    from curate import shard
    from curate.run import finish, plan

    cfg = _cfg(cfg_json)
    p = plan(inputs, cfg)
    now = [{"path": e.path, "sha256": e.sha256} for e in p.inputs]
    if now != planned:
        raise RuntimeError("input files changed while the flow ran; run it again")
    names = [s.name for s in p.steps]
    if names != [outs[0].step for outs in steps]:
        raise RuntimeError(f"steps {names} do not match the flow's {[o[0].step for o in steps]}")
    results = [shard.merge_results([store.load_result(work_dir, o) for o in outs], with_kept=False) for outs in steps]
    final = shard.concat_frames(store.load_kept(work_dir, steps[-1]))
    timings = {outs[0].step: round(sum(o.seconds for o in outs), 4) for outs in steps}
    res = finish(p, Path(out), cfg, final, results, reused, timings)
    m = res.manifest
    return {"out": str(res.out_dir), "manifest": str(Path(out) / "manifest.json"),
            "report_html": str(Path(out) / "report.html"), "totals": m.totals, "splits": m.splits,
            "leak_checks_passed": bool(m.leak_checks.get("passed")), "failures": list(m.failures),
            "warnings": list(m.warnings), "retention": m.retention,
            "outputs": {o.path: o.sha256 for o in m.outputs},
            "steps": [s.model_dump() for s in m.steps], "compute_seconds": timings}
