"""Pre-flight check: what exactly will carry loss, shown token by token, and refused when wrong.

For every example (not a sample) the check renders the conversation, takes the
ids and labels that the trainer will receive, and attributes each token to a
message by character offsets: a token inside a message's content belongs to
that message; template tokens between two contents belong to the end of the
previous turn up to and including its end-of-turn token, and to the header of
the next turn after it. It fails when

- a system, user or tool token (content or template) carries loss;
- an assistant turn's tokens do not all carry loss (multi-turn: every turn);
- an assistant turn is not followed by an end-of-turn token, or that token
  carries no loss (the model would never learn to stop);
- the template uses special-token markers the tokenizer does not have, or
  renders differently from the model's own template;
- examples are longer than max_length and the policy is 'error' (with 'drop'
  they are counted and left out; an answer is never truncated);
- the data collator changes the labels (e.g. masks eos because pad == eos).
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from curate.chat_template import PROBES, TemplateChoice
from train.labels import IGNORE, DPOExample, SFTExample, dpo_example, render, sft_example

MARKER_RE = re.compile(r"<\|[^<>|\s]{1,64}\|>|</?[A-Za-z_][A-Za-z0-9_]{0,40}>|\[/?INST\]")
MAX_QUOTED = 3  # concrete instances quoted per kind of problem


@dataclass
class Issue:
    code: str
    message: str


@dataclass
class PreflightResult:
    """Outcome of a check. ``errors`` stop a run; ``notes`` are printed; ``examples`` are the
    kept, tokenized examples in input order."""

    split: str
    n_in: int = 0
    examples: list = field(default_factory=list)
    dropped_overlong: int = 0
    longest: int = 0
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    views: list[str] = field(default_factory=list)
    loss_tokens: int = 0
    total_tokens: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors


# --------------------------------------------------------------------------- end-of-turn tokens


def end_of_turn_ids(tokenizer, model_dir: str | Path | None = None, extra: list[str] | tuple = ()) -> set[int]:
    """Ids that end an assistant turn: the tokenizer's eos, generation_config.json's eos ids, `extra`."""
    import json

    ids: set[int] = set()
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    if model_dir is not None:
        gen = Path(model_dir) / "generation_config.json"
        if gen.is_file():
            try:
                eos = json.loads(gen.read_text(encoding="utf-8")).get("eos_token_id")
            except ValueError:
                eos = None
            for e in eos if isinstance(eos, list) else [eos]:
                if isinstance(e, int):
                    ids.add(e)
    vocab = tokenizer.get_vocab()
    for tok in extra:
        if tok in vocab:
            ids.add(int(vocab[tok]))
    return ids


def _tok_text(tokenizer, tid: int) -> str:
    return tokenizer.decode([tid], skip_special_tokens=False)


# --------------------------------------------------------------------------- one conversation


def _content_spans(text: str, messages: list[dict]) -> list[tuple[int, int]] | None:
    spans, pos = [], 0
    for m in messages:
        content = m.get("content") or ""
        i = text.find(content, pos)
        if i < 0 and content.strip():
            content = content.strip()
            i = text.find(content, pos)
        if i < 0:
            return None
        spans.append((i, i + len(content)))
        pos = i + len(content)
    return spans


def attribute_tokens(tokenizer, text: str, ids: list[int], messages: list[dict], eot_ids: set[int]):
    """Per token: (kind, message index) with kind in content / end / header / trailer.

    Returns None (and an issue) when the text cannot be attributed: a message that
    is not rendered verbatim, or a tokenization of the text that differs from `ids`.
    """
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    if list(enc["input_ids"]) != list(ids):
        return None, Issue("tokenization", "tokenizing the rendered text gives other ids than the chat template "
                                           "(the template adds or merges tokens); cannot attribute tokens")
    spans = _content_spans(text, messages)
    if spans is None:
        return None, Issue("not_verbatim", "the template does not render a message's content verbatim; "
                                           "cannot tell which tokens belong to which turn")
    out: list[tuple[str, int | None]] = []
    m = 0  # first message whose content has not ended before the current token
    prev: int | None = None  # last message whose content ended
    eot_seen = True  # the region after `prev` has reached its end-of-turn token
    trailing_ws = False
    for tid, (a, b) in zip(ids, enc["offset_mapping"]):
        while m < len(spans) and spans[m][1] <= a:  # contents that ended before this token
            prev, eot_seen, trailing_ws = m, False, False
            m += 1
        if m < len(spans) and a < spans[m][1] and b > spans[m][0]:
            out.append(("content", m))
            continue
        if prev is not None and not eot_seen:
            out.append(("end", prev))
            if tid in eot_ids:
                eot_seen, trailing_ws = True, True
            continue
        if prev is not None and trailing_ws and text[a:b].strip() == "" and tid not in eot_ids:
            out.append(("end_ws", prev))  # whitespace right after an end-of-turn token
            continue
        trailing_ws = False
        out.append(("header", m) if m < len(spans) else ("trailer", None))
    return out, None


def analyse_sft(tokenizer, messages: list[dict], text: str, ids: list[int], labels: list[int],
                eot_ids: set[int]) -> list[Issue]:
    """Problems in one conversation's labels (empty list: the labels are right)."""
    attr, problem = attribute_tokens(tokenizer, text, ids, messages, eot_ids)
    if attr is None:
        return [problem]
    roles = [m["role"] for m in messages]
    issues: list[Issue] = []
    by_msg: dict[int, list[int]] = {}
    end_tokens: dict[int, list[int]] = {}
    for pos, (kind, i) in enumerate(attr):
        lab = labels[pos] != IGNORE
        if kind == "content":
            by_msg.setdefault(i, []).append(pos)
            if roles[i] != "assistant" and lab:
                issues.append(Issue("prompt_loss", f"{roles[i]} token {_tok_text(tokenizer, ids[pos])!r} "
                                                   f"(turn {i + 1}) carries loss; only assistant turns may be trained"))
        elif kind in ("end", "end_ws"):
            end_tokens.setdefault(i, []).append(pos)
            if roles[i] != "assistant" and lab:
                issues.append(Issue("prompt_loss", f"{roles[i]} turn {i + 1}'s template token "
                                                   f"{_tok_text(tokenizer, ids[pos])!r} carries loss"))
        elif lab:
            who = roles[i] if i is not None else "template"
            where = f"the header of {who} turn {i + 1}" if i is not None else "the end of the conversation"
            issues.append(Issue("prompt_loss", f"template token {_tok_text(tokenizer, ids[pos])!r} in {where} "
                                               "carries loss; only assistant answers may be trained"))
    n_assist = 0
    for i, role in enumerate(roles):
        if role != "assistant":
            continue
        n_assist += 1
        toks = by_msg.get(i, [])
        untrained = sum(labels[p] == IGNORE for p in toks)
        if untrained:
            issues.append(Issue("assistant_untrained", f"assistant turn {i + 1}: {untrained} of {len(toks)} answer "
                                                       "tokens carry no loss (every assistant turn must be trained)"))
        eots = [p for p in end_tokens.get(i, []) if ids[p] in eot_ids]
        if not eots:
            names = ", ".join(sorted(repr(_tok_text(tokenizer, t)) for t in eot_ids)) or "none"
            issues.append(Issue("missing_eot", f"assistant turn {i + 1} is not followed by an end-of-turn token "
                                               f"({names}); the model would never learn to stop"))
        elif labels[eots[0]] == IGNORE:
            issues.append(Issue("eot_no_loss", f"assistant turn {i + 1}'s end-of-turn token "
                                               f"{_tok_text(tokenizer, ids[eots[0]])!r} carries no loss; "
                                               "the model would never learn to stop"))
    if n_assist == 0:
        issues.append(Issue("no_assistant", "no assistant turn: nothing to train on"))
    return issues


