"""`python -m curate validate` and `python -m curate convert`."""
from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

from schemas.convert import ConversionError, from_record, to_record
from schemas.formats import FORMATS
from schemas.jsonl import dumps, write_jsonl_atomic
from schemas.record import RejectRow
from schemas.validate import FileReport, validate_file

from curate.console import fail, summary_table


def add_validate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="validate JSONL files against a format",
                       description="Check every record; print FILE:LINE: field: problem per bad record.")
    p.add_argument("files", nargs="+", metavar="FILE", help="JSONL or JSONL.gz files")
    p.add_argument("--format", choices=[*FORMATS, "auto"], default="auto",
                   help="expected format (default: detect from every record)")
    p.add_argument("--max-record-mb", type=float, default=8.0, help="largest allowed line in MB")
    p.add_argument("--quiet", action="store_true", help="only the summary")
    p.set_defaults(func=run_validate)


def _check_inputs(files: list[str]) -> list[Path]:
    paths = []
    for f in files:
        p = Path(f)
        if not p.is_file():
            fail(f"{f}: no such file (check the path)", code=2)
        paths.append(p)
    return paths


def run_validate(args: argparse.Namespace) -> int:
    paths = _check_inputs(args.files)
    fmt = None if args.format == "auto" else args.format
    max_bytes = int(args.max_record_mb * 1e6)
    reports: list[FileReport] = []
    t0 = time.perf_counter()
    for path in paths:
        report = validate_file(path, fmt, max_bytes)
        reports.append(report)
        print(f"{path}: {report.detection_note}", file=sys.stderr)
        if report.stats.bom:
            print(f"{path}:1: note: UTF-8 byte-order mark skipped", file=sys.stderr)
        if report.stats.blank_lines:
            print(f"{path}: note: {report.stats.blank_lines} blank line(s) skipped", file=sys.stderr)
        if not args.quiet:
            for problem in report.problems:
                print(problem.format(str(path)))
    dt = time.perf_counter() - t0
    reasons: Counter = Counter()
    for r in reports:
        reasons.update(r.reasons)
    rows = [(r.path, r.format or "?", r.records, r.valid, r.invalid) for r in reports]
    summary_table("validation", ["file", "format", "records", "valid", "invalid"], rows,
                  reasons=reasons, footer=f"{sum(r.records for r in reports)} records in {dt:.2f}s")
    return 1 if any(r.problems for r in reports) else 0


def add_convert(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("convert", help="convert a JSONL file between formats",
                       description="Write valid, convertible records to OUT and the rest to a rejects file.")
    p.add_argument("input", metavar="IN", help="JSONL file (plain or gzip)")
    p.add_argument("--from", dest="src", choices=[*FORMATS, "auto"], default="auto",
                   help="input format (auto: detected from every record)")
    p.add_argument("--to", dest="dst", choices=FORMATS, required=True, help="output format")
    p.add_argument("--out", required=True, help="output JSONL")
    p.add_argument("--rejects", help="rejects JSONL (default: OUT with .rejects.jsonl)")
    p.add_argument("--dpo-form", choices=["plain", "conversational"], default=None,
                   help="DPO output form (default: keep the input's, conversational otherwise)")
    p.add_argument("--max-record-mb", type=float, default=8.0, help="largest allowed line in MB")
    p.set_defaults(func=run_convert)


def run_convert(args: argparse.Namespace) -> int:
    (src_path,) = _check_inputs([args.input])
    out = Path(args.out)
    rejects_path = Path(args.rejects) if args.rejects else out.with_name(out.name.removesuffix(".jsonl") + ".rejects.jsonl")
    src = None if args.src == "auto" else args.src
    converted: list[dict] = []
    rejects: list[dict] = []
    reasons: Counter = Counter()

    def on_valid(line: int, obj: dict, fmt: str) -> None:
        try:
            rec = to_record(fmt, obj, source=str(src_path), line=line)
            converted.append(from_record(args.dst, rec, dpo_form=args.dpo_form))
        except ConversionError as e:
            reasons[e.reason] += 1
            rejects.append(RejectRow(id=rec.id, step="convert", reason=e.reason, detail=str(e),
                                     source=str(src_path), line=line).model_dump())
            print(f"{src_path}:{line}: record: {e}")

    report = validate_file(src_path, src, int(args.max_record_mb * 1e6), on_valid=on_valid)
    print(f"{src_path}: {report.detection_note}", file=sys.stderr)
    if report.format is None:
        fail(f"{src_path}: cannot detect the format (no record looks like {', '.join(FORMATS)}); pass --from")
    for p in report.problems:
        print(p.format(str(src_path)))
        reasons[f"schema.{p.reason}"] += 1
        rejects.append(RejectRow(id=f"{src_path}:{p.line}", step="schema", reason=f"schema.{p.reason}",
                                 detail=f"{p.field}: {p.message}"[:500], source=str(src_path),
                                 line=p.line or None).model_dump())
    rejects.sort(key=lambda r: r["line"] or 0)
    write_jsonl_atomic(out, converted)
    write_jsonl_atomic(rejects_path, rejects)
    n_in = report.records
    assert n_in == len(converted) + len(rejects) or any(p.line == 0 for p in report.problems), "conversion lost records"
    summary_table("conversion", ["input", "records", "converted", "rejected", "output", "rejects"],
                  [(str(src_path), n_in, len(converted), len(rejects), str(out), str(rejects_path))],
                  reasons=reasons)
    return 1 if rejects else 0


__all__ = ["add_validate", "add_convert", "dumps"]
