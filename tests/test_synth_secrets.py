"""The API key reaches the endpoint and nothing else: not logs, reports, manifests, rejects or the cache."""
from __future__ import annotations

import json

from synth_fakes import run_cli, write_topics

from synth.fake_endpoint import FakeEndpoint

KEY = "sk-test-DO-NOT-LEAK-4f9a7c21e5b3"


def _all_files_text(folder) -> str:
    return "\n".join(p.read_bytes().decode("utf-8", "replace") for p in folder.rglob("*") if p.is_file())


def test_the_api_key_never_appears_in_logs_reports_manifests_or_the_cache(tmp_path):
    topics = write_topics(tmp_path / "topics.yaml", ["alpha", "bravo"])
    out = tmp_path / "out" / "sft.jsonl"

    def script(body, attempt):  # some retries, so the verbose log has something to say
        return ["429", "500"][attempt] if attempt < 2 else "ok"

    with FakeEndpoint(script=script) as ep:
        r = run_cli(["generate", "--topics", str(topics), "--out", str(out), "--base-url", ep.base_url,
                     "--model", "fake", "--per-topic", "1", "--no-progress", "-v", "--set", "client.backoff_base_s=0.01"],
                    env={"OPENAI_API_KEY": KEY})
        auth = {e.authorization for e in ep.entries()}
        assert auth == {f"Bearer {KEY}"}  # the key was used ...
        p = run_cli(["prefs", "--prompts", str(out), "--out", str(tmp_path / "out" / "dpo.jsonl"), "--base-url",
                     ep.base_url, "--model", "fake", "-k", "2", "--no-progress", "-v"], env={"OPENAI_API_KEY": KEY})
    assert r.returncode == 0 and p.returncode == 0, r.stderr + p.stderr
    assert "retry" in r.stderr  # verbose logging was on
    for text in (r.stdout, r.stderr, p.stdout, p.stderr, _all_files_text(tmp_path / "out")):
        assert KEY not in text  # ... and went nowhere else
    manifest = json.loads((out.with_name("sft.manifest.json")).read_text())
    assert manifest["api_key"] == {"env": "OPENAI_API_KEY", "set": True}


def test_an_endpoint_that_echoes_a_rejected_key_does_not_make_it_leak(tmp_path):
    topics = write_topics(tmp_path / "topics.yaml", ["alpha"])
    with FakeEndpoint(script=lambda body, attempt: "401") as ep:
        r = run_cli(["generate", "--topics", str(topics), "--out", str(tmp_path / "o" / "sft.jsonl"), "--base-url",
                     f"http://user:{KEY}@127.0.0.1:{ep.port}/v1", "--model", "fake", "--no-progress", "-v",
                     "--max-in-flight", "1"],
                    env={"OPENAI_API_KEY": KEY})
        sent = ep.entries()
        # fatal: no request is retried (one more may already have been on its way when the first 401 came back)
        assert 1 <= len(sent) <= 2 and all(e.attempt == 0 for e in sent)
        assert len({e.identity for e in sent}) == len(sent)
    assert r.returncode == 1
    assert r.stderr.strip().startswith("error: HTTP 401") and "refused the API key" in r.stderr
    assert "Traceback" not in r.stderr
    assert KEY not in r.stderr + r.stdout
    assert not (tmp_path / "o" / "sft.manifest.json").exists() or KEY not in (tmp_path / "o" / "sft.manifest.json").read_text()


PASSWORD = "hunter2-url-password-77"


def test_a_password_in_the_base_url_is_masked_in_argv_logs_and_outputs(tmp_path):
    topics = write_topics(tmp_path / "topics.yaml", ["alpha"])
    out = tmp_path / "out" / "sft.jsonl"
    with FakeEndpoint() as ep:
        r = run_cli(["generate", "--topics", str(topics), "--out", str(out), "--base-url",
                     f"http://user:{PASSWORD}@127.0.0.1:{ep.port}/v1", "--model", "fake", "--per-topic", "1",
                     "--no-progress", "-v"])
    assert r.returncode == 0, r.stderr
    for text in (r.stdout, r.stderr, _all_files_text(tmp_path / "out")):
        assert PASSWORD not in text
    argv = json.loads(out.with_name("sft.manifest.json").read_text())["argv"]
    assert f"http://***@127.0.0.1:{ep.port}/v1" in argv


def test_an_unreachable_endpoint_exits_non_zero_saying_nothing_succeeded(tmp_path):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    topics = write_topics(tmp_path / "topics.yaml", ["alpha", "bravo"])
    out = tmp_path / "out" / "sft.jsonl"
    r = run_cli(["generate", "--topics", str(topics), "--out", str(out), "--base-url",
                 f"http://user:{PASSWORD}@127.0.0.1:{port}/v1", "--model", "fake", "--per-topic", "1",
                 "--no-progress", "--max-retries", "1", "--set", "client.backoff_base_s=0.01"])
    assert r.returncode == 1, r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("error: nothing succeeded: none of 2 items got an answer from http://127.0.0.1:")
    assert "connection x4" in last and "Traceback" not in r.stderr and PASSWORD not in r.stderr
    rejects = [json.loads(x) for x in out.with_name("sft.rejects.jsonl").read_text().splitlines()]
    assert sorted(x["reason"] for x in rejects) == ["synth.request_failed"] * 2
