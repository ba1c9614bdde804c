"""Perplexity filter: score each record's assistant turns with a small causal LM, drop both tails.

The score of a record is the perplexity of its assistant tokens given the
conversation before them: the conversation is rendered with the tokenizer's
chat template, and only the tokens of assistant contents and the end-of-turn
token that closes each of them (``<|im_end|>`` in ChatML) carry loss. System
and user turns, role headers and the template's separators are context only.
A preference record (``chosen`` set, ``messages`` being the prompt) is scored
on its ``chosen`` answer; ``rejected`` is not scored.

Gibberish and keyboard mash score high, degenerate repetition very low, so the
step can reject both tails: by absolute value (``max_ppl`` / ``min_ppl``) or
by percentile of the scores of this call (``upper_percentile`` /
``lower_percentile``). A percentile is computed over the frame passed in, so
on sharded runs it is per shard: for one global cut, score every shard first
and pass the resulting value as ``max_ppl``.

Speed: conversations are sorted by token length and batched so that padding
is small, the original order is restored afterwards, and the output
projection (a fifth of this model's compute and most of its memory at 49k
vocabulary) runs only on the assistant positions. The model is loaded once per
process (cached by path, device and dtype). torch, transformers and polars are
imported inside the functions that need them.
"""
from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal, Sequence

from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    import polars as pl
    import torch

    from curate.step import StepResult

STEP = "perplexity"
REASONS: tuple[str, ...] = (f"{STEP}.no_assistant_tokens", f"{STEP}.too_high", f"{STEP}.too_low")
SCORE_COLUMN = "ppl"
IGNORE_INDEX = -100
CPU_BATCH_SIZE, CUDA_BATCH_SIZE = 1, 32  # batch_size=None picks by device
_LM_HEAD_CHUNK = 2048  # assistant positions per output-projection call: bounds the float32 logits memory

Percentile = Annotated[float, Field(gt=0.0, lt=100.0)]
PositiveFloat = Annotated[float, Field(gt=0.0)]


class PerplexityConfig(BaseModel):
    """Configuration of the `filter_perplexity` step."""

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    enabled: bool = Field(default=True, description="Score and filter; when off every record is kept with "
                                                    "a null ppl column and no model is loaded.")
    model_path: str | None = Field(
        default=None, description="Local Hugging Face causal-LM folder; null = the embedded "
                                  "SmolLM2-135M-Instruct (`resolve_model_path(None)`). Never downloaded.")
    batch_size: Annotated[int, Field(ge=1, le=4096)] | None = Field(
        default=None, description="Conversations per forward pass (after sorting by token length); null = "
                                  f"{CPU_BATCH_SIZE} on CPU (batching only adds padding there: measured "
                                  f"fastest), {CUDA_BATCH_SIZE} on CUDA.")
    max_tokens: Annotated[int, Field(ge=16)] = Field(
        default=2048, description="Rendered conversations are cut to this many tokens; assistant tokens "
                                  "past the cut are not scored.")
    device: Annotated[str, Field(pattern=r"^(auto|cpu|cuda(:\d+)?|mps)$")] = Field(
        default="auto", description="auto = CUDA if available, else CPU; or cpu, cuda, cuda:N, mps.")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        default="auto", description="auto = bfloat16 on CUDA, float32 elsewhere.")
    cpu_threads: Annotated[int, Field(ge=1, le=512)] | None = Field(
        default=None, description="torch CPU threads while scoring (restored afterwards); null = torch's "
                                  "default (all cores). On a machine shared with other jobs, 1 avoids threads "
                                  "spinning on busy cores: measured 4x faster on 2 shared cores.")
    max_ppl: PositiveFloat | None = Field(
        default=150.0, description="Reject with perplexity.too_high above this (null: no absolute cap). "
                                   "Suits the embedded model: the 275 clean records of data/sample measured "
                                   "8-84, keyboard mash and word salad 185-4200.")
    min_ppl: PositiveFloat | None = Field(
        default=None, description="Reject with perplexity.too_low below this (null: no absolute floor). Off "
                                  "by default: with the embedded model a short well-known answer (1.4) can "
                                  "score below degenerate repetition (1.7-5).")
    upper_percentile: Percentile | None = Field(
        default=None, description="Also reject scores above this percentile (0-100, linear interpolation) "
                                  "of the scores in this call, e.g. 98.")
    lower_percentile: Percentile | None = Field(
        default=None, description="Also reject scores below this percentile of the scores in this call, "
                                  "e.g. 1.")

    @model_validator(mode="after")
    def _ordered(self) -> "PerplexityConfig":
        if self.min_ppl is not None and self.max_ppl is not None and self.min_ppl >= self.max_ppl:
            raise ValueError(f"min_ppl ({self.min_ppl}) must be below max_ppl ({self.max_ppl})")
        if (self.lower_percentile is not None and self.upper_percentile is not None
                and self.lower_percentile >= self.upper_percentile):
            raise ValueError(f"lower_percentile ({self.lower_percentile}) must be below "
                             f"upper_percentile ({self.upper_percentile})")
        return self


