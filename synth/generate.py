"""Seed topics -> diverse customer messages -> (evolution) -> expert answers -> judge -> curation.

Each planned item (topic x index, with a persona, task type and difficulty)
ends exactly once: as a ChatML example in the output, or as a reject row
with the step, the reason and every raw model reply that was tried.
"""
from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from schemas.validate import validate_object
from synth.client import FatalEndpointError, LLMClient, RequestFailed, gather_all
from synth.config import GenerateConfig, SynthConfig
from synth.errors import SynthUserError
from synth.llm_json import ask_json
from synth.progress import ProgressBar
from synth.prompts import (ANSWER_TEMPLATE, QUESTION_TEMPLATE, RUBRIC_TEMPLATE, AnswerOut, QuestionOut, RubricOut,
                           answer_messages, evolve_messages, question_messages, rubric_messages)
from synth.report import RunWriter, reject_row
from synth.session import Session, open_session
from synth.topics import Item, TopicsFile, load_topics, plan_items, stable_int

STAGES = ("synth_question", "synth_evolve", "synth_answer", "synth_judge")


@dataclass
class Outcome:
    item: Item
    row: dict[str, Any] | None = None
    reject: dict[str, Any] | None = None
    requests: int = 0  # model answers this item used (cached ones included) plus requests that got none
    generated: bool = False  # a complete question + answer came back (before judging and curation)


class _Reject(Exception):
    def __init__(self, step: str, reason: str, detail: str, **extra: Any):
        super().__init__(detail)
        self.step, self.reason, self.detail, self.extra = step, reason, detail, extra


def _model_label(session: Session, model: str | None = None) -> str:
    if model:
        return model
    return session.endpoint.identity if session.endpoint.embedded else session.endpoint.model


