"""MinHash parameters: shingle size, permutations, LSH bands/rows, the hashing scheme's name."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import numpy as np


#: Identifies the shingle hashing + permutation scheme; stored in signature
#: files so that signatures made by an incompatible scheme are refused.
SCHEME = "curate-minhash-v1:words-lower-split:packed16-fmix64/xxh3:affine32"

Verify = Literal["none", "signature", "exact"]


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
