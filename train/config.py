"""Training configuration: frozen pydantic models, YAML loading, and small adapters to
TRL's ``SFTConfig`` / ``DPOConfig``, PEFT's ``LoraConfig`` and ``BitsAndBytesConfig``.

Defaults follow common practice for LoRA / QLoRA fine-tuning: rank 16, alpha 32,
dropout 0.05 on all linear layers; learning rate 2e-4 for LoRA SFT and 5e-6 for
DPO; cosine schedule with 10 % warmup; DPO beta 0.1; NF4 with double
quantisation and bf16 compute for QLoRA.

Nothing here imports torch, transformers, trl or peft at module level: the
adapters import them inside, so ``python -m train --help`` stays fast.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, model_validator

from schemas.frozen import Frozen
from schemas.overrides import OverrideError, parse_assignment, set_dotted

SFT_LEARNING_RATE = 2e-4
# Attention kernels that honour the sequence boundaries of a packed (padding-free) batch.
PACKING_ATTENTION = ("flash_attention_2", "flash_attention_3", "kernels-community/flash-attn")
DPO_LEARNING_RATE = 5e-6


class ConfigError(ValueError):
    """A configuration file or override that cannot be used; the message is one line."""


class LoraSettings(Frozen):
    r: int = Field(16, ge=1, description="LoRA rank.")
    alpha: int = Field(32, ge=1, description="LoRA alpha (scaling = alpha / r).")
    dropout: float = Field(0.05, ge=0.0, lt=1.0, description="Dropout on the LoRA input.")
    target_modules: str | list[str] = Field(
        "all-linear", description="Modules that get adapters: 'all-linear' or a list of module names.")
    bias: Literal["none", "all", "lora_only"] = Field("none", description="Which biases are trained.")
    float32_weights: bool = Field(
        True, description="Keep adapter weights in float32 under QLoRA (TRL casts them to bf16, which rounds "
                          "small updates away); matmuls still run in the compute dtype.")


class QuantSettings(Frozen):
    load_in_4bit: bool = Field(False, description="QLoRA: load the frozen base in 4-bit (bitsandbytes).")
    quant_type: Literal["nf4", "fp4"] = Field("nf4", description="4-bit data type.")
    double_quant: bool = Field(True, description="Quantise the quantisation constants too (saves ~0.4 bit/param).")
    compute_dtype: Literal["bfloat16", "float16", "float32"] = Field(
        "bfloat16", description="dtype of the matmuls inside the 4-bit layers.")


class OptimSettings(Frozen):
    learning_rate: float | None = Field(
        None, gt=0.0, description="Peak learning rate; default 2e-4 for SFT, 5e-6 for DPO.")
    lr_scheduler: str = Field("cosine", description="transformers scheduler name.")
    warmup_ratio: float = Field(0.1, ge=0.0, lt=1.0, description="Fraction of the steps spent warming up.")
    epochs: float = Field(1.0, gt=0.0, description="Passes over train (ignored when max_steps > 0).")
    max_steps: int = Field(-1, description="Stop after this many optimizer steps (-1: use epochs).")
    batch_size: int = Field(4, ge=1, description="Examples per device per forward pass.")
    grad_accum: int = Field(4, ge=1, description="Forward passes per optimizer step.")
    weight_decay: float = Field(0.0, ge=0.0)
    max_grad_norm: float = Field(1.0, gt=0.0)
    optim: str = Field(
        "auto", description="'auto': paged_adamw_32bit on CUDA, adamw_torch on CPU; or any transformers optim name.")
    gradient_checkpointing: bool = Field(True, description="Recompute activations in backward (less memory).")
    seed: int = Field(42, description="Seeds python, numpy, torch, LoRA init and data order.")
    logging_steps: int = Field(1, ge=1)
    eval_steps: int = Field(50, ge=1, description="Evaluate on val every this many steps (when val exists).")
    early_stopping_patience: int | None = Field(
        3, ge=1, description="Stop after this many evaluations without a better val loss; null: off.")
    save_total_limit: int = Field(2, ge=1, description="Trainer checkpoints kept under OUT/checkpoints.")


class SequenceSettings(Frozen):
    max_length: int = Field(1024, ge=8, description="Longest tokenized example (prompt + answer).")
    overlong: Literal["drop", "error"] = Field(
        "drop", description="Examples over max_length: 'drop' (counted and reported) or 'error'. "
                            "An assistant answer is never truncated.")
    packing: bool = Field(False, description="Pack several examples into one sequence of max_length (SFT only).")


class PreflightSettings(Frozen):
    show_examples: int = Field(2, ge=0, description="Examples printed token by token.")
    show_max_tokens: int = Field(400, ge=16, description="Tokens printed per example at most.")
    eos_tokens: list[str] = Field(
        default_factory=list,
        description="Extra end-of-turn tokens besides the tokenizer's eos and generation_config's eos ids.")


class EvalSettings(Frozen):
    enabled: bool = Field(True, description="Evaluate before and after training.")
    max_examples: int = Field(64, ge=1, description="val/test examples scored for loss at most.")
    batch_size: int = Field(4, ge=1, description="Examples per batch in the trainer's evaluation on val.")
    batch_tokens: int = Field(4096, ge=1, description="Token budget of a batch when scoring base/few-shot/tuned.")
    generate_examples: int = Field(8, ge=0, description="Examples answered by generation (format compliance).")
    max_new_tokens: int = Field(128, ge=1)
    output_format: Literal["none", "json", "regex"] = Field(
        "none", description="Structured output the answers must have; 'none' skips format compliance.")
    required_keys: list[str] = Field(default_factory=list, description="json: keys the answer object must have.")
    pattern: str | None = Field(None, description="regex: the answer must match it (re.search, DOTALL).")
    few_shot: int = Field(3, ge=0, description="Train examples in the prompt-only baseline (0: no baseline).")
    general_set: str | None = Field(
        None, description="JSONL (chatml) of general instructions for forgetting; null: the built-in set.")
    general_max: int = Field(40, ge=0, description="General-set items scored at most (0: skip).")
    target_metric: Literal["loss", "format_compliance", "pref_accuracy", "pref_margin"] | None = Field(
        None, description="Metric that decides 'better'; default loss (SFT) or pref_margin (DPO).")
    min_improvement: float = Field(0.0, ge=0.0, description="Smallest improvement of the target that counts.")
    forgetting_tolerance: float = Field(
        0.10, ge=0.0, description="Relative rise of the general-set loss flagged as forgetting.")
    test_at_end: bool = Field(True, description="Score the test split once, after training.")


class DPOSettings(Frozen):
    beta: float = Field(0.1, gt=0.0, description="Strength of the pull towards the reference model.")
    loss_type: str = Field("sigmoid", description="TRL DPO loss type.")


class TrainConfig(Frozen):
    """One SFT or DPO run. Paths may be relative to the working directory."""

    task: Literal["sft", "dpo"] = "sft"
    data: str | None = Field(None, description="A curate/synth run directory (manifest.json + split files).")
    model: str | None = Field(
        None, description="Base model folder, a merged SFT model, or an SFT adapter folder; null: embedded model.")
    out: str | None = Field(None, description="Output folder of the run.")
    chat_template: str | None = Field(
        None, description="Jinja file replacing the tokenizer's chat template (it is saved with the adapter).")
    data_manifest_sha256: str | None = Field(
        None, description="Refuse data whose manifest.json has another sha256 (set in a saved run's config).")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    attn_implementation: str | None = Field(
        None, description="transformers attention kernel, e.g. flash_attention_2 (needed for packing); null: default.")
    merge: bool = Field(False, description="Also save the adapter merged into the base (OUT/merged).")
    require_improvement: bool = Field(False, description="Exit non-zero when the target metric did not improve.")
    lora: LoraSettings = Field(default_factory=LoraSettings)
    quant: QuantSettings = Field(default_factory=QuantSettings)
    optim: OptimSettings = Field(default_factory=OptimSettings)
    sequence: SequenceSettings = Field(default_factory=SequenceSettings)
    preflight: PreflightSettings = Field(default_factory=PreflightSettings)
    eval: EvalSettings = Field(default_factory=EvalSettings)
    dpo: DPOSettings = Field(default_factory=DPOSettings)

    @model_validator(mode="after")
    def _check(self) -> "TrainConfig":
        ev = self.eval
        if ev.output_format == "regex" and not ev.pattern:
            raise ValueError("eval.output_format regex needs eval.pattern")
        if self.target_metric == "format_compliance" and ev.output_format == "none":
            raise ValueError("eval.target_metric format_compliance needs eval.output_format json or regex")
        if self.task == "sft" and self.target_metric in ("pref_accuracy", "pref_margin"):
            raise ValueError(f"eval.target_metric {self.target_metric} is a DPO metric")
        if self.task == "dpo" and self.sequence.packing:
            raise ValueError("sequence.packing is for SFT only")
        if self.sequence.packing and not (self.attn_implementation or "").startswith(PACKING_ATTENTION):
            raise ValueError(
                "sequence.packing needs attn_implementation flash_attention_2 or _3: with sdpa or eager attention "
                "the packed examples attend to each other; turn packing off or set attn_implementation")
        return self

    @property
    def learning_rate(self) -> float:
        if self.optim.learning_rate is not None:
            return self.optim.learning_rate
        return SFT_LEARNING_RATE if self.task == "sft" else DPO_LEARNING_RATE

    @property
    def target_metric(self) -> str:
        if self.eval.target_metric is not None:
            return self.eval.target_metric
        return "loss" if self.task == "sft" else "pref_margin"

    def resolved(self) -> "TrainConfig":
        """The same config with defaults that depend on the task written out (for saving)."""
        optim = self.optim.model_copy(update={"learning_rate": self.learning_rate})
        ev = self.eval.model_copy(update={"target_metric": self.target_metric})
        return self.model_copy(update={"optim": optim, "eval": ev})


# --------------------------------------------------------------------------- loading


def _first_error(e: ValidationError, where: str) -> str:
    err = e.errors(include_url=False)[0]
    loc = ".".join(str(p) for p in err.get("loc", ()))
    more = f" (+{e.error_count() - 1} more)" if e.error_count() > 1 else ""
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown setting (see train/config.py or data/train_sft.yaml for the fields)"
    return f"{where}: {loc + ': ' if loc else ''}{msg}{more}"


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``section.key=value`` strings to a raw config dict (a copy)."""
    out = copy.deepcopy(raw)
    for item in overrides:
        try:
            set_dotted(out, *parse_assignment(item))
        except OverrideError as e:
            if "=" not in item:
                raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. --set lora.r=8") from None
            raise ConfigError(f"--set {item!r}: {e}") from None
    return out


