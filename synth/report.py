"""What a synth run leaves behind: output JSONL, rejects JSONL, manifest JSON, a summary on stderr.

Rejects follow the project's :class:`schemas.RejectRow` (id, step, reason
``synth.<reason>`` or a curation step's own code, detail, source, line) and
may carry extra keys: ``raw`` (every model reply that was tried, kept
verbatim when parsing fails), ``judge`` (scores and rationale), ``messages``
(an example dropped by curation).
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Iterable

from schemas import secrets
from schemas.hashing import file_sha256
from schemas.jsonl import write_bytes_atomic, write_jsonl_atomic
from schemas.manifest import FileEntry
from schemas.record import RejectRow
from schemas.secrets import redact_argv

TOOL = "curatekit-synth"


def reject_row(id: str, step: str, reason: str, detail: str = "", source: str = "", line: int | None = None,
               **extra: Any) -> dict[str, Any]:
    """A reject row; ``reason`` without a dot becomes ``synth.<reason>``. Extra keys are kept beside it."""
    code = reason if "." in reason else f"synth.{reason}"
    core = RejectRow(id=str(id), step=step, reason=code, detail=(detail or "")[:500], source=source or "",
                     line=line).model_dump()
    core.update({k: v for k, v in extra.items() if v is not None})
    return core


def rejects_path_for(out: Path) -> Path:
    return out.with_name(out.name.removesuffix(".jsonl") + ".rejects.jsonl")


def manifest_path_for(out: Path) -> Path:
    return out.with_name(out.name.removesuffix(".jsonl") + ".manifest.json")


def file_entry(path: Path, records: int | None = None, fmt: str | None = None) -> dict[str, Any]:
    return FileEntry(path=str(path), sha256=file_sha256(path), bytes=path.stat().st_size, records=records,
                     format=fmt).model_dump()


def versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for dist in ("curatekit", "openai", "httpx", "pydantic", "polars"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


class RunWriter:
    """Collects the pieces of a run's manifest and writes every file atomically."""

    def __init__(self, command: str, out: Path, argv: list[str] | None = None):
        self.command = command
        self.out = out
        self.argv = argv if argv is not None else sys.argv[1:]
        self.t0 = time.monotonic()
        self.started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")

    def write(self, rows: Iterable[dict], rejects: list[dict], *, fmt: str, n_in: int, inputs: list[Path],
              config: dict[str, Any], endpoint: dict[str, Any] | None, ledger: dict[str, Any] | None,
              steps: list[dict[str, Any]], extra_outputs: list[tuple[Path, int, str]] | None = None,
              complete: bool = True, redact=lambda s: s, api_key_env: str | None = None,
              api_key_set: bool | None = None, notes: dict[str, Any] | None = None,
              topics: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
        """Write output, rejects and manifest (in that order); return the manifest."""
        rows = list(rows)
        n_out = write_jsonl_atomic(self.out, rows)
        rej_path = rejects_path_for(self.out)
        write_jsonl_atomic(rej_path, rejects)
        reasons = Counter(r["reason"] for r in rejects)
        outputs = [file_entry(self.out, n_out, fmt), file_entry(rej_path, len(rejects), "rejects")]
        for path, n, f in extra_outputs or []:
            outputs.append(file_entry(path, n, f))
        manifest = {
            "tool": TOOL, "command": self.command, "argv": redact_argv([redact(a) for a in self.argv]),
            "started": self.started, "duration_s": round(time.monotonic() - self.t0, 3),
            "complete": complete,
            "inputs": [file_entry(p) for p in inputs],
            "outputs": outputs,
            "counts": {"n_in": n_in, "n_out": n_out, "n_rejected": len(rejects),
                       "reasons": dict(sorted(reasons.items()))},
            "steps": steps, "endpoint": endpoint, "ledger": ledger,
            "api_key": {"env": api_key_env, "set": api_key_set} if api_key_env else None,
            "config": config, "versions": versions(), "cwd": os.getcwd(),
        }
        if notes:
            manifest["notes"] = notes
        if topics is not None:
            manifest["topics"] = topics
        text = secrets.redact(redact(json.dumps(manifest, indent=2, ensure_ascii=False, default=str))) + "\n"
        write_bytes_atomic(manifest_path_for(self.out), text.encode("utf-8"))
        return manifest


def topic_table(topics: dict[str, dict[str, Any]]):
    """The yield per topic: does this model / prompt setup work, and if not, why not."""
    from rich.table import Table

    t = Table(title="yield per topic", title_justify="left")
    for h in ("topic", "requested", "requests", "generated", "kept", "rejects by reason"):
        t.add_column(h, justify="left" if h in ("topic", "rejects by reason") else "right")
    for name, d in topics.items():
        why = ", ".join(f"{r.removeprefix('synth.')} {n}" for r, n in sorted(d["reasons"].items(),
                                                                             key=lambda kv: (-kv[1], kv[0])))
        t.add_row(name if len(name) < 40 else name[:37] + "...", str(d["requested"]), str(d["requests"]),
                  str(d["generated"]), str(d["kept"]), why or "-")
    return t


def print_summary(title: str, manifest: dict[str, Any], out_label: str = "output") -> None:
    """Counts, reasons and the ledger as tables on stderr."""
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=True, width=max(100, Console(stderr=True).width))
    c = manifest["counts"]
    t = Table(title=title, title_justify="left")
    for h in ("inputs", out_label, "rejected", "output file", "rejects file"):
        t.add_column(h, justify="right" if h in ("inputs", out_label, "rejected") else "left")
    t.add_row(str(c["n_in"]), str(c["n_out"]), str(c["n_rejected"]), manifest["outputs"][0]["path"],
              manifest["outputs"][1]["path"])
    console.print(t)
    if c["reasons"]:
        rt = Table(title="rejected by reason", title_justify="left")
        rt.add_column("reason")
        rt.add_column("count", justify="right")
        for reason, n in sorted(c["reasons"].items(), key=lambda kv: (-kv[1], kv[0])):
            rt.add_row(reason, str(n))
        console.print(rt)
    if manifest.get("topics"):
        console.print(topic_table(manifest["topics"]))
    sf = (manifest.get("endpoint") or {}).get("structured_output")
    if sf:
        modes = ", ".join(f"{m if len(m) < 40 else '...' + m[-37:]}: {d['mode']}" for m, d in sf["models"].items())
        steps = "; ".join(f"{f['from_mode']} -> {f['to_mode']} ({f['why'][:120]})" for f in sf["fallbacks"])
        console.print(f"response_format: {modes or sf['configured']}" + (f" · stepped down: {steps}" if steps else ""))
    led = manifest.get("ledger")
    if led:
        lt = Table(title="ledger", title_justify="left")
        for h in ("model", "requests", "tokens in", "tokens out", "cost"):
            lt.add_column(h, justify="left" if h == "model" else "right")
        for m, u in led["by_model"].items():
            lt.add_row(m if len(m) < 60 else "..." + m[-57:], str(u["requests"]), str(u["prompt_tokens"]),
                       str(u["completion_tokens"]), f"{u['cost']:.6f}")
        lt.add_row("total", str(led["requests"]), str(led["prompt_tokens"]), str(led["completion_tokens"]),
                   f"{led['cost']:.6f}")
        console.print(lt)
        errs = ", ".join(f"{k} {v}" for k, v in led["errors"].items()) or "none"
        console.print(f"cache hits {led['cache_hits']} (saved {led['cache_saved_cost']:.6f}) · retries "
                      f"{led['retries']} · failed requests {led['failures']} · errors: {errs}")
        if led.get("unread_answers"):
            kinds = ", ".join(f"{k} {v}" for k, v in led["unread_answers"].items())
            console.print(f"answers the endpoint may have billed but that arrived unreadable ({kinds}): booked at an "
                          f"estimate of {led['unread_tokens_estimated']} tokens, cost "
                          f"{led['unread_cost_estimated']:.6f} (in the total above)")
        if led["stopped_by_budget"]:
            console.print(f"[bold yellow]budget {led['budget']} reached[/]: finished work is kept; re-run with a "
                          "higher --budget to finish (stored answers are not paid again)")
    console.print(f"manifest: {manifest_path_for(Path(manifest['outputs'][0]['path']))}")
