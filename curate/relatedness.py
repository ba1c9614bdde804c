"""One relatedness graph over the text that ships: which records must land in the same split.

Edges (each a ``(m, 2)`` array of row indices):

- *group*: records sharing a group key (customer, conversation or document id);
- *minhash*: MinHash neighbours at the "related" threshold (``SplitConfig.related_threshold``,
  lower than near-dedup's: this only groups, it never deletes) and at near-dedup's own
  threshold and banding, so the leak check's near-duplicate pairs are edges by construction;
- *ngram*: records sharing a word n-gram (``DecontamConfig.ngram``, 13 words by default) found in at most ``k``
  records. An n-gram in more than ``k`` records is boilerplate (a greeting, a canned agent
  macro) and joins nothing. ``k`` is chosen here: the largest value up to
  ``SplitConfig.boilerplate_max_records`` that keeps every component within
  ``SplitConfig.max_component_share`` of the records (or within the largest component the
  other edges already make, when one group alone is bigger than that);
- *extra*: edges from elsewhere, plugged in two ways: ``extra_edges`` (row-index pairs, for
  library callers) or a ``related_ids`` column (``List[String]`` of record ids, for a pipeline
  step that runs before ``split``, e.g. semantic neighbours); ids not in the frame are ignored.
  Near-dedup's ``cluster`` column (a representative's id) counts the same way.

Components are numbered by their smallest row index.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import polars as pl

from curate.config import NearDedupConfig, SplitConfig
from curate.frame import full_text
from curate.sketches import sketches

EDGE_KINDS = ("group", "minhash", "ngram", "extra")


@dataclass
class Graph:
    """Components of the relatedness graph of one frame."""

    component: np.ndarray  # per row: the smallest row index of its component
    k: int  # n-grams found in more than k records are boilerplate (1: no n-gram edges)
    edges: dict[str, int] = field(default_factory=dict)  # edge count per kind
    largest: int = 0
    largest_without_ngrams: int = 0

    @property
    def n_components(self) -> int:
        return int(len(np.unique(self.component))) if len(self.component) else 0


def _pairs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    keep = a != b
    return np.stack([a[keep], b[keep]], axis=1).astype(np.int64) if keep.any() else np.zeros((0, 2), np.int64)


def group_edges(keys: Sequence[str]) -> np.ndarray:
    """Each record to the first record of its group key."""
    if not len(keys):
        return np.zeros((0, 2), np.int64)
    df = pl.DataFrame({"k": list(keys)}).with_row_index("i")
    first = df.group_by("k").agg(pl.col("i").min().alias("f"))
    j = df.join(first, on="k", how="left", maintain_order="left")
    return _pairs(j["i"].to_numpy().astype(np.int64), j["f"].to_numpy().astype(np.int64))


def minhash_edges(texts: Sequence[str], near: NearDedupConfig, thresholds: Sequence[float]) -> np.ndarray:
    """Verified (exact Jaccard) MinHash pairs at each threshold, from one set of signatures."""
    from curate import minhash

    if len(texts) < 2:
        return np.zeros((0, 2), np.int64)
    sigs = sketches().signatures(list(texts), near.minhash_params())
    parts = []
    for t in sorted(set(thresholds)):
        params = near.minhash_params(threshold=t)
        parts.append(np.asarray(minhash.near_dedup(texts, params, verify="exact", sigs=sigs).pairs).reshape(-1, 2))
    return np.unique(np.concatenate(parts).astype(np.int64), axis=0) if parts else np.zeros((0, 2), np.int64)


def ngram_postings(texts: Sequence[str], n: int) -> pl.DataFrame:
    """``(doc, first, df)`` for every distinct n-gram of every text found in 2+ texts: ``first``
    is the smallest doc holding it, ``df`` how many docs hold it."""
    table = sketches().ngram_table(list(texts), n)
    if table.height == 0:
        return pl.DataFrame(schema={"doc": pl.Int64, "first": pl.Int64, "df": pl.UInt32})
    per = table.group_by("h").agg(pl.col("doc").min().alias("first"), pl.len().alias("df")).filter(pl.col("df") > 1)
    return table.join(per, on="h").select("doc", "first", pl.col("df").cast(pl.UInt32))


def ngram_edges(postings: pl.DataFrame, k: int) -> np.ndarray:
    """Each record to the first record of every n-gram it shares with at most ``k`` records in all."""
    if k < 2 or postings.height == 0:
        return np.zeros((0, 2), np.int64)
    e = postings.filter((pl.col("df") <= k) & (pl.col("doc") != pl.col("first"))).select("doc", "first").unique()
    return _pairs(e["doc"].to_numpy().astype(np.int64), e["first"].to_numpy().astype(np.int64))


def _components(n: int, parts: list[np.ndarray]) -> np.ndarray:
    from curate.union_find import union_find_clusters

    pairs = np.concatenate(parts) if parts else np.zeros((0, 2), np.int64)
    return union_find_clusters(n, pairs)


def _largest(rep: np.ndarray) -> int:
    return int(np.bincount(rep).max()) if len(rep) else 0


def related_id_edges(frame: pl.DataFrame) -> np.ndarray:
    """Edges from id columns written by earlier steps: ``related_ids`` (a list of ids of related
    records, e.g. semantic neighbours) and ``cluster`` (near-dedup's representative id)."""
    if frame.height == 0:
        return np.zeros((0, 2), np.int64)
    idx = pl.DataFrame({"rid": frame["id"]}).with_row_index("j")
    parts = []
    for col in ("related_ids", "cluster"):
        if col not in frame.columns:
            continue
        ex = frame.select(pl.int_range(pl.len(), dtype=pl.Int64).alias("i"), pl.col(col).alias("rid"))
        if isinstance(frame.schema[col], pl.List):
            ex = ex.explode("rid")
        ex = ex.drop_nulls("rid").join(idx, on="rid", how="inner")
        parts.append(_pairs(ex["i"].to_numpy().astype(np.int64), ex["j"].to_numpy().astype(np.int64)))
    return np.concatenate(parts) if parts else np.zeros((0, 2), np.int64)


def earlier_edges(frame: pl.DataFrame, old_sigs: np.ndarray, cfg: SplitConfig,
                  near: NearDedupConfig) -> list[tuple[int, int]]:
    """(new row, old corpus row) pairs related at ``cfg.related_threshold`` (signature estimate:
    the old texts are not kept, only their signatures)."""
    from curate import minhash

    if frame.height == 0 or old_sigs is None or not len(old_sigs):
        return []
    params = near.minhash_params(threshold=cfg.related_threshold)
    texts = frame.select(full_text().alias("t"))["t"].to_list()
    res = minhash.near_dedup_against(texts, old_sigs, params, verify="signature",
                                     new_sigs=sketches().signatures(texts, params))
    n_old = len(old_sigs)
    pairs = np.asarray(res.pairs).reshape(-1, 2)
    a, b = pairs.min(axis=1), pairs.max(axis=1)
    cross = (a < n_old) & (b >= n_old)
    return sorted(set(zip((b[cross] - n_old).tolist(), a[cross].tolist())))


def build_graph(frame: pl.DataFrame, cfg: SplitConfig, near: NearDedupConfig, keys: Sequence[str],
                extra_edges: Sequence[np.ndarray] = (), ngram: int = 13) -> Graph:
    """Components of ``frame`` (rows in order) under group, MinHash, n-gram and extra edges.

    ``keys`` are the records' group keys. ``extra_edges``: more ``(m, 2)`` row-index arrays,
    e.g. semantic-embedding neighbours; they join records like any other edge (and count in the
    component-size budget that ``k`` is chosen against).
    """
    n = frame.height
    if n == 0:
        return Graph(np.zeros(0, np.int64), cfg.boilerplate_max_records, dict.fromkeys(EDGE_KINDS, 0))
    texts = frame.select(full_text().alias("t"))["t"].to_list()
    g = group_edges(keys)
    m = minhash_edges(texts, near, [cfg.related_threshold, near.threshold])
    extra = [np.asarray(e, dtype=np.int64).reshape(-1, 2) for e in extra_edges] + [related_id_edges(frame)]
    extra_all = np.concatenate(extra) if extra else np.zeros((0, 2), np.int64)
    base = [g, m, extra_all]
    base_rep = _components(n, base)
    base_largest = _largest(base_rep)
    cap = max(int(cfg.max_component_share * n), base_largest)
    postings = ngram_postings(texts, ngram)
    # Larger k only adds edges, so the largest component grows with k: binary search the largest k that fits.
    dfs = sorted(int(x) for x in postings["df"].unique().to_list() if 2 <= x <= cfg.boilerplate_max_records)
    best_rep = base_rep
    lo, hi = 0, len(dfs) - 1
    while lo <= hi:
        mid = (lo + hi) // 2
        rep = _components(n, base + [ngram_edges(postings, dfs[mid])])
        if _largest(rep) <= cap:
            best_rep = rep
            lo = mid + 1
        else:
            hi = mid - 1
    # k is the largest bound giving this graph: just below the first df that did not fit, else the cap.
    best_k = dfs[lo] - 1 if lo < len(dfs) else cfg.boilerplate_max_records
    edges = {"group": len(g), "minhash": len(m), "ngram": len(ngram_edges(postings, best_k)), "extra": len(extra_all)}
    return Graph(best_rep, best_k, edges, _largest(best_rep), base_largest)
