"""train config: defaults, YAML and overrides, adapters to PEFT / bitsandbytes / TRL, a fast CLI."""
import subprocess
import sys
from pathlib import Path

import pytest

from train.config import (ConfigError, TrainConfig, dump_config, load_config, resolve_optim, to_bnb_config,
                          to_lora_config, to_sft_config)

REPO = Path(__file__).resolve().parents[1]


def test_defaults_follow_common_lora_qlora_and_dpo_practice():
    sft, dpo = TrainConfig(task="sft"), TrainConfig(task="dpo")
    assert (sft.lora.r, sft.lora.alpha, sft.lora.dropout, sft.lora.target_modules) == (16, 32, 0.05, "all-linear")
    assert (sft.learning_rate, dpo.learning_rate) == (2e-4, 5e-6)
    assert (sft.optim.lr_scheduler, sft.optim.warmup_ratio, dpo.dpo.beta) == ("cosine", 0.1, 0.1)
    assert (sft.quant.quant_type, sft.quant.double_quant, sft.quant.compute_dtype) == ("nf4", True, "bfloat16")
    assert (sft.target_metric, dpo.target_metric) == ("loss", "pref_margin")
    assert sft.sequence.overlong == "drop" and sft.model is None  # None: the embedded model


def test_yaml_then_overrides_then_flags_and_unknown_settings_refused_in_one_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("task: sft\nlora: {r: 8}\noptim: {learning_rate: 0.001, max_steps: 5}\n")
    cfg = load_config(path, overrides=["lora.alpha=64", "eval.required_keys=[a, b]"], **{"optim.max_steps": 7})
    assert (cfg.lora.r, cfg.lora.alpha, cfg.learning_rate, cfg.optim.max_steps) == (8, 64, 0.001, 7)
    assert cfg.eval.required_keys == ["a", "b"]
    path.write_text("lora: {rank: 8}\n")
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert str(e.value).startswith(f"{path}: lora.rank: unknown setting") and "\n" not in str(e.value)
    with pytest.raises(ConfigError, match="format_compliance needs eval.output_format"):
        load_config(None, overrides=["eval.target_metric=format_compliance"])
    with pytest.raises(ConfigError, match="packing needs attn_implementation flash_attention_2"):
        load_config(None, overrides=["sequence.packing=true"])  # sdpa would let packed examples attend to each other
    assert load_config(None, overrides=["sequence.packing=true", "attn_implementation=flash_attention_2"])
    path.write_text("lora: [1\n")
    with pytest.raises(ConfigError, match=r"c\.yaml:\d+: not valid YAML"):
        load_config(path)


def test_the_saved_config_loads_back_equal_with_task_defaults_written_out(tmp_path):
    cfg = load_config(None, task="dpo", data="d", out="o", overrides=["lora.target_modules=[q_proj, v_proj]"])
    path = tmp_path / "saved.yaml"
    path.write_text(dump_config(cfg))
    back = load_config(path)
    assert back == cfg.resolved()
    assert back.optim.learning_rate == 5e-6 and back.eval.target_metric == "pref_margin"


def test_adapters_build_lora_bnb_and_sft_configs():
    import torch

    cfg = load_config(None, overrides=["quant.load_in_4bit=true", "optim.max_steps=3"])
    lora = to_lora_config(cfg.lora)
    assert (lora.r, lora.lora_alpha, lora.lora_dropout, lora.target_modules, lora.task_type) == (
        16, 32, 0.05, "all-linear", "CAUSAL_LM")
    bnb = to_bnb_config(cfg.quant)
    assert bnb.load_in_4bit and bnb.bnb_4bit_quant_type == "nf4" and bnb.bnb_4bit_use_double_quant
    assert bnb.bnb_4bit_compute_dtype == torch.bfloat16
    assert to_bnb_config(TrainConfig().quant) is None
    args = to_sft_config(cfg, "/tmp/x", "cpu", has_eval=True)
    assert (args.learning_rate, args.lr_scheduler_type, args.warmup_steps, args.max_steps) == (
        2e-4, "cosine", 0.1, 3)
    assert args.optim == "adamw_torch" and args.use_cpu and not args.bf16
    assert args.load_best_model_at_end and args.metric_for_best_model == "eval_loss"
    assert not args.assistant_only_loss  # labels come from train.labels, checked by the pre-flight
    assert resolve_optim(cfg, "cuda") == "paged_adamw_32bit" and resolve_optim(cfg, "cpu") == "adamw_torch"


def test_example_configs_in_data_load():
    sft = load_config(REPO / "data" / "train_sft.yaml")
    dpo = load_config(REPO / "data" / "train_dpo.yaml")
    assert sft.task == "sft" and dpo.task == "dpo"


def test_help_is_fast_imports_no_torch_and_the_package_never_imports_prefect():
    code = ("import sys; from train.cli import build_parser; build_parser(); "
            "import train.config, train.intake, train.run, train.evaluate, train.preflight; "
            "print(sorted(m for m in ('torch', 'transformers', 'trl', 'peft', 'prefect') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "[]"
    res = subprocess.run([sys.executable, "-m", "train", "--help"], capture_output=True, text=True, cwd=REPO)
    assert res.returncode == 0 and "sft" in res.stdout and "check" in res.stdout
    for path in (REPO / "train").rglob("*.py"):
        assert "prefect" not in path.read_text(), path
