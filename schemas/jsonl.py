"""Reading and writing JSONL robustly: gzip, BOM, blank lines, bad bytes, huge lines.

The reader never raises on bad content: each line becomes either a parsed
object or a :class:`LineProblem` with a reason code and a message that says how
to fix it. Only an unreadable file (missing, a directory) raises ``OSError``.
"""
from __future__ import annotations

import gzip
import io
import os
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

import orjson

from schemas.atomic import atomic_write, write_bytes_atomic  # noqa: F401  (write_bytes_atomic: re-exported)

GZIP_MAGIC = b"\x1f\x8b"
BOM = b"\xef\xbb\xbf"
# Longest first: UTF-32-LE's BOM starts with UTF-16-LE's.
WIDE_BOMS = ((b"\xff\xfe\x00\x00", "utf-32-le"), (b"\x00\x00\xfe\xff", "utf-32-be"),
             (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))
READ_ERRORS = (OSError, EOFError, gzip.BadGzipFile, UnicodeDecodeError)
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
    encoding: str = "utf-8"


class _Utf8Recoder(io.RawIOBase):
    """A UTF-16/32 text stream re-encoded as UTF-8 bytes, read lazily (huge files stay streamed)."""

    def __init__(self, raw: io.BufferedIOBase, encoding: str):
        raw.read(4 if "32" in encoding else 2)  # the BOM
        self._text = io.TextIOWrapper(raw, encoding=encoding, errors="strict", newline="")
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        while not self._pending:
            chunk = self._text.read(1 << 16)
            if not chunk:
                return 0
            self._pending = chunk.encode("utf-8")
        n = min(len(buf), len(self._pending))
        buf[:n], self._pending = self._pending[:n], self._pending[n:]
        return n

    def close(self) -> None:
        self._text.close()
        super().close()


def wide_encoding(head: bytes) -> str | None:
    """The UTF-16/32 encoding a byte-order mark at the start of ``head`` announces, or None."""
    return next((enc for bom, enc in WIDE_BOMS if head.startswith(bom)), None)


def open_binary(path: str | os.PathLike, stats: ReadStats | None = None) -> io.BufferedIOBase:
    """Open a file for binary reading as UTF-8 bytes: gzip is un-gzipped by magic bytes and
    UTF-16/32 with a byte-order mark is decoded (the BOM tells the encoding, so nothing is guessed)."""
    with open(path, "rb") as probe:
        magic = probe.read(2)
    f: io.BufferedIOBase = gzip.open(path, "rb") if magic == GZIP_MAGIC else open(path, "rb")  # type: ignore
    try:
        enc = wide_encoding(f.peek(4)[:4])  # type: ignore[attr-defined]
    except READ_ERRORS:
        enc = None  # a broken gzip header surfaces on the first read, where callers report it
    if stats is not None:
        stats.gzip = magic == GZIP_MAGIC
        stats.encoding = enc or "utf-8"
    if enc is None:
        return f
    return io.BufferedReader(_Utf8Recoder(f, enc), 1 << 16)  # type: ignore[return-value]


def iter_jsonl(path: str | os.PathLike, stats: ReadStats | None = None,
               max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> Iterator[tuple[int, Any | None, LineProblem | None]]:
    """Yield ``(line_no, obj, None)`` for each parsed line or ``(line_no, None, problem)``.

    Blank lines are counted in ``stats`` and skipped. A file that is one JSON
    array yields a single file-level problem (line 0) and nothing else.
    """
    stats = stats if stats is not None else ReadStats()
    f = open_binary(path, stats)
    try:
        yield from _iter_lines(f, stats, max_record_bytes)
    except READ_ERRORS as e:
        yield 0, None, LineProblem(0, "unreadable", "file", read_error_message(e))
    finally:
        f.close()


def read_error_message(e: BaseException) -> str:
    """What went wrong reading a file, and how to fix it, without a traceback."""
    if isinstance(e, UnicodeDecodeError):
        return (f"not valid {e.encoding.upper()} at byte {e.start} of the decoded stream although its byte-order mark "
                "says so; re-encode the file, e.g. iconv -f utf-16 -t utf-8")
    if isinstance(e, (EOFError, gzip.BadGzipFile)):
        return (f"gzip stream is damaged or cut off ({e or type(e).__name__}); the file is incomplete: "
                "re-download or re-compress it (gzip -t FILE checks it)")
    if isinstance(e, PermissionError):
        return "permission denied; make it readable (chmod u+r) or leave it out"
    return f"cannot read ({type(e).__name__}: {e.strerror if isinstance(e, OSError) and e.strerror else e})"


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
    if body.count(b"\x00") * 4 > len(body):
        return LineProblem(lineno, "not_utf8", "record",
                           "NUL bytes: looks like UTF-16/32 without a byte-order mark; re-encode the file, "
                           "e.g. iconv -f utf-16le -t utf-8")
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


def write_jsonl_atomic(path: str | os.PathLike, rows: Iterable[Any]) -> int:
    """Write rows to ``path`` via a temp file + rename; return the row count."""
    count = [0]

    def write(out) -> None:
        for row in rows:
            out.write(dumps(row))
            count[0] += 1

    atomic_write(path, write)
    return count[0]
