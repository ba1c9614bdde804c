"""Hosted handoff: a verified run directory to an OpenAI(-compatible) fine-tuning job.

Train and val go through the same intake as a local run (manifest, hashes,
schemas validation); each record is written with only its ``messages`` (the
fine-tuning file format has no room for ids or metadata), uploaded through the
files API, and a supervised job is created with the validation file. With
`follow`, the job's events (loss lines included) are printed until it ends.
The test split is never uploaded: it stays for the final evaluation.
"""
from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from train.intake import IntakeError, open_run

TERMINAL = ("succeeded", "failed", "cancelled")


class OpenAIJobError(RuntimeError):
    """The handoff could not go on; one-line message."""


def _write_messages(records: list[dict], path: Path) -> int:
    with open(path, "w", encoding="utf-8") as f:
        for r in records:
            msgs = [{k: v for k, v in m.items() if k in ("role", "content", "name", "tool_calls", "tool_call_id")}
                    for m in r["messages"]]
            f.write(json.dumps({"messages": msgs}, ensure_ascii=False) + "\n")
    return len(records)


def _event_line(ev) -> str:
    data = ev.data if isinstance(ev.data, dict) else {}
    if ev.type == "metrics" and data:
        parts = [f"step {data.get('step')}"]
        for key in ("train_loss", "valid_loss", "full_valid_loss", "train_mean_token_accuracy"):
            if data.get(key) is not None:
                parts.append(f"{key} {data[key]:.4f}")
        return "  ".join(parts)
    return f"[{ev.level}] {ev.message}"


def run_openai_job(data_dir: str | Path, model: str, *, base_url: str | None = None, suffix: str | None = None,
                   epochs: int | None = None, poll_seconds: float = 10.0, follow: bool = True,
                   log: Callable[[str], Any] = print, client=None, timeout_s: float | None = None) -> dict:
    """Upload train/val, create the job, follow its events; return the final job as a dict."""
    try:
        data = open_run(data_dir, "sft")
        train = data.load("train")
        val = data.load("val") if data.has("val") else []
    except IntakeError as e:
        raise OpenAIJobError(str(e)) from None
    import openai

    if client is None:
        try:
            client = openai.OpenAI(base_url=base_url)
        except openai.OpenAIError as e:
            raise OpenAIJobError(f"cannot create the API client ({e}); set OPENAI_API_KEY") from None
    try:
        with tempfile.TemporaryDirectory(prefix="curatekit-ft-") as tmp:
            files = {}
            for split, records in (("train", train), ("val", val)):
                if not records:
                    continue
                path = Path(tmp) / f"{split}.jsonl"
                _write_messages(records, path)
                with open(path, "rb") as handle:
                    files[split] = client.files.create(file=handle, purpose="fine-tune")
                log(f"uploaded {split}: {len(records)} examples as {files[split].id}")
        method: dict[str, Any] = {"type": "supervised"}
        if epochs is not None:
            method["supervised"] = {"hyperparameters": {"n_epochs": epochs}}
        kwargs: dict[str, Any] = {"model": model, "training_file": files["train"].id, "method": method,
                                  "metadata": {"data_manifest_sha256": data.manifest_sha256[:64]}}
        if "val" in files:
            kwargs["validation_file"] = files["val"].id
        if suffix:
            kwargs["suffix"] = suffix
        job = client.fine_tuning.jobs.create(**kwargs)
        log(f"created fine-tuning job {job.id} on {model} (status {job.status})")
        if not follow:
            return job.model_dump()
        seen: set[str] = set()
        started = time.monotonic()
        while True:
            events = list(client.fine_tuning.jobs.list_events(job.id, limit=100))
            for ev in sorted((e for e in events if e.id not in seen), key=lambda e: (e.created_at, e.id)):
                seen.add(ev.id)
                log(_event_line(ev))
            job = client.fine_tuning.jobs.retrieve(job.id)
            if job.status in TERMINAL:
                break
            if timeout_s is not None and time.monotonic() - started > timeout_s:
                raise OpenAIJobError(f"job {job.id} still {job.status} after {timeout_s:.0f} s; follow it later")
            time.sleep(poll_seconds)
    except openai.APIConnectionError as e:
        raise OpenAIJobError(f"cannot reach the API at {base_url or 'the default base URL'} ({e})") from None
    except openai.APIStatusError as e:
        raise OpenAIJobError(f"the API refused the request: HTTP {e.status_code} {e.message}") from None
    if job.status != "succeeded":
        err = getattr(job, "error", None)
        raise OpenAIJobError(f"job {job.id} ended {job.status}" + (f": {err.message}" if err and err.message else ""))
    log(f"job {job.id} succeeded: fine-tuned model {job.fine_tuned_model}")
    return job.model_dump()
