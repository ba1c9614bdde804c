"""The format models accept good records and name what is wrong with bad ones."""
import pytest

from schemas.validate import validate_object

U = {"role": "user", "content": "How do I reset my router?"}
A = {"role": "assistant", "content": "Hold the reset button for ten seconds."}
S = {"role": "system", "content": "You are a support agent."}


@pytest.mark.parametrize("obj", [
    {"messages": [U, A]},
    {"messages": [S, U, A]},
    {"messages": [S, U, A, U, A], "id": "c1", "meta": {"provenance": "synthetic"}},
    {"messages": [U, {"role": "assistant", "content": "calling", "tool_calls": [{"id": "t1"}]},
                  {"role": "tool", "content": "{\"ok\": true}", "tool_call_id": "t1"}, A]},
    {"messages": [U, A, U]},  # ends on user: valid format, the quality filter decides
])
def test_good_chatml_records_are_valid(obj):
    assert validate_object(obj, "chatml") is None


@pytest.mark.parametrize("obj,reason,field", [
    ({"messages": [U]}, "no_assistant", "messages"),
    ({"messages": [A, U]}, "turn_order", "messages"),
    ({"messages": [U, S, A]}, "turn_order", "messages"),
    ({"messages": [U, U, A]}, "turn_order", "messages"),
    ({"messages": [U, A, A]}, "turn_order", "messages"),
    ({"messages": [U, {"role": "tool", "content": "x"}, A]}, "turn_order", "messages"),
    ({"messages": [U, {"role": "bot", "content": "x"}]}, "unknown_role", "messages[1].role"),
    ({"messages": [U, {"role": "assistant", "content": ""}]}, "empty_content", "messages[1]"),
    ({"messages": [U, {"role": "assistant", "content": "  \n"}]}, "empty_content", "messages[1]"),
    ({"messages": [U, {"role": "assistant"}]}, "missing_field", "messages[1].content"),
    ({"messages": [U, {"role": "assistant", "content": 42}]}, "wrong_type", "messages[1].content"),
    ({"messages": "hello"}, "wrong_type", "messages"),
    ({"messages": []}, "empty_list", "messages"),
    ({"messages": [U, {"role": "assistant", "content": "x", "score": 1}]}, "unknown_field", "messages[1].score"),
])
def test_bad_chatml_records_name_the_field_and_reason(obj, reason, field):
    p = validate_object(obj, "chatml")
    assert (p.reason, p.field) == (reason, field)


def test_alpaca_requires_instruction_and_output_and_allows_empty_input():
    assert validate_object({"instruction": "Summarise", "input": "", "output": "Short."}, "alpaca") is None
    assert validate_object({"instruction": "Summarise", "output": "Short."}, "alpaca") is None
    assert validate_object({"instruction": "Summarise"}, "alpaca").reason == "missing_field"
    assert validate_object({"instruction": " ", "output": "x"}, "alpaca").reason == "empty_content"
    assert validate_object({"instruction": "a", "input": ["x"], "output": "x"}, "alpaca").reason == "wrong_type"


def test_sharegpt_checks_roles_and_order():
    good = {"conversations": [{"from": "system", "value": "s"}, {"from": "human", "value": "q"},
                              {"from": "gpt", "value": "a"}]}
    assert validate_object(good, "sharegpt") is None
    p = validate_object({"conversations": [{"from": "user", "value": "q"}]}, "sharegpt")
    assert (p.reason, p.field) == ("unknown_role", "conversations[0].from")
    p = validate_object({"conversations": [{"from": "gpt", "value": "a"}, {"from": "human", "value": "q"}]},
                        "sharegpt")
    assert p.reason == "turn_order"


def test_dpo_accepts_both_trl_forms_and_refuses_identical_answers():
    plain = {"prompt": "Hi?", "chosen": "Hello, how can I help?", "rejected": "What."}
    conv = {"prompt": [S, U], "chosen": [A], "rejected": [{"role": "assistant", "content": "No."}]}
    assert validate_object(plain, "dpo") is None
    assert validate_object(conv, "dpo") is None
    assert validate_object({**plain, "rejected": " Hello, how can I help? "}, "dpo").reason == "chosen_equals_rejected"
    assert validate_object({**conv, "rejected": [A]}, "dpo").reason == "chosen_equals_rejected"
    assert validate_object({**conv, "prompt": [U, A]}, "dpo").reason == "turn_order"
    assert validate_object({**conv, "chosen": [U]}, "dpo").reason == "wrong_role"
    assert validate_object({**conv, "chosen": [A, A]}, "dpo").reason == "too_many"
    assert validate_object({"prompt": "x", "chosen": "y"}, "dpo").reason == "missing_field"


def test_error_messages_never_echo_free_text():
    secret = "my card is 4111 1111 1111 1111"
    p = validate_object({"messages": [U, {"role": secret, "content": "x"}]}, "chatml")
    assert p.reason == "unknown_role" and secret not in p.message
    p = validate_object({"messages": [U, {"role": "assistant", "content": 4111111111111111}]}, "chatml")
    assert "4111" not in p.message