# --------------------------------------------------------------------------- the template


def check_template(tokenizer, choice: TemplateChoice, eot_ids: set[int]) -> list[str]:
    """Template-level errors: no usable training template, markers the tokenizer does not know,
    and label problems on probe conversations."""
    if choice.problem:
        return [f"chat template: {choice.problem}"]
    errors: list[str] = []
    added = set(tokenizer.get_added_vocab().values()) | set(getattr(tokenizer, "all_special_ids", []))
    bad_markers: dict[str, int] = {}
    for messages in PROBES:
        text = render(tokenizer, messages, choice.training)
        spans = _content_spans(text, messages) or []
        structural, pos = [], 0
        for a, b in spans:
            structural.append(text[pos:a])
            pos = b
        structural.append(text[pos:])
        for marker in MARKER_RE.findall("\x00".join(structural)):
            ids = tokenizer.encode(marker, add_special_tokens=False)
            if len(ids) != 1 or ids[0] not in added:
                bad_markers[marker] = len(ids)
    for marker, n in sorted(bad_markers.items()):
        errors.append(f"chat template: uses {marker!r}, which is not a special token of this tokenizer "
                      f"(it becomes {n} ordinary tokens): the template does not match the tokenizer "
                      "(another model family's template?)")
    if tokenizer.eos_token is not None:
        text = render(tokenizer, PROBES[0], choice.training)
        if tokenizer.eos_token not in text:
            errors.append(f"chat template: never emits the tokenizer's eos token {tokenizer.eos_token!r}; "
                          "template and tokenizer do not match")
    seen: set[str] = set()
    for messages in PROBES:
        ex = sft_example(tokenizer, messages, choice.training)
        text = render(tokenizer, messages, choice.training)
        for issue in analyse_sft(tokenizer, messages, text, ex.input_ids, ex.labels, eot_ids):
            if issue.code not in seen:
                seen.add(issue.code)
                errors.append(f"chat template: on a probe conversation, {issue.message}")
    return errors


