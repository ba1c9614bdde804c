"""`curate run`: the chain of steps with content-hash caching, resume, and the run directory.

Each step's key is a hash of the previous key, the step's name and config and
the package version; the first key hashes the input files' contents. A step
is finished when its ``report.json`` (written last, atomically) carries its
key. A re-run (or a run resumed after kill -9) loads the newest finished step
and continues from there, so outputs come out byte-identical.
"""
from __future__ import annotations

import hashlib
import json
import platform
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import polars as pl

from schemas.hashing import file_sha256
from curate.step import StepReport, StepResult, checked
from schemas.jsonl import write_bytes_atomic
from schemas.manifest import FileEntry, Manifest

CACHE_DIR = ".steps"


def tool_version() -> str:
    try:
        return metadata.version("curatekit")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0.0.0+source"


def _versions(extra: list[str]) -> dict[str, str]:
    out = {"python": platform.python_version(), "curatekit": tool_version()}
    for pkg in ["polars", "pydantic", "datasketch", "numpy", "xxhash", *extra]:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def _h(*parts: str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode())
        h.update(b"\x00")
    return h.hexdigest()


@dataclass
class Step:
    name: str
    config: Any
    fn: Callable[[pl.DataFrame], StepResult]
    adds_records: bool = False  # a source of records (ingest, mix): its n_in counts what it brought in


def run_checked(step: Step, frame: pl.DataFrame) -> StepResult:
    """Run ``step`` on ``frame`` and check conservation (``n_in == kept + rejected``); a source step
    (ingest, mix) must report at least what it was given. Every runner (run, shards, flows) calls this."""
    result = step.fn(frame)
    if step.adds_records and result.report.n_in < frame.height:
        raise AssertionError(f"step {step.name} reports fewer inputs than it was given")
    return checked(result, result.report.n_in if step.adds_records else frame.height)


@dataclass
class RunResult:
    out_dir: Path
    manifest: Manifest
    reports: list[StepReport]
    reused: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _cfg_json(cfg: Any) -> str:
    if hasattr(cfg, "model_dump_json"):
        return cfg.model_dump_json()
    return json.dumps(cfg, sort_keys=True, default=str)


class StepCache:
    def __init__(self, out_dir: Path):
        self.root = out_dir / CACHE_DIR

    def dir(self, idx: int, name: str) -> Path:
        return self.root / f"{idx:02d}_{name}"

    def finished(self, idx: int, name: str, key: str) -> StepReport | None:
        p = self.dir(idx, name) / "report.json"
        if not p.is_file():
            return None
        try:
            d = json.loads(p.read_text())
        except (OSError, ValueError):
            return None
        return StepReport.from_dict(d["report"]) if d.get("key") == key else None

    def has_kept(self, idx: int, name: str) -> bool:
        return (self.dir(idx, name) / "kept.parquet").is_file()

    def save(self, idx: int, name: str, key: str, result: StepResult, extra: dict | None = None) -> None:
        d = self.dir(idx, name)
        d.mkdir(parents=True, exist_ok=True)
        (d / "report.json").unlink(missing_ok=True)  # not finished until the marker is rewritten
        for fname, frame in (("kept.parquet", result.kept), ("rejects.parquet", result.rejects)):
            tmp = d / f".{fname}.tmp"
            try:
                frame.write_parquet(tmp)
            except Exception as e:  # disk full arrives as a polars error: remove the partial file
                tmp.unlink(missing_ok=True)
                from curate.rundir import as_os_error

                err = as_os_error(e, tmp)
                if err is None or err is e:
                    raise
                raise err from e
            tmp.replace(d / fname)
        marker = {"key": key, "report": result.report.to_dict(), "extra": extra or {}}
        write_bytes_atomic(d / "report.json", json.dumps(marker, sort_keys=True).encode())

    def load_kept(self, idx: int, name: str) -> pl.DataFrame:
        return pl.read_parquet(self.dir(idx, name) / "kept.parquet")

    def load_rejects(self, idx: int, name: str) -> pl.DataFrame:
        return pl.read_parquet(self.dir(idx, name) / "rejects.parquet")

    def extra(self, idx: int, name: str) -> dict:
        return json.loads((self.dir(idx, name) / "report.json").read_text()).get("extra", {})


def run_steps(steps: list[Step], root_key: str, first_input: Callable[[], pl.DataFrame], cache: StepCache,
              on_step: Callable[[str, str], None] | None = None,
              keep_intermediates: bool = False) -> tuple[pl.DataFrame, list[StepResult], list[str], dict]:
    """Run steps in order, reusing every finished step whose key matches. Unless asked to keep
    intermediates, a step's kept frame is deleted once the next one is saved (resuming needs only
    the newest, and earlier ones may hold unscrubbed text)."""
    keys, k = [], root_key
    for s in steps:
        k = _h(k, s.name, _cfg_json(s.config), tool_version())
        keys.append(k)
    reports = [cache.finished(i, s.name, keys[i]) for i, s in enumerate(steps)]
    # Newest step with its kept frame such that every step up to it is finished.
    resume_at = -1
    for i in range(len(steps)):
        if reports[i] is None:
            break
        if cache.has_kept(i, steps[i].name):
            resume_at = i
    frame = cache.load_kept(resume_at, steps[resume_at].name) if resume_at >= 0 else None
    results: list[StepResult] = []
    reused: list[str] = []
    timings: dict[str, float] = {}
    for i, s in enumerate(steps):
        if i <= resume_at:
            results.append(StepResult(pl.DataFrame(), cache.load_rejects(i, s.name), reports[i],
                                      cache.extra(i, s.name)))
            reused.append(s.name)
            if on_step:
                on_step(s.name, "reused")
            continue
        if frame is None:
            frame = first_input()
        if on_step:
            on_step(s.name, "running")
        t0 = time.perf_counter()
        result = run_checked(s, frame)
        timings[s.name] = time.perf_counter() - t0
        cache.save(i, s.name, keys[i], result, result.extra)
        if not keep_intermediates and i > 0:
            (cache.dir(i - 1, steps[i - 1].name) / "kept.parquet").unlink(missing_ok=True)
        _fault_pause(s.name)
        results.append(result)
        frame = result.kept
    return frame, results, reused, timings


def _fault_pause(step: str) -> None:
    """Fault injection for the resume test: stall after a step so it can be killed there."""
    import os

    if os.environ.get("CURATEKIT_PAUSE_AFTER_STEP") == step:
        time.sleep(float(os.environ.get("CURATEKIT_PAUSE_SECONDS", "60")))


def drop_raw_intermediates(cache: StepCache, steps: list[Step]) -> list[str]:
    """Delete kept frames of every step except the last (also those of steps another config ran):
    they may hold unscrubbed PII, and resuming needs only the newest one. Returns what was removed."""
    last = cache.dir(len(steps) - 1, steps[-1].name) / "kept.parquet"
    removed = []
    for f in sorted(cache.root.glob("*/kept.parquet")) if cache.root.is_dir() else []:
        if f != last:
            f.unlink(missing_ok=True)
            removed.append(str(f))
    return removed


def input_entries(files: list[Path]) -> list[FileEntry]:
    return [FileEntry(path=str(f), sha256=file_sha256(f), bytes=f.stat().st_size) for f in files]
