"""curate_flow and incremental_curate_flow: ``curate run`` as a Prefect flow, sharded and cached.

The graph, for the steps ``curate.run.plan`` lists for the config (the registry, ``curate.steps``):

    ingest-file[f] (map over input files) -> ingest (reduce: unique ids, reshard)
    -> normalize[i] (map) -> exact_dedup (reduce)
    -> signatures[i] (map) -> near_dedup (reduce: banding, clusters)
    -> quality[i] -> perplexity[i] -> pii[i] (map, shard by shard)
    -> split -> mix -> decontam (reduce) -> finish (export, manifest, report.html)

A step is mapped when the registry says its per-shard results equal one whole-frame call
(``curate.shard.is_shard_parallel``), or map-reduced when it has a shard map
(``curate.shard.shard_map_of``: near-dedup's signatures), so the run directory is byte-identical to
``python -m curate run`` with the same inputs and config, whatever the shard
count or runner. Tasks run on the runner of ``config.runner``, one stage (step)
at a time: a stage's cache keys hash the files the stage before wrote.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.futures import PrefectFuture

from flows import store
from flows.artifacts import publish_run, step_markdown
from flows.config import CurateFlowConfig, IncrementalConfig
from flows.curate_tasks import finish_run, global_step, ingest_file, merge_ingest, shard_step, signatures
from flows.keys import file_key, step_key
from flows.runners import make_runner
from flows.store import StepOutput


class LeakCheckFailed(RuntimeError):
    """The run's splits leak (manifest.json leak_checks.passed is false); nothing downstream may use them."""


@dataclass
class _Call:
    step: str
    label: str
    key: str
    future: PrefectFuture


class _Graph:
    """Submits tasks to a runner by key: a task whose outputs are missing from the work dir
    is submitted with ``refresh_cache`` so a stale Prefect cache record is overwritten."""

    def __init__(self, runner, work: str, force: bool):
        self.runner, self.work, self.force = runner, work, force
        self.calls: list[_Call] = []

    def submit(self, t, step: str, label: str, key: str, /, **params: Any) -> PrefectFuture:
        if self.force or not store.complete(self.work, step, key):
            t = t.with_options(refresh_cache=True)
        fut = self.runner.submit(t, {"work_dir": self.work, "key": key, **params, "force": self.force})
        self.calls.append(_Call(step, label, key, fut))
        return fut

    def stage(self, calls: list[tuple]) -> list[StepOutput]:
        """Submit every task of one stage (task, step, label, key, params) and wait for all of them:
        the next stage's keys hash what these wrote."""
        futures = [self.submit(t, step, label, key, **params) for t, step, label, key, params in calls]
        return [f.result() for f in futures]


def plan_run(inputs: list[str], cfg) -> tuple[list[dict], list[tuple[str, str]]]:
    """Input files with their sha256, and (step name, step config JSON) in run order."""
    from curate.run import plan

    p = plan(inputs, cfg)
    return [{"path": e.path, "sha256": e.sha256} for e in p.inputs], [(s.name, s.config) for s in p.steps]


def run_curate(config: CurateFlowConfig, flow_label: str = "curate") -> dict[str, Any]:
    """Build and run the task graph of one curation run (called inside a flow), holding the run
    directory's lock; afterwards the work dir keeps no unscrubbed frame unless asked to."""
    from curate.rundir import RunLock, check_out_not_in_inputs, clean_stale, output_names, refuse_foreign

    cfg = config.pipeline_config()
    out = Path(config.out)
    check_out_not_in_inputs(out, [*config.inputs, *cfg.mix.files, *cfg.decontam.eval_files])
    with RunLock(out):
        refuse_foreign(out, output_names(list(cfg.export.formats)), False)
        clean_stale(out)
        return _run_curate(config, cfg, flow_label)


