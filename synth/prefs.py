"""Preference pairs: K candidates per prompt, a pairwise judge asked in both orders, DPO rows.

For every prompt:

1. K candidate answers (temperatures cycle through ``temperatures``; the last
   ``weak_candidates`` come from ``weak_model``). A candidate with no answer,
   an empty one, or (by default) one cut off at max_tokens is not usable.
2. Fewer than two usable candidates: ``synth.one_candidate``. All usable
   candidates the same text (whitespace and case aside):
   ``synth.identical_candidates``. Identical duplicates are merged.
3. Every pair of distinct candidates is judged twice, as (A, B) and as
   (B, A); a comparison counts only when both orders parse. A candidate's
   score is the mean of every score it got, in either position, so a judge
   that always favours position A adds the same to both sides. No valid
   comparison: ``synth.judge_unparseable``.
4. chosen = best score, rejected = worst. Equal scores: ``synth.tie``; a gap
   under ``min_margin``: ``synth.low_margin``. With ``pairs_per_prompt`` > 1,
   the best is also paired with the next-worst candidates whose gap is big
   enough.

Output rows are TRL's conversational DPO form, checked with the project's
schema; judge scores, rationales and candidate settings go into ``meta``.
The same scores can be written as unpaired KTO rows (prompt, completion,
label) with ``--kto-out``.
"""
from __future__ import annotations

import asyncio
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Callable

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from schemas.jsonl import iter_jsonl, write_jsonl_atomic
from schemas.messages import Message
from schemas.validate import validate_object
from synth.client import FatalEndpointError, LLMClient, RequestFailed, gather_all
from synth.config import PrefsConfig, SynthConfig
from synth.errors import SynthUserError
from synth.llm_json import ask_json
from synth.progress import ProgressBar
from synth.prompts import PAIR_TEMPLATE, PairOut, pair_messages, render_prompt
from synth.report import RunWriter, reject_row
from synth.session import Session, open_session
from synth.topics import stable_int


@dataclass(frozen=True)
class PromptItem:
    id: str
    messages: list[dict]
    source: str
    line: int | None


@dataclass
class Candidate:
    index: int
    model: str
    temperature: float
    text: str = ""
    finish_reason: str | None = None
    error: str | None = None
    scores: list[float] = field(default_factory=list)

    @property
    def score(self) -> float:
        return round(sum(self.scores) / len(self.scores), 4) if self.scores else float("nan")

    def describe(self) -> dict[str, Any]:
        d: dict[str, Any] = {"candidate": self.index, "model": self.model, "temperature": self.temperature}
        if self.scores:
            d["score"] = self.score
        return d


@dataclass
class PrefOutcome:
    prompt: PromptItem
    rows: list[dict[str, Any]] = field(default_factory=list)
    reject: dict[str, Any] | None = None
    kto: list[dict[str, Any]] = field(default_factory=list)


class KTOConversational(BaseModel):
    """TRL's unpaired preference row: a prompt, one completion, a good/bad label."""

    model_config = ConfigDict(extra="allow")

    prompt: Annotated[list[Message], Field(min_length=1)]
    completion: Annotated[list[Message], Field(min_length=1, max_length=1)]
    label: bool

    @model_validator(mode="after")
    def _roles(self) -> "KTOConversational":
        if self.prompt[-1].role != "user":
            raise ValueError("prompt must end with a user turn")
        if self.completion[0].role != "assistant":
            raise ValueError("completion must be one assistant message")
        return self


# ---------------------------------------------------------------- input


def _prompt_from(obj: dict) -> tuple[list[dict] | None, str]:
    """Prompt messages of one JSONL record (ChatML, ShareGPT, Alpaca, DPO, or {"prompt": str}), or why not."""
    from schemas.convert import to_record
    from schemas.formats import shape_of

    if "prompt" in obj and "chosen" not in obj and "rejected" not in obj:
        p = obj["prompt"]
        if isinstance(p, str):
            return ([{"role": "user", "content": p}], "") if p.strip() else (None, "prompt: empty")
        if isinstance(p, list):
            try:
                msgs = [Message.model_validate(m).model_dump(exclude_none=True) for m in p]
            except ValidationError as e:
                return None, f"prompt: {e.errors(include_url=False)[0]['msg']}"
            if not msgs or msgs[-1]["role"] != "user":
                return None, "prompt: must end with a user turn"
            return msgs, ""
        return None, "prompt: must be a string or a list of messages"
    shape = shape_of(obj)
    if shape is None:
        return None, "no prompt, messages, conversations or instruction field"
    problem = validate_object(obj, shape)
    if problem is not None:
        return None, f"{problem.field}: {problem.message}"
    rec = to_record(shape, obj)
    msgs = [m.model_dump(exclude_none=True) for m in rec.messages]
    while msgs and msgs[-1]["role"] != "user":
        msgs.pop()
    if not msgs:
        return None, "no user turn to answer"
    return msgs, ""


