"""The perplexity filter, with the real embedded model (SmolLM2-135M-Instruct) on a handful of short texts."""
from __future__ import annotations

import math

import polars as pl
import pytest
from pydantic import ValidationError

from curate.frame import FRAME_SCHEMA, records_to_frame
from schemas.local_model import ModelNotFoundError
from curate.perplexity import (
    IGNORE_INDEX,
    PerplexityConfig,
    encode_conversations,
    filter_perplexity,
    load_model,
    score_conversations,
    score_perplexity,
)
from curate.step import REJECT_SCHEMA
from schemas.record import Record

pytestmark = pytest.mark.slow

SYSTEM = "You are a support agent."  # short: the template's default system prompt is three times longer
ANSWERS = {
    "router": ("How do I reset my router?",
               "Unplug the router, wait thirty seconds, and plug it back in. "
               "The lights should turn green within two minutes."),
    "roaming": ("What's roaming cost in Spain?",
                "Roaming in Spain is included in your plan at no extra cost, up to 20 GB of data per month."),
    "thanks": ("thx that worked", "Great to hear! Is there anything else I can help you with today?"),
    "password": ("How do I reset my password?",
                 "Go to Settings, then Account, then Password, and click 'Forgot password'. "
                 "We will email you a link."),
    "mash": ("How do I reset my router?", "asdkj qwelk zxcmn poiuy lkjhg mnbvc qwert yuiop asdfg hjklz."),
    "repeat": ("How do I reset my router?", "I can help you with that. " * 8),
}
CLEAN = ("router", "roaming", "thanks", "password")


def conversation(rid: str) -> list[dict]:
    question, answer = ANSWERS[rid]
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question},
            {"role": "assistant", "content": answer}]


def record(rid: str, messages: list[dict], chosen: str | None = None) -> Record:
    return Record(id=rid, source="in.jsonl", line=1, group=rid, messages=messages,
                  chosen={"role": "assistant", "content": chosen} if chosen else None)


