"""Conversation metadata from every input shape, and the select step over it: typed values, the expression
applied, exact kept ids, reject reasons, conservation, one-line errors, kept metadata without PII, the report."""
import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from curate.config import IngestConfig, PipelineConfig, SelectConfig
from curate.console import UserError
from curate.ingest import ingest_step
from curate.metadata import fields_of, typed_value
from curate.run import run
from curate.select import select_records, selection_counts

pytest_plugins = ("flows.testing",)

REPO = Path(__file__).resolve().parents[1]
OUTCOME = "resolved = true and csat >= 4"

TRANSCRIPTS = """\
# conversation_id: T-1  customer_id: C-1  resolved: yes  csat: 5  created: 2024-03-02
Customer: My router keeps dropping the connection every evening around eight.
Agent: I pushed a firmware update to your router; the evening drops should stop now.
---
# conversation_id: T-2  resolved: no  csat: 2
Customer: Why was I charged twice for the March bill on my card?
Agent: I see one pending charge that will fall off in three days; nothing else is due.
---
# conversation_id: T-3  resolved: YES  csat: 4.5  Channel-Name: phone
Customer: Can I move my plan to the new apartment next week?
Agent: Yes, I booked the move for next Tuesday and your number stays the same.
---
# conversation_id: T-4  csat: 5
Customer: How do I turn on voicemail transcription in the app?
Agent: Open Settings, then Voicemail, and switch on Transcription.
---
Customer: The roaming pass did not activate when I landed in Lisbon.
Agent: I activated the pass manually; restart your phone and data will work.
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def ingested(files, cfg=None):
    result, _ = ingest_step([Path(f) for f in files], cfg or IngestConfig())
    return result


def fields_by_id(frame: pl.DataFrame) -> dict:
    return {r["id"]: fields_of(r["meta"]) for r in frame.iter_rows(named=True)}


def outcome_rows(result) -> tuple[list[str], dict[str, str]]:
    return result.kept["id"].to_list(), dict(zip(result.rejects["id"], result.rejects["reason"]))


def assert_conserved(result, frame):
    assert result.report.n_in == frame.height == result.kept.height + result.rejects.height
    assert set(result.kept["id"]) | set(result.rejects["id"]) == set(frame["id"])
    assert sum(result.report.reasons.values()) == result.rejects.height


def test_values_are_typed_where_they_parse_and_text_otherwise():
    assert [typed_value(v) for v in ("yes", "No", "TRUE", "false", "4", "-2", "4.5", "007", "n/a", "  ", None)] == \
        [True, False, True, False, 4, -2, 4.5, "007", "n/a", None, None]
    assert typed_value({"a": 1}) == '{"a":1}' and typed_value(3) == 3 and typed_value(False) is False


def test_transcript_headers_become_typed_fields_and_the_expression_keeps_exactly_the_matching_ids(tmp_path):
    f = write(tmp_path / "calls.txt", TRANSCRIPTS)
    ing = ingested([f])
    fields = fields_by_id(ing.kept)
    assert fields["T-1"] == {"customer_id": "C-1", "resolved": True, "csat": 5, "created": "2024-03-02"}
    assert fields["T-3"] == {"resolved": True, "csat": 4.5, "channel_name": "phone"}
    headerless = f"{f}:17"
    assert fields[headerless] == {}

    r = select_records(ing.kept, SelectConfig(expression=OUTCOME))
    kept, rejects = outcome_rows(r)
    assert kept == ["T-1", "T-3"]
    assert rejects == {"T-2": "select.not_matched", "T-4": "select.missing_field", headerless: "select.missing_field"}
    details = dict(zip(r.rejects["id"], r.rejects["detail"]))
    assert details["T-2"] == f"does not match {OUTCOME!r}"
    assert details["T-4"] == f"lacks resolved for {OUTCOME!r}"
    assert_conserved(r, ing.kept)

    keep = select_records(ing.kept, SelectConfig(expression=OUTCOME, on_missing="keep"))
    assert outcome_rows(keep) == (["T-1", "T-3", "T-4", headerless], {"T-2": "select.not_matched"})
    assert keep.report.stats["kept_missing_field"] == 2
    assert_conserved(keep, ing.kept)


CSV = """\
conversation_id,turn,speaker,text,customer_id,Resolved,CSAT,channel
CV-1,1,customer,My bill doubled this month and I do not know why.,C-9,TRUE,5,chat
CV-1,2,agent,A promotional discount ended; I applied a loyalty credit that brings it back down.,C-9,TRUE,,chat
CV-2,1,customer,The technician never showed up for my appointment today.,C-8,false,1,phone
CV-2,2,agent,I rebooked the visit for tomorrow morning and waived the call-out fee.,C-8,false,1,phone
CV-3,1,customer,How do I add my daughter as an authorised user?,,true,4,chat
CV-3,2,agent,Open Account > Users in the app and send her an invite.,,true,5,chat
CV-4,1,customer,Can I get a paper copy of my contract mailed to me?,,yes,4,email
CV-4,2,agent,I requested a printed copy; it arrives within five working days.,,yes,4,email
"""


def test_csv_columns_become_conversation_fields_and_a_column_that_differs_between_turns_is_rejected(tmp_path):
    f = write(tmp_path / "turns.csv", CSV)
    ing = ingested([f])
    assert dict(zip(ing.rejects["id"], ing.rejects["reason"])) == {"CV-3": "ingest.csv_inconsistent_meta"}
    detail = ing.rejects["detail"][0]
    assert "'CSAT'" in detail and "lines 6 and 7" in detail
    fields = fields_by_id(ing.kept)
    # empty cells are absent: CV-1's csat comes from its first row; names are lower-cased
    assert fields["CV-1"] == {"customer_id": "C-9", "resolved": True, "csat": 5, "channel": "chat"}
    assert fields["CV-4"] == {"resolved": True, "csat": 4, "channel": "email"}

    r = select_records(ing.kept, SelectConfig(expression=OUTCOME + " and channel != 'email'"))
    kept, rejects = outcome_rows(r)
    assert kept == ["CV-1"]
    assert rejects == {"CV-2": "select.not_matched", "CV-4": "select.not_matched"}
    assert_conserved(r, ing.kept)
    r2 = select_records(ing.kept, SelectConfig(expression="channel in ('chat', 'email') and csat between 4 and 5"))
    assert outcome_rows(r2)[0] == ["CV-1", "CV-4"]


def test_jsonl_top_level_fields_and_meta_entries_are_carried_renamed_and_selected_by_date(tmp_path):
    def line(i, **extra):
        return json.dumps({"id": i, "messages": [
            {"role": "user", "content": f"Question number {i} about my phone plan upgrade options?"},
            {"role": "assistant", "content": f"Answer {i}: you can upgrade in the app under Plans."}], **extra})
    f = write(tmp_path / "chats.jsonl", "\n".join([
        line("J-1", resolved="yes", meta={"satisfaction": 5, "created": "2024-02-01", "channel": "chat"}),
        line("J-2", resolved=False, meta={"satisfaction": "3", "created": "2023-12-30"}),
        line("J-3", meta={"channel": "email", "created": "2024-05-05"}, agent_tier=2),
        line("J-4", **{"Resolved": "TRUE", "Satisfaction": 4, "created": "2024-01-01T09:30:00"}),
    ]) + "\n")
    ing = ingested([f], IngestConfig(meta_rename={"satisfaction": "csat"}))
    fields = fields_by_id(ing.kept)
    assert fields["J-1"] == {"resolved": True, "csat": 5, "created": "2024-02-01", "channel": "chat"}
    assert fields["J-2"] == {"resolved": False, "csat": 3, "created": "2023-12-30"}
    assert fields["J-3"] == {"agent_tier": 2, "channel": "email", "created": "2024-05-05"}

    r = select_records(ing.kept, SelectConfig(expression="created >= DATE '2024-01-01'"))
    assert outcome_rows(r) == (["J-1", "J-3", "J-4"], {"J-2": "select.not_matched"})
    r = select_records(ing.kept, SelectConfig(expression=OUTCOME))
    assert outcome_rows(r) == (["J-1", "J-4"], {"J-2": "select.not_matched", "J-3": "select.missing_field"})
    r = select_records(ing.kept, SelectConfig(expression="agent_tier in (2, 3)", on_missing="keep"))
    assert outcome_rows(r)[0] == ["J-1", "J-2", "J-3", "J-4"]
    assert_conserved(r, ing.kept)


def test_a_per_source_expression_replaces_the_global_one_for_its_files(tmp_path):
    txt = write(tmp_path / "calls.txt", TRANSCRIPTS)
    csv_f = write(tmp_path / "turns.csv", CSV)
    ing = ingested([txt, csv_f])
    cfg = SelectConfig(expression="resolved = true", sources={"*.csv": "csat >= 4 and channel = 'email'"})
    r = select_records(ing.kept, cfg)
    assert r.kept["id"].to_list() == ["T-1", "T-3", "CV-4"]
    reasons = dict(zip(r.rejects["id"], r.rejects["reason"]))
    assert reasons == {"T-2": "select.not_matched", "T-4": "select.missing_field", f"{txt}:17": "select.missing_field",
                       "CV-1": "select.not_matched", "CV-2": "select.not_matched"}
    assert_conserved(r, ing.kept)


@pytest.mark.parametrize("expression, says", [
    ("csatt >= 4", "select: unknown field 'csatt' in 'csatt >= 4'; fields: channel_name (text), created (date), "
                   "csat (number), customer_id (text), resolved (boolean)"),
    ("resolved = yes", "select: unknown field 'yes'"),
    ("resolved = 'yes'", "select: field 'resolved' is boolean but \"resolved = 'yes'\" compares it with text; "
                         "write resolved = true"),
    ("csat >= '4'", "select: field 'csat' is number but"),
    ("customer_id = 3", "select: field 'customer_id' is text but"),
    ("created > '2024-01-01'", "write created >= DATE '2024-01-01'"),
    ("csat + 1", "gives Float64 values, not true/false"),
])
def test_an_unknown_field_or_a_type_mismatch_is_one_error_line_naming_the_field(tmp_path, expression, says):
    frame = ingested([write(tmp_path / "calls.txt", TRANSCRIPTS)]).kept
    with pytest.raises(UserError) as e:
        select_records(frame, SelectConfig(expression=expression))
    msg = str(e.value)
    assert says in msg and "\n" not in msg
    assert "fields: " in msg or "gives" in msg


def test_a_field_with_mixed_value_types_cannot_be_compared_as_a_number_and_says_so(tmp_path):
    f = write(tmp_path / "t.txt", TRANSCRIPTS.replace("csat: 2", "csat: n/a"))
    with pytest.raises(UserError, match=r"field 'csat' is mixed .* \(number in 3 records, text in 1 records\)"):
        select_records(ingested([f]).kept, SelectConfig(expression="csat >= 4"))


def test_a_syntax_error_is_refused_when_the_config_is_built():
    with pytest.raises(ValueError, match="not a valid expression 'csat >'"):
        SelectConfig(expression="csat >")
    with pytest.raises(ValueError, match="not a valid expression"):
        SelectConfig(sources={"*.csv": "resolved = = true"})


def cli(*args):
    return subprocess.run([sys.executable, "-m", "curate", *args], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


def test_the_cli_prints_one_line_and_no_traceback_for_a_bad_expression(tmp_path):
    write(tmp_path / "in" / "calls.txt", TRANSCRIPTS)
    bad_syntax = cli("run", str(tmp_path / "in"), "--out", str(tmp_path / "o1"), "--no-pii", "--select", "csat >")
    assert bad_syntax.returncode == 2
    assert bad_syntax.stderr.strip().splitlines() == [
        "error: --select: not a valid expression 'csat >': unable to parse 'csat >' as Expr"]
    unknown = cli("run", str(tmp_path / "in"), "--out", str(tmp_path / "o2"), "--no-pii", "--select", "score > 3")
    assert unknown.returncode == 1 and "Traceback" not in unknown.stderr
    errors = [x for x in unknown.stderr.splitlines() if x.startswith("error:")]
    assert errors == [x for x in unknown.stderr.splitlines() if not x.startswith("[")]
    assert len(errors) == 1 and errors[0].startswith("error: select: unknown field 'score' in 'score > 3'; fields: ")


def test_a_run_reports_counts_per_value_before_and_after_and_keeps_only_the_named_fields(tmp_path):
    write(tmp_path / "in" / "calls.txt", TRANSCRIPTS)
    write(tmp_path / "in" / "turns.csv", CSV)
    cfg = PipelineConfig.model_validate({"pii": {"enabled": False}, "quality": {"enabled": False},
                                         "decontam": {"enabled": False},
                                         "select": {"expression": OUTCOME, "keep_meta": ["csat"]}})
    res = run([str(tmp_path / "in")], tmp_path / "out", cfg)
    sel = next(s for s in res.manifest.steps if s.step == "select")
    assert sel.reasons == {"select.not_matched": 2, "select.missing_field": 2}
    counts = selection_counts(sel.stats)
    assert counts["resolved"] == [("true", 4, 4), ("false", 2, 0), ("(missing)", 2, 0)]
    assert counts["csat"] == [("1", 1, 0), ("2", 1, 0), ("4", 1, 1), ("4.5", 1, 1), ("5", 3, 2), ("(missing)", 1, 0)]
    rows = [json.loads(x) for s in ("train", "val", "test")
            for x in (tmp_path / "out" / f"{s}.chatml.jsonl").read_text().splitlines()]
    assert sorted(r["id"] for r in rows) == ["CV-1", "CV-4", "T-1", "T-3"]
    assert {r["id"]: r["meta"]["fields"] for r in rows} == {"CV-1": {"csat": 5}, "CV-4": {"csat": 4},
                                                            "T-1": {"csat": 5}, "T-3": {"csat": 4.5}}
    html = (tmp_path / "out" / "report.html").read_text()
    section = re.search(r'<section id="selection">(.*?)</section>', html, re.S).group(1)
    assert "resolved = true and csat &gt;= 4" in section
    assert re.search(r"<td>true</td><td class=\"n\">4</td><td class=\"n\">4</td>", section)


def test_kept_metadata_and_shown_values_go_through_the_pii_scrubber(tmp_path):
    name, email = "Maria Lopez", "maria.lopez@example.com"
    lines = []
    for i, (csat, agent, mail) in enumerate([(5, name, email), (4, "Paul Smith", "p.smith@example.org"),
                                             (2, name, email)], 1):
        lines.append(json.dumps({"id": f"P-{i}", "customer_email": mail, "meta": {"csat": csat, "agent": agent},
                                 "messages": [{"role": "user", "content": f"Ticket {i}: my voicemail PIN stopped "
                                                                          f"working after the update today."},
                                              {"role": "assistant", "content": f"Reply {i}: I reset the PIN; "
                                                                               "check the text we just sent."}]}))
    write(tmp_path / "in" / "chats.jsonl", "\n".join(lines) + "\n")
    cfg = PipelineConfig.model_validate({"quality": {"enabled": False}, "decontam": {"enabled": False},
                                         "select": {"expression": "csat >= 4 and customer_email is not null "
                                                                  "and agent != 'nobody'",
                                                    "keep_meta": ["agent", "customer_email", "csat"]}})
    run([str(tmp_path / "in")], tmp_path / "out", cfg)
    out = tmp_path / "out"
    rows = [json.loads(x) for s in ("train", "val", "test") for x in (out / f"{s}.chatml.jsonl").read_text().splitlines()]
    assert sorted(r["id"] for r in rows) == ["P-1", "P-2"]
    for r in rows:
        assert r["meta"]["fields"]["agent"] == "<PERSON_1>"
        assert r["meta"]["fields"]["customer_email"] == "<EMAIL_ADDRESS_1>"
        assert r["meta"]["fields"]["csat"] in (4, 5)
    texts = {}
    for p in out.rglob("*"):
        if p.is_file():
            texts[str(p)] = str(pl.read_parquet(p).rows()) if p.suffix == ".parquet" else p.read_text(errors="replace")
    assert {"manifest.json", "report.html", "rejects.jsonl"} <= {Path(k).name for k in texts}
    for value in (name, email, "Paul Smith", "p.smith@example.org"):
        assert [k for k, t in texts.items() if value in t] == [], value
    m = json.loads((out / "manifest.json").read_text())
    counts = selection_counts(next(s for s in m["steps"] if s["step"] == "select")["stats"])
    assert counts["agent"] == [("<PERSON_1>", 3, 2)]
    assert counts["customer_email"] == [("<EMAIL_ADDRESS_1>", 3, 2)]


def test_the_sample_keeps_exactly_the_resolved_well_rated_conversations_of_its_transcripts_and_csv(tmp_path):
    """Expected ids come from reading the raw files here, not from the generator."""
    sample = REPO / "data" / "sample"
    expected, lacking = set(), set()
    for f in sorted((sample / "transcripts").glob("*.txt")):
        for m in re.finditer(r"^# conversation_id: (\S+)(.*)$", f.read_text(), re.M):
            pairs = dict(re.findall(r"(\w+): (\S+)", m.group(2)))
            if "csat" not in pairs:
                lacking.add(m.group(1))
            elif pairs["resolved"] == "yes" and int(pairs["csat"]) >= 4:
                expected.add(m.group(1))
    with open(sample / "turns.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            if not row["csat"]:
                lacking.add(row["conversation_id"])
            elif row["resolved"] == "true" and int(row["csat"]) >= 4:
                expected.add(row["conversation_id"])
    out = tmp_path / "run"
    r = cli("run", "data/sample/transcripts", "data/sample/turns.csv", "--out", str(out), "--no-pii",
            "--select", OUTCOME, "--keep-meta", "resolved", "csat")
    assert r.returncode == 0, r.stderr
    rejects = [json.loads(x) for x in (out / "rejects.jsonl").read_text().splitlines()]
    m = json.loads((out / "manifest.json").read_text())
    names = [s["step"] for s in m["steps"]]
    assert names[:4] == ["ingest", "normalize", "select", "exact_dedup"]
    # the header fields and CSV columns changed no record count: 83 transcripts + 45 CSV conversations (PLANTED.md)
    assert m["steps"][0]["n_in"] == 83 + 45
    rows = [json.loads(x) for s in ("train", "val", "test") for x in (out / f"{s}.chatml.jsonl").read_text().splitlines()]
    after_select = {x["id"] for x in rejects if names.index(x["step"]) > names.index("select")} | {r["id"] for r in rows}
    assert {i.split("@")[0] for i in after_select} == expected
    for x in rejects:
        if x["step"] == "select":
            cid = x["id"].split("@")[0]
            assert cid not in expected
            has_fields = cid.startswith(("T-", "CV-")) and cid not in lacking
            assert x["reason"] == ("select.not_matched" if has_fields else "select.missing_field"), cid
    assert rows and all(r["meta"]["fields"]["resolved"] is True and r["meta"]["fields"]["csat"] >= 4 for r in rows)


def frame_with_fields(fields: list[dict]) -> pl.DataFrame:
    from curate.frame import records_to_frame
    from schemas.messages import Message
    from schemas.record import Record

    return records_to_frame([Record(id=f"r{i}", source="x.jsonl", line=i, group=f"r{i}", meta={"fields": f},
                                    messages=[Message(role="user", content="q"), Message(role="assistant", content="a")])
                             for i, f in enumerate(fields)])


def test_a_field_of_booleans_and_numbers_is_mixed_even_though_true_equals_one_in_python():
    from curate.metadata import field_column

    assert field_column("x", [True, 1, None])[1:] == ("mixed", {"boolean": 1, "number": 1})
    assert field_column("x", [1, 2.5, None])[0].dtype == pl.Float64
    assert field_column("x", ["2024-01-02", "2024-01-03T10:00:00Z"])[1] == "datetime"


def test_many_distinct_values_are_listed_by_month_for_dates_and_as_other_beyond_twenty():
    fields = [{"created": f"2024-{1 + i // 20:02d}-{1 + i % 20:02d}", "agent": f"agent{i}"} for i in range(30)]
    r = select_records(frame_with_fields(fields), SelectConfig(expression="created >= DATE '2024-01-11' and "
                                                                          "agent != 'agent0'"))
    assert r.kept["id"].to_list() == [f"r{i}" for i in range(10, 30)]
    counts = selection_counts(r.report.stats)
    assert counts["created"] == [("2024-01", 20, 10), ("2024-02", 10, 10)]
    assert len(counts["agent"]) == 20 and counts["agent"][-1] == ("(other)", 11, 11)
    assert sum(a for _, a, _ in counts["agent"]) == 30 and sum(b for _, _, b in counts["agent"]) == 20


def test_a_kept_value_the_pii_scrubber_cannot_make_safe_rejects_its_record():
    frame = frame_with_fields([{"csat": 5, "note": "call back tomorrow"}, {"csat": 5, "note": "word " * 400},
                               {"csat": 2, "note": "word " * 400}])
    r = select_records(frame, SelectConfig(expression="csat >= 4", keep_meta=["note"]), pii={"max_chars": 1000})
    assert r.kept["id"].to_list() == ["r0"]
    assert r.rejects.select("id", "reason", "detail").rows() == [
        ("r1", "select.unsafe_meta", "kept field note: pii.too_long"), ("r2", "select.not_matched",
                                                                       "does not match 'csat >= 4'")]
    assert fields_of(r.kept["meta"][0]) == {"note": "call back tomorrow"}


def test_the_curate_flow_with_a_selection_writes_the_same_files_as_the_cli(prefect_harness, tmp_path, monkeypatch):
    import hashlib

    from curate.cli import main
    from flows.config import CurateFlowConfig
    from flows.curate import curate_flow

    monkeypatch.chdir(REPO)
    inputs = ["data/sample/transcripts", "data/sample/turns.csv"]
    assert main(["run", *inputs, "--out", str(tmp_path / "cli"), "--no-pii", "--select", OUTCOME,
                 "--keep-meta", "csat"]) == 0
    curate_flow(CurateFlowConfig(inputs=inputs, out=str(tmp_path / "flow"), shards=3, overrides={
        "pii.enabled": False, "select.expression": OUTCOME, "select.keep_meta": ["csat"]}))
    names = ["train.chatml.jsonl", "val.chatml.jsonl", "test.chatml.jsonl", "rejects.jsonl", "manifest.json",
             "report.html"]
    digest = {d: [hashlib.sha256((tmp_path / d / n).read_bytes()).hexdigest() for n in names] for d in ("cli", "flow")}
    assert digest["cli"] == digest["flow"]
    assert "select.not_matched" in (tmp_path / "flow" / "rejects.jsonl").read_text()


def test_a_header_value_of_several_words_runs_to_the_next_key(tmp_path):
    f = write(tmp_path / "t.txt", "# conversation_id: T-9  channel: web chat  agent_tier=2  link: http://x.test/a\n"
                                  "Customer: Where can I see my data usage?\nAgent: In the app under Usage.\n")
    assert fields_by_id(ingested([f]).kept)["T-9"] == {"channel": "web chat", "agent_tier": 2,
                                                       "link": "http://x.test/a"}
