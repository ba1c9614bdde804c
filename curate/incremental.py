"""Incremental curation: a ledger of the files each increment curated (``runs_dir/ledger.json``),
the files of a landing folder no increment has seen, and the next increment's name.

Orchestrators (``flows.curate.incremental_curate_flow``) schedule these; nothing here knows about
Prefect. Each increment is an ordinary run directory ``runs_dir/run-NNNN``, deduplicated against the
union of the earlier ones (``curate.shard.merge_corpora``).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

LEDGER = "ledger.json"


def ledger_path(runs_dir: str | Path) -> Path:
    return Path(runs_dir) / LEDGER


def read_ledger(runs_dir: str | Path) -> dict[str, Any]:
    """``{"files": {path: sha256}, "runs": [run names]}``; empty before the first increment."""
    p = ledger_path(runs_dir)
    if not p.is_file():
        return {"files": {}, "runs": []}
    return json.loads(p.read_text())


def new_files(landing: str | Path, runs_dir: str | Path) -> list[dict]:
    """Files in the landing folder whose (path, sha256) no earlier increment processed."""
    from curate.ingest import IngestError, discover
    from schemas.hashing import file_sha256

    if not Path(landing).is_dir():
        return []
    seen = read_ledger(runs_dir)["files"]
    try:
        files, _ = discover([str(landing)])
    except IngestError as e:
        if e.reason != "ingest.no_input_files":
            raise
        return []  # nothing has landed yet
    out = []
    for f in files:
        h = file_sha256(f)
        if seen.get(str(f)) != h:
            out.append({"path": str(f), "sha256": h})
    return out


def next_run(runs_dir: str | Path) -> str:
    return f"run-{len(read_ledger(runs_dir)['runs']) + 1:04d}"


def record_increment(runs_dir: str | Path, run: str, files: list[dict]) -> None:
    """Add the increment and its files to the ledger (atomically), only after its run finished."""
    ledger = read_ledger(runs_dir)
    for f in files:
        ledger["files"][f["path"]] = f["sha256"]
    ledger["runs"].append(run)
    p = ledger_path(runs_dir)
    tmp = p.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(ledger, indent=1, sort_keys=True))
    tmp.replace(p)
