"""Issue 13's table, measured: each situation of tests/test_run_robustness.py run against an earlier
revision and against this checkout, side by side (exit code, traceback or not, totals, the last line).

    .venv/bin/python benchmarks/robustness_table.py [--ref 038de1d]

The earlier revision runs from a `git archive` copy in a temporary folder, so whatever it writes
(an old `flows run` without --out writes out/sample) stays there.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import test_run_robustness as cases  # noqa: E402


def outcome(root: Path, case) -> str:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        args = case.build(tmp)
        pre = cases.unprivileged() if case.unprivileged else None
        r = subprocess.run([sys.executable, "-m", case.module, *map(str, args)], cwd=root, capture_output=True,
                           text=True, preexec_fn=pre, timeout=600)
        lines = [x.strip() for x in r.stderr.splitlines() if x.strip()]
        last = next((x for x in reversed(lines) if x.startswith("error") or "Error" in x), "") or \
            next((x for x in lines if x.startswith("note:") and "intermediates" not in x), "")
        m = tmp / "out" / "manifest.json"
        totals = json.loads(m.read_text())["totals"] if m.exists() else None
        tot = f"{totals['records_in']} in = {totals['kept']} kept + {totals['rejected']} rejected" if totals else ""
        for p in tmp.rglob("*"):
            if not p.is_symlink():
                p.chmod(0o755)
        tb = "Traceback, " if "Traceback" in r.stderr else ""
        return f"exit {r.returncode}, {tb}{tot or 'no outputs'}; {last[:110] or '(no error line, no note)'}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ref", default="038de1d", help="the earlier revision (default: before issue 13)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        old = Path(d) / "ref"
        old.mkdir()
        tar = subprocess.run(["git", "archive", args.ref], cwd=REPO, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(old)], input=tar, check=True)
        print(f"| situation | {args.ref} | this checkout |\n|---|---|---|")
        for name, case in cases.CASES.items():
            print(f"| {name} | {outcome(old, case)} | {outcome(REPO, case)} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
