"""PII scrubbing: plain presidio vs curate.pii on data neither was tuned to.

    .venv/bin/python benchmarks/bench_pii.py [--speed-n 2000] [--corpus-n 2000] [--workers 2]
        [--profile] [--step-n 2000] [--skip-presidio] [--skip-eval]

Three parts, each printed side by side with plain presidio (AnalyzerEngine with
its default recognizers and every entity type it knows, the same offline
en_core_web_sm NLP engine with presidio's ner_model_configuration, then
AnonymizerEngine's default replace), i.e. what a new user gets:

1. Hand-written set (benchmarks/data/pii_handwritten.txt: 210 multi-turn
   conversations in several locales, written by hand, with planted values and
   control strings). Per type: share of planted values that leak (a value
   leaks when it still occurs in the output; a street line also leaks when its
   street name survives without the house number). Controls destroyed: share
   of control strings (prices, versions, model numbers, product names, times,
   error codes) no longer in the output verbatim. The same table for the
   held-out sets: pii_handwritten_heldout.txt (60, written after the first
   rules) and pii_handwritten_heldout2.txt (66 in 18 locales, written and
   committed before the second round of rules, scored once at its end).
   `--recall-only` prints these tables and stops.
2. Real corpora with almost no private PII (chatterbot-corpus English,
   chitchat-dataset; both PyPI): share of conversations altered, and mentions
   of programming languages / products / platforms (TECH_TERMS below, a list
   kept here apart from the scrubber's allow-list) lost.
3. Speed on realistic four-turn conversations: conversations/s of the whole
   scrubbing call (replacement included, model loading excluded), workers 1
   and N, by the wall clock and per CPU-second (this process and its workers:
   on a shared, loaded machine the wall clock measures the neighbours too);
   `--profile` says where the time goes. Rows: a fresh engine with its per-text memo, one
   without it (memo_size 0: what all-distinct text costs), and a pool of `--workers`.
4. `--step-n N`: the whole PII step (`scrub_pii` on a polars frame: fields flattened, scrubbed,
   rebuilt) with the pool the pipeline uses, wall and CPU of this process plus its workers.

Prints figures, asserts none.
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
# offline: tldextract (imported by presidio) must not try to fetch its suffix list
os.environ["TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS"] = ""

from benchmarks.pii_eval_set import (  # noqa: E402
    generate,
    load_chatterbot,
    load_chitchat,
    load_handwritten,
)

STRUCTURED = ["EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "IBAN_CODE", "IP_ADDRESS"]
TYPES = STRUCTURED + ["PERSON", "STREET_ADDRESS", "DATE_OF_BIRTH", "ACCOUNT_ID", "SECRET"]

# Mentions that must survive in a code/product dataset. Chosen for this
# benchmark (what a reader would call a programming language, product or
# platform), not copied from curate/pii_allow.py.
TECH_TERMS = """
Python Java JavaScript TypeScript C++ C# Ruby Perl PHP Rust Swift Kotlin Haskell Lisp Fortran
COBOL Scala MATLAB SQL HTML CSS Linux Windows Ubuntu Android iOS iPhone iPad Mac MacBook
Google Amazon Apple Microsoft Facebook Twitter YouTube Netflix Spotify Siri Alexa Cortana
Echo Kindle Xbox PlayStation Nintendo Tesla Chrome Firefox Safari Excel Photoshop Bitcoin
Ethereum Wikipedia Reddit GitHub Docker Kubernetes Django React Angular Node Unix
""".split()
_TERM_RX = {t: re.compile(r"(?<![\w+#])" + re.escape(t) + r"(?![\w+#])") for t in TECH_TERMS}


# ------------------------------------------------------------------ systems

class PlainPresidio:
    """presidio as a new user runs it: analyze with defaults, anonymize with defaults."""

    label = "plain presidio"

    def __init__(self):
        from presidio_analyzer import AnalyzerEngine
        from presidio_anonymizer import AnonymizerEngine

        from curate.pii_ner import create_nlp_engine

        self.analyzer = AnalyzerEngine(nlp_engine=create_nlp_engine(), supported_languages=["en"])
        self.anonymizer = AnonymizerEngine()
        self.scrub([[{"role": "user", "content": "warm up, Maria"}]])

    def scrub(self, convs):
        out = []
        for conv in convs:
            msgs = []
            for m in conv:
                res = self.analyzer.analyze(m["content"], language="en")
                msgs.append(self.anonymizer.anonymize(m["content"], res).text)
            out.append(msgs)
        return out

    def close(self):
        pass


class Ours:
    def __init__(self, workers: int = 1, **cfg):
        from curate.pii import PiiConfig, PiiScrubber

        self.label = f"ours, workers={workers}"
        self.s = PiiScrubber(PiiConfig(workers=workers, **cfg))
        self.s.warm_up()

    def scrub(self, convs):
        return [[m["content"] for m in r.messages] for r in self.s.scrub(convs)]

    def close(self):
        self.s.close()


# ------------------------------------------------------------------ scoring

def _survives(value: str, text: str) -> bool:
    return re.search(r"(?<!\w)" + re.escape(value) + r"(?!\w)", text) is not None


def leaked(typ: str, value: str, text: str) -> bool:
    if _survives(value, text):
        return True
    if typ == "STREET_ADDRESS":
        # house number first ("12 rue de Rivoli") or last ("Hauptstraße 5", "Calle de Alcalá 45")
        for street in (re.sub(r"^\d+\w*,?\s+", "", value),
                       re.sub(r",?\s+\d+[\w/-]*$", "", value)):
            if street != value and (len(street.split()) >= 2 or len(street) >= 8) \
                    and _survives(street, text):
                return True
    return False


def score_handwritten(convs, outputs):
    total, leaks, examples = Counter(), Counter(), {}
    keep_total = keep_lost = altered = 0
    for c, out in zip(convs, outputs):
        text = "\n".join(out)
        for typ, v in c.pii:
            total[typ] += 1
            if leaked(typ, v, text):
                leaks[typ] += 1
                examples.setdefault(typ, []).append(f"{c.id}: {v}")
        for v in c.keep:
            keep_total += 1
            if v not in text:
                keep_lost += 1
                examples.setdefault("CONTROL", []).append(f"{c.id}: {v}")
        altered += out != [m["content"] for m in c.messages]
    return total, leaks, keep_total, keep_lost, examples


def score_corpus(convs, outputs):
    altered = 0
    term_in = term_lost = 0
    lost = Counter()
    for conv, out in zip(convs, outputs):
        src = [m["content"] for m in conv]
        if out != src:
            altered += 1
        a, b = "\n".join(src), "\n".join(out)
        for t, rx in _TERM_RX.items():
            n_in = len(rx.findall(a))
            if n_in:
                n_out = len(rx.findall(b))
                term_in += n_in
                if n_out < n_in:
                    term_lost += n_in - n_out
                    lost[t] += n_in - n_out
    return altered, term_in, term_lost, lost


def _proc_cpu(pid: int) -> float:
    """user + system CPU seconds of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_now(system) -> float:
    total = time.process_time()
    pool = getattr(getattr(system, "s", None), "_pool", None)
    if pool is not None:
        total += sum(_proc_cpu(pid) for pid in pool._processes)
    return total