def load_config(path: str | Path | None = None, *, overrides: list[str] | None = None,
                **fields: Any) -> TrainConfig:
    """Build a `TrainConfig` from a YAML file, then ``--set`` overrides, then keyword fields.

    Keyword fields that are None are ignored, so CLI flags that were not given
    do not clobber the file. Raises `ConfigError` with a one-line message.
    """
    raw: dict[str, Any] = {}
    where = "config"
    if path is not None:
        where = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as e:
            raise ConfigError(f"{path}: cannot read the config ({e.strerror or e})") from None
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            line = f":{mark.line + 1}" if mark is not None else ""
            raise ConfigError(f"{path}{line}: not valid YAML ({getattr(e, 'problem', e)})") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a mapping of settings, got {type(loaded).__name__}")
        raw = loaded
    raw = apply_overrides(raw, overrides or [])
    for key, value in fields.items():
        if value is None:
            continue
        if "." in key:
            raw = apply_overrides(raw, [f"{key}={yaml.safe_dump(value, default_flow_style=True).strip()}"])
        else:
            raw[key] = value
    try:
        return TrainConfig.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(_first_error(e, where)) from None


def dump_config(cfg: TrainConfig) -> str:
    """YAML text of the resolved config (loads back into an equal `TrainConfig`)."""
    return yaml.safe_dump(cfg.resolved().model_dump(mode="json"), sort_keys=False)


