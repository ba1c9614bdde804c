"""Evaluation pieces: format compliance, the verdict, the few-shot baseline, the general set, scoring."""
import json
import math

import pytest

from train.config import load_config
from train.evaluate import (GENERAL_SET, EvalContext, answer_complies, evaluate_split, load_general_set, pick_shots,
                            reference_compliance, render_markdown, verdict, with_shots)
from train.labels import IGNORE, loss_runs, mask_first_runs


def test_json_compliance_needs_an_object_with_every_required_key():
    keys = ["intent", "priority"]
    assert answer_complies('{"intent": "refund", "priority": 2}', "json", keys)
    assert answer_complies('```json\n{"intent": "refund", "priority": 2, "x": 1}\n```', "json", keys)
    assert not answer_complies('{"intent": "refund"}', "json", keys)
    assert not answer_complies('["intent", "priority"]', "json", keys)
    assert not answer_complies("Sure! Here it is: {", "json", keys)
    assert answer_complies("Ticket TKT-123 opened", "regex", pattern=r"TKT-\d+")
    assert not answer_complies("no ticket", "regex", pattern=r"TKT-\d+")


def _m(loss, fmt=None):
    return {"loss": loss, **({"format_compliance": fmt} if fmt is not None else {})}


def test_verdict_calls_a_run_better_only_when_the_target_improved_on_every_split():
    ok = verdict({"val": {"base": _m(2.0), "few_shot": _m(1.9), "tuned": _m(1.5)},
                  "test": {"base": _m(2.1), "tuned": _m(1.8)}}, "loss")
    assert ok["better"] is True and ok["beats_few_shot"] is True and ok["lower_is_better"] is True
    assert ok["reasons"] == ["val loss improved: 2 -> 1.5 (-0.5)", "test loss improved: 2.1 -> 1.8 (-0.3)"]

    worse_on_test = verdict({"val": {"base": _m(2.0), "tuned": _m(1.5)}, "test": {"base": _m(2.1), "tuned": _m(2.2)}},
                            "loss")
    assert worse_on_test["better"] is False and worse_on_test["beats_few_shot"] is None
    assert worse_on_test["reasons"][1] == "test loss did not improve: base 2.1, tuned 2.2 (+0.1)"

    unchanged = verdict({"val": {"base": _m(2.0), "tuned": _m(2.0)}}, "loss")
    assert unchanged["better"] is False
    too_small = verdict({"val": {"base": _m(2.0), "tuned": _m(1.99)}}, "loss", min_improvement=0.05)
    assert too_small["better"] is False and too_small["reasons"][0].endswith("needs a gain over 0.05")
    nan = verdict({"val": {"base": _m(2.0), "tuned": _m(math.nan)}}, "loss")
    assert nan["better"] is False
    assert verdict({}, "loss")["better"] is False

    fmt = verdict({"val": {"base": _m(2.0, 0.25), "few_shot": _m(2.0, 0.75), "tuned": _m(1.0, 0.5)}},
                  "format_compliance")
    assert fmt["better"] is True and fmt["beats_few_shot"] is False and fmt["lower_is_better"] is False


def test_markdown_report_has_a_table_per_split_and_says_not_better():
    report = {"task": "sft", "splits": {"val": {"base": {"examples": 3, "loss": 2.0, "perplexity": 7.39},
                                                "tuned": {"examples": 3, "loss": 2.5, "perplexity": 12.18}}},
              "reference_format_compliance": {"val": None}}
    report["verdict"] = verdict(report["splits"], "loss")
    md = render_markdown(report)
    assert "| loss | 2 | – | 2.5 | +0.5 |" in md
    assert "**Not better**: the target metric did not improve." in md
    assert "- val loss did not improve: base 2, tuned 2.5 (+0.5)" in md


def test_few_shot_baseline_takes_seeded_train_turns_after_the_system_turn():
    train = [{"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": f"q{i}"},
                           {"role": "assistant", "content": f"a{i}"}]} for i in range(10)]
    shots = pick_shots(train, 2, seed=7)
    assert shots == pick_shots(train, 2, seed=7) and len(shots) == 4
    assert [m["role"] for m in shots] == ["user", "assistant", "user", "assistant"]
    assert shots[1]["content"] == "a" + shots[0]["content"][1:]
    msgs = [{"role": "system", "content": "sys"}, {"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]
    assert [m["content"] for m in with_shots(msgs, shots)] == ["sys", *[m["content"] for m in shots], "Q", "A"]
    assert pick_shots(train, 0, seed=1) == []


def test_masking_demonstration_answers_keeps_only_the_real_answer():
    labels = [IGNORE, 5, 6, IGNORE, IGNORE, 7, IGNORE, 8, 9]
    assert loss_runs(labels) == [(1, 3), (5, 6), (7, 9)]
    assert mask_first_runs(labels, 2) == [IGNORE] * 7 + [8, 9]


def test_scoring_batches_are_bounded_in_tokens_longest_first():
    from train.evaluate import _batches

    assert _batches([10, 300, 200, 50], batch_tokens=400) == [[1], [2, 3], [0]]
    assert _batches([5000], batch_tokens=400) == [[0]]  # a longer sequence still gets its own batch


def test_the_shipped_general_instruction_set_validates_and_has_dozens_of_items():
    from schemas.validate import validate_file

    report = validate_file(GENERAL_SET, "chatml")
    assert report.records == report.valid == 40
    cfg = load_config(None, overrides=["eval.general_max=5"])
    assert len(load_general_set(cfg)) == 5
    assert load_general_set(load_config(None, overrides=["eval.general_max=0"])) == []


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, local_model_dir):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from train.testing import build_random_model

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matmuls: one thread avoids spin contention on shared cores
    path = build_random_model("tiny", tmp_path_factory.mktemp("eval") / "tiny", tokenizer_dir=local_model_dir)
    yield AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)
    torch.set_num_threads(threads)


def test_scoring_and_format_compliance_on_a_tiny_model(tiny):
    from train.preflight import end_of_turn_ids
    from curate.chat_template import choose_training_template

    model, tok = tiny
    answer = json.dumps({"intent": "refund", "priority": 2})
    records = [{"messages": [{"role": "user", "content": f"Classify ticket {i}."},
                             {"role": "assistant", "content": answer}]} for i in range(3)]
    cfg = load_config(None, overrides=["eval.output_format=json", "eval.required_keys=[intent, priority]",
                                       "eval.generate_examples=2", "eval.max_new_tokens=3", "eval.max_examples=3"])
    ctx = EvalContext(tok, choose_training_template(tok).training, cfg, end_of_turn_ids(tok), pick_shots(records, 1, 0))
    zero = evaluate_split(model, ctx, records, few_shot=False)
    few = evaluate_split(model, ctx, records, few_shot=True)
    assert zero["examples"] == 3 and zero["generated"] == 2 and zero["format_compliance"] == 0.0
    assert math.isfinite(zero["loss"]) and zero["perplexity"] == pytest.approx(math.exp(zero["loss"]))
    # The demonstration's own answer carries no loss: the same answer tokens are scored in both systems.
    assert few["tokens"] == zero["tokens"]
    assert reference_compliance(records, cfg) == 1.0
