"""The work store: where flow tasks keep their outputs, and the small manifests they pass around.

Each task writes under ``<work_dir>/<step>/<key>/`` (Parquet frames, a
``.npy`` of signatures) and last, atomically, ``output.json``: the
:class:`StepOutput` it returns. Manifests carry paths relative to the work
dir, content hashes and counts, never frames, so they are cheap to pass
between tasks, to persist as Prefect results and to show in the UI.

A key's directory is complete when ``output.json`` exists and every file it
lists is there with its size; a task whose directory is complete returns it
without recomputing (a killed flow resumes from disk even where Prefect kept
no cache record).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import polars as pl
from pydantic import BaseModel, Field

from curate.step import StepReport, StepResult
from schemas.atomic import atomic_write, write_bytes_atomic, write_parquet_atomic
from schemas.hashing import file_sha256


class Part(BaseModel):
    """One file in the work store."""

    path: str = Field(description="Relative to the work dir.")
    sha256: str
    bytes: int
    rows: int | None = None


class StepOutput(BaseModel):
    """What one task produced: kept shards, reject rows, its report and small notes."""

    step: str
    key: str
    shard: int | None = Field(None, description="Shard index for a shard-parallel task; None for a global one.")
    kept: list[Part] = Field(default_factory=list)
    rejects: Part | None = None
    files: dict[str, Part] = Field(default_factory=dict, description="Other outputs, e.g. signatures.")
    report: dict[str, Any] | None = Field(None, description="StepReport.to_dict(), when the task is a step.")
    extra: dict[str, Any] = Field(default_factory=dict)
    seconds: float = 0.0

    def step_report(self) -> StepReport:
        return StepReport.from_dict(self.report or {"step": self.step, "n_in": 0, "n_kept": 0, "n_rejected": 0,
                                                     "reasons": {}, "stats": {}})


def key_dir(work_dir: str | Path, step: str, key: str) -> Path:
    return Path(work_dir) / step / key


def _part(work_dir: Path, path: Path, rows: int | None) -> Part:
    return Part(path=str(path.relative_to(work_dir)), sha256=file_sha256(path), bytes=path.stat().st_size, rows=rows)


def write_frame(work_dir: str | Path, rel: Path | str, frame: pl.DataFrame) -> Part:
    work = Path(work_dir)
    p = work / rel
    write_parquet_atomic(p, frame)
    return _part(work, p, frame.height)


def write_array(work_dir: str | Path, rel: Path | str, array) -> Part:
    import numpy as np

    work = Path(work_dir)
    p = work / rel

    atomic_write(p, lambda f: np.save(f, array, allow_pickle=False))
    return _part(work, p, int(array.shape[0]))


def read_frame(work_dir: str | Path, part: Part) -> pl.DataFrame:
    return pl.read_parquet(Path(work_dir) / part.path)


def read_array(work_dir: str | Path, part: Part):
    import numpy as np

    return np.load(Path(work_dir) / part.path, allow_pickle=False)


def save_output(work_dir: str | Path, out: StepOutput) -> StepOutput:
    d = key_dir(work_dir, out.step, out.key)
    data = out.model_dump_json(indent=1).encode()
    write_bytes_atomic(d / "output.json", data)
    return out


def load_output(work_dir: str | Path, step: str, key: str) -> StepOutput | None:
    """The finished output of ``key``, or None when it is missing or incomplete."""
    p = key_dir(work_dir, step, key) / "output.json"
    try:
        out = StepOutput.model_validate_json(p.read_bytes())
    except (OSError, ValueError):
        return None
    work = Path(work_dir)
    for part in [*out.kept, *([out.rejects] if out.rejects else []), *out.files.values()]:
        f = work / part.path
        if not f.is_file() or f.stat().st_size != part.bytes:
            return None
    return out


def complete(work_dir: str | Path, step: str, key: str) -> bool:
    return load_output(work_dir, step, key) is not None


def write_result(work_dir: str | Path, step: str, key: str, result: StepResult, shards: list[pl.DataFrame],
                 shard: int | None, seconds: float, files: dict[str, Part] | None = None) -> StepOutput:
    """Write a step's kept shards and rejects, then its ``output.json``."""
    d = Path(step) / key
    kept = [write_frame(work_dir, d / f"kept-{i:04d}.parquet", f) for i, f in enumerate(shards)]
    rejects = write_frame(work_dir, d / "rejects.parquet", result.rejects)
    extra = json.loads(json.dumps(result.extra, default=str))
    out = StepOutput(step=step, key=key, shard=shard, kept=kept, rejects=rejects, files=files or {},
                     report=result.report.to_dict(), extra=extra, seconds=round(seconds, 4))
    return save_output(work_dir, out)


def load_kept(work_dir: str | Path, outs: list[StepOutput]) -> list[pl.DataFrame]:
    return [read_frame(work_dir, p) for o in outs for p in o.kept]


def load_result(work_dir: str | Path, out: StepOutput) -> StepResult:
    """A step's rejects, report and notes (not its kept frame)."""
    rejects = read_frame(work_dir, out.rejects) if out.rejects else pl.DataFrame()
    return StepResult(pl.DataFrame(), rejects, out.step_report(), dict(out.extra))


def merge_reports(reports: list[dict[str, Any] | None]) -> dict[str, Any]:
    """Shard reports (``StepReport.to_dict()``) added up into one."""
    import functools
    import operator

    rs = [StepReport.from_dict(r) for r in reports if r]
    return functools.reduce(operator.add, rs).to_dict()


def output_digest(out: StepOutput) -> str:
    """What a task produced, as one hash: its files' sha256, report and notes (not its key or timing)."""
    parts = [p.sha256 for p in out.kept] + ([out.rejects.sha256] if out.rejects else [])
    parts += [f"{k}:{p.sha256}" for k, p in sorted(out.files.items())]
    body = json.dumps({"parts": parts, "report": out.report, "extra": out.extra}, sort_keys=True, default=str)
    return hashlib.sha256(body.encode()).hexdigest()
