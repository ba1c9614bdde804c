"""curate_flow on a local Dask cluster of 1 vs 2 workers, next to the single-process CLI.

    .venv/bin/python benchmarks/bench_flows.py                       # the shipped sample, default config
    .venv/bin/python benchmarks/bench_flows.py --n 20000 --files 8 --no-pii   # a generated corpus

For each run: wall time (Dask cluster start, worker imports and model loads
included: what a user waits for), the compute seconds of the mapped steps
(summed over shards), and whether every output file (train/val/test JSONL,
rejects, manifest.json, report.html, corpus index) has the sha256 of the CLI's.
The flows share one Prefect API (started once, before timing) and recompute
every task (``refresh``): no cached result is timed.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT_FILES = ("train.chatml.jsonl", "val.chatml.jsonl", "test.chatml.jsonl", "rejects.jsonl", "manifest.json",
             "report.html", "corpus/index.parquet", "corpus/signatures.parquet")
MAPPED = ("ingest", "normalize", "quality", "perplexity", "pii")


def hashes(run_dir: Path) -> dict[str, str]:
    return {f: hashlib.sha256((run_dir / f).read_bytes()).hexdigest() for f in OUT_FILES}


def make_inputs(tmp: Path, n: int, files: int) -> str:
    """``files`` ChatML JSONL files of ``n`` conversations in all (benchmarks/bench_curate_run.py's generator)."""
    spec = importlib.util.spec_from_file_location("bench_curate_run", REPO / "benchmarks" / "bench_curate_run.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    d = tmp / "in"
    d.mkdir()
    for k in range(files):
        mod.make_corpus(d / f"part-{k:03d}.jsonl", n // files, seed=k)
    return str(d)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", default="data/sample", help="input folder (default: the shipped sample)")
    ap.add_argument("--n", type=int, help="instead: generate N conversations")
    ap.add_argument("--files", type=int, default=8, help="... split into this many files")
    ap.add_argument("--no-pii", action="store_true")
    ap.add_argument("--workers", default="1,2", help="Dask worker counts to compare")
    ap.add_argument("--shards", type=int, default=4)
    args = ap.parse_args()
    os.chdir(REPO)
    home = Path(tempfile.mkdtemp(prefix="bench_flows_prefect_"))
    os.environ.update({"PREFECT_HOME": str(home), "PREFECT_RESULTS_LOCAL_STORAGE_PATH": str(home / "storage"),
                       "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_LOGGING_LEVEL": "WARNING",
                       "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "150"})
    with tempfile.TemporaryDirectory(prefix="bench_flows_") as t:
        tmp = Path(t)
        inputs = make_inputs(tmp, args.n, args.files) if args.n else args.input
        flags = ["--no-pii"] if args.no_pii else []
        print(f"input: {inputs}" + (f" ({args.n} generated conversations in {args.files} files)" if args.n else "")
              + f"; pii {'off' if args.no_pii else 'on'}; {args.shards} shards; {os.cpu_count()} CPUs")

        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "curate", "run", inputs, "--out", str(tmp / "cli"), *flags],
                       check=True, capture_output=True)
        cli_s = time.perf_counter() - t0
        ref = hashes(tmp / "cli")

        from prefect import flow

        from flows.config import CurateFlowConfig, RunnerConfig
        from flows.curate import curate_flow

        @flow(name="bench-warm-up")
        def warm_up() -> None:  # starts the (ephemeral) Prefect API before anything is timed
            return None

        warm_up()
        rows = []
        for w in [int(x) for x in args.workers.split(",")]:
            cfg = CurateFlowConfig(inputs=[inputs], out=str(tmp / f"flow-{w}"), shards=args.shards, refresh=True,
                                   overrides={"pii.enabled": False} if args.no_pii else {},
                                   runner=RunnerConfig(kind="dask", workers=w))
            t0 = time.perf_counter()
            summary = curate_flow(cfg)
            wall = time.perf_counter() - t0
            mapped = sum(v for k, v in summary["compute_seconds"].items() if k in MAPPED)
            rows.append((f"curate_flow, Dask, {w} worker{'s' if w > 1 else ''}", wall, mapped,
                         hashes(tmp / f"flow-{w}") == ref, summary["totals"]))

        print()
        print(f"{'run':<34}{'wall s':>9}{'vs 1 worker':>13}{'mapped-step compute s':>24}{'outputs == CLI':>17}")
        print(f"{'python -m curate run (1 process)':<34}{cli_s:>9.1f}{'':>13}{'':>24}{'reference':>17}")
        base = rows[0][1]
        for name, wall, mapped, same, _ in rows:
            print(f"{name:<34}{wall:>9.1f}{base / wall:>12.2f}x{mapped:>24.1f}{'yes' if same else 'NO':>17}")
        tot = rows[0][4]
        print(f"\nrecords: {tot['records_in']} in = {tot['kept']} kept + {tot['rejected']} rejected")
        if not all(r[3] for r in rows):
            sys.exit("outputs differ from the CLI's")


if __name__ == "__main__":
    main()
