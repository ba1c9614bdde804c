"""Every deployment and schedule, declared in one place; `python -m flows serve` registers and serves them.

- ``curate-incremental/scheduled``: cron (nightly by default) curation of a landing folder;
  only files not processed before are curated, against every earlier increment's corpus.
- ``curate/on-demand``, ``synth/on-demand``, ``preferences/on-demand``, ``train/on-demand``,
  ``pipeline/on-demand``: no schedule; run from the UI (a form of the flow's config) or with
  ``prefect deployment run 'synth/on-demand' --param config='{...}'``.

Serving needs a Prefect server (``prefect server start``) and ``PREFECT_API_URL`` pointing at it;
the served process runs each flow run in a subprocess on this machine.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from prefect.types.entrypoint import EntrypointType

from flows.config import (CurateFlowConfig, IncrementalConfig, PipelineFlowConfig, PreferenceFlowConfig,
                          SynthFlowConfig, TrainFlowConfig)

NIGHTLY = "0 2 * * *"
SCHEDULED = "scheduled"
ON_DEMAND = "on-demand"


def _params(config: Any) -> dict[str, Any]:
    return {"config": config.model_dump(mode="json", exclude_unset=True)}


def build_deployments(incremental: IncrementalConfig | None = None, cron: str | None = NIGHTLY,
                      interval: float | None = None) -> list:
    """The RunnerDeployments that `serve` registers (the schedule: ``interval`` seconds when given,
    else ``cron``)."""
    from flows.curate import curate_flow, incremental_curate_flow
    from flows.pipeline import pipeline_flow
    from flows.synthesis import preference_flow, synth_flow
    from flows.training import train_flow

    inc = incremental or IncrementalConfig()
    sched: dict[str, Any] = ({"interval": dt.timedelta(seconds=interval)} if interval else {"cron": cron or NIGHTLY})
    module = dict(entrypoint_type=EntrypointType.MODULE_PATH)
    return [
        incremental_curate_flow.to_deployment(
            name=SCHEDULED, parameters=_params(inc), tags=["curate", "scheduled"], **sched, **module,
            description=f"Curate new files of {inc.landing} into {inc.runs_dir}/run-NNNN, deduplicated against "
                        "every earlier increment; earlier groups keep their split."),
        curate_flow.to_deployment(name=ON_DEMAND, parameters=_params(CurateFlowConfig()), tags=["curate"],
                                  description="One curation run (python -m curate run as a flow).", **module),
        synth_flow.to_deployment(name=ON_DEMAND, parameters=_params(SynthFlowConfig()), tags=["synth", "llm"],
                                 description="Synthetic SFT examples from seed topics.", **module),
        preference_flow.to_deployment(name=ON_DEMAND, parameters=_params(PreferenceFlowConfig()),
                                      tags=["synth", "llm"], description="DPO preference pairs from prompts.",
                                      **module),
        train_flow.to_deployment(name=ON_DEMAND, parameters=_params(TrainFlowConfig()), tags=["train"],
                                 description="SFT / DPO on a validated run directory.", **module),
        pipeline_flow.to_deployment(name=ON_DEMAND, parameters=_params(PipelineFlowConfig()), tags=["pipeline"],
                                    description="Synthesis -> curation -> preferences -> training.", **module),
    ]


def serve_all(incremental: IncrementalConfig | None = None, cron: str | None = NIGHTLY,
              interval: float | None = None, limit: int | None = 1) -> None:
    """Register every deployment with the server at PREFECT_API_URL and run their flow runs until stopped.

    ``limit`` bounds concurrent flow runs of this process (1: runs queue up, so two
    increments never write the ledger at once).
    """
    from prefect import serve

    serve(*build_deployments(incremental, cron, interval), limit=limit)
