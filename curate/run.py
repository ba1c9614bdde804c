"""Assemble and run the curation pipeline into one run directory."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import polars as pl

from curate.config import PipelineConfig
from curate.dedup import exact_dedup, minhash_params, near_dedup
from curate.export import export
from curate.frame import empty_frame, full_text
from curate.ingest import discover, ingest_step
from curate.mix import mix_general
from curate.normalize import normalize
from curate.pipeline import (CACHE_DIR, RunResult, Step, StepCache, _h, _versions, drop_raw_intermediates, input_entries,
                             run_steps, tool_version)
from curate.split import SPLITS, decontaminate, group_digest, overlaps, shared_groups, split_by_group
from schemas.jsonl import write_bytes_atomic, write_jsonl_atomic
from schemas.manifest import FileEntry, Manifest, StepCounts
from schemas.validate import validate_file
from schemas.convert import to_record


def _eval_texts(files: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in files:
        texts: list[str] = []

        def on_valid(line: int, obj: dict, fmt: str) -> None:
            rec = to_record(fmt, obj)
            texts.append("\n".join(m.content for m in rec.messages + ([rec.chosen] if rec.chosen else [])))

        validate_file(f, None, on_valid=on_valid)
        out[f"eval file {Path(f).name}"] = texts
    return out


def _corpus_index(against: str | None) -> tuple[dict[str, str], np.ndarray | None, list[str], dict[str, str]]:
    if not against:
        return {}, None, [], {}
    from curate import minhash

    d = Path(against) / "corpus"
    if not (d / "index.parquet").is_file():
        from curate.console import fail
        fail(f"{against}: no corpus index (corpus/index.parquet); point --against at an earlier run directory")
    idx = pl.read_parquet(d / "index.parquet")
    sf = minhash.load_signatures(d / "signatures.parquet")
    known = dict(zip(idx["group"].to_list(), idx["split"].to_list()))
    return dict(zip(idx["exact_key"].to_list(), idx["id"].to_list())), sf.sigs, list(sf.ids), known


def optional_steps(cfg: PipelineConfig, cache_dir: Path | None = None) -> list[Step]:
    """Quality, perplexity, PII and semantic dedup steps, each when enabled.

    Semantic dedup comes last: it embeds fewer records (junk already gone), on the
    scrubbed text that ships; ``cache_dir`` keeps its embeddings between runs.
    """
    from curate.perplexity import PerplexityConfig, filter_perplexity
    from curate.pii_step import PiiStepConfig, scrub_pii
    from curate.quality import QualityConfig, filter_quality

    qc = QualityConfig(**cfg.quality)
    steps = [Step("quality", qc, lambda f: filter_quality(f, qc))]
    if cfg.perplexity.get("enabled", True):
        pc = PerplexityConfig(**cfg.perplexity)
        steps.append(Step("perplexity", pc, lambda f: filter_perplexity(f, pc)))
    if cfg.pii.get("enabled", True):
        pcfg = PiiStepConfig(**cfg.pii)
        steps.append(Step("pii", pcfg, lambda f: scrub_pii(f, pcfg)))
    if cfg.semantic_dedup.enabled:
        from curate.semantic import semantic_dedup

        steps.append(Step("semantic_dedup", cfg.semantic_dedup,
                          lambda f: semantic_dedup(f, cfg.semantic_dedup, cache_dir)))
    return steps


@dataclass
class Plan:
    """Everything a run needs before its first step: the steps with their cache keys' inputs."""

    steps: list[Step]
    root_key: str
    inputs: list[FileEntry]
    notes: list[str]
    eval_texts: dict[str, list[str]]


