"""Validation throughput, one core: our validate_file vs a plain json + pydantic loop.

    .venv/bin/python benchmarks/bench_validate.py [--n 200000]

Prints records/s for each format side by side with the baseline.
"""
from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

import orjson

from schemas.alpaca import AlpacaExample
from schemas.dpo import DPOPlain
from schemas.messages import ChatExample
from schemas.sharegpt import ShareGPTExample
from schemas.validate import validate_file

WORDS = "router bill plan refund outage password modem roaming invoice signal account fee".split()


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def make(fmt: str, rng: random.Random) -> dict:
    q, a = sentence(rng, 8), sentence(rng, 16)
    if fmt == "chatml":
        return {"messages": [{"role": "system", "content": "You are a support agent."},
                             {"role": "user", "content": q}, {"role": "assistant", "content": a}]}
    if fmt == "sharegpt":
        return {"conversations": [{"from": "human", "value": q}, {"from": "gpt", "value": a}]}
    if fmt == "alpaca":
        return {"instruction": q, "input": "", "output": a}
    return {"prompt": q, "chosen": a, "rejected": sentence(rng, 5)}


BASELINE_MODEL = {"chatml": ChatExample, "sharegpt": ShareGPTExample, "alpaca": AlpacaExample, "dpo": DPOPlain}


def baseline(path: Path, fmt: str) -> int:
    n = 0
    model = BASELINE_MODEL[fmt]
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                model(**json.loads(line))
                n += 1
    return n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200_000)
    args = ap.parse_args()
    rng = random.Random(0)
    print(f"{'format':<10}{'records':>10}{'ours rec/s':>14}{'auto rec/s':>14}{'baseline rec/s':>16}{'speedup':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in ("chatml", "sharegpt", "alpaca", "dpo"):
            path = Path(tmp) / f"{fmt}.jsonl"
            path.write_bytes(b"".join(orjson.dumps(make(fmt, rng)) + b"\n" for _ in range(args.n)))
            t = time.perf_counter()
            rep = validate_file(path, fmt)
            ours = rep.valid / (time.perf_counter() - t)
            t = time.perf_counter()
            rep2 = validate_file(path, None)
            auto = rep2.valid / (time.perf_counter() - t)
            assert rep.valid == rep2.valid == args.n and rep2.format == fmt
            t = time.perf_counter()
            nb = baseline(path, fmt)
            base = nb / (time.perf_counter() - t)
            print(f"{fmt:<10}{args.n:>10}{ours:>14,.0f}{auto:>14,.0f}{base:>16,.0f}{ours / base:>8.1f}x")


if __name__ == "__main__":
    main()
