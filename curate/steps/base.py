"""What makes a step: :class:`StepType` (name, typed config, function, ``per_shard``, reason codes)
and :class:`RunContext`, the run-wide inputs a step may read (input files, the ``against`` corpus,
eval sets), loaded lazily so that building one step loads only what it uses.

A step module under ``curate/steps/`` defines one ``StepType`` named ``STEP``; ``curate.steps``
lists them in run order (:data:`curate.steps.REGISTRY`). ``curate run``, the shard map/reduce,
the Prefect flows, synth's curation and the conservation tests all read that one list.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Callable

import polars as pl
from pydantic import BaseModel

from curate.pipeline import _h
from curate.step import StepResult


@dataclass(frozen=True)
class ShardMap:
    """The map half of a global step whose heavy part runs per shard: ``map(frame, cfg)`` gives an
    array per shard (keyed by ``key(cfg)`` alone: what makes the arrays comparable), ``reduce(frame,
    cfg, array)`` the step's result over the concatenated frame and the concatenated arrays; equal
    to one whole-frame call. ``applies(cfg)``: whether the map form may be used for this config."""

    name: str
    applies: Callable[[Any], bool]
    key: Callable[[Any], str]
    map: Callable[[pl.DataFrame, Any], Any]
    reduce: Callable[[pl.DataFrame, Any, Any], StepResult]


@dataclass(frozen=True)
class StepType:
    """One kind of step.

    ``run(frame, config, ctx)`` returns a :class:`~curate.step.StepResult` (conservation is checked by
    the caller). ``config_of(cfg)`` picks the step's typed config out of the pipeline config (by
    default the field named ``section``; a step registered from outside ``PipelineConfig`` reads
    its section of ``cfg.added_steps``, so ``--set <name>.<field>=...`` reaches it too). ``per_shard``: the step's outcome for a record depends
    only on that record and the config, so it may run on shards (a callable decides per config).
    ``adds_records``: a source of records (ingest, mix), whose ``n_in`` counts what it brought in.
    ``reasons``: the reason codes it may emit; every one starts with one of ``prefixes``
    (``"<name>."`` unless the step keeps an older family, as the dedup steps' ``dedup.``).
    ``key_inputs(cfg, ctx)``: what besides its own config its result depends on (other sections,
    digests of eval or corpus files); part of its cache key. ``enabled(cfg)``: whether the step is
    in the plan at all (a step that is in the plan but turned off keeps every record).
    ``shard_map``: a global step's map/reduce form (near-dedup: signatures per shard, banding once).
    """

    name: str
    config_cls: type[BaseModel]
    run: Callable[[pl.DataFrame, Any, "RunContext"], StepResult]
    reasons: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()
    per_shard: bool | Callable[[Any], bool] = False
    adds_records: bool = False
    section: str | None = None
    key_inputs: Callable[[Any, "RunContext"], tuple] | None = None
    enabled: Callable[[Any], bool] | None = None
    shard_map: ShardMap | None = None

    @property
    def reason_prefixes(self) -> tuple[str, ...]:
        return self.prefixes or (f"{self.name}.",)

    def config_of(self, cfg: Any) -> BaseModel:
        value = getattr(cfg, self.section or self.name, None)
        if isinstance(value, self.config_cls):
            return value
        return self.config_cls.model_validate(getattr(cfg, "added_steps", {}).get(self.name, {}))

    def in_plan(self, cfg: Any) -> bool:
        return True if self.enabled is None else bool(self.enabled(cfg))

    def shardable(self, cfg: Any) -> bool:
        return bool(self.per_shard(cfg) if callable(self.per_shard) else self.per_shard)

    def key_json(self, cfg: Any, ctx: "RunContext") -> str:
        """The config part of the step's cache key: its config, plus ``key_inputs`` when it has any."""
        conf = self.config_of(cfg)
        extra = self.key_inputs(cfg, ctx) if self.key_inputs else ()
        if not extra:
            return conf.model_dump_json()
        return json.dumps([c.model_dump(mode="json") if hasattr(c, "model_dump") else c for c in (conf, *extra)])


@dataclass
class CorpusIndex:
    """An earlier run's corpus (``--against``): exact key -> id, signatures and their ids, group
    digest -> split, and the split of each signature row."""

    exact: dict[str, str] = field(default_factory=dict)
    sigs: Any = None
    ids: list[str] = field(default_factory=list)
    groups: dict[str, str] = field(default_factory=dict)
    splits: list[str] = field(default_factory=list)


class RunContext:
    """Run-wide inputs of the steps, each loaded on first use: the input ``files``, the ``against``
    corpus index, the eval sets' texts and the digests that key the steps reading them.
    ``cache_dir``: where steps may keep caches that outlive a step (semantic dedup's embeddings)."""

    def __init__(self, cfg: Any, files: list[Path] | None = None, cache_dir: Path | None = None):
        self.cfg, self.files, self.cache_dir = cfg, list(files or []), cache_dir

    @cached_property
    def corpus(self) -> CorpusIndex:
        from curate.run import _corpus_index

        return CorpusIndex(*_corpus_index(self.cfg.against))

    @cached_property
    def eval_texts(self) -> dict[str, list[str]]:
        from curate.run import _eval_texts

        return _eval_texts(self.cfg.decontam.eval_files)

    @cached_property
    def eval_digest(self) -> str:
        return _files_digest(self.cfg.decontam.eval_files)

    @cached_property
    def mix_digest(self) -> str:
        return _files_digest(self.cfg.mix.files)

    @cached_property
    def against_digest(self) -> str:
        c = self.corpus
        return _h(str(self.cfg.against), str(len(c.exact)), str(sorted(c.groups.items())))


def _files_digest(files: list[str]) -> str:
    from schemas.hashing import file_sha256

    return _h(*[f"{f}:{file_sha256(Path(f))}" for f in files])
