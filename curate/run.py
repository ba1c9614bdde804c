"""Assemble and run the curation pipeline into one run directory."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import polars as pl

from curate.config import PipelineConfig
from curate.export import export, input_root
from curate.handoff import write_handoff
from curate.frame import empty_frame, full_text
from curate.ingest import IngestError, discover
from curate.sketches import run_scope, sketches
from curate.pipeline import (CACHE_DIR, RunResult, Step, StepCache, _fault_pause, _h, _versions, drop_raw_intermediates,
                             input_entries, run_steps, tool_version)
from curate.decontam import overlaps
from curate.split import SPLITS, group_digest, shared_groups
from schemas.atomic import write_parquet_atomic
from schemas.jsonl import write_bytes_atomic, write_jsonl_atomic
from schemas.manifest import FileEntry, Manifest, StepCounts
from schemas.validate import validate_file
from schemas.convert import to_record


def eval_file_texts(path: str | Path) -> list[tuple[int, str]]:
    """(line, text) of each valid record of a user-named eval file (any format; a DPO record's
    chosen answer included): what decontamination compares train against."""
    texts: list[tuple[int, str]] = []

    def on_valid(line: int, obj: dict, fmt: str) -> None:
        rec = to_record(fmt, obj)
        texts.append((line, "\n".join(m.content for m in rec.messages + ([rec.chosen] if rec.chosen else []))))

    validate_file(str(path), None, on_valid=on_valid)
    return texts


def _eval_texts(files: list[str]) -> dict[str, list[str]]:
    return {f"eval file {Path(f).name}": [t for _, t in eval_file_texts(f)] for f in files}


def _corpus_index(against: str | None) -> tuple[dict[str, str], np.ndarray | None, list[str], dict[str, str],
                                                list[str]]:
    """An earlier run's corpus: exact key -> id, signatures and their ids, group digest -> split,
    and the split of each signature row."""
    if not against:
        return {}, None, [], {}, []
    from curate import minhash

    d = Path(against) / "corpus"
    if not (d / "index.parquet").is_file():
        from curate.console import fail
        fail(f"{against}: no corpus index (corpus/index.parquet); point --against at an earlier run directory")
    idx = pl.read_parquet(d / "index.parquet")
    sf = minhash.load_signatures(d / "signatures.parquet")
    known = dict(zip(idx["group"].to_list(), idx["split"].to_list()))
    split_of = dict(zip(idx["id"].to_list(), idx["split"].to_list()))
    rows = [split_of.get(i, "train") for i in sf.ids]
    return dict(zip(idx["exact_key"].to_list(), idx["id"].to_list())), sf.sigs, list(sf.ids), known, rows


@dataclass
class Plan:
    """Everything a run needs before its first step: the steps with their cache keys' inputs."""

    steps: list[Step]
    root_key: str
    inputs: list[FileEntry]
    notes: list[str]
    eval_texts: dict[str, list[str]]


def run(inputs: list[str], out_dir: str | Path, cfg: PipelineConfig,
        on_step: Callable[[str, str], None] | None = None, *, force: bool = False,
        keep_intermediates: bool = False) -> RunResult:
    """Run the whole pipeline into ``out_dir``, reusing finished steps.

    The directory is locked for the run; files in it that curatekit did not write are never
    overwritten unless ``force``; outputs are replaced as one set (see ``curate.rundir``).
    """
    from curate.rundir import RunLock, check_out_not_in_inputs, clean_stale, output_names, refuse_foreign

    out = Path(out_dir)
    check_out_not_in_inputs(out, [*inputs, *cfg.mix.files, *cfg.decontam.eval_files])
    p = plan(inputs, cfg, out / CACHE_DIR / "embeddings")  # bad inputs fail here, before anything is created
    with RunLock(out), run_scope():  # signatures and n-gram tables: computed once per run
        refuse_foreign(out, output_names(list(cfg.export.formats)), force)
        clean_stale(out)
        final, results, reused, timings = run_steps(p.steps, p.root_key, empty_frame, StepCache(out), on_step,
                                                    keep_intermediates)
        if results[0].report.n_in == 0:
            empty = ", ".join(results[0].extra.get("records_per_file", {}))
            raise IngestError("ingest.no_records", f"no records in {', '.join(inputs)[:200]}: every input file is "
                                                   f"empty ({empty[:300]}); nothing to curate")
        return finish(p, out, cfg, final, results, reused, timings, force=force,
                      keep_intermediates=keep_intermediates)


