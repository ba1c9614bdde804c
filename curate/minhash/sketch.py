"""MinHash signatures of many texts (chunked, optionally on a process pool) and shingle sets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from curate.minhash.hashing import _U32, _U64, _minhash_from_shingles, _shingle_hashes_chunk
from curate.minhash.lsh import _band_keys
from curate.minhash.params import MinHashParams
from curate.minhash.pool import _CHUNK, _Runner, _chunks
from curate.minhash.verify import _sorted_unique


def _signature_task(args: tuple) -> tuple[np.ndarray, np.ndarray | None]:
    """Signatures of a chunk, plus its band keys when (bands, rows) is given
    (so that the workers, not the parent, pay for them)."""
    texts, num_perm, ngram, seed, first, band_rows = args
    sh, soff = _shingle_hashes_chunk(texts, ngram, first)
    sigs = _minhash_from_shingles(sh, soff, num_perm, seed)
    return sigs, (_band_keys(sigs, *band_rows) if band_rows else None)


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
