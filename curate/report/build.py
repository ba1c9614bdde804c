"""Gather the numbers of a finished run into the data card (report.html)."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import polars as pl

from curate.split import SPLITS
from schemas.manifest import Manifest


def _words(frame: pl.DataFrame) -> pl.Expr:
    from curate.frame import full_text

    return full_text().str.count_matches(r"\S+")


def build_report(out: Path, m: Manifest, final: pl.DataFrame, notes: list[str]) -> None:
    from curate.report import ReportData, write_report

    lengths: dict[str, list[int]] = {}
    split_groups: dict[str, int] = {}
    provenance: dict[str, dict[str, int]] = {}
    cluster_sizes: Counter = Counter()
    ppl: list[float] = []
    if final.height:
        for s in SPLITS:
            part = final.filter(pl.col("split") == s)
            lengths[s] = part.select(_words(part).alias("n"))["n"].to_list()
            split_groups[s] = part["group"].n_unique()
            provenance[s] = dict(Counter(part["provenance"].to_list()))

    entity_counts: dict[str, int] = {}
    thresholds = (None, None)
    for s in m.steps:
        if s.step == "near_dedup":
            # The clusters near-dedup found on its input (not the kept records' sizes).
            multi = {int(k.removeprefix("clusters_of_size_")): int(v) for k, v in s.stats.items()
                     if k.startswith("clusters_of_size_")}
            singles = int(s.stats.get("n_clusters", 0)) - sum(multi.values())
            cluster_sizes = Counter({**({1: singles} if singles > 0 else {}), **multi})
        if s.step == "perplexity":
            from curate.perplexity import histogram_values

            ppl = histogram_values(s.stats)  # the filter's input, rejected records included
        if s.step == "pii":
            entity_counts = {k.removeprefix("entity_"): int(v) for k, v in s.stats.items() if k.startswith("entity_")}
        if s.step == "perplexity":
            pc = m.config.get("perplexity", {})
            from curate.perplexity import PerplexityConfig

            default = PerplexityConfig()  # manifests record the resolved config; older ones may not
            thresholds = (pc.get("min_ppl", default.min_ppl), pc.get("max_ppl", default.max_ppl))
    selection = _selection(m)
    reasons: dict[str, int] = {}
    for s in m.steps:
        for k, v in s.reasons.items():
            reasons[k] = reasons.get(k, 0) + v
    data = ReportData(
        title="Data card: " + ", ".join(sorted({Path(i.path).parent.name or i.path for i in m.inputs}))[:200],
        summary={"inputs": len(m.inputs), "records in": m.totals["records_in"], "kept": m.totals["kept"],
                 "rejected": m.totals["rejected"],
                 "distinct conversations in / kept": f"{m.retention.get('distinct_in', 0)} / "
                                                     f"{m.retention.get('kept', 0)}",
                 **_graph_summary(m),
                 "curatekit": m.tool_version,
                 "leak checks": "pass" if m.leak_checks.get("passed") else "FAIL"},
        funnel=[(s.step, s.n_in, s.n_kept, s.n_rejected) for s in m.steps],
        reasons=reasons, lengths=lengths, cluster_sizes=dict(cluster_sizes), splits=dict(m.splits),
        split_groups=split_groups,
        leak_checks={k: v for k, v in m.leak_checks.items()
                     if k in ("shared_groups", "cross_split_near_duplicates", "ngram_overlaps", "synthetic_in_eval")},
        entity_counts=entity_counts, perplexity=ppl,
        ppl_thresholds=thresholds if any(t is not None for t in thresholds) else (None, None),
        provenance=provenance,
        outputs=[(o.path, o.records or 0, o.sha256) for o in m.outputs],
        notes=notes, selection=selection, retention=m.retention, warnings=list(m.warnings) + list(m.failures),
    )
    write_report(out / "report.html", data)


def _selection(m: Manifest) -> dict:
    """The select step's expressions and per-value counts, for the data card."""
    from curate.select import selection_counts

    sc = m.config.get("select") or {}
    exprs = ([("other sources" if sc.get("sources") else "all sources", sc["expression"])] if sc.get("expression") else []) + \
        [(f"sources matching {pat}", x) for pat, x in (sc.get("sources") or {}).items()]
    stats = next((s.stats for s in m.steps if s.step == "select"), {})
    return {"expressions": exprs, "on_missing": sc.get("on_missing", "reject"), "keep_meta": sc.get("keep_meta", []),
            "fields": selection_counts(stats)}


def _graph_summary(m: Manifest) -> dict[str, str]:
    """The split's relatedness graph in one line: components, the largest, the boilerplate bound k."""
    st = next((s.stats for s in m.steps if s.step == "split"), None)
    if not st or "components" not in st:
        return {}
    k = int(st.get("boilerplate_k", 0))
    kt = "no shared span joins records" if k < 2 else f"spans in more than {k} records are boilerplate"
    return {"split components (largest)": f"{int(st['components'])} ({int(st.get('largest_component', 0))} records); "
                                          f"{kt}; moved to balance: {int(st.get('balanced_moves', 0))}"}