def load_prompts(paths: list[str | Path]) -> tuple[list[PromptItem], list[dict[str, Any]]]:
    """Prompts from JSONL files (any project format) or text files (one prompt per line)."""
    items: list[PromptItem] = []
    rejects: list[dict[str, Any]] = []
    seen: set[str] = set()
    for path in map(Path, paths):
        if not path.is_file():
            raise SynthUserError(f"{path}: prompts file not found")
        name = str(path)
        lower = path.name.lower()
        entries: list[tuple[int, str | None, list[dict] | None, str]] = []
        if lower.endswith((".jsonl", ".jsonl.gz", ".json")):
            for line, obj, problem in iter_jsonl(path):
                if problem is not None:
                    entries.append((problem.line, None, None, problem.message))
                    continue
                msgs, why = _prompt_from(obj)
                rid = obj.get("id")
                entries.append((line, str(rid) if isinstance(rid, (str, int)) and str(rid).strip() else None,
                                msgs, why))
        else:
            try:
                text = path.read_text(encoding="utf-8-sig")
            except UnicodeDecodeError as e:
                raise SynthUserError(f"{path}: not UTF-8 (byte at {e.start}); re-encode it") from None
            for line, s in enumerate(text.splitlines(), 1):
                if s.strip() and not s.lstrip().startswith("#"):
                    entries.append((line, None, [{"role": "user", "content": s.strip()}], ""))
        for line, rid, msgs, why in entries:
            pid = rid or f"{path.stem}:{line}"
            if msgs is None:
                rejects.append(reject_row(pid, "synth_prompts", "invalid_prompt", why, name, line or None))
            elif pid in seen:
                rejects.append(reject_row(f"{pid}@{name}:{line}", "synth_prompts", "duplicate_id",
                                          f"id {pid} already used by an earlier prompt", name, line))
            else:
                seen.add(pid)
                items.append(PromptItem(pid, msgs, name, line))
    return items, rejects


# ---------------------------------------------------------------- one prompt


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def _candidate_specs(cfg: PrefsConfig, model: str) -> list[Candidate]:
    out = []
    strong = cfg.candidates - cfg.weak_candidates
    for j in range(cfg.candidates):
        m = model if j < strong else str(cfg.weak_model)
        out.append(Candidate(j, m, cfg.temperatures[j % len(cfg.temperatures)]))
    return out