# --------------------------------------------------------------------------- the view


def token_view(tokenizer, ids: list[int], labels: list[int], *, colour: bool = False,
               max_tokens: int = 400) -> str:
    """The tokens in order; each token that carries loss is shown as [token] (green when colour)."""
    parts = []
    for tid, lab in list(zip(ids, labels))[:max_tokens]:
        t = _tok_text(tokenizer, tid)
        if lab == IGNORE:
            parts.append(f"\x1b[2m{t}\x1b[0m" if colour else t)
        else:
            shown = t.replace("\n", "\\n")
            parts.append(f"\x1b[1;32m[{shown}]\x1b[0m" if colour else f"[{shown}]")
            if "\n" in t:
                parts.append("\n")
    if len(ids) > max_tokens:
        parts.append(f" ... (+{len(ids) - max_tokens} tokens)")
    return "".join(parts)


# --------------------------------------------------------------------------- whole splits


def _tally(issues: list[Issue], counts: Counter, quoted: dict[str, list[str]], where: str) -> None:
    """Count each kind of problem once per example; quote the first few examples of each kind."""
    seen: set[str] = set()
    for issue in issues:
        if issue.code in seen:
            continue
        seen.add(issue.code)
        counts[issue.code] += 1
        q = quoted.setdefault(issue.code, [])
        if len(q) < MAX_QUOTED:
            q.append(f"{where}: {issue.message}")


def _summarise(result: PreflightResult, counts: Counter, quoted: dict[str, list[str]], what: str) -> None:
    for code, n in counts.most_common():
        result.errors.extend(quoted[code])
        if n > len(quoted[code]):
            result.errors.append(f"{result.split}: {n} of {result.n_in} {what} have this problem ({code})")


def _nothing_left(result: PreflightResult, source: str, what: str) -> None:
    if result.examples or result.errors or not result.n_in:
        return
    if result.split == "train":
        result.errors.append(f"{source}: no {what} is left to train on")
    else:
        result.notes.append(f"{source}: no {what} is left to evaluate on; {result.split} is skipped")


