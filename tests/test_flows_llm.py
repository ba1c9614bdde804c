"""LLM and training flows under Prefect's test harness: a failing LLM task is retried and the flow
completes; training starts only on data that validates, and pipeline_flow hands it the curated run."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from flows.config import CurateFlowConfig, LLMRetries, PipelineFlowConfig, SynthFlowConfig, TrainFlowConfig

pytest_plugins = ("flows.testing",)

REPO = Path(__file__).resolve().parents[1]
FAST_TRAIN = ["optim.max_steps=2", "optim.batch_size=2", "optim.grad_accum=1", "optim.eval_steps=2",
              "sequence.max_length=192", "eval.max_examples=2", "eval.few_shot=0", "eval.general_max=2",
              "eval.generate_examples=1", "preflight.show_examples=0"]


@pytest.fixture(scope="module", autouse=True)
def in_repo():
    old = os.getcwd()
    os.chdir(REPO)
    yield
    os.chdir(old)


def _task_runs(flow_run_id):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        return client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))


def _write_topics(path: Path, names: list[str]) -> Path:
    lines = ['system_prompt: "You are the support assistant of Acme."', "personas: [a busy shop owner]",
             "task_types: [troubleshooting]", "difficulties: [easy]", "topics:"] + [f"  - {n}" for n in names]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_failing_llm_task_is_retried_and_the_flow_completes(prefect_harness, tmp_path):
    from synth.fake_endpoint import FakeEndpoint

    from flows.synthesis import synth_flow

    seen = {"n": 0}

    def refuse_first_request(body: dict, attempt: int) -> str:
        seen["n"] += 1  # the endpoint rejects the very first request: synth gives up on the whole run
        return "401" if seen["n"] == 1 else "ok"

    topics = _write_topics(tmp_path / "topics.yaml", ["password reset", "double charge"])
    with FakeEndpoint(script=refuse_first_request) as ep:
        cfg = SynthFlowConfig(topics=str(topics), out=str(tmp_path / "sft.jsonl"),
                              overrides={"client.base_url": ep.base_url, "client.model": "fake",
                                         "generate.per_topic": 1},
                              retry=LLMRetries(retries=2, delay_s=0.1))
        state = synth_flow(cfg, return_state=True)
        outcomes = ep.outcomes()

    assert state.is_completed()
    summary = state.result()
    assert outcomes["401"] == 1 and outcomes["ok"] > 0
    assert summary["complete"] and summary["counts"]["n_in"] == 2
    assert summary["counts"]["n_out"] + summary["counts"]["n_rejected"] == 2
    rows = [json.loads(x) for x in (tmp_path / "sft.jsonl").read_text().splitlines()]
    assert len(rows) == summary["counts"]["n_out"] > 0
    (run,) = [t for t in _task_runs(state.state_details.flow_run_id) if t.name.startswith("synth-generate")]
    assert run.run_count == 2 and run.state.is_completed()


def test_a_user_error_in_an_llm_task_is_not_retried(prefect_harness, tmp_path):
    from flows.synthesis import synth_flow

    cfg = SynthFlowConfig(topics=str(tmp_path / "missing.yaml"), out=str(tmp_path / "sft.jsonl"),
                          overrides={"client.base_url": "http://127.0.0.1:9/v1", "client.model": "fake"},
                          retry=LLMRetries(retries=3, delay_s=5))
    state = synth_flow(cfg, return_state=True)

    assert state.is_failed()
    (run,) = [t for t in _task_runs(state.state_details.flow_run_id) if t.name.startswith("synth-generate")]
    assert run.run_count == 1


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, local_model_dir) -> Path:
    from train.testing import build_random_model

    return build_random_model("tiny", tmp_path_factory.mktemp("flows_train") / "tiny", tokenizer_dir=local_model_dir)


def test_pipeline_flow_hands_the_curated_run_to_training_once_it_validates(prefect_harness, tmp_path, tiny_model):
    import torch

    from flows.pipeline import pipeline_flow

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cfg = PipelineFlowConfig(
            curate=CurateFlowConfig(inputs=["data/sample"], out=str(tmp_path / "curated"),
                                    overrides={"pii.enabled": False}),
            train=TrainFlowConfig(task="sft", model=str(tiny_model), out=str(tmp_path / "sft"),
                                  overrides=FAST_TRAIN))
        first = pipeline_flow(cfg)
        again = pipeline_flow(cfg)
    finally:
        torch.set_num_threads(threads)

    trained = first["train"]
    manifest = (tmp_path / "curated" / "manifest.json").read_bytes()
    import hashlib

    assert trained["data"]["manifest_sha256"] == hashlib.sha256(manifest).hexdigest()
    assert trained["global_step"] == 2 and (tmp_path / "sft" / "adapter").is_dir()
    run_info = json.loads((tmp_path / "sft" / "run.json").read_text())
    assert run_info["data"]["manifest_sha256"] == trained["data"]["manifest_sha256"]
    # Same data, same config: the training task is cached, not run again into its finished folder.
    assert again["train"]["run_json"] == trained["run_json"]


def test_train_flow_refuses_data_that_does_not_validate(prefect_harness, tmp_path):
    from train.testing import write_run_dir

    from flows.training import train_flow

    run = write_run_dir(tmp_path / "data", {"train": [{"messages": [{"role": "user", "content": "hi"},
                                                                     {"role": "assistant", "content": "hello"}]}]})
    (run / "train.chatml.jsonl").write_text('{"messages": []}\n')  # changed after the manifest was written
    state = train_flow(TrainFlowConfig(task="sft", data=str(run), out=str(tmp_path / "out")), return_state=True)

    assert state.is_failed()
    assert "sha256 does not match manifest.json" in str(state.result(raise_on_failure=False))
    names = [t.name for t in _task_runs(state.state_details.flow_run_id)]
    assert any(n.startswith("check-training-data") for n in names)
    assert not any(n.startswith("train-") or n == "train" for n in names)
    assert not (tmp_path / "out").exists()
