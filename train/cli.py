"""``python -m train``: sft, dpo, check (and openai, the hosted handoff).

Exit codes: 0 done; 1 refused (data, pre-flight check, model, training); 2 usage or
config error; 3 the run finished but the target metric did not improve and
--require-improvement was given. Refusals are one line each on stderr, no traceback.
"""
from __future__ import annotations

import argparse
import os
import sys

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_NOT_BETTER = 0, 1, 2, 3
# Flags that override one config setting: their defaults are the config's, shown in --help.
CONFIG_KEYS = {"qlora": "quant.load_in_4bit", "max_steps": "optim.max_steps", "epochs": "optim.epochs",
               "learning_rate": "optim.learning_rate", "merge": "merge", "device": "device",
               "require_improvement": "require_improvement", "show": "preflight.show_examples"}


def _config_defaults(p: argparse.ArgumentParser) -> None:
    """Append the config's default (from train.config, the one source) to each overriding flag's help."""
    from train.config import TrainConfig

    for action in p._actions:
        key = {**CONFIG_KEYS, "max_length": "sequence.max_length"}.get(action.dest)
        if key is None:
            continue
        model = TrainConfig
        *parents, leaf = key.split(".")
        for part in parents:
            model = model.model_fields[part].annotation
        field = model.model_fields[leaf]
        shown = field.default if field.default is not None else (field.description or "").split("default ")[-1]
        action.help = f"{action.help} (config default: {str(shown).rstrip('.')})"


def _common(p: argparse.ArgumentParser, training: bool) -> None:
    p.add_argument("--data", help="run directory written by `python -m curate run` (or synth): manifest.json + splits")
    p.add_argument("--model", help="local model folder, merged SFT model, or SFT adapter/run folder "
                                   "(default: the embedded SmolLM2-135M-Instruct)")
    p.add_argument("--config", help="YAML config (see data/train_sft.yaml, data/train_dpo.yaml)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one setting, e.g. --set lora.r=8 --set eval.output_format=json")
    p.add_argument("--chat-template", help="Jinja file replacing the tokenizer's chat template")
    p.add_argument("--max-length", type=int, help="longest example in tokens (sequence.max_length)")
    p.add_argument("--no-color", action="store_true", help="plain [token] view without ANSI colours")
    if training:
        p.add_argument("--out", help="output folder for adapter, config, reports")
        p.add_argument("--qlora", action="store_true", default=None, help="load the base in 4-bit NF4 (QLoRA)")
        p.add_argument("--max-steps", type=int, help="stop after N optimizer steps")
        p.add_argument("--epochs", type=float, help="passes over train (when --max-steps is not given)")
        p.add_argument("--learning-rate", type=float, help="peak learning rate")
        p.add_argument("--merge", action="store_true", default=None, help="also save the merged model (OUT/merged)")
        p.add_argument("--no-eval", action="store_true", help="skip evaluation before and after")
        p.add_argument("--device", choices=["auto", "cpu", "cuda"], help="where to train")
        p.add_argument("--require-improvement", action="store_true", default=None,
                       help="exit 3 when the target metric did not improve")


