"""Prefect flows over the libraries: thin tasks that call curate / synth / train and pass manifests.

- ``curate_flow``, ``incremental_curate_flow`` (flows.curate)
- ``synth_flow``, ``preference_flow`` (flows.synthesis)
- ``train_flow`` (flows.training)
- ``pipeline_flow`` (flows.pipeline)
- deployments and schedules in one place (flows.deployments); ``python -m flows`` (flows.cli)

Imported lazily, so ``import flows`` does not import Prefect.
"""
from __future__ import annotations

_WHERE = {"curate_flow": "flows.curate", "incremental_curate_flow": "flows.curate",
          "synth_flow": "flows.synthesis", "preference_flow": "flows.synthesis",
          "train_flow": "flows.training", "pipeline_flow": "flows.pipeline"}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'flows' has no attribute {name!r}")
