"""Helpers for synth tests: fault scripts keyed on content, topics files, CLI runs."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from synth.fake_endpoint import default_responder

REPO = Path(__file__).resolve().parents[1]
REPAIR_PREFIX = "That reply could not be used"


def last_user(body: dict) -> str:
    for m in reversed(body.get("messages") or []):
        if m.get("role") == "user":
            return str(m.get("content") or "")
    return ""


def kind_of(body: dict) -> str:
    """Which synth prompt a request is: question, answer, judge, pair or candidate (+ '_repair')."""
    text = last_user(body)
    if '"score_a"' in text:
        kind = "pair"
    elif '"correctness"' in text:
        kind = "judge"
    elif '"question"' in text:
        kind = "question"
    elif '"answer"' in text:
        kind = "answer"
    else:
        kind = "candidate"
    return kind + ("_repair" if text.startswith(REPAIR_PREFIX) else "")


def topic_of(body: dict, names: list[str]) -> str | None:
    """The test topic a request is about (its name appears in the prompt or in the generated question)."""
    text = " ".join(str(m.get("content") or "") for m in body.get("messages") or [])
    found = [n for n in names if n in text]
    return found[0] if found else None


def scenario_script(table: dict[tuple[str, str], list[str]], names: list[str]):
    """A fake-endpoint script: the faults of (topic, kind) by attempt number, then 'ok'."""
    def script(body: dict, attempt: int) -> str:
        seq = table.get((topic_of(body, names) or "", kind_of(body)), [])
        return seq[attempt] if attempt < len(seq) else "ok"
    return script


def write_topics(path: Path, names: list[str], system_prompt: str = "You are the support assistant of Acme.") -> Path:
    lines = [f"system_prompt: {json.dumps(system_prompt)}", "personas: [a busy shop owner]",
             "task_types: [troubleshooting]", "difficulties: [easy]", "topics:"]
    lines += [f"  - {n}" for n in names]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def run_cli(args: list[str], env: dict | None = None, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    """``python -m synth ARGS`` in a subprocess, from the repository root."""
    e = dict(os.environ)
    e.pop("OPENAI_BASE_URL", None)
    e.pop("SYNTH_MODEL", None)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "synth", *args], cwd=REPO, env=e, capture_output=True, text=True,
                          timeout=timeout, **kw)


def curate_validate(path: Path, fmt: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "curate", "validate", "--format", fmt, str(path)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def responder_with(overrides: dict[tuple[str, str], str], names: list[str]):
    """The default responder, except fixed content for some (topic, kind)."""
    def respond(body: dict) -> str:
        key = (topic_of(body, names) or "", kind_of(body))
        if key in overrides:
            return overrides[key]
        return default_responder(body)
    return respond
