"""Generated examples pass the same curation steps as real data before they count:
normalize -> exact dedup -> MinHash near-dedup -> quality heuristics -> decontamination
against the user's eval files. The steps are curate's own (``StepResult`` with
conservation checked); this module only adapts rows to its frame and back."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from synth.config import CurateStepsConfig


def _eval_texts(files: list[str]) -> dict[str, list[str]]:
    from schemas.convert import to_record
    from schemas.validate import validate_file

    from synth.errors import SynthUserError

    out: dict[str, list[str]] = {}
    for f in files:
        if not Path(f).is_file():
            raise SynthUserError(f"{f}: eval file not found")
        texts: list[str] = []

        def on_valid(line: int, obj: dict, fmt: str) -> None:
            rec = to_record(fmt, obj)
            texts.append("\n".join(m.content for m in rec.messages + ([rec.chosen] if rec.chosen else [])))

        validate_file(f, None, on_valid=on_valid)
        out[f"eval file {Path(f).name}"] = texts
    return out


def curate_examples(rows: list[dict[str, Any]], cfg: CurateStepsConfig,
                    source: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Return (kept rows with normalised messages, reject rows, step reports) for ChatML rows with ids."""
    if not rows:
        return [], [], []
    import polars as pl

    from curate.config import DecontamConfig, ExactDedupConfig, NearDedupConfig, NormalizeConfig
    from curate.dedup import exact_dedup, near_dedup
    from curate.frame import frame_to_records, records_to_frame
    from curate.normalize import normalize
    from curate.decontam import decontaminate
    from curate.step import checked
    from schemas.convert import to_record

    by_id = {r["id"]: r for r in rows}
    frame = records_to_frame(to_record("chatml", r, source=source) for r in rows)
    steps: list[tuple[str, Any]] = [
        ("normalize", lambda f: normalize(f, NormalizeConfig(**cfg.normalize))),
        ("exact_dedup", lambda f: exact_dedup(f, ExactDedupConfig(**cfg.exact_dedup))),
        ("near_dedup", lambda f: near_dedup(f, NearDedupConfig(**cfg.near_dedup))),
    ]
    try:
        from curate.quality import QualityConfig, filter_quality
    except ImportError:  # pragma: no cover - quality lands separately
        pass
    else:
        qc = QualityConfig(**cfg.quality)
        steps.append(("quality", lambda f: filter_quality(f, qc)))
    if cfg.eval_files:
        dc = DecontamConfig(**cfg.decontam)
        evals = _eval_texts(cfg.eval_files)
        steps.append(("decontam", lambda f: decontaminate(f.with_columns(pl.lit("train").alias("split")), dc, evals)))

    rejects: list[dict[str, Any]] = []
    reports: list[dict[str, Any]] = []
    from synth.report import reject_row

    for _name, run in steps:
        n_in = frame.height
        res = checked(run(frame), n_in)
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