def plan(inputs: list[str], cfg: PipelineConfig, cache_dir: Path | None = None) -> Plan:
    """Discover and hash inputs, load indexes and eval sets, and build the steps the registry
    (``curate.steps.REGISTRY``) plans for ``cfg`` (``cache_dir``: where steps may keep caches that
    outlive a step, e.g. embeddings)."""
    from curate import steps as registry

    files, notes = discover(inputs)
    inputs_m = input_entries(files)
    ctx = registry.RunContext(cfg, files, cache_dir)
    eval_texts = ctx.eval_texts  # bad eval files and corpus indexes fail here, before any step runs
    ctx.corpus
    steps = registry.build_all(cfg, ctx)
    root_key = _h(*[f"{e.path}:{e.sha256}" for e in inputs_m])
    return Plan(steps, root_key, inputs_m, notes, eval_texts)


def finish(p: Plan, out: Path, cfg: PipelineConfig, final: pl.DataFrame, results: list, reused: list[str],
           timings: dict[str, float], *, force: bool = False, keep_intermediates: bool = False) -> RunResult:
    """Export, write rejects, prove no leaks, write the corpus index, manifest and report into a
    staging folder, then swap them into ``out`` as one set."""
    from curate.rundir import new_staging, swap_in

    final_out, out = out, new_staging(out)
    try:
        result = _finish(p, out, cfg, final, results, reused, timings)
        _fault_pause("export")
        swap_in(out, final_out, force)
    except BaseException:
        import shutil

        shutil.rmtree(out, ignore_errors=True)
        raise
    result.out_dir = final_out
    cache = StepCache(final_out)
    _store_scrubbed_rejects(cache, p.steps, results)
    if keep_intermediates:
        result.notes.append(f"intermediates kept in {cache.root} (--keep-intermediates): they may hold "
                            "unscrubbed text; delete the folder when done")
    else:
        drop_raw_intermediates(cache, p.steps)
        result.notes.append("intermediates: removed (only the last step's frame is kept, for re-runs)")
    per_file = results[0].extra.get("records_per_file", {})
    result.notes += [n for n in p.notes if "symlink" in n or "same file" in n or "already read" in n]
    result.notes += [f"{f}: no records (empty file)" for f, n in per_file.items() if not n]
    return result


