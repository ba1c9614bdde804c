"""The embedded instruct model: provisioning, verification, resolution, loading (real model)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from schemas import local_model
from schemas.local_model import (
    CHECKSUMS_FILENAME,
    ModelNotFoundError,
    ProvisionError,
    provision,
    resolve_model_path,
    verify_model_dir,
)

CHATML_HI = (
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
    "<|im_start|>user\nhi<|im_end|>\n"
    "<|im_start|>assistant\n"
)


@pytest.fixture(scope="session")
def model_dir() -> Path:
    """The default model folder, provisioned once per session (git-ignored: data/models/)."""
    pytest.importorskip("transformers")
    pytest.importorskip("gguf")
    return provision(log=lambda message: None)


def _mtimes(folder: Path) -> dict[str, int]:
    return {file.name: file.stat().st_mtime_ns for file in folder.iterdir()}


def test_importing_the_module_does_not_import_torch_or_transformers():
    code = "import sys, schemas.local_model; print(sorted({'torch', 'transformers'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.slow
def test_provisioning_the_default_dir_again_rewrites_and_loads_nothing(model_dir):
    before = _mtimes(model_dir)
    messages: list[str] = []
    again = provision(log=messages.append)

    assert again == model_dir
    assert messages == [f"model already provisioned at {model_dir}"]
    assert _mtimes(model_dir) == before
    assert verify_model_dir(model_dir) == []


@pytest.mark.slow
def test_a_truncated_weight_file_is_detected_and_rebuilt_into_the_same_bytes(model_dir, tmp_path):
    dest = tmp_path / "model"
    shutil.copytree(model_dir, dest)
    weights = dest / "model.safetensors"
    with open(weights, "r+b") as handle:
        handle.truncate(weights.stat().st_size // 2)
    assert any("model.safetensors" in problem for problem in verify_model_dir(dest))

    messages: list[str] = []
    assert provision(dest, log=messages.append) == dest
    assert any(message.startswith(f"rebuilding {dest}") for message in messages)

    assert verify_model_dir(dest) == []
    rebuilt = json.loads((dest / CHECKSUMS_FILENAME).read_text())
    original = json.loads((model_dir / CHECKSUMS_FILENAME).read_text())
    assert rebuilt["files"] == original["files"]  # the conversion is deterministic
    leftovers = [path.name for path in tmp_path.iterdir() if path.name not in ("model", ".model.lock")]
    assert leftovers == []


def test_a_folder_provision_did_not_make_is_not_replaced_without_force(tmp_path):
    dest = tmp_path / "mine"
    dest.mkdir()
    (dest / "notes.txt").write_text("keep me")
    with pytest.raises(ProvisionError, match="--force") as caught:
        provision(dest, log=lambda message: None)
    assert "\n" not in str(caught.value)
    assert (dest / "notes.txt").read_text() == "keep me"


def test_verify_reports_a_missing_checksums_file(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    assert verify_model_dir(tmp_path) == [f"{tmp_path / CHECKSUMS_FILENAME} is missing"]


def test_resolve_model_path_says_in_one_line_that_a_missing_path_does_not_exist(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(ModelNotFoundError) as caught:
        resolve_model_path(missing)
    message = str(caught.value)
    assert "\n" not in message
    assert str(missing) in message and "does not exist" in message


def test_resolve_model_path_refuses_a_hub_id_without_downloading():
    with pytest.raises(ModelNotFoundError, match="never downloaded"):
        resolve_model_path("HuggingFaceTB/SmolLM2-135M-Instruct")


def test_resolve_model_path_refuses_a_folder_without_config_json(tmp_path):
    with pytest.raises(ModelNotFoundError, match="has no config.json") as caught:
        resolve_model_path(tmp_path)
    assert "\n" not in str(caught.value)


def test_resolve_model_path_tells_how_to_provision_a_missing_default(tmp_path, monkeypatch):
    monkeypatch.setenv(local_model.MODEL_DIR_ENV, str(tmp_path / "absent"))
    with pytest.raises(ModelNotFoundError) as caught:
        resolve_model_path(None)
    message = str(caught.value)
    assert "\n" not in message
    assert "python -m curate provision-model" in message


@pytest.mark.slow
def test_resolve_model_path_returns_the_provisioned_default(model_dir):
    assert resolve_model_path(None) == model_dir.resolve()
    assert resolve_model_path(str(model_dir)) == model_dir.resolve()


@pytest.mark.slow
def test_the_provisioned_model_and_tokenizer_load_and_render_chatml(model_dir):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)

    assert type(model).__name__ == "LlamaForCausalLM"
    assert getattr(model.config, "quantization_config", None) is None
    assert model.dtype == torch.bfloat16
    assert tokenizer.eos_token == "<|im_end|>"
    chat = [{"role": "user", "content": "hi"}]
    assert tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True) == CHATML_HI

    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}], add_generation_prompt=True, return_tensors="pt"
    )
    input_ids = prompt["input_ids"] if hasattr(prompt, "keys") else prompt
    with torch.no_grad():
        output = model.generate(input_ids, max_new_tokens=10, do_sample=False)
    reply = tokenizer.decode(output[0, input_ids.shape[1] :], skip_special_tokens=True)
    assert "Paris" in reply
