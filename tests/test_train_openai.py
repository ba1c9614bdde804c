"""Hosted handoff against a local endpoint that implements the files and fine-tuning routes."""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from train.openai_job import OpenAIJobError, run_openai_job
from train.testing import write_run_dir

CHAT = {"id": "c1", "messages": [{"role": "user", "content": "Is the outage fixed?"},
                                 {"role": "assistant", "content": "Yes, service was restored at 10:40."}],
        "meta": {"provenance": "real"}}


class FineTuningAPI(BaseHTTPRequestHandler):
    """POST /v1/files, POST /v1/fine_tuning/jobs, GET .../jobs/{id}, GET .../jobs/{id}/events."""

    state: dict = {}

    def log_message(self, *args):  # quiet
        pass

    def _send(self, obj, code=200):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _job(self):
        s = self.state
        return {"id": "ftjob-1", "object": "fine_tuning.job", "model": s["job"]["model"], "created_at": 1,
                "status": s["status"], "training_file": s["job"]["training_file"],
                "validation_file": s["job"].get("validation_file"), "fine_tuned_model":
                "ft:tiny:curatekit:1" if s["status"] == "succeeded" else None, "hyperparameters": {},
                "organization_id": "org", "result_files": [], "seed": 0, "error": None}

    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(n)
        if self.path == "/v1/files":
            fid = f"file-{len(self.state['files']) + 1}"
            self.state["files"][fid] = body
            self._send({"id": fid, "object": "file", "bytes": len(body), "created_at": 1, "filename": "x.jsonl",
                        "purpose": "fine-tune", "status": "processed"})
        elif self.path == "/v1/fine_tuning/jobs":
            self.state["job"] = json.loads(body)
            self.state["status"] = "queued"
            self._send(self._job())
        else:
            self._send({"error": {"message": "not found"}}, 404)

    def do_GET(self):
        s = self.state
        if self.path.startswith("/v1/fine_tuning/jobs/ftjob-1/events"):
            s["polls"] += 1
            events = [{"id": "ev-1", "object": "fine_tuning.job.event", "created_at": 1, "level": "info",
                       "message": "Job started", "type": "message"}]
            if s["polls"] >= 2:
                events.append({"id": "ev-2", "object": "fine_tuning.job.event", "created_at": 2, "level": "info",
                               "message": "Step 1/2", "type": "metrics",
                               "data": {"step": 1, "train_loss": 1.25, "valid_loss": 1.5}})
                s["status"] = "succeeded"
            self._send({"object": "list", "data": list(reversed(events)), "has_more": False})
        elif self.path == "/v1/fine_tuning/jobs/ftjob-1":
            if s["status"] == "queued":
                s["status"] = "running"
            self._send(self._job())
        else:
            self._send({"error": {"message": "not found"}}, 404)


@pytest.fixture()
def endpoint():
    FineTuningAPI.state = {"files": {}, "polls": 0}
    server = ThreadingHTTPServer(("127.0.0.1", 0), FineTuningAPI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", FineTuningAPI.state
    server.shutdown()


def test_uploads_train_and_val_creates_a_job_and_follows_its_loss_lines(tmp_path, endpoint, monkeypatch):
    import openai

    url, state = endpoint
    run = write_run_dir(tmp_path / "run", {"train": [CHAT, CHAT], "val": [CHAT], "test": [CHAT]})
    lines: list[str] = []
    client = openai.OpenAI(base_url=url, api_key="test", max_retries=0)
    started = time.monotonic()
    job = run_openai_job(run, "gpt-tiny", client=client, suffix="curatekit", epochs=2, poll_seconds=0.01,
                         log=lines.append, timeout_s=30)
    assert time.monotonic() - started < 30
    assert job["status"] == "succeeded" and job["fine_tuned_model"] == "ft:tiny:curatekit:1"
    assert len(state["files"]) == 2  # train and val; test is never uploaded
    uploaded = [b for b in state["files"].values()]
    assert b'{"messages": [{"role": "user", "content": "Is the outage fixed?"}' in uploaded[0]
    assert b'"meta"' not in uploaded[0] and b'"id"' not in uploaded[0]
    assert state["job"]["training_file"] == "file-1" and state["job"]["validation_file"] == "file-2"
    assert state["job"]["method"] == {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2}}}
    assert state["job"]["suffix"] == "curatekit"
    assert lines[:2] == ["uploaded train: 2 examples as file-1", "uploaded val: 1 examples as file-2"]
    assert "[info] Job started" in lines and "step 1  train_loss 1.2500  valid_loss 1.5000" in lines
    assert lines.count("[info] Job started") == 1
    assert lines[-1] == "job ftjob-1 succeeded: fine-tuned model ft:tiny:curatekit:1"


def test_unverified_data_and_an_unreachable_endpoint_are_refused_in_one_line(tmp_path):
    import openai

    with pytest.raises(OpenAIJobError, match="manifest.json is missing"):
        run_openai_job(tmp_path, "gpt-tiny", client=object())
    run = write_run_dir(tmp_path / "run", {"train": [CHAT]})
    client = openai.OpenAI(base_url="http://127.0.0.1:9/v1", api_key="test", max_retries=0, timeout=2)
    with pytest.raises(OpenAIJobError, match="cannot reach the API"):
        run_openai_job(run, "gpt-tiny", client=client, base_url="http://127.0.0.1:9/v1")
