"""Finding and loading the model a run starts from: a base folder, a merged SFT model, or an SFT adapter.

Models are only ever loaded from local folders (schemas.local_model.resolve_model_path
refuses anything else, so nothing is downloaded). With QLoRA the frozen base is
loaded in 4-bit NF4 and prepared with PEFT's ``prepare_model_for_kbit_training``.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from schemas.local_model import ModelNotFoundError, resolve_model_path
from train.config import QuantSettings, TrainConfig, to_bnb_config, torch_dtype


class ModelError(ValueError):
    """The model (or adapter) cannot be used; one-line message."""


@dataclass(frozen=True)
class StartPoint:
    """Where a run starts: a base model folder, plus an SFT adapter to merge into it first (DPO after SFT)."""

    base_dir: Path
    adapter_dir: Path | None = None

    @property
    def tokenizer_dir(self) -> Path:
        if self.adapter_dir is not None and (self.adapter_dir / "tokenizer_config.json").is_file():
            return self.adapter_dir
        return self.base_dir

    def describe(self) -> str:
        if self.adapter_dir is None:
            return str(self.base_dir)
        return f"{self.base_dir} + SFT adapter {self.adapter_dir} (merged before training)"


def resolve_start(model: str | Path | None) -> StartPoint:
    """`model` may be None (embedded model), a model folder, an adapter folder, or a train run's out folder."""
    if model is not None:
        folder = Path(model).expanduser()
        if (folder / "adapter" / "adapter_config.json").is_file() and not (folder / "config.json").is_file():
            folder = folder / "adapter"  # a train run's output folder
        if (folder / "adapter_config.json").is_file() and not (folder / "config.json").is_file():
            try:
                base = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))[
                    "base_model_name_or_path"]
            except (ValueError, KeyError) as e:
                raise ModelError(f"{folder / 'adapter_config.json'}: unreadable adapter config ({e})") from None
            try:
                return StartPoint(resolve_model_path(base), folder.resolve())
            except ModelNotFoundError as e:
                raise ModelError(f"adapter {folder}: its base model {base!r} is not available locally ({e})") from None
    try:
        return StartPoint(resolve_model_path(model))
    except ModelNotFoundError as e:
        raise ModelError(str(e)) from None


def pick_device(preference: str = "auto") -> str:
    import torch

    if preference == "cuda" and not torch.cuda.is_available():
        raise ModelError("device cuda was asked for but no CUDA GPU is visible")
    if preference == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return preference


def load_tokenizer(start: StartPoint, chat_template: str | Path | None = None):
    """The tokenizer, with `chat_template` (a Jinja file) replacing its template when given.
    A missing pad token falls back to eos, as TRL does."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(start.tokenizer_dir)
    if chat_template is not None:
        path = Path(chat_template)
        try:
            tok.chat_template = path.read_text(encoding="utf-8")
        except OSError as e:
            raise ModelError(f"{path}: cannot read the chat template ({e.strerror or e})") from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def _base_dtype(device: str):
    import torch

    if device == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def load_base(base_dir: Path, quant: QuantSettings, device: str, gradient_checkpointing: bool = True,
              attn_implementation: str | None = None):
    """The frozen base: 4-bit NF4 + prepare_model_for_kbit_training (QLoRA), or plain weights."""
    from transformers import AutoModelForCausalLM

    extra = {"attn_implementation": attn_implementation} if attn_implementation else {}
    bnb = to_bnb_config(quant)
    if bnb is not None:
        from peft import prepare_model_for_kbit_training

        model = AutoModelForCausalLM.from_pretrained(
            base_dir, quantization_config=bnb, dtype=torch_dtype(quant.compute_dtype),
            device_map={"": 0 if device == "cuda" else "cpu"}, **extra)
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=gradient_checkpointing,
            gradient_checkpointing_kwargs={"use_reentrant": False})
        if device == "cpu":
            keep_cpu_4bit_layout(model)
    else:
        model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=_base_dtype(device), **extra)
        model.to(device)
    model.config.use_cache = False
    return model


def keep_cpu_4bit_layout(model) -> int:
    """Stop bitsandbytes from repacking 4-bit weights for its CPU inference kernel.

    On CPUs with AVX512-BF16, bitsandbytes 0.50 converts a Linear4bit weight to a
    packed layout on its first forward in eval mode without gradients (e.g. the
    evaluation before training). A later training forward then runs the packed
    inference kernel, which has no autograd formula: gradients through the frozen
    layers are silently wrong. Training must keep the canonical layout.
    """
    n = 0
    for module in model.modules():
        if hasattr(module, "support_avx512bf16_for_cpu"):
            module.support_avx512bf16_for_cpu = False
            n += 1
    return n


def adapters_to_float32(model) -> int:
    """Keep trainable (LoRA) weights in float32.

    TRL 1.16 casts the adapter of a quantised model to bf16. A bf16 weight near
    0.03 has a resolution of ~1e-4, so Adam updates of lr ~ 2e-4 and below (all of
    the cosine tail) are partly or wholly rounded away. LoRA weights are few;
    float32 costs little memory, and matmuls still run in the compute dtype.
    """
    import torch

    n = 0
    for p in model.parameters():
        if p.requires_grad and p.dtype != torch.float32:
            p.data = p.data.float()
            n += 1
    return n


def merge_into_folder(base_dir: Path, adapter_dir: Path, out_dir: Path, device: str = "cpu") -> Path:
    """Save base + adapter merged, as an ordinary model folder (weights in the base's dtype)."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype="auto")
    model = PeftModel.from_pretrained(model, adapter_dir).merge_and_unload()
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tok_dir = adapter_dir if (adapter_dir / "tokenizer_config.json").is_file() else base_dir
    AutoTokenizer.from_pretrained(tok_dir).save_pretrained(tmp)
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)
    return out_dir


def load_start(start: StartPoint, cfg: TrainConfig, device: str, scratch: Path, log=print):
    """The model a run trains: the base, or base + SFT adapter merged (written to `scratch` first
    when the merged model must then be quantised, since bitsandbytes quantises while loading)."""
    base_dir = start.base_dir
    if start.adapter_dir is not None:
        log(f"merging the SFT adapter {start.adapter_dir} into {start.base_dir}")
        base_dir = merge_into_folder(start.base_dir, start.adapter_dir, scratch / "start-merged")
    model = load_base(base_dir, cfg.quant, device, cfg.optim.gradient_checkpointing, cfg.attn_implementation)
    return model, base_dir
