"""DPO through TRL + PEFT on a tiny random Llama: reference = the adapter-disabled policy, from a base or an SFT adapter."""
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from train.config import load_config
from train.run import train
from train.testing import build_random_model, dpo_pairs_from_chat, write_run_dir

REPO = Path(__file__).resolve().parents[1]
FAST = ["optim.max_steps=3", "optim.batch_size=2", "optim.grad_accum=1", "optim.eval_steps=50",
        "sequence.max_length=192", "eval.max_examples=3", "eval.few_shot=1", "eval.general_max=2",
        "preflight.show_examples=1", "optim.learning_rate=1e-3"]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, local_model_dir) -> Path:
    return build_random_model("tiny", tmp_path_factory.mktemp("dpo") / "tiny", tokenizer_dir=local_model_dir)


@pytest.fixture(scope="module")
def pairs_run(tmp_path_factory) -> Path:
    """Preference pairs from a real curate run: chosen = the real answer, rejected = another conversation's."""
    base = tmp_path_factory.mktemp("dpodata")
    subprocess.run([sys.executable, "-m", "curate", "run", "data/sample", "--out", str(base / "full"), "--no-pii"],
                   cwd=REPO, check=True, capture_output=True)

    def pairs(split, n):
        lines = sorted((base / "full" / f"{split}.chatml.jsonl").read_text().splitlines(), key=len)
        return dpo_pairs_from_chat([json.loads(x) for x in lines[:n]], seed=1)

    return write_run_dir(base / "pairs", {"train": pairs("train", 8), "val": pairs("val", 3),
                                          "test": pairs("test", 3)}, "dpo")


@pytest.fixture(scope="module")
def sft_adapter(tiny_model, tmp_path_factory) -> Path:
    """An SFT adapter (non-zero LoRA B, as after training) saved with its tokenizer, like a train run's adapter/."""
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from train.config import LoraSettings, to_lora_config

    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model), to_lora_config(LoraSettings(r=4)))
    torch.manual_seed(3)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)
    out = tmp_path_factory.mktemp("sftrun") / "adapter"
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(out)
    return out


def test_dpo_with_peft_uses_the_adapter_disabled_model_as_reference(tiny_model, pairs_run, tmp_path):
    from peft import PeftModel

    out = tmp_path / "dpo"
    cfg = load_config(None, task="dpo", data=str(pairs_run), model=str(tiny_model), out=str(out), overrides=FAST)
    result = train(cfg, log=lambda line: None)
    trainer = result.trainer
    assert trainer.ref_model is None and isinstance(trainer.model, PeftModel)  # no second copy in memory
    assert trainer.state.global_step == 3 and math.isfinite(result.train_metrics["train_loss"])
    w = result.weights
    assert (w["lora_changed"], w["lora_tensors"], w["base_changed"]) == (28, 28, 0)
    # The trainer's tokenized pairs are the ones the pre-flight check inspected, answers ending on <|im_end|>.
    tok = trainer.processing_class
    first = trainer.train_dataset[0]
    assert tok.decode(first["chosen_ids"]).endswith("<|im_end|>\n")
    assert tok.decode(first["prompt_ids"]).endswith("<|im_start|>assistant\n")
    report = json.loads((out / "eval_report.json").read_text())
    assert report["verdict"]["target_metric"] == "pref_margin"
    val = report["splits"]["val"]
    assert {"pref_accuracy", "pref_margin", "loss"} <= set(val["tuned"]) and val["base"]["examples"] == 3
    improved = all(report["splits"][s]["tuned"]["pref_margin"] > report["splits"][s]["base"]["pref_margin"]
                   for s in ("val", "test"))
    assert report["verdict"]["better"] is improved


def test_dpo_can_start_from_an_sft_adapter_which_is_merged_first(tiny_model, pairs_run, sft_adapter, tmp_path):
    from safetensors.torch import load_file

    out = tmp_path / "dpo_after_sft"
    cfg = load_config(None, task="dpo", data=str(pairs_run), model=str(sft_adapter), out=str(out),
                      overrides=FAST + ["eval.enabled=false", "optim.max_steps=2"])
    result = train(cfg, log=lambda line: None)
    run = json.loads((out / "run.json").read_text())
    assert run["model"]["base"] == str(tiny_model.resolve())
    assert run["model"]["start_adapter"] == str(sft_adapter.resolve())
    assert run["model"]["trained_on"] == str(out / "start-merged")
    merged = load_file(str(out / "start-merged" / "model.safetensors"))
    base = load_file(str(tiny_model / "model.safetensors"))
    key = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.equal(merged[key], base[key])  # the SFT update is in the DPO starting point
    assert result.weights["base_changed"] == 0 and result.trainer.ref_model is None
    adapter_cfg = json.loads((out / "adapter" / "adapter_config.json").read_text())
    assert adapter_cfg["base_model_name_or_path"] == str(out / "start-merged")
