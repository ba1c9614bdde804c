"""Reports as Prefect artifacts: per run a summary (published first: the totals, splits, leak checks and the
per-step table of report.html, and report.html's path as text - a file:// link is blocked by browsers from
the UI), then per step a markdown summary with its stats as a table, and a table of counts and reasons."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from prefect.artifacts import create_markdown_artifact, create_table_artifact


def artifact_key(*parts: str) -> str:
    """Artifact keys may hold only lowercase letters, digits and dashes."""
    return re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")


def step_table(report: dict[str, Any]) -> list[dict[str, Any]]:
    rows = [{"what": "records in", "count": report["n_in"]}, {"what": "kept", "count": report["n_kept"]},
            {"what": "rejected", "count": report["n_rejected"]}]
    rows += [{"what": f"reason {r}", "count": n}
             for r, n in sorted(report.get("reasons", {}).items(), key=lambda kv: (-kv[1], kv[0]))]
    return rows


def _value(v: Any) -> str:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    return f"{v:,}" if isinstance(v, int) or float(v).is_integer() else f"{v:,.4g}"


def step_markdown(flow: str, report: dict[str, Any], state: str, seconds: float, report_html: str) -> str:
    reasons = report.get("reasons", {})
    took = "reused from the cache" if state == "cached" else f"computed in {seconds:.2f} s"
    lines = [f"## {flow}: step `{report['step']}`", "",
             f"**{report['n_in']:,}** in, **{report['n_kept']:,}** kept, **{report['n_rejected']:,}** rejected "
             f"({took}).", ""]
    if reasons:
        lines += ["| reject reason | count |", "|---|---:|"]
        lines += [f"| `{r}` | {n} |" for r, n in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))]
        lines.append("")
    stats = report.get("stats", {})
    if stats:
        lines += ["| statistic | value |", "|---|---:|"]
        lines += [f"| {k.replace('_', ' ')} | {_value(v)} |" for k, v in sorted(stats.items())]
        lines.append("")
    lines.append(f"Data card of the run (open it from a file browser): `{report_html}`")
    return "\n".join(lines)


def publish_step(flow: str, report: dict[str, Any], state: str, seconds: float, report_html: str) -> None:
    key = artifact_key(flow, report["step"])
    create_markdown_artifact(step_markdown(flow, report, state, seconds, report_html), key=key,
                             description=f"{report['step']}: counts and reject reasons")
    create_table_artifact(step_table(report), key=artifact_key(key, "counts"),
                          description=f"{report['step']}: counts and reject reasons; report: {report_html}")


def publish_run(flow: str, summary: dict[str, Any]) -> None:
    """The run's summary: totals, splits, leak checks, output hashes and where report.html is."""
    html = Path(summary["report_html"]).resolve()
    lines = [f"# {flow}: {summary['out']}", "",
             f"Leak checks: **{'PASS' if summary['leak_checks_passed'] else 'FAIL'}**", "",
             "| | records |", "|---|---:|"]
    lines += [f"| {k.replace('_', ' ')} | {v:,} |" for k, v in summary["totals"].items()]
    lines += [f"| split {k} | {v:,} |" for k, v in summary["splits"].items()]
    if summary.get("steps"):
        lines += ["", "| step | in | kept | rejected | top reasons |", "|---|---:|---:|---:|---|"]
        for s in summary["steps"]:
            top = sorted((s.get("reasons") or {}).items(), key=lambda kv: (-kv[1], kv[0]))[:3]
            lines.append(f"| {s['step']} | {s['n_in']:,} | {s['n_kept']:,} | {s['n_rejected']:,} | "
                         + (", ".join(f"`{r}` {n}" for r, n in top) or "-") + " |")
    lines += ["", f"Data card (report.html, self-contained; open it from a file browser): `{html}`", "",
              "| output | sha256 |", "|---|---|"]
    lines += [f"| `{p}` | `{h[:16]}...` |" for p, h in summary["outputs"].items()]
    if summary.get("tasks"):
        cached = sum(1 for t in summary["tasks"] if t["state"] == "Cached")
        lines += ["", f"Tasks: {len(summary['tasks'])}, of which {cached} cached."]
    create_markdown_artifact("\n".join(lines), key=artifact_key(flow, "run"), description=f"{flow} run summary")


def publish_manifest(flow: str, title: str, manifest: dict[str, Any], extra_lines: list[str] | None = None) -> None:
    """A synth / preference / training run's manifest: counts per step and reject reasons."""
    lines = [f"# {flow}: {title}", ""] + list(extra_lines or [])
    steps = manifest.get("steps") or []
    if steps:
        lines += ["", "| step | in | kept | rejected |", "|---|---:|---:|---:|"]
        lines += [f"| {s['step']} | {s['n_in']} | {s['n_kept']} | {s['n_rejected']} |" for s in steps]
        reasons: dict[str, int] = {}
        for s in steps:
            for r, n in (s.get("reasons") or {}).items():
                reasons[r] = reasons.get(r, 0) + n
        if reasons:
            lines += ["", "| reject reason | count |", "|---|---:|"]
            lines += [f"| `{r}` | {n} |" for r, n in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))]
        create_table_artifact([{"step": s["step"], "in": s["n_in"], "kept": s["n_kept"], "rejected": s["n_rejected"]}
                               for s in steps], key=artifact_key(flow, "counts"),
                              description=f"{flow}: counts per step")
    create_markdown_artifact("\n".join(lines), key=artifact_key(flow, "run"), description=f"{flow} summary")
