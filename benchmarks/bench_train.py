"""QLoRA SFT throughput and peak memory: `python -m train sft --qlora` vs a plain TRL SFTTrainer script.

    .venv/bin/python benchmarks/bench_train.py                      # embedded SmolLM2-135M, CPU, short run
    python benchmarks/bench_train.py --random-init-config llama3-8b  # on a CUDA GPU: Llama-3-8B shape, seq 2048

Both sides train the same conversations with the same settings (LoRA r16/alpha32
all-linear, NF4 + double quantisation + bf16 compute, gradient checkpointing,
batch, steps, learning rate, seed; paged AdamW on CUDA, AdamW on CPU). Each side
runs in its own fresh process, so peak memory is its own: peak GPU memory
(torch.cuda.max_memory_allocated) on CUDA, peak RSS on CPU. tokens/s counts the
non-padding tokens of the timed steps (TRL's `num_tokens`), after warm-up steps.

Differences that are the point of the comparison, reported in the table: the
curatekit run trains assistant tokens only (labels checked by the pre-flight
check) and keeps LoRA weights in float32; the plain script trains every token
(TRL 1.16 refuses assistant_only_loss for this ChatML template) with TRL's
bf16 adapters. `--random-init-config` builds a model of the named shape with
random weights from a config (no download): smollm2-135m, llama3-8b or tiny.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

MARK = "BENCH_RESULT "


# --------------------------------------------------------------------------- data


def conversations(tokenizer, seq_len: int, n: int) -> list[dict]:
    """`n` multi-turn chats of at most `seq_len` tokens, each filled close to it with user/assistant
    pairs from the shipped sample chats (whole turns only)."""
    from schemas.validate import validate_file

    chats: list[list[dict]] = []
    validate_file(REPO / "data" / "sample" / "chats.jsonl", "chatml",
                  on_valid=lambda line, obj, fmt: chats.append(obj["messages"]))
    pairs = []
    for msgs in chats:
        body = [m for m in msgs if m["role"] in ("user", "assistant")]
        pairs += [(body[i], body[i + 1]) for i in range(0, len(body) - 1, 2)
                  if body[i]["role"] == "user" and body[i + 1]["role"] == "assistant"]
    out, start = [], 0
    for _ in range(n):
        msgs: list[dict] = []
        k = start
        while True:
            u, a = pairs[k % len(pairs)]
            trial = msgs + [{"role": "user", "content": u["content"]}, {"role": "assistant", "content": a["content"]}]
            if len(tokenizer.apply_chat_template(trial, tokenize=True, return_dict=True)["input_ids"]) > seq_len:
                break
            msgs, k = trial, k + 1
        if not msgs:
            raise SystemExit(f"--seq-len {seq_len} is too short for one user/assistant pair")
        out.append({"messages": msgs})
        start += 7  # a different mix for the next example
    return out


# --------------------------------------------------------------------------- one side (child process)


def _timer():
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        """(step, time, cumulative non-padding tokens) after every optimizer step (logging_steps=1)."""

        def __init__(self):
            self.points: list[tuple[int, float, float]] = []

        def on_log(self, args, state, control, logs=None, **kw):
            if logs and "num_tokens" in logs and "loss" in logs:
                self.points.append((state.global_step, time.perf_counter(), float(logs["num_tokens"])))

    return StepTimer()


def _measure(timer, warmup: int) -> dict:
    """tokens/s between the end of the last warm-up step and the end of the last step."""
    pts = timer.points
    if warmup < 1 or len(pts) <= warmup:
        raise SystemExit(f"{len(pts)} steps logged: need --warmup >= 1 and --steps > --warmup")
    (s0, t0, n0), (s1, t1, n1) = pts[warmup - 1], pts[-1]
    return {"tokens_per_s": (n1 - n0) / (t1 - t0), "s_per_step": (t1 - t0) / (s1 - s0), "timed_steps": s1 - s0,
            "tokens_timed": n1 - n0}


def _memory(device: str) -> dict:
    import torch

    if device == "cuda":
        return {"peak_gpu_gb": torch.cuda.max_memory_allocated() / 2**30,
                "peak_gpu_reserved_gb": torch.cuda.max_memory_reserved() / 2**30}
    return {"peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def run_ours(a, model_dir: Path, data: list[dict], device: str, work: Path) -> dict:
    from train.config import load_config
    from train.run import train
    from train.testing import write_run_dir

    run = write_run_dir(work / "data", {"train": data})
    timer = _timer()
    cfg = load_config(None, task="sft", data=str(run), model=str(model_dir), out=str(work / "ours"), overrides=[
        f"optim.max_steps={a.steps}", f"optim.batch_size={a.batch}", "optim.grad_accum=1", "optim.learning_rate=2e-4",
        f"sequence.max_length={a.seq_len}", "quant.load_in_4bit=true", "eval.enabled=false",
        "preflight.show_examples=0", f"device={device}"])
    result = train(cfg, log=lambda line: None, callbacks=[timer])
    checks = result.checks["train"]
    return {**_measure(timer, a.warmup), "loss_token_share": checks.loss_tokens / checks.total_tokens,
            "final_loss": result.train_metrics["train_loss"]}


def run_plain(a, model_dir: Path, data: list[dict], device: str, work: Path) -> dict:
    """The canonical QLoRA recipe, written the way the TRL and PEFT docs show it."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig
    from trl import SFTConfig, SFTTrainer

    bnb = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                             bnb_4bit_compute_dtype=torch.bfloat16)
    model = AutoModelForCausalLM.from_pretrained(model_dir, quantization_config=bnb, dtype=torch.bfloat16,
                                                 device_map={"": 0 if device == "cuda" else "cpu"})
    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=True,
                                            gradient_checkpointing_kwargs={"use_reentrant": False})
    tok = AutoTokenizer.from_pretrained(model_dir)
    cuda = device == "cuda"
    args = SFTConfig(output_dir=str(work / "plain"), max_steps=a.steps, per_device_train_batch_size=a.batch,
                     gradient_accumulation_steps=1, learning_rate=2e-4, lr_scheduler_type="cosine", warmup_steps=0.1,
                     optim="paged_adamw_32bit" if cuda else "adamw_torch", gradient_checkpointing=True,
                     gradient_checkpointing_kwargs={"use_reentrant": False}, bf16=cuda and torch.cuda.is_bf16_supported(),
                     use_cpu=not cuda, max_length=a.seq_len, logging_steps=1, save_strategy="no", report_to=[],
                     seed=42, data_seed=42, disable_tqdm=True)
    timer = _timer()
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(data), processing_class=tok,
                         peft_config=LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear",
                                                task_type="CAUSAL_LM"), callbacks=[timer])
    result = trainer.train()
    return {**_measure(timer, a.warmup), "loss_token_share": 1.0, "final_loss": result.training_loss}


