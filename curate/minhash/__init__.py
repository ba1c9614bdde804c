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

Stages, one module each: ``params`` (MinHashParams, bands/rows), ``hashing`` (shingles and hashes,
reference and vectorised), ``sketch`` (signatures of many texts), ``pool`` (the shared process pool),
``lsh`` (banding, candidate pairs), ``verify`` (signature / exact Jaccard), ``dedup`` (the near-dedup
API), ``store`` (signature files), ``oracles`` (datasketch interop for checks). The names below are
the public API; import them from ``curate.minhash``.
"""

from curate.minhash.dedup import IncrementalResult, NearDupResult, near_dedup, near_dedup_against
from curate.minhash.hashing import normalize_words, shingle_hash32, shingle_hash64, shingles, word_hash64
from curate.minhash.lsh import candidate_pairs
from curate.minhash.oracles import reference_minhash, to_datasketch
from curate.minhash.params import MinHashParams, SCHEME, Verify, optimal_bands_rows
from curate.minhash.pool import make_pool
from curate.minhash.sketch import shingle_hash_sets, signatures
from curate.minhash.store import SignatureFile, load_signatures, save_signatures
from curate.minhash.verify import exact_jaccard, signature_jaccard
from curate.union_find import union_find_clusters

__all__ = [
    "SCHEME",
    "MinHashParams",
    "NearDupResult",
    "IncrementalResult",
    "SignatureFile",
    "Verify",
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
