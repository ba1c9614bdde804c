"""The near-dedup API: clusters of one batch (`near_dedup`) and a batch against an earlier corpus
(`near_dedup_against`)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from curate.minhash.hashing import _U32
from curate.minhash.lsh import _band_keys, _empty_rows, _pairs_from_keys, candidate_pairs
from curate.minhash.params import MinHashParams, Verify
from curate.minhash.pool import _CHUNK, _Runner, _chunks
from curate.minhash.sketch import _signatures_and_keys, signatures
from curate.minhash.store import SignatureFile
from curate.minhash.verify import _normalize_verify, _pair_signature_jaccard, exact_jaccard
from curate.union_find import union_find_clusters


@dataclass(frozen=True, eq=False)
class NearDupResult:
    """Outcome of :func:`near_dedup` (arrays indexed like the input texts).

    - ``representative[i]``: index of the text that stands for ``i``'s cluster
      (the smallest index in it; ``i`` itself for a kept text).
    - ``is_duplicate[i]``: ``representative[i] != i``.
    - ``cluster_id[i]``: dense id, clusters numbered by their representative.
    - ``cluster_size[i]``: members in ``i``'s cluster.
    - ``pairs``: the edges that formed the clusters, ``(m, 2)`` with i < j
      (candidate pairs, minus those that failed verification).
    - ``pair_similarity``: per edge, exact Jaccard with ``verify="exact"``,
      otherwise the signature estimate.
    - ``signatures``: the ``(n, num_perm)`` uint32 signatures.
    - ``stats``: deterministic counts; ``timings_s``: seconds per stage.
    """

    representative: np.ndarray
    is_duplicate: np.ndarray
    cluster_id: np.ndarray
    cluster_size: np.ndarray
    pairs: np.ndarray
    pair_similarity: np.ndarray
    signatures: np.ndarray
    stats: dict[str, Any]
    timings_s: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class IncrementalResult:
    """Outcome of :func:`near_dedup_against` (arrays indexed like the new texts).

    - ``corpus_match[i]``: row in the corpus of the old text that represents
      new text ``i``, or -1 when no old text is in its cluster.
    - ``corpus_match_id[i]``: that old text's id, or None.
    - ``representative[i]``: for a new text whose cluster has no old text,
      the smallest new index of the cluster (``i`` itself when kept); -1 when
      an old text represents it.
    - ``is_duplicate[i]``: True unless ``i`` is kept (it has no old match and
      is its own representative).
    - ``pairs``: edges as ``(m, 2)`` indices into the concatenation
      ``[corpus rows..., new texts...]`` (so ``>= len(corpus)`` is new);
      old-old pairs are never formed.
    - ``signatures``: the new texts' signatures, to append to the corpus for
      the kept ones.
    """

    corpus_match: np.ndarray
    corpus_match_id: list[Any]
    representative: np.ndarray
    is_duplicate: np.ndarray
    pairs: np.ndarray
    pair_similarity: np.ndarray
    signatures: np.ndarray
    stats: dict[str, Any]
    timings_s: dict[str, float] = field(default_factory=dict)


def _verify_pairs(
    pairs: np.ndarray,
    sigs: np.ndarray,
    verify: Verify,
    threshold: float,
    exact_texts: Sequence[str] | None,
    ngram: int,
    run: _Runner,
) -> tuple[np.ndarray, np.ndarray]:
    if verify == "exact":
        assert exact_texts is not None
        sim = exact_jaccard(exact_texts, pairs, ngram, pool=run)
    else:
        sim = _pair_signature_jaccard(sigs, pairs)
    if verify == "none":
        return pairs, sim
    keep = sim >= threshold
    return pairs[keep], sim[keep]


def near_dedup(
    texts: Sequence[str],
    params: MinHashParams = MinHashParams(),
    verify: Verify | bool = "none",
    workers: int = 1,
    max_bucket: int | None = 256,
    sigs: np.ndarray | None = None,
    pool: Any = None,
) -> NearDupResult:
    """Cluster near-duplicate texts; the smallest index of a cluster represents it.

    ``verify``: ``"none"`` keeps every LSH candidate pair as an edge;
    ``"signature"`` keeps pairs whose estimated Jaccard is ``>= threshold``;
    ``"exact"`` (or True) keeps pairs whose exact shingle-set Jaccard is
    ``>= threshold``. ``max_bucket`` bounds the pairs one LSH bucket yields
    (see :func:`candidate_pairs`); with verification a member of a larger
    bucket is only checked against the bucket's smallest member. Pass
    precomputed ``sigs`` to skip hashing. ``workers``/``pool``: see
    :func:`signatures` (one pool serves hashing and verification).
    """
    verify = _normalize_verify(verify)
    timings: dict[str, float] = {}
    with _Runner(workers, pool) as run:
        t0 = time.perf_counter()
        bands, rows = params.bands_rows
        if sigs is None:
            sigs, keys = _signatures_and_keys(texts, params, (bands, rows), _CHUNK, run)
        elif sigs.shape != (len(texts), params.num_perm):
            raise ValueError(f"sigs has shape {sigs.shape}, expected {(len(texts), params.num_perm)}")
        else:
            keys = _band_keys(sigs, bands, rows)
        t1 = time.perf_counter()
        timings["signatures"] = t1 - t0
        cand = _pairs_from_keys(keys, _empty_rows(sigs), max_bucket)
        del keys
        t2 = time.perf_counter()
        timings["banding"] = t2 - t1
        pairs, sim = _verify_pairs(cand, sigs, verify, params.threshold, texts, params.ngram, run)
        t3 = time.perf_counter()
        timings["verify"] = t3 - t2
    n = len(texts)
    rep = union_find_clusters(n, pairs)
    uniq, cluster_id, sizes = np.unique(rep, return_inverse=True, return_counts=True)
    cluster_size = sizes[cluster_id]
    is_dup = rep != np.arange(n)
    timings["cluster"] = time.perf_counter() - t3
    stats = {
        "n_texts": n,
        "n_empty": int(_empty_rows(sigs).sum()),
        "bands": bands,
        "rows": rows,
        "verify": verify,
        "n_candidate_pairs": int(len(cand)),
        "n_pairs": int(len(pairs)),
        "n_clusters": int(len(uniq)),
        "n_multi_clusters": int(np.count_nonzero(sizes > 1)),
        "n_duplicates": int(is_dup.sum()),
    }
    return NearDupResult(
        representative=rep,
        is_duplicate=is_dup,
        cluster_id=cluster_id.astype(np.int64),
        cluster_size=cluster_size.astype(np.int64),
        pairs=pairs,
        pair_similarity=sim,
        signatures=sigs,
        stats=stats,
        timings_s=timings,
    )


class _ConcatTexts(Sequence):
    """Read-only view of corpus texts followed by new texts (no copy)."""

    def __init__(self, a: Sequence[str], b: Sequence[str]) -> None:
        self.a, self.b = a, b

    def __len__(self) -> int:
        return len(self.a) + len(self.b)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        return self.a[i] if i < len(self.a) else self.b[i - len(self.a)]


def near_dedup_against(
    new_texts: Sequence[str],
    corpus_sigs: np.ndarray | SignatureFile,
    params: MinHashParams = MinHashParams(),
    corpus_ids: Sequence[Any] | None = None,
    verify: Verify | bool = "none",
    corpus_texts: Sequence[str] | None = None,
    workers: int = 1,
    max_bucket: int | None = 256,
    pool: Any = None,
    new_sigs: np.ndarray | None = None,
) -> IncrementalResult:
    """Deduplicate a new batch against an existing (already deduplicated) corpus.

    Edges are new-old and new-new candidate pairs (never old-old): a new text
    that is a near-duplicate of an old one maps to the smallest old row of its
    cluster; old texts are never changed or merged with each other. New texts
    without an old match cluster among themselves (smallest new index
    represents). ``corpus_sigs`` is the corpus's signature array or a loaded
    :class:`SignatureFile` (then its ids are used and its params checked).
    ``verify="exact"`` needs ``corpus_texts`` (aligned with the corpus rows);
    without them use ``"signature"``.
    """
    verify = _normalize_verify(verify)
    if isinstance(corpus_sigs, SignatureFile):
        if corpus_sigs.fingerprint != params.signature_fingerprint():
            raise ValueError(
                f"corpus signatures were made with {corpus_sigs.fingerprint}, not comparable with "
                f"{params.signature_fingerprint()}"
            )
        corpus_ids = corpus_sigs.ids if corpus_ids is None else corpus_ids
        corpus_sigs = corpus_sigs.sigs
    corpus_sigs = np.asarray(corpus_sigs)
    m = len(corpus_sigs)
    if corpus_sigs.ndim != 2 or corpus_sigs.shape[1] != params.num_perm or corpus_sigs.dtype != _U32:
        raise ValueError(
            f"corpus_sigs must be uint32 (n, {params.num_perm}); got {corpus_sigs.dtype} {corpus_sigs.shape}"
        )
    if corpus_ids is not None and len(corpus_ids) != m:
        raise ValueError(f"corpus_ids has {len(corpus_ids)} entries for {m} signatures")
    if verify == "exact" and corpus_texts is None:
        raise ValueError("verify='exact' needs corpus_texts; pass them or use verify='signature'")
    if corpus_texts is not None and len(corpus_texts) != m:
        raise ValueError(f"corpus_texts has {len(corpus_texts)} entries for {m} signatures")
    timings: dict[str, float] = {}
    with _Runner(workers, pool) as run:
        t0 = time.perf_counter()
        if new_sigs is None:
            new_sigs = signatures(new_texts, params, pool=run)
        elif new_sigs.shape != (len(new_texts), params.num_perm):
            raise ValueError(f"new_sigs has shape {new_sigs.shape}, expected {(len(new_texts), params.num_perm)}")
        n = len(new_sigs)
        t1 = time.perf_counter()
        timings["signatures"] = t1 - t0
        bands, rows = params.bands_rows
        # Only old rows that share some band key with a new row can pair: find
        # them by lookup, then band the small union.
        touched = np.zeros(m, dtype=bool)
        if m and n:
            new_sorted = [np.unique(k) for k in _band_keys(new_sigs, bands, rows)]
            for i, j in _chunks(m, 1 << 18):
                old_keys = _band_keys(corpus_sigs[i:j], bands, rows)
                for nk, ok in zip(new_sorted, old_keys):
                    at = np.minimum(np.searchsorted(nk, ok), len(nk) - 1)
                    touched[i:j] |= nk[at] == ok
            touched &= ~_empty_rows(corpus_sigs)
        old_rows = np.flatnonzero(touched)
        sub = np.concatenate([corpus_sigs[old_rows], new_sigs])
        sub_ids = np.concatenate([old_rows, m + np.arange(n)])
        cand = sub_ids[candidate_pairs(sub, bands, rows, max_bucket=max_bucket)]
        cand = cand[cand[:, 1] >= m]  # drop old-old pairs
        t2 = time.perf_counter()
        timings["banding"] = t2 - t1
        all_sigs_view = _RowsView(corpus_sigs, new_sigs)
        exact_texts = _ConcatTexts(corpus_texts, new_texts) if verify == "exact" else None
        pairs, sim = _verify_pairs(cand, all_sigs_view, verify, params.threshold, exact_texts, params.ngram, run)
        t3 = time.perf_counter()
        timings["verify"] = t3 - t2
    # union-find over compact ids: touched old rows first (keeps "old < new")
    nodes, inv = np.unique(pairs, return_inverse=True)
    rep_local = union_find_clusters(len(nodes), inv.reshape(-1, 2))
    rep_global = nodes[rep_local]  # smallest member; old if the cluster has one
    rep_of = np.arange(m, m + n, dtype=np.int64)
    is_new_node = nodes >= m
    rep_of[nodes[is_new_node] - m] = rep_global[is_new_node]
    corpus_match = np.where(rep_of < m, rep_of, -1)
    representative = np.where(rep_of >= m, rep_of - m, -1)
    is_dup = (corpus_match >= 0) | (representative != np.arange(n))
    ids = [None if k < 0 else (corpus_ids[k] if corpus_ids is not None else int(k)) for k in corpus_match.tolist()]
    timings["cluster"] = time.perf_counter() - t3
    stats = {
        "n_texts": n,
        "n_corpus": m,
        "n_empty": int(_empty_rows(new_sigs).sum()),
        "bands": bands,
        "rows": rows,
        "verify": verify,
        "n_candidate_pairs": int(len(cand)),
        "n_pairs": int(len(pairs)),
        "n_corpus_matches": int(np.count_nonzero(corpus_match >= 0)),
        "n_duplicates": int(is_dup.sum()),
    }
    return IncrementalResult(
        corpus_match=corpus_match,
        corpus_match_id=ids,
        representative=representative,
        is_duplicate=is_dup,
        pairs=pairs,
        pair_similarity=sim,
        signatures=new_sigs,
        stats=stats,
        timings_s=timings,
    )


class _RowsView:
    """Row indexing over two stacked arrays without concatenating them."""

    def __init__(self, a: np.ndarray, b: np.ndarray) -> None:
        self.a, self.b = a, b
        self.shape = (len(a) + len(b), a.shape[1])

    def __getitem__(self, idx: np.ndarray) -> np.ndarray:
        idx = np.asarray(idx)
        out = np.empty((len(idx), self.shape[1]), dtype=self.a.dtype)
        old = idx < len(self.a)
        out[old] = self.a[idx[old]]
        out[~old] = self.b[idx[~old] - len(self.a)]
        return out
