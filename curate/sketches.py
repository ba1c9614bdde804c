"""Run-scoped store of MinHash signatures and word n-gram tables.

Near-dedup, the split's relatedness graph, mix, decontamination, the leak checks and the corpus
index all need the signatures (and the n-gram tables) of mostly the same texts. Inside
:func:`run_scope` (``curate run`` opens one per run) each text's signature is computed once per
MinHash fingerprint and its n-gram hashes once per ``n``; every later request is a lookup.
Keys are the text's xxh3-128 digest, so a text that changed between steps (PII scrubbing, an
exported system prompt) is simply a new key. ``computed`` counts what was actually hashed.

Outside a run scope, :func:`sketches` returns a fresh store: nothing is kept between calls.
"""
from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator, Sequence
from contextvars import ContextVar

import numpy as np
import polars as pl
import xxhash

_CURRENT: ContextVar[SketchStore | None] = ContextVar("curate_sketches", default=None)


def _digest(text: str) -> bytes:
    return xxhash.xxh3_128_digest(text.encode("utf-8", "surrogatepass"))


class _Rows:
    """Rows of one kind of sketch (signature rows, or n-gram hash runs), addressed by text digest."""

    def __init__(self) -> None:
        self.at: dict[bytes, int] = {}
        self.blocks: list[np.ndarray] = []
        self.size = 0

    def missing(self, keys: list[bytes]) -> list[int]:
        """Indexes of the first occurrence of each key not stored yet."""
        seen: set[bytes] = set()
        out = []
        for i, k in enumerate(keys):
            if k not in self.at and k not in seen:
                seen.add(k)
                out.append(i)
        return out

    def merged(self) -> np.ndarray:
        if len(self.blocks) > 1:
            self.blocks = [np.concatenate(self.blocks)]
        return self.blocks[0]


class SketchStore:
    """Signatures and n-gram tables of the texts seen in one run (see the module docstring)."""

    def __init__(self) -> None:
        self._sigs: dict[tuple, _Rows] = {}
        self._ngrams: dict[int, tuple[_Rows, list[tuple[int, int]]]] = {}
        self.computed: Counter = Counter()  # "signatures" / "ngram_tables": texts actually hashed
        self.requested: Counter = Counter()  # ... and texts asked for (hits included)

    def signatures(self, texts: Sequence[str], params, workers: int = 1) -> np.ndarray:
        """``curate.minhash.signatures(texts, params)``, each distinct text hashed once per run."""
        from curate import minhash

        if not len(texts):
            return np.zeros((0, params.num_perm), dtype=np.uint32)
        rows = self._sigs.setdefault(tuple(sorted(params.signature_fingerprint().items())), _Rows())
        keys = [_digest(t) for t in texts]
        self.requested["signatures"] += len(keys)
        new = rows.missing(keys)
        if new:
            sigs = minhash.signatures([texts[i] for i in new], params, workers=workers)
            for r, i in enumerate(new):
                rows.at[keys[i]] = rows.size + r
            rows.blocks.append(sigs)
            rows.size += len(new)
            self.computed["signatures"] += len(new)
        return rows.merged()[np.fromiter((rows.at[k] for k in keys), dtype=np.int64, count=len(keys))]

    def ngram_table(self, texts: Sequence[str], n: int) -> pl.DataFrame:
        """``curate.ngrams.ngram_table(texts, n)``: unique ``(doc, h)`` rows, each distinct text tabled once."""
        from curate.ngrams import ngram_table

        rows, spans = self._ngrams.setdefault(n, (_Rows(), []))
        keys = [_digest(t) for t in texts]
        self.requested["ngram_tables"] += len(keys)
        new = rows.missing(keys)
        if new:
            table = ngram_table([texts[i] for i in new], n)
            doc, h = table["doc"].to_numpy(), table["h"].to_numpy()
            bounds = np.searchsorted(doc, np.arange(len(new) + 1))  # docs come in order
            for r, i in enumerate(new):
                rows.at[keys[i]] = len(spans)
                spans.append((rows.size + int(bounds[r]), rows.size + int(bounds[r + 1])))
            rows.blocks.append(h.astype(np.uint64, copy=False))
            rows.size += len(h)
            self.computed["ngram_tables"] += len(new)
        if not keys or not rows.size:
            return pl.DataFrame(schema={"doc": pl.Int64, "h": pl.UInt64})
        flat = rows.merged()
        parts = [spans[rows.at[k]] for k in keys]
        lens = np.fromiter((b - a for a, b in parts), dtype=np.int64, count=len(parts))
        h = np.concatenate([flat[a:b] for a, b in parts]) if len(parts) else np.zeros(0, np.uint64)
        doc = np.repeat(np.arange(len(keys), dtype=np.int64), lens)
        return pl.DataFrame({"doc": doc, "h": h}, schema={"doc": pl.Int64, "h": pl.UInt64})


def sketches() -> SketchStore:
    """The current run's store, or a fresh one (nothing kept) outside :func:`run_scope`."""
    return _CURRENT.get() or SketchStore()


@contextlib.contextmanager
def run_scope() -> Iterator[SketchStore]:
    """Keep signatures and n-gram tables for the duration of one run (inside another scope: that one's)."""
    if (outer := _CURRENT.get()) is not None:
        yield outer
        return
    store = SketchStore()
    token = _CURRENT.set(store)
    try:
        yield store
    finally:
        _CURRENT.reset(token)
