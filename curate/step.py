"""The step contract: a frame and a typed config in, ``StepResult(kept, rejects, report)`` out.

A step first annotates (scores, flags, cluster ids as columns), then calls
:func:`partition` with a frame holding ``_reason`` (null = keep) and
``_detail`` columns. Nothing is dropped silently: ``n_in == n_kept +
n_rejected`` is checked here for every step, and reports add up across shards.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import polars as pl

REJECT_SCHEMA = {"id": pl.String, "step": pl.String, "reason": pl.String, "detail": pl.String,
                 "source": pl.String, "line": pl.Int64}


class ConservationError(AssertionError):
    """A step lost or invented records."""


@dataclass
class StepReport:
    """Additive counts of one step (over one shard or many): ``a + b`` merges shards."""

    step: str
    n_in: int = 0
    n_kept: int = 0
    n_rejected: int = 0
    reasons: Counter = field(default_factory=Counter)
    stats: dict[str, float] = field(default_factory=dict)

    def __add__(self, other: "StepReport") -> "StepReport":
        if other.step != self.step:
            raise ValueError(f"cannot add reports of {self.step} and {other.step}")
        stats = dict(self.stats)
        for k, v in other.stats.items():
            stats[k] = stats.get(k, 0) + v
        return StepReport(self.step, self.n_in + other.n_in, self.n_kept + other.n_kept,
                          self.n_rejected + other.n_rejected, self.reasons + other.reasons, stats)

    def check(self) -> None:
        if self.n_in != self.n_kept + self.n_rejected:
            raise ConservationError(f"step {self.step}: {self.n_in} in != {self.n_kept} kept + {self.n_rejected} rejected")
        if sum(self.reasons.values()) != self.n_rejected:
            raise ConservationError(f"step {self.step}: reasons add up to {sum(self.reasons.values())}, "
                                    f"not {self.n_rejected}")

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "n_in": self.n_in, "n_kept": self.n_kept, "n_rejected": self.n_rejected,
                "reasons": dict(sorted(self.reasons.items())), "stats": dict(sorted(self.stats.items()))}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "StepReport":
        return cls(d["step"], d["n_in"], d["n_kept"], d["n_rejected"], Counter(d["reasons"]), dict(d["stats"]))


@dataclass
class StepResult:
    kept: pl.DataFrame
    rejects: pl.DataFrame
    report: StepReport
    extra: dict[str, Any] = field(default_factory=dict)  # small JSON-able notes kept with the step's cache


def empty_rejects() -> pl.DataFrame:
    return pl.DataFrame(schema=REJECT_SCHEMA)


def partition(step: str, frame: pl.DataFrame, stats: dict[str, float] | None = None) -> StepResult:
    """Split an annotated frame on its ``_reason`` column into kept rows and reject rows.

    ``_reason`` is null for rows to keep, else ``"<step>.<reason>"``; ``_detail``
    (optional) says why without raw content. Both columns are dropped from kept.
    """
    if "_detail" not in frame.columns:
        frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias("_detail"))
    mask = pl.col("_reason").is_null()
    kept = frame.filter(mask).drop("_reason", "_detail")
    rej = frame.filter(~mask)
    rejects = rej.select(
        pl.col("id").cast(pl.String),
        pl.lit(step).alias("step"),
        pl.col("_reason").cast(pl.String).alias("reason"),
        pl.col("_detail").fill_null("").cast(pl.String).str.slice(0, 500).alias("detail"),
        pl.col("source").cast(pl.String),
        pl.col("line").cast(pl.Int64),
    )
    reasons = Counter(dict(rejects.group_by("reason").len().iter_rows())) if rejects.height else Counter()
    report = StepReport(step, frame.height, kept.height, rejects.height, reasons, dict(stats or {}))
    report.check()
    return StepResult(kept, rejects, report)


def checked(result: StepResult, n_in: int) -> StepResult:
    """Assert the conservation invariant of a finished step against its input size."""
    r = result.report
    if r.n_in != n_in or r.n_kept != result.kept.height or r.n_rejected != result.rejects.height:
        raise ConservationError(f"step {r.step}: frames ({n_in} in, {result.kept.height} kept, "
                                f"{result.rejects.height} rejected) disagree with its report")
    r.check()
    return result