@pytest.fixture(scope="module", autouse=True)
def one_cpu_thread():
    """Score on one torch thread: on the shared 2-core machines two threads spin against other jobs
    (this module took 60 s with two threads and 15 s with one under the same load)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tokenizer():
    return load_model(PerplexityConfig())[1]


@pytest.fixture(scope="module")
def scores() -> dict[str, float]:
    """Every example scored once, in one batch."""
    ids = list(ANSWERS)
    return dict(zip(ids, score_perplexity([conversation(i) for i in ids], PerplexityConfig(batch_size=8))))


def labelled_text(tokenizer, conv: list[dict], max_tokens: int = 2048) -> str:
    enc = encode_conversations(tokenizer, [conv], max_tokens)[0]
    return tokenizer.decode([t for t, label in zip(enc.input_ids, enc.labels) if label != IGNORE_INDEX])


def test_user_turn_tokens_carry_no_loss_only_assistant_content_and_its_end_token(tokenizer):
    conv = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello there"},
            {"role": "user", "content": "ok"}, {"role": "assistant", "content": "bye"}]
    enc = encode_conversations(tokenizer, [conv], 2048)[0]
    labelled = [(tokenizer.decode([t]), label != IGNORE_INDEX) for t, label in zip(enc.input_ids, enc.labels)]

    assert [tok for tok, scored in labelled if scored] == ["hello", " there", "<|im_end|>", "bye", "<|im_end|>"]
    assert all(label in (IGNORE_INDEX, token) for token, label in zip(enc.input_ids, enc.labels))
    # The default system prompt, both user turns, the role headers and the newline after each
    # <|im_end|> are context only.
    text = tokenizer.decode(enc.input_ids)
    assert text.startswith("<|im_start|>system\nYou are a helpful AI assistant")
    assert [tok for tok, scored in labelled if not scored].count("ok") == 1
    assert enc.n_scored == 5


def test_a_template_that_is_not_prefix_stable_still_labels_the_assistant_content(tokenizer):
    conv = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": " hello there "},
            {"role": "user", "content": "ok"}, {"role": "assistant", "content": "bye"}]
    original = tokenizer.chat_template
    # A header that counts the turns: rendering a prefix no longer gives a prefix of the text,
    # so spans are found by searching for each (trimmed) content instead.
    tokenizer.chat_template = ("{{ messages | length }} turns\n{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
                               "{{ m['content'] | trim }}<|im_end|>\n{% endfor %}")
    try:
        assert labelled_text(tokenizer, conv) == "hello there<|im_end|>bye<|im_end|>"
    finally:
        tokenizer.chat_template = original


def test_a_clean_english_answer_scores_far_lower_than_keyboard_mash(scores):
    for rid in CLEAN:
        assert 3 < scores[rid] < 100, (rid, scores[rid])
        assert scores["mash"] > 5 * scores[rid], (rid, scores[rid], scores["mash"])
    assert scores["mash"] > 250


def test_degenerate_repetition_scores_very_low(scores):
    assert scores["repeat"] < 3
    assert scores["repeat"] < min(scores[rid] for rid in CLEAN) / 2


def test_scores_do_not_depend_on_order_or_batching(scores):
    # Another order and batches of 2 instead of one batch of 6: sorted by length, "repeat" and
    # "router" share a batch (other padding than in the fixture) and "thanks" runs alone (no padding).
    ids = ["thanks", "repeat", "router"]
    again = score_perplexity([conversation(i) for i in ids], PerplexityConfig(batch_size=2))

    for rid, value in zip(ids, again):
        assert value == pytest.approx(scores[rid], rel=1e-3), rid


def test_percentile_thresholds_reject_exactly_the_top_and_bottom_of_the_run(scores):
    frame = records_to_frame([record(rid, conversation(rid)) for rid in ANSWERS])
    config = PerplexityConfig(max_ppl=None, min_ppl=None, upper_percentile=80, lower_percentile=20)
    result = filter_perplexity(frame, config, progress=False)

    assert result.kept["id"].to_list() == list(CLEAN)
    assert dict(zip(result.rejects["id"], result.rejects["reason"])) == {
        "mash": "perplexity.too_high", "repeat": "perplexity.too_low"}
    for rid, detail in zip(result.rejects["id"], result.rejects["detail"]):
        assert float(detail) == pytest.approx(scores[rid], rel=1e-3)  # the detail is the number alone
    assert result.kept.schema["ppl"] == pl.Float64
    assert result.kept.columns == [*FRAME_SCHEMA, "ppl"]
    assert result.kept["ppl"].to_list() == pytest.approx([scores[rid] for rid in CLEAN], rel=1e-3)
    assert result.rejects.schema == pl.Schema(REJECT_SCHEMA)


def test_absolute_thresholds_preference_records_and_records_without_assistant_tokens(scores):
    long_question = "Please read this. " * 40 + "What now?"
    frame = records_to_frame([
        record("router", conversation("router")),
        record("mash", conversation("mash")),
        record("repeat", conversation("repeat")),
        record("dpo", conversation("thanks")[:2], chosen=ANSWERS["thanks"][1]),
        record("ends_on_user", conversation("router")[:2]),
        record("cut_off", [{"role": "system", "content": SYSTEM}, {"role": "user", "content": long_question},
                           {"role": "assistant", "content": "Done."}]),
    ])
    config = PerplexityConfig(max_ppl=200, min_ppl=3, max_tokens=96)
    result = filter_perplexity(frame, config, progress=False)

    assert result.kept["id"].to_list() == ["router", "dpo"]
    assert dict(zip(result.rejects["id"], result.rejects["reason"])) == {
        "mash": "perplexity.too_high", "repeat": "perplexity.too_low",
        "ends_on_user": "perplexity.no_assistant_tokens", "cut_off": "perplexity.no_assistant_tokens"}
    assert result.kept["ppl"].to_list() == pytest.approx([scores["router"], scores["thanks"]], rel=1e-3)
    report = result.report
    assert (report.n_in, report.n_kept, report.n_rejected) == (6, 2, 4)
    assert report.stats["n_scored"] == 4
    geometric = math.exp(report.stats["log_ppl_sum"] / report.stats["n_scored"])
    expected = math.exp(sum(math.log(scores[r]) for r in ("router", "mash", "repeat", "thanks")) / 4)
    assert geometric == pytest.approx(expected, rel=1e-3)
    assert report.stats["tokens"] > 0 and report.stats["nll_sum"] > 0


def test_the_scorer_reports_tokens_and_nll_that_give_the_score():
    (s,) = score_conversations([conversation("router")], PerplexityConfig(cpu_threads=1))
    assert s.n_tokens > 20 and math.exp(s.nll_sum / s.n_tokens) == pytest.approx(s.ppl)


def test_cpu_threads_apply_while_scoring_and_are_restored_afterwards():
    import torch

    from curate.perplexity import _cpu_threads

    before = torch.get_num_threads()
    with _cpu_threads(3):
        assert torch.get_num_threads() == 3
    assert torch.get_num_threads() == before


def test_a_disabled_step_keeps_everything_with_a_null_score():
    frame = records_to_frame([record("a", conversation("mash"))])
    result = filter_perplexity(frame, PerplexityConfig(enabled=False), progress=False)
    assert result.kept["id"].to_list() == ["a"] and result.kept["ppl"].to_list() == [None]
    assert result.rejects.height == 0


def test_an_empty_frame_loads_nothing_and_keeps_nothing():
    result = filter_perplexity(pl.DataFrame(schema=FRAME_SCHEMA), PerplexityConfig(), progress=False)
    assert result.kept.height == 0 and result.report.n_in == 0 and "ppl" in result.kept.columns


def test_the_model_is_loaded_once_per_process(tokenizer):
    assert load_model(PerplexityConfig(batch_size=3))[1] is tokenizer


def test_a_missing_model_folder_is_one_clear_error():
    with pytest.raises(ModelNotFoundError, match="never downloaded"):
        score_perplexity([conversation("router")], PerplexityConfig(model_path="/nonexistent/model"))


def test_importing_the_module_imports_neither_torch_nor_transformers_nor_polars():
    import subprocess
    import sys

    code = ("import sys, curate.perplexity; "
            "print(sorted({'torch', 'transformers', 'polars'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_config_is_frozen_strict_and_documented():
    with pytest.raises(ValidationError, match="extra"):
        PerplexityConfig(max_perplexity=3)
    with pytest.raises(ValidationError, match="min_ppl"):
        PerplexityConfig(min_ppl=10, max_ppl=5)
    with pytest.raises(ValidationError, match="lower_percentile"):
        PerplexityConfig(lower_percentile=90, upper_percentile=10)
    with pytest.raises(ValidationError):
        PerplexityConfig(upper_percentile=100)
    with pytest.raises(ValidationError):
        PerplexityConfig(device="gpu")
    config = PerplexityConfig()
    with pytest.raises(ValidationError):
        config.batch_size = 2  # type: ignore[misc]
    assert all(field.description for field in PerplexityConfig.model_fields.values())
