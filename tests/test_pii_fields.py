"""Every field of a record is scrubbed: id, group, message name, tool-call arguments, tool results.

Real presidio/spaCy engine through the PII step; a full `curate run` then greps every file it writes.
"""
from __future__ import annotations

import json
from pathlib import Path

import orjson
import polars as pl
import pytest

from curate.frame import records_to_frame
from curate.pii_step import PiiStepConfig, scrub_pii, stable_hash_id
from schemas.messages import Message
from schemas.record import Record
from test_pii_run import run_and_read

pytestmark = pytest.mark.slow

# Planted values: none of them may survive anywhere.
EMAIL = "maria.garcia@gmail.com"
SSN = "536-22-8145"
CARD = 4539148803436467  # a JSON number in the tool call
PHONE = "+1 415 555 0132"
PLANTED = [EMAIL, SSN, str(CARD), "4539 1488 0343 6467", PHONE, "Maria Garcia", "Garcia",
           "mgarcia1984", "Kenji Watanabe", "Kenji"]


def _tool_record(rid: str = EMAIL, group: str = EMAIL) -> Record:
    args = {"email": EMAIL, "ssn": SSN, "card": CARD, "note": "customer Maria Garcia",
            "limit": 5, "express": True}
    result = {"customer": {"name": "Maria Garcia", "phone": PHONE}, "status": "shipped",
              "items": ["Echo Dot", "AirPods Max"]}
    return Record(id=rid, source="in.jsonl", line=1, group=group, messages=[
        Message(role="user", name="Maria Garcia",
                content="Hi, I'm Maria Garcia. Where is my order? My husband Kenji Watanabe asked too."),
        Message(role="assistant", content="Let me look that up for you.", tool_calls=[
            {"id": "call_1", "type": "function",
             "function": {"name": "lookup_order", "arguments": json.dumps(args)}}]),
        Message(role="tool", tool_call_id="call_1", content=json.dumps(result)),
        Message(role="assistant", content="Your Echo Dot and AirPods Max shipped today, Maria."),
    ])


def _texts(frame: pl.DataFrame) -> str:
    return str(frame.rows())


def test_every_field_is_scrubbed_with_one_placeholder_per_value_and_valid_json():
    res = scrub_pii(records_to_frame([_tool_record()]), PiiStepConfig())
    assert res.report.n_kept == 1
    row = res.kept.row(0, named=True)
    flat = _texts(res.kept)
    assert [v for v in PLANTED if v in flat] == []
    assert row["id"] == row["group"] == stable_hash_id(EMAIL)
    user, call, tool, answer = row["messages"]
    assert user["name"] == "PERSON_1"
    assert user["content"] == ("Hi, I'm <PERSON_1>. Where is my order? My husband <PERSON_2> "
                               "asked too.")
    [tc] = orjson.loads(call["tool_calls"])
    assert tc["function"]["name"] == "lookup_order"
    args = orjson.loads(tc["function"]["arguments"])
    assert args == {"email": "<EMAIL_ADDRESS_1>", "ssn": "<US_SSN_1>", "card": "<CREDIT_CARD_1>",
                    "note": "customer <PERSON_1>", "limit": 5, "express": True}
    assert tool["tool_call_id"] == "call_1"
    assert orjson.loads(tool["content"]) == {
        "customer": {"name": "<PERSON_1>", "phone": "<PHONE_NUMBER_1>"}, "status": "shipped",
        "items": ["Echo Dot", "AirPods Max"]}
    assert answer["content"] == "Your Echo Dot and AirPods Max shipped today, <PERSON_1>."


def test_an_id_that_is_only_the_datasets_own_key_is_kept():
    rec = Record(id="CM-001008", source="x", group="C-5149", messages=[
        Message(role="user", content="hello"), Message(role="assistant", content="hi")])
    res = scrub_pii(records_to_frame([rec]), PiiStepConfig())
    assert res.kept.select("id", "group").row(0) == ("CM-001008", "C-5149")


def test_a_residual_value_in_a_tool_call_rejects_the_record_and_names_the_field_not_the_value():
    cfg = PiiStepConfig(entities=("PERSON", "EMAIL_ADDRESS"))  # SSN and card not scrubbed
    res = scrub_pii(records_to_frame([_tool_record(rid="order-7", group="order-7")]), cfg)
    assert res.report.n_rejected == 1
    [rej] = res.rejects.to_dicts()
    assert rej["reason"] == "pii.residual_us_ssn"  # the first field with a residual value
    assert rej["id"] == "order-7"
    assert rej["detail"].startswith("message 1 tool call argument: ")
    assert [v for v in PLANTED if v in str(rej)] == []