def timed(system, convs, with_cpu: bool = False):
    """Output, wall seconds (and CPU seconds of this process and its workers)."""
    t0, c0 = time.perf_counter(), _cpu_now(system)
    out = system.scrub(convs)
    dt, dc = time.perf_counter() - t0, _cpu_now(system) - c0
    return (out, dt, dc) if with_cpu else (out, dt)


# ------------------------------------------------------------------ speed sets

def four_turn_sets(n: int):
    """Realistic four-turn conversations: support (hand-written, cycled), generated, chit-chat."""
    hand = [list(c.messages[:4]) for c in load_handwritten() if len(c.messages) >= 2]
    support = [hand[i % len(hand)] for i in range(n)]
    gen = [c.as_messages()[:4] for c in generate(n, seed=11)]
    chat = [c[:4] for c in load_chitchat(n * 2) if len(c) >= 4][:n]
    return {"hand-written support (cycled)": support, "generated support": gen,
            "chitchat-dataset": chat}


_PARTS = [  # (label, file, function): cumulative time of each component's entry point
    ("spaCy NER on candidate windows", "pii_ner.py", "run"),
    ("structured patterns + re-scan (incl. addresses)", "pii_patterns.py", "detect"),
    ("  of which street addresses (usaddress, postcodes)", "pii_address.py", "find"),
    ("name lists", "pii_names.py", "find"),
    ("name cues", "pii_ner.py", "cue_names"),
    ("name plausibility filter", "pii_engine.py", "_plausible"),
    ("NER candidate words and windows", "pii_ner.py", "ner_candidates"),
    ("allow-list spans", "pii_allow.py", "spans"),
    ("propagation of found names", "pii_ner.py", "finditer"),
    ("overlap resolution", "pii_replace.py", "resolve"),
    ("replacement", "pii_replace.py", "splice"),
]