def _length_policy(result: PreflightResult, lengths: list[int], max_length: int, policy: str, where: str) -> list[bool]:
    over = [n > max_length for n in lengths]
    result.dropped_overlong = sum(over)
    result.longest = max(lengths, default=0)
    if result.dropped_overlong:
        msg = (f"{where}: {result.dropped_overlong} of {len(lengths)} examples are longer than max_length "
               f"{max_length} tokens (longest {result.longest})")
        if policy == "error":
            result.errors.append(msg + "; policy overlong=error (raise sequence.max_length, or use overlong=drop)")
        else:
            result.notes.append(msg + "; dropped (policy overlong=drop), never truncated")
    return over


def preflight_sft(tokenizer, choice: TemplateChoice, records: list[dict], *, split: str, source: str,
                  max_length: int, overlong: str, eot_ids: set[int], show: int = 2, show_max_tokens: int = 400,
                  colour: bool = False, collator=None, template_errors: list[str] | None = None) -> PreflightResult:
    """Check every SFT record of a split; the kept examples carry the ids and labels to train on."""
    result = PreflightResult(split, n_in=len(records))
    result.errors.extend(template_errors if template_errors is not None else check_template(tokenizer, choice, eot_ids))
    if choice.training is None:
        return result
    counts: Counter = Counter()
    quoted: dict[str, list[str]] = {}
    built: list[SFTExample] = []
    for rec in records:
        msgs = rec["messages"]
        line = rec.get("_line", 0)
        ex = sft_example(tokenizer, msgs, choice.training, line)
        text = render(tokenizer, msgs, choice.training)
        issues = analyse_sft(tokenizer, msgs, text, ex.input_ids, ex.labels, eot_ids)
        if choice.training != choice.original and render(tokenizer, msgs, choice.original) != text:
            issues.append(Issue("render_mismatch", "renders differently with the training template than with the "
                                                   "model's own; labels would not match inference"))
        _tally(issues, counts, quoted, f"{source}:{line}")
        built.append(ex)
    _summarise(result, counts, quoted, "examples")
    over = _length_policy(result, [len(e) for e in built], max_length, overlong, source)
    result.examples = [e for e, o in zip(built, over) if not o]
    _nothing_left(result, source, "example")
    result.total_tokens = sum(len(e) for e in result.examples)
    result.loss_tokens = sum(sum(lab != IGNORE for lab in e.labels) for e in result.examples)
    for e in result.examples[:show]:
        turns = sum(m["role"] == "assistant" for m in e.messages)
        n_loss = sum(lab != IGNORE for lab in e.labels)
        head = (f"--- {source}:{e.line}  {len(e)} tokens, {n_loss} with loss, {turns} assistant "
                f"turn{'s' if turns != 1 else ''}  ([token] = carries loss)")
        result.views.append(head + "\n" + token_view(tokenizer, e.input_ids, e.labels, colour=colour,
                                                     max_tokens=show_max_tokens))
    if collator is not None and result.examples:
        result.errors.extend(check_collator(collator, result.examples[:4]))
    return result


def check_collator(collator, examples: list[SFTExample]) -> list[str]:
    """The trainer's collator must pass labels through (padding only adds -100 at the end)."""
    batch = collator([{"input_ids": e.input_ids, "labels": e.labels} for e in examples])
    labels = batch["labels"].tolist()
    for e, row in zip(examples, labels):
        got, pad = row[: len(e.labels)], row[len(e.labels):]
        if got != e.labels:
            diff = sum(a != b for a, b in zip(got, e.labels))
            return [f"data collator changes {diff} labels of example line {e.line} "
                    "(does it mask pad tokens while pad == eos?); the end-of-turn token would not be trained"]
        if any(p != IGNORE for p in pad):
            return ["data collator gives padding positions a loss"]
    return []


# --------------------------------------------------------------------------- DPO


