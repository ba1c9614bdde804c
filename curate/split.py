"""split_by_group: leak-free train / val / test that keep the data.

Leaks are prevented by construction: whole components of one relatedness graph
(`curate.relatedness`: group keys, MinHash neighbours, shared non-boilerplate
n-grams, pluggable extra edges) go to one split each, by a stable hash of the
component's key, so adding data never moves an old group. Synthetic and
mixed-in records go to train only unless the config allows otherwise; their
whole component follows them. Components are moved between splits (fewest,
nearest in hash order) only when the realised shares drift beyond
``ratio_tolerance``. Decontamination (`curate.decontam`) then deletes only where
deletion is the right answer.
"""
from __future__ import annotations

import numpy as np
import polars as pl
import xxhash

from curate.config import NearDedupConfig, SplitConfig
from curate.frame import full_text
from curate.step import StepResult, partition

SPLITS = ("train", "val", "test")


def _unit(key: str, seed: str) -> float:
    return xxhash.xxh64_intdigest(f"{seed}\x00{key}".encode()) / 2**64


def bucket(key: str, seed: str, ratios: tuple[float, float, float]) -> str:
    u = _unit(key, seed)
    total = sum(ratios)
    if u < ratios[0] / total:
        return "train"
    if u < (ratios[0] + ratios[1]) / total:
        return "val"
    return "test"


def group_digest(group: str) -> str:
    """The group key as written to outputs and the corpus index (never the raw key)."""
    import hashlib

    return hashlib.sha256(group.encode()).hexdigest()[:16]


def stable_group_keys(frame: pl.DataFrame) -> list[str]:
    """Group keys that do not depend on how an input path was typed.

    A record without a conversation or customer id is keyed by where it was read
    (``"{source}:{line}"``, or ``"{id}@{source}:{line}"`` for a repeated id); the same
    folder given as a relative or an absolute path would then split differently. Such
    keys are replaced by a hash of the record's text.
    """
    if frame.height == 0:
        return []
    texts = frame.select(full_text().alias("t"))["t"].to_list()
    out = []
    for g, src, t in zip(frame["group"].to_list(), frame["source"].to_list(), texts):
        if src and (g.startswith(src + ":") or f"@{src}:" in g):
            g = "text:" + xxhash.xxh3_128_hexdigest(t.encode("utf-8"))
        out.append(g)
    return out


def _balance(split: list[str], size: np.ndarray, u: np.ndarray, free: np.ndarray, cfg: SplitConfig) -> tuple[list[str], int]:
    """Move whole free components until every split's share is within tolerance (or nothing fits).

    Each move takes, from the most over-full split to the most under-full one, the
    component whose hash lies nearest the under-full split's hash interval and whose size
    does not overshoot; so the assignment stays as close to the plain hash as it can.
    """
    total = float(size.sum())
    if total == 0:
        return split, 0
    r = np.asarray(cfg.ratios, dtype=float) / sum(cfg.ratios)
    bounds = np.concatenate([[0.0], np.cumsum(r)])
    target = r * total
    tol = cfg.ratio_tolerance * total
    cur = np.array([SPLITS.index(s) for s in split])
    moved = 0
    for _ in range(len(split)):
        counts = np.bincount(cur, weights=size, minlength=3)
        dev = counts - target
        if np.all(np.abs(dev) <= tol):
            break
        over, under = int(np.argmax(dev)), int(np.argmin(dev))
        limit = min(dev[over], -dev[under]) + tol
        cand = np.flatnonzero(free & (cur == over) & (size <= limit))
        if len(cand) == 0:
            break
        lo, hi = bounds[under], bounds[under + 1]
        dist = np.maximum(lo - u[cand], 0) + np.maximum(u[cand] - hi, 0)
        pick = cand[np.lexsort((u[cand], dist))[0]]
        cur[pick] = under
        moved += 1
    return [SPLITS[i] for i in cur], moved


