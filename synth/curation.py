"""Generated examples pass the same curation steps as real data before they count:
normalize -> exact dedup -> MinHash near-dedup -> quality heuristics -> decontamination
against the user's eval files. The steps are the registry's own (``curate.steps``, conservation
checked by ``curate.pipeline.run_checked``); this module only adapts rows to its frame and back."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from synth.config import CurateStepsConfig


# The registry's steps synthetic examples pass, in this order (near-dedup before quality, as
# generation always ran them; the run's own order is ``curate.steps.REGISTRY``).
STEPS: tuple[str, ...] = ("normalize", "exact_dedup", "near_dedup", "quality", "decontam")


def _check_eval_files(files: list[str]) -> None:
    from synth.errors import SynthUserError

    for f in files:
        if not Path(f).is_file():
            raise SynthUserError(f"{f}: eval file not found")


def curate_examples(rows: list[dict[str, Any]], cfg: CurateStepsConfig,
                    source: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Return (kept rows with normalised messages, reject rows, step reports) for ChatML rows with ids."""
    if not rows:
        return [], [], []
    import polars as pl

    from curate import steps as registry
    from curate.config import PipelineConfig
    from curate.frame import frame_to_records, records_to_frame
    from curate.pipeline import run_checked
    from schemas.convert import to_record

    _check_eval_files(cfg.eval_files)
    pcfg = PipelineConfig(normalize=cfg.normalize, exact_dedup=cfg.exact_dedup, near_dedup=cfg.near_dedup,
                          quality=cfg.quality, decontam={**cfg.decontam, "eval_files": list(cfg.eval_files)})
    ctx = registry.RunContext(pcfg)
    by_id = {r["id"]: r for r in rows}
    frame = records_to_frame(to_record("chatml", r, source=source) for r in rows)
    names = [n for n in STEPS if n != "decontam" or cfg.eval_files]

    rejects: list[dict[str, Any]] = []
    reports: list[dict[str, Any]] = []
    from synth.report import reject_row

    for name in names:
        step = registry.build(registry.get(name), pcfg, ctx)
        if name == "decontam":  # every generated example is train data
            frame = frame.with_columns(pl.lit("train").alias("split"))
        res = run_checked(step, frame)
        reports.append(res.report.to_dict())
        for r in res.rejects.iter_rows(named=True):
            rejects.append(reject_row(r["id"], r["step"], r["reason"], r["detail"] or "", r["source"] or source,
                                      r["line"], messages=by_id.get(r["id"], {}).get("messages")))
        frame = res.kept
    kept = []
    for rec in frame_to_records(frame):
        row = by_id[rec.id]
        kept.append({"id": rec.id, "messages": [m.model_dump(exclude_none=True) for m in rec.messages],
                     "meta": row.get("meta", {})})
    return kept, rejects, reports
