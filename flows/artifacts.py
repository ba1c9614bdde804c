"""Reports as Prefect artifacts. A curation run publishes ONE markdown artifact: the UI lists a run's
artifacts in no stable order, so the summary comes first by construction - totals, splits, leak checks,
the per-step table of report.html and report.html's path as text (browsers block file:// links from
the UI) - followed by one section per step (reject reasons and stats as tables)."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from prefect.artifacts import create_markdown_artifact, create_table_artifact


def artifact_key(*parts: str) -> str:
    """Artifact keys may hold only lowercase letters, digits and dashes."""
    return re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")


def _value(v: Any) -> str:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    return f"{v:,}" if isinstance(v, int) or float(v).is_integer() else f"{v:,.4g}"


def _by_count(reasons: dict[str, int]) -> list[tuple[str, int]]:
    return sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))


def step_markdown(report: dict[str, Any], state: str, seconds: float) -> str:
    """One step's section: counts, reject reasons and stats as tables."""
    took = "reused from the cache" if state == "cached" else f"computed in {seconds:.2f} s"
    lines = [f"### step `{report['step']}`", "",
             f"**{report['n_in']:,}** in, **{report['n_kept']:,}** kept, **{report['n_rejected']:,}** rejected "
             f"({took}).", ""]
    if report.get("reasons"):
        lines += ["| reject reason | count |", "|---|---:|"]
        lines += [f"| `{r}` | {n:,} |" for r, n in _by_count(report["reasons"])]
        lines.append("")
    if report.get("stats"):
        lines += ["| statistic | value |", "|---|---:|"]
        lines += [f"| {k.replace('_', ' ')} | {_value(v)} |" for k, v in sorted(report["stats"].items())]
        lines.append("")
    return "\n".join(lines)


def run_markdown(flow: str, summary: dict[str, Any], step_sections: list[str]) -> str:
    """The run's summary (totals, splits, leak checks, steps, report.html, outputs), then the step sections."""
    html = Path(summary["report_html"]).resolve()
    lines = [f"# {flow}: {summary['out']}", "",
             f"Leak checks: **{'PASS' if summary['leak_checks_passed'] else 'FAIL'}**", "",
             "| | records |", "|---|---:|"]
    lines += [f"| {k.replace('_', ' ')} | {v:,} |" for k, v in summary["totals"].items()]
    lines += [f"| split {k} | {v:,} |" for k, v in summary["splits"].items()]
    if summary.get("steps"):
        lines += ["", "| step | in | kept | rejected | top reasons |", "|---|---:|---:|---:|---|"]
        for s in summary["steps"]:
            top = _by_count(s.get("reasons") or {})[:3]
            lines.append(f"| {s['step']} | {s['n_in']:,} | {s['n_kept']:,} | {s['n_rejected']:,} | "
                         + (", ".join(f"`{r}` {n}" for r, n in top) or "-") + " |")
    lines += ["", f"Data card (report.html, self-contained; open it from a file browser): `{html}`"]
    if summary.get("tasks"):
        cached = sum(1 for t in summary["tasks"] if t["state"] == "Cached")
        lines += ["", f"Tasks: {len(summary['tasks'])}, of which {cached} cached."]
    lines += ["", "## Steps", ""] + step_sections
    lines += ["## Outputs", "", "| output | sha256 |", "|---|---|"]
    lines += [f"| `{p}` | `{h[:16]}...` |" for p, h in summary["outputs"].items()]
    return "\n".join(lines)


def publish_run(flow: str, summary: dict[str, Any], step_sections: list[str]) -> None:
    create_markdown_artifact(run_markdown(flow, summary, step_sections), key=artifact_key(flow, "run"),
                             description=f"{flow} run: summary, steps, report.html")


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
