"""The base of filter steps: a filter is an ordered list of :class:`Check` units, each a vectorised
rule ``rule(settings, config, frame) -> (fails, detail)`` of polars expressions over a measured frame
(datatrove's ``BaseFilter.filter -> True | (False, reason)``, one column at a time instead of one
row at a time). :func:`judge` gives each record the reason of its *first* failing check,
``"<step>.<check>"``, and its detail; :func:`fail_stats` counts every check a record fails (not only
the first); :func:`filter_frame` does both and partitions (conservation checked in
``curate.step.partition``).
"""
from __future__ import annotations

from typing import Any, ClassVar

import polars as pl

from curate.step import StepResult, partition

Rule = tuple[str, pl.Expr, pl.Expr]  # (check name, fails, detail)


class Check:
    """One check of a filter step. ``name`` is its reason suffix; ``section`` the attribute of the
    step's config that holds its settings (with ``enabled``)."""

    name: ClassVar[str]
    section: ClassVar[str]

    def settings(self, config: Any) -> Any:
        return getattr(config, self.section)

    def active(self, config: Any) -> bool:
        return bool(self.settings(config).enabled)

    def rule(self, settings: Any, config: Any, frame: pl.DataFrame) -> tuple[pl.Expr, pl.Expr]:
        raise NotImplementedError


def rules(checks: tuple[Check, ...], config: Any, frame: pl.DataFrame) -> list[Rule]:
    """(name, fails, detail) of every active check, in order; a null ``fails`` counts as passing."""
    out = []
    for c in checks:
        if c.active(config):
            fails, why = c.rule(c.settings(config), config, frame)
            out.append((c.name, fails.fill_null(False), why))
    return out


def judge(step: str, frame: pl.DataFrame, checks: list[Rule]) -> pl.DataFrame:
    """``frame`` with ``_fails_<check>`` for every check, ``_reason`` (the first failing check in order,
    ``"<step>.<check>"``, null to keep) and ``_detail``."""
    reason = pl.lit(None, dtype=pl.String)
    detail = pl.lit(None, dtype=pl.String)
    for name, fails, why in reversed(checks):  # built inside out: the first check in order wins
        reason = pl.when(fails).then(pl.lit(f"{step}.{name}")).otherwise(reason)
        detail = pl.when(fails).then(why).otherwise(detail)
    return frame.with_columns([fails.alias(f"_fails_{name}") for name, fails, _ in checks]
                              + [reason.alias("_reason"), detail.alias("_detail")])


def fail_stats(judged: pl.DataFrame, names: list[str]) -> list[pl.Expr]:
    """Aggregations ``fails.<check>``: how many records fail each check (additive over shards)."""
    return [pl.col(f"_fails_{n}").sum().alias(f"fails.{n}") for n in names]


def filter_frame(step: str, frame: pl.DataFrame, checks: list[Rule], stats: dict[str, float] | None = None,
                 keep: list[str] | None = None) -> StepResult:
    """Judge and partition: rejects carry ``"<step>.<check>"`` and the detail; ``stats`` gain
    ``fails.<check>``. ``keep``: the columns the kept frame keeps (default: those of ``frame``)."""
    judged = judge(step, frame, checks)
    row = judged.select(fail_stats(judged, [n for n, _, _ in checks])).row(0, named=True) if checks else {}
    stats = {**{k: float(v or 0) for k, v in row.items()}, **(stats or {})}
    cols = keep if keep is not None else frame.columns
    return partition(step, judged.select([*cols, "_reason", "_detail"]), stats)