def _finish(p: Plan, out: Path, cfg: PipelineConfig, final: pl.DataFrame, results: list, reused: list[str],
            timings: dict[str, float]) -> RunResult:
    steps, inputs_m, notes, eval_texts = p.steps, p.inputs, p.notes, p.eval_texts
    per_file = results[0].extra.get("records_per_file")
    if per_file:
        inputs_m = [e.model_copy(update={"records": per_file.get(e.path)}) for e in inputs_m]
    exp, outputs = export(final, out, list(cfg.export.formats), source_root=input_root([e.path for e in inputs_m]),
                          system=cfg.export.system_prompt, keep_meta=cfg.select.keep_meta)
    reports = [r.report for r in results] + [exp.report]
    _scrub_early_reject_ids(results, cfg)
    all_rejects = pl.concat([r.rejects for r in results] + [exp.rejects], how="vertical_relaxed")
    reject_rows = all_rejects.to_dicts() + exp.extra.get("secondary_rejects", [])
    write_jsonl_atomic(out / "rejects.jsonl", reject_rows)
    rej_bytes = (out / "rejects.jsonl").read_bytes()
    outputs.append(FileEntry(path="rejects.jsonl", sha256=hashlib.sha256(rej_bytes).hexdigest(),
                             bytes=len(rej_bytes), records=len(reject_rows)))

    sigs = _final_signatures(exp.kept, cfg)
    leak = leak_checks(exp.kept, cfg, eval_texts, sigs)
    _write_corpus_index(out, exp.kept, cfg, sigs)
    # Records enter at ingest and (mixed-in candidates) at the mix step.
    n_in = reports[0].n_in + sum(max(0, b.n_in - a.n_kept) for a, b in zip(reports, reports[1:]))
    totals = {"records_in": n_in, "kept": exp.kept.height, "rejected": int(all_rejects.height)}
    assert totals["records_in"] == totals["kept"] + totals["rejected"], totals
    splits = {s: int((exp.kept["split"] == s).sum()) if exp.kept.height else 0 for s in SPLITS}
    from curate.retention import retention

    kept_figures, warnings = retention(reports, exp.kept, cfg.report.warn_step_share, cfg.split)
    failures = leak_failures(leak)
    from curate.steps import resolved_configs

    extra_pk = ["presidio-analyzer", "spacy"] if any(s.name == "pii" for s in steps) else []
    if any(s.name in ("perplexity", "semantic_dedup") for s in steps):
        extra_pk += ["torch", "transformers"]
    manifest = Manifest(
        tool_version=tool_version(), inputs=inputs_m, config=resolved_configs(cfg),
        versions=_versions(extra_pk),
        steps=[StepCounts(step=r.step, n_in=r.n_in, n_kept=r.n_kept, n_rejected=r.n_rejected,
                          reasons=dict(sorted(r.reasons.items())), stats=dict(sorted(r.stats.items())))
               for r in reports],
        splits=splits, leak_checks=leak, outputs=outputs, totals=totals,
        status="failed" if failures else "ok", failures=failures, retention=kept_figures, warnings=warnings,
    )
    manifest.outputs += write_handoff(out, manifest, cfg.handoff, list(cfg.export.formats))
    from curate.report.build import build_report

    build_report(out, manifest, exp.kept, notes + results[0].extra.get("notes", []))
    write_bytes_atomic(out / "manifest.json", manifest.model_dump_json(indent=2).encode() + b"\n")
    return RunResult(out, manifest, reports, reused, timings)


def _scrub_early_reject_ids(results: list, cfg: PipelineConfig) -> None:
    """Ids in the reject rows of steps before the PII step, scrubbed as that step scrubs ids (in place)."""
    steps = [r.report.step for r in results]
    if "pii" not in steps:
        return
    from curate.pii_step import scrub_reject_ids

    early = results[:steps.index("pii")]
    hashed = results[steps.index("pii")].extra.get("hashed_ids", [])
    for r, rejects in zip(early, scrub_reject_ids([r.rejects for r in early], hashed, cfg.pii)):
        r.rejects = rejects


def _store_scrubbed_rejects(cache: StepCache, steps: list[Step], results: list) -> None:
    """The cached reject rows of steps before the PII step, rewritten with their scrubbed ids."""
    names = [s.name for s in steps]
    for i, (name, r) in enumerate(zip(names[:names.index("pii")] if "pii" in names else [], results)):
        path = cache.dir(i, name) / "rejects.parquet"
        if path.is_file():
            write_parquet_atomic(path, r.rejects)


def _final_signatures(frame: pl.DataFrame, cfg: PipelineConfig) -> np.ndarray:
    """MinHash signatures of the exported corpus, shared by the leak check and the corpus index."""
    texts = frame.select(full_text().alias("t"))["t"].to_list() if frame.height else []
    return sketches().signatures(texts, cfg.near_dedup.minhash_params())


