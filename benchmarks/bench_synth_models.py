"""Yield of `synth generate` with the offline models: ours (schema-constrained server) vs `transformers serve`.

For each candidate (model folder x embedded server) the same fixed set of 12 everyday support topics is
generated with the default settings (question, answer, rubric judge, curation), one example per topic, no
request cache. Printed per candidate: examples requested / kept, rejects per reason, model requests, the
response_format mode the run ended in, parse failures (synth.invalid_json + synth.schema_invalid +
synth.judge_unparseable), completion tokens per second of generation and wall time (server start included).
Then three kept examples of the candidate that kept the most, to be judged by reading.

    .venv/bin/python benchmarks/bench_synth_models.py                      # SmolLM2-135M, both servers
    .venv/bin/python benchmarks/bench_synth_models.py --models data/models/SmolLM2-135M-Instruct,DIR \\
        --servers curatekit
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TOPICS = [
    "password reset email never arrives", "refund for a double charge", "changing the billing address",
    "two-factor authentication lost phone", "cancelling a subscription", "invoice for last month",
    "app crashes on startup", "shipping delay of an order", "upgrading to the team plan",
    "deleting an account and its data", "exporting data to CSV", "login blocked after too many attempts",
]
PARSE_FAILURES = ("synth.invalid_json", "synth.schema_invalid", "synth.judge_unparseable")


def run_one(model_dir: str, server: str, per_topic: int, work: Path, threads: int) -> dict:
    from synth.config import load_config
    from synth.generate import run_generate

    topics = work / "topics.yaml"
    topics.write_text(
        "system_prompt: \"You are the support assistant of Acme Cloud, a file-sync service.\"\n"
        "topics:\n" + "".join(f"  - {json.dumps(t)}\n" for t in TOPICS), encoding="utf-8")
    out = work / f"{Path(model_dir).name}-{server}" / "sft.jsonl"
    cfg = load_config(None, {"client.model": model_dir, "client.embedded.server": server, "client.cache": False,
                             "client.embedded.threads": threads, "generate.per_topic": per_topic})
    t0 = time.monotonic()
    m = run_generate(topics, out, cfg, progress=False, log=lambda msg: print(f"  {msg}", file=sys.stderr))
    wall = time.monotonic() - t0
    startup = (m["endpoint"].get("server") or {}).get("startup_s") or 0.0
    led = m["ledger"]
    so = m["endpoint"].get("structured_output") or {}
    modes = sorted({d["mode"] for d in so.get("models", {}).values()}) or ["none"]
    reasons = m["counts"]["reasons"]
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines() if line.strip()]
    rej_path = out.with_name("sft.rejects.jsonl")
    judged = [json.loads(line) for line in rej_path.read_text(encoding="utf-8").splitlines()
              if line.strip() and json.loads(line).get("messages")]
    return {"model": Path(model_dir).name, "server": server, "requested": m["counts"]["n_in"],
            "kept": m["counts"]["n_out"], "reasons": reasons, "requests": led["requests"],
            "failed_requests": led["failures"], "mode": "/".join(modes),
            "fallbacks": [(f["from_mode"], f["to_mode"]) for f in so.get("fallbacks", [])],
            "parse_failures": sum(reasons.get(r, 0) for r in PARSE_FAILURES),
            "completion_tokens": led["completion_tokens"],
            "tokens_per_s": round(led["completion_tokens"] / max(1e-9, wall - startup), 2),
            "wall_s": round(wall, 1), "startup_s": startup, "rows": rows, "judged_rejects": judged,
            "topics": m.get("topics", {})}


def main(argv: list[str] | None = None) -> int:
    from schemas.local_model import default_model_dir

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=str(default_model_dir()), help="comma-separated local model folders")
    p.add_argument("--servers", default="curatekit,transformers", help="comma-separated: curatekit, transformers")
    p.add_argument("--per-topic", type=int, default=1)
    p.add_argument("--threads", type=int, default=1, help="torch threads of the embedded server")
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args(argv)
    os.environ.pop("OPENAI_BASE_URL", None)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-synth-") as tmp:
        for model in args.models.split(","):
            for server in args.servers.split(","):
                print(f"== {Path(model).name} via {server}", file=sys.stderr, flush=True)
                results.append(run_one(model, server, args.per_topic, Path(tmp), args.threads))
    print(f"\n{len(TOPICS)} topics x {args.per_topic}; default generate settings; machine load "
          f"{os.getloadavg()[0]:.1f}\n")
    head = ("model", "server", "requested", "kept", "requests", "mode", "parse fail", "tok/s", "wall s")
    print(" | ".join(head))
    for r in results:
        print(" | ".join(str(x) for x in (r["model"], r["server"], r["requested"], r["kept"], r["requests"],
                                          r["mode"], r["parse_failures"], r["tokens_per_s"], r["wall_s"])))
        print(f"    rejects: {json.dumps(r['reasons'])}  fallbacks: {r['fallbacks']}  "
              f"failed requests: {r['failed_requests']}  startup {r['startup_s']} s")
    best = max(results, key=lambda r: (r["kept"], -r["parse_failures"]))
    print(f"\nkept examples of {best['model']} via {best['server']}:")
    for row in best["rows"][:3]:
        msgs = row["messages"]
        print(json.dumps({"id": row["id"], "user": msgs[-2]["content"], "assistant": msgs[-1]["content"],
                          "judge": row["meta"]["synth"].get("judge", {}).get("score")}, ensure_ascii=False))
    if len(best["rows"]) < 3:  # show what the judge or curation turned down instead
        print("(fewer than 3 kept; examples that were generated and then rejected:)")
        for r in best["judged_rejects"][: 3 - len(best["rows"])]:
            msgs = r["messages"]
            print(json.dumps({"id": r["id"], "reason": r["reason"], "user": msgs[-2]["content"],
                              "assistant": msgs[-1]["content"], "judge": (r.get("judge") or {}).get("score")},
                             ensure_ascii=False))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
