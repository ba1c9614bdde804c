"""The curation steps, one module each, and :data:`REGISTRY`: the one ordered list of them.

``curate run`` (``curate.run.plan``), the shard map/reduce (``curate.shard``), the Prefect flows,
synth's curation and the conservation tests all read this list. Adding a step is one module here
(a :class:`~curate.steps.base.StepType` named ``STEP``) plus its line below; a test or a plugin may
also :func:`register` one at run time.

Order: exact dedup on the raw text first (identical raw text scrubs to identical text, and it
spares PII and perplexity the copies), then the filters and PII scrubbing, then near-dedup on the
scrubbed text: conversations that differ only in names, numbers or e-mails are duplicates of the
text that ships (J = 1 after scrubbing). Semantic dedup follows (it embeds fewer records), and the
split's graph is built on the shipped text too.
"""
from __future__ import annotations

from typing import Any

from curate.pipeline import run_checked
from curate.steps import (decontam, exact_dedup, ingest, mix, near_dedup, normalize, perplexity, pii, quality,
                          select, semantic_dedup, split)
from curate.steps.base import CorpusIndex, RunContext, StepType

REGISTRY: list[StepType] = [
    ingest.STEP,
    normalize.STEP,
    select.STEP,
    exact_dedup.STEP,
    quality.STEP,
    perplexity.STEP,
    pii.STEP,
    near_dedup.STEP,
    semantic_dedup.STEP,
    split.STEP,
    mix.STEP,
    decontam.STEP,
]


def get(name: str) -> StepType:
    for s in REGISTRY:
        if s.name == name:
            return s
    raise KeyError(f"no step {name!r} in the registry ({', '.join(s.name for s in REGISTRY)})")


def register(step: StepType, *, after: str | None = None) -> StepType:
    """Add ``step`` to the registry (after step ``after``, else at the end); returns it."""
    if any(s.name == step.name for s in REGISTRY):
        raise ValueError(f"a step named {step.name!r} is already registered")
    at = len(REGISTRY) if after is None else REGISTRY.index(get(after)) + 1
    REGISTRY.insert(at, step)
    return step


def unregister(name: str) -> None:
    REGISTRY.remove(get(name))


def planned(cfg: Any) -> list[StepType]:
    """The registry's steps that are in the plan for ``cfg``, in run order."""
    return [s for s in REGISTRY if s.in_plan(cfg)]


def build(step: StepType, cfg: Any, ctx: RunContext):
    """The runnable step (``curate.pipeline.Step``: name, cache-key config JSON, function)."""
    from curate.pipeline import Step

    conf = step.config_of(cfg)
    return Step(step.name, step.key_json(cfg, ctx), lambda f: step.run(f, conf, ctx), step.adds_records)


def build_all(cfg: Any, ctx: RunContext) -> list:
    return [build(s, cfg, ctx) for s in planned(cfg)]


def resolved_configs(cfg: Any) -> dict[str, Any]:
    """The pipeline config as JSON, with the resolved config of every registered step that
    ``PipelineConfig`` has no field for (what the manifest records)."""
    out = cfg.model_dump(mode="json")
    for s in planned(cfg):
        key = s.section or s.name
        if key not in out:
            out[key] = s.config_of(cfg).model_dump(mode="json")
    return out


__all__ = ["REGISTRY", "StepType", "RunContext", "CorpusIndex", "get", "register", "unregister", "planned",
           "build", "build_all", "run_checked", "resolved_configs"]
