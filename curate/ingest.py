"""Ingest raw material into canonical records: text transcripts, JSONL (any format, gzip), CSV turns.

Every unit of input ends as a record or a reject row with a reason; nothing
is skipped silently. Records keep their source file and line.
"""
from __future__ import annotations

import csv
import hashlib
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from curate.config import IngestConfig
from curate.frame import empty_frame, records_to_frame
from curate.metadata import FIELDS, carry_fields
from curate.step import REJECT_SCHEMA, StepReport, StepResult, checked
from schemas.convert import to_record
from schemas.jsonl import open_binary
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
    """Expand directories into input files (sorted); return files and notes on ignored ones."""
    files: list[Path] = []
    notes: list[str] = []
    suffixes = TEXT_SUFFIXES + JSONL_SUFFIXES + CSV_SUFFIXES
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            for f in sorted(x for x in p.rglob("*") if x.is_file()):
                if any(f.name.endswith(s) for s in suffixes):
                    files.append(f)
                elif not f.name.startswith("."):
                    notes.append(f"{f}: ignored (not .txt, .jsonl[.gz] or .csv)")
        elif p.is_file():
            if not any(p.name.endswith(s) for s in suffixes):
                raise IngestError("ingest.unknown_file_type",
                                  f"{p}: unknown input type; use .txt transcripts, .jsonl[.gz] or .csv")
            files.append(p)
        else:
            raise IngestError("ingest.missing", f"{p}: no such file or directory")
    return files, notes


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


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


def ingest_text(path: Path, cfg: IngestConfig, ing: Ingested) -> None:
    """Plain-text transcripts: `Speaker: text` lines, optional [hh:mm] stamps, continuation
    lines, `# key: value` headers, several conversations split by delimiter lines."""
    source = str(path)
    try:
        text = open_binary(path).read().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        ing.reject(f"{source}:0", "ingest.not_utf8", f"byte {e.start}: not UTF-8; re-encode the file (iconv)",
                   source, None)
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
    try:
        text = open_binary(path).read().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        ing.reject(f"{source}:0", "ingest.not_utf8", f"byte {e.start}: not UTF-8; re-encode the file", source, None)
        return
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = [c for c in (cols["conversation"], cols["turn"], cols["speaker"], cols["text"])
               if c not in (reader.fieldnames or [])]
    if missing:
        ing.reject(f"{source}:1", "ingest.csv_missing_column",
                   f"missing column(s) {', '.join(missing)}; set ingest.csv_columns", source, 1)
        return
    meta_cols = [c for c in reader.fieldnames or [] if c not in cols.values()]
    convs: dict[str, list[tuple[int, dict]]] = {}
    line = 1
    for row in reader:
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


def ingest(files: list[Path], cfg: IngestConfig) -> Ingested:
    ing = Ingested()
    for path in files:
        name = path.name
        if name.endswith(TEXT_SUFFIXES):
            ingest_text(path, cfg, ing)
        elif name.endswith(CSV_SUFFIXES):
            ingest_csv(path, cfg, ing)
        else:
            ingest_jsonl(path, cfg, ing)
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
    stats = {"files": len(files)}
    report = StepReport("ingest", n, len(ing.records), len(ing.rejects), reasons, stats)
    return checked(StepResult(kept, rejects, report, {"notes": ing.notes}), n), ing.notes
