"""An SFT or DPO run from a verified data directory to a saved adapter and an eval report.

Order of work (each stage refuses with a one-line reason before the next costs anything):
intake (manifest, hashes, schemas) -> tokenizer and training template -> pre-flight
check of every train/val example -> load the model (4-bit for QLoRA) -> evaluation
before (base and few-shot prompt on val, general set) -> TRL trainer with a LoRA
adapter -> save adapter, resolved config, manifest hash -> evaluation after (val,
general set, then test once) -> verdict -> optional merge.
"""
from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from curate.chat_template import TemplateChoice, choose_training_template
from schemas.atomic import write_text_atomic
from train.config import TrainConfig, dump_config, to_dpo_config, to_lora_config, to_sft_config
from train.intake import RunData, open_run
from train.labels import DPOExample, SFTExample
from train.model import StartPoint, adapters_to_float32, load_start, load_tokenizer, merge_into_folder, pick_device, resolve_start
from train.preflight import PreflightResult, check_template, end_of_turn_ids, preflight_dpo, preflight_sft

Log = Callable[[str], Any]


class RunError(ValueError):
    """A run that cannot start or go on; `lines` are the one-line reasons."""

    def __init__(self, lines: list[str] | str):
        self.lines = [lines] if isinstance(lines, str) else list(lines)
        super().__init__(self.lines[0] if self.lines else "run failed")


@dataclass
class Prepared:
    cfg: TrainConfig
    data: RunData
    start: StartPoint
    tokenizer: Any
    choice: TemplateChoice
    eot_ids: set[int]
    train_records: list[dict]
    val_records: list[dict]
    checks: dict[str, PreflightResult] = field(default_factory=dict)


@dataclass
class RunResult:
    out_dir: Path
    trainer: Any
    report: dict | None
    weights: dict
    train_metrics: dict
    checks: dict[str, PreflightResult]


# --------------------------------------------------------------------------- preparation


def prepare(cfg: TrainConfig, log: Log = print, colour: bool = False) -> Prepared:
    """Intake, tokenizer, template and the pre-flight check of train and val. Raises RunError."""
    if cfg.data is None:
        raise RunError("no data directory: pass --data DIR (the --out of `python -m curate run`)")
    from train.intake import IntakeError
    from train.model import ModelError

    try:
        data = open_run(cfg.data, cfg.task, cfg.data_manifest_sha256)
        train_records = data.load("train")
        val_records = data.load("val") if data.has("val") else []
        start = resolve_start(cfg.model)
        tok = load_tokenizer(start, cfg.chat_template)
    except (IntakeError, ModelError) as e:
        raise RunError(str(e)) from None
    log(f"data: {data.dir} (manifest sha256 {data.manifest_sha256[:12]}): train {len(train_records)}, "
        f"val {len(val_records)} records ({data.formats['train']})")
    log(f"model: {start.describe()}")
    choice = choose_training_template(tok)
    eot = end_of_turn_ids(tok, start.base_dir, cfg.preflight.eos_tokens)
    log(f"chat template: {choice.source}")
    template_errors = check_template(tok, choice, eot)
    prep = Prepared(cfg, data, start, tok, choice, eot, train_records, val_records)
    for split, records in (("train", train_records), ("val", val_records)):
        if not records:
            continue
        source = data.files[split].path
        kw = dict(split=split, source=source, max_length=cfg.sequence.max_length, overlong=cfg.sequence.overlong,
                  eot_ids=eot, show=cfg.preflight.show_examples if split == "train" else 0,
                  show_max_tokens=cfg.preflight.show_max_tokens, colour=colour,
                  template_errors=template_errors if split == "train" else [])
        if cfg.task == "sft":
            from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

            pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
            res = preflight_sft(tok, choice, records, collator=DataCollatorForLanguageModeling(pad_token_id=pad), **kw)
        else:
            res = preflight_dpo(tok, choice, records, **kw)
        prep.checks[split] = res
    return prep


