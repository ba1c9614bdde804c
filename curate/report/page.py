"""The page: header, banner, summary table, navigation and the sections in order."""
from __future__ import annotations

import os

from curate.report.data import ReportData
from curate.report.format import _e, _num, _pct
from curate.report.sections_corpus import _section_clusters, _section_lengths, _section_perplexity
from curate.report.sections_splits import (
    _leak_state, _section_entities, _section_leaks, _section_provenance, _section_splits
)
from curate.report.sections_steps import (
    _section_funnel, _section_notes, _section_outputs, _section_reasons, _section_retention
)
from curate.report.selection import section_selection
from curate.report.style import _CSS
from schemas.jsonl import write_bytes_atomic


def write_report(path: str | os.PathLike, data: ReportData) -> None:
    """Render ``data`` and write it to ``path`` atomically (temp file + rename)."""
    write_bytes_atomic(path, render_report(data).encode("utf-8"))


def render_report(data: ReportData) -> str:
    """The whole HTML document for ``data``: deterministic, self-contained, every string escaped."""
    sections = [
        _section_retention(data),
        _section_funnel(data),
        section_selection(data),
        _section_reasons(data),
        _section_lengths(data),
        _section_clusters(data),
        _section_splits(data),
        _section_leaks(data),
        _section_provenance(data),
        _section_entities(data),
        _section_perplexity(data),
        _section_outputs(data),
        _section_notes(data),
    ]
    nav = "".join(f'<a href="#{sid}">{_e(h)}</a>' for sid, h, _ in sections)
    body = "\n".join(f'<section id="{sid}">\n<h2>{_e(h)}</h2>\n{content}\n</section>' for sid, h, content in sections)
    title = _e(data.title)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{title}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<header>\n<h1>{title}</h1>\n{_banner(data)}{_headline(data)}\n{_summary_table(data)}\n</header>\n"
        f'<nav aria-label="sections">{nav}</nav>\n'
        f"<main>\n{body}\n</main>\n"
        '<footer>Data card written by curatekit. It holds counts and names only, never record text.</footer>\n'
        "</body>\n</html>\n"
    )


# ---------------------------------------------------------------- header

def _headline(d: ReportData) -> str:
    chips = []
    if d.funnel:
        n_in, n_out = d.funnel[0][1], d.funnel[-1][2]
        chips.append(f'<span class="chip">{_e(n_out)} of {_e(n_in)} records kept ({_pct(n_out, n_in)})</span>')
    if d.leak_checks:
        states = [_leak_state(v) for v in d.leak_checks.values()]
        failed = states.count("fail")
        if failed:
            chips.append(f'<span class="badge fail">{failed} of {len(states)} leak checks failed</span>')
        else:
            chips.append(f'<span class="badge pass">leak checks: {states.count("pass")} passed</span>')
    else:
        chips.append('<span class="badge info">leak checks: not run</span>')
    if any(d.funnel[i][1] != d.funnel[i][2] + d.funnel[i][3] for i in range(len(d.funnel))):
        chips.append('<span class="badge fail">a step does not add up: in ≠ kept + rejected</span>')
    return f'<p class="headline">{" ".join(chips)}</p>'


def _banner(d: ReportData) -> str:
    if not d.warnings:
        return ""
    items = "".join(f"<li>{_e(w)}</li>" for w in d.warnings)
    return f'<div class="banner" role="alert"><strong>Warning</strong><ul>{items}</ul></div>\n'


def _summary_table(d: ReportData) -> str:
    if not d.summary:
        return ""
    rows = "\n".join(f"<tr><th>{_e(k)}</th><td>{_e(_num(v))}</td></tr>" for k, v in d.summary.items())
    return f'<table class="summary">\n<tbody>\n{rows}\n</tbody>\n</table>'
