"""The data card: a self-contained, escaped, deterministic HTML page with inline SVG plots."""
from __future__ import annotations

import dataclasses
import os
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

from curate.report import ReportData, funnel_from_reports, render_report, write_report
from curate.step import StepReport

EVIL = "<script>alert(1)</script>"
VOID = {"meta", "link", "br", "hr", "img", "input", "col", "wbr", "area", "base", "source", "track", "embed"}
N_PLOTS = 8  # funnel, reasons, lengths, clusters, splits, provenance, entities, perplexity


def full_data(**overrides) -> ReportData:
    data = ReportData(
        title="support-bot v3",
        summary={"inputs": "data/raw/chats.jsonl", "records in": 1240, "kept": 871, "rejected": 369,
                 "run dir": "runs/r1", "config digest": "9f2c41e0a7b3", "dedup threshold": 0.85},
        funnel=[("validate", 1240, 1223, 17), ("dedup_exact", 1223, 1131, 92), ("dedup_near", 1131, 1013, 118),
                ("quality", 1013, 937, 76), ("perplexity", 937, 901, 36), ("decontaminate", 901, 871, 30)],
        reasons={"schema.invalid_json": 17, "dedup.exact_duplicate": 92, "dedup.near_duplicate": 118,
                 "quality.too_short": 51, "quality.repeated_lines": 25, "perplexity.too_high": 29,
                 "perplexity.too_low": 7, "decontam.ngram_overlap": 30},
        lengths={"train": [12, 40, 41, 55, 80, 81, 90, 120, 133, 260, 4096], "val": [33, 47, 95], "test": [28, 61]},
        cluster_sizes={2: 61, 3: 14, 5: 2, 17: 1},
        splits={"train": 784, "val": 44, "test": 43},
        split_groups={"train": 221, "val": 13, "test": 12},
        leak_checks={"shared_groups": 0, "cross_split_near_dups": 0, "ngram_overlaps": 0, "synthetic_in_eval": 0},
        entity_counts={"PERSON": 97, "EMAIL_ADDRESS": 31, "PHONE_NUMBER": 20, "CREDIT_CARD": 1},
        perplexity=[3.1, 7.5, 12.0, 15.5, 18.25, 22.0, 40.0, 95.0, 410.0, 2500.0],
        ppl_thresholds=(5.0, 300.0),
        provenance={"train": {"real": 590, "synthetic": 170, "mix": 24}, "val": {"real": 44}, "test": {"real": 43}},
        outputs=[("train.chatml.jsonl", 784, "3f1a9c0e" * 8), ("val.chatml.jsonl", 44, "a0b1c2d3" * 8),
                 ("test.chatml.jsonl", 43, "0f1e2d3c" * 8), ("rejects.jsonl", 369, "77aa88bb" * 8)],
        notes=["Perplexity scored with the embedded instruct model."],
        retention={"records_in": 1240, "duplicates": 210, "distinct_in": 1030, "kept": 871, "retention": 0.8456,
                   "removed_share_by_step": {"validate": 0.0165, "quality": 0.0738, "perplexity": 0.035}},
    )
    return dataclasses.replace(data, **overrides)