# --------------------------------------------------------------------------- adapters


def torch_dtype(name: str):
    import torch

    return {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}[name]


def to_lora_config(s: LoraSettings):
    """PEFT ``LoraConfig`` for a causal LM."""
    from peft import LoraConfig

    target = s.target_modules if isinstance(s.target_modules, str) else list(s.target_modules)
    return LoraConfig(r=s.r, lora_alpha=s.alpha, lora_dropout=s.dropout, target_modules=target,
                      bias=s.bias, task_type="CAUSAL_LM")


def to_bnb_config(q: QuantSettings):
    """transformers ``BitsAndBytesConfig`` for QLoRA, or None when the base is not quantised."""
    if not q.load_in_4bit:
        return None
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type=q.quant_type,
                              bnb_4bit_use_double_quant=q.double_quant,
                              bnb_4bit_compute_dtype=torch_dtype(q.compute_dtype))


def resolve_optim(cfg: TrainConfig, device: str) -> str:
    """Paged AdamW only where it exists and helps: on CUDA. Plain AdamW elsewhere."""
    if cfg.optim.optim != "auto":
        return cfg.optim.optim
    return "paged_adamw_32bit" if device == "cuda" else "adamw_torch"


def precision_flags(device: str) -> dict[str, bool]:
    """bf16 mixed precision on CUDA GPUs that have it, fp16 on older ones, full fp32 on CPU."""
    if device != "cuda":
        return {"bf16": False, "fp16": False}
    import torch

    bf16 = torch.cuda.is_bf16_supported()
    return {"bf16": bf16, "fp16": not bf16}


