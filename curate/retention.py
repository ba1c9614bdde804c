"""Retention: how many distinct conversations a run kept, and which step removed the rest.

Duplicates are not losses (the conversation is kept once), and mixed-in general
records are not the user's data, so::

    distinct in = records in - duplicates (reasons ``dedup.*``) - mix candidates
    kept        = exported records that are not mixed in
    retention   = kept / distinct in

Each other step's rejects are a share of ``distinct in``; a step removing more
than ``ReportConfig.warn_step_share`` of it, or a split whose realised share is
off its ratio by more than the split's tolerance, becomes a warning in the
summary, the manifest and report.html.
"""
from __future__ import annotations

from typing import Any

import polars as pl

from curate.step import StepReport

DUPLICATE_PREFIX = "dedup."


def retention(reports: list[StepReport], final: pl.DataFrame, warn_step_share: float,
              split_cfg: Any | None = None) -> tuple[dict[str, Any], list[str]]:
    """(figures, warnings) of a finished run; ``reports`` in step order, ingest first."""
    records_in = reports[0].n_in if reports else 0
    dups = sum(v for r in reports for k, v in r.reasons.items() if k.startswith(DUPLICATE_PREFIX))
    mix = next((r for r in reports if r.step == "mix"), None)
    mix_candidates = int(mix.stats.get("candidates", 0)) if mix else 0
    distinct_in = max(records_in - dups, 0)
    kept = int((final["provenance"] != "mix").sum()) if final.height else 0
    removed: dict[str, float] = {}
    warnings: list[str] = []
    for r in reports:
        lost = sum(v for k, v in r.reasons.items() if not k.startswith(DUPLICATE_PREFIX) and not k.startswith("mix."))
        if not lost:
            continue
        share = lost / distinct_in if distinct_in else 0.0
        removed[r.step] = round(share, 4)
        if share > warn_step_share:
            top = ", ".join(f"{k} {v}" for k, v in r.reasons.most_common(3) if not k.startswith(DUPLICATE_PREFIX))
            warnings.append(f"step {r.step} removed {lost} of {distinct_in} distinct conversations "
                            f"({share:.0%} > {warn_step_share:.0%}): {top}")
    split = next((r for r in reports if r.step == "split"), None)
    if split is not None and split_cfg is not None and not split.stats.get("ratios_within_tolerance", 1):
        warnings.append(f"split ratios drift {split.stats.get('ratio_drift', 0):.1%} from {list(split_cfg.ratios)} "
                        f"(tolerance {split_cfg.ratio_tolerance:.0%}): the largest component holds "
                        f"{int(split.stats.get('largest_component', 0))} records; whole components cannot be "
                        f"divided without leaking")
    figures = {
        "records_in": records_in, "duplicates": dups, "mix_candidates": mix_candidates,
        "distinct_in": distinct_in, "kept": kept,
        "retention": round(kept / distinct_in, 4) if distinct_in else 1.0,
        "removed_share_by_step": removed,
    }
    return figures, warnings