def leak_checks(frame: pl.DataFrame, cfg: PipelineConfig, eval_texts: dict[str, list[str]],
                sigs: np.ndarray | None = None) -> dict:
    """Prove the splits do not leak; every count must be 0 for the run to pass.

    The n-gram check uses the split's boilerplate bound k (``boilerplate_k``): the same
    spans the relatedness graph joined on, so a run passes its own check by construction.
    """
    from curate import minhash
    from curate.decontam import boilerplate_k

    checks: dict = {"shared_groups": shared_groups(frame)}
    if frame.height > 1:
        texts = frame.select(full_text().alias("t"))["t"].to_list()
        res = minhash.near_dedup(texts, cfg.near_dedup.minhash_params(), verify="exact", sigs=sigs)
        splits = frame["split"].to_list()
        pairs = np.asarray(res.pairs).reshape(-1, 2)
        checks["cross_split_near_duplicates"] = int(sum(splits[a] != splits[b] for a, b in pairs))
        checks["ngram_overlaps"] = sum(h is not None for h in overlaps(frame, cfg.decontam, eval_texts))
    else:
        checks["cross_split_near_duplicates"] = 0
        checks["ngram_overlaps"] = 0
    checks["ngram"] = cfg.decontam.ngram
    checks["boilerplate_k"] = boilerplate_k(frame, cfg.decontam) if frame.height else None
    checks["boilerplate_min_records"] = cfg.decontam.boilerplate_min_records
    ev = frame.filter(pl.col("split") != "train") if frame.height else frame
    checks["synthetic_in_eval"] = int((ev["provenance"] != "real").sum()) if ev.height else 0
    checks["synthetic_in_eval_allowed"] = cfg.split.synthetic_in_eval
    bad = [k for k in ("shared_groups", "cross_split_near_duplicates", "ngram_overlaps") if checks[k]]
    if checks["synthetic_in_eval"] and not cfg.split.synthetic_in_eval:
        bad.append("synthetic_in_eval")
    checks["passed"] = not bad
    return checks


LEAK_FIXES = {
    "shared_groups": ("records of one group are in two splits",
                      "an --against corpus put related old groups in different splits; re-run without --against "
                      "or give the records one group key"),
    "cross_split_near_duplicates": ("near-duplicate pairs straddle two splits",
                                    "keep split.related_threshold at or below near_dedup.threshold "
                                    "(--set split.related_threshold=0.55)"),
    "ngram_overlaps": ("train records share a long span with val, test or an eval file",
                       "keep decontam.enabled true, or raise split.max_component_share / "
                       "split.boilerplate_max_records so related records can share a split"),
    "synthetic_in_eval": ("synthetic or mixed-in records are in val/test",
                          "set split.synthetic_in_eval: false"),
}


def leak_failures(checks: dict) -> list[str]:
    """One line per failed leak check: which check, how many, and the fix."""
    out = []
    for name, (what, fix) in LEAK_FIXES.items():
        n = checks.get(name, 0)
        if n and (name != "synthetic_in_eval" or not checks.get("synthetic_in_eval_allowed")):
            out.append(f"leak check {name} failed: {n} {what}; fix: {fix}")
    return out


def _write_corpus_index(out: Path, frame: pl.DataFrame, cfg: PipelineConfig, sigs: np.ndarray) -> None:
    """What a later incremental run dedups against: exact keys and MinHash signatures of the kept corpus."""
    from curate import minhash
    from curate.dedup import exact_keys

    d = out / "corpus"
    d.mkdir(exist_ok=True)
    keys = exact_keys(frame, cfg.exact_dedup.case_sensitive) if frame.height else []
    idx = pl.DataFrame({"id": frame["id"].to_list() if frame.height else [], "exact_key": keys,
                        "split": frame["split"].to_list() if frame.height else [],
                        "group": [group_digest(g) for g in frame["group"].to_list()] if frame.height else []},
                       schema={"id": pl.String, "exact_key": pl.String, "split": pl.String, "group": pl.String})
    write_parquet_atomic(d / "index.parquet", idx)
    minhash.save_signatures(d / "signatures.parquet", idx["id"].to_list(), sigs, cfg.near_dedup.minhash_params())

