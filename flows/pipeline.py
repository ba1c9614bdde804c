"""pipeline_flow: synthesis -> curation -> preferences -> training, as subflows.

Synthetic examples (when configured) join the real inputs of the curation run,
so they are deduplicated against real data, scrubbed and kept in train. The
curated run directory is what training reads (SFT); DPO trains on the curated
preference pairs. Training starts only after its data validates.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger

from flows.config import PipelineFlowConfig
from flows.curate import curate_flow
from flows.synthesis import preference_flow, synth_flow
from flows.training import train_flow


@flow(name="pipeline", description="Synthesis (optional) -> curation -> preferences (optional) -> "
                                   "training (optional), each a subflow.")
def pipeline_flow(config: PipelineFlowConfig = PipelineFlowConfig()) -> dict[str, Any]:
    """Run the configured stages in order; returns each stage's summary."""
    log = get_run_logger()
    result: dict[str, Any] = {}
    curate_cfg = config.curate
    if config.synth is not None:
        result["synth"] = synth_flow(config.synth)
        curate_cfg = curate_cfg.model_copy(update={"inputs": [*curate_cfg.inputs, config.synth.out]})
    result["curate"] = curate_flow(curate_cfg)
    train_data = curate_cfg.out
    if config.preferences is not None:
        prefs = config.preferences
        if not prefs.prompts:
            prefs = prefs.model_copy(update={"prompts": [str(Path(curate_cfg.out) / "train.chatml.jsonl")]})
        result["preferences"] = preference_flow(prefs)
    if config.train is not None:
        tc = config.train
        if tc.data is None:
            task = tc.task or tc.train_config().task
            if task == "dpo":
                if config.preferences is None or not config.preferences.curate_out:
                    raise ValueError("a dpo training stage needs preferences.curate_out (the curated pairs)")
                train_data = config.preferences.curate_out
            tc = tc.model_copy(update={"data": train_data})
        log.info("training on %s", tc.data)
        result["train"] = train_flow(tc)
    return result
