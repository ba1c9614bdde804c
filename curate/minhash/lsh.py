"""LSH banding: band keys of signatures, buckets, candidate pairs."""

from __future__ import annotations


import numpy as np

from curate.minhash.hashing import _K_BAND_SEED, _MAX32, _U64, _odd_constants, _vfmix64
from curate.minhash.pool import _chunks


def _empty_rows(sigs: np.ndarray) -> np.ndarray:
    # the minimum of a non-empty set's row is < 2**32 - 1 (all but surely)
    return sigs.min(axis=1, initial=_MAX32) == _MAX32 if len(sigs) else np.zeros(0, dtype=bool)


def _band_keys(sigs: np.ndarray, bands: int, rows: int, block: int = 16384) -> np.ndarray:
    """64-bit key of every band of every row, band-major ``(bands, n)``; equal bands give equal keys."""
    n = len(sigs)
    mult = np.array(_odd_constants(_K_BAND_SEED, rows), dtype=_U64)
    keys = np.empty((bands, n), dtype=_U64)
    for i, j in _chunks(n, block):
        part = sigs[i:j, : bands * rows].reshape(j - i, bands, rows).astype(_U64)
        part *= mult
        keys[:, i:j] = _vfmix64(part.sum(axis=2, dtype=_U64)).T
    return keys


def _bucket_pairs(keys: np.ndarray, max_bucket: int | None) -> np.ndarray:
    """Pairs ``(i, j)``, ``i < j``, of rows with equal keys (duplicates possible across calls).

    A run of equal keys longer than ``max_bucket`` contributes only star
    edges from its smallest row, which keeps the same connected components
    at linear cost.
    """
    empty = np.empty((0, 2), dtype=np.int64)
    if len(keys) < 2:
        return empty
    order = np.argsort(keys)
    ks = keys[order]
    brk = np.flatnonzero(ks[1:] != ks[:-1]) + 1
    starts = np.concatenate([[0], brk])
    sizes = np.diff(np.concatenate([starts, [len(ks)]]))
    multi = sizes > 1
    starts, sizes = starts[multi], sizes[multi]
    if len(starts) == 0:
        return empty
    big = sizes > max_bucket if max_bucket is not None else np.zeros(len(sizes), dtype=bool)
    out = []
    s_st, s_sz = starts[~big], sizes[~big]
    if len(s_st):
        # element at run position q pairs with the (size - 1 - q) after it
        elem = _run_positions(s_st, s_sz)
        after = np.repeat(s_st + s_sz, s_sz) - elem - 1
        left = np.repeat(elem, after)
        right = np.repeat(elem + 1, after) + (np.arange(len(left)) - np.repeat(np.cumsum(after) - after, after))
        a, b = order[left], order[right]
        out.append(np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1))
    b_st, b_sz = starts[big], sizes[big]
    if len(b_st):
        elem = _run_positions(b_st, b_sz)
        members = order[elem]
        head = np.repeat(np.minimum.reduceat(members, np.cumsum(b_sz) - b_sz), b_sz)
        keep = members != head
        out.append(np.stack([head[keep], members[keep]], axis=1))
    return np.concatenate(out).astype(np.int64, copy=False)


def _run_positions(starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    total = int(sizes.sum())
    return np.repeat(starts - (np.cumsum(sizes) - sizes), sizes) + np.arange(total)


def _unique_pairs(parts: list[np.ndarray], n: int) -> np.ndarray:
    if not parts:
        return np.empty((0, 2), dtype=np.int64)
    p = np.concatenate(parts)
    if len(p) == 0:
        return np.empty((0, 2), dtype=np.int64)
    code = np.sort(p[:, 0] * np.int64(n) + p[:, 1])
    code = code[np.concatenate([[True], code[1:] != code[:-1]])]
    return np.stack([code // n, code % n], axis=1)


def candidate_pairs(
    sigs: np.ndarray,
    bands: int,
    rows: int,
    max_bucket: int | None = None,
) -> np.ndarray:
    """Unique pairs ``(i, j)``, ``i < j``, that agree on all rows of some band.

    Shape ``(m, 2)`` int64, sorted. Band ``k`` is columns
    ``[k*rows, (k+1)*rows)`` (datasketch's layout), so with ``max_bucket=None``
    this is exactly the set of pairs a datasketch ``MinHashLSH(params=(bands,
    rows))`` query would return (bands are compared through 64-bit keys; a
    spurious key collision has probability ~2**-64 per pair and band). Rows of
    empty sets never pair. A bucket with more than ``max_bucket`` members
    contributes only the pairs (smallest member, other member): the same
    clusters at linear cost when thousands of texts share a bucket.
    """
    sigs = np.asarray(sigs)
    if sigs.ndim != 2 or bands * rows > sigs.shape[1]:
        raise ValueError(f"sigs must be (n, >= bands*rows); got {sigs.shape} for {bands}x{rows}")
    return _pairs_from_keys(_band_keys(sigs, bands, rows), _empty_rows(sigs), max_bucket)


def _pairs_from_keys(keys: np.ndarray, empty: np.ndarray, max_bucket: int | None) -> np.ndarray:
    """Candidate pairs from band-major keys ``(bands, n)``, skipping ``empty`` rows."""
    n = keys.shape[1]
    live = np.flatnonzero(~empty)
    if len(live) < 2:
        return np.empty((0, 2), dtype=np.int64)
    parts = []
    for band_keys in keys:
        parts.append(_bucket_pairs(band_keys[live] if len(live) < n else band_keys, max_bucket))
    pairs = _unique_pairs(parts, len(live))
    if len(live) < n:
        pairs = live[pairs]
    return pairs