class _Checker(HTMLParser):
    """Records problems a browser would paper over: unclosed, stray or crossed tags; collects cell text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.cells: list[str] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag in ("td", "th"):
            self._cell = []
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        pass  # <rect .../> in SVG: opens and closes

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'} at {self.getpos()}")
            return
        self.stack.pop()
        if tag in ("td", "th") and self._cell is not None:
            self.cells.append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def check(doc: str) -> _Checker:
    parser = _Checker()
    parser.feed(doc)
    parser.close()
    assert parser.problems == []
    assert parser.stack == [], f"unclosed tags: {parser.stack}"
    return parser


def test_a_full_report_parses_cleanly_and_has_one_svg_per_plot():
    doc = render_report(full_data())
    assert doc.startswith("<!DOCTYPE html>")
    check(doc)
    svgs = re.findall(r"<svg\b.*?</svg>", doc, re.S)
    assert doc.count("<svg") == len(svgs) == N_PLOTS
    for svg in svgs:  # each plot is well-formed XML, so it also opens on its own in an SVG viewer
        assert ET.fromstring(svg).tag == "{http://www.w3.org/2000/svg}svg"
    assert "Not run" not in doc


def test_an_empty_report_says_not_run_for_every_section_and_draws_no_plot():
    doc = render_report(ReportData(title="empty run"))
    check(doc)
    assert "<svg" not in doc
    for section in ("retention", "funnel", "reasons", "lengths", "clusters", "splits", "leaks", "provenance",
                    "entities", "perplexity", "outputs"):
        body = re.search(rf'<section id="{section}">(.*?)</section>', doc, re.S).group(1)
        assert '<p class="empty">' in body and "<table" not in body, section
    assert "leak checks: not run" in doc
    assert doc.count("Not run:") == 10  # all but reasons, where empty means nothing was rejected


@pytest.mark.parametrize("empty", ["funnel", "reasons", "lengths", "cluster_sizes", "entity_counts",
                                   "perplexity", "provenance"])
def test_each_empty_plot_section_drops_exactly_its_own_svg(empty):
    value = [] if isinstance(getattr(full_data(), empty), list) else {}
    doc = render_report(full_data(**{empty: value}))
    check(doc)
    assert doc.count("<svg") == N_PLOTS - 1


def test_splits_without_counts_drop_the_split_plot():
    doc = render_report(full_data(splits={}, split_groups={}))
    assert doc.count("<svg") == N_PLOTS - 1


def test_the_tables_hold_the_exact_input_numbers():
    data = full_data()
    cells = check(render_report(data)).cells
    expected = set()
    for step, n_in, kept, rej in data.funnel:
        expected |= {step, str(n_in), str(kept), str(rej)}
    expected |= {str(n) for n in data.reasons.values()} | set(data.reasons)
    expected |= {str(n) for n in data.splits.values()} | {str(n) for n in data.split_groups.values()}
    expected |= {str(k) for k in data.cluster_sizes} | {str(v) for v in data.cluster_sizes.values()}
    expected |= {str(n) for n in data.entity_counts.values()} | set(data.entity_counts)
    for counts in data.provenance.values():
        expected |= {str(n) for n in counts.values()}
    for name, n, digest in data.outputs:
        expected |= {name, str(n), digest}
    expected |= {str(v) for v in data.summary.values()} | set(data.summary)
    expected |= {"5.0", "300.0", "4096", "12"}  # thresholds as given; longest and shortest record
    assert expected - set(cells) == set()


def test_the_perplexity_table_counts_records_outside_the_thresholds():
    cells = check(render_report(full_data())).cells
    pairs = dict(zip(cells[::2], cells[1::2]))
    assert pairs["below min threshold (< 5.0)"] == "1"
    assert pairs["above max threshold (> 300.0)"] == "2"


def test_hostile_names_are_escaped_everywhere():
    data = full_data(
        title=EVIL,
        summary={EVIL: EVIL, "run dir": 'runs/"><img src=x onerror=alert(1)>'},
        funnel=[(EVIL, 10, 7, 3)],
        reasons={EVIL: 3},
        lengths={EVIL: [1, 2, 3]},
        splits={EVIL: 7}, split_groups={EVIL: 2},
        leak_checks={EVIL: EVIL},
        entity_counts={EVIL: 4},
        provenance={EVIL: {EVIL: 7}},
        outputs=[(EVIL + ".jsonl", 7, EVIL)],
        notes=[EVIL],
        ppl_thresholds=(None, None),
    )
    doc = render_report(data)
    check(doc)
    assert "<script" not in doc.lower()
    assert "<img" not in doc.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in doc
    for svg in re.findall(r"<svg\b.*?</svg>", doc, re.S):
        ET.fromstring(svg)  # escaped labels keep every plot well-formed


def test_the_page_is_self_contained():
    doc = render_report(full_data())
    assert "<script" not in doc and "<link" not in doc and "src=" not in doc
    assert re.findall(r"https?://[^\"' ]+", doc) == ["http://www.w3.org/2000/svg"] * N_PLOTS


def test_rendering_is_byte_identical_and_independent_of_dict_order():
    data = full_data()
    assert render_report(data) == render_report(full_data())
    shuffled = full_data(reasons=dict(reversed(list(data.reasons.items()))),
                         cluster_sizes=dict(reversed(list(data.cluster_sizes.items()))),
                         entity_counts=dict(reversed(list(data.entity_counts.items()))),
                         splits=dict(reversed(list(data.splits.items()))),
                         lengths=dict(reversed(list(data.lengths.items()))))
    assert render_report(shuffled).encode() == render_report(data).encode()


def test_failures_are_flagged():
    data = full_data(leak_checks={"shared_groups": 2, "cross_split_near_dups": 0, "decontaminated": "skipped"},
                     funnel=[("validate", 10, 7, 2)])
    doc = render_report(data)
    check(doc)
    assert "1 of 3 leak checks failed" in doc
    assert '<span class="badge fail">FAIL</span>' in doc
    assert '<span class="badge info">INFO</span>' in doc
    assert "in ≠ kept + rejected" in doc


def test_degenerate_data_still_draws():
    data = full_data(lengths={"train": [5]}, perplexity=[8.0, float("nan"), 0.0], ppl_thresholds=(None, None),
                     entity_counts={"PERSON": 0}, cluster_sizes={2: 1}, splits={"train": 1}, split_groups={},
                     provenance={"train": {"real": 0}}, funnel=[("validate", 0, 0, 0)])
    doc = render_report(data)
    check(doc)
    assert doc.count("<svg") == N_PLOTS
    assert "missing, not finite or ≤ 0 (not plotted)" in doc


def test_singleton_clusters_are_counted_but_not_drawn():
    doc = render_report(full_data(cluster_sizes={1: 500}))
    assert doc.count("<svg") == N_PLOTS - 1
    assert "every record stands alone" in doc and "500" in check(doc).cells
    doc = render_report(full_data(cluster_sizes={1: 500, 2: 40, 3: 4}))
    assert doc.count("<svg") == N_PLOTS
    assert "Size 1 (records with no near-duplicate) is in the table only." in doc


def test_missing_values_from_nullable_columns_are_skipped():
    doc = render_report(full_data(lengths={"train": [4, None, 9]}, perplexity=[None, 3.0],
                                  cluster_sizes={None: 3, 2: 5}))
    check(doc)
    assert doc.count("<svg") == N_PLOTS


def test_write_report_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "run" / "report.html"
    write_report(path, full_data())
    assert path.read_text(encoding="utf-8") == render_report(full_data())
    assert os.listdir(path.parent) == ["report.html"]

    def broken_replace(src, dst):
        raise OSError("disk went away")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        write_report(path, full_data(title="second run"))
    monkeypatch.undo()
    assert os.listdir(path.parent) == ["report.html"]  # no temp file left behind
    assert "second run" not in path.read_text(encoding="utf-8")  # the old report is untouched


def test_funnel_and_reasons_come_from_step_reports():
    a = StepReport("validate", 10, 8, 2)
    a.reasons.update({"schema.invalid_json": 2})
    b = StepReport("dedup_exact", 8, 5, 3)
    b.reasons.update({"dedup.exact_duplicate": 3})
    funnel, reasons = funnel_from_reports([a, b])
    assert funnel == [("validate", 10, 8, 2), ("dedup_exact", 8, 5, 3)]
    assert reasons == {"schema.invalid_json": 2, "dedup.exact_duplicate": 3}


def test_retention_is_shown_and_a_warning_becomes_a_banner_at_the_top():
    doc = render_report(full_data(warnings=["step quality removed 76 of 1030 distinct conversations (12% > 10%)"]))
    check(doc)
    body = re.search(r'<section id="retention">(.*?)</section>', doc, re.S).group(1)
    assert "871 of 1030 distinct conversations kept (84.6%)" in body
    assert doc.index('class="banner"') < doc.index("<nav")
    assert "step quality removed 76 of 1030 distinct conversations (12% &gt; 10%)" in doc
    assert 'class="banner"' not in render_report(full_data())


def test_the_data_card_counts_near_dedup_clusters_and_perplexity_on_the_steps_input(tmp_path):
    import polars as pl

    from curate.report.build import build_report
    from schemas.manifest import Manifest, StepCounts

    # near_dedup found 2 clusters (sizes 2 and 3) among 10 records; perplexity scored 6 records and
    # rejected one above the threshold, which the exported frame no longer holds.
    ppl_stats = {"n_scored": 6.0, "hist_log10_bin.20": 3.0, "hist_log10_bin.24": 2.0, "hist_log10_bin.60": 1.0}
    m = Manifest(tool_version="0", inputs=[], config={"perplexity": {"max_ppl": 150.0}}, versions={},
                 steps=[StepCounts(step="ingest", n_in=10, n_kept=10, n_rejected=0),
                        StepCounts(step="perplexity", n_in=10, n_kept=9, n_rejected=1,
                                   reasons={"perplexity.too_high": 1}, stats=ppl_stats),
                        StepCounts(step="near_dedup", n_in=9, n_kept=6, n_rejected=3,
                                   reasons={"dedup.near_duplicate": 3},
                                   stats={"n_clusters": 6, "clusters_of_size_2": 1, "clusters_of_size_3": 1})],
                 splits={"train": 6}, outputs=[], totals={"records_in": 10, "kept": 6, "rejected": 4})
    final = pl.DataFrame({"split": ["train"] * 6, "group": [f"g{i}" for i in range(6)], "provenance": ["real"] * 6,
                          "messages": [[{"role": "user", "content": "hi there"}]] * 6,
                          "cluster_size": [1] * 6, "ppl": [12.0] * 6})  # what the old card read
    build_report(tmp_path, m, final, [])
    cells = check((tmp_path / "report.html").read_text()).cells
    pairs = dict(zip(cells[::2], cells[1::2]))
    assert pairs["records scored"] == "6" and pairs["above max threshold (> 150.0)"] == "1"
    doc = (tmp_path / "report.html").read_text()
    clusters = re.search(r'<section id="clusters">(.*?)</section>', doc, re.S).group(1)
    rows = re.findall(r"<tr><td[^>]*>(\d+)</td><td[^>]*>(\d+)</td><td[^>]*>(\d+)</td></tr>", clusters)
    assert rows == [("1", "4", "4"), ("2", "1", "2"), ("3", "1", "3")]
