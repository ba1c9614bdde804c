"""Select-step throughput: our select_records (metadata JSON -> typed columns -> checks -> polars SQL
expression -> reasons, meta rewritten to the kept fields) vs a hand-written Python filter over the same
metadata JSON, and the floor: polars evaluating the expression on columns that are already typed.

    .venv/bin/python benchmarks/bench_select.py [--n 100000]

All three must select the same ids; the script checks it and prints records/s side by side.
"""
from __future__ import annotations

import argparse
import random
import time

import orjson
import polars as pl

from curate.config import SelectConfig
from curate.frame import records_to_frame
from curate.select import select_records
from schemas.messages import Message
from schemas.record import Record

EXPR = "resolved = true and csat >= 4 and channel != 'email'"


def make_frame(n: int, seed: int = 0) -> tuple[pl.DataFrame, list[dict]]:
    rng = random.Random(seed)
    recs, fields = [], []
    for i in range(n):
        f = {"resolved": rng.random() < 0.75, "channel": rng.choice(["chat", "email", "phone", "app"])}
        if rng.random() < 0.8:
            f["csat"] = rng.randint(1, 5)
        fields.append(f)
        recs.append(Record(id=f"r{i}", source="bench.jsonl", line=i + 1, group=f"r{i}", meta={"fields": f},
                           messages=[Message(role="user", content=f"question {i}"),
                                     Message(role="assistant", content=f"answer {i}")]))
    return records_to_frame(recs), fields


def python_filter(frame: pl.DataFrame) -> list[str]:
    out = []
    for rid, meta in zip(frame["id"].to_list(), frame["meta"].to_list()):
        f = orjson.loads(meta).get("fields", {})
        if None not in (f.get("resolved"), f.get("csat"), f.get("channel")) and f["resolved"] is True \
                and f["csat"] >= 4 and f["channel"] != "email":
            out.append(rid)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=100_000)
    args = ap.parse_args()
    frame, fields = make_frame(args.n)
    typed = pl.DataFrame({"id": frame["id"], "resolved": [f.get("resolved") for f in fields],
                          "csat": [f.get("csat") for f in fields], "channel": [f.get("channel") for f in fields]})
    cfg = SelectConfig(expression=EXPR)

    t0 = time.perf_counter()
    ours = select_records(frame, cfg)
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    base = python_filter(frame)
    t_py = time.perf_counter() - t0
    t0 = time.perf_counter()
    floor = typed.filter(pl.sql_expr(EXPR).fill_null(False))["id"].to_list()
    t_floor = time.perf_counter() - t0
    assert ours.kept["id"].to_list() == base == floor, "the three selections differ"
    print(f"{args.n:,} records, {len(base):,} selected, expression: {EXPR}")
    print(f"{'method':<52} {'seconds':>8} {'records/s':>12}")
    for name, t in (("ours: select_records (reasons, meta rewritten)", t_ours),
                    ("baseline: Python loop over metadata JSON", t_py),
                    ("floor: polars filter on already-typed columns", t_floor)):
        print(f"{name:<52} {t:>8.3f} {args.n / t:>12,.0f}")
    print(f"reasons: {dict(ours.report.reasons)}")


if __name__ == "__main__":
    main()
