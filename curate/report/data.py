"""What the data card is drawn from: numbers and names only (:class:`ReportData`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable


@dataclass
class ReportData:
    """Everything the data card shows. Only ``title`` is required; an empty field renders a "not run" note.

    Leak checks count problems: ``0`` / ``False`` / ``"pass"`` / ``"ok"`` pass,
    a number above 0, ``True`` or ``"fail"`` fails, any other string (``"skipped"``)
    is shown as information.
    """

    title: str
    summary: dict[str, str | int | float] = field(default_factory=dict)
    funnel: list[tuple[str, int, int, int]] = field(default_factory=list)  # (step, n_in, n_kept, n_rejected)
    reasons: dict[str, int] = field(default_factory=dict)
    lengths: dict[str, list[int]] = field(default_factory=dict)
    cluster_sizes: dict[int, int] = field(default_factory=dict)  # cluster size -> number of clusters
    splits: dict[str, int] = field(default_factory=dict)
    split_groups: dict[str, int] = field(default_factory=dict)
    leak_checks: dict[str, int | bool | str] = field(default_factory=dict)
    entity_counts: dict[str, int] = field(default_factory=dict)
    perplexity: list[float] = field(default_factory=list)
    ppl_thresholds: tuple[float | None, float | None] = (None, None)  # (min, max) kept range
    provenance: dict[str, dict[str, int]] = field(default_factory=dict)  # split -> provenance -> count
    outputs: list[tuple[str, int, str]] = field(default_factory=list)  # (file, records, sha256)
    notes: list[str] = field(default_factory=list)
    selection: dict = field(default_factory=dict)  # expressions, on_missing, keep_meta, fields: {f: [(v, in, kept)]}
    # distinct_in, kept, retention, duplicates, removed_share_by_step (see curate.retention)
    retention: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # shown as a banner at the top


def funnel_from_reports(reports: Iterable) -> tuple[list[tuple[str, int, int, int]], dict[str, int]]:
    """``(funnel, reasons)`` from step reports in pipeline order (anything with ``step``, ``n_in``,
    ``n_kept``, ``n_rejected`` and a ``reasons`` mapping, e.g. :class:`curate.step.StepReport`)."""
    funnel, reasons = [], {}
    for r in reports:
        funnel.append((r.step, r.n_in, r.n_kept, r.n_rejected))
        for code, n in r.reasons.items():
            reasons[code] = reasons.get(code, 0) + n
    return funnel, reasons