def build_parser() -> argparse.ArgumentParser:
    from curate.cli_kit import polish, prog

    parser = argparse.ArgumentParser(prog=prog("train"),
                                     description="LoRA / QLoRA SFT and DPO from a validated curate/synth run directory.")
    sub = parser.add_subparsers(dest="command", required=True)
    sft = sub.add_parser("sft", help="supervised fine-tuning (assistant tokens only) with a LoRA adapter")
    _common(sft, training=True)
    dpo = sub.add_parser("dpo", help="DPO from preference pairs; starts from a base, merged SFT model or SFT adapter")
    _common(dpo, training=True)
    check = sub.add_parser("check", help="pre-flight check alone: template, loss mask token by token, lengths")
    _common(check, training=False)
    check.add_argument("--task", choices=["sft", "dpo"], help="which split files to check (default: sft)")
    check.add_argument("--show", type=int, help="examples printed token by token")
    for p in (sft, dpo, check):
        _config_defaults(p)
    oa = sub.add_parser("openai", help="hosted handoff: upload train/val, create a fine-tuning job, follow it")
    oa.add_argument("--data", required=True, help="run directory (chatml splits)")
    oa.add_argument("--model", required=True, help="hosted base model name, e.g. gpt-4.1-mini-2025-04-14")
    oa.add_argument("--base-url", help="API base URL (default: the SDK's, or $OPENAI_BASE_URL)")
    oa.add_argument("--suffix", help="suffix for the fine-tuned model name")
    oa.add_argument("--epochs", type=int, help="n_epochs hyperparameter")
    oa.add_argument("--poll-seconds", type=float, default=10.0, help="seconds between event polls")
    oa.add_argument("--no-follow", action="store_true", help="create the job and return")
    return polish(parser)


def _config(args, task: str):
    from train.config import load_config

    fields = dict(task=task, data=args.data, model=args.model, chat_template=args.chat_template)
    fields["sequence.max_length"] = args.max_length
    if getattr(args, "out", None) is not None:
        fields["out"] = args.out
    for flag, key in CONFIG_KEYS.items():
        value = getattr(args, flag, None)
        if value is not None:
            fields[key] = value
    if getattr(args, "no_eval", False):
        fields["eval.enabled"] = False
    return load_config(args.config, overrides=args.overrides, **fields)


def _detect_task(data: str | None) -> str:
    """`check` without --task: dpo when the run directory holds preference pairs and no SFT splits."""
    import json
    from pathlib import Path

    try:
        outputs = json.loads((Path(data) / "manifest.json").read_text(encoding="utf-8"))["outputs"]
        names = {Path(o["path"]).name for o in outputs}
    except (TypeError, OSError, ValueError, KeyError):
        return "sft"  # intake reports what is wrong with the directory
    sft = any(n.startswith("train.") and n.split(".")[1] in ("chatml", "sharegpt", "alpaca") for n in names)
    return "dpo" if not sft and any(n.startswith("train.dpo.") for n in names) else "sft"


def _quiet() -> None:
    """Library chatter off (set before the heavy imports happen, so a refusal stays fast)."""
    import logging
    import warnings

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    warnings.filterwarnings("ignore")
    # bitsandbytes logs a warning at import on CPUs with AVX512-BF16 when the optional `kernels` package is absent.
    logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)


def _say(line: str) -> None:
    print(line, flush=True)


def main(argv: list[str] | None = None) -> int:
    from curate.cli_kit import parse

    args = parse(build_parser(), argv)
    from train.config import ConfigError

    if args.command == "openai":
        from train.openai_job import OpenAIJobError, run_openai_job

        try:
            run_openai_job(args.data, args.model, base_url=args.base_url, suffix=args.suffix, epochs=args.epochs,
                           poll_seconds=args.poll_seconds, follow=not args.no_follow, log=_say)
        except OpenAIJobError as e:
            print(f"error: {e}", file=sys.stderr)
            return EXIT_REFUSED
        return EXIT_OK

    task = args.command if args.command in ("sft", "dpo") else (args.task or _detect_task(args.data))
    try:
        cfg = _config(args, task)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    colour = not args.no_color and sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    _quiet()
    from train.run import RunError, run_check, train

    try:
        if args.command == "check":
            run_check(cfg, log=_say, colour=colour)
            _say("pre-flight check passed")
            return EXIT_OK
        result = train(cfg, log=_say, colour=colour)
    except RunError as e:
        for line in e.lines:
            print(f"error: {line}", file=sys.stderr)
        return EXIT_REFUSED
    if cfg.require_improvement and result.report is not None and not result.report["verdict"]["better"]:
        return EXIT_NOT_BETTER
    return EXIT_OK
