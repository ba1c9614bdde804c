"""Does a change keep `curate run`'s outputs byte for byte? Runs it at another revision and at the working tree.

For behaviour-preserving work (a refactor, a speed-up): the revision ``--base``
is checked out in a temporary git worktree (the project's git-ignored model
folders linked in, so no model is provisioned twice), `curate run` runs there
and here with the same arguments and the same interpreter, and every output
file is compared by sha256 (the step cache ``.steps/`` left out). A JSON file
that differs is named with the top-level keys that differ, e.g. ``manifest.json:
config`` when only the recorded step settings changed.

    .venv/bin/python benchmarks/check_outputs.py --base main            # data/sample, --perplexity
    .venv/bin/python benchmarks/check_outputs.py --base HEAD~3 --args "--mix data/general/general_instructions.jsonl"

Exit status: 0 when every file is identical, 1 otherwise (2 when a run fails).
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LINKED = ("data/models",)  # git-ignored folders the run may need (the provisioned local model)


def run_curate(tree: Path, inputs: list[str], out: Path, extra: list[str]) -> None:
    cmd = [sys.executable, "-m", "curate", "run", *inputs, "--out", str(out), *extra]
    proc = subprocess.run(cmd, cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)},
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        print(proc.stdout[-3000:], file=sys.stderr)
        raise SystemExit(f"curate run failed in {tree} (exit {proc.returncode}): {shlex.join(cmd)}")


def digests(out: Path) -> dict[str, str]:
    from schemas.hashing import file_sha256

    return {str(p.relative_to(out)): file_sha256(p) for p in sorted(out.rglob("*"))
            if p.is_file() and ".steps" not in p.relative_to(out).parts}


def json_keys_that_differ(a: Path, b: Path) -> list[str]:
    try:
        x, y = json.loads(a.read_text(encoding="utf-8")), json.loads(b.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        return []
    if not (isinstance(x, dict) and isinstance(y, dict)):
        return []
    return sorted(k for k in set(x) | set(y) if x.get(k) != y.get(k))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default="HEAD", help="git revision to compare with (default HEAD)")
    ap.add_argument("--input", action="append", help="curate inputs, relative to the repo (default data/sample)")
    ap.add_argument("--args", default="--perplexity", help="more curate run arguments, one string")
    a = ap.parse_args()
    inputs, extra = a.input or ["data/sample"], shlex.split(a.args)
    with tempfile.TemporaryDirectory(prefix="check_outputs_") as tmp:
        t = Path(tmp)
        base = t / "base"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet", str(base), a.base],
                       check=True)
        try:
            for rel in LINKED:
                if (ROOT / rel).exists() and not (base / rel).exists():
                    (base / rel).parent.mkdir(parents=True, exist_ok=True)
                    (base / rel).symlink_to(ROOT / rel)
            run_curate(base, inputs, t / "out_base", extra)
            run_curate(ROOT, inputs, t / "out_here", extra)
            old, new = digests(t / "out_base"), digests(t / "out_here")
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], check=False)
        changed = 0
        print(f"curate run {' '.join(inputs)} {' '.join(extra)}: {a.base} vs working tree")
        for name in sorted(set(old) | set(new)):
            if old.get(name) == new.get(name):
                print(f"  same       {name}  {new[name][:12]}")
                continue
            changed += 1
            if name not in old or name not in new:
                print(f"  {'only here' if name in new else 'only base'}  {name}")
                continue
            keys = json_keys_that_differ(t / "out_base" / name, t / "out_here" / name)
            print(f"  DIFFERENT  {name}  {old[name][:12]} -> {new[name][:12]}"
                  + (f"  (keys: {', '.join(keys)})" if keys else ""))
        print(f"{len(set(old) | set(new)) - changed} identical, {changed} different")
    return 0 if changed == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
