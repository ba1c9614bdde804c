"""pytest fixtures for flow tests; a test module loads them with ``pytest_plugins = ("flows.testing",)``.

``prefect_harness`` (session): Prefect's ``prefect_test_harness`` (a temporary
local API server on a temporary database) with a fresh PREFECT_HOME and result
storage for the session, so no cached result of an earlier session (or of the
user's ~/.prefect) can leak into a test; analytics off; a generous server
start-up timeout for slow CI machines. The variables are also put in
``os.environ`` so that processes the tests start (Dask workers, CLI runs) see them.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

STARTUP_TIMEOUT_S = 150


def harness_env(home: Path) -> dict[str, str]:
    return {"PREFECT_HOME": str(home), "PREFECT_RESULTS_LOCAL_STORAGE_PATH": str(home / "storage"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": str(STARTUP_TIMEOUT_S),
            "PREFECT_LOGGING_TO_API_BATCH_INTERVAL": "0.5"}


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory) -> Iterator[Path]:
    """A session-wide Prefect test API; yields the session's PREFECT_HOME."""
    home = tmp_path_factory.mktemp("prefect_home")
    env = harness_env(home)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    from prefect import settings
    from prefect.testing.utilities import prefect_test_harness

    try:
        with settings.temporary_settings(updates={
            settings.PREFECT_HOME: str(home),
            settings.PREFECT_RESULTS_LOCAL_STORAGE_PATH: str(home / "storage"),
            settings.PREFECT_SERVER_ANALYTICS_ENABLED: False,
            settings.PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS: STARTUP_TIMEOUT_S,
        }):
            with prefect_test_harness(server_startup_timeout=STARTUP_TIMEOUT_S):
                yield home
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