def report_checks(prep: Prepared, log: Log) -> list[str]:
    """Print the token views and a summary; return all errors."""
    errors: list[str] = []
    for split, res in prep.checks.items():
        for view in res.views:
            log(view)
        for note in res.notes:
            log(f"note: {note}")
        share = res.loss_tokens / res.total_tokens if res.total_tokens else 0.0
        log(f"pre-flight {split}: {len(res.examples)} of {res.n_in} examples kept, {res.total_tokens} tokens, "
            f"{res.loss_tokens} ({share:.0%}) carry loss: {'OK' if res.ok else 'FAILED'}")
        errors.extend(res.errors)
    return errors


def run_check(cfg: TrainConfig, log: Log = print, colour: bool = False) -> Prepared:
    """`python -m train check`: the pre-flight check alone. Raises RunError when it fails."""
    prep = prepare(cfg, log, colour)
    errors = report_checks(prep, log)
    if errors:
        raise RunError(errors)
    return prep


# --------------------------------------------------------------------------- weights


def fingerprint(model, chunk: int = 1 << 22) -> dict[str, tuple[float, float]]:
    """A cheap per-parameter checksum: (sum, sum of squares) in float64, reduced on the device
    over chunks of 4M elements (32 MB of float64), so no full-size copy of a large tensor is made."""
    import torch

    out = {}
    with torch.no_grad():
        for name, p in model.named_parameters():
            flat = p.detach().reshape(-1)
            total, squares = 0.0, 0.0
            for part in flat.split(chunk):
                part = part.to(torch.float64) if part.is_floating_point() else part.to(torch.int64).to(torch.float64)
                total += float(part.sum())
                squares += float(torch.dot(part, part))
            out[name] = (total, squares)
    return out


def weight_changes(before: dict, after: dict, trainable: set[str]) -> dict[str, Any]:
    lora = [n for n in before if n in trainable]
    base = [n for n in before if n not in trainable]
    lora_changed = sum(before[n] != after.get(n) for n in lora)
    base_changed = [n for n in base if before[n] != after.get(n)]
    return {"lora_tensors": len(lora), "lora_changed": lora_changed, "base_tensors": len(base),
            "base_changed": len(base_changed), "base_changed_names": base_changed[:5]}


# --------------------------------------------------------------------------- progress


def _callbacks(log: Log):
    from transformers import TrainerCallback

    class LossLines(TrainerCallback):
        """One line per log: step, loss, learning rate, gradient norm, tokens/s."""

        def __init__(self):
            self.t0 = None
            self.tokens0 = 0.0

        def on_train_begin(self, args, state, control, **kw):
            self.t0 = time.perf_counter()

        def on_log(self, args, state, control, logs=None, **kw):
            logs = logs or {}
            step = f"step {state.global_step}/{state.max_steps}"
            if "eval_loss" in logs:
                log(f"{step}  eval_loss {logs['eval_loss']:.4f}")
            elif "loss" in logs:
                parts = [step, f"loss {logs['loss']:.4f}"]
                if "learning_rate" in logs:
                    parts.append(f"lr {logs['learning_rate']:.2e}")
                if "grad_norm" in logs:
                    parts.append(f"grad_norm {logs['grad_norm']:.3f}")
                if "rewards/accuracies" in logs:
                    parts.append(f"reward_acc {logs['rewards/accuracies']:.2f}")
                if "num_tokens" in logs and self.t0:
                    parts.append(f"{logs['num_tokens'] / (time.perf_counter() - self.t0):.0f} tok/s")
                log("  ".join(parts))

    return [LossLines()]


# --------------------------------------------------------------------------- the run


