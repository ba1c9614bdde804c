"""datasketch interop and the reference MinHash that tests check the fast path against."""

from __future__ import annotations


import numpy as np

from curate.minhash.hashing import _U32, shingle_hash32, shingles
from curate.minhash.params import MinHashParams


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
