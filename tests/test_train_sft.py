"""SFT through TRL + PEFT on a tiny random Llama with the embedded tokenizer: LoRA and QLoRA (4-bit)."""
import hashlib
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from train.config import load_config
from train.run import train
from train.testing import build_random_model, write_run_dir

REPO = Path(__file__).resolve().parents[1]
FAST = ["optim.max_steps=3", "optim.batch_size=2", "optim.grad_accum=1", "optim.eval_steps=2",
        "sequence.max_length=192", "eval.max_examples=3", "eval.few_shot=1", "eval.general_max=3",
        "preflight.show_examples=1"]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matmuls: one thread avoids spin contention on shared cores
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, local_model_dir) -> Path:
    return build_random_model("tiny", tmp_path_factory.mktemp("sft") / "tiny", tokenizer_dir=local_model_dir)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory) -> Path:
    """A curate run over the shipped sample, cut to 12 / 3 / 3 records (re-written with a manifest)."""
    base = tmp_path_factory.mktemp("sftdata")
    subprocess.run([sys.executable, "-m", "curate", "run", "data/sample", "--out", str(base / "full"), "--no-pii"],
                   cwd=REPO, check=True, capture_output=True)

    def read(split):  # the shortest records: each fits max_length 192
        lines = (base / "full" / f"{split}.chatml.jsonl").read_text().splitlines()
        return [json.loads(x) for x in sorted(lines, key=len)]

    return write_run_dir(base / "small", {"train": read("train")[:12], "val": read("val")[:3],
                                          "test": read("test")[:3]})


def _base_weights_on_disk(model_dir: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(model_dir / "model.safetensors"))


def test_lora_sft_trains_the_adapter_only_and_saves_a_reproducible_run(tiny_model, small_run, tmp_path):
    out = tmp_path / "out"
    cfg = load_config(None, task="sft", data=str(small_run), model=str(tiny_model), out=str(out), merge=True,
                      overrides=FAST)
    lines: list[str] = []
    result = train(cfg, log=lines.append)

    assert result.trainer.state.global_step == 3 and math.isfinite(result.train_metrics["train_loss"])
    w = result.weights
    assert (w["lora_changed"], w["lora_tensors"], w["base_changed"], w["base_tensors"]) == (28, 28, 0, 20)
    # Independently: the base weights inside the trained model equal the ones on disk.
    disk = _base_weights_on_disk(tiny_model)
    live = {k.replace("base_model.model.", "").replace(".base_layer", ""): v
            for k, v in result.trainer.model.state_dict().items() if "lora_" not in k}
    assert all(torch.equal(disk[k], live[k]) for k in disk)
    from safetensors.torch import load_file

    adapter = load_file(str(out / "adapter" / "adapter_model.safetensors"))
    assert len(adapter) == 28 and all(t.abs().sum() > 0 for k, t in adapter.items() if "lora_B" in k)

    # Reproducible from the output folder: resolved config with the data manifest's hash, run.json, reports.
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["data_manifest_sha256"] == hashlib.sha256((small_run / "manifest.json").read_bytes()).hexdigest()
    assert saved["optim"]["learning_rate"] == 2e-4 and saved["optim"]["seed"] == 42
    assert load_config(out / "config.yaml").data_manifest_sha256 == saved["data_manifest_sha256"]
    run = json.loads((out / "run.json").read_text())
    assert run["data"]["splits_read"] == ["train", "val", "test"]  # test last: the final evaluation only
    assert run["preflight"]["train"]["examples_in"] == 12 and run["weights"]["base_changed"] == 0
    assert (out / "preflight.txt").read_text().count("[<|im_end|>]") >= 1
    assert not (out / "checkpoints").exists() and (out / "merged" / "config.json").is_file()

    report = json.loads((out / "eval_report.json").read_text())
    assert sorted(report["splits"]) == ["test", "val"]
    for split in ("val", "test"):
        assert sorted(report["splits"][split]) == ["base", "few_shot", "tuned"]
    v = report["verdict"]
    expect = all(report["splits"][s]["tuned"]["loss"] < report["splits"][s]["base"]["loss"] for s in ("val", "test"))
    assert v["better"] is expect and v["target_metric"] == "loss"
    assert report["general"]["base"]["examples"] == 3
    assert any(line.startswith("step 3/3  loss ") for line in lines)
    assert any(line.startswith("RESULT: ") for line in lines)
    assert (out / "eval_report.md").read_text().startswith("# Evaluation: SFT run")

    # The merged model: LoRA targets moved, the (untargeted) embeddings did not.
    merged = load_file(str(out / "merged" / "model.safetensors"))
    assert torch.equal(merged["model.embed_tokens.weight"], disk["model.embed_tokens.weight"])
    assert not torch.equal(merged["model.layers.0.self_attn.q_proj.weight"],
                           disk["model.layers.0.self_attn.q_proj.weight"])


def test_qlora_sft_trains_float32_adapters_over_an_unchanged_4bit_base(tiny_model, small_run, tmp_path):
    import bitsandbytes as bnb

    out = tmp_path / "qlora"
    cfg = load_config(None, task="sft", data=str(small_run), model=str(tiny_model), out=str(out),
                      overrides=FAST + ["quant.load_in_4bit=true", "eval.test_at_end=false", "optim.eval_steps=50"])
    result = train(cfg, log=lambda line: None)
    model = result.trainer.model
    linear4 = [m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert len(linear4) == 14 and linear4[0].weight.quant_state.quant_type == "nf4"
    assert linear4[0].weight.quant_state.nested  # double quantisation
    assert math.isfinite(result.train_metrics["train_loss"]) and result.trainer.state.global_step == 3
    w = result.weights
    assert (w["lora_changed"], w["lora_tensors"], w["base_changed"]) == (28, 28, 0)
    assert {p.dtype for p in model.parameters() if p.requires_grad} == {torch.float32}
    # Independently: the packed 4-bit weights equal a fresh 4-bit load of the same folder.
    from transformers import AutoModelForCausalLM

    from train.config import to_bnb_config

    fresh = AutoModelForCausalLM.from_pretrained(tiny_model, quantization_config=to_bnb_config(cfg.quant),
                                                 dtype=torch.bfloat16, device_map={"": "cpu"})
    want = fresh.model.layers[1].mlp.down_proj.weight
    got = model.base_model.model.model.layers[1].mlp.down_proj.base_layer.weight
    assert torch.equal(want.data, got.data)
    assert sorted(json.loads((out / "eval_report.json").read_text())["splits"]) == ["val"]
    assert json.loads((out / "run.json").read_text())["data"]["splits_read"] == ["train", "val"]


def test_a_failed_preflight_stops_the_run_before_any_model_is_loaded(tiny_model, small_run, tmp_path, choice_bad):
    from train.run import RunError

    cfg = load_config(None, task="sft", data=str(small_run), model=str(tiny_model), out=str(tmp_path / "o"),
                      chat_template=str(choice_bad), overrides=FAST)
    with pytest.raises(RunError) as e:
        train(cfg, log=lambda line: None)
    assert any("end-of-turn token '<|im_end|>' carries no loss" in line for line in e.value.lines)
    assert not (tmp_path / "o").exists()


@pytest.fixture()
def choice_bad(tmp_path, local_tokenizer) -> Path:
    from curate.chat_template import choose_training_template

    good = choose_training_template(local_tokenizer).training
    path = tmp_path / "no_eos_loss.jinja"
    path.write_text(good.replace("{{message['content'] + '<|im_end|>'}}{% endgeneration %}",
                                 "{{message['content']}}{% endgeneration %}{{'<|im_end|>'}}"))
    return path