async def make_pairs(client: LLMClient, session: Session, p: PromptItem, cfg: PrefsConfig) -> PrefOutcome:
    """Candidates, judgements and pairs for one prompt; see the module docstring."""
    def rej(reason: str, detail: str, step: str = "synth_prefs", **extra: Any) -> PrefOutcome:
        return PrefOutcome(p, reject=reject_row(p.id, step, reason, detail, p.source, p.line, **extra))

    cands = _candidate_specs(cfg, session.endpoint.model)

    async def sample(c: Candidate) -> None:
        ans = await client.chat(p.messages, model=c.model if c.model != session.endpoint.model else None,
                                temperature=c.temperature, max_tokens=cfg.max_tokens,
                                seed=stable_int(cfg.seed, p.id, "candidate", c.index))
        c.text, c.finish_reason = ans.text.strip(), ans.finish_reason

    results = await asyncio.gather(*(sample(c) for c in cands), return_exceptions=True)
    for c, r in zip(cands, results):
        if isinstance(r, FatalEndpointError):
            raise r
        if isinstance(r, RequestFailed):
            if r.reason == "budget_exhausted":
                return rej("budget_exhausted", r.detail, "synth_candidates")
            c.error = r.detail
        elif isinstance(r, BaseException):
            raise r
    usable = [c for c in cands if c.error is None and c.text and not (cfg.drop_truncated and c.finish_reason == "length")]
    why = Counter("no answer" if c.error else "empty" if not c.text else "cut off at max_tokens"
                  for c in cands if c not in usable)
    note = ", ".join(f"{n} {k}" for k, n in sorted(why.items()))
    raw = [c.text for c in cands if c.text]
    if len(usable) < 2:
        if cands and all(c.error for c in cands):
            return rej("request_failed", f"no candidate got an answer ({cands[0].error})", "synth_candidates")
        return rej("one_candidate", f"{len(usable)} of {len(cands)} candidates usable" + (f" ({note})" if note else ""),
                   "synth_candidates", raw=raw)
    distinct: list[Candidate] = []
    for c in usable:
        if all(_norm(c.text) != _norm(d.text) for d in distinct):
            distinct.append(c)
    if len(distinct) < 2:
        return rej("identical_candidates", f"all {len(usable)} usable candidates are the same text",
                   "synth_candidates", raw=raw)

    question = render_prompt(p.messages)
    judge_model = cfg.judge.model
    pairs = [(a, b) for i, a in enumerate(distinct) for b in distinct[i + 1:]]

    async def judge(a: Candidate, b: Candidate, order: str):
        first, second = (a, b) if order == "ab" else (b, a)
        return await ask_json(client, pair_messages(question, first.text, second.text), PairOut, PAIR_TEMPLATE,
                              temperature=cfg.judge.temperature, max_tokens=cfg.judge.max_tokens,
                              seed=stable_int(cfg.seed, p.id, "judge", first.index, second.index),
                              model=judge_model)

    jobs = [(a, b, order) for a, b in pairs for order in ("ab", "ba")]
    verdicts = await asyncio.gather(*(judge(a, b, o) for a, b, o in jobs), return_exceptions=True)
    for v in verdicts:
        if isinstance(v, FatalEndpointError):
            raise v
        if isinstance(v, RequestFailed) and v.reason == "budget_exhausted":
            return rej("budget_exhausted", v.detail, "synth_judge")
        if isinstance(v, BaseException) and not isinstance(v, RequestFailed):
            raise v
    comparisons: list[dict[str, Any]] = []
    judge_raw: list[str] = []
    bias = 0
    for k, (a, b) in enumerate(pairs):
        ab, ba = verdicts[2 * k], verdicts[2 * k + 1]
        for v in (ab, ba):
            if not isinstance(v, BaseException):
                judge_raw += v.raw
        if isinstance(ab, BaseException) or isinstance(ba, BaseException) or not (ab.ok and ba.ok):
            continue
        a.scores += [ab.value.score_a, ba.value.score_b]
        b.scores += [ab.value.score_b, ba.value.score_a]
        d1, d2 = ab.value.score_a - ab.value.score_b, ba.value.score_a - ba.value.score_b
        if d1 * d2 > 0:  # the same position won both times: the verdict followed the position, not the text
            bias += 1
        comparisons.append({"a": a.index, "b": b.index,
                            "ab": {"score_a": ab.value.score_a, "score_b": ab.value.score_b,
                                   "rationale": ab.value.rationale},
                            "ba": {"score_a": ba.value.score_a, "score_b": ba.value.score_b,
                                   "rationale": ba.value.rationale}})
    scored = [c for c in distinct if c.scores]
    refusals = [v.problem.message for v in verdicts
                if not isinstance(v, BaseException) and v.problem is not None and v.problem.reason == "refused"]
    if (not comparisons or len(scored) < 2) and refusals:
        return rej("refused", f"{len(refusals)} of {len(jobs)} judgements refused: {refusals[0]}", "synth_judge",
                   raw=judge_raw)
    if not comparisons or len(scored) < 2:
        return rej("judge_unparseable", f"0 of {len(pairs)} comparisons parsed in both orders", "synth_judge",
                   raw=judge_raw)
    judge_meta = {"model": judge_model or _label(session), "comparisons": comparisons, "position_bias": bias,
                  "scores": {str(c.index): c.score for c in scored}}
    kto = _kto_rows(p, scored, cfg, judge_meta)
    ranked = sorted(scored, key=lambda c: (-c.score, c.index))
    best, worst = ranked[0], ranked[-1]
    margin = round(best.score - worst.score, 4)
    if margin == 0:
        return PrefOutcome(p, reject=reject_row(p.id, "synth_judge", "tie", f"all {len(scored)} candidates scored "
                                                f"{best.score:g}", p.source, p.line, judge=judge_meta), kto=kto)
    if margin < cfg.min_margin:
        return PrefOutcome(p, reject=reject_row(p.id, "synth_judge", "low_margin",
                                                f"margin {margin:g} < min_margin {cfg.min_margin:g}",
                                                p.source, p.line, judge=judge_meta), kto=kto)
    rows = []
    for w in reversed(ranked[1:]):
        m = round(best.score - w.score, 4)
        if m < cfg.min_margin or len(rows) >= cfg.pairs_per_prompt:
            break
        rid = p.id if not rows else f"{p.id}#{len(rows) + 1}"
        row = {"id": rid, "prompt": p.messages,
               "chosen": [{"role": "assistant", "content": best.text}],
               "rejected": [{"role": "assistant", "content": w.text}],
               "meta": {"provenance": "synthetic", "prompt_id": p.id, "margin": m,
                        "chosen": {**best.describe(), "model": _label(session, best.model)},
                        "rejected": {**w.describe(), "model": _label(session, w.model)},
                        "judge": judge_meta}}
        problem = validate_object(row, "dpo")
        if problem is not None:  # cannot happen after the checks above; never write an invalid row
            return rej("schema_invalid", f"{problem.field}: {problem.message}", "synth_prefs")
        rows.append(row)
    return PrefOutcome(p, rows=rows, kto=kto)


