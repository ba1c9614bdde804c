"""Ingest raw material into canonical records: text transcripts, JSONL (any format, gzip), CSV turns.

Every unit of input ends as a record or a reject row with a reason; nothing
is skipped silently. Records keep their source file and line.
"""
from __future__ import annotations

import csv
import errno
import gzip
import io
import os
import re
import stat
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from curate.config import IngestConfig
from curate.frame import empty_frame, records_to_frame
from curate.metadata import FIELDS, carry_fields
from curate.step import REJECT_SCHEMA, StepReport, StepResult, checked
from schemas.convert import to_record
from schemas.jsonl import READ_ERRORS, open_binary, read_error_message
from schemas.messages import Message, turn_order_problem
from schemas.record import Record
from schemas.validate import validate_file

TEXT_SUFFIXES = (".txt",)
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".ndjson")
CSV_SUFFIXES = (".csv", ".csv.gz")
TS = r"(?:\[\s*\d{1,2}:\d{2}(?::\d{2})?\s*(?:[AaPp][Mm])?\s*\]\s*|\d{1,2}:\d{2}(?::\d{2})?\s+)"
SPEAKER_LINE = re.compile(rf"^\s*{TS}?(?P<label>[A-Za-z][A-Za-z.'_-]*(?: [A-Za-z][A-Za-z.'_-]*)?)\s*:(?:\s+(?P<text>.*))?$")
HEADER_LINE = re.compile(r"^\s*#\s*(?P<body>.*)$")
HEADER_KEY = re.compile(r"(?<!\S)([A-Za-z_][\w-]*)\s*(?:=|:(?!//))\s*")  # `key:` / `key=`, not `http://`


EMPTY_NOTE = "no records (the file is empty or holds only blank lines)"