# --------------------------------------------------------------------------- model loading

_CACHE: dict[tuple[str, str, str], tuple[Any, Any]] = {}
_CACHE_LOCK = threading.Lock()


def resolve_device(device: str = "auto", dtype: str = "auto") -> tuple["torch.device", "torch.dtype"]:
    """The torch device and dtype for a config's ``device`` / ``dtype`` (auto: CUDA bf16, else CPU fp32)."""
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    if dtype == "auto":
        dtype = "bfloat16" if dev.type == "cuda" else "float32"
    return dev, getattr(torch, dtype)


def load_model(config: PerplexityConfig) -> tuple[Any, Any]:
    """``(model, tokenizer)`` for `config`, loaded once per process per (path, device, dtype)."""
    from schemas.local_model import resolve_model_path

    path = resolve_model_path(config.model_path)
    device, dtype = resolve_device(config.device, config.dtype)
    key = (str(path), str(device), str(dtype))
    with _CACHE_LOCK:
        if key not in _CACHE:
            from transformers import AutoModelForCausalLM, AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, local_files_only=True)
            model.to(device).eval()
            _CACHE[key] = (model, tokenizer)
        return _CACHE[key]


def clear_model_cache() -> None:
    """Forget every loaded model (frees its memory once nothing else holds it)."""
    with _CACHE_LOCK:
        _CACHE.clear()


# --------------------------------------------------------------------------- encoding


@dataclass(frozen=True)
class Encoded:
    """One rendered conversation: token ids and labels (-100 except on scored assistant tokens)."""

    input_ids: list[int]
    labels: list[int]

    @property
    def n_scored(self) -> int:
        # Position 0 is never predicted, so a label there cannot count.
        return sum(1 for x in self.labels[1:] if x != IGNORE_INDEX)


def _render(tokenizer, messages: Sequence[dict], generation_prompt: bool = False) -> str:
    return tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=generation_prompt)


def _end_tokens(tokenizer) -> list[str]:
    """Special tokens that close a turn (``<|im_end|>``, ``<|eot_id|>``, ``</s>``...), longest first."""
    names = {tokenizer.eos_token} | {t for t in tokenizer.all_special_tokens
                                     if any(k in t.lower() for k in ("end", "eot", "</s>"))}
    return sorted((t for t in names if t), key=len, reverse=True)