def _label(session: Session, model: str | None = None) -> str:
    if model and model != session.endpoint.model:
        return model
    return session.endpoint.identity if session.endpoint.embedded else session.endpoint.model


def _kto_rows(p: PromptItem, scored: list[Candidate], cfg: PrefsConfig, judge_meta: dict) -> list[dict[str, Any]]:
    rows = []
    for c in scored:
        if c.score >= cfg.kto.good_min:
            label = True
        elif c.score <= cfg.kto.bad_max:
            label = False
        else:
            continue
        row = {"id": f"{p.id}:c{c.index}", "prompt": p.messages,
               "completion": [{"role": "assistant", "content": c.text}], "label": label,
               "meta": {"provenance": "synthetic", "prompt_id": p.id, "score": c.score,
                        "temperature": c.temperature, "judge_model": judge_meta["model"]}}
        KTOConversational.model_validate(row)
        rows.append(row)
    return rows


# ---------------------------------------------------------------- the run


async def prefs_all(session: Session, prompts: list[PromptItem], cfg: PrefsConfig, *, progress: bool | None = None,
                    log: Callable[[str], None] | None = None) -> list[PrefOutcome]:
    bar = ProgressBar(len(prompts), session.ledger, "prefs", progress)
    client = session.client(log=log, on_update=bar.refresh)
    bar.attach(client)

    # A prompt has up to K requests out at once: enough prompts in progress to fill the slots, no more.
    gate = asyncio.Semaphore(-(-session.max_in_flight // cfg.candidates) + 1)

    async def one(p: PromptItem) -> PrefOutcome:
        try:
            async with gate:
                return await make_pairs(client, session, p, cfg)
        finally:
            bar.advance()

    with bar:
        return await gather_all(client, [one(p) for p in prompts])


def run_prefs(prompts: list[str | Path], out: str | Path, cfg: SynthConfig, *, kto_out: str | Path | None = None,
              progress: bool | None = None, log: Callable[[str], None] = lambda m: None,
              argv: list[str] | None = None, client_log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The whole ``prefs`` command as a library call; returns the manifest written next to ``out``."""
    from synth.client import Redactor
    from synth.generate import stage_counts

    out = Path(out)
    items, rejects = load_prompts(prompts)
    n_in = len(items) + len(rejects)
    writer = RunWriter("prefs", out, argv)
    with open_session(cfg.client, out, log) as session:
        try:
            outcomes = asyncio.run(prefs_all(session, items, cfg.prefs, progress=progress, log=client_log))
        except FatalEndpointError as e:
            raise SynthUserError(f"{e}; answers received so far are cached, re-run to continue") from None
    rows = [r for o in outcomes for r in o.rows]
    rejects += [o.reject for o in outcomes if o.reject is not None]
    kto = [r for o in outcomes for r in o.kto]
    ids = [o.prompt.id for o in outcomes if o.rows] + [r["id"] for r in rejects]
    if len(ids) != len(set(ids)) or len(ids) != n_in:
        raise AssertionError(f"prefs lost or duplicated prompts: {n_in} in, {len(ids)} accounted for")
    extra = []
    if kto_out is not None:
        kto_path = Path(kto_out)
        write_jsonl_atomic(kto_path, kto)
        extra.append((kto_path, len(kto), "kto"))
    steps = stage_counts(n_in, rejects, ("synth_prompts", "synth_candidates", "synth_judge", "synth_prefs"))
    config = {"client": session.cfg.model_dump(mode="json"), "prefs": cfg.prefs.model_dump(mode="json")}
    config["client"]["base_url"] = None if session.endpoint.embedded else session.endpoint.describe()["base_url"]
    import os

    return writer.write(
        rows, rejects, fmt="dpo", n_in=n_in, inputs=[Path(p) for p in prompts], config=config,
        endpoint=session.describe(), ledger=session.ledger.to_dict(), steps=steps, extra_outputs=extra,
        complete=not session.ledger.stopped_by_budget, redact=Redactor([session.endpoint.api_key]),
        api_key_env=cfg.client.api_key_env, api_key_set=bool(os.environ.get(cfg.client.api_key_env)),
        notes={"pairs": len(rows), "prompts_paired": len({r['meta']['prompt_id'] for r in rows}),
               "kto_rows": len(kto) if kto_out is not None else None})