class IngestError(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason, self.detail = reason, detail


@dataclass
class Ingested:
    records: list[Record] = field(default_factory=list)
    rejects: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    stats: Counter = field(default_factory=Counter)

    def reject(self, rid: str, reason: str, detail: str, source: str, line: int | None) -> None:
        self.rejects.append({"id": rid, "step": "ingest", "reason": reason, "detail": detail[:500],
                             "source": source, "line": line})


def discover(inputs: list[str]) -> tuple[list[Path], list[str]]:
    """Expand directories into input files (sorted); return files and notes on ignored ones.

    Symlinked folders are followed, each real folder once (a loop is named, not followed).
    An unreadable file or folder is an error: its records would be lost without a trace.
    """
    files: list[Path] = []
    notes: list[str] = []
    unreadable: list[str] = []
    suffixes = TEXT_SUFFIXES + JSONL_SUFFIXES + CSV_SUFFIXES
    seen_files: set[tuple[int, int]] = set()

    def add(f: Path) -> None:
        try:
            st = f.stat()
            if not stat.S_ISREG(st.st_mode):
                unreadable.append(f"{f} (not a regular file)")
                return
            with open(f, "rb"):
                pass
        except OSError as e:
            why = e.strerror or type(e).__name__
            if f.is_symlink() and e.errno in (errno.ENOENT, errno.ELOOP):
                why = "symlink loop" if e.errno == errno.ELOOP else "broken symlink"
            unreadable.append(f"{f} ({why})")
            return
        if (st.st_dev, st.st_ino) in seen_files:
            notes.append(f"{f}: same file as one already read (through a symlink); read once")
            return
        seen_files.add((st.st_dev, st.st_ino))
        files.append(f)

    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = len(files)
            candidates, ignored = _walk(p, suffixes, notes, unreadable)
            for f in sorted(candidates):
                add(f)
            if len(files) == found and not unreadable:
                what = f" ({ignored} other file(s) ignored)" if ignored else " (the folder is empty)"
                raise IngestError("ingest.no_input_files",
                                  f"{p}: no .txt, .jsonl[.gz] or .csv[.gz] file found{what}; point at the data files")
        elif os.path.lexists(p):
            if not any(p.name.endswith(s) for s in suffixes):
                raise IngestError("ingest.unknown_file_type",
                                  f"{p}: unknown input type; use .txt transcripts, .jsonl[.gz] or .csv")
            add(p)
        else:
            raise IngestError("ingest.missing", f"{p}: no such file or directory")
    if unreadable:
        more = f" and {len(unreadable) - 1} more" if len(unreadable) > 1 else ""
        raise IngestError("ingest.unreadable",
                          f"cannot read {unreadable[0]}{more}; make it readable (chmod -R u+rX) or leave it "
                          "out of the inputs, so no records are lost silently")
    return files, notes


def _walk(root: Path, suffixes: tuple[str, ...], notes: list[str], unreadable: list[str]) -> tuple[list[Path], int]:
    """Walk ``root`` following symlinks, each real folder once; return the input files and how many
    other files were ignored."""
    ignored = 0
    found: list[Path] = []
    visited: set[str] = set()

    def on_error(e: OSError) -> None:
        unreadable.append(f"{e.filename} ({e.strerror or type(e).__name__})")

    for dirpath, dirnames, filenames in os.walk(root, onerror=on_error, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in visited:
            parent = os.path.realpath(os.path.dirname(dirpath))
            loop = parent == real or parent.startswith(real.rstrip(os.sep) + os.sep)
            notes.append(f"{dirpath}: symlink loop (back to {real}), not followed" if loop else
                         f"{dirpath}: symlink to {real}, a folder already read; not read twice")
            dirnames[:] = []
            continue
        visited.add(real)
        dirnames.sort()
        for name in sorted(filenames):
            f = Path(dirpath) / name
            if any(name.endswith(s) for s in suffixes):
                found.append(f)
            elif f.is_symlink() and not f.exists():
                notes.append(f"{f}: broken symlink or symlink loop, ignored")
            elif not name.startswith("."):
                notes.append(f"{f}: ignored (not .txt, .jsonl[.gz] or .csv)")
                ignored += 1
    return found, ignored


def _role_of(label: str, cfg: IngestConfig) -> str | None:
    return cfg.speakers.get(label.strip().lower())


def _turns_to_messages(turns: list[tuple[str, str]], cfg: IngestConfig, meta: dict) -> list[Message]:
    """Merge consecutive same-role turns and apply the leading-assistant policy."""
    merged: list[list[str]] = []
    for role, text in turns:
        if merged and merged[-1][0] == role:
            merged[-1][1] += "\n" + text
            meta["merged_turns"] = meta.get("merged_turns", 0) + 1
        else:
            merged.append([role, text])
    start = 1 if merged and merged[0][0] == "system" else 0
    lead = 0
    while start + lead < len(merged) and merged[start + lead][0] == "assistant":
        lead += 1
    if lead:
        if cfg.leading_assistant == "reject":
            raise IngestError("ingest.starts_with_agent", "conversation starts with an agent turn")
        lead_turns = merged[start:start + lead]
        del merged[start:start + lead]
        if cfg.leading_assistant == "keep_as_system" and start == 0:
            merged.insert(0, ["system", "\n".join(t for _, t in lead_turns)])
        meta["dropped_leading_agent_turns"] = lead
    msgs = []
    for role, text in merged:
        text = text.strip()
        if text:
            msgs.append(Message(role=role, content=text))
    return msgs


def _finish(ing: Ingested, cfg: IngestConfig, turns, meta, rid, group, source, line) -> None:
    if not turns:
        ing.reject(rid, "ingest.no_speaker_labels", "no 'Speaker: text' lines found", source, line)
        return
    try:
        msgs = _turns_to_messages(turns, cfg, meta)
    except IngestError as e:
        ing.reject(rid, e.reason, e.detail, source, line)
        return
    if not msgs:
        ing.reject(rid, "ingest.empty_conversation", "all turns are empty", source, line)
        return
    problem = turn_order_problem([m.role for m in msgs])
    if problem:
        ing.reject(rid, f"ingest.{problem[0]}", problem[1], source, line)
        return
    ing.records.append(Record(id=rid, source=source, line=line, group=group, messages=msgs, meta=meta))


def _parse_header(body: str) -> dict[str, str]:
    """`# key: value  key2: two words`: a value runs to the next key (``channel: web chat``)."""
    keys = list(HEADER_KEY.finditer(body))
    out: dict[str, str] = {}
    for m, nxt in zip(keys, keys[1:] + [None]):
        value = body[m.end():nxt.start() if nxt else len(body)].strip()
        if value:
            out[m.group(1).lower()] = value
    return out


def _read_text(path: Path, ing: Ingested) -> str | None:
    """The whole file as text (gzip and UTF-16/32 with a BOM handled), or None after one reject row
    naming the byte where reading failed."""
    source = str(path)
    chunks: list[bytes] = []
    try:
        with open_binary(path) as f:
            while chunk := f.read(1 << 16):
                chunks.append(chunk)
    except READ_ERRORS as e:
        reason = "ingest.truncated_gzip" if isinstance(e, (EOFError, gzip.BadGzipFile)) else "ingest.unreadable"
        where = (f"byte {path.stat().st_size} (end of file)" if reason == "ingest.truncated_gzip" else "") + \
            (f", after {sum(map(len, chunks))} bytes of text" if chunks else "")
        where = f"{where.lstrip(', ')}: " if where else ""
        ing.reject(f"{source}:0", reason, where + read_error_message(e), source, None)
        return None
    data = b"".join(chunks)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        hint = ("NUL bytes: looks like UTF-16/32 without a byte-order mark; iconv -f utf-16le -t utf-8"
                if data[:200].count(b"\x00") * 4 > len(data[:200]) else "re-encode the file, e.g. iconv -f latin1 -t utf-8")
        ing.reject(f"{source}:0", "ingest.not_utf8", f"byte {e.start}: not UTF-8; {hint}", source, None)
        return None


def ingest_text(path: Path, cfg: IngestConfig, ing: Ingested) -> None:
    """Plain-text transcripts: `Speaker: text` lines, optional [hh:mm] stamps, continuation
    lines, `# key: value` headers, several conversations split by delimiter lines."""
    source = str(path)
    text = _read_text(path, ing)
    if text is None:
        return
    delim = re.compile(cfg.delimiter)
    not_labels = {x.lower() for x in cfg.not_speaker_labels}
    blocks: list[tuple[int, list[tuple[int, str]]]] = []
    cur: list[tuple[int, str]] = []
    start = 1
    for i, raw in enumerate(text.splitlines(), 1):
        if delim.match(raw):
            blocks.append((start, cur))
            cur, start = [], i + 1
        else:
            cur.append((i, raw))
    blocks.append((start, cur))
    for start, lines in blocks:
        content = [(i, l) for i, l in lines if l.strip()]
        if not content:
            continue  # an empty block between delimiters holds no conversation
        meta: dict = {}
        header: dict[str, str] = {}
        turns: list[tuple[str, str]] = []
        preamble: list[str] = []
        first_line = content[0][0]
        unknown: str | None = None
        for i, l in content:
            h = HEADER_LINE.match(l)
            if h and not turns:
                header.update(_parse_header(h.group("body")))
                continue
            m = SPEAKER_LINE.match(l)
            label = m.group("label") if m else None
            if label and _role_of(label, cfg):
                turns.append((_role_of(label, cfg), (m.group("text") or "").strip()))
            elif label and label.lower() not in not_labels and (not turns or l.lstrip()[:1] == "[" or
                                                                 label[0].isupper() and " " not in label):
                unknown = label if re.fullmatch(r"[A-Za-z]{1,24}", label) else "?"
                unknown_line = i
                break
            elif turns:
                turns[-1] = (turns[-1][0], turns[-1][1] + "\n" + l.strip())
            else:
                preamble.append(l.strip())
        cid = header.get("conversation_id") or header.get("id")
        rid = cid or f"{source}:{first_line}"
        group = header.get(cfg.group_field or "", None) or cid or rid
        if header:
            meta["header"] = header
        if preamble:
            meta["preamble_lines"] = len(preamble)
        if unknown is not None:
            ing.reject(rid, "ingest.unknown_speaker",
                       f"line {unknown_line}: speaker '{unknown}' is not in the speaker map (add it to ingest.speakers)",
                       source, first_line)
            continue
        _finish(ing, cfg, turns, meta, rid, group, source, first_line)


def ingest_jsonl(path: Path, cfg: IngestConfig, ing: Ingested) -> None:
    """JSONL in any supported format (detected from every record), plain or gzip."""
    source = str(path)

    def on_valid(line: int, obj: dict, fmt: str) -> None:
        group = obj.get(cfg.group_field) if cfg.group_field else None
        rec = to_record(fmt, obj, source=source, line=line,
                        group=str(group) if isinstance(group, (str, int)) and str(group) else None)
        ing.records.append(rec)

    report = validate_file(path, None, int(cfg.max_record_mb * 1e6), on_valid=on_valid)
    ing.notes.append(f"{source}: {report.detection_note}")
    for p in report.problems:
        ing.reject(f"{source}:{p.line}", f"schema.{p.reason}", f"{p.field}: {p.message}", source, p.line or None)


def ingest_csv(path: Path, cfg: IngestConfig, ing: Ingested) -> None:
    """CSV with one row per turn; conversations are grouped by id and ordered by turn index."""
    source = str(path)
    cols = cfg.csv_columns
    text = _read_text(path, ing)
    if text is None:
        return
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        with _csv_field_limit(cfg):
            fieldnames = reader.fieldnames or []
    except csv.Error as e:
        ing.reject(f"{source}:1", "ingest.csv_bad_row", f"line 1 (header): {e}", source, 1)
        return
    missing = [c for c in (cols["conversation"], cols["turn"], cols["speaker"], cols["text"])
               if c not in fieldnames]
    if missing:
        ing.reject(f"{source}:1", "ingest.csv_missing_column",
                   f"missing column(s) {', '.join(missing)}; set ingest.csv_columns", source, 1)
        return
    meta_cols = [c for c in reader.fieldnames or [] if c not in cols.values()]
    convs: dict[str, list[tuple[int, dict]]] = {}
    line = 1
    for row in _csv_rows(reader, ing, source, cfg):
        if row is None:  # a row the csv module could not parse, already a reject
            line = reader.line_num
            continue
        row_line = line + 1
        line = reader.line_num
        cid = (row.get(cols["conversation"]) or "").strip()
        if not cid:
            ing.reject(f"{source}:{row_line}", "ingest.csv_bad_row", "row has no conversation id", source, row_line)
            continue
        convs.setdefault(cid, []).append((row_line, row))
    for cid, rows in convs.items():
        first = rows[0][0]
        try:
            ordered = []
            for ln, row in rows:
                try:
                    idx = int(str(row[cols["turn"]]).strip())
                except (TypeError, ValueError):
                    raise IngestError("ingest.csv_bad_row", f"line {ln}: turn index is not an integer")
                role = _role_of(row.get(cols["speaker"]) or "", cfg)
                if role is None:
                    raise IngestError("ingest.unknown_speaker", f"line {ln}: speaker not in the speaker map")
                ordered.append((idx, ln, role, row.get(cols["text"]) or ""))
            idxs = [o[0] for o in ordered]
            if len(set(idxs)) != len(idxs):
                raise IngestError("ingest.csv_duplicate_turn", "two rows share a turn index")
            fields = _csv_fields(rows, meta_cols)
        except IngestError as e:
            ing.reject(cid, e.reason, e.detail, source, first)
            continue
        ordered.sort()
        group_val = rows[0][1].get(cfg.group_field) if cfg.group_field else None
        group = group_val.strip() if group_val and group_val.strip() else cid
        turns = [(role, text.strip()) for _, _, role, text in ordered if text.strip()]
        meta = {"empty_turns": len(ordered) - len(turns)} if len(turns) != len(ordered) else {}
        if fields:
            meta[FIELDS] = fields
        _finish(ing, cfg, turns, meta, cid, group, source, first)


def _csv_fields(rows: list[tuple[int, dict]], meta_cols: list[str]) -> dict[str, str]:
    """Conversation-level values of the extra CSV columns; empty cells are absent, and a column
    holding two different values within one conversation is an error."""
    fields: dict[str, str] = {}
    for col in meta_cols:
        seen: dict[str, int] = {}
        for ln, row in rows:
            v = (row.get(col) or "").strip()
            if v:
                seen.setdefault(v, ln)
        if len(seen) > 1:
            lines = sorted(seen.values())[:2]
            raise IngestError("ingest.csv_inconsistent_meta",
                              f"column '{col}' holds {len(seen)} different values in one conversation (lines "
                              f"{lines[0]} and {lines[1]}); a metadata column needs one value per conversation")
        if seen:
            fields[col] = next(iter(seen))
    return fields


def _csv_rows(reader: csv.DictReader, ing: Ingested, source: str, cfg: IngestConfig):
    """Rows of ``reader``; a row the csv module refuses becomes a reject row and reading goes on."""
    with _csv_field_limit(cfg):
        while True:
            start = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                fix = "raise ingest.max_record_mb" if "field larger" in str(e) else "fix the quoting on that line"
                ing.reject(f"{source}:{start}", "ingest.csv_bad_row", f"line {start}: {e}; {fix}", source, start)
                row = None
            yield row


@contextmanager
def _csv_field_limit(cfg: IngestConfig):
    """Allow fields up to the record size limit (a long transcript in one cell is normal; csv's default is 128 KiB)."""
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, int(cfg.max_record_mb * 1e6)))
    try:
        yield
    finally:
        csv.field_size_limit(limit)


