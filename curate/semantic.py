"""semantic_dedup: paraphrase-level duplicates by sentence embeddings, and "related" edges for the split.

MinHash (near_dedup) catches copies and light edits; it does not catch
paraphrases ("How do I reset my password?" / "I forgot my password, how can I
change it?"). This step embeds each conversation (the contents of the turns
whose role is in ``roles``, joined by newlines; a preference record's
``chosen`` answer counts as an assistant turn) with `curate.embed`, finds
every pair at or above a cosine threshold with exact blocked matrix products
(`neighbour_pairs`; why not an ANN library: see its docstring), and keeps
one record per neighbourhood:

- records are visited in keep order: highest ``keep_score`` column first
  (when that column is in the frame; nulls last), then input order;
- a record with a kept neighbour at cosine >= ``threshold`` is rejected as
  ``dedup.semantic_duplicate``; the detail names that kept record (the most
  similar one) and the cosine. So every reject is within the threshold of the
  record that stands for it: there is no chaining through intermediate records.

Kept rows get ``semantic_component``: for records joined by neighbours at
cosine >= ``related_threshold`` (a lower bar: it only groups, never deletes),
the id of the component's first record; null for a record with no related
neighbour. `curate.split.split_by_group` unions these components with the
near-dup clusters and groups, so paraphrases never straddle train/val/test.
With ``dedup: false`` (the default: see the field's description) the step
rejects nothing and only annotates.
`semantic_edges` gives the same related pairs for any frame.

Thresholds (all-MiniLM-L6-v2, measured by benchmarks/eval_paraphrase.py on three
hand-written sets of support-style pairs, dev and two held-out, none made by
code here): see the Field descriptions.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import polars as pl
from pydantic import Field, model_validator

from curate.embed import EmbedConfig, embed_texts
from curate.step import StepResult, partition
from curate.union_find import union_find_clusters
from schemas.frozen import Frozen

STEP = "semantic_dedup"
REASON = "dedup.semantic_duplicate"
COMPONENT_COLUMN = "semantic_component"
_BLOCK_BYTES = 256 << 20  # one block of similarities (float32) stays under this, whatever block_size says
Cosine = Annotated[float, Field(gt=0.0, le=1.0)]


class SemanticDedupConfig(Frozen):
    """Configuration of the `semantic_dedup` step (off unless enabled: it loads an embedding model)."""

    enabled: bool = Field(False, description="Run the step (embed every conversation). `--semantic-dedup` "
                                             "turns it on.")
    dedup: bool = Field(False, description="Also reject semantic duplicates (opt-in). Off by default: with the "
                                           "packaged model no cosine rejects paraphrases without rejecting as many "
                                           "look-alike requests that mean something else (see threshold); the step "
                                           "then only groups related records for the split and rejects nothing.")
    roles: tuple[Literal["system", "user", "assistant"], ...] = Field(
        ("user", "assistant"), min_length=1,
        description="Whose turns make the text that is embedded (contents joined by newlines). "
                    "('user',) finds the same question answered differently.")
    threshold: Cosine = Field(
        0.92, description="With dedup: true, the cosine at or above which two conversations are duplicates (one "
                          "is rejected). 0.92 is where the dev set (235 hand-written pairs) has no non-pair; the two "
                          "held-out sets do not bear it out: held-out 1 (160 pairs) has 0 of 80 paraphrases and 7 "
                          "non-pairs at or above it, held-out 2 (222 pairs, blind) 7 of 112 and 7 (precision 0.50): "
                          "what it finds are light rewordings of one request ('How do I add a new SSH key to my "
                          "account?' / 'how to add a new ssh key to my account', 0.99) and as many requests with "
                          "their roles swapped ('from the mobile version to xbox' / 'from xbox to the mobile "
                          "version', 0.99), which mean-pooled MiniLM cannot tell apart. Review its rejects "
                          "(`curate rejects`) before trusting them.")
    related_threshold: Cosine | None = Field(
        0.75, description="Cosine at or above which two conversations are related: they go to the same split "
                          "(never rejected for it). At 0.75 the reworded conversation pairs found are 68% (dev), "
                          "50% (held-out 1) and 80% (held-out 2); a false edge only merges two components. Lower "
                          "finds more but joins open-domain chat into a few large components (34,574 chitchat "
                          "windows: largest 2.8% at 0.75, 9.1% at 0.70, 27.9% at 0.65), and a component larger "
                          "than val or test can only go to train. null = no split edges.")
    max_component_share: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        0.15, description="Largest share of the kept records one related component may hold. Where chains of "
                          "related pairs would join a whole topic into one component (template-made data), "
                          "related_threshold is raised by 0.01 until none is bigger, at most to `threshold`; "
                          "the value used is stats.related_threshold_used.")
    keep_score: str | None = Field(
        "quality_score", description="Column whose highest value decides which member of a neighbourhood is "
                                     "kept (then input order). A column absent from the frame is ignored: the "
                                     "earliest record is kept.")
    block_size: Annotated[int, Field(ge=64, le=65536)] = Field(
        2048, description="Most rows per block of the exact similarity search (memory: rows x n float32, "
                           "capped at 256 MB per block).")
    embed: EmbedConfig = Field(default_factory=EmbedConfig, description="Encoder and batching.")

    @model_validator(mode="after")
    def _ordered(self) -> "SemanticDedupConfig":
        if self.related_threshold is not None and self.related_threshold > self.threshold:
            raise ValueError(f"related_threshold ({self.related_threshold}) must not exceed "
                             f"threshold ({self.threshold})")
        return self


# --------------------------------------------------------------------------- texts and vectors


def conversation_texts(frame: pl.DataFrame, roles: tuple[str, ...]) -> list[str]:
    """Per record: contents of its turns with a role in `roles`, joined by newlines (``chosen`` counts
    as an assistant turn)."""
    if frame.height == 0:
        return []
    el = pl.element()
    body = pl.col("messages").list.eval(
        el.filter(el.struct.field("role").is_in(list(roles))).struct.field("content")).list.join("\n")
    if "assistant" in roles and "chosen" in frame.columns:
        body = pl.when(pl.col("chosen").is_not_null()).then(
            pl.concat_str([body, pl.col("chosen")], separator="\n")).otherwise(body)
    return frame.select(body.fill_null("").alias("t"))["t"].to_list()


def frame_vectors(frame: pl.DataFrame, cfg: SemanticDedupConfig, cache_dir: Path | str | None = None,
                  progress: bool = False) -> np.ndarray:
    """Unit-length embeddings of the frame's conversations (zero vector for an empty text)."""
    return embed_texts(conversation_texts(frame, cfg.roles), cfg.embed, cache_dir=cache_dir, progress=progress)


