"""Evaluation before and after training, and the verdict.

Three systems are scored on the same examples:

- ``base``: the model the run starts from;
- ``few_shot``: the same model with a prompt-only baseline, `eval.few_shot`
  train conversations put before each example as earlier turns (their answers
  carry no loss), so a user sees whether fine-tuning beat prompting at all;
- ``tuned``: the model with the trained adapter.

Metrics: loss and perplexity of the reference answers (assistant tokens only),
format-compliance rate of generated answers when the task has a structured
output (JSON with required keys, or a regex), and for DPO preference accuracy
and mean log-probability margin of chosen over rejected. A small built-in set
of general instructions (train/data/general_instructions.jsonl) catches
forgetting. The verdict is "better" only when the target metric improved on
every evaluated split; otherwise the report says so and why.
"""
from __future__ import annotations

import json
import math
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from train.labels import IGNORE, chat_messages, dpo_example, mask_first_runs, sft_example

GENERAL_SET = Path(__file__).resolve().parent / "data" / "general_instructions.jsonl"
LOWER_IS_BETTER = {"loss": True, "perplexity": True, "format_compliance": False, "pref_accuracy": False,
                   "pref_margin": False}


# --------------------------------------------------------------------------- pure pieces


def answer_complies(text: str, output_format: str, required_keys: list[str] | tuple = (),
                    pattern: str | None = None) -> bool:
    """Whether a generated answer has the structured format the task asks for.

    json: the answer (optionally inside a ``` fence) parses as a JSON object holding
    every required key. regex: `pattern` is found in the answer.
    """
    if output_format == "regex":
        return re.search(pattern or "", text, re.DOTALL) is not None
    if output_format != "json":
        return True
    body = text.strip()
    fence = re.match(r"^```(?:json)?\s*(.*?)\s*```$", body, re.DOTALL)
    if fence:
        body = fence.group(1)
    try:
        obj = json.loads(body)
    except ValueError:
        return False
    return isinstance(obj, dict) and all(k in obj for k in required_keys)


def pick_shots(train_records: list[dict], k: int, seed: int, task: str = "sft") -> list[dict]:
    """`k` demonstration turns (a user message and its answer) drawn from train with `seed`."""
    if k <= 0 or not train_records:
        return []
    rng = random.Random(seed)
    picked = rng.sample(train_records, min(k, len(train_records)))
    shots = []
    for rec in picked:
        if task == "sft":
            msgs = [m for m in rec["messages"] if m["role"] != "system"]
            user = next(m for m in msgs if m["role"] == "user")
            answer = next(m for m in msgs[msgs.index(user):] if m["role"] == "assistant")
        else:
            user = [m for m in rec["prompt"] if m["role"] == "user"][-1]
            answer = rec["chosen"][0]
        shots += [{"role": "user", "content": user["content"]}, {"role": "assistant", "content": answer["content"]}]
    return shots


def with_shots(messages: list[dict], shots: list[dict]) -> list[dict]:
    """`messages` with the demonstration turns inserted after the system turn (if any)."""
    if not shots:
        return list(messages)
    head = [m for m in messages[:1] if m["role"] == "system"]
    return head + shots + messages[len(head):]