def assistant_spans(tokenizer, messages: Sequence[dict]) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character spans of its assistant turns.

    A span runs from the first character of the assistant content to the end
    of the end-of-turn token. It is found by rendering prefixes: the text
    after "conversation so far + generation prompt" up to "conversation
    through this turn" (trailing whitespace after the end token dropped). That
    holds for any template that renders a prefix of the conversation as a
    prefix of the text, and sees content the template rewrites (trims); for a
    template that does not, the content is searched for in the rendered text.
    """
    text = _render(tokenizer, messages)
    spans: list[tuple[int, int]] = []
    cursor = 0
    ends = _end_tokens(tokenizer)
    for i, message in enumerate(messages):
        if message.get("role") != "assistant":
            continue
        span = None
        if i > 0:
            try:
                before = _render(tokenizer, messages[:i], generation_prompt=True)
                through = _render(tokenizer, messages[: i + 1]).rstrip()
            except Exception:  # a template may refuse a prefix (e.g. "must end with an assistant turn")
                before = through = ""
            if through.startswith(before) and text.startswith(through) and len(through) > len(before):
                span = (len(before), len(through))
        if span is None:
            content = message.get("content") or ""
            pos = text.find(content, cursor) if content else -1
            if pos < 0 and content.strip():
                content = content.strip()
                pos = text.find(content, cursor)
            if pos < 0:
                continue
            end = pos + len(content)
            for token in ends:
                if text.startswith(token, end):
                    end += len(token)
                    break
            span = (pos, end)
        spans.append(span)
        cursor = span[1]
    return text, spans


def encode_conversations(tokenizer, conversations: Sequence[Sequence[dict]], max_tokens: int) -> list[Encoded]:
    """Render, tokenize (with char offsets) and label a batch of conversations."""
    import numpy as np

    rendered = [assistant_spans(tokenizer, _clean(c)) for c in conversations]
    enc = tokenizer([text for text, _ in rendered], add_special_tokens=False, return_offsets_mapping=True,
                    truncation=True, max_length=max_tokens)
    out = []
    for (_, spans), ids, offsets in zip(rendered, enc["input_ids"], enc["offset_mapping"]):
        off = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
        starts, ends = off[:, 0], off[:, 1]
        scored = np.zeros(len(ids), dtype=bool)
        for s, e in spans:
            scored |= (starts < e) & (ends > s) & (ends > starts)
        labels = np.where(scored, np.asarray(ids, dtype=np.int64), IGNORE_INDEX)
        out.append(Encoded(list(ids), labels.tolist()))
    return out


def _clean(conversation: Sequence[dict]) -> list[dict]:
    """Only role and content reach the template (a frame's tool_calls are JSON strings, not lists)."""
    return [{"role": m.get("role"), "content": m.get("content") or ""} for m in conversation]


# --------------------------------------------------------------------------- scoring


@dataclass(frozen=True)
class Score:
    """The perplexity of one conversation (nan when it has no scored tokens) and its parts."""

    ppl: float
    nll_sum: float
    n_tokens: int


def score_perplexity(conversations: Sequence[Sequence[dict]], config: PerplexityConfig | None = None, *,
                     progress: bool = False, model: Any = None, tokenizer: Any = None) -> list[float]:
    """Perplexity of the assistant turns of each conversation (OpenAI-style ``{"role", "content"}``
    dicts), in input order; nan for a conversation with no assistant token.

    `model` / `tokenizer` override the ones `config` names (e.g. a model built in memory).
    """
    return [s.ppl for s in score_conversations(conversations, config, progress=progress, model=model,
                                               tokenizer=tokenizer)]


def score_conversations(conversations: Sequence[Sequence[dict]], config: PerplexityConfig | None = None, *,
                        progress: bool = False, model: Any = None, tokenizer: Any = None) -> list[Score]:
    """Like `score_perplexity`, with each record's summed NLL and scored token count."""
    config = config or PerplexityConfig()
    if model is None or tokenizer is None:
        loaded_model, loaded_tokenizer = load_model(config)
        model = loaded_model if model is None else model
        tokenizer = loaded_tokenizer if tokenizer is None else tokenizer
    encoded = encode_conversations(tokenizer, conversations, config.max_tokens)
    batch_size = config.batch_size
    if batch_size is None:
        batch_size = CPU_BATCH_SIZE if next(model.parameters()).device.type == "cpu" else CUDA_BATCH_SIZE
    with _cpu_threads(config.cpu_threads):
        return score_encoded(model, encoded, batch_size=batch_size, pad_id=_pad_id(tokenizer),
                             progress=progress)


@contextlib.contextmanager
def _cpu_threads(n: int | None) -> Iterator[None]:
    """Run with `n` torch CPU threads (a process-wide setting), then restore the previous count."""
    if n is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _pad_id(tokenizer) -> int:
    for candidate in (tokenizer.pad_token_id, tokenizer.eos_token_id, 0):
        if candidate is not None:
            return int(candidate)
    return 0


def score_encoded(model, encoded: Sequence[Encoded], *, batch_size: int, pad_id: int,
                  progress: bool = False) -> list[Score]:
    """Score encoded conversations in length-sorted batches; results come back in input order."""
    import torch
    from curate.console import progress as progress_bar

    device = next(model.parameters()).device
    order = sorted(range(len(encoded)), key=lambda i: (-len(encoded[i].input_ids), i))
    results: list[Score | None] = [None] * len(encoded)
    bar = progress_bar(len(encoded), "perplexity", "conv", enabled=progress)
    try:
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                idx = order[start:start + batch_size]
                batch = [encoded[i] for i in idx]
                width = max(len(e.input_ids) for e in batch)
                ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
                labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
                mask = torch.zeros((len(batch), width), dtype=torch.long)
                for row, e in enumerate(batch):  # right padding: causal attention never sees it
                    n = len(e.input_ids)
                    ids[row, :n] = torch.tensor(e.input_ids)
                    labels[row, :n] = torch.tensor(e.labels)
                    mask[row, :n] = 1
                nll, count = _batch_nll(model, ids.to(device), mask.to(device), labels.to(device))
                for row, i in enumerate(idx):
                    n = int(count[row])
                    total = float(nll[row])
                    results[i] = Score(math.exp(total / n) if n else math.nan, total, n)
                bar.update(len(idx))
    finally:
        bar.close()
    return results  # type: ignore[return-value]


def _batch_nll(model, ids, mask, labels) -> tuple[list[float], list[int]]:
    """Per-row summed next-token NLL over labelled positions, and their count."""
    import torch
    import torch.nn.functional as F

    target = labels[:, 1:]
    keep = target != IGNORE_INDEX
    rows = keep.nonzero(as_tuple=True)[0]
    nll_sum = torch.zeros(ids.shape[0], dtype=torch.float64, device=ids.device)
    counts = keep.sum(dim=1)
    if rows.numel() == 0:
        return nll_sum.tolist(), counts.tolist()
    tokens = target[keep]
    head = model.get_output_embeddings()
    body = getattr(model, getattr(model, "base_model_prefix", ""), None)
    plain_head = (head is not None and body is not None and body is not model
                  and not getattr(model.config, "final_logit_softcapping", None)
                  and getattr(model.config, "logit_scale", None) is None)
    if plain_head:
        hidden = body(input_ids=ids, attention_mask=mask).last_hidden_state[:, :-1][keep]
        parts = []
        for s in range(0, hidden.shape[0], _LM_HEAD_CHUNK):
            logits = head(hidden[s:s + _LM_HEAD_CHUNK]).float()
            parts.append(F.cross_entropy(logits, tokens[s:s + _LM_HEAD_CHUNK], reduction="none"))
        nll = torch.cat(parts)
    else:  # models that post-process logits (soft-capping, scaling): take them from the full forward
        logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1][keep].float()
        nll = F.cross_entropy(logits, tokens, reduction="none")
    nll_sum.index_add_(0, rows, nll.double())
    return nll_sum.tolist(), counts.tolist()


