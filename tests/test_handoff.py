"""Our outputs are accepted by the real consumers: datasets and TRL's data utilities."""
import json

import pytest
from datasets import load_dataset
from trl.data_utils import apply_chat_template, is_conversational, maybe_apply_chat_template

from schemas.convert import convert
from schemas.jsonl import write_jsonl_atomic

CHAT = [
    {"messages": [{"role": "system", "content": "You are a support agent."},
                  {"role": "user", "content": "My router blinks red."},
                  {"role": "assistant", "content": "Unplug it for thirty seconds, then plug it back in."}]},
    {"messages": [{"role": "user", "content": "Can I change my plan?"},
                  {"role": "assistant", "content": "Yes, from the Plans page."},
                  {"role": "user", "content": "Today?"},
                  {"role": "assistant", "content": "Changes apply from the next billing cycle."}]},
]
DPO_PLAIN = [{"prompt": "How do I pay my bill?", "chosen": "Use the Billing tab or autopay.", "rejected": "Dunno."}]


@pytest.fixture()
def files(tmp_path):
    paths = {
        "chatml": tmp_path / "train.chatml.jsonl",
        "sharegpt": tmp_path / "train.sharegpt.jsonl",
        "alpaca": tmp_path / "train.alpaca.jsonl",
        "dpo": tmp_path / "train.dpo.jsonl",
    }
    write_jsonl_atomic(paths["chatml"], CHAT)
    write_jsonl_atomic(paths["sharegpt"], [convert(c, "chatml", "sharegpt") for c in CHAT])
    write_jsonl_atomic(paths["alpaca"], [convert(CHAT[0], "chatml", "alpaca")])
    write_jsonl_atomic(paths["dpo"], [convert(d, "dpo", "dpo", dpo_form="conversational") for d in DPO_PLAIN])
    return paths


@pytest.mark.parametrize("fmt,columns,n", [
    ("chatml", {"messages"}, 2), ("sharegpt", {"conversations"}, 2),
    ("alpaca", {"instruction", "input", "output", "system"}, 1), ("dpo", {"prompt", "chosen", "rejected"}, 1)])
def test_datasets_loads_every_format(files, fmt, columns, n):
    ds = load_dataset("json", data_files=str(files[fmt]), split="train")
    assert set(ds.column_names) == columns and len(ds) == n


def test_trl_sees_our_chatml_and_dpo_as_conversational_and_applies_the_chat_template(files, local_tokenizer):
    chat = load_dataset("json", data_files=str(files["chatml"]), split="train")
    assert is_conversational(chat[0])
    rendered = maybe_apply_chat_template(chat[1], local_tokenizer)["text"]
    assert rendered.count("<|im_start|>assistant\n") == 2
    assert "Changes apply from the next billing cycle.<|im_end|>" in rendered

    dpo = load_dataset("json", data_files=str(files["dpo"]), split="train")
    assert is_conversational(dpo[0])
    out = apply_chat_template(dpo[0], local_tokenizer)
    assert out["prompt"].endswith("<|im_start|>assistant\n")
    assert out["chosen"].startswith("Use the Billing tab or autopay.")
    assert out["rejected"].startswith("Dunno.")
    assert json.loads(files["dpo"].read_text())["chosen"][0]["role"] == "assistant"
