"""Task runners by config: a thread pool, or Prefect's runners for Dask and Ray (existing engines).

Without an address, Dask and Ray start a local cluster of ``workers``
processes for the flow run and stop it at the end; with one, tasks go to that
cluster. Tasks exchange file paths, so on a multi-node cluster the inputs, the
run directory and the work dir (and Prefect's result storage) must be on
storage that every node mounts at the same path.
"""
from __future__ import annotations

import os

from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from flows.config import RunnerConfig


def current_api_url() -> str | None:
    """The API this flow run reports to: PREFECT_API_URL, or the temporary server of ephemeral mode."""
    from prefect.context import FlowRunContext
    from prefect.settings import PREFECT_API_URL

    ctx = FlowRunContext.get()
    url = getattr(getattr(ctx, "client", None), "api_url", None) if ctx else None
    return str(url).rstrip("/") if url else PREFECT_API_URL.value()


def _api_env() -> dict[str, str]:
    """Environment for local worker processes: without it a worker of an ephemeral-mode flow
    would start a temporary API server of its own and report its task runs there."""
    url = current_api_url()
    return {"PREFECT_API_URL": url} if url else {}


def make_runner(rc: RunnerConfig) -> TaskRunner:
    """A fresh, not yet started task runner for ``rc`` (enter it with ``with``)."""
    if rc.kind == "local":
        return ThreadPoolTaskRunner(max_workers=rc.workers)
    if rc.kind == "dask":
        try:
            from prefect_dask import DaskTaskRunner
        except ImportError as e:  # pragma: no cover - depends on the install
            raise RuntimeError("runner.kind=dask needs prefect-dask: pip install 'prefect-dask==0.3.7'") from e
        if rc.address:
            return DaskTaskRunner(address=rc.address)
        # One thread per worker process: the steps are CPU-bound Python/polars, and
        # processes (not threads) are what gives a second core to pure-Python work.
        return DaskTaskRunner(cluster_kwargs={"n_workers": rc.workers, "threads_per_worker": 1,
                                              "processes": True, "dashboard_address": None,
                                              "env": _api_env()})
    if rc.kind == "ray":
        try:
            from prefect_ray import RayTaskRunner
        except ImportError as e:  # pragma: no cover - depends on the install
            raise RuntimeError("runner.kind=ray needs prefect-ray: pip install 'prefect-ray==0.6.0'") from e
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        if rc.address:
            return RayTaskRunner(address=rc.address)
        return RayTaskRunner(init_kwargs={"num_cpus": rc.workers, "include_dashboard": False,
                                          "runtime_env": {"env_vars": _api_env()}})
    raise ValueError(f"unknown runner kind {rc.kind!r}")
