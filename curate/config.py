"""Pipeline configuration: one frozen pydantic model per step, loaded from YAML, overridden by flags."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from curate.console import fail
from curate.handoff import HandoffConfig
from curate.perplexity import PerplexityConfig
from curate.pii_step import PiiStepConfig
from curate.quality import QualityConfig
from curate.system_prompt import SystemPromptConfig
from curate.semantic import SemanticDedupConfig
from schemas.frozen import Frozen
from schemas.overrides import OverrideError, apply_dotted

DEFAULT_SPEAKERS = {
    "agent": "assistant", "assistant": "assistant", "support": "assistant", "bot": "assistant",
    "representative": "assistant", "rep": "assistant",
    "customer": "user", "user": "user", "client": "user", "caller": "user",
    "system": "system",
}


class IngestConfig(Frozen):
    speakers: dict[str, Literal["user", "assistant", "system"]] = Field(
        default_factory=lambda: dict(DEFAULT_SPEAKERS),
        description="Speaker label (case-insensitive) to chat role, for plain-text and CSV transcripts.")
    delimiter: str = Field(r"^\s*(?:-{3,}|={3,}.*={3,}|={3,})\s*$",
                           description="Regex of a line that separates conversations in one text file.")
    not_speaker_labels: list[str] = Field(
        default_factory=lambda: ["note", "ps", "p.s", "re", "subject", "tip", "warning", "example", "q", "a",
                                 "important", "update", "edit", "error", "hint", "answer", "question", "reason"],
        description="Words that look like a speaker label ('Note: ...') but continue the previous turn.")
    leading_assistant: Literal["drop", "keep_as_system", "reject"] = Field(
        "drop", description="What to do with agent turns before the first customer turn (greetings).")
    group_field: str | None = Field(
        "customer_id", description="Field whose value groups records for splitting (else the conversation id).")
    csv_columns: dict[str, str] = Field(
        default_factory=lambda: {"conversation": "conversation_id", "turn": "turn", "speaker": "speaker",
                                 "text": "text"},
        description="CSV column names for conversation id, turn index, speaker and text.")
    max_record_mb: float = Field(8.0, gt=0, description="Largest JSONL line accepted.")
    meta_rename: dict[str, str] = Field(
        default_factory=dict,
        description="Rename conversation metadata fields (names as lower-case snake_case), e.g. "
                    "{satisfaction: csat}; a renamed field does not overwrite one already called that.")


class NormalizeConfig(Frozen):
    unicode_form: Literal["NFC", "NFKC"] = Field("NFC", description="Unicode normal form.")
    collapse_spaces: bool = Field(True, description="Collapse runs of spaces and tabs inside lines.")
    max_blank_lines: int = Field(1, ge=0, description="Blank lines kept in a row inside a turn.")


class SelectConfig(Frozen):
    expression: str | None = Field(
        None, description="Keep records whose metadata match this polars SQL expression, e.g. "
                          "\"resolved = true and csat >= 4\", \"channel != 'email'\", \"agent_tier in (2, 3)\", "
                          "\"created >= DATE '2024-01-01'\"; others are rejects select.not_matched.")
    sources: dict[str, str] = Field(
        default_factory=dict,
        description="Per-source expressions: a glob of the input path or file name -> expression. For records "
                    "of a matching file it replaces `expression` (first matching glob wins).")
    on_missing: Literal["reject", "keep"] = Field(
        "reject", description="Records lacking a field their expression uses: rejects select.missing_field, "
                              "or kept without being tested.")
    keep_meta: list[str] = Field(
        default_factory=list,
        description="Metadata fields written to the exported rows (meta.fields), scrubbed by the pii config; "
                    "every other field is dropped at this step.")

    @field_validator("expression", "sources")
    @classmethod
    def _parses(cls, v):
        from curate.select import parse_expression

        for text in (v.values() if isinstance(v, dict) else [v] if v is not None else []):
            parse_expression(text)  # a syntax error is refused when the config is built
        return v

    def active(self) -> bool:
        """True when anything is selected or kept (else the step only drops metadata fields)."""
        return bool(self.expression or self.sources or self.keep_meta)


class ExactDedupConfig(Frozen):
    enabled: bool = True
    case_sensitive: bool = Field(False, description="Treat texts differing only in case as different.")


class NearDedupConfig(Frozen):
    enabled: bool = True
    threshold: float = Field(0.8, gt=0, lt=1, description="Jaccard similarity of shingle sets that counts as near-duplicate.")
    num_perm: int = Field(128, ge=16, le=1024, description="MinHash permutations.")
    ngram: int = Field(5, ge=1, le=20, description="Word n-gram size of shingles.")
    verify: bool = Field(True, description="Check candidate pairs with exact Jaccard to drop false positives.")
    false_negative_weight: float = Field(
        0.95, gt=0, lt=1,
        description="Weight of missed pairs vs false candidates when choosing bands x rows; high favours recall "
                    "(safe with verify on: false candidates are checked and dropped).")
    seed: int = 1
    workers: int = Field(1, ge=1, le=64, description="Processes for signatures.")

    def minhash_params(self, threshold: float | None = None):
        """The `curate.minhash.MinHashParams` of this config, at ``threshold`` when given (the split's
        related threshold). With verification on, bands x rows lean to recall (false candidates are
        checked and dropped)."""
        from curate.minhash import MinHashParams

        fn = self.false_negative_weight if self.verify else 0.5
        return MinHashParams(num_perm=self.num_perm, ngram=self.ngram,
                             threshold=self.threshold if threshold is None else threshold, seed=self.seed,
                             false_positive_weight=1 - fn, false_negative_weight=fn)


class SplitConfig(Frozen):
    ratios: tuple[float, float, float] = Field((0.8, 0.1, 0.1), description="train / val / test fractions.")
    seed: str = Field("curatekit-split-v1", description="Salt of the group-key hash; changing it reshuffles.")
    synthetic_in_eval: bool = Field(False, description="Allow synthetic (LLM-made) records in val and test.")
    related_threshold: float = Field(
        0.55, gt=0, lt=1, description="MinHash Jaccard at which two records are related and share a split "
                                      "(groups only, never deletes; near_dedup.threshold deletes).")
    boilerplate_max_records: int = Field(
        20, ge=1, description="A span found in more records than this is boilerplate (canned macros, greetings) "
                              "and joins nothing; the bound actually used (k, reported) may be lower, see "
                              "max_component_share.")
    max_component_share: float = Field(
        0.15, gt=0, le=1, description="k is lowered until no component of related records holds more than this "
                                      "share of the records (unless one group alone is bigger).")
    ratio_tolerance: float = Field(
        0.03, ge=0, lt=1, description="Largest gap allowed between a realised split share and its ratio; "
                                      "whole components are moved to stay within it, and the report says when "
                                      "that is impossible.")


class DecontamConfig(Frozen):
    enabled: bool = True
    ngram: int = Field(13, ge=4, le=64, description="Length in words of a shared span that counts as leakage "
                                                    "(and joins two records in one split).")
    eval_files: list[str] = Field(default_factory=list, description="Eval sets (JSONL, any format) to keep out of train: "
                                  "the only case, with synthetic/mixed-in records vs val/test, where records "
                                  "are deleted for overlap (internal leaks are prevented by the split).")
    boilerplate_min_records: int = Field(
        3, ge=2,
        description="Against eval files: an n-gram found in at least this many records (corpus and eval sets) "
                    "is boilerplate (greetings, canned agent macros) and does not count as leakage. Inside the "
                    "corpus the split's adaptive bound k is used instead.")


class MixConfig(Frozen):
    files: list[str] = Field(default_factory=list, description="General instruction data (JSONL, any format) to blend into train.")
    fraction: float = Field(0.05, ge=0, lt=0.5, description="Target fraction of train made of mixed-in records.")
    seed: int = 0


class ExportConfig(Frozen):
    formats: list[Literal["chatml", "alpaca", "sharegpt", "dpo"]] = Field(
        default_factory=lambda: ["chatml"], description="Output formats; the first is primary.")
    system_prompt: SystemPromptConfig = Field(
        default_factory=SystemPromptConfig, description="System turn set on every exported record (or per source).")


class ReportConfig(Frozen):
    warn_step_share: float = Field(
        0.10, ge=0, le=1, description="Warn (summary, manifest, report.html) when one step removes more than this "
                                      "share of the distinct conversations.")


class PipelineConfig(Frozen):
    ingest: IngestConfig = IngestConfig()
    normalize: NormalizeConfig = NormalizeConfig()
    select: SelectConfig = SelectConfig()
    exact_dedup: ExactDedupConfig = ExactDedupConfig()
    near_dedup: NearDedupConfig = NearDedupConfig()
    quality: QualityConfig = Field(default_factory=QualityConfig, description="Heuristic quality checks.")
    perplexity: PerplexityConfig = Field(
        default_factory=lambda: PerplexityConfig(enabled=False),
        description="Perplexity filter: off unless asked for (--perplexity, or any perplexity setting given: "
                    "a section without `enabled` is on, the field's own default).")
    pii: PiiStepConfig = Field(default_factory=PiiStepConfig, description="PII scrubbing (on by default).")
    semantic_dedup: SemanticDedupConfig = Field(default_factory=SemanticDedupConfig,
                                                description="Paraphrase dedup and split edges by sentence embeddings.")
    split: SplitConfig = SplitConfig()
    decontam: DecontamConfig = DecontamConfig()
    mix: MixConfig = MixConfig()
    export: ExportConfig = ExportConfig()
    report: ReportConfig = ReportConfig()
    handoff: HandoffConfig = HandoffConfig()
    against: str | None = Field(None, description="An earlier run directory: dedup new data against its corpus.")
    added_steps: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Settings of steps registered outside this model (curate.steps.register), "
                                          "by step name; a section named after such a step lands here.")

    @classmethod
    def section_names(cls) -> set[str]:
        """First keys of every curate setting: this model's sections and every registered step's."""
        from curate import steps

        return (set(cls.model_fields) - {"added_steps"}) | {s.section or s.name for s in steps.REGISTRY}

    @model_validator(mode="before")
    @classmethod
    def _added_step_sections(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        from curate import steps

        names = {s.name for s in steps.REGISTRY if (s.section or s.name) not in cls.model_fields}
        moved = {k: v for k, v in data.items() if k in names}
        if not moved:
            return data
        return {**{k: v for k, v in data.items() if k not in moved},
                "added_steps": {**data.get("added_steps", {}), **moved}}

    @model_validator(mode="after")
    def _added_steps_valid(self) -> "PipelineConfig":
        from curate import steps

        for name, section in self.added_steps.items():
            try:
                steps.get(name).config_cls.model_validate(section)
            except KeyError:
                raise ValueError(f"added_steps.{name}: no step {name!r} is registered") from None
            except ValidationError as e:
                err = e.errors()[0]
                raise ValueError(f"{name}.{'.'.join(str(x) for x in err['loc'])}: {err['msg']}") from None
        return self


def load_config(path: str | Path | None, overrides: dict[str, Any] | None = None) -> PipelineConfig:
    """Load YAML (if given), apply dotted overrides, validate; bad config is one clear error."""
    data: dict[str, Any] = {}
    if path:
        p = Path(path)
        if not p.is_file():
            fail(f"{p}: config file not found", code=2)
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f"{p}:{mark.line + 1}" if mark else str(p)
            fail(f"{where}: invalid YAML ({getattr(e, 'problem', e)})", code=2)
        if not isinstance(data, dict):
            fail(f"{p}: config must be a mapping of step names to settings", code=2)
    try:
        apply_dotted(data, overrides or {})
    except OverrideError as e:
        fail(f"{path or 'config'}: --set: {e}", code=2)
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        if not loc:  # a check across sections (an added step's settings) names its place itself
            fail(f"{path or 'config'}: {err['msg'].removeprefix('Value error, ')}", code=2)
        fail(f"{path or 'config'}: {loc}: {err['msg']}", code=2)
