"""Signature files: ids + uint32 signatures in Parquet, with the parameters that make them comparable."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from curate.minhash.hashing import _U32
from curate.minhash.params import MinHashParams
from schemas.atomic import write_parquet_atomic


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
    write_parquet_atomic(path, df, metadata={_META_KEY: json.dumps(params.signature_fingerprint())})
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
