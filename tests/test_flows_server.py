"""A real `prefect server start` on a free port, `python -m flows serve` against it: the scheduled
incremental curation gets a run from its schedule and the run completes; the on-demand deployments
are registered. Both processes are stopped (their process groups) at the end."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[1]
DEADLINE_S = 90


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    """SIGINT the process group we started (serve pauses its schedules), then SIGKILL what is left."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(10)


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-3000:] if path.is_file() else ""


@pytest.fixture
def prefect_server(tmp_path):
    port = _free_port()
    home = tmp_path / "prefect_home"
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_UI_ENABLED": "false", "PREFECT_RESULTS_LOCAL_STORAGE_PATH": str(home / "storage")}
    env.pop("PREFECT_API_URL", None)
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                                 "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, cwd=tmp_path)
    api = f"http://127.0.0.1:{port}/api"
    try:
        t0 = time.monotonic()
        while True:
            try:
                if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() - t0 > 60:
                pytest.fail(f"prefect server did not start: {_tail(log)}")
            time.sleep(0.5)
        yield api, env
    finally:
        _stop(proc)


def test_serve_registers_the_deployments_and_a_scheduled_incremental_run_completes(prefect_server, tmp_path):
    api, env = prefect_server
    landing, runs = tmp_path / "landing", tmp_path / "runs"
    landing.mkdir()
    shutil.copy(REPO / "data/sample/chats.jsonl", landing)
    shutil.copy(REPO / "data/sample/turns.csv", landing)
    env = {**env, "PREFECT_API_URL": api, "PREFECT_RUNNER_POLL_FREQUENCY": "1"}
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        serve = subprocess.Popen([sys.executable, "-m", "flows", "serve", "--interval", "5",
                                  "--landing", str(landing), "--runs-dir", str(runs), "--no-pii", "--shards", "2"],
                                 cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    t0 = time.monotonic()
    try:
        done = None
        while done is None:
            assert serve.poll() is None, f"serve exited: {_tail(log)}"
            assert time.monotonic() - t0 < DEADLINE_S, f"no completed scheduled run in {DEADLINE_S}s: {_tail(log)}"
            r = httpx.post(f"{api}/flow_runs/filter", json={
                "deployments": {"name": {"any_": ["scheduled"]}},
                "flow_runs": {"state": {"type": {"any_": ["COMPLETED", "FAILED", "CRASHED"]}}}}, timeout=10)
            finished = r.json() if r.status_code == 200 else []
            if finished:
                done = finished[0]
            else:
                time.sleep(1)
        deployments = httpx.post(f"{api}/deployments/filter", json={}, timeout=10).json()
    finally:
        _stop(serve)

    assert done["state"]["type"] == "COMPLETED", f"{done['state']}\n{_tail(log)}"
    assert done["auto_scheduled"] is True
    named = {(d["name"], d["entrypoint"].rsplit(".", 1)[-1]) for d in deployments}
    assert {("scheduled", "incremental_curate_flow"), ("on-demand", "synth_flow"),
            ("on-demand", "preference_flow"), ("on-demand", "train_flow")} <= named
    scheduled = next(d for d in deployments if d["name"] == "scheduled")
    assert scheduled["schedules"] and scheduled["schedules"][0]["schedule"]["interval"] == 5
    ledger = json.loads((runs / "ledger.json").read_text())
    assert ledger["runs"][0] == "run-0001" and len(ledger["files"]) == 2
    assert (runs / "run-0001" / "manifest.json").is_file()