def verdict(metrics: dict[str, dict], target: str, min_improvement: float = 0.0) -> dict[str, Any]:
    """Decide whether the tuned model is better than the base on `target`, split by split.

    `metrics` maps split -> {"base": {...}, "few_shot": {...}, "tuned": {...}}. The run is
    called better only if the target improved by more than `min_improvement` on every
    split that reports it; a missing or non-finite value never counts as better, and
    no split to compare means not better. ``beats_few_shot`` is None when no split has
    a few-shot value, else whether tuned beat it on every split that has one.
    """
    lower = LOWER_IS_BETTER[target]
    name = target.replace("_", " ")
    better, reasons, compared = True, [], 0
    few_shot_wins: list[bool] = []
    for split, systems in metrics.items():
        base = (systems.get("base") or {}).get(target)
        tuned = (systems.get("tuned") or {}).get(target)
        few = (systems.get("few_shot") or {}).get(target)
        if base is None and tuned is None:
            continue
        compared += 1
        if not _finite(base) or not _finite(tuned):
            better = False
            reasons.append(f"{split} {name} could not be measured (base {base}, tuned {tuned})")
            continue
        gain = (base - tuned) if lower else (tuned - base)
        if gain > min_improvement:
            reasons.append(f"{split} {name} improved: {base:.5g} -> {tuned:.5g} ({tuned - base:+.3g})")
        else:
            better = False
            reasons.append(f"{split} {name} did not improve: base {base:.5g}, tuned {tuned:.5g} ({tuned - base:+.3g})"
                           + (f", needs a gain over {min_improvement:g}" if min_improvement else ""))
        if _finite(few):
            few_shot_wins.append((tuned < few) if lower else (tuned > few))
    if compared == 0:
        better = False
        reasons.append(f"no split reports {name} (no val/test data, or the metric is off)")
    return {"better": better, "target_metric": target, "lower_is_better": lower,
            "beats_few_shot": all(few_shot_wins) if few_shot_wins else None, "reasons": reasons}


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


# --------------------------------------------------------------------------- model scoring


@dataclass
class Scored:
    nll: list[float] = field(default_factory=list)   # per sequence: summed negative log-likelihood
    tokens: list[int] = field(default_factory=list)  # per sequence: tokens with a label

    @property
    def loss(self) -> float | None:
        n = sum(self.tokens)
        return sum(self.nll) / n if n else None