def profile_where(convs) -> list[tuple[str, float]]:
    """Share of the scrubbing call's time spent in each component (cProfile, workers=1)."""
    import cProfile
    import pstats

    system = Ours(1)
    prof = cProfile.Profile()
    prof.enable()
    system.scrub(convs)
    prof.disable()
    system.close()
    st = pstats.Stats(prof).stats
    cum: Counter = Counter()
    for (fname, _line, func), (_cc, _nc, _tt, ct, _callers) in st.items():
        for label, f, fn in _PARTS + [("total", "pii_engine.py", "scrub")]:
            if fname.endswith(f) and func == fn:
                cum[label] += ct
    total = cum.pop("total") or 1.0
    top = sum(v for k, v in cum.items() if not k.startswith("  "))
    out = [(label, cum[label] / total) for label, _f, _fn in _PARTS]
    out.append(("rest (engine bookkeeping, NER window merge, data movement)",
                max(0.0, 1 - top / total)))
    return out


def step_speed(n: int, workers: int) -> None:
    """The whole PII step (`scrub_pii` on a frame: every field flattened, scrubbed, rebuilt into
    polars columns) on n four-turn conversations of each set, workers as the pipeline runs them."""
    from curate.frame import records_to_frame
    from curate.pii_step import PiiStepConfig, _scrubber, scrub_pii
    from schemas.record import Record

    print(f"\n4. the whole PII step (curate.pii_step.scrub_pii), {n} conversations per set, "
          f"workers={workers} (pool started and warm before timing; CPU = this process + workers):")
    cfg = PiiStepConfig(workers=workers)
    scrubber = _scrubber(cfg.scrubber_config())
    t0 = time.perf_counter()
    scrubber.warm_up()
    print(f"  pool start-up (spawn, imports, spaCy load, warm-up): {time.perf_counter() - t0:.1f} s wall")
    holder = type("H", (), {"s": scrubber})()
    for sname, convs in four_turn_sets(n).items():
        frame = records_to_frame([Record(id=f"r{i}", source="bench", line=i + 1, group=f"r{i}", messages=c)
                                  for i, c in enumerate(convs)])
        load = os.getloadavg()[0]
        t, c = time.perf_counter(), _cpu_now(holder)
        res = scrub_pii(frame, cfg)
        dt, dc = time.perf_counter() - t, _cpu_now(holder) - c
        # n / dc * workers: what `workers` idle cores give if the CPU work spreads evenly
        print(f"  {sname:<32}{n / dt:>8,.0f} conv/s wall{n / dc:>8,.0f} conv/CPU-s"
              f" -> {n / dc * workers:>6,.0f} conv/s on {workers} idle cores"
              f"  (kept {res.report.n_kept}, load {load:.1f})")
    scrubber.close()


# ------------------------------------------------------------------ main