def test_a_pii_id_is_hashed_in_the_reject_row_too():
    cfg = PiiStepConfig(max_chars=10)
    res = scrub_pii(records_to_frame([_tool_record()]), cfg)
    [rej] = res.rejects.to_dicts()
    assert (rej["id"], rej["reason"]) == (stable_hash_id(EMAIL), "pii.too_long")


def _write_inputs(path: Path) -> None:
    rows = []
    for i in range(6):
        rid = f"{EMAIL}#{i}" if i % 2 == 0 else f"chat-{i:03d}"
        rec = _tool_record(rid=rid, group=f"{PHONE} / {i}")
        body = rec.model_dump(mode="json", exclude_none=True, exclude={"source", "line", "provenance",
                                                                        "meta"})
        # vary the text so dedup keeps every record
        for m in body["messages"]:
            if m["role"] == "assistant" and "tool_calls" not in m:
                m["content"] += (f" Your parcel number {i} left the depot in the morning and "
                                 f"should arrive within {i + 2} working days; we will email "
                                 f"you a tracking update as soon as the courier scans it.")
        body.pop("group")
        body["customer_id"] = f"{PHONE} / {i}"
        rows.append(body)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_pii_in_ids_names_tool_calls_and_results_reaches_no_file_a_run_writes(tmp_path):
    inp = tmp_path / "in" / "chats.jsonl"
    inp.parent.mkdir()
    _write_inputs(inp)
    out = tmp_path / "run"
    texts = run_and_read(str(inp.parent), out, tmp_path / "run.log")
    leaks = sorted({(v, name) for v in PLANTED for name, t in texts.items() if v in t})
    assert leaks == []
    exported = [json.loads(line) for f in out.glob("*.chatml.jsonl")
                for line in f.read_text().splitlines()]
    assert len(exported) >= 1
    msgs = exported[0]["messages"]
    assert msgs[0]["name"] == "PERSON_1"
    assert json.loads(msgs[1]["tool_calls"][0]["function"]["arguments"])["card"] == "<CREDIT_CARD_1>"


def test_an_email_id_rejected_before_the_pii_step_never_appears_raw_in_any_file_the_run_writes(tmp_path):
    """quality rejects a record whose id is an e-mail; exact_dedup names an e-mail id as the kept copy
    (and the cached reject rows of those steps, read here with every other file, are scrubbed too)."""
    early, kept_id, copy_id = "ana.lopez@example.org", "jon.smith@example.net", "kim.park@example.com"
    answer = ("You can change the delivery address from the orders page until the parcel leaves the "
              "warehouse; after that the courier can redirect it for a small fee.")
    rows = [
        {"id": early, "messages": [  # a placeholder answer: quality.placeholder
            {"role": "user", "content": "How do I change the delivery address of an order?"},
            {"role": "assistant", "content": "TODO"}]},
        {"id": kept_id, "messages": [
            {"role": "user", "content": "Can I still change where my parcel goes?"},
            {"role": "assistant", "content": answer}]},
        {"id": copy_id, "messages": [  # the same conversation: dedup.exact_duplicate of kept_id
            {"role": "user", "content": "Can I still change where my parcel goes?"},
            {"role": "assistant", "content": answer}]},
    ] + [{"id": f"chat-{i:03d}", "messages": [
        {"role": "user", "content": f"My order number {i} has not arrived after {i + 3} days, what now?"},
        {"role": "assistant", "content": f"Sorry about the wait. Parcels sent {i + 3} days ago usually arrive "
                                         f"within a week; if it has not come by Friday we resend it free."}]}
        for i in range(6)]
    inp = tmp_path / "in" / "chats.jsonl"
    inp.parent.mkdir()
    inp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "run"
    texts = run_and_read(str(inp.parent), out, tmp_path / "run.log")
    leaks = sorted({(v, name) for v in (early, kept_id, copy_id) for name, t in texts.items() if v in t})
    assert leaks == []
    rejects = [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]
    [quality] = [r for r in rejects if r["reason"] == "quality.placeholder"]
    assert quality["id"] == stable_hash_id(early)
    [dup] = [r for r in rejects if r["step"] == "exact_dedup"]
    assert (dup["id"], dup["detail"]) == (stable_hash_id(copy_id), f"duplicate of {stable_hash_id(kept_id)}")
    exported = {json.loads(line)["id"] for f in out.glob("*.chatml.jsonl") for line in f.read_text().splitlines()}
    assert stable_hash_id(kept_id) in exported
    # the rejects view finds the kept copy under the hashed id the detail names, and shows that id
    import subprocess
    import sys

    view = subprocess.run([sys.executable, "-m", "curate", "rejects", str(out), "--reason", "dedup"],
                          cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, check=True)
    assert f"matched {stable_hash_id(kept_id)}" in view.stdout
    assert not any(v in view.stdout for v in (early, kept_id, copy_id))
