"""Verification of candidate pairs: signature or exact Jaccard."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from curate.minhash.hashing import _shingle_hashes_chunk
from curate.minhash.params import Verify
from curate.minhash.pool import _Runner, _chunks


def signature_jaccard(sigs_a: np.ndarray, sigs_b: np.ndarray) -> np.ndarray:
    """Estimated Jaccard per row pair: the fraction of equal signature values."""
    return np.count_nonzero(np.asarray(sigs_a) == np.asarray(sigs_b), axis=1) / np.asarray(sigs_a).shape[1]


def _pair_signature_jaccard(sigs: np.ndarray, pairs: np.ndarray, block: int = 65536) -> np.ndarray:
    out = np.empty(len(pairs), dtype=np.float64)
    for i, j in _chunks(len(pairs), block):
        out[i:j] = signature_jaccard(sigs[pairs[i:j, 0]], sigs[pairs[i:j, 1]])
    return out


def _sorted_unique(a: np.ndarray) -> np.ndarray:
    a = np.sort(a)
    if len(a) > 1:
        a = a[np.concatenate(([True], a[1:] != a[:-1]))]
    return a


def _exact_jaccard_task(args: tuple[list[str], np.ndarray, int]) -> np.ndarray:
    texts, local_pairs, ngram = args
    sh, soff = _shingle_hashes_chunk(texts, ngram)
    sets = [_sorted_unique(sh[soff[k] : soff[k + 1]]) for k in range(len(texts))]
    out = np.empty(len(local_pairs), dtype=np.float64)
    for k, (i, j) in enumerate(local_pairs.tolist()):
        a, b = sets[i], sets[j]
        if len(a) < len(b):
            a, b = b, a
        if len(b) == 0:
            out[k] = 0.0
            continue
        at = a.searchsorted(b)
        at[at == len(a)] = 0
        inter = int(np.count_nonzero(a[at] == b))
        out[k] = inter / (len(a) + len(b) - inter)
    return out


def exact_jaccard(
    texts: Sequence[str],
    pairs: np.ndarray,
    ngram: int = 5,
    workers: int = 1,
    chunk_pairs: int = 1024,
    pool: Any = None,
) -> np.ndarray:
    """Jaccard similarity of the shingle sets of each pair of texts.

    Sets are compared through 64-bit shingle hashes (exact up to a 64-bit
    collision). Two empty sets have similarity 0: they are not near-duplicates
    of each other here (exact dedup handles them). Texts are re-shingled per
    chunk of pairs, so memory stays bounded by ``chunk_pairs``; chunks run
    on ``workers`` processes or ``pool`` like :func:`signatures`.
    """
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    out = np.empty(len(pairs), dtype=np.float64)
    if len(pairs) == 0:
        return out

    def tasks():
        for i, j in _chunks(len(pairs), chunk_pairs):
            chunk = pairs[i:j]
            docs, inv = np.unique(chunk, return_inverse=True)
            yield [texts[d] for d in docs.tolist()], inv.reshape(-1, 2), ngram

    ranges = list(_chunks(len(pairs), chunk_pairs))
    with _Runner(workers, pool) as run:
        for (i, j), res in zip(ranges, run.imap(_exact_jaccard_task, tasks(), len(ranges))):
            out[i:j] = res
    return out


def _normalize_verify(verify: Verify | bool) -> Verify:
    if verify is True:
        return "exact"
    if verify is False or verify is None:
        return "none"
    if verify not in ("none", "signature", "exact"):
        raise ValueError(f"verify must be 'none', 'signature' or 'exact', got {verify!r}")
    return verify