def report_handwritten(title: str, hand, systems) -> None:
    convs = [list(c.messages) for c in hand]
    n_turns = sum(len(c) for c in convs)
    print(f"\n{title}: {len(hand)} conversations, {n_turns} turns, "
          f"{sum(len(c.pii) for c in hand)} planted values, {sum(len(c.keep) for c in hand)} "
          f"controls; locales {dict(Counter(c.locale for c in hand).most_common())}")
    scored = []
    for s in systems:
        out, dt = timed(s, convs)
        scored.append((s.label, score_handwritten(hand, out), len(convs) / dt))
    print(f"{'leaked (of planted)':<22}{'n':>5}" + "".join(f"{lab:>22}" for lab, _s, _r in scored))
    for t in TYPES:
        n = scored[0][1][0][t]
        if not n:
            continue
        row = f"{t:<22}{n:>5}"
        for _lab, (_total, leaks, *_), _r in scored:
            row += f"{f'{leaks[t]} ({leaks[t] / n:.1%})':>22}"
        print(row)
    n = sum(scored[0][1][0][t] for t in STRUCTURED)
    row = f"{'structured (6 types)':<22}{n:>5}"
    for _lab, (_total, leaks, *_), _r in scored:
        k = sum(leaks[t] for t in STRUCTURED)
        row += f"{f'{k} ({k / n:.1%})':>22}"
    print(row)
    row = f"{'controls destroyed':<22}{scored[0][1][2]:>5}"
    for _lab, (_t, _l, kt, kl, _e), _r in scored:
        row += f"{f'{kl} ({kl / kt:.1%})':>22}"
    print(row)
    print(f"{'conversations/s':<27}" + "".join(f"{r:>22.0f}" for _l, _s, r in scored))
    for lab, (*_, ex), _r in scored:
        if ex:
            print(f"  {lab} misses: " + "; ".join(
                f"{k}: {', '.join(v[:10])}" + (f" (+{len(v) - 10})" if len(v) > 10 else "")
                for k, v in sorted(ex.items())))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--corpus-n", type=int, default=2000,
                    help="chitchat conversations for precision (chatterbot: all)")
    ap.add_argument("--presidio-corpus-n", type=int, default=400,
                    help="conversations of each corpus presidio scrubs (it is slow)")
    ap.add_argument("--speed-n", type=int, default=2000, help="conversations per speed set")
    ap.add_argument("--skip-presidio", action="store_true")
    ap.add_argument("--profile", action="store_true", help="where the time goes (workers=1)")
    ap.add_argument("--step-n", type=int, default=0,
                    help="also time the whole PII step (scrub_pii on a frame) on this many conversations per set")
    ap.add_argument("--skip-eval", action="store_true", help="speed only: skip parts 1 and 2")
    ap.add_argument("--recall-only", action="store_true",
                    help="only the hand-written sets (part 1), then stop")
    args = ap.parse_args()

    print(f"cores: {os.cpu_count()}, load average: "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    systems = [] if args.skip_presidio else [PlainPresidio()]
    ours1 = Ours(1)
    systems.append(ours1)

    # 1. hand-written -------------------------------------------------------
    from benchmarks.pii_eval_set import DATA_DIR

    for title, path in () if args.skip_eval else (
            ("1a. hand-written set (dev: its misses were looked at while building)",
             DATA_DIR / "pii_handwritten.txt"),
            ("1b. hand-written held-out set (scored once, nothing changed after)",
             DATA_DIR / "pii_handwritten_heldout.txt"),
            ("1c. hand-written held-out set 2 (written before the second round of rules, "
             "scored once at its end)", DATA_DIR / "pii_handwritten_heldout2.txt")):
        report_handwritten(title, load_handwritten(path), systems)
    if args.recall_only:
        return

    # 2. real corpora -------------------------------------------------------
    corpora = {} if args.skip_eval else {"chatterbot-corpus (en)": load_chatterbot(),
                                         "chitchat-dataset": load_chitchat(args.corpus_n)}
    if corpora:
        print("\n2. real corpora (precision): conversations altered, tech/product mentions lost")
    for cname, cconvs in corpora.items():
        for s in systems:
            sub = cconvs if isinstance(s, Ours) else cconvs[:args.presidio_corpus_n]
            out, dt = timed(s, sub)
            altered, term_in, term_lost, lost = score_corpus(sub, out)
            print(f"  {cname:<24}{s.label:<18} n={len(sub):<6} altered {altered:>5} "
                  f"({altered / len(sub):.1%})  mentions lost {term_lost}/{term_in}"
                  + (f" {dict(lost.most_common(8))}" if lost else "")
                  + f"  {len(sub) / dt:,.0f} conv/s")
        # what ours changed (types only), to judge whether the alterations are PII
        res = ours1.s.scrub(cconvs)
        types = Counter()
        for r in res:
            types.update(r.entity_counts)
        print(f"  {'':<24}ours replaced: {dict(types.most_common())}")

    # 3. speed --------------------------------------------------------------
    print(f"\n3. speed, four-turn conversations ({args.speed_n} per set), conversations/s:")
    sets = four_turn_sets(args.speed_n)
    # fresh engines: parts 1 and 2 left turns of these sets in ours1's per-text memo
    from curate.pii_engine import Engine

    memo, Engine.MEMO_SIZE = Engine.MEMO_SIZE, 0
    no_memo = Ours(1)
    no_memo.label = "ours, workers=1, no memo"
    Engine.MEMO_SIZE = memo
    speed_systems = [Ours(1), no_memo]
    if args.workers > 1:
        speed_systems.append(Ours(args.workers))
    for sname, sconvs in sets.items():
        chars = sum(len(m["content"]) for c in sconvs for m in c) / max(1, sum(map(len, sconvs)))
        print(f"  {sname} (mean {chars:.0f} chars/turn):")
        for s in speed_systems:
            _out, dt, dc = timed(s, sconvs, with_cpu=True)
            print(f"    {s.label:<26}{len(sconvs) / dt:>8,.0f} conv/s wall"
                  f"{len(sconvs) / dc:>9,.0f} conv/CPU-s")
        if not args.skip_presidio:
            sub = sconvs[:200]
            _out, dt, dc = timed(systems[0], sub, with_cpu=True)
            print(f"    {'plain presidio':<26}{len(sub) / dt:>8,.0f} conv/s wall"
                  f"{len(sub) / dc:>9,.0f} conv/CPU-s")
    for s in speed_systems:
        s.close()
    print(f"  load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if args.step_n:
        step_speed(args.step_n, args.workers)
    if args.profile:
        for sname, sconvs in sets.items():
            print(f"\nwhere the time goes (workers=1, fresh engine, {sname}, share of CPU):")
            for k, v in profile_where(sconvs):
                print(f"  {k:<60}{v:>6.1%}")


if __name__ == "__main__":
    main()