def _batches(lengths: list[int], batch_tokens: int) -> list[list[int]]:
    """Indices grouped longest first, each group's rows x width within `batch_tokens` (at least one row)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    groups, current = [], []
    for i in order:
        width = lengths[current[0]] if current else lengths[i]
        if current and (len(current) + 1) * width > batch_tokens:
            groups.append(current)
            current = []
        current.append(i)
    if current:
        groups.append(current)
    return groups


def score_sequences(model, seqs: list[tuple[list[int], list[int]]], pad_id: int,
                    batch_tokens: int = 4096) -> Scored:
    """Summed NLL of the labelled tokens of each (ids, labels) sequence, in input order.

    Batches are bounded in tokens, and only labelled positions are upcast for the
    cross-entropy: with a 128k vocabulary the full float32 logits of a batch would
    otherwise dwarf the model's own memory.
    """
    import torch

    device = next(model.parameters()).device
    nll = [0.0] * len(seqs)
    ntok = [0] * len(seqs)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for idx in _batches([len(s[0]) for s in seqs], batch_tokens):
                width = max(len(seqs[i][0]) for i in idx)
                ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
                lab = torch.full((len(idx), width), IGNORE, dtype=torch.long)
                att = torch.zeros((len(idx), width), dtype=torch.long)
                for r, i in enumerate(idx):
                    n = len(seqs[i][0])
                    ids[r, :n] = torch.tensor(seqs[i][0])
                    lab[r, :n] = torch.tensor(seqs[i][1])
                    att[r, :n] = 1
                logits = model(input_ids=ids.to(device), attention_mask=att.to(device), use_cache=False).logits
                target = lab[:, 1:].to(device)
                mask = target != IGNORE
                picked = logits[:, :-1][mask].float()
                losses = torch.nn.functional.cross_entropy(picked, target[mask], reduction="none")
                rows = mask.nonzero()[:, 0]
                per_row = torch.zeros(len(idx), dtype=torch.float64, device=device).index_add_(
                    0, rows, losses.double())
                for r, i in enumerate(idx):
                    nll[i] = float(per_row[r])
                    ntok[i] = int(mask[r].sum())
                del logits, picked, losses
    finally:
        model.train(was_training)
    return Scored(nll, ntok)


def generate(model, tokenizer, prompts: list[list[dict]], max_new_tokens: int, eot_ids: set[int]) -> list[str]:
    """Greedy answers to chat prompts (one at a time: few examples, no padding effects)."""
    import torch

    device = next(model.parameters()).device
    out = []
    was_training = model.training
    model.eval()
    try:
        for msgs in prompts:
            ids = tokenizer.apply_chat_template(chat_messages(msgs), add_generation_prompt=True, tokenize=True,
                                                return_dict=True)["input_ids"]
            x = torch.tensor([ids], device=device)
            with torch.no_grad():
                y = model.generate(input_ids=x, attention_mask=torch.ones_like(x), max_new_tokens=max_new_tokens,
                                   do_sample=False, eos_token_id=sorted(eot_ids), pad_token_id=tokenizer.pad_token_id,
                                   use_cache=True)
            out.append(tokenizer.decode(y[0, len(ids):], skip_special_tokens=True))
    finally:
        model.train(was_training)
    return out


def _ppl(loss: float | None) -> float | None:
    if loss is None:
        return None
    return math.exp(min(loss, 50.0))


# --------------------------------------------------------------------------- per task


@dataclass
class EvalContext:
    tokenizer: Any
    training_template: str | None
    cfg: Any  # TrainConfig
    eot_ids: set[int]
    shots: list[dict]

    @property
    def pad_id(self) -> int:
        return self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id


def _sft_prompt(messages: list[dict]) -> list[dict]:
    last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
    return messages[:last]


def evaluate_split(model, ctx: EvalContext, records: list[dict], few_shot: bool) -> dict[str, Any]:
    """Metrics of one system on up to eval.max_examples records (few_shot: with demonstrations)."""
    ev = ctx.cfg.eval
    recs = records[: ev.max_examples]
    shots = ctx.shots if few_shot else []
    task = ctx.cfg.task
    metrics: dict[str, Any] = {"examples": len(recs)}
    if task == "sft":
        seqs = []
        for r in recs:
            msgs = with_shots(r["messages"], shots)
            ex = sft_example(ctx.tokenizer, msgs, ctx.training_template)
            seqs.append((ex.input_ids, mask_first_runs(ex.labels, len(shots) // 2)))
        scored = score_sequences(model, seqs, ctx.pad_id, ev.batch_tokens)
        prompts = [with_shots(_sft_prompt(r["messages"]), shots) for r in recs[: ev.generate_examples]]
    else:
        chosen, rejected = [], []
        for r in recs:
            ex = dpo_example(ctx.tokenizer, {**r, "prompt": with_shots(r["prompt"], shots)})
            p = ex.prompt_ids
            chosen.append((p + ex.chosen_ids, [IGNORE] * len(p) + ex.chosen_ids))
            rejected.append((p + ex.rejected_ids, [IGNORE] * len(p) + ex.rejected_ids))
        scored = score_sequences(model, chosen, ctx.pad_id, ev.batch_tokens)
        rej = score_sequences(model, rejected, ctx.pad_id, ev.batch_tokens)
        margins = [(-c) - (-r) for c, r in zip(scored.nll, rej.nll)]  # log p(chosen) - log p(rejected)
        metrics["pref_accuracy"] = sum(m > 0 for m in margins) / len(margins) if margins else None
        metrics["pref_margin"] = sum(margins) / len(margins) if margins else None
        prompts = [with_shots(r["prompt"], shots) for r in recs[: ev.generate_examples]]
    metrics["loss"] = scored.loss
    metrics["perplexity"] = _ppl(scored.loss)
    metrics["tokens"] = sum(scored.tokens)
    if ev.output_format != "none" and prompts:
        answers = generate(model, ctx.tokenizer, prompts, ev.max_new_tokens, ctx.eot_ids)
        ok = [answer_complies(a, ev.output_format, ev.required_keys, ev.pattern) for a in answers]
        metrics["format_compliance"] = sum(ok) / len(ok)
        metrics["generated"] = len(ok)
        metrics["samples"] = answers[:2]
    return metrics


def reference_compliance(records: list[dict], cfg) -> float | None:
    """Share of the reference answers that comply themselves (a metric the data fails is meaningless)."""
    ev = cfg.eval
    if ev.output_format == "none" or not records:
        return None
    recs = records[: ev.max_examples]
    if cfg.task == "sft":
        answers = [[m for m in r["messages"] if m["role"] == "assistant"][-1]["content"] for r in recs]
    else:
        answers = [r["chosen"][0]["content"] for r in recs]
    return sum(answer_complies(a, ev.output_format, ev.required_keys, ev.pattern) for a in answers) / len(answers)


def load_general_set(cfg) -> list[dict]:
    """The general-instruction set (forgetting check): chatml records, validated by schemas."""
    from schemas.validate import validate_file

    if cfg.eval.general_max == 0:
        return []
    path = Path(cfg.eval.general_set) if cfg.eval.general_set else GENERAL_SET
    records: list[dict] = []
    report = validate_file(path, "chatml", on_valid=lambda line, obj, fmt: records.append(
        {"messages": obj["messages"], "_line": line}))
    if report.invalid:
        raise ValueError(f"{report.problems[0].format(str(path))}: the general-instruction set does not validate")
    return records[: cfg.eval.general_max]


def score_general(model, ctx: EvalContext, records: list[dict]) -> dict[str, Any] | None:
    if not records or ctx.training_template is None:
        return None
    seqs = []
    for r in records:
        ex = sft_example(ctx.tokenizer, r["messages"], ctx.training_template)
        seqs.append((ex.input_ids, ex.labels))
    scored = score_sequences(model, seqs, ctx.pad_id, ctx.cfg.eval.batch_tokens)
    return {"examples": len(records), "loss": scored.loss, "perplexity": _ppl(scored.loss)}


def forgetting(base: dict | None, tuned: dict | None, tolerance: float) -> dict[str, Any] | None:
    if not base or not tuned or not _finite(base.get("loss")) or not _finite(tuned.get("loss")):
        return None
    change = (tuned["loss"] - base["loss"]) / base["loss"] if base["loss"] else 0.0
    return {"relative_loss_change": change, "forgetting": change > tolerance, "tolerance": tolerance}


# --------------------------------------------------------------------------- report


def _fmt(x) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:.4g}"
    return str(x)


def render_markdown(report: dict[str, Any]) -> str:
    """A short Markdown report: one table per split, the forgetting check, the verdict."""
    v = report["verdict"]
    lines = [f"# Evaluation: {report['task'].upper()} run", "",
             f"Target metric: **{v['target_metric']}** ({'lower' if v['lower_is_better'] else 'higher'} is better).",
             ""]
    metric_names = ["loss", "perplexity", "format_compliance", "pref_accuracy", "pref_margin"]
    for split, systems in report["splits"].items():
        lines += [f"## {split} ({(systems.get('tuned') or systems.get('base') or {}).get('examples', 0)} examples)",
                  "", "| metric | base | few-shot prompt | tuned | tuned - base |", "|---|---|---|---|---|"]
        for m in metric_names:
            vals = [(systems.get(s) or {}).get(m) for s in ("base", "few_shot", "tuned")]
            if all(x is None for x in vals):
                continue
            delta = vals[2] - vals[0] if _finite(vals[0]) and _finite(vals[2]) else None
            lines.append(f"| {m} | {_fmt(vals[0])} | {_fmt(vals[1])} | {_fmt(vals[2])} | "
                         f"{_fmt(delta) if delta is None else f'{delta:+.4g}'} |")
        ref = report.get("reference_format_compliance", {}).get(split)
        if ref is not None:
            lines.append(f"| reference answers' format compliance | {ref:.3g} | | | |")
        lines.append("")
    g = report.get("general")
    if g:
        f = g.get("forgetting") or {}
        lines += ["## General instructions (forgetting check)", "",
                  f"{g['base']['examples']} items: loss base {_fmt(g['base']['loss'])}, "
                  f"tuned {_fmt((g.get('tuned') or {}).get('loss'))}"
                  + (f" ({f['relative_loss_change']:+.1%}; "
                     f"{'FORGETTING' if f['forgetting'] else 'within'} tolerance {f['tolerance']:.0%})" if f else ""),
                  ""]
    lines += ["## Verdict", "", ("**Better than the base model.**" if v["better"] else
                                 "**Not better**: the target metric did not improve.")]
    lines += [f"- {r}" for r in v["reasons"]]
    if v.get("beats_few_shot") is not None:
        lines.append(f"- {'beats' if v['beats_few_shot'] else 'does NOT beat'} the few-shot prompt baseline")
    return "\n".join(lines) + "\n"
