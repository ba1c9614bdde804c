"""Pre-flight check: the exact tokens that carry loss, and planted template faults caught."""
import subprocess
import sys
from pathlib import Path

import pytest

from train.labels import IGNORE, loss_runs, sft_example
from train.preflight import check_collator, end_of_turn_ids, preflight_dpo, preflight_sft, token_view
from curate.chat_template import TemplateChoice, choose_training_template

REPO = Path(__file__).resolve().parents[1]
TWO_TURNS = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello there"},
             {"role": "user", "content": "x"}, {"role": "assistant", "content": "bye"}]


@pytest.fixture(scope="module")
def tok(local_tokenizer):
    return local_tokenizer


@pytest.fixture(scope="module")
def choice(tok):
    return choose_training_template(tok)


@pytest.fixture(scope="module")
def eot(tok, local_model_dir):
    return end_of_turn_ids(tok, local_model_dir)


def _records(n=3):
    return [{"messages": TWO_TURNS, "_line": i + 1} for i in range(n)]


def _check(tok, template_or_choice, eot, records=None, **kw):
    c = template_or_choice
    if isinstance(c, str):
        c = TemplateChoice(c, c, "planted")
    opts = dict(split="train", source="train.chatml.jsonl", max_length=512, overlong="drop", eot_ids=eot)
    opts.update(kw)
    return preflight_sft(tok, c, records if records is not None else _records(), **opts)


def test_the_embedded_chatml_template_gets_generation_markers_and_renders_byte_identically(tok, choice):
    assert choice.source == "ChatML with {% generation %} markers (renders identically)" and choice.problem is None
    assert "{% generation %}" in choice.training and "{% generation %}" not in choice.original
    for gen in (False, True):
        msgs = TWO_TURNS[:-1] if gen else TWO_TURNS
        assert tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=gen) == \
            tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=gen, chat_template=choice.training)


def test_loss_falls_exactly_on_every_assistant_answer_and_its_end_token(tok, choice, eot):
    ex = sft_example(tok, TWO_TURNS, choice.training)
    trained = [tok.decode(ex.input_ids[a:b]) for a, b in loss_runs(ex.labels)]
    assert trained == ["hello there<|im_end|>", "bye<|im_end|>"]
    assert eot == {tok.convert_tokens_to_ids("<|im_end|>")}
    result = _check(tok, choice, eot)
    assert result.ok and result.errors == [] and len(result.examples) == 3
    assert result.loss_tokens == 3 * 5  # hello, ' there', <|im_end|>, bye, <|im_end|>


def test_the_token_view_brackets_each_token_that_carries_loss(tok, choice):
    ex = sft_example(tok, [{"role": "system", "content": "S"}, *TWO_TURNS[:2]], choice.training)
    assert token_view(tok, ex.input_ids, ex.labels) == (
        "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
        "[hello][ there][<|im_end|>]\n")
    coloured = token_view(tok, ex.input_ids, ex.labels, colour=True)
    assert "\x1b[1;32m[hello]\x1b[0m" in coloured


def test_a_planted_template_that_trains_user_turns_is_refused(tok, choice, eot):
    bad = choice.training.replace("{% if message['role'] == 'assistant' %}", "{% if true %}")
    result = _check(tok, bad, eot)
    assert not result.ok
    assert ("chat template: on a probe conversation, user token 'Hi' (turn 1) carries loss; "
            "only assistant turns may be trained") in result.errors
    assert ("train.chatml.jsonl:1: user token 'hi' (turn 1) carries loss; only assistant turns may be trained"
            in result.errors)


def test_a_planted_template_that_leaves_the_end_of_turn_token_out_of_the_loss_is_refused(tok, choice, eot):
    bad = choice.training.replace("{{message['content'] + '<|im_end|>'}}{% endgeneration %}",
                                  "{{message['content']}}{% endgeneration %}{{'<|im_end|>'}}")
    result = _check(tok, bad, eot)
    assert not result.ok
    assert ("train.chatml.jsonl:1: assistant turn 2's end-of-turn token '<|im_end|>' carries no loss; "
            "the model would never learn to stop") in result.errors


def test_a_planted_template_without_an_end_of_turn_token_is_refused(tok, choice, eot):
    bad = choice.training.replace("{{message['content'] + '<|im_end|>'}}{% endgeneration %}",
                                  "{{message['content']}}{% endgeneration %}")
    result = _check(tok, bad, eot)
    assert ("train.chatml.jsonl:1: assistant turn 2 is not followed by an end-of-turn token ('<|im_end|>'); "
            "the model would never learn to stop") in result.errors


def test_only_the_last_turn_trained_is_refused_for_multi_turn_conversations(tok, choice, eot):
    bad = choice.training.replace("{% if message['role'] == 'assistant' %}",
                                  "{% if message['role'] == 'assistant' and loop.last %}")
    result = _check(tok, bad, eot)
    assert ("train.chatml.jsonl:1: assistant turn 2: 2 of 2 answer tokens carry no loss "
            "(every assistant turn must be trained)") in result.errors