def _common_args(cfg: TrainConfig, out_dir: str | Path, device: str, has_eval: bool) -> dict[str, Any]:
    o = cfg.optim
    early = has_eval and o.early_stopping_patience is not None
    args: dict[str, Any] = dict(
        output_dir=str(out_dir),
        learning_rate=cfg.learning_rate,
        lr_scheduler_type=o.lr_scheduler,
        warmup_steps=o.warmup_ratio,  # transformers 5: a float in [0, 1) is a ratio of the total steps
        num_train_epochs=o.epochs,
        max_steps=o.max_steps,
        per_device_train_batch_size=o.batch_size,
        per_device_eval_batch_size=cfg.eval.batch_size,
        gradient_accumulation_steps=o.grad_accum,
        weight_decay=o.weight_decay,
        max_grad_norm=o.max_grad_norm,
        optim=resolve_optim(cfg, device),
        seed=o.seed,
        data_seed=o.seed,
        logging_steps=o.logging_steps,
        logging_first_step=True,
        eval_strategy="steps" if has_eval else "no",
        eval_steps=o.eval_steps if has_eval else None,
        save_strategy="steps" if early else "no",
        save_steps=o.eval_steps,
        save_total_limit=o.save_total_limit,
        load_best_model_at_end=early,
        metric_for_best_model="eval_loss" if early else None,
        greater_is_better=False if early else None,
        report_to=[],
        use_cpu=device == "cpu",
        disable_tqdm=True,
        dataloader_num_workers=0,
        max_length=cfg.sequence.max_length,
        **precision_flags(device),
    )
    return args


def _checkpointing_args(config_cls, on: bool) -> dict[str, Any]:
    """Activation checkpointing under the name this transformers version uses
    (5.2x renamed gradient_checkpointing* to activation_checkpointing*)."""
    import dataclasses

    names = {f.name for f in dataclasses.fields(config_cls)}
    prefix = "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"
    return {prefix: on, f"{prefix}_kwargs": {"use_reentrant": False} if on else None}


def to_sft_config(cfg: TrainConfig, out_dir: str | Path, device: str, has_eval: bool):
    """TRL ``SFTConfig``. Labels are built (and checked) by train.labels, so TRL's own
    assistant masking is off and its truncation never fires (over-long examples were dropped)."""
    from trl import SFTConfig

    return SFTConfig(**_common_args(cfg, out_dir, device, has_eval),
                     **_checkpointing_args(SFTConfig, cfg.optim.gradient_checkpointing),
                     packing=cfg.sequence.packing, assistant_only_loss=False, completion_only_loss=None,
                     shuffle_dataset=False)


def to_dpo_config(cfg: TrainConfig, out_dir: str | Path, device: str, has_eval: bool):
    """TRL ``DPOConfig``; with PEFT the reference is the adapter-disabled policy."""
    from trl import DPOConfig

    return DPOConfig(**_common_args(cfg, out_dir, device, has_eval),
                     **_checkpointing_args(DPOConfig, cfg.optim.gradient_checkpointing),
                     beta=cfg.dpo.beta, loss_type=cfg.dpo.loss_type)
