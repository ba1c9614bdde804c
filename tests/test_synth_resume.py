"""Kill -9 in the middle of a run, re-run: no request whose answer was stored is sent again."""
from __future__ import annotations

import os
import subprocess
import sys
import threading

from synth_fakes import REPO, read_jsonl, run_cli, write_topics

from synth.cache import RequestCache
from synth.fake_endpoint import FakeEndpoint, request_identity

NAMES = [f"topic{chr(97 + i)}{chr(97 + i)}" for i in range(16)]  # topicaa, topicbb, ...
KILL_AFTER = 20  # answered requests


def _args(topics, out, base_url):
    return ["generate", "--topics", str(topics), "--out", str(out), "--base-url", base_url, "--model", "fake",
            "--per-topic", "1", "--max-in-flight", "2", "--no-progress"]


def test_a_killed_run_resumes_without_repeating_any_stored_request(tmp_path):
    topics = write_topics(tmp_path / "topics.yaml", NAMES)
    out = tmp_path / "run" / "sft.jsonl"
    answered = threading.Event()
    count = {"n": 0}

    def on_answer(entry):
        count["n"] += 1
        if count["n"] >= KILL_AFTER:
            answered.set()

    with FakeEndpoint(latency=0.05, on_answer=on_answer) as ep:
        env = dict(os.environ)
        env.pop("OPENAI_BASE_URL", None)
        proc = subprocess.Popen([sys.executable, "-m", "synth", *_args(topics, out, ep.base_url)], cwd=REPO, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert answered.wait(60), "the first run never got going"
        proc.kill()  # SIGKILL: no cleanup, no atexit, mid-request
        proc.wait(10)
        assert proc.returncode == -9
        first_run = ep.entries()
        assert not out.exists()  # nothing half-written was left for a later run to trust

        cache = RequestCache(out.parent / "synth_cache.sqlite")
        stored = {request_identity(body) for body in cache.requests()}
        cache.close()
        assert KILL_AFTER - 2 <= len(stored) <= len(first_run)  # stored as they arrived (2 may be in flight)

        second = run_cli(_args(topics, out, ep.base_url))
        assert second.returncode == 0, second.stderr
        second_run = ep.entries()[len(first_run):]

    resent = [e for e in second_run if e.identity in stored]
    assert resent == []  # the point: nothing stored is asked again
    # ... and the work is complete: 16 items x (question, answer, judge), each asked and stored once overall.
    all_needed = stored | {e.identity for e in second_run}
    assert len(all_needed) == 16 * 3
    assert len(second_run) == 16 * 3 - len(stored)
    rows, rejects = read_jsonl(out), read_jsonl(out.with_name("sft.rejects.jsonl"))
    assert sorted(r["id"] for r in rows + rejects) == sorted(f"{n}-001" for n in NAMES)

    # The resumed output is byte-identical to an uninterrupted run's.
    with FakeEndpoint() as fresh:
        ref = tmp_path / "ref" / "sft.jsonl"
        r = run_cli(_args(topics, ref, fresh.base_url))
        assert r.returncode == 0, r.stderr
    assert ref.read_bytes() == out.read_bytes()
    assert ref.with_name("sft.rejects.jsonl").read_bytes() == out.with_name("sft.rejects.jsonl").read_bytes()
