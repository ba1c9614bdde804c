"""Flow parameters: one frozen pydantic model per flow (each becomes a form in the Prefect UI)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from curate.config import PipelineConfig
from synth.config import SynthConfig
from schemas.frozen import Frozen
from schemas.overrides import apply_dotted


class RunnerConfig(Frozen):
    """Where mapped tasks run."""

    kind: Literal["local", "dask", "ray"] = Field(
        "local", description="local: a thread pool in the flow's process; dask / ray: a Prefect task runner "
                             "on that engine (a local cluster, or the one at `address`).")
    workers: int = Field(2, ge=1, le=4096, description="Threads (local), or worker processes of a local "
                                                       "Dask / Ray cluster. Ignored when `address` is set.")
    address: str | None = Field(
        None, description="An existing cluster: Dask scheduler (tcp://host:8786) or Ray (ray://host:10001, "
                          "or 'auto'). Inputs, out and work_dir must then be on storage every node sees.")


class CurateFlowConfig(Frozen):
    """One curation run: the same inputs, config and outputs as `python -m curate run`."""

    inputs: list[str] = Field(default_factory=lambda: ["data/sample"],
                              description="Files or folders (.txt, .jsonl[.gz], .csv), as given to `curate run`.")
    out: str = Field("out/sample", description="Run directory (train/val/test JSONL, rejects, manifest, report).")
    config_file: str | None = Field(None, description="YAML pipeline config (as `curate run --config`); "
                                                      "when set, `pipeline` is ignored.")
    pipeline: PipelineConfig = Field(default_factory=PipelineConfig,
                                     description="Step settings, used when no config_file is given.")
    overrides: dict[str, Any] = Field(default_factory=dict,
                                      description="Dotted overrides applied last, as `curate run --set`, "
                                                  "e.g. {\"pii.enabled\": false}.")
    shards: int = Field(4, ge=1, le=65536, description="Shards of the shard-parallel steps (outputs do not "
                                                       "depend on it; cache keys do).")
    work_dir: str | None = Field(None, description="Task outputs (the flow's cache on disk); default "
                                                   "a .OUT.flow folder beside OUT. Holds unscrubbed intermediate frames.")
    refresh: bool = Field(False, description="Recompute every task, ignoring cached results.")
    keep_intermediates: bool = Field(False, description="Keep the work dir's frames from before the PII step "
                                                        "(they hold unscrubbed text; by default they are deleted "
                                                        "after a successful run).")
    runner: RunnerConfig = Field(default_factory=RunnerConfig)

    def pipeline_config(self) -> PipelineConfig:
        """The PipelineConfig of the run (config file or `pipeline`, then overrides)."""
        from curate.config import load_config

        if self.config_file:
            return load_config(self.config_file, dict(self.overrides))
        if not self.overrides:
            return self.pipeline
        return load_config(None, apply_dotted(self.pipeline.model_dump(mode="json"), dict(self.overrides)))

    def work_path(self) -> Path:
        # Beside the run directory, not in it: it holds unscrubbed intermediate frames,
        # and the run directory itself must never contain raw PII.
        out = Path(self.out)
        return Path(self.work_dir) if self.work_dir else out.parent / f".{out.name}.flow"


class IncrementalConfig(Frozen):
    """Scheduled curation of a landing folder: only files not seen before are curated, against
    the corpus of every earlier increment."""

    landing: str = Field("data/landing", description="Folder where new raw files land.")
    runs_dir: str = Field("out/incremental", description="One run directory per increment, plus ledger.json "
                                                        "(files processed) and corpus/ (the merged index).")
    curate: CurateFlowConfig = Field(default_factory=CurateFlowConfig,
                                     description="Pipeline settings, shards and runner; inputs / out / "
                                                 "against are set per increment.")



class LLMRetries(Frozen):
    """Prefect-level retries of an LLM task (on top of the client's own per-request retries)."""

    retries: int = Field(3, ge=0, le=20, description="Task retries after a failed attempt (e.g. an endpoint "
                                                     "outage or a rejected key the client gives up on).")
    delay_s: float = Field(10.0, ge=0, description="First retry delay; doubles every retry.")

    def delays(self) -> list[float]:
        return [self.delay_s * 2 ** i for i in range(self.retries)]


def _synth_config(synth, config_file: str | None, overrides: dict[str, Any]):
    """A SynthConfig from a YAML file or a partial model, then dotted overrides. Only fields that were
    set count as set (synth gives an embedded server other timeouts unless set on purpose)."""
    from synth.config import load_config

    if config_file:
        return load_config(config_file, dict(overrides))
    data = synth.model_dump(mode="json", exclude_unset=True) if synth is not None else {}
    return SynthConfig.model_validate(apply_dotted(data, dict(overrides)))


class SynthFlowConfig(Frozen):
    """Seed topics -> synthetic SFT examples (synth generate) over an OpenAI-compatible endpoint."""

    topics: str = Field("data/seed_topics.yaml", description="Topics file (YAML or one topic per line).")
    out: str = Field("out/synth/sft.jsonl", description="Output ChatML JSONL (rejects and manifest go beside it).")
    config_file: str | None = Field(None, description="synth YAML config (client, generate, ...).")
    synth: SynthConfig | None = Field(None, description="synth settings (client, generate, prefs), used when "
                                                        "no config_file is given; unset fields keep synth's "
                                                        "defaults.")
    overrides: dict[str, Any] = Field(default_factory=dict, description="Dotted overrides, as `synth --set`, "
                                                                        "e.g. {\"client.base_url\": \"...\"}.")
    retry: LLMRetries = Field(default_factory=LLMRetries)

    def synth_config(self):
        return _synth_config(self.synth, self.config_file, self.overrides)


class PreferenceFlowConfig(Frozen):
    """Prompts -> K candidates -> pairwise judge in both orders -> DPO pairs (synth prefs)."""

    prompts: list[str] = Field(default_factory=list, description="Prompt files (JSONL in any format, or text); "
                                                                 "in pipeline_flow, empty = the curated train split.")
    out: str = Field("out/synth/pairs.dpo.jsonl", description="Output DPO JSONL (rejects, manifest beside it).")
    kto_out: str | None = Field(None, description="Also write unpaired KTO rows here.")
    config_file: str | None = None
    synth: SynthConfig | None = Field(None, description="synth settings, used when no config_file is given.")
    overrides: dict[str, Any] = Field(default_factory=dict)
    retry: LLMRetries = Field(default_factory=LLMRetries)
    curate_out: str | None = Field(
        None, description="Also curate the pairs (formats [dpo], pii/quality as in `curate`) into this run "
                          "directory, which train_flow(task=dpo) reads.")
    curate: CurateFlowConfig | None = Field(None, description="Settings of that curation (inputs and out are set).")

    def synth_config(self):
        return _synth_config(self.synth, self.config_file, self.overrides)


class TrainFlowConfig(Frozen):
    """An SFT or DPO run (train.run.train) from a validated curate/synth run directory."""

    config_file: str | None = Field(None, description="train YAML config (data/train_sft.yaml shape).")
    task: Literal["sft", "dpo"] | None = Field(None, description="Overrides the config's task.")
    data: str | None = Field(None, description="Run directory (manifest.json + split files); in pipeline_flow, "
                                               "the curated run.")
    model: str | None = Field(None, description="Base model folder; null: the embedded model.")
    out: str = Field("out/train", description="Output folder of the run (adapter, eval report, run.json).")
    overrides: list[str] = Field(default_factory=list, description="KEY=VALUE overrides, as `train --set`, "
                                                                   "e.g. optim.max_steps=8.")

    def train_config(self):
        from train.config import load_config

        kw: dict[str, Any] = {"out": self.out}
        for k in ("task", "data", "model"):
            if getattr(self, k) is not None:
                kw[k] = getattr(self, k)
        return load_config(self.config_file, overrides=list(self.overrides), **kw)


class PipelineFlowConfig(Frozen):
    """Synthesis (optional) -> curation -> preferences (optional) -> training (optional)."""

    curate: CurateFlowConfig = Field(default_factory=CurateFlowConfig)
    synth: SynthFlowConfig | None = Field(None, description="When set, synthetic examples are generated first "
                                                           "and curated together with the real inputs.")
    preferences: PreferenceFlowConfig | None = Field(None, description="When set, DPO pairs are made (by "
                                                                     "default from the curated train prompts).")
    train: TrainFlowConfig | None = Field(None, description="When set, training starts on the curated run "
                                                           "(sft) or the curated pairs (dpo) once they validate.")