def split_by_group(frame: pl.DataFrame, cfg: SplitConfig, known: dict[str, str] | None = None,
                   near: NearDedupConfig | None = None, extra_edges=(), ngram: int = 13,
                   earlier: tuple[np.ndarray, list[str]] | None = None) -> StepResult:
    """Add ``split``, ``component`` and ``boilerplate_k`` columns; rewrite ``group`` to its stable key.

    Every component of the relatedness graph lands in one split. ``known`` maps
    group digests of an earlier corpus to their split: components holding such a
    group keep it (old assignments never move); new components are placed by hash
    and balancing. ``extra_edges``: more row-index pairs for the graph (see
    `curate.relatedness.build_graph`); ``ngram``: span length in words (``DecontamConfig.ngram``).
    ``earlier``: an earlier corpus's MinHash signatures and the split of each row; a component
    holding a record related to an old one (``related_threshold``) keeps that record's split.
    """
    from curate.relatedness import build_graph

    near = near or NearDedupConfig()
    keys = stable_group_keys(frame)
    extra = list(extra_edges)
    if "semantic_component" in frame.columns:  # paraphrase neighbourhoods (curate.semantic): one edge to the first member
        first: dict[str, int] = {}
        pairs = [(i, first.setdefault(c, i)) for i, c in enumerate(frame["semantic_component"].to_list()) if c is not None]
        extra.append(np.array([p for p in pairs if p[0] != p[1]], dtype=np.int64).reshape(-1, 2))
    g = build_graph(frame, cfg, near, keys, extra, ngram)
    n = frame.height
    comp = g.component
    # The component's key: its smallest group key (independent of row order and of paths).
    ckey: dict[int, str] = {}
    for c, k in zip(comp.tolist(), keys):
        if c not in ckey or k < ckey[c]:
            ckey[c] = k
    comps = sorted(ckey, key=ckey.__getitem__)
    pos = {c: i for i, c in enumerate(comps)}
    size = np.bincount([pos[c] for c in comp.tolist()], minlength=len(comps)).astype(float)
    forced: set[int] = set()
    if not cfg.synthetic_in_eval and n:
        prov = frame["provenance"].to_numpy()
        forced = set(np.unique(comp[(prov == "synthetic") | (prov == "mix")]).tolist())
    olds: dict[int, set[str]] = {}
    for c, k in zip(comp.tolist(), keys):
        old = (known or {}).get(group_digest(k)) if known else None
        if old:
            olds.setdefault(c, set()).add(old)
    if earlier is not None and n:
        from curate.relatedness import earlier_edges

        for i, old in earlier_edges(frame, earlier[0], cfg, near):
            olds.setdefault(int(comp[i]), set()).add(earlier[1][old])
    # A new record can relate two old groups of different splits; the component goes to train then
    # (the old records cannot move, and train is where an overlap costs no evaluation).
    pinned = {c: (next(iter(v)) if len(v) == 1 else "train") for c, v in olds.items()}
    conflicts = sum(len(v) > 1 for v in olds.values())
    u = np.array([_unit(ckey[c], cfg.seed) for c in comps])
    split_c = [pinned[c] if c in pinned else "train" if c in forced else bucket(ckey[c], cfg.seed, cfg.ratios)
               for c in comps]
    free = np.array([c not in pinned and c not in forced for c in comps], dtype=bool)
    split_c, moved = _balance(split_c, size, u, free, cfg)
    of = dict(zip(comps, split_c))
    split = [of[c] for c in comp.tolist()]
    df = frame.with_columns(pl.Series("group", keys, dtype=pl.String),
                            pl.Series("split", split, dtype=pl.String),
                            pl.Series("component", [ckey[c] for c in comp.tolist()], dtype=pl.String),
                            pl.lit(g.k, dtype=pl.Int64).alias("boilerplate_k"),
                            pl.lit(None, dtype=pl.String).alias("_reason"))
    stats: dict[str, float] = {f"records_{s}": split.count(s) for s in SPLITS}
    drift = max(abs(split.count(s) / n - r / sum(cfg.ratios)) for s, r in zip(SPLITS, cfg.ratios)) if n else 0.0
    stats.update({
        "components": len(comps), "largest_component": g.largest,
        "largest_component_without_ngrams": g.largest_without_ngrams, "boilerplate_k": g.k,
        "forced_train_components": len(forced), "components_kept_from_earlier_runs": len(pinned),
        "pinned_conflicts": conflicts, "balanced_moves": moved, "ratio_drift": round(drift, 4),
        "ratio_tolerance": cfg.ratio_tolerance, "ratios_within_tolerance": int(drift <= cfg.ratio_tolerance + 1e-9),
        **{f"edges_{k}": v for k, v in g.edges.items()},
    })
    return partition("split", df, stats)


def shared_groups(frame: pl.DataFrame) -> int:
    if frame.height == 0:
        return 0
    return frame.group_by("group").agg(pl.col("split").n_unique().alias("n")).filter(pl.col("n") > 1).height
