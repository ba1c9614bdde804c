"""Retention of `curate run` on the shipped sample and on real dialog corpora from PyPI packages.

Real corpora (installed by the `bench` extra; nothing is downloaded at run time):

- chatterbot-corpus 1.3.3: the English YAML files, one conversation per list (alternating user /
  assistant turns, the first one the user's);
- chitchat-dataset 0.9.0 (BYU PCC Chit Chat Challenge): 7,168 open-domain chats between two people;
  consecutive messages of one sender form one turn, the first sender is the user.

For each corpus it prints: distinct conversations in / kept, rejects per reason, the split's
relatedness graph (components, largest component, boilerplate bound k), realised split ratios,
decontamination removals and the leak checks. ``--examples N`` also prints N examples per
quality reason (the last assistant turn, shortened) to judge each filter's precision by hand.

    .venv/bin/python benchmarks/bench_retention.py                 # sample + both corpora, PII on
    .venv/bin/python benchmarks/bench_retention.py --no-pii --examples 10
    .venv/bin/python benchmarks/bench_retention.py --no-pii --only chitchat \
        --set semantic_dedup.enabled=true --set semantic_dedup.related_threshold=0.65   # any curate setting
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def chatterbot_records() -> list[dict]:
    import chatterbot_corpus
    import yaml

    root = Path(chatterbot_corpus.__file__).parent / "data" / "english"
    out = []
    for f in sorted(root.glob("*.yml")):
        data = yaml.safe_load(f.read_text(encoding="utf-8")) or {}
        for i, conv in enumerate(data.get("conversations") or []):
            turns = [str(t).strip() for t in conv if t is not None and str(t).strip()]
            if len(turns) < 2:
                continue
            msgs = [{"role": ("user", "assistant")[j % 2], "content": t} for j, t in enumerate(turns)]
            out.append({"id": f"chatterbot-{f.stem}-{i}", "messages": msgs})
    return out


def chitchat_records(limit: int | None = None) -> list[dict]:
    import chitchat_dataset

    data = json.loads((Path(chitchat_dataset.__file__).parent / "dataset.json").read_text(encoding="utf-8"))
    out = []
    for cid, conv in data.items():
        turns = []
        for block in conv["messages"]:
            text = "\n".join(u["text"].strip() for u in block if u.get("text", "").strip())
            if text:
                turns.append(text)
        if len(turns) < 2:
            continue
        msgs = [{"role": ("user", "assistant")[j % 2], "content": t} for j, t in enumerate(turns)]
        out.append({"id": f"chitchat-{cid}", "messages": msgs})
        if limit and len(out) >= limit:
            break
    return out


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def run_one(name: str, inputs: list[str], out: Path, pii: bool, examples: int,
            overrides: dict | None = None) -> dict:
    from curate.config import load_config
    from curate.run import run

    cfg = load_config(None, {"pii.enabled": pii, **(overrides or {})})
    t0 = time.perf_counter()
    res = run(inputs, out, cfg)
    secs = time.perf_counter() - t0
    m = res.manifest
    split = next(s for s in m.steps if s.step == "split")
    decon = next(s for s in m.steps if s.step == "decontam")
    rt = m.retention
    n = sum(m.splits.values()) or 1
    ratios = " / ".join(f"{m.splits[s] / n:.3f}" for s in ("train", "val", "test"))
    reasons = Counter()
    for s in m.steps:
        reasons.update(s.reasons)
    lc = m.leak_checks
    print(f"\n== {name}  ({secs:.1f}s, PII {'on' if pii else 'off'})")
    print(f"distinct conversations in / kept: {rt['distinct_in']} / {rt['kept']} = {rt['retention']:.1%}"
          f"   (records in {rt['records_in']}, duplicates {rt['duplicates']})")
    print("rejects per reason: " + (", ".join(f"{k} {v}" for k, v in reasons.most_common()) or "none"))
    st = split.stats
    print(f"components {int(st['components'])}, largest {int(st['largest_component'])} "
          f"({st['largest_component'] / max(split.n_in, 1):.1%}), boilerplate bound k={int(st['boilerplate_k'])}, "
          f"edges group/minhash/ngram {int(st['edges_group'])}/{int(st['edges_minhash'])}/{int(st['edges_ngram'])}, "
          f"moved to balance {int(st['balanced_moves'])}")
    print(f"realised split ratios train/val/test: {ratios} (drift {st['ratio_drift']:.3f}, tolerance "
          f"{st['ratio_tolerance']}), decontam removals {decon.n_rejected}, trimmed trailing user turns "
          f"{int(next(s for s in m.steps if s.step == 'quality').stats.get('trimmed.ends_on_user', 0))}")
    print(f"leak checks: {'PASS' if lc.get('passed') else 'FAIL'} (shared_groups {lc['shared_groups']}, "
          f"cross_split_near_duplicates {lc['cross_split_near_duplicates']}, ngram_overlaps {lc['ngram_overlaps']}, "
          f"synthetic_in_eval {lc['synthetic_in_eval']})" + "".join(f"\n  {f}" for f in m.failures))
    sem = next((s for s in m.steps if s.step == "semantic_dedup"), None)
    if sem is not None:
        print(f"semantic_dedup: {sem.n_rejected} rejected, duplicate pairs {int(sem.stats['pairs_duplicate'])}, "
              f"related pairs {int(sem.stats['pairs_related'])} at cosine >= {sem.stats['related_threshold_used']}, "
              f"split edges from it {int(st.get('edges_extra', 0))}")
    for w in m.warnings:
        print(f"warning: {w}")
    if examples:
        _print_examples(out, inputs, examples)
    return {"name": name, "retention": rt["retention"], "passed": lc.get("passed"), "decontam": decon.n_rejected}


def _print_examples(out: Path, inputs: list[str], k: int) -> None:
    """The last assistant turn of up to k rejects per quality reason, to judge precision by hand."""
    rejects = [json.loads(x) for x in (out / "rejects.jsonl").read_text().splitlines()]
    by_id: dict[str, dict] = {}
    for f in inputs:
        p = Path(f)
        if p.suffix == ".jsonl":
            for line in p.read_text(encoding="utf-8").splitlines():
                r = json.loads(line)
                by_id[r["id"]] = r
    shown: Counter = Counter()
    for r in rejects:
        if r["step"] != "quality" or shown[r["reason"]] >= k or r["id"] not in by_id:
            continue
        shown[r["reason"]] += 1
        msgs = by_id[r["id"]]["messages"]
        last = [m["content"] for m in msgs if m["role"] == "assistant"]
        text = (last[-1] if last else "").replace("\n", " / ")
        print(f"  {r['reason']}: {r['id']}: {r['detail']}: {text[-160:]!r}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-pii", action="store_true", help="skip PII scrubbing (much faster)")
    ap.add_argument("--chitchat-limit", type=int, default=None, help="only the first N chitchat conversations")
    ap.add_argument("--examples", type=int, default=0, help="print N examples per quality reason")
    ap.add_argument("--only", action="append", choices=["sample", "chatterbot", "chitchat"])
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a curate setting, as with curate run --set (repeatable)")
    args = ap.parse_args()
    from schemas.overrides import parse_assignment

    over = dict(parse_assignment(item) for item in args.set)
    only = set(args.only or ["sample", "chatterbot", "chitchat"])
    results = []
    with tempfile.TemporaryDirectory(prefix="bench_retention_") as tmp:
        t = Path(tmp)
        if "sample" in only:
            results.append(run_one("shipped sample (data/sample)", [str(REPO / "data" / "sample")], t / "sample",
                                   not args.no_pii, args.examples, over))
        if "chatterbot" in only:
            rows = chatterbot_records()
            write_jsonl(t / "in" / "chatterbot.jsonl", rows)
            results.append(run_one(f"chatterbot-corpus 1.3.3, English ({len(rows)} conversations)",
                                   [str(t / "in" / "chatterbot.jsonl")], t / "chatterbot", not args.no_pii,
                                   args.examples, over))
        if "chitchat" in only:
            rows = chitchat_records(args.chitchat_limit)
            write_jsonl(t / "in" / "chitchat.jsonl", rows)
            results.append(run_one(f"chitchat-dataset 0.9.0 ({len(rows)} conversations)",
                                   [str(t / "in" / "chitchat.jsonl")], t / "chitchat", not args.no_pii,
                                   args.examples, over))
    print("\nsummary: " + "; ".join(f"{r['name'].split(' (')[0]} retention {r['retention']:.1%}, decontam "
                                     f"{r['decontam']}, leak checks {'PASS' if r['passed'] else 'FAIL'}"
                                     for r in results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
