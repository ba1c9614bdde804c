"""Token ids and loss labels, built once and handed to the trainers unchanged.

SFT: the conversation is rendered with the training template (generation
markers, see curate.chat_template) and ``labels`` are the token ids on assistant
tokens (answer text and its end-of-turn token) and -100 elsewhere. The SFT
trainer receives these columns as they are, so the pre-flight check inspects
exactly what is trained.

DPO: prompt / chosen / rejected ids exactly as TRL 1.16's DPOTrainer builds
them (its own ``_tokenize`` and ``common_prefix_length``); the DPO run checks
that the trainer's dataset holds the same ids.
"""
from __future__ import annotations

from dataclasses import dataclass, field

IGNORE = -100


@dataclass
class SFTExample:
    input_ids: list[int]
    labels: list[int]
    line: int = 0
    messages: list[dict] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.input_ids)


@dataclass
class DPOExample:
    prompt_ids: list[int]
    chosen_ids: list[int]
    rejected_ids: list[int]
    line: int = 0
    prompt_is_prefix: bool = True
    record: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.prompt_ids) + max(len(self.chosen_ids), len(self.rejected_ids))


def chat_messages(messages: list[dict]) -> list[dict]:
    """Messages as chat templates expect them (no private keys)."""
    return [{k: v for k, v in m.items() if not k.startswith("_")} for m in messages]


def render(tokenizer, messages: list[dict], template: str | None = None, generation_prompt: bool = False) -> str:
    return tokenizer.apply_chat_template(chat_messages(messages), tokenize=False, chat_template=template,
                                         add_generation_prompt=generation_prompt)


def sft_example(tokenizer, messages: list[dict], training_template: str, line: int = 0) -> SFTExample:
    """Ids and labels of one conversation: loss on every assistant turn's tokens only."""
    out = tokenizer.apply_chat_template(chat_messages(messages), tokenize=True, return_dict=True,
                                        return_assistant_tokens_mask=True, chat_template=training_template)
    ids = list(out["input_ids"])
    mask = list(out["assistant_masks"])
    labels = [t if m else IGNORE for t, m in zip(ids, mask)]
    return SFTExample(ids, labels, line, messages)


def dpo_example(tokenizer, record: dict, line: int = 0) -> DPOExample:
    """TRL 1.16's DPO tokenization of a conversational pair (prompt with generation prompt,
    then prompt + answer; the answer starts where the two diverge)."""
    from trl.data_utils import _tokenize, common_prefix_length

    prompt = chat_messages(record["prompt"])
    prompt_ids = _tokenize(tokenizer, prompt, add_generation_prompt=True)["input_ids"]
    pc = _tokenize(tokenizer, prompt + chat_messages(record["chosen"]))["input_ids"]
    pr = _tokenize(tokenizer, prompt + chat_messages(record["rejected"]))["input_ids"]
    n = min(common_prefix_length(prompt_ids, pc), common_prefix_length(prompt_ids, pr))
    return DPOExample(list(prompt_ids[:n]), list(pc[n:]), list(pr[n:]), line, n == len(prompt_ids), record)


def loss_runs(labels: list[int]) -> list[tuple[int, int]]:
    """Contiguous [start, end) runs of positions that carry loss."""
    runs, start = [], None
    for i, lab in enumerate(labels):
        if lab != IGNORE and start is None:
            start = i
        elif lab == IGNORE and start is not None:
            runs.append((start, i))
            start = None
    if start is not None:
        runs.append((start, len(labels)))
    return runs


def mask_first_runs(labels: list[int], k: int) -> list[int]:
    """Labels with the first `k` loss runs (e.g. few-shot demonstration answers) set to -100."""
    out = list(labels)
    for a, b in loss_runs(labels)[:k]:
        out[a:b] = [IGNORE] * (b - a)
    return out
