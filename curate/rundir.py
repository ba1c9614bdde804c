"""The run directory as a shared resource: one run at a time, outputs swapped in as one set,
user files never overwritten, stale temp files and raw intermediates cleaned, OS errors as one line.

Layout of a run directory ``OUT``::

    OUT/.lock            held (flock) by the run writing OUT; says who holds it
    OUT/.steps/          per-step cache (resume); raw frames only while a run needs them
    OUT/.staging/        the next set of outputs, built completely before the swap
    OUT/.curatekit.json  which files curatekit wrote here (name -> sha256), so nothing else is overwritten
    OUT/train.chatml.jsonl ... rejects.jsonl, report.html, corpus/, manifest.json (written last)
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import shutil
import socket
import sys
import time
from pathlib import Path

from curate.console import UserError
from schemas.hashing import file_sha256

LOCK = ".lock"
STAGING = ".staging"
OWNED = ".curatekit.json"
MANIFEST = "manifest.json"
NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


class RunDirError(UserError):
    """The run directory cannot be used as asked (locked, inside an input, holds files we did not write)."""


def check_out_not_in_inputs(out: Path, inputs: list[str]) -> None:
    """Refuse an ``--out`` inside an input folder (the next run would ingest its own outputs) or an
    input inside ``--out`` (a swap could replace it)."""
    o = Path(os.path.realpath(out))
    for item in inputs:
        i = Path(os.path.realpath(item))
        if o == i or i in o.parents:
            raise RunDirError(f"--out {out} is inside the input {item}: a later run would read its own outputs; "
                              "put --out outside every input folder", 2)
        if o in i.parents:
            raise RunDirError(f"input {item} is inside --out {out}: the run directory is replaced as a whole; "
                              "move the input out of it", 2)


class RunLock:
    """An exclusive lock on a run directory (``flock`` on ``OUT/.lock``): released by the kernel when the
    holder exits, even after kill -9, so a stale lock never blocks a later run."""

    def __init__(self, out: Path):
        self.path = Path(out) / LOCK
        self.fd: int | None = None

    def __enter__(self) -> "RunLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise RunDirError(f"{self.path.parent} is in use by another run ({holder}); wait for it to finish "
                              "or choose another --out", 3) from None
        holder = (f"pid {os.getpid()} on {socket.gethostname()}, started "
                  f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime())}: {' '.join(redacted_argv())[:300]}")
        os.ftruncate(fd, 0)
        os.pwrite(fd, holder.encode() + b"\n", 0)
        self.fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.ftruncate(self.fd, 0)  # nobody holds it now; the file stays (removing it would race)
            os.close(self.fd)  # closing releases the flock
            self.fd = None


def redacted_argv() -> list[str]:
    from schemas.secrets import redact_argv

    return redact_argv(sys.argv)


def clean_stale(out: Path) -> list[str]:
    """Remove what a killed run left behind: temp files and the staging folder. Call with the lock held."""
    removed: list[str] = []
    if not out.is_dir():
        return removed
    staging = out / STAGING
    if staging.exists():
        shutil.rmtree(staging, ignore_errors=True)
        removed.append(str(staging))
    for d in [out, out / "corpus", *(p for p in (out / ".steps").glob("*") if p.is_dir())]:
        for f in d.glob(".*.tmp") if d.is_dir() else []:
            f.unlink(missing_ok=True)
            removed.append(str(f))
    return removed


def owned(out: Path) -> dict[str, list[str]]:
    """Files curatekit wrote into ``out``: name -> accepted sha256s. Without the record (a run directory
    from an older version), the manifest's own output hashes are trusted."""
    try:
        d = json.loads((out / OWNED).read_text())
        return {k: list(v) for k, v in d.get("files", {}).items()}
    except (OSError, ValueError):
        pass
    try:
        m = json.loads((out / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(m, dict) or "tool_version" not in m:
        return {}
    files = {o["path"]: [o["sha256"]] for o in m.get("outputs", []) if isinstance(o, dict) and "path" in o}
    for name in (MANIFEST, "report.html", "corpus/index.parquet", "corpus/signatures.parquet"):
        if (out / name).is_file():
            files[name] = [file_sha256(out / name)]
    return files


def foreign_files(out: Path, names: list[str]) -> list[str]:
    """Names in ``names`` that exist in ``out`` but that curatekit did not write (or that were changed since)."""
    mine = owned(out)
    bad = []
    for name in names:
        p = out / name
        if not os.path.lexists(p):
            continue
        if p.is_symlink() or not p.is_file() or file_sha256(p) not in mine.get(name, []):
            bad.append(name)
    return bad


def refuse_foreign(out: Path, names: list[str], force: bool) -> None:
    bad = foreign_files(out, names)
    if bad and not force:
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise RunDirError(f"{out / bad[0]}{more} was not written by curatekit (or was changed since); "
                          "move it away, choose another --out, or pass --force to overwrite", 2)


def output_names(formats: list[str]) -> list[str]:
    """Every file a run writes into its directory (before it knows the counts)."""
    return ([f"{s}.{f}.jsonl" for f in formats for s in ("train", "val", "test")] +
            ["rejects.jsonl", "report.html", "corpus/index.parquet", "corpus/signatures.parquet", MANIFEST])


def new_staging(out: Path) -> Path:
    staging = out / STAGING
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    return staging


def swap_in(staging: Path, out: Path, force: bool = False) -> list[str]:
    """Replace the outputs of the previous run in ``out`` by the complete set in ``staging``.

    The manifest goes first (removed) and last (put in): while it is absent the folder is
    visibly incomplete, and a re-run finishes the job; a present manifest always describes
    the files beside it. Files of the old set that the new one lacks are removed.
    """
    names = sorted(str(p.relative_to(staging)) for p in staging.rglob("*") if p.is_file())
    refuse_foreign(out, names, force)
    old = owned(out)
    new = {n: file_sha256(staging / n) for n in names}
    both = {n: sorted(set(old.get(n, [])) | {new[n]}) for n in new}
    both.update({n: v for n, v in old.items() if n not in new})
    _write_owned(out, both)  # a crash mid-swap leaves only files listed here
    (out / MANIFEST).unlink(missing_ok=True)
    for n in names:
        if n != MANIFEST:
            (out / n).parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / n, out / n)
    for n in old:
        if n not in new and (out / n).is_file() and file_sha256(out / n) in old[n]:
            (out / n).unlink()
    if MANIFEST in new:
        os.replace(staging / MANIFEST, out / MANIFEST)
    _write_owned(out, {n: [h] for n, h in new.items()})
    shutil.rmtree(staging, ignore_errors=True)
    return names


def _write_owned(out: Path, files: dict[str, list[str]]) -> None:
    from schemas.jsonl import write_bytes_atomic

    write_bytes_atomic(out / OWNED, json.dumps({"files": files}, sort_keys=True, indent=1).encode())


_OS_ERROR_IN_TEXT = re.compile(r"\(os error (\d+)\)")


def as_os_error(e: BaseException, path: Path | str | None = None) -> OSError | None:
    """The OSError behind ``e`` (polars reports disk errors as ComputeError with '(os error N)'), or None."""
    if isinstance(e, OSError):
        if e.filename is None and path is not None:
            e.filename = str(path)
        return e
    m = _OS_ERROR_IN_TEXT.search(str(e))
    if m:
        code = int(m.group(1))
        return OSError(code, os.strerror(code), str(path) if path is not None else None)
    return None


def describe_os_error(e: OSError, out: Path | None) -> str:
    """One line: what failed, where, and what to do."""
    where = e.filename or (str(out) if out else "?")
    again = "re-run the same command" + (": finished steps are reused" if out is not None else "")
    if e.errno in NO_SPACE:
        target = out if out is not None else Path(where).parent
        free = shutil.disk_usage(target if Path(target).exists() else ".").free
        need = _size_hint(out)
        return (f"no space left writing {where} ({e.strerror}; {free / 1e6:.0f} MB free on that disk); free at least "
                f"{need} there (df -h {target}) and {again}")
    if isinstance(e, PermissionError):
        return f"{where}: permission denied; fix its permissions (chmod) or choose another path"
    return f"{where}: {e.strerror or e}; fix it and {again}"


def _size_hint(out: Path | None) -> str:
    """About as much again as the run directory already holds (its cache grows by roughly that much)."""
    if out is None or not out.is_dir():
        return "a few hundred MB"
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    return f"{max(size * 2, 50e6) / 1e6:.0f} MB"
