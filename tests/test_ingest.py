"""Ingest: text transcripts, CSV turns and JSONL become records or reasoned rejects."""
import gzip
import json

from curate.config import IngestConfig
from curate.ingest import ingest, ingest_step

TXT = """# conversation_id: T-1  customer_id: C-9
[10:31] Agent: Thanks for calling Northwind, this is Sam.
[10:32] Customer: My router keeps dropping
the connection every evening.
[10:33] Agent: Let's update its firmware.
Note: this takes five minutes.
[10:35] Customer: Done, thanks!
[10:36] Agent: Great, anything else?
---
User: How do I pay?
Assistant: Use the Billing tab.
---
Customer: hello??
---
Just some notes without any labels.
More notes.
---
Customer: I want a refund.
Supervisor: I'll take this one.
Agent: Sure.
"""


def test_text_transcripts_parse_turns_headers_continuations_and_reject_what_they_cannot(tmp_path):
    p = tmp_path / "calls.txt"
    p.write_text(TXT)
    ing = ingest([p], IngestConfig())
    assert [r.id for r in ing.records] == ["T-1", f"{p}:10"]
    t1 = ing.records[0]
    assert t1.group == "C-9" and t1.line == 1
    assert [m.role for m in t1.messages] == ["user", "assistant", "user", "assistant"]
    assert t1.messages[0].content == "My router keeps dropping\nthe connection every evening."
    assert t1.messages[1].content == "Let's update its firmware.\nNote: this takes five minutes."
    assert t1.meta["dropped_leading_agent_turns"] == 1
    assert [(r["id"], r["reason"]) for r in ing.rejects] == [
        (f"{p}:13", "ingest.no_assistant"),
        (f"{p}:15", "ingest.no_speaker_labels"),
        (f"{p}:18", "ingest.unknown_speaker"),
    ]
    assert "Supervisor" in ing.rejects[2]["detail"] and ing.rejects[2]["line"] == 18


def test_leading_agent_greeting_can_become_the_system_prompt(tmp_path):
    p = tmp_path / "a.txt"
    p.write_text("Agent: Hi, Northwind here.\nCustomer: Bill?\nAgent: Sent.\n")
    rec = ingest([p], IngestConfig(leading_assistant="keep_as_system")).records[0]
    assert [(m.role, m.content) for m in rec.messages] == [
        ("system", "Hi, Northwind here."), ("user", "Bill?"), ("assistant", "Sent.")]
    ing = ingest([p], IngestConfig(leading_assistant="reject"))
    assert [r["reason"] for r in ing.rejects] == ["ingest.starts_with_agent"]


def test_csv_turns_are_grouped_ordered_and_bad_conversations_rejected(tmp_path):
    p = tmp_path / "turns.csv"
    p.write_text(
        "conversation_id,turn,speaker,text,customer_id\n"
        'A,2,agent,"Yes, tomorrow.",C-1\n'
        'A,1,customer,"Will it ship,\nor not?",C-1\n'
        "B,1,customer,hi,C-2\n"
        "B,2,robot,beep,C-2\n"
        "C,1,customer,hi,\n"
        "C,1,agent,hello,\n"
    )
    ing = ingest([p], IngestConfig())
    (a,) = ing.records
    assert (a.id, a.group, a.line) == ("A", "C-1", 2)
    assert [m.content for m in a.messages] == ["Will it ship,\nor not?", "Yes, tomorrow."]
    assert [(r["id"], r["reason"]) for r in ing.rejects] == [
        ("B", "ingest.unknown_speaker"), ("C", "ingest.csv_duplicate_turn")]


def test_jsonl_in_any_format_and_gzip_with_schema_rejects(tmp_path):
    chat = {"id": "x1", "customer_id": "C-7", "messages": [{"role": "user", "content": "q"},
                                                           {"role": "assistant", "content": "a"}]}
    sg = {"conversations": [{"from": "human", "value": "q2"}, {"from": "gpt", "value": "a2"}]}
    p1 = tmp_path / "a.jsonl"
    p1.write_text(json.dumps(chat) + "\n{broken\n")
    p2 = tmp_path / "b.jsonl.gz"
    p2.write_bytes(gzip.compress((json.dumps(sg) + "\n").encode()))
    ing = ingest([p1, p2], IngestConfig())
    assert [(r.id, r.group) for r in ing.records] == [("x1", "C-7"), (f"{p2}:1", f"{p2}:1")]
    assert [(r["id"], r["reason"], r["line"]) for r in ing.rejects] == [(f"{p1}:2", "schema.invalid_json", 2)]


def test_ingest_step_accounts_for_every_unit_and_makes_ids_unique(tmp_path):
    chat = {"id": "same", "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    p = tmp_path / "a.jsonl"
    p.write_text(json.dumps(chat) + "\n" + json.dumps(chat) + "\n[]\n")
    result, _ = ingest_step([p], IngestConfig())
    assert result.report.n_in == 3 and result.report.n_kept == 2 and result.report.n_rejected == 1
    assert result.kept["id"].to_list() == ["same", f"same@{p}:2"]