def ingest(files: list[Path], cfg: IngestConfig) -> Ingested:
    ing = Ingested()
    for path in files:
        name = path.name
        before = len(ing.records) + len(ing.rejects)
        if name.endswith(TEXT_SUFFIXES):
            ingest_text(path, cfg, ing)
        elif name.endswith(CSV_SUFFIXES):
            ingest_csv(path, cfg, ing)
        else:
            ingest_jsonl(path, cfg, ing)
        found = len(ing.records) + len(ing.rejects) - before
        ing.stats[str(path)] = found
        if not found:
            ing.notes.append(f"{path}: {EMPTY_NOTE}")
    for rec in ing.records:
        carry_fields(rec.meta, cfg.meta_rename)
    _make_ids_unique(ing)
    return ing


def _make_ids_unique(ing: Ingested) -> None:
    """Ids must be unique in a run; a repeated id gets its source and line appended."""
    seen: set[str] = set()
    for i, rec in enumerate(ing.records):
        if rec.id in seen:
            new = f"{rec.id}@{rec.source}:{rec.line}"
            ing.records[i] = rec.model_copy(update={"id": new, "group": rec.group if rec.group != rec.id else new})
            rec = ing.records[i]
        seen.add(rec.id)


def ingest_step(files: list[Path], cfg: IngestConfig) -> tuple[StepResult, list[str]]:
    """Ingest as a step: n_in counts every conversation-like unit found (records + rejects)."""
    ing = ingest(files, cfg)
    kept = records_to_frame(ing.records) if ing.records else empty_frame()
    rejects = pl.DataFrame(ing.rejects, schema=REJECT_SCHEMA) if ing.rejects else pl.DataFrame(schema=REJECT_SCHEMA)
    reasons = Counter(r["reason"] for r in ing.rejects)
    n = len(ing.records) + len(ing.rejects)
    stats = {"files": len(files), "empty_files": sum(1 for v in ing.stats.values() if not v)}
    report = StepReport("ingest", n, len(ing.records), len(ing.rejects), reasons, stats)
    extra = {"notes": ing.notes, "records_per_file": dict(ing.stats)}
    return checked(StepResult(kept, rejects, report, extra), n), ing.notes