# --------------------------------------------------------------------------- neighbour search


def neighbour_pairs(vecs: np.ndarray, threshold: float, block_size: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Every pair ``i < j`` with ``vecs[i] . vecs[j] >= threshold``: ``(pairs (k x 2) int64, cosines (k,))``,
    sorted by (i, j).

    Exact: blocks of rows times the rows after them (the upper triangle only),
    one BLAS matrix product per block, ``flatnonzero`` on the block. Chosen by
    measurement (benchmarks/bench_semantic.py, 2 shared CPU cores, real
    all-MiniLM embeddings of chitchat conversations, cosine >= 0.75): 10k
    vectors, this 3.6 s vs faiss ``IndexFlatIP.range_search`` (exact) 6.4 s and
    an HNSW index (usearch, 16 neighbours) 7.9 s finding 75% of the pairs;
    100k vectors, this 61 s vs faiss 273 s and usearch 54 s, again with 75%
    recall. HNSW is not faster enough to pay for missed pairs and an extra
    dependency at these sizes, and embedding 100k conversations takes hours on
    such a machine, so the search is never the bottleneck on CPU.
    """
    n = len(vecs)
    x = np.ascontiguousarray(vecs, dtype=np.float32)
    rows, cols, sims = [], [], []
    # Float32 dot products of unit vectors can land a hair below an exact threshold; the slack
    # keeps a pair of identical texts (cosine 1.0 in exact arithmetic) from being missed.
    cut = np.float32(threshold) - np.float32(1e-6)
    rows_per_block = max(64, min(block_size, _BLOCK_BYTES // max(1, 4 * n)))
    for s in range(0, n, rows_per_block):
        e = min(n, s + rows_per_block)
        block = x[s:e] @ x[s:].T  # (e-s) x (n-s): this block against itself and every later row
        r, c = np.divmod(np.flatnonzero(block >= cut), block.shape[1])  # 2-D np.nonzero is ~7x slower
        upper = c > r  # column index is relative to s, row index too: keep j > i only
        r, c = r[upper], c[upper]
        rows.append(r + s)
        cols.append(c + s)
        sims.append(block[r, c])
    if not rows:
        return np.zeros((0, 2), dtype=np.int64), np.zeros(0, dtype=np.float32)
    pairs = np.stack([np.concatenate(rows), np.concatenate(cols)], axis=1).astype(np.int64)
    return pairs, np.minimum(np.concatenate(sims).astype(np.float32), np.float32(1.0))


def semantic_edges(frame: pl.DataFrame, cfg: SemanticDedupConfig, cache_dir: Path | str | None = None,
                   threshold: float | None = None) -> list[tuple[str, str]]:
    """Id pairs of records whose conversations are related (cosine >= ``threshold``, default
    ``cfg.related_threshold``): edges for the split's relatedness graph, whether or not dedup is on."""
    threshold = threshold if threshold is not None else cfg.related_threshold
    if threshold is None or frame.height < 2:
        return []
    pairs, _ = neighbour_pairs(frame_vectors(frame, cfg, cache_dir), threshold, cfg.block_size)
    ids = frame["id"].to_list()
    return [(ids[i], ids[j]) for i, j in pairs.tolist()]


# --------------------------------------------------------------------------- clustering


def keep_order(frame: pl.DataFrame, score_column: str | None) -> np.ndarray:
    """Row indices in the order records claim to be kept: highest score first (nulls last), then input order."""
    n = frame.height
    if not score_column or score_column not in frame.columns or not frame.schema[score_column].is_numeric():
        return np.arange(n)
    score = frame[score_column].cast(pl.Float64).fill_nan(None).to_numpy()
    score = np.where(np.isnan(score), -np.inf, score)
    return np.lexsort((np.arange(n), -score))


def choose_kept(n: int, pairs: np.ndarray, sims: np.ndarray, threshold: float,
                order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Greedy keep: walk `order`; a record with a kept neighbour at >= `threshold` is a duplicate.

    Returns ``(rep, cos)``: ``rep[i]`` is -1 for a kept record, else the index
    of its most similar kept neighbour, whose cosine is ``cos[i]``.
    """
    rep = np.full(n, -1, dtype=np.int64)
    cos = np.zeros(n, dtype=np.float32)
    sel = sims >= np.float32(threshold) - np.float32(1e-6)
    if not sel.any():
        return rep, cos
    a, b, s = pairs[sel, 0], pairs[sel, 1], sims[sel]
    src = np.concatenate([a, b])
    dst = np.concatenate([b, a])
    val = np.concatenate([s, s])
    by = np.argsort(src, kind="stable")
    src, dst, val = src[by], dst[by], val[by]
    start = np.searchsorted(src, np.arange(n + 1))
    kept = np.zeros(n, dtype=bool)
    for i in order.tolist():
        lo, hi = start[i], start[i + 1]
        if lo == hi:
            kept[i] = True
            continue
        nb, nv = dst[lo:hi], val[lo:hi]
        k = kept[nb]
        if k.any():
            best = int(np.argmax(np.where(k, nv, -np.inf)))
            rep[i], cos[i] = nb[best], nv[best]
        else:
            kept[i] = True
    return rep, cos


def components(n: int, pairs: np.ndarray) -> np.ndarray:
    """Connected component of each index (labelled by its smallest member)."""
    return union_find_clusters(n, pairs)


def related_components(n: int, pairs: np.ndarray, sims: np.ndarray, alive: np.ndarray, threshold: float,
                       ceiling: float, max_share: float) -> tuple[np.ndarray, float, int]:
    """Components of the alive records joined by pairs at >= the lowest threshold (from `threshold` up in
    steps of 0.01, at most `ceiling`) whose largest component holds at most `max_share` of the alive records.

    Returns ``(component label per index, threshold used, number of edges used)``.
    """
    limit = max(2, int(max_share * int(alive.sum())))
    both = alive[pairs[:, 0]] & alive[pairs[:, 1]]
    t = threshold
    while True:
        rel = both & (sims >= np.float32(t) - np.float32(1e-6))
        comp = components(n, pairs[rel])
        if np.bincount(comp, minlength=n).max() <= limit or t >= ceiling:
            return comp, round(t, 4), int(rel.sum())
        t = min(ceiling, round(t + 0.01, 4))


# --------------------------------------------------------------------------- step


def semantic_dedup(frame: pl.DataFrame, cfg: SemanticDedupConfig, cache_dir: Path | str | None = None,
                   progress: bool = True) -> StepResult:
    """Reject paraphrase-level duplicates (``dedup.semantic_duplicate``, detail ``semantic duplicate of ID
    (cosine C)``) and add ``semantic_component`` for the split. Disabled: keeps everything, no model loaded.

    ``stats``: ``pairs_duplicate`` and ``pairs_related`` (pairs used over this frame), ``kept_by_score``
    (1 when a ``keep_score`` column decided, else 0), ``related_threshold_used`` (see
    ``max_component_share``; the step is global, so this one is not summed over shards).
    """
    base = frame.drop(COMPONENT_COLUMN) if COMPONENT_COLUMN in frame.columns else frame
    n = base.height
    if not cfg.enabled or n == 0:
        return partition(STEP, base.with_columns(pl.lit(None, dtype=pl.String).alias(COMPONENT_COLUMN),
                                                 pl.lit(None, dtype=pl.String).alias("_reason")), {})
    vecs = frame_vectors(base, cfg, cache_dir, progress)
    low = min(t for t in (cfg.threshold, cfg.related_threshold) if t is not None)
    pairs, sims = neighbour_pairs(vecs, low, cfg.block_size)
    ids = base["id"].to_list()
    reasons: list[str | None] = [None] * n
    details: list[str | None] = [None] * n
    n_dup_pairs = int((sims >= np.float32(cfg.threshold) - np.float32(1e-6)).sum())
    alive = np.ones(n, dtype=bool)
    if cfg.dedup:
        order = keep_order(base, cfg.keep_score)
        rep, cos = choose_kept(n, pairs, sims, cfg.threshold, order)
        for i in np.nonzero(rep >= 0)[0].tolist():
            reasons[i] = REASON
            details[i] = f"semantic duplicate of {ids[rep[i]]} (cosine {float(cos[i]):.4f})"
        alive = rep < 0
    comp_col: list[str | None] = [None] * n
    n_related, used = 0, cfg.related_threshold
    if cfg.related_threshold is not None and len(pairs):
        comp, used, n_related = related_components(n, pairs, sims, alive, cfg.related_threshold,
                                                   cfg.threshold, cfg.max_component_share)
        sizes = np.bincount(comp, minlength=n)
        for i in range(n):
            if alive[i] and sizes[comp[i]] > 1:
                comp_col[i] = ids[comp[i]]
    annotated = base.with_columns(
        pl.Series(COMPONENT_COLUMN, comp_col, dtype=pl.String),
        pl.Series("_reason", reasons, dtype=pl.String),
        pl.Series("_detail", details, dtype=pl.String),
    )
    by_score = bool(cfg.keep_score and cfg.keep_score in base.columns)
    stats = {"pairs_duplicate": float(n_dup_pairs), "pairs_related": float(n_related),
             "related_threshold_used": float(used) if used is not None else 0.0,
             "kept_by_score": float(by_score)}
    return partition(STEP, annotated, stats)