# --------------------------------------------------------------------------- step


def frame_conversations(frame: "pl.DataFrame") -> list[list[dict]]:
    """The conversation each record is scored on: its messages, plus ``chosen`` as the last
    assistant turn for preference records."""
    chosen = frame.get_column("chosen").to_list() if "chosen" in frame.columns else [None] * frame.height
    out = []
    for messages, answer in zip(frame.get_column("messages").to_list(), chosen):
        conv = [{"role": m["role"], "content": m["content"] or ""} for m in (messages or [])]
        if answer is not None:
            conv.append({"role": "assistant", "content": answer})
        out.append(conv)
    return out


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between order statistics (numpy's default)."""
    import numpy as np

    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def filter_perplexity(frame: "pl.DataFrame", config: PerplexityConfig, progress: bool = True) -> "StepResult":
    """Reject records whose assistant perplexity is too high or too low; keep the score as ``ppl``.

    Reasons: ``perplexity.too_high`` (above ``max_ppl`` or the ``upper_percentile``
    of this call's scores), ``perplexity.too_low`` (below ``min_ppl`` or the
    ``lower_percentile``), ``perplexity.no_assistant_tokens`` (nothing to score,
    e.g. every assistant token cut by ``max_tokens``). A reject's ``detail`` is
    the score alone, as a number. Kept rows gain a Float64 column ``ppl``
    (replaced if present). ``stats`` (additive): ``n_scored``, ``tokens``
    (assistant tokens scored), ``nll_sum`` (exp(nll_sum / tokens) is the
    corpus perplexity) and ``log_ppl_sum`` (exp(log_ppl_sum / n_scored) is the
    geometric mean of the records' scores).
    """
    import polars as pl

    from curate.step import partition

    base = frame.drop(SCORE_COLUMN) if SCORE_COLUMN in frame.columns else frame
    if not config.enabled:
        return partition(STEP, base.with_columns(pl.lit(None, dtype=pl.Float64).alias(SCORE_COLUMN),
                                                 pl.lit(None, dtype=pl.String).alias("_reason")), {})

    scores = score_conversations(frame_conversations(base), config, progress=progress) if base.height else []
    valid = [s.ppl for s in scores if s.n_tokens]
    high = [t for t in (config.max_ppl,
                        percentile(valid, config.upper_percentile) if valid and config.upper_percentile else None)
            if t is not None]
    low = [t for t in (config.min_ppl,
                       percentile(valid, config.lower_percentile) if valid and config.lower_percentile else None)
           if t is not None]
    hi, lo = (min(high) if high else math.inf), (max(low) if low else -math.inf)

    reasons, details = [], []
    for s in scores:
        if not s.n_tokens:
            reasons.append(f"{STEP}.no_assistant_tokens")
            details.append("")
        elif s.ppl > hi:
            reasons.append(f"{STEP}.too_high")
            details.append(f"{s.ppl:.6g}")
        elif s.ppl < lo:
            reasons.append(f"{STEP}.too_low")
            details.append(f"{s.ppl:.6g}")
        else:
            reasons.append(None)
            details.append(None)
    annotated = base.with_columns(
        pl.Series(SCORE_COLUMN, [s.ppl if s.n_tokens else None for s in scores], dtype=pl.Float64),
        pl.Series("_reason", reasons, dtype=pl.String),
        pl.Series("_detail", details, dtype=pl.String),
    )
    stats = {
        "n_scored": float(len(valid)),
        "tokens": float(sum(s.n_tokens for s in scores)),
        "nll_sum": float(sum(s.nll_sum for s in scores if s.n_tokens)),
        "log_ppl_sum": float(sum(math.log(p) for p in valid)),
    }
    # The distribution of the filter's input (kept and rejected) for report.html, as additive
    # counts per bin of 0.05 in log10(ppl): shard reports add up like every other stat.
    for p in valid:
        key = f"{HIST_PREFIX}{math.floor(math.log10(p) / HIST_BIN)}"
        stats[key] = stats.get(key, 0.0) + 1.0
    return partition(STEP, annotated, stats)


HIST_PREFIX, HIST_BIN = "hist_log10_bin.", 0.05


def histogram_values(stats: dict[str, float]) -> list[float]:
    """Perplexities rebuilt from the step's histogram stats (each bin's centre, once per record)."""
    out: list[float] = []
    for k, v in sorted(stats.items()):
        if k.startswith(HIST_PREFIX):
            out += [10 ** ((int(k[len(HIST_PREFIX):]) + 0.5) * HIST_BIN)] * int(v)
    return sorted(out)
