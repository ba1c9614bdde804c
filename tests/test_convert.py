"""Conversions: lossless where formats allow, a per-record reason where they do not."""
import pytest

from schemas.convert import ConversionError, convert, from_record, to_record
from schemas.record import Record
from schemas.validate import validate_object

U = {"role": "user", "content": "How do I reset my router?"}
A = {"role": "assistant", "content": "Hold the reset button for ten seconds."}
S = {"role": "system", "content": "You are a support agent."}
CHAT = {"id": "c1", "messages": [S, U, A, {"role": "user", "content": "Thanks"},
                                 {"role": "assistant", "content": "You're welcome."}],
        "meta": {"provenance": "synthetic"}}
ALPACA = {"instruction": "Translate to French", "input": "good morning", "output": "bonjour", "system": "Be brief."}
TOOL_CHAT = {"messages": [U, {"role": "assistant", "content": "c", "tool_calls": [{"id": "1"}]},
                          {"role": "tool", "content": "r", "tool_call_id": "1"}, A]}
PLAIN = {"prompt": "Hi?", "chosen": "Hello, how can I help?", "rejected": "What.", "score": 3}


def test_chatml_sharegpt_round_trip_is_lossless():
    sg = convert(CHAT, "chatml", "sharegpt")
    assert validate_object(sg, "sharegpt") is None
    assert sg["conversations"][0] == {"from": "system", "value": S["content"]}
    assert convert(sg, "sharegpt", "chatml") == CHAT


def test_single_turn_chatml_alpaca_round_trip_is_lossless():
    chat = {"messages": [S, U, A]}
    alp = convert(chat, "chatml", "alpaca")
    assert alp == {"instruction": U["content"], "input": "", "output": A["content"], "system": S["content"]}
    assert convert(alp, "alpaca", "chatml") == chat


def test_alpaca_input_joins_the_user_turn_and_survives_a_trip_through_record():
    rec = to_record("alpaca", ALPACA, source="f.jsonl", line=3)
    assert rec.messages[1].content == "Translate to French\n\ngood morning"
    assert from_record("alpaca", rec) == ALPACA
    assert Record.model_validate_json(rec.model_dump_json()) == rec


def test_dpo_plain_and_conversational_round_trip():
    conv = convert(PLAIN, "dpo", "dpo", dpo_form="conversational")
    assert conv["prompt"] == [{"role": "user", "content": "Hi?"}]
    assert conv["chosen"] == [{"role": "assistant", "content": PLAIN["chosen"]}]
    assert validate_object(conv, "dpo") is None
    assert convert(conv, "dpo", "dpo", dpo_form="plain") == PLAIN


@pytest.mark.parametrize("fmt,obj", [("chatml", CHAT), ("alpaca", ALPACA), ("dpo", PLAIN),
                                     ("sharegpt", convert(CHAT, "chatml", "sharegpt"))])
def test_every_format_round_trips_through_the_canonical_record(fmt, obj):
    rec = to_record(fmt, obj, source="in.jsonl", line=7)
    assert rec.line == 7 and rec.source == "in.jsonl"
    assert from_record(fmt, rec) == obj


def test_record_takes_id_provenance_and_defaults_group_to_id():
    rec = to_record("chatml", CHAT, source="in.jsonl", line=2)
    assert (rec.id, rec.group, rec.provenance) == ("c1", "c1", "synthetic")
    rec2 = to_record("chatml", {"messages": [U, A]}, source="in.jsonl", line=9, group="cust-7")
    assert (rec2.id, rec2.group, rec2.provenance) == ("in.jsonl:9", "cust-7", "real")


def test_multi_turn_alpaca_round_trips_through_history():
    alp = convert(CHAT, "chatml", "alpaca")
    assert alp == {"id": "c1", "meta": {"provenance": "synthetic"}, "system": S["content"],
                   "history": [[U["content"], A["content"]]], "instruction": "Thanks", "input": "",
                   "output": "You're welcome."}
    assert validate_object(alp, "alpaca") is None
    assert convert(alp, "alpaca", "chatml") == CHAT
    assert convert(alp, "alpaca", "sharegpt") == convert(CHAT, "chatml", "sharegpt")
    assert from_record("alpaca", to_record("alpaca", alp)) == alp


def test_alpaca_refuses_a_conversation_that_ends_on_the_user_or_holds_tool_turns():
    with pytest.raises(ConversionError) as e:
        convert({"messages": [U, A, {"role": "user", "content": "Hello?"}]}, "chatml", "alpaca")
    assert e.value.reason == "convert.no_final_answer"
    with pytest.raises(ConversionError) as e:
        convert(TOOL_CHAT, "chatml", "alpaca")
    assert e.value.reason == "convert.unsupported_role"


def test_alpaca_history_pairs_must_hold_two_non_blank_turns():
    base = {"instruction": "Thanks", "output": "Welcome."}
    assert validate_object({**base, "history": [["Hi", "Hello"]]}, "alpaca") is None
    assert validate_object({**base, "history": [["Hi"]]}, "alpaca") is not None
    assert validate_object({**base, "history": [["Hi", " "]]}, "alpaca").reason == "empty_content"


def test_sft_to_dpo_and_tool_turns_to_sharegpt_are_refused():
    with pytest.raises(ConversionError) as e:
        convert({"messages": [U, A]}, "chatml", "dpo")
    assert e.value.reason == "convert.no_preference"
    with pytest.raises(ConversionError) as e:
        convert(TOOL_CHAT, "chatml", "sharegpt")
    assert e.value.reason == "convert.unsupported_role"


def test_dpo_to_chatml_trains_on_the_chosen_answer():
    chat = convert(PLAIN, "dpo", "chatml")
    assert chat["messages"] == [{"role": "user", "content": "Hi?"},
                                {"role": "assistant", "content": PLAIN["chosen"]}]
    assert validate_object(chat, "chatml") is None


def test_multi_turn_prompt_cannot_be_plain_dpo():
    conv = {"prompt": [U, A, {"role": "user", "content": "More?"}], "chosen": [A],
            "rejected": [{"role": "assistant", "content": "No."}]}
    with pytest.raises(ConversionError) as e:
        convert(conv, "dpo", "dpo", dpo_form="plain")
    assert e.value.reason == "convert.multi_turn"