def run(inputs: list[str], out_dir: str | Path, cfg: PipelineConfig,
        on_step: Callable[[str, str], None] | None = None) -> RunResult:
    """Run the whole pipeline into ``out_dir``, reusing finished steps."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    p = plan(inputs, cfg, out / CACHE_DIR / "embeddings")
    final, results, reused, timings = run_steps(p.steps, p.root_key, empty_frame, StepCache(out), on_step)
    return finish(p, out, cfg, final, results, reused, timings)


def plan(inputs: list[str], cfg: PipelineConfig, cache_dir: Path | None = None) -> Plan:
    """Discover and hash inputs, load indexes and eval sets, and build the step list
    (``cache_dir``: where steps may keep caches that outlive a step, e.g. embeddings)."""
    files, notes = discover(inputs)
    inputs_m = input_entries(files)
    exact_index, old_sigs, old_ids, known_groups = _corpus_index(cfg.against)
    eval_texts = _eval_texts(cfg.decontam.eval_files)
    eval_digest = _h(*[f"{f}:{hashlib.sha256(Path(f).read_bytes()).hexdigest()}" for f in cfg.decontam.eval_files])
    mix_digest = _h(*[f"{f}:{hashlib.sha256(Path(f).read_bytes()).hexdigest()}" for f in cfg.mix.files])
    against_digest = _h(str(cfg.against), str(len(exact_index)), str(sorted(known_groups.items())))
    def do_ingest(_: pl.DataFrame):
        return ingest_step(files, cfg.ingest)[0]

    def do_near(f: pl.DataFrame):
        return near_dedup(f, cfg.near_dedup, old_sigs, old_ids)

    steps = [
        Step("ingest", cfg.ingest, do_ingest, adds_records=True),
        Step("normalize", cfg.normalize, lambda f: normalize(f, cfg.normalize)),
        Step("exact_dedup", (cfg.exact_dedup, against_digest), lambda f: exact_dedup(f, cfg.exact_dedup, exact_index)),
        Step("near_dedup", (cfg.near_dedup, against_digest), do_near),
        *optional_steps(cfg, cache_dir),
        Step("split", (cfg.split, against_digest), lambda f: split_by_group(f, cfg.split, known_groups)),
        Step("mix", (cfg.mix, mix_digest, cfg.near_dedup, cfg.exact_dedup),
             lambda f: mix_general(f, cfg.mix, cfg.near_dedup, cfg.exact_dedup), adds_records=True),
        Step("decontam", (cfg.decontam, eval_digest), lambda f: decontaminate(f, cfg.decontam, eval_texts)),
    ]
    steps = [Step(s.name, s.config.model_dump_json() if hasattr(s.config, "model_dump_json") else
                  json.dumps([c.model_dump(mode="json") if hasattr(c, "model_dump") else c for c in s.config]),
                  s.fn, s.adds_records) for s in steps]
    root_key = _h(*[f"{e.path}:{e.sha256}" for e in inputs_m])
    return Plan(steps, root_key, inputs_m, notes, eval_texts)


def finish(p: Plan, out: Path, cfg: PipelineConfig, final: pl.DataFrame, results: list, reused: list[str],
           timings: dict[str, float]) -> RunResult:
    """Export, write rejects, prove no leaks, write the corpus index, manifest and report."""
    steps, inputs_m, notes, eval_texts = p.steps, p.inputs, p.notes, p.eval_texts
    cache = StepCache(out)
    exp, outputs = export(final, out, list(cfg.export.formats))
    reports = [r.report for r in results] + [exp.report]
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
    extra_pk = ["presidio-analyzer", "spacy"] if any(s.name == "pii" for s in steps) else []
    if any(s.name in ("perplexity", "semantic_dedup") for s in steps):
        extra_pk += ["torch", "transformers"]
    manifest = Manifest(
        tool_version=tool_version(), inputs=inputs_m, config=cfg.model_dump(mode="json"),
        versions=_versions(extra_pk),
        steps=[StepCounts(step=r.step, n_in=r.n_in, n_kept=r.n_kept, n_rejected=r.n_rejected,
                          reasons=dict(sorted(r.reasons.items())), stats=dict(sorted(r.stats.items())))
               for r in reports],
        splits=splits, leak_checks=leak, outputs=outputs, totals=totals,
    )
    from curate.report_data import build_report

    build_report(out, manifest, exp.kept, notes + results[0].extra.get("notes", []))
    write_bytes_atomic(out / "manifest.json", manifest.model_dump_json(indent=2).encode() + b"\n")
    drop_raw_intermediates(cache, steps)
    return RunResult(out, manifest, reports, reused, timings)


def _final_signatures(frame: pl.DataFrame, cfg: PipelineConfig) -> np.ndarray:
    """MinHash signatures of the exported corpus, shared by the leak check and the corpus index."""
    from curate import minhash

    params = minhash_params(cfg.near_dedup)
    texts = frame.select(full_text().alias("t"))["t"].to_list() if frame.height else []
    return minhash.signatures(texts, params) if texts else np.zeros((0, params.num_perm), dtype=np.uint32)


def leak_checks(frame: pl.DataFrame, cfg: PipelineConfig, eval_texts: dict[str, list[str]],
                sigs: np.ndarray | None = None) -> dict:
    """Prove the splits do not leak; every count must be 0 for the run to pass."""
    from curate import minhash

    checks: dict = {"shared_groups": shared_groups(frame)}
    if frame.height > 1:
        texts = frame.select(full_text().alias("t"))["t"].to_list()
        res = minhash.near_dedup(texts, minhash_params(cfg.near_dedup), verify="exact", sigs=sigs)
        splits = frame["split"].to_list()
        pairs = np.asarray(res.pairs).reshape(-1, 2)
        checks["cross_split_near_duplicates"] = int(sum(splits[a] != splits[b] for a, b in pairs))
        checks["ngram_overlaps"] = sum(h is not None for h in overlaps(frame, cfg.decontam, eval_texts))
    else:
        checks["cross_split_near_duplicates"] = 0
        checks["ngram_overlaps"] = 0
    checks["ngram"] = cfg.decontam.ngram
    checks["boilerplate_min_records"] = cfg.decontam.boilerplate_min_records
    ev = frame.filter(pl.col("split") != "train") if frame.height else frame
    checks["synthetic_in_eval"] = int((ev["provenance"] != "real").sum()) if ev.height else 0
    checks["synthetic_in_eval_allowed"] = cfg.split.synthetic_in_eval
    bad = [k for k in ("shared_groups", "cross_split_near_duplicates", "ngram_overlaps") if checks[k]]
    if checks["synthetic_in_eval"] and not cfg.split.synthetic_in_eval:
        bad.append("synthetic_in_eval")
    checks["passed"] = not bad
    return checks


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
    tmp = d / ".index.parquet.tmp"
    idx.write_parquet(tmp)
    tmp.replace(d / "index.parquet")
    minhash.save_signatures(d / "signatures.parquet", idx["id"].to_list(), sigs, minhash_params(cfg.near_dedup))

