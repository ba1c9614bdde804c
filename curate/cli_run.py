"""`python -m curate run INPUT... --out DIR`: raw transcripts to train/val/test JSONL."""
from __future__ import annotations

import argparse
import sys
import time

from curate.console import UserError, summary_table


def add_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run the curation pipeline on raw transcripts",
                       description="Ingest, normalise, dedup, filter, scrub, split and export. "
                                   "Re-running with the same inputs and config reuses finished steps.")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="files or folders (.txt, .jsonl[.gz], .csv)")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--config", help="YAML pipeline config")
    p.add_argument("--format", dest="formats", action="append", choices=["chatml", "alpaca", "sharegpt", "dpo"],
                   help="output format (repeatable; default chatml)")
    p.add_argument("--against", help="earlier run directory: dedup against its curated corpus")
    p.add_argument("--eval-file", action="append", default=[], help="eval set to decontaminate train against")
    p.add_argument("--mix", action="append", default=[], metavar="FILE",
                   help="general instruction data to blend into train (see --mix-fraction)")
    p.add_argument("--mix-fraction", type=float, default=None, help="target fraction of train (default 0.05)")
    p.add_argument("--select", metavar="EXPR",
                   help="keep records whose metadata match a polars SQL expression, e.g. "
                        "\"resolved = true and csat >= 4\" (others: select.not_matched / select.missing_field)")
    p.add_argument("--keep-meta", nargs="+", action="extend", default=[], metavar="FIELD",
                   help="metadata fields to keep in the exported rows' meta.fields (PII-scrubbed)")
    p.add_argument("--perplexity", action="store_true", help="enable the perplexity filter (loads the local model)")
    p.add_argument("--semantic-dedup", action="store_true",
                   help="embed conversations and keep paraphrases in one split (rejects nothing unless "
                        "--set semantic_dedup.dedup=true)")
    p.add_argument("--no-pii", action="store_true", help="disable PII scrubbing (not recommended)")
    p.add_argument("--system-prompt", metavar="TEXT|@FILE",
                   help="system turn for every exported record: replaces an existing one (see export.system_prompt)")
    p.add_argument("--force", action="store_true",
                   help="overwrite files in --out that curatekit did not write (default: refuse)")
    p.add_argument("--keep-intermediates", action="store_true",
                   help="keep every step's frame in OUT/.steps (they may hold unscrubbed text)")
    p.add_argument("--set", action="append", default=[], metavar="STEP.FIELD=VALUE",
                   help="override one config value, e.g. --set near_dedup.threshold=0.7")
    p.set_defaults(func=run_cli)


def run_cli(args: argparse.Namespace) -> int:
    from curate.config import load_config
    from curate.ingest import IngestError
    from curate.run import run

    from schemas.overrides import OverrideError, parse_assignment

    overrides = {}
    for item in args.set:
        try:
            k, v = parse_assignment(item)
        except OverrideError:
            raise UserError(f"--set {item}: expected STEP.FIELD=VALUE", 2) from None
        overrides[k] = v
    if args.formats:
        overrides["export.formats"] = args.formats
    if args.against:
        overrides["against"] = args.against
    if args.eval_file:
        overrides["decontam.eval_files"] = args.eval_file
    if args.mix:
        overrides["mix.files"] = args.mix
    if args.mix_fraction is not None:
        overrides["mix.fraction"] = args.mix_fraction
    if args.select is not None:
        from curate.select import parse_expression

        try:
            parse_expression(args.select)
        except ValueError as e:
            raise UserError(f"--select: {e}", 2)
        overrides["select.expression"] = args.select
    if args.keep_meta:
        overrides["select.keep_meta"] = args.keep_meta
    if args.perplexity:
        overrides["perplexity.enabled"] = True
    if args.semantic_dedup:
        overrides["semantic_dedup.enabled"] = True
    if args.no_pii:
        overrides["pii.enabled"] = False
    if args.system_prompt:
        overrides["export.system_prompt.text"] = args.system_prompt
    cfg = load_config(args.config, overrides)
    t0 = time.perf_counter()
    last = {"t": t0}

    def on_step(name: str, state: str) -> None:
        now = time.perf_counter()
        print(f"[{now - t0:7.1f}s] {name}: {state}", file=sys.stderr)
        last["t"] = now

    try:
        result = run(args.inputs, args.out, cfg, on_step, force=args.force,
                     keep_intermediates=args.keep_intermediates)
    except IngestError as e:
        raise UserError(e.detail, 2)
    except Exception as e:  # disk full and other OS errors: one line naming the path and the fix
        from pathlib import Path

        from curate.rundir import as_os_error, describe_os_error

        err = as_os_error(e)
        if err is None:
            raise
        raise UserError(describe_os_error(err, Path(args.out)), 4) from None
    m = result.manifest
    removed = m.retention.get("removed_share_by_step", {})
    rows = [(r.step, r.n_in, r.n_kept, r.n_rejected, f"{removed[r.step]:.1%}" if r.step in removed else "",
             f"{result.timings.get(r.step, 0):.1f}s" if r.step not in result.reused else "reused")
            for r in result.reports]
    reasons = {}
    for r in result.reports:
        reasons.update(r.reasons)
    from collections import Counter

    rt = m.retention
    summary_table(f"curate run -> {args.out}", ["step", "in", "kept", "rejected", "removed", "time"], rows,
                  reasons=Counter(reasons),
                  footer=(f"retention: {rt.get('kept', 0)} of {rt.get('distinct_in', 0)} distinct conversations kept "
                          f"({rt.get('retention', 1.0):.1%}; {rt.get('duplicates', 0)} duplicates not counted; "
                          f"'removed' is each step's share of the distinct conversations)\n"
                          f"splits: {m.splits}   leak checks: {'PASS' if m.leak_checks.get('passed') else 'FAIL'}   "
                          f"{m.totals['records_in']} in = {m.totals['kept']} kept + {m.totals['rejected']} rejected   "
                          f"{time.perf_counter() - t0:.1f}s"))
    for w in m.warnings:
        print(f"warning: {w}", file=sys.stderr)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    for line in m.failures:
        print(f"{args.out}: {line} (outputs marked failed in manifest.json; train refuses them)", file=sys.stderr)
    return 0 if m.status == "ok" else 1