async def make_example(client: LLMClient, session: Session, tf: TopicsFile, item: Item,
                       cfg: GenerateConfig) -> Outcome:
    """Generate, check and judge one example; never raises except for a fatal endpoint error."""
    stage = "synth_question"
    repaired: list[str] = []
    counts = {"requests": 0, "generated": False}

    async def ask(step: str, messages: list[dict], cls, template: str, temperature: float, max_tokens: int,
                  model: str | None = None):
        try:
            res = await ask_json(client, messages, cls, template, temperature=temperature, max_tokens=max_tokens,
                                 seed=stable_int(cfg.seed, item.id, step), repair=cfg.repair, model=model)
        except RequestFailed:
            counts["requests"] += 1
            raise
        counts["requests"] += len(res.raw)
        if not res.ok:
            assert res.problem is not None
            reason = res.problem.reason
            if step == "synth_judge" and reason != "refused":
                reason = "judge_unparseable"
            raise _Reject(step, reason, res.problem.message, raw=res.raw)
        if res.truncated and step != "synth_judge":  # a judge's scores come first: a cut rationale is harmless
            raise _Reject(step, "truncated", "the reply was cut off at max_tokens (raise the step's max_tokens)",
                          raw=res.raw)
        if res.repaired:
            repaired.append(step)
        return res.value

    try:
        topic = item.topic.name + (f" ({item.topic.description})" if item.topic.description else "")
        q = await ask(stage, question_messages(topic, item.persona, item.task_type, item.difficulty, tf.context),
                      QuestionOut, QUESTION_TEMPLATE, cfg.question_temperature, cfg.question_max_tokens)
        question = q.question
        evolution: list[dict[str, str]] = []
        if cfg.evolve.enabled:
            stage = "synth_evolve"
            for r in range(cfg.evolve.rounds):
                op = cfg.evolve.operations[stable_int(cfg.seed, item.id, "evolve", r) % len(cfg.evolve.operations)]
                e = await ask(stage, evolve_messages(question, op), QuestionOut, QUESTION_TEMPLATE,
                              cfg.evolve.temperature, cfg.evolve.max_tokens)
                evolution.append({"operation": op, "before": question})
                question = e.question
        stage = "synth_answer"
        a = await ask(stage, answer_messages(question, tf.system_prompt), AnswerOut, ANSWER_TEMPLATE,
                      cfg.answer_temperature, cfg.answer_max_tokens)
        messages = ([{"role": "system", "content": tf.system_prompt}] if tf.system_prompt else []) + [
            {"role": "user", "content": question}, {"role": "assistant", "content": a.answer}]
        meta: dict[str, Any] = {"provenance": "synthetic", "synth": {
            "topic": item.topic.name, "persona": item.persona, "task_type": item.task_type,
            "difficulty": item.difficulty, "model": _model_label(session)}}
        if evolution:
            meta["synth"]["evolution"] = evolution
        row = {"id": item.id, "messages": messages, "meta": meta}
        problem = validate_object(row, "chatml")
        if problem is not None:
            raise _Reject(stage, "schema_invalid", f"{problem.field}: {problem.message}", raw=[a.answer])
        counts["generated"] = True
        if cfg.judge.enabled:
            stage = "synth_judge"
            j = await ask(stage, rubric_messages(question, a.answer), RubricOut, RUBRIC_TEMPLATE,
                          cfg.judge.temperature, cfg.judge.max_tokens, model=cfg.judge.model)
            verdict = {"model": _model_label(session, cfg.judge.model), "correctness": j.correctness,
                       "helpfulness": j.helpfulness, "format": j.format, "score": j.score,
                       "rationale": j.rationale}
            meta["synth"]["judge"] = verdict
            if j.score < cfg.judge.min_score:
                raise _Reject(stage, "low_score", f"judge score {j.score:g} < min_score {cfg.judge.min_score:g}",
                              judge=verdict, messages=messages)
        if repaired:
            meta["synth"]["repaired"] = repaired
        return Outcome(item, row=row, **counts)
    except _Reject as r:
        return Outcome(item, reject=reject_row(item.id, r.step, r.reason, r.detail, _source(tf), item.topic.line,
                                               topic=item.topic.name, **r.extra), **counts)
    except RequestFailed as e:
        return Outcome(item, reject=reject_row(item.id, stage, e.reason, e.detail, _source(tf), item.topic.line,
                                               topic=item.topic.name), **counts)


def _source(tf: TopicsFile) -> str:
    return tf.path


async def generate_all(session: Session, tf: TopicsFile, items: list[Item], cfg: GenerateConfig, *,
                       progress: bool | None = None, log: Callable[[str], None] | None = None) -> list[Outcome]:
    """Run every item concurrently (the client bounds requests in flight); outcomes in item order."""
    bar = ProgressBar(len(items), session.ledger, "generate", progress)
    client = session.client(log=log, on_update=bar.refresh)
    bar.attach(client)

    # Items in progress are bounded like requests: each item has one request out at a time, so this
    # keeps the endpoint busy while finishing examples depth-first (a budget stop leaves whole
    # examples, not a layer of questions without answers).
    gate = asyncio.Semaphore(session.max_in_flight)

    async def one(item: Item) -> Outcome:
        async with gate:
            out = await make_example(client, session, tf, item, cfg)
        bar.advance()
        return out

    with bar:
        return await gather_all(client, [one(it) for it in items])


def stage_counts(n_in: int, rejects: list[dict[str, Any]], stages: tuple[str, ...]) -> list[dict[str, Any]]:
    """Per-stage n_in / n_kept / n_rejected / reasons (additive, conservation holds per stage)."""
    out = []
    for st in stages:
        mine = [r for r in rejects if r["step"] == st]
        reasons = Counter(r["reason"] for r in mine)
        out.append({"step": st, "n_in": n_in, "n_kept": n_in - len(mine), "n_rejected": len(mine),
                    "reasons": dict(sorted(reasons.items())), "stats": {}})
        n_in -= len(mine)
    return out


