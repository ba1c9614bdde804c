"""Reading and writing JSONL robustly: gzip, BOM, blank lines, bad bytes, huge lines.

The reader never raises on bad content: each line becomes either a parsed
object or a :class:`LineProblem` with a reason code and a message that says how
to fix it. Only an unreadable file (missing, a directory) raises ``OSError``.
"""
from __future__ import annotations

import gzip
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import orjson

GZIP_MAGIC = b"\x1f\x8b"
BOM = b"\xef\xbb\xbf"
DEFAULT_MAX_RECORD_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class LineProblem:
    """What is wrong with one line (or the whole file when ``line`` is 0)."""

    line: int
    reason: str
    field: str
    message: str

    def format(self, path: str) -> str:
        where = f"{path}:{self.line}" if self.line else path
        return f"{where}: {self.field or 'record'}: {self.message}"


@dataclass
class ReadStats:
    blank_lines: int = 0
    bom: bool = False
    gzip: bool = False


def open_binary(path: str | os.PathLike) -> io.BufferedIOBase:
    """Open a file for binary reading, transparently un-gzipping by magic bytes."""
    with open(path, "rb") as probe:
        magic = probe.read(2)
    if magic == GZIP_MAGIC:
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def iter_jsonl(path: str | os.PathLike, stats: ReadStats | None = None,
               max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> Iterator[tuple[int, Any | None, LineProblem | None]]:
    """Yield ``(line_no, obj, None)`` for each parsed line or ``(line_no, None, problem)``.

    Blank lines are counted in ``stats`` and skipped. A file that is one JSON
    array yields a single file-level problem (line 0) and nothing else.
    """
    stats = stats if stats is not None else ReadStats()
    f = open_binary(path)
    stats.gzip = isinstance(f, gzip.GzipFile)
    try:
        yield from _iter_lines(f, stats, max_record_bytes)
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        yield 0, None, LineProblem(0, "unreadable", "file", f"cannot read ({type(e).__name__}: {e}); "
                                   "check the file is complete and, if gzip, not truncated")
    finally:
        f.close()


def _iter_lines(f: io.BufferedIOBase, stats: ReadStats, max_bytes: int):
    lineno = 0
    while True:
        raw = f.readline(max_bytes + 1)
        if not raw:
            return
        lineno += 1
        if len(raw) > max_bytes and not raw.endswith(b"\n"):
            size = len(raw)
            while True:  # skip the rest of the oversized line without holding it
                chunk = f.readline(1 << 20)
                size += len(chunk)
                if not chunk or chunk.endswith(b"\n"):
                    break
            yield lineno, None, LineProblem(
                lineno, "too_large", "record",
                f"line is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB limit "
                "(raise --max-record-mb if such records are intended)")
            continue
        if lineno == 1 and raw.startswith(BOM):
            raw = raw[len(BOM):]
            stats.bom = True
        complete = raw.endswith(b"\n")
        body = raw.strip()
        if not body:
            stats.blank_lines += 1
            continue
        if lineno == 1 and body[:1] == b"[":
            yield 0, None, LineProblem(
                0, "json_array", "file",
                "file is a JSON array, not JSONL (one object per line); convert it with: jq -c '.[]' IN > OUT.jsonl")
            return
        try:
            obj = orjson.loads(body)
        except orjson.JSONDecodeError as e:
            yield lineno, None, _json_problem(lineno, body, complete, e)
            continue
        if not isinstance(obj, dict):
            yield lineno, None, LineProblem(lineno, "not_object", "record",
                                            f"expected a JSON object, got {type(obj).__name__}")
            continue
        yield lineno, obj, None


def _json_problem(lineno: int, body: bytes, complete: bool, e: Exception) -> LineProblem:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as u:
        return LineProblem(lineno, "not_utf8", "record",
                           f"not valid UTF-8 (byte 0x{body[u.start]:02x} at column {u.start + 1}); "
                           "re-encode the file, e.g. iconv -f latin1 -t utf-8")
    if not complete:
        return LineProblem(lineno, "truncated", "record",
                           "last line is cut off (no closing brace or newline); the file was probably truncated")
    if body in (b"{", b"[") or body.endswith((b",", b"{")):
        return LineProblem(lineno, "invalid_json", "record",
                           "record spans several lines (pretty-printed JSON?); write one object per line, e.g. jq -c .")
    msg = str(e).split(": line ")[0]
    return LineProblem(lineno, "invalid_json", "record", f"invalid JSON ({msg}); fix or remove the line")


def dumps(obj: Any) -> bytes:
    """One JSONL line (with newline), UTF-8, non-ASCII kept, keys in insertion order."""
    return orjson.dumps(obj) + b"\n"


def _umask_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _atomic_write(path: str | os.PathLike, write) -> None:
    """Call ``write(binary_file)`` on a temp file beside ``path``, fsync, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, _umask_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_jsonl_atomic(path: str | os.PathLike, rows: Iterable[Any]) -> int:
    """Write rows to ``path`` via a temp file + rename; return the row count."""
    count = [0]

    def write(out) -> None:
        for row in rows:
            out.write(dumps(row))
            count[0] += 1

    _atomic_write(path, write)
    return count[0]


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    _atomic_write(path, lambda out: out.write(data))