def _run_curate(config: CurateFlowConfig, cfg, flow_label: str) -> dict[str, Any]:
    from curate.shard import drop_unscrubbed, is_shard_parallel, shard_map_of

    log = get_run_logger()
    cfg_json = cfg.model_dump_json()
    work = str(config.work_path().resolve())
    Path(work).mkdir(parents=True, exist_ok=True)
    planned, steps = plan_run(list(config.inputs), cfg)
    n_shards = config.shards
    log.info("%d input files, steps %s, %d shards, runner %s", len(planned), [s for s, _ in steps], n_shards,
             config.runner.kind)
    outs: list[list[StepOutput]] = []
    with make_runner(config.runner) as runner:
        g = _Graph(runner, work, config.refresh)
        ingest_json = steps[0][1]
        files = g.stage([(ingest_file, "ingest_file", f"ingest[{Path(f['path']).name}]",
                          file_key("ingest_file", ingest_json, f["path"], f["sha256"]),
                          dict(path=f["path"], label=Path(f["path"]).name, cfg_json=cfg_json)) for f in planned])
        k = step_key("ingest", ingest_json, f"shards={n_shards}", *[store.output_digest(o) for o in files])
        cur = g.stage([(merge_ingest, "ingest", "ingest", k, dict(parts=files, cfg_json=cfg_json, shards=n_shards))])
        outs.append(cur)
        for name, sjson in steps[1:]:
            # The step's input, shard by shard: the kept parts of the previous stage, in order.
            parts = [(o, j) for o in cur for j in range(len(o.kept))]
            if is_shard_parallel(name, cfg):
                cur = g.stage([(shard_step, name, f"{name}[{i}]",
                                step_key(name, sjson, f"in:{o.kept[j].sha256}", f"shard={i}"),
                                dict(step=name, upstream=o, part=j, index=i, cfg_json=cfg_json))
                               for i, (o, j) in enumerate(parts)])
            else:
                sigs: list[StepOutput] | None = None
                if (sm := shard_map_of(cfg, name)) is not None:
                    # map per shard (keyed only by what makes the arrays comparable), reduce once.
                    fp = sm.key(cfg)
                    sigs = g.stage([(signatures, sm.name, f"{sm.name}[{i}]",
                                     step_key(sm.name, fp, f"in:{o.kept[j].sha256}", f"shard={i}"),
                                     dict(step=name, upstream=o, part=j, index=i, cfg_json=cfg_json))
                                    for i, (o, j) in enumerate(parts)])
                k = step_key(name, sjson, f"shards={n_shards}", *[f"in:{o.kept[j].sha256}" for o, j in parts],
                             *[f"sig:{x.files['sigs'].sha256}" for x in sigs or []])
                cur = g.stage([(global_step, name, name, k, dict(step=name, upstream=cur, cfg_json=cfg_json,
                                                                  shards=n_shards, sigs=sigs))])
            outs.append(cur)
        states = [{"task": c.label, "step": c.step, "state": c.future.state.name} for c in g.calls]
    step_names = [s for s, _ in steps]
    by_step: dict[str, list[str]] = {}
    for t in states:
        by_step.setdefault(t["step"], []).append(t["state"])
    reused = [s for s in step_names if by_step.get(s) and all(x == "Cached" for x in by_step[s])]
    summary = finish_run(work, list(config.inputs), planned, cfg_json, config.out, outs, reused)
    summary["tasks"] = states
    summary["cached_steps"] = reused
    summary["work_dir"] = work
    if config.keep_intermediates:
        summary["intermediates"] = f"kept in {work} (keep_intermediates): they may hold unscrubbed text"
    else:
        drop_unscrubbed(Path(work), step_names)
        summary["intermediates"] = ("removed: the work dir keeps no frame from before the PII step"
                                    if "pii" in step_names else "kept in the work dir (PII scrubbing is off)")
    sections = [step_markdown(store.merge_reports([x.report for x in o]), "cached" if name in reused else "computed",
                              sum(x.seconds for x in o)) for name, o in zip(step_names, outs)]
    publish_run(flow_label, summary, sections)
    cached = sum(1 for t in states if t["state"] == "Cached")
    log.info("%s: %s in = %s kept + %s rejected; %d/%d tasks cached; report %s", config.out,
             summary["totals"].get("records_in"), summary["totals"].get("kept"), summary["totals"].get("rejected"),
             cached, len(states), summary["report_html"])
    if not summary["leak_checks_passed"]:
        why = "; ".join(summary.get("failures") or []) or "leak checks failed (manifest.json leak_checks)"
        raise LeakCheckFailed(f"{config.out}: {why}; see {summary['report_html']}")
    return summary


@flow(name="curate", description="Curate raw transcripts into leak-free train/val/test JSONL "
                                 "(python -m curate run as a sharded, cached flow).")
def curate_flow(config: CurateFlowConfig = CurateFlowConfig()) -> dict[str, Any]:
    """One curation run; returns the run's summary (paths, counts, output hashes, task states)."""
    return run_curate(config)


# --------------------------------------------------------------------------- incremental


@task(name="find-new-files", retries=2, retry_delay_seconds=[1, 5])
def find_new_files(landing: str, runs_dir: str) -> list[dict]:
    """Files in the landing folder whose (path, sha256) no earlier increment processed."""
    from curate.incremental import new_files

    return new_files(landing, runs_dir)


@task(name="merge-corpus", retries=2, retry_delay_seconds=[1, 5])
def merge_corpus(runs_dir: str, runs: list[str], cfg_json: str) -> str | None:
    """The union of earlier increments' corpus indexes (``curate.shard.merge_corpora``) for ``against``."""
    from curate.config import PipelineConfig
    from curate.shard import merge_corpora

    cfg = PipelineConfig.model_validate_json(cfg_json)
    dest = merge_corpora([Path(runs_dir) / r for r in runs], Path(runs_dir) / "corpus_all", cfg.near_dedup)
    return str(dest) if dest else None


@task(name="record-increment", retries=2, retry_delay_seconds=[1, 5])
def record_increment(runs_dir: str, run: str, files: list[dict]) -> None:
    """Add the increment and its files to ledger.json (``curate.incremental``), only after its run finished."""
    from curate import incremental

    incremental.record_increment(runs_dir, run, files)


@flow(name="curate-incremental", description="Curate only newly landed files, deduplicated against every "
                                             "earlier increment; earlier groups keep their split.")
def incremental_curate_flow(config: IncrementalConfig = IncrementalConfig()) -> dict[str, Any]:
    """One increment: new files of ``landing`` into ``runs_dir/run-NNNN`` (nothing when none is new)."""
    log = get_run_logger()
    runs_dir = Path(config.runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    new = find_new_files(config.landing, str(runs_dir))
    if not new:
        log.info("no new files in %s", config.landing)
        return {"new_files": 0, "run": None}
    from curate.incremental import next_run, read_ledger

    ledger = read_ledger(runs_dir)
    base = config.curate.pipeline_config()
    against = merge_corpus(str(runs_dir), ledger["runs"], base.model_dump_json()) if ledger["runs"] else None
    run = next_run(runs_dir)
    overrides = dict(config.curate.overrides)
    overrides["against"] = against
    cc = config.curate.model_copy(update={"inputs": [f["path"] for f in new], "out": str(runs_dir / run),
                                          "overrides": overrides, "work_dir": None})
    log.info("%d new files -> %s (against %s)", len(new), cc.out, against)
    summary = run_curate(cc, flow_label="curate-incremental")
    record_increment(str(runs_dir), run, new)
    summary.update({"new_files": len(new), "run": run, "against": against})
    return summary