def child(a) -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
    import torch
    from transformers import AutoTokenizer

    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    if a.threads:
        torch.set_num_threads(a.threads)
    model_dir = Path(a.model_dir)
    tok = AutoTokenizer.from_pretrained(model_dir)
    data = conversations(tok, a.seq_len, a.steps * a.batch)
    with tempfile.TemporaryDirectory(prefix="bench-train-") as work:
        started = time.perf_counter()
        fn = run_ours if a.side == "ours" else run_plain
        res = fn(a, model_dir, data, device, Path(work))
        res["wall_s"] = time.perf_counter() - started
    res.update(_memory(device), side=a.side, device=device,
               gpu=torch.cuda.get_device_name(0) if device == "cuda" else None, threads=torch.get_num_threads())
    print(MARK + json.dumps(res), flush=True)


# --------------------------------------------------------------------------- parent


def model_folder(a) -> Path:
    if a.random_init_config:
        from train.testing import build_random_model

        cache = Path(a.cache_dir) / a.random_init_config
        print(f"building a random-init {a.random_init_config} model in {cache} (no download)...", flush=True)
        import torch

        return build_random_model(a.random_init_config, cache, tokenizer_dir=a.tokenizer,
                                  dtype="bfloat16" if a.random_init_config != "tiny" else "float32",
                                  device="cuda" if torch.cuda.is_available() else "cpu")
    from schemas.local_model import resolve_model_path

    return resolve_model_path(a.model)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", help="local model folder (default: the embedded SmolLM2-135M-Instruct)")
    p.add_argument("--random-init-config", choices=["tiny", "smollm2-135m", "llama3-8b"],
                   help="random weights of this shape, built from a config (no download)")
    p.add_argument("--tokenizer", help="tokenizer folder for --random-init-config (default: the embedded model's; "
                                       "its tokenizer files and config.json are all a GPU machine needs)")
    p.add_argument("--seq-len", type=int, help="longest example in tokens (default 256 on CPU, 2048 on CUDA)")
    p.add_argument("--batch", type=int, default=None, help="examples per step (default 2 on CPU, 1 on CUDA)")
    p.add_argument("--steps", type=int, default=None, help="optimizer steps (default 3 on CPU, 12 on CUDA)")
    p.add_argument("--warmup", type=int, default=None, help="steps not timed (default 1 on CPU, 2 on CUDA)")
    p.add_argument("--only", choices=["ours", "plain"], help="run one side")
    p.add_argument("--repeat", type=int, default=1,
                   help="runs per side, alternating; the best tokens/s is reported (use 3 on a busy machine)")
    p.add_argument("--threads", type=int, help="torch CPU threads in each run (default: torch's)")
    p.add_argument("--cache-dir", default=os.path.join(tempfile.gettempdir(), "curatekit-bench-models"))
    p.add_argument("--json", help="also write the results here")
    p.add_argument("--side", help=argparse.SUPPRESS)
    p.add_argument("--model-dir", help=argparse.SUPPRESS)
    a = p.parse_args()

    import torch

    cuda = torch.cuda.is_available()
    a.seq_len = a.seq_len or (2048 if cuda else 256)
    a.batch = a.batch or (1 if cuda else 2)
    a.steps = a.steps or (12 if cuda else 3)
    a.warmup = a.warmup if a.warmup is not None else (2 if cuda else 1)
    if a.side:
        child(a)
        return

    model_dir = model_folder(a)
    device = f"CUDA ({torch.cuda.get_device_name(0)})" if cuda else f"CPU ({os.cpu_count()} cores)"
    print(f"QLoRA SFT: {model_dir.name} ({a.random_init_config or 'real weights'}), {device}, seq_len {a.seq_len}, "
          f"batch {a.batch}, {a.steps} steps ({a.warmup} warm-up, not timed)", flush=True)
    runs: dict[str, list[dict]] = {}
    for rep in range(a.repeat):
        for side in (["ours", "plain"] if not a.only else [a.only]):
            cmd = [sys.executable, __file__, "--side", side, "--model-dir", str(model_dir), "--seq-len",
                   str(a.seq_len), "--batch", str(a.batch), "--steps", str(a.steps), "--warmup", str(a.warmup)]
            if a.threads:
                cmd += ["--threads", str(a.threads)]
            proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
            lines = [x for x in proc.stdout.splitlines() if x.startswith(MARK)]
            if proc.returncode != 0 or not lines:
                tail = "\n".join((proc.stderr or proc.stdout).splitlines()[-15:])
                raise SystemExit(f"{side} run failed (exit {proc.returncode}):\n{tail}")
            res = json.loads(lines[-1][len(MARK):])
            runs.setdefault(side, []).append(res)
            print(f"  {side} run {rep + 1}: {res['tokens_per_s']:.1f} tokens/s, {res['wall_s']:.0f} s", flush=True)
    results = [max(rs, key=lambda r: r["tokens_per_s"]) for rs in runs.values()]
    mem_key = "peak_gpu_gb" if cuda else "peak_rss_gb"
    for r, rs in zip(results, runs.values()):
        r[mem_key] = max(x[mem_key] for x in rs)  # the worst peak over the repeats

    names = {"ours": "python -m train sft --qlora (curatekit)", "plain": "plain TRL SFTTrainer script"}
    mem_name = "peak GPU memory (allocated)" if cuda else "peak RSS"
    print()
    print(f"| run | tokens/s | s/step | {mem_name} | tokens with loss | final loss |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(f"| {names[r['side']]} | {r['tokens_per_s']:.1f} | {r['s_per_step']:.2f} | {r[mem_key]:.2f} GiB | "
              f"{r['loss_token_share']:.0%} | {r['final_loss']:.3f} |")
    if len(results) == 2:
        ours, plain = results
        print(f"\ncuratekit / plain TRL: tokens/s x{ours['tokens_per_s'] / plain['tokens_per_s']:.2f}, "
              f"memory x{ours[mem_key] / plain[mem_key]:.2f}")
        if cuda and a.random_init_config == "llama3-8b":
            ok = ours["peak_gpu_gb"] < 16 and ours["tokens_per_s"] >= plain["tokens_per_s"]
            print(f"goal (8B QLoRA at seq {a.seq_len} under 16 GB, at least plain TRL's tokens/s): "
                  f"{'met' if ok else 'NOT met'}")
    if a.json:
        Path(a.json).write_text(json.dumps({"args": {k: v for k, v in vars(a).items() if k not in ('side',)},
                                            "model": str(model_dir), "results": results, "runs": runs},
                                           indent=2, default=str))


if __name__ == "__main__":
    main()
