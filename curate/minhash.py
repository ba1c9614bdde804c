"""MinHash LSH near-duplicate detection as plain library functions.

The chain is: texts -> word n-gram shingles -> MinHash signatures -> LSH
banding -> candidate pairs -> (optional) verification -> union-find clusters
with one deterministic representative each (the smallest input index).

Hashing scheme (why it differs from datasketch's default, and what it keeps)
----------------------------------------------------------------------------
datasketch 2.0's default ``"affine32"`` scheme hashes every shingle with
SHA-1 (first 4 bytes), pre-mixes the 32-bit value with the MurmurHash3
finalizer ``fmix32`` and applies ``num_perm`` bijective permutations
``a_k * h + b_k mod 2**32`` (``a_k`` odd) drawn from
``np.random.RandomState(seed)``. We keep every part of that except the base
hash: SHA-1 per shingle from Python is the hot path, so instead

* each word is hashed once, vectorised over a whole batch in numpy: a word of
  at most 16 UTF-8 bytes is packed (zero padded) into two little-endian
  uint64 ``lo, hi`` and hashed as ``fmix64(lo ^ len*K1 ^ hi*K2)`` (the 64-bit
  MurmurHash3 finalizer, a bijection, so words of up to 8 bytes never
  collide); a longer word uses ``xxh3_64``. See :func:`word_hash64`.
* a shingle of ``m`` words hashes to ``fmix64(sum_j word_hash_j * C_j ^ m*K)``
  (``C_j`` fixed odd position constants), see :func:`shingle_hash64`; its low
  32 bits are the "hashfunc" value that enters the affine32 permutations.

So a signature row is *bit-identical* to
``datasketch.MinHash(num_perm, seed=seed, scheme="affine32",
hashfunc=shingle_hash32)`` updated with the shingles (tests prove it), it
loads as a ``LeanMinHash`` (:func:`to_datasketch`), and the estimator is the
ordinary k-permutation MinHash estimator: ``P[sig_A[k] == sig_B[k]]`` equals
the Jaccard similarity of the two shingle sets as long as the base hash does
not collide on the shingles of A and B (a 32-bit hash over two sets of a few
hundred shingles collides with probability ~1e-5), which is why the estimate
stays unbiased; ``tests/test_minhash.py`` checks it empirically against exact
Jaccard on random pairs. Signatures made with a different ``seed``, ``ngram``
or with datasketch's SHA-1 hashfunc are *not* comparable with ours; the file
format records all of them (:func:`save_signatures`) and loading checks them.

Text normalisation: ``text.lower().split()`` (Python's Unicode-aware
lower-casing and whitespace split). A text of fewer than ``ngram`` words gives
one shingle of all its words; an empty (or all-whitespace) text gives none, its
signature is all ``2**32 - 1`` (datasketch's empty value) and it never becomes
a candidate of anything.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import struct
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import xxhash

__all__ = [
    "SCHEME",
    "MinHashParams",
    "NearDupResult",
    "IncrementalResult",
    "SignatureFile",
    "optimal_bands_rows",
    "normalize_words",
    "shingles",
    "word_hash64",
    "shingle_hash64",
    "shingle_hash32",
    "shingle_hash_sets",
    "signatures",
    "make_pool",
    "candidate_pairs",
    "union_find_clusters",
    "signature_jaccard",
    "exact_jaccard",
    "near_dedup",
    "near_dedup_against",
    "save_signatures",
    "load_signatures",
    "to_datasketch",
    "reference_minhash",
]

#: Identifies the shingle hashing + permutation scheme; stored in signature
#: files so that signatures made by an incompatible scheme are refused.
SCHEME = "curate-minhash-v1:words-lower-split:packed16-fmix64/xxh3:affine32"

Verify = Literal["none", "signature", "exact"]

_U64 = np.uint64
_U32 = np.uint32
_M64 = (1 << 64) - 1
_MAX32 = np.uint32(0xFFFFFFFF)

# MurmurHash3 fmix constants (the same ones datasketch uses).
_F64_M1 = 0xFF51AFD7ED558CCD
_F64_M2 = 0xC4CEB9FE1A85EC53
_F32_M1 = 0x85EBCA6B
_F32_M2 = 0xC2B2AE35
# Fixed odd constants of the word / shingle / band hashes (arbitrary, never
# change them: saved signatures depend on them).
_K_LEN = 0x9E3779B97F4A7C15
_K_HI = 0xD6E8FEB86659FD93
_K_M = 0xA0761D6478BD642F
_K_POS_SEED = 0x2545F4914F6CDD1D
_K_BAND_SEED = 0x94D049BB133111EB

# Python's str.split() whitespace within ASCII: \t \n \v \f \r, \x1c-\x1f, space.
_SEP = np.zeros(256, dtype=bool)
_SEP[[9, 10, 11, 12, 13, 28, 29, 30, 31, 32]] = True
# Byte masks that keep the first L bytes of a zero padded 16-byte word.
_MASK_LO = np.array([(1 << (8 * min(L, 8))) - 1 for L in range(17)], dtype=_U64)
_MASK_HI = np.array([(1 << (8 * max(L - 8, 0))) - 1 for L in range(17)], dtype=_U64)
_WORD_PACK = 16
_LEN_MIX = np.array([(L * _K_LEN) & _M64 for L in range(_WORD_PACK + 1)], dtype=_U64)


# --------------------------------------------------------------------------
# parameters


@dataclass(frozen=True)
class MinHashParams:
    """Configuration of MinHash near-dedup.

    ``bands``/``rows`` default to the pair that minimises
    ``false_positive_weight * FP + false_negative_weight * FN`` for
    ``threshold`` (see :func:`optimal_bands_rows`). With exact verification
    false positives only cost verification time, so a recall-leaning weight
    (e.g. ``false_negative_weight=0.9``) is the better choice there.
    """

    num_perm: int = 128
    ngram: int = 5
    threshold: float = 0.8
    seed: int = 1
    bands: int | None = None
    rows: int | None = None
    false_positive_weight: float = 0.5
    false_negative_weight: float = 0.5

    def __post_init__(self) -> None:
        if not (isinstance(self.num_perm, int) and 2 <= self.num_perm <= 4096):
            raise ValueError(f"num_perm must be an int in [2, 4096], got {self.num_perm!r}")
        if not (isinstance(self.ngram, int) and self.ngram >= 1):
            raise ValueError(f"ngram must be an int >= 1, got {self.ngram!r}")
        if not (0.0 < float(self.threshold) <= 1.0):
            raise ValueError(f"threshold must be in (0, 1], got {self.threshold!r}")
        if not (isinstance(self.seed, int) and 0 <= self.seed < 2**32):
            raise ValueError(f"seed must be an int in [0, 2**32), got {self.seed!r}")
        if (self.bands is None) != (self.rows is None):
            raise ValueError("give both bands and rows, or neither")
        if self.bands is not None:
            if self.bands < 1 or self.rows < 1 or self.bands * self.rows > self.num_perm:
                raise ValueError(
                    f"bands * rows must be <= num_perm with both >= 1, got "
                    f"{self.bands} * {self.rows} for num_perm {self.num_perm}"
                )
        for name in ("false_positive_weight", "false_negative_weight"):
            w = getattr(self, name)
            if not (0.0 <= w <= 1.0):
                raise ValueError(f"{name} must be in [0, 1], got {w!r}")
        if self.false_positive_weight + self.false_negative_weight <= 0:
            raise ValueError("false_positive_weight + false_negative_weight must be > 0")

    @property
    def bands_rows(self) -> tuple[int, int]:
        """The (bands, rows) in use: the explicit ones or the optimal ones."""
        if self.bands is not None:
            return self.bands, self.rows  # type: ignore[return-value]
        return optimal_bands_rows(
            self.threshold, self.num_perm, self.false_positive_weight, self.false_negative_weight
        )

    def signature_fingerprint(self) -> dict[str, Any]:
        """What makes two signatures comparable (stored in signature files)."""
        return {"scheme": SCHEME, "num_perm": self.num_perm, "ngram": self.ngram, "seed": self.seed}


@lru_cache(maxsize=256)
def optimal_bands_rows(
    threshold: float,
    num_perm: int,
    false_positive_weight: float = 0.5,
    false_negative_weight: float = 0.5,
) -> tuple[int, int]:
    """(bands, rows) minimising the weighted false positive + false negative mass.

    Same objective and grid as datasketch's ``_optimal_param``: a pair of
    Jaccard ``s`` becomes a candidate with probability ``1 - (1 - s**r)**b``;
    FP is its integral over ``[0, threshold]`` and FN the integral of the
    complement over ``[threshold, 1]``. The integrands are polynomials of
    degree ``b * r <= num_perm``, so Gauss-Legendre quadrature with
    ``num_perm // 2 + 1`` nodes integrates them exactly; ties go to the
    smallest ``b`` then ``r`` (datasketch's scan order).
    """
    if not (0.0 <= threshold <= 1.0):
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    nodes, weights = np.polynomial.legendre.leggauss(num_perm // 2 + 1)

    def _grid(lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
        return (hi - lo) / 2 * nodes + (hi + lo) / 2, (hi - lo) / 2 * weights

    s_fp, w_fp = _grid(0.0, threshold)
    s_fn, w_fn = _grid(threshold, 1.0)
    best, best_err = (0, 0), math.inf
    for b in range(1, num_perm + 1):
        r = np.arange(1, num_perm // b + 1, dtype=np.float64)[:, None]
        fp = (1.0 - (1.0 - s_fp[None, :] ** r) ** b) @ w_fp
        fn = ((1.0 - s_fn[None, :] ** r) ** b) @ w_fn
        err = false_positive_weight * fp + false_negative_weight * fn
        k = int(np.argmin(err))
        if err[k] < best_err:
            best_err, best = float(err[k]), (b, k + 1)
    return best


# --------------------------------------------------------------------------
# reference (pure Python) shingling and hashing: the specification that the
# vectorised path reproduces bit for bit.


def _fmix64(x: int) -> int:
    x ^= x >> 33
    x = (x * _F64_M1) & _M64
    x ^= x >> 33
    x = (x * _F64_M2) & _M64
    return x ^ (x >> 33)


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


@lru_cache(maxsize=64)
def _odd_constants(seed: int, n: int) -> tuple[int, ...]:
    out, x = [], seed
    for _ in range(n):
        x = _splitmix64(x)
        out.append(x | 1)
    return tuple(out)


def normalize_words(text: str) -> list[str]:
    """The words of a text: lower-cased, split on any whitespace."""
    return text.lower().split()


def shingles(text: str, ngram: int = 5) -> list[bytes]:
    """Word n-gram shingles of a text (UTF-8, words joined by one space).

    A text of fewer than ``ngram`` words gives one shingle of all its words;
    an empty text gives none. Duplicates are kept (MinHash treats the list as
    a set).
    """
    words = normalize_words(text)
    if not words:
        return []
    if len(words) < ngram:
        return [" ".join(words).encode()]
    return [" ".join(words[i : i + ngram]).encode() for i in range(len(words) - ngram + 1)]


def word_hash64(word: bytes) -> int:
    """64-bit hash of one (lower-cased, UTF-8) word."""
    n = len(word)
    if n > _WORD_PACK:
        return xxhash.xxh3_64_intdigest(word)
    lo, hi = struct.unpack("<QQ", word.ljust(_WORD_PACK, b"\0"))
    return _fmix64(lo ^ ((n * _K_LEN) & _M64) ^ ((hi * _K_HI) & _M64))


def shingle_hash64(shingle: bytes) -> int:
    """64-bit hash of a shingle (words joined by single spaces)."""
    words = shingle.split(b" ")
    pos = _odd_constants(_K_POS_SEED, len(words))
    acc = 0
    for c, w in zip(pos, words):
        acc = (acc + word_hash64(w) * c) & _M64
    return _fmix64(acc ^ ((len(words) * _K_M) & _M64))


def shingle_hash32(shingle: bytes) -> int:
    """The 32-bit base hash of a shingle: datasketch's ``hashfunc`` for our scheme."""
    return shingle_hash64(shingle) & 0xFFFFFFFF


# --------------------------------------------------------------------------
# vectorised shingling and signatures


def _vfmix64(x: np.ndarray) -> np.ndarray:
    x = x ^ (x >> _U64(33))
    x *= _U64(_F64_M1)
    x ^= x >> _U64(33)
    x *= _U64(_F64_M2)
    x ^= x >> _U64(33)
    return x


def _vfmix32(x: np.ndarray) -> np.ndarray:
    x = x ^ (x >> _U32(16))
    x *= _U32(_F32_M1)
    x ^= x >> _U32(13)
    x *= _U32(_F32_M2)
    x ^= x >> _U32(16)
    return x


def _shingle_hashes_chunk(texts: Sequence[str], ngram: int, first: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Shingle hashes (uint64) of a batch, grouped by text, and their offsets (n+1).

    Equal to ``[shingle_hash64(s) for s in shingles(t, ngram)]`` per text.
    The texts are joined into one byte buffer; words are found and hashed
    with array operations, so per-word Python work is limited to words longer
    than 16 bytes.
    """
    pieces = [b""]  # the join below then starts with a separator
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"text {first + i} is {type(t).__name__}, expected str")
        s = t.lower()
        if not s.isascii():
            # Unicode whitespace (NBSP, U+2003, ...) is multi-byte in UTF-8:
            # let Python split it so both paths see the same words.
            s = " ".join(s.split())
        pieces.append(s.encode())
    n = len(pieces) - 1
    lens = np.fromiter(map(len, pieces), dtype=np.int64, count=n + 1)[1:]
    # texts joined by one separator, one more in front and at the end, so
    # every word is enclosed by separators and never straddles two texts;
    # then zero padding for the 16-byte reads of the last word
    doc_start = np.ones(n, dtype=np.int64)
    if n > 1:
        np.cumsum(lens[:-1] + 1, out=doc_start[1:])
        doc_start[1:] += 1
    pieces.append(b"\0" * _WORD_PACK)
    data = b" ".join(pieces)
    del pieces
    buf = np.frombuffer(data, dtype=np.uint8)
    body = buf[: len(data) - _WORD_PACK]
    # word byte <=> not one of Python's ASCII whitespace (9..13, 28..32)
    isword = ((body - np.uint8(9)) > 4) & ((body - np.uint8(28)) > 4)
    flips = np.flatnonzero(isword[1:] != isword[:-1]) + 1
    del isword, body
    starts, ends = flips[0::2], flips[1::2]
    # word w belongs to text d iff woff[d] <= w < woff[d + 1]
    woff = np.empty(n + 1, dtype=np.int64)
    woff[:n] = np.searchsorted(starts, doc_start)
    woff[n] = len(starts)
    wcount = np.diff(woff)

    # word hashes: the first 16 bytes of each word as two little-endian
    # uint64 (one 16-byte gather per word through an overlapping view)
    wlen = ends - starts
    win = np.ndarray(shape=(len(buf) - _WORD_PACK + 1,), dtype="V16", buffer=buf, strides=(1,))
    q = win[starts].view("<u8").reshape(-1, 2)
    clipped = np.minimum(wlen, _WORD_PACK)
    lo = q[:, 0] & _MASK_LO[clipped]
    hi = q[:, 1] & _MASK_HI[clipped]
    del q, win
    lo ^= _LEN_MIX[clipped]
    hi *= _U64(_K_HI)
    lo ^= hi
    wh = _vfmix64(lo)
    for k in np.flatnonzero(wlen > _WORD_PACK).tolist():
        wh[k] = xxhash.xxh3_64_intdigest(data[starts[k] : ends[k]])
    del lo, hi, data, buf

    # shingle hashes: acc[g] = sum_j wh[g + j] * C_j for every word position g
    nw = len(wh)
    pos = _odd_constants(_K_POS_SEED, ngram)
    whp = np.concatenate([wh, np.zeros(ngram, dtype=_U64)])
    acc = wh * _U64(pos[0])
    for j in range(1, ngram):
        acc += whp[j : j + nw] * _U64(pos[j])
    del whp
    # a full shingle starts anywhere but at the last ngram-1 words of a text;
    # a short text (0 < count < ngram) has one shingle at its first word
    valid = np.ones(nw, dtype=bool)
    for j in range(1, ngram):
        valid[woff[1:][wcount >= j] - j] = False
    short = np.flatnonzero((wcount > 0) & (wcount < ngram))
    if len(short):
        base = woff[short]
        cnt = wcount[short]
        sacc = wh[base] * _U64(pos[0])
        for j in range(1, ngram - 1):
            m = cnt > j
            sacc[m] += wh[base[m] + j] * _U64(pos[j])
        # the length term below assumes ngram words: correct it for these
        sacc ^= (cnt.astype(_U64) * _U64(_K_M)) ^ _U64((ngram * _K_M) & _M64)
        acc[base] = sacc
        valid[base] = True
    sel = acc[valid]
    sel ^= _U64((ngram * _K_M) & _M64)
    sh = _vfmix64(sel)
    scount = np.where(wcount >= ngram, wcount - ngram + 1, np.minimum(wcount, 1))
    soff = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(scount, out=soff[1:])
    return sh, soff


@lru_cache(maxsize=32)
def _permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's affine32 permutation parameters for (num_perm, seed)."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=_U32) * _U32(2) + _U32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=_U32)
    return a, b


# Shingles per permutation block: 128 x 8192 uint32 = 4 MiB stays in cache.
_PERM_BLOCK = 8192


def _minhash_from_shingles(sh: np.ndarray, soff: np.ndarray, num_perm: int, seed: int) -> np.ndarray:
    n = len(soff) - 1
    a, b = _permutations(num_perm, seed)
    a_col, b_col = a[:, None], b[:, None]
    hv = _vfmix32((sh & _U64(0xFFFFFFFF)).astype(_U32))
    out = np.full((num_perm, n), _MAX32, dtype=_U32)
    counts = np.diff(soff)
    nonempty = np.flatnonzero(counts > 0)
    if len(nonempty) == 0:
        return np.ascontiguousarray(out.T)
    # group whole texts into blocks of about _PERM_BLOCK shingles
    ne_start = soff[nonempty]
    block_id = ne_start // _PERM_BLOCK
    cuts = np.flatnonzero(np.diff(block_id)) + 1
    bounds = np.concatenate([[0], cuts, [len(nonempty)]])
    tmp = np.empty((num_perm, min(len(hv), 2 * _PERM_BLOCK)), dtype=_U32)
    for lo_i, hi_i in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
        docs = nonempty[lo_i:hi_i]
        s0 = int(soff[docs[0]])
        s1 = int(soff[docs[-1] + 1])
        width = s1 - s0
        if width > tmp.shape[1]:
            tmp = np.empty((num_perm, width), dtype=_U32)
        view = tmp[:, :width]
        np.multiply(a_col, hv[None, s0:s1], out=view)
        view += b_col
        out[:, docs] = np.minimum.reduceat(view, soff[docs] - s0, axis=1)
    return np.ascontiguousarray(out.T)


def _signature_task(args: tuple) -> tuple[np.ndarray, np.ndarray | None]:
    """Signatures of a chunk, plus its band keys when (bands, rows) is given
    (so that the workers, not the parent, pay for them)."""
    texts, num_perm, ngram, seed, first, band_rows = args
    sh, soff = _shingle_hashes_chunk(texts, ngram, first)
    sigs = _minhash_from_shingles(sh, soff, num_perm, seed)
    return sigs, (_band_keys(sigs, *band_rows) if band_rows else None)


class _Runner:
    """Maps a task function over chunk tasks: in-process, on a given pool, or
    on a spawn pool of ``workers`` processes created on first need and shared
    by every stage of one call (signatures, then verification).

    spawn: workers inherit neither the caller's threads (polars, torch:
    forking those can deadlock) nor its memory (a forked copy of a large
    corpus is touched by refcounts and duplicated). Start-up costs ~0.3 s,
    which is why inputs of fewer than ``_MIN_POOL_CHUNKS`` chunks run
    in-process.
    """

    def __init__(self, workers: int = 1, pool: Any = None) -> None:
        if isinstance(pool, _Runner):
            self.workers, self.pool, self.own = pool.workers, pool.pool, False
            self.parent = pool
        else:
            self.workers, self.pool, self.own, self.parent = max(1, int(workers)), pool, False, None

    def imap(self, fn, tasks, n_tasks: int):
        if self.parent is not None:
            return self.parent.imap(fn, tasks, n_tasks)
        if self.pool is None and self.workers > 1 and n_tasks >= _MIN_POOL_CHUNKS:
            self.pool = make_pool(self.workers)
            self.own = True
        if self.pool is None:
            return map(fn, tasks)
        return self.pool.imap(fn, tasks)

    def __enter__(self) -> _Runner:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if self.own and self.pool is not None:
            if exc_type is None:
                self.pool.close()
            else:
                self.pool.terminate()
            self.pool.join()
            self.pool, self.own = None, False


def make_pool(workers: int):
    """A spawn ``multiprocessing`` pool set up like the one the functions here
    create for ``workers > 1``; pass it as ``pool=`` to reuse it across calls
    (close it yourself)."""
    return mp.get_context("spawn").Pool(workers, initializer=_worker_init)


def _worker_init() -> None:
    # A fresh process starts with glibc's default 128 KiB mmap threshold, so
    # every multi-MiB temporary of a chunk is mmapped, page-faulted and
    # unmapped again (~25 % of a worker's time). Keep freed memory for reuse
    # instead; this only touches worker processes we own.
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 256 << 20)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 512 << 20)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass


# Texts per worker task (~2 MB of text: big enough to amortise a task's
# overhead, small enough to balance two workers and keep temporaries in cache).
_CHUNK = 2048
# Below this many chunks a process pool costs more than it saves.
_MIN_POOL_CHUNKS = 4


def _chunks(n: int, size: int) -> Iterator[tuple[int, int]]:
    for i in range(0, n, size):
        yield i, min(i + size, n)


def signatures(
    texts: Sequence[str],
    params: MinHashParams = MinHashParams(),
    workers: int = 1,
    chunk_size: int = _CHUNK,
    pool: Any = None,
) -> np.ndarray:
    """MinHash signatures, shape ``(len(texts), num_perm)``, dtype uint32.

    Row ``i`` equals datasketch's ``MinHash(num_perm, seed, scheme="affine32",
    hashfunc=shingle_hash32)`` updated with ``shingles(texts[i], ngram)``.
    ``workers > 1`` hashes chunks of ``chunk_size`` texts in that many spawned
    processes (shared-nothing: each gets its chunk's texts, returns its
    signatures); ``pool`` (a ``multiprocessing`` pool) is used instead when
    given, e.g. one kept across batches. The result depends on neither.
    """
    with _Runner(workers, pool) as run:
        return _signatures_and_keys(texts, params, None, chunk_size, run)[0]


def _signatures_and_keys(
    texts: Sequence[str],
    params: MinHashParams,
    band_rows: tuple[int, int] | None,
    chunk_size: int,
    runner: _Runner,
) -> tuple[np.ndarray, np.ndarray | None]:
    n = len(texts)
    sigs = np.empty((n, params.num_perm), dtype=_U32)
    keys = np.empty((band_rows[0], n), dtype=_U64) if band_rows else None
    ranges = list(_chunks(n, chunk_size))
    tasks = ((list(texts[i:j]), params.num_perm, params.ngram, params.seed, i, band_rows) for i, j in ranges)
    for (i, j), (sig, key) in zip(ranges, runner.imap(_signature_task, tasks, len(ranges))):
        sigs[i:j] = sig
        if keys is not None:
            keys[:, i:j] = key
    return sigs, keys


def shingle_hash_sets(texts: Sequence[str], ngram: int = 5) -> list[np.ndarray]:
    """Per text, the sorted unique 64-bit shingle hashes (its shingle set)."""
    sh, soff = _shingle_hashes_chunk(list(texts), ngram)
    return [_sorted_unique(sh[soff[i] : soff[i + 1]]) for i in range(len(soff) - 1)]


# --------------------------------------------------------------------------
# banding and clustering


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


def union_find_clusters(n: int, pairs: np.ndarray) -> np.ndarray:
    """Representative of every element: the smallest index of its component.

    Vectorised union-find: every round hooks the larger root of each edge
    under the smaller one and compresses paths by pointer jumping, until no
    edge joins two roots. Roots only ever decrease, so it terminates, and at
    the end each root is the minimum of its component.
    """
    parent = np.arange(n, dtype=np.int64)
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if len(pairs) == 0:
        return parent
    u, v = pairs[:, 0], pairs[:, 1]
    while True:
        ru, rv = parent[u], parent[v]
        diff = ru != rv
        if not diff.any():
            return parent
        u, v, ru, rv = u[diff], v[diff], ru[diff], rv[diff]
        lo, hi = np.minimum(ru, rv), np.maximum(ru, rv)
        np.minimum.at(parent, hi, lo)
        while True:
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand


# --------------------------------------------------------------------------
# verification


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


# --------------------------------------------------------------------------
# results


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
        new_sigs = signatures(new_texts, params, pool=run)
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


# --------------------------------------------------------------------------
# persistence and datasketch interop


@dataclass(frozen=True, eq=False)
class SignatureFile:
    """Contents of a signature file: ids, uint32 signatures and their params."""

    ids: list[Any]
    sigs: np.ndarray
    fingerprint: dict[str, Any]


_META_KEY = "curate.minhash"


def save_signatures(path: str | os.PathLike, ids: Sequence[Any], sigs: np.ndarray, params: MinHashParams) -> Path:
    """Write ids + signatures to a Parquet file, atomically (temp file + rename).

    Columns ``id`` (as given: str or int) and ``sig`` (``Array(UInt32,
    num_perm)``); the file metadata records the scheme, num_perm, ngram and
    seed so :func:`load_signatures` can refuse incomparable signatures.
    """
    import json

    import polars as pl

    sigs = np.ascontiguousarray(sigs)
    if sigs.ndim != 2 or sigs.shape[1] != params.num_perm or sigs.dtype != _U32:
        raise ValueError(f"sigs must be uint32 (n, {params.num_perm}); got {sigs.dtype} {sigs.shape}")
    if len(ids) != len(sigs):
        raise ValueError(f"{len(ids)} ids for {len(sigs)} signatures")
    path = Path(path)
    df = pl.DataFrame({"id": ids.tolist() if isinstance(ids, np.ndarray) else list(ids)})
    df = df.with_columns(pl.Series("sig", sigs, dtype=pl.Array(pl.UInt32, params.num_perm)))
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            df.write_parquet(fh, metadata={_META_KEY: json.dumps(params.signature_fingerprint())})
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_signatures(path: str | os.PathLike, params: MinHashParams | None = None) -> SignatureFile:
    """Read a file written by :func:`save_signatures`.

    With ``params``, raises ValueError when the file's scheme, num_perm, ngram
    or seed differ from them (such signatures cannot be compared).
    """
    import json

    import polars as pl

    meta = pl.read_parquet_metadata(path)
    if _META_KEY not in meta:
        raise ValueError(f"{path}: not a signature file (no {_META_KEY!r} metadata)")
    fingerprint = json.loads(meta[_META_KEY])
    if params is not None and fingerprint != params.signature_fingerprint():
        raise ValueError(
            f"{path}: signatures were made with {fingerprint}, not comparable with "
            f"{params.signature_fingerprint()}; recompute them"
        )
    df = pl.read_parquet(path)
    num_perm = int(fingerprint["num_perm"])
    if len(df):
        sigs = np.ascontiguousarray(df["sig"].to_numpy(), dtype=_U32)
    else:
        sigs = np.empty((0, num_perm), dtype=_U32)
    return SignatureFile(ids=df["id"].to_list(), sigs=sigs.reshape(-1, num_perm), fingerprint=fingerprint)


def to_datasketch(sig_row: np.ndarray, seed: int = 1):
    """A ``datasketch.LeanMinHash`` holding one signature row (scheme affine32).

    Usable in datasketch's ``MinHashLSH`` (any storage backend) and comparable
    with MinHash built by :func:`reference_minhash` with the same seed.
    """
    from datasketch import LeanMinHash

    row = np.asarray(sig_row)
    if row.ndim != 1 or row.dtype != _U32:
        raise ValueError(f"sig_row must be a 1-d uint32 array, got {row.dtype} {row.shape}")
    return LeanMinHash(seed=seed, hashvalues=row, scheme="affine32")


def reference_minhash(text: str, params: MinHashParams = MinHashParams()):
    """datasketch's own MinHash of a text under our scheme (slow; for checks).

    ``signatures([text], params)[0]`` equals its ``hashvalues`` bit for bit.
    """
    from datasketch import MinHash

    m = MinHash(num_perm=params.num_perm, seed=params.seed, scheme="affine32", hashfunc=shingle_hash32)
    m.update_batch(shingles(text, params.ngram))
    return m
