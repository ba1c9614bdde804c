"""export: write train/val/test in each requested format; unrepresentable records are rejects."""
from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import polars as pl

from curate.frame import row_to_record
from curate.metadata import FIELDS, fields_of
from curate.split import SPLITS, group_digest
from curate.step import REJECT_SCHEMA, StepReport, StepResult, checked
from schemas.convert import ConversionError, from_record
from schemas.jsonl import write_jsonl_atomic
from schemas.manifest import FileEntry


def _public_meta(row: dict, keep_meta: list[str] = ()) -> dict:
    """Per-record metadata in outputs: provenance and lineage, the group key only as a hash, and the
    conversation metadata fields the user kept (``--keep-meta``; scrubbed at the select step)."""
    out = {"provenance": row["provenance"], "group": group_digest(row["group"]), "source": row["source"], "line": row["line"]}
    if keep_meta:
        fields = {k: v for k, v in fields_of(row["meta"]).items() if k in keep_meta}
        if fields:
            out[FIELDS] = fields
    return out


def export(frame: pl.DataFrame, out_dir: Path, formats: list[str],
           keep_meta: list[str] = ()) -> tuple[StepResult, list[FileEntry]]:
    """Write ``{split}.{fmt}.jsonl``. Conservation is counted on the primary (first) format;
    records a secondary format cannot hold are listed as rejects of that format too."""
    rows = {s: [] for s in SPLITS}
    for row in frame.sort("split", "id").iter_rows(named=True) if frame.height else []:
        rows[row["split"]].append(row)
    entries: list[FileEntry] = []
    rejects: list[dict] = []
    reasons: Counter = Counter()
    written: dict[str, int] = {}
    primary = formats[0]
    primary_rejected = 0
    for fmt in formats:
        for split in SPLITS:
            out = []
            for row in rows[split]:
                rec = row_to_record(row)
                try:
                    obj = from_record(fmt, rec)
                except ConversionError as e:
                    rejects.append({"id": rec.id, "step": "export", "reason": e.reason.replace("convert.", "export."),
                                    "detail": f"not written as {fmt}: {e}", "source": rec.source, "line": rec.line})
                    if fmt == primary:
                        reasons[rejects[-1]["reason"]] += 1
                        primary_rejected += 1
                    continue
                for k in ("id", "meta"):
                    obj.pop(k, None)
                out.append({"id": rec.id, **obj, "meta": _public_meta(row, keep_meta)})
            path = out_dir / f"{split}.{fmt}.jsonl"
            n = write_jsonl_atomic(path, out)
            written[f"{split}.{fmt}"] = n
            data = path.read_bytes()
            entries.append(FileEntry(path=path.name, sha256=hashlib.sha256(data).hexdigest(), bytes=len(data),
                                     records=n, format=fmt))
    primary_rejects = [r for r in rejects if r["detail"].startswith(f"not written as {primary}:")]
    other = [r for r in rejects if r not in primary_rejects]
    kept = frame.filter(~pl.col("id").is_in([r["id"] for r in primary_rejects])) if primary_rejects else frame
    rej_frame = pl.DataFrame(primary_rejects, schema=REJECT_SCHEMA) if primary_rejects else pl.DataFrame(schema=REJECT_SCHEMA)
    stats = {f"written_{k}": v for k, v in written.items()}
    stats["secondary_format_rejects"] = len(other)
    report = StepReport("export", frame.height, kept.height, primary_rejected, reasons, stats)
    return checked(StepResult(kept, rej_frame, report, {"secondary_rejects": other}), frame.height), entries