def _write(path: Path, text: str) -> None:
    write_text_atomic(path, text)


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {}
    for name in ("curatekit", "torch", "transformers", "trl", "peft", "bitsandbytes", "datasets", "accelerate"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    return out


def _sft_dataset(examples: list[SFTExample]):
    from datasets import Dataset

    return Dataset.from_dict({"input_ids": [e.input_ids for e in examples], "labels": [e.labels for e in examples]})


def _dpo_dataset(examples: list[DPOExample]):
    from datasets import Dataset

    return Dataset.from_list([{k: e.record[k] for k in ("prompt", "chosen", "rejected")} for e in examples])


def _verify_trainer_data(trainer, examples, task: str) -> None:
    """The trainer must hold exactly the ids (and labels) the pre-flight check inspected (row by row,
    so a large dataset is never materialised as Python lists all at once)."""
    ds = trainer.train_dataset
    if task == "sft":
        if trainer.args.packing:
            return  # packing concatenates examples; the labels inside are still ours
        keys = (("input_ids", "input_ids"), ("labels", "labels"))
    else:
        keys = (("prompt_ids", "prompt_ids"), ("chosen_ids", "chosen_ids"), ("rejected_ids", "rejected_ids"))
    same = len(ds) == len(examples) and all(
        all(row[col] == getattr(ex, attr) for col, attr in keys) for row, ex in zip(ds, examples))
    if not same:
        raise RunError("the trainer prepared other token ids or labels than the pre-flight check inspected; "
                       "refusing to train on unchecked data (TRL version change?)")


def train(cfg: TrainConfig, log: Log = print, colour: bool = False, callbacks: list | None = None) -> RunResult:
    """Run SFT or DPO as configured; returns the trainer, the eval report and the weight check.

    `callbacks` are extra transformers TrainerCallbacks (e.g. the benchmark's step timer)."""
    if cfg.out is None:
        raise RunError("no output folder: pass --out DIR")
    out = Path(cfg.out)
    if (out / "run.json").exists():
        raise RunError(f"{out} already holds a finished run (run.json); pass a new --out or delete it")
    prep = prepare(cfg, log, colour)
    errors = report_checks(prep, log)
    if errors:
        raise RunError(errors)

    import datasets
    import transformers
    from transformers import EarlyStoppingCallback

    datasets.disable_progress_bars()
    transformers.set_seed(cfg.optim.seed)
    out.mkdir(parents=True, exist_ok=True)
    saved_cfg = cfg.model_copy(update={"data_manifest_sha256": prep.data.manifest_sha256})
    _write(out / "config.yaml", dump_config(saved_cfg))
    _write(out / "preflight.txt", "\n".join([v for r in prep.checks.values() for v in r.views]
                                            + [n for r in prep.checks.values() for n in r.notes]) + "\n")

    device = pick_device(cfg.device)
    log(f"loading the model on {device}" + (" in 4-bit NF4 (QLoRA)" if cfg.quant.load_in_4bit else ""))
    model, base_dir = load_start(prep.start, cfg, device, out, log)
    train_ex = prep.checks["train"].examples
    val_ex = prep.checks["val"].examples if "val" in prep.checks else []
    val_kept = _kept_records(prep.val_records, val_ex)

    from train import evaluate as ev

    report: dict[str, Any] | None = None
    ctx = None
    if cfg.eval.enabled:
        ctx = ev.EvalContext(prep.tokenizer, prep.choice.training, cfg, prep.eot_ids,
                             ev.pick_shots(prep.train_records, cfg.eval.few_shot, cfg.optim.seed, cfg.task))
        report = {"task": cfg.task, "splits": {}, "reference_format_compliance": {}}
        try:
            general = ev.load_general_set(cfg)
        except (OSError, ValueError) as e:
            raise RunError(f"eval.general_set: {e}") from None
        if val_kept:
            log(f"evaluating the base model on val ({min(len(val_kept), cfg.eval.max_examples)} examples)")
            report["splits"]["val"] = {"base": ev.evaluate_split(model, ctx, val_kept, few_shot=False)}
            if ctx.shots:
                report["splits"]["val"]["few_shot"] = ev.evaluate_split(model, ctx, val_kept, few_shot=True)
            report["reference_format_compliance"]["val"] = ev.reference_compliance(val_kept, cfg)
        general_base = ev.score_general(model, ctx, general)

    has_eval = bool(val_ex)
    if cfg.task == "sft":
        from trl import SFTTrainer

        args = to_sft_config(cfg, out / "checkpoints", device, has_eval)
        trainer = SFTTrainer(model=model, args=args, train_dataset=_sft_dataset(train_ex),
                             eval_dataset=_sft_dataset(val_ex) if has_eval else None,
                             processing_class=prep.tokenizer, peft_config=to_lora_config(cfg.lora),
                             callbacks=_callbacks(log) + list(callbacks or []))
        from train.preflight import check_collator

        collator_errors = check_collator(trainer.data_collator, train_ex[:4]) if not args.packing else []
        if collator_errors:
            raise RunError(collator_errors)
    else:
        from trl import DPOTrainer

        args = to_dpo_config(cfg, out / "checkpoints", device, has_eval)
        trainer = DPOTrainer(model=model, ref_model=None, args=args, train_dataset=_dpo_dataset(train_ex),
                             eval_dataset=_dpo_dataset(val_ex) if has_eval else None,
                             processing_class=prep.tokenizer, peft_config=to_lora_config(cfg.lora),
                             callbacks=_callbacks(log) + list(callbacks or []))
    _verify_trainer_data(trainer, train_ex, cfg.task)
    if cfg.quant.load_in_4bit and cfg.lora.float32_weights:
        adapters_to_float32(trainer.model)
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # LossLines prints one compact line per log instead
    if args.load_best_model_at_end:
        trainer.add_callback(EarlyStoppingCallback(early_stopping_patience=cfg.optim.early_stopping_patience))

    trainable = {n for n, p in trainer.model.named_parameters() if p.requires_grad}
    before = fingerprint(trainer.model)
    log(f"training: {len(train_ex)} examples, {len(trainable)} LoRA tensors "
        f"({sum(p.numel() for p in trainer.model.parameters() if p.requires_grad):,} parameters), "
        f"lr {cfg.learning_rate:g}, {getattr(args.optim, 'value', args.optim)}")
    started = time.perf_counter()
    result = trainer.train()
    elapsed = time.perf_counter() - started
    weights = weight_changes(before, fingerprint(trainer.model), trainable)
    metrics = dict(result.metrics)
    metrics["train_loss"] = result.training_loss
    metrics["seconds"] = elapsed
    if not math.isfinite(result.training_loss):
        raise RunError(f"training loss is {result.training_loss}: the run diverged (lower the learning rate)")
    log(f"trained {trainer.state.global_step} steps in {elapsed:.1f} s, loss {result.training_loss:.4f}; "
        f"LoRA tensors changed {weights['lora_changed']}/{weights['lora_tensors']}, "
        f"base tensors changed {weights['base_changed']}/{weights['base_tensors']}")

    adapter_dir = out / "adapter"
    trainer.model.save_pretrained(adapter_dir)
    prep.tokenizer.save_pretrained(adapter_dir)
    shutil.rmtree(out / "checkpoints", ignore_errors=True)

    if report is not None and ctx is not None:
        peft_model = trainer.model
        if val_kept:
            log("evaluating the tuned model on val")
            report["splits"]["val"]["tuned"] = ev.evaluate_split(peft_model, ctx, val_kept, few_shot=False)
        general_tuned = ev.score_general(peft_model, ctx, general)
        if general_base:
            report["general"] = {"base": general_base, "tuned": general_tuned,
                                 "forgetting": ev.forgetting(general_base, general_tuned,
                                                             cfg.eval.forgetting_tolerance)}
        if cfg.eval.test_at_end and prep.data.has("test"):
            test_records = _final_test_records(prep, cfg)
            log(f"final evaluation on test ({min(len(test_records), cfg.eval.max_examples)} examples)")
            split = {}
            with peft_model.disable_adapter():
                split["base"] = ev.evaluate_split(peft_model, ctx, test_records, few_shot=False)
                if ctx.shots:
                    split["few_shot"] = ev.evaluate_split(peft_model, ctx, test_records, few_shot=True)
            split["tuned"] = ev.evaluate_split(peft_model, ctx, test_records, few_shot=False)
            report["splits"]["test"] = split
            report["reference_format_compliance"]["test"] = ev.reference_compliance(test_records, cfg)
        report["verdict"] = ev.verdict(report["splits"], cfg.target_metric, cfg.eval.min_improvement)
        _write(out / "eval_report.json", json.dumps(report, indent=2, default=_json_default) + "\n")
        _write(out / "eval_report.md", ev.render_markdown(report))
        v = report["verdict"]
        log(("RESULT: better than the base model. " if v["better"] else
             f"RESULT: NOT better: the target metric ({v['target_metric']}) did not improve. ")
            + "; ".join(v["reasons"]))
        if report.get("general", {}).get("forgetting", {}) and report["general"]["forgetting"]["forgetting"]:
            log(f"warning: general-instruction loss rose "
                f"{report['general']['forgetting']['relative_loss_change']:+.1%} (forgetting)")

    merged_dir = None
    if cfg.merge:
        merged_dir = merge_into_folder(base_dir, adapter_dir, out / "merged")  # on CPU, from the saved adapter
        log(f"merged model saved to {merged_dir}")

    run_info = {
        "task": cfg.task,
        "data": {"dir": str(prep.data.dir), "manifest_sha256": prep.data.manifest_sha256,
                 "files": {s: e.model_dump() for s, e in prep.data.files.items()},
                 "splits_read": list(prep.data.loaded)},
        "model": {"base": str(prep.start.base_dir), "start_adapter": str(prep.start.adapter_dir or ""),
                  "trained_on": str(base_dir), "device": device, "qlora": cfg.quant.load_in_4bit},
        "chat_template": prep.choice.source,
        "preflight": {s: {"examples_in": r.n_in, "kept": len(r.examples), "dropped_overlong": r.dropped_overlong,
                          "tokens": r.total_tokens, "loss_tokens": r.loss_tokens}
                      for s, r in prep.checks.items()},
        "train": metrics,
        "weights": weights,
        "outputs": {"adapter": "adapter", "merged": "merged" if merged_dir else None,
                    "eval_report": "eval_report.json" if report else None},
        "verdict": report["verdict"] if report else None,
        "versions": _versions(),
        "reproduce": f"python -m train {cfg.task} --config {out / 'config.yaml'} --out NEW_DIR",
    }
    _write(out / "run.json", json.dumps(run_info, indent=2, default=_json_default) + "\n")
    log(f"saved: {adapter_dir}, {out / 'config.yaml'}, {out / 'run.json'}"
        + (f", {out / 'eval_report.md'}" if report else ""))
    return RunResult(out, trainer, report, weights, metrics, prep.checks)


def _json_default(o):
    if isinstance(o, set):
        return sorted(o)
    if isinstance(o, Path):
        return str(o)
    return str(o)


def _kept_records(records: list[dict], examples: list) -> list[dict]:
    """The records whose examples survived the length policy (matched by source line)."""
    lines = {e.line for e in examples}
    return [r for r in records if r.get("_line", 0) in lines]


def _final_test_records(prep: Prepared, cfg: TrainConfig) -> list[dict]:
    """Test records, read now for the first time, held to the same checks and length policy."""
    from train.intake import IntakeError

    try:
        records = prep.data.load("test")
    except IntakeError as e:
        raise RunError(str(e)) from None
    source = prep.data.files["test"].path
    kw = dict(split="test", source=source, max_length=cfg.sequence.max_length, overlong="drop",
              eot_ids=prep.eot_ids, show=0, template_errors=[])
    res = (preflight_sft(prep.tokenizer, prep.choice, records, **kw) if cfg.task == "sft"
           else preflight_dpo(prep.tokenizer, prep.choice, records, **kw))
    if res.errors:
        raise RunError(res.errors)
    return _kept_records(records, res.examples)
