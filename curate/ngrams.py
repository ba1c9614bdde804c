"""Word n-gram tables: every hashed word n-gram of every text, for the relatedness graph's shared-span
edges and for decontamination."""
from __future__ import annotations

import numpy as np
import polars as pl

_MIX = None


def _mix_constants(n: int) -> np.ndarray:
    global _MIX
    if _MIX is None or len(_MIX) < n:
        rng = np.random.default_rng(0x5EED)
        _MIX = rng.integers(1, 2**63, size=max(n, 64), dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    return _MIX[:n]


def ngram_table(texts: list[str], n: int) -> pl.DataFrame:
    """Unique ``(doc, h)`` pairs: every word n-gram (lower-cased ``\\w+`` words) of every text, hashed.

    Vectorised: words are hashed once by polars, n-gram hashes are a weighted
    sum of word hashes (wrapping uint64), windows never cross documents.
    """
    words = pl.Series("t", texts, dtype=pl.String).str.to_lowercase().str.extract_all(r"\w+")
    lens = words.list.len().fill_null(0).to_numpy().astype(np.int64)
    flat = words.explode().drop_nulls()
    if len(flat) == 0:
        return pl.DataFrame(schema={"doc": pl.Int64, "h": pl.UInt64})
    wh = flat.hash(seed=7).to_numpy()
    total = len(wh)
    padded = np.concatenate([wh, np.zeros(n, dtype=np.uint64)])
    h = np.zeros(total, dtype=np.uint64)
    for k, c in enumerate(_mix_constants(n)):
        h += padded[k:k + total] * c
    doc = np.repeat(np.arange(len(texts), dtype=np.int64), lens)
    starts = np.repeat(np.cumsum(lens) - lens, lens)
    valid = (np.arange(total) - starts) <= np.repeat(lens, lens) - n
    return pl.DataFrame({"doc": doc[valid], "h": h[valid]}).unique(maintain_order=True)