def topic_yield(items: list[Item], outcomes: list[Outcome], rows: list[dict], rejects: list[dict]
                ) -> dict[str, dict[str, Any]]:
    """Per topic: examples requested, model requests, examples generated, kept, and rejects by reason."""
    topic_of = {it.id: it.topic.name for it in items}
    out: dict[str, dict[str, Any]] = {}
    for it in items:
        out.setdefault(it.topic.name, {"requested": 0, "requests": 0, "generated": 0, "kept": 0, "rejected": 0,
                                       "reasons": Counter()})["requested"] += 1
    for o in outcomes:
        t = out[o.item.topic.name]
        t["requests"] += o.requests
        t["generated"] += o.generated
    for r in rows:
        out[topic_of[r["id"]]]["kept"] += 1
    for r in rejects:
        t = out[topic_of[r["id"]]]
        t["rejected"] += 1
        t["reasons"][r["reason"]] += 1
    for t in out.values():
        t["reasons"] = dict(sorted(t["reasons"].items()))
    return out


def run_generate(topics: str | Path, out: str | Path, cfg: SynthConfig, *, progress: bool | None = None,
                 log: Callable[[str], None] = lambda m: None, argv: list[str] | None = None,
                 client_log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The whole ``generate`` command as a library call; returns the manifest written next to ``out``."""
    out = Path(out)
    tf = load_topics(topics)
    gcfg = cfg.generate
    items = plan_items(tf, gcfg.per_topic, gcfg.seed)
    writer = RunWriter("generate", out, argv)
    with open_session(cfg.client, out, log) as session:
        try:
            outcomes = asyncio.run(generate_all(session, tf, items, gcfg, progress=progress, log=client_log))
        except FatalEndpointError as e:
            raise SynthUserError(f"{e}; answers received so far are cached, re-run to continue") from None
    rows = [o.row for o in outcomes if o.row is not None]
    rejects = [o.reject for o in outcomes if o.reject is not None]
    steps = stage_counts(len(items), rejects, STAGES)
    if gcfg.curate.enabled:
        from synth.curation import curate_examples

        rows, cur_rejects, reports = curate_examples(rows, gcfg.curate, tf.path)
        rejects += cur_rejects
        steps += reports
    _check_conservation(items, rows, rejects)
    order = {it.id: k for k, it in enumerate(items)}
    rows.sort(key=lambda r: order[r["id"]])
    rejects.sort(key=lambda r: order.get(r["id"], len(order)))
    topics = topic_yield(items, outcomes, rows, rejects)
    config = {"client": session.cfg.model_dump(mode="json"), "generate": gcfg.model_dump(mode="json")}
    config["client"]["base_url"] = session.endpoint.describe()["base_url"] if not session.endpoint.embedded else None
    manifest = writer.write(
        rows, rejects, fmt="chatml", n_in=len(items), inputs=[Path(tf.path)] + [Path(f) for f in gcfg.curate.eval_files], config=config,
        endpoint=session.describe(), ledger=session.ledger.to_dict(), steps=steps,
        complete=not session.ledger.stopped_by_budget, redact=session_redactor(session),
        api_key_env=cfg.client.api_key_env, api_key_set=_key_set(cfg), topics=topics)
    return manifest


def _key_set(cfg: SynthConfig) -> bool:
    import os

    return bool(os.environ.get(cfg.client.api_key_env))


def session_redactor(session: Session):
    from synth.client import Redactor

    return Redactor([session.endpoint.api_key])


def _check_conservation(items: list[Item], rows: list[dict], rejects: list[dict]) -> None:
    ids = [r["id"] for r in rows] + [r["id"] for r in rejects]
    want = {it.id for it in items}
    if len(ids) != len(set(ids)) or set(ids) != want:
        dup = [i for i, n in Counter(ids).items() if n > 1][:3]
        raise AssertionError(f"generate lost or duplicated items: {len(want)} planned, {len(rows)} kept + "
                             f"{len(rejects)} rejected; duplicates {dup}, missing {sorted(want - set(ids))[:3]}")
