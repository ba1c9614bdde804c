"""train_flow: an SFT or DPO run that starts only when its data directory validates.

``check_training_data`` is ``train.intake.open_run`` (manifest, sha256 of every
split file, schema of every record); ``train_model`` is ``train.run.train``.
The training task is cached by the data manifest's sha256, the resolved train
config and the package version: the same data and config do not train twice
while the output folder holds the finished run.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from flows.artifacts import artifact_key
from flows.config import TrainFlowConfig
from flows.keys import STEP_KEY, step_key


@task(name="check-training-data", retries=2, retry_delay_seconds=[1, 5],
      retry_condition_fn=lambda t, r, s: isinstance(s.data, OSError))
def check_training_data(data: str, task_name: str) -> dict[str, Any]:
    """Refuse data whose manifest or files do not validate; return its manifest sha256 and split sizes."""
    from train.intake import open_run

    run = open_run(data, task_name)
    return {"data": str(run.dir), "manifest_sha256": run.manifest_sha256,
            "files": {s: {"path": e.path, "records": e.records, "sha256": e.sha256} for s, e in run.files.items()},
            "format": run.formats.get("train")}


@task(name="train", cache_policy=STEP_KEY, persist_result=True)
def train_model(key: str, cfg_json: str) -> dict[str, Any]:
    """``train.run.train``: pre-flight, baseline eval, TRL trainer with LoRA/QLoRA, eval after, verdict."""
    from train.config import TrainConfig
    from train.run import train

    log = get_run_logger()
    cfg = TrainConfig.model_validate_json(cfg_json)
    result = train(cfg, log=log.info)
    out = Path(cfg.out)
    info = json.loads((out / "run.json").read_text()) if (out / "run.json").is_file() else {}
    return {"out": str(out), "run_json": str(out / "run.json"), "verdict": info.get("verdict"),
            "train": info.get("train"), "eval_report": str(out / "eval_report.md")
            if (out / "eval_report.md").is_file() else None, "global_step": result.trainer.state.global_step}


@flow(name="train", description="SFT or DPO (LoRA / QLoRA) on a validated curate/synth run directory.")
def train_flow(config: TrainFlowConfig = TrainFlowConfig()) -> dict[str, Any]:
    """Validate the data, then train; returns the run's paths and verdict."""
    log = get_run_logger()
    cfg = config.train_config()
    if not cfg.data:
        raise ValueError("train_flow needs data: a curate run directory (manifest.json + split files)")
    checked = check_training_data(cfg.data, cfg.task)
    # Pin the data: the run refuses any other manifest than the one just checked.
    cfg = cfg.model_copy(update={"data_manifest_sha256": checked["manifest_sha256"]})
    key = step_key("train", cfg.model_dump_json(), f"data:{checked['manifest_sha256']}")
    done = (Path(cfg.out) / "run.json").is_file()
    t = train_model if done else train_model.with_options(refresh_cache=True)
    log.info("training %s on %s (%s records in train)", cfg.task, checked["data"],
             checked["files"]["train"]["records"])
    summary = t(key, cfg.model_dump_json())
    lines = [f"# train: {cfg.task} -> {summary['out']}", "", f"Data: `{checked['data']}` (manifest sha256 "
             f"`{checked['manifest_sha256'][:16]}...`)", f"Verdict: {summary.get('verdict')}", ""]
    if summary.get("eval_report") and Path(summary["eval_report"]).is_file():
        lines.append(Path(summary["eval_report"]).read_text())
    create_markdown_artifact("\n".join(lines), key=artifact_key("train", "report"),
                             description="Training run: data, verdict and the eval report")
    summary["data"] = checked
    return summary