def analyse_dpo(tokenizer, ex: DPOExample, eot_ids: set[int]) -> list[Issue]:
    issues: list[Issue] = []
    if not ex.prompt_is_prefix:
        issues.append(Issue("prompt_mismatch", "the template renders the prompt differently alone than followed by "
                                               "an answer; part of the prompt would be cut from training"))
    for name in ("chosen", "rejected"):
        ids = getattr(ex, f"{name}_ids")
        content = ex.record[name][0]["content"]
        text = tokenizer.decode(ids, skip_special_tokens=False)
        i = text.find(content)
        if i < 0:
            i = text.find(content.strip())
            content = content.strip()
        if i < 0:
            issues.append(Issue("not_verbatim", f"the {name} answer is not rendered verbatim in its completion"))
            continue
        before, after = text[:i], text[i + len(content):]
        if before.strip():
            issues.append(Issue("prompt_loss", f"{name} completion starts with template/prompt text {before!r}, "
                                               "which would carry loss"))
        # The completion must end on an end-of-turn token (optionally followed by whitespace).
        tail = list(ids)
        while tail and tokenizer.decode([tail[-1]], skip_special_tokens=False).strip() == "" \
                and tail[-1] not in eot_ids:
            tail.pop()
        if not tail or tail[-1] not in eot_ids:
            names = ", ".join(sorted(repr(_tok_text(tokenizer, t)) for t in eot_ids)) or "none"
            issues.append(Issue("missing_eot", f"the {name} answer does not end with an end-of-turn token "
                                               f"({names}); the model would never learn to stop"))
        else:
            rest = after
            for t in eot_ids:
                rest = rest.replace(_tok_text(tokenizer, t), "")
            if rest.strip():
                issues.append(Issue("prompt_loss", f"{name} completion has template text {rest.strip()!r} after "
                                                   "the answer, which would carry loss"))
    return issues


def preflight_dpo(tokenizer, choice: TemplateChoice, records: list[dict], *, split: str, source: str,
                  max_length: int, overlong: str, eot_ids: set[int], show: int = 2, show_max_tokens: int = 400,
                  colour: bool = False, template_errors: list[str] | None = None) -> PreflightResult:
    """Check every preference pair: prompt without loss, each answer with its end-of-turn token."""
    result = PreflightResult(split, n_in=len(records))
    errs = template_errors if template_errors is not None else check_template(tokenizer, choice, eot_ids)
    # DPO masks by the prompt/answer split, not by generation markers: a missing training template is no error.
    result.errors.extend(e for e in errs if not (choice.problem and choice.problem in e))
    counts: Counter = Counter()
    quoted: dict[str, list[str]] = {}
    built: list[DPOExample] = []
    for rec in records:
        line = rec.get("_line", 0)
        ex = dpo_example(tokenizer, rec, line)
        _tally(analyse_dpo(tokenizer, ex, eot_ids), counts, quoted, f"{source}:{line}")
        built.append(ex)
    _summarise(result, counts, quoted, "pairs")
    over = _length_policy(result, [len(e) for e in built], max_length, overlong, source)
    result.examples = [e for e, o in zip(built, over) if not o]
    _nothing_left(result, source, "pair")
    result.total_tokens = sum(len(e.prompt_ids) + len(e.chosen_ids) + len(e.rejected_ids) for e in result.examples)
    result.loss_tokens = sum(len(e.chosen_ids) + len(e.rejected_ids) for e in result.examples)
    for e in result.examples[:show]:
        tail = e.prompt_ids[-show_max_tokens // 4:]
        prompt_view = token_view(tokenizer, tail, [IGNORE] * len(tail), colour=colour, max_tokens=show_max_tokens)
        lead = "..." if len(tail) < len(e.prompt_ids) else ""
        views = [f"--- {source}:{e.line}  prompt {len(e.prompt_ids)} tokens, chosen {len(e.chosen_ids)}, "
                 f"rejected {len(e.rejected_ids)}  ([token] = carries loss)"]
        for name in ("chosen", "rejected"):
            ids = getattr(e, f"{name}_ids")
            views.append(f"{name}: {lead}{prompt_view}"
                         + token_view(tokenizer, ids, ids, colour=colour, max_tokens=show_max_tokens))
        result.views.append("\n".join(views))
    return result