def test_a_template_of_another_model_family_does_not_match_the_tokenizers_special_tokens(tok, eot):
    from trl.chat_template_utils import llama3_training_chat_template

    result = _check(tok, llama3_training_chat_template, eot)
    assert not result.ok
    assert any(e.startswith("chat template: uses '<|start_header_id|>', which is not a special token of this "
                            "tokenizer") for e in result.errors)
    assert "chat template: never emits the tokenizer's eos token '<|im_end|>'; template and tokenizer do not match" \
        in result.errors


def test_a_template_without_markers_and_no_known_training_variant_is_refused(tok, eot):
    plain = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
             "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    tok2 = tok.__class__.from_pretrained(tok.name_or_path)
    tok2.chat_template = plain
    choice = choose_training_template(tok2)
    assert choice.training is None
    result = _check(tok2, choice, eot)
    assert result.errors[0].startswith("chat template: the chat template has no {% generation %} markers")


def test_over_long_examples_are_counted_and_dropped_never_truncated(tok, choice, eot):
    long = [{"role": "user", "content": "Tell me more. " * 60}, {"role": "assistant", "content": "Sure."}]
    records = _records(2) + [{"messages": long, "_line": 3}]
    result = _check(tok, choice, eot, records, max_length=64)
    assert result.ok and [e.line for e in result.examples] == [1, 2] and result.dropped_overlong == 1
    assert result.notes == [f"train.chatml.jsonl: 1 of 3 examples are longer than max_length 64 tokens "
                            f"(longest {result.longest}); dropped (policy overlong=drop), never truncated"]
    assert all(len(e) == len(sft_example(tok, TWO_TURNS, choice.training)) for e in result.examples)
    strict = _check(tok, choice, eot, records, max_length=64, overlong="error")
    assert not strict.ok and "policy overlong=error" in strict.errors[0]


def test_the_collator_keeps_the_eos_loss_although_pad_is_eos_and_a_masking_collator_is_caught(tok, choice):
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    assert tok.pad_token_id == tok.eos_token_id
    short = sft_example(tok, TWO_TURNS[:2], choice.training)
    long = sft_example(tok, TWO_TURNS, choice.training)
    trl_collator = DataCollatorForLanguageModeling(pad_token_id=tok.pad_token_id)
    assert check_collator(trl_collator, [short, long]) == []

    def masks_pad_tokens(examples):  # the classic bug: labels[input_ids == pad] = -100, with pad == eos
        batch = trl_collator(examples)
        batch["labels"][batch["input_ids"] == tok.pad_token_id] = IGNORE
        return batch

    assert check_collator(masks_pad_tokens, [short, long]) == [
        "data collator changes 1 labels of example line 0 (does it mask pad tokens while pad == eos?); "
        "the end-of-turn token would not be trained"]


def test_dpo_pairs_put_loss_only_on_each_answer_and_its_end_token(tok, choice, eot):
    rec = {"prompt": [{"role": "user", "content": "How do I pay?"}],
           "chosen": [{"role": "assistant", "content": "Use the Billing tab."}],
           "rejected": [{"role": "assistant", "content": "Dunno."}], "_line": 1}
    opts = dict(split="train", source="train.dpo.jsonl", max_length=512, overlong="drop", eot_ids=eot)
    ok = preflight_dpo(tok, choice, [rec], **opts)
    assert ok.ok and tok.decode(ok.examples[0].chosen_ids) == "Use the Billing tab.<|im_end|>\n"
    assert tok.decode(ok.examples[0].prompt_ids).endswith("<|im_start|>assistant\n")
    tok2 = tok.__class__.from_pretrained(tok.name_or_path)
    tok2.chat_template = choice.original.replace("message['content'] + '<|im_end|>'", "message['content']")
    bad = preflight_dpo(tok2, choose_training_template(tok2), [rec], **opts)
    assert ("train.dpo.jsonl:1: the chosen answer does not end with an end-of-turn token ('<|im_end|>'); "
            "the model would never learn to stop") in bad.errors


def test_check_command_passes_on_a_curate_run_and_fails_on_a_planted_template(tmp_path, choice, capsys):
    from train.cli import main

    run = tmp_path / "run"
    subprocess.run([sys.executable, "-m", "curate", "run", "data/sample", "--out", str(run), "--no-pii"],
                   cwd=REPO, check=True, capture_output=True)
    assert main(["check", "--data", str(run), "--show", "1", "--max-length", "256", "--no-color"]) == 0
    out = capsys.readouterr().out
    assert "[<|im_end|>]" in out and out.rstrip().endswith("pre-flight check passed")
    assert "dropped (policy overlong=drop), never truncated" in out
    bad = tmp_path / "bad.jinja"
    bad.write_text(choice.training.replace("{% if message['role'] == 'assistant' %}", "{% if true %}"))
    assert main(["check", "--data", str(run), "--chat-template", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err and all(line.startswith("error: ") for line in err.splitlines())
    assert "carries loss; only assistant turns may be trained" in err
