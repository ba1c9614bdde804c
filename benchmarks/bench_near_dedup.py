"""Near-duplicate detection: curate.minhash vs a datasketch baseline.

Prints docs/s, peak RSS, recall and precision side by side:

    .venv/bin/python benchmarks/bench_near_dedup.py                       # 100k docs
    .venv/bin/python benchmarks/bench_near_dedup.py --sizes 100000,1000000

Corpus: seeded synthetic English-like text (~1 KB per document) drawn from a
Zipf-distributed vocabulary of syllable words with sentence punctuation and
capitals. A fraction of the documents (--dup-frac) are planted near copies of
another document: every word is replaced with probability e ~ U(0.5 %, 4 %)
and some copies also lose or gain a few words, so their Jaccard similarity
to the source straddles the 0.8 threshold.

Engine: curate.minhash.near_dedup with --workers processes, exact
verification, and bands/rows from optimal_bands_rows with a recall-leaning
weight (false positives cost only verification time).

Baseline: datasketch as documented, on --baseline-docs documents of the same
generator, one core: pure-Python word 5-gram shingles ->
MinHash(num_perm=128).update_batch per document -> MinHashLSH(threshold=0.8)
insert, then query every document -> union-find.

Quality, for both: ground truth is the exact Jaccard (an independent pure
Python implementation over shingle *strings*) of every planted pair, every
pair of copies of one source, --random-pairs random pairs and every pair the
method reported. recall = share of pairs with J >= 0.8 that end in one
cluster; precision = share of reported pairs with J >= 0.8.

Every measured phase runs in its own process so that its peak RSS
(``resource.getrusage`` of the process plus the largest of its children,
i.e. the worker processes) is its own. Timings are wall clock; on a shared
machine read them with the printed load average: with the kernel's session
autogroups, a busy machine gives the whole benchmark one fair share of CPU
however many processes it runs, so the second core shows in wall time only
when it is free. "docs/CPU s" (user + sys of the process and its workers) is
the load-independent efficiency figure.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

THRESHOLD = 0.8
NGRAM = 5
NUM_PERM = 128

_SYLLABLES = (
    "ka ter in mo ra le na ti so ve pa lo ur en di mar tan sel ber co fi ga hu "
    "jo ki lu me ni or pe qu ri sa tu vi wo ya ze an be ce de ex fo gi ho ig ja "
    "ke li ma ne on po ro si to un va we xi yo zu al ar as at"
).split()
_COMMON = (
    "the of and to a in is that for it as was with be by on not he this are or "
    "his from at which but have an they you were her she there been one all we"
).split()


def make_vocab(rng: np.random.Generator, size: int) -> list[str]:
    words = list(_COMMON)
    seen = set(words)
    while len(words) < size:
        k = int(rng.integers(1, 5))
        w = "".join(_SYLLABLES[i] for i in rng.integers(0, len(_SYLLABLES), k))
        if w not in seen:
            seen.add(w)
            words.append(w)
    return words


def make_corpus(n: int, seed: int, dup_frac: float, vocab_size: int = 30000):
    """Texts, planted (copy, source) pairs and the copy->source map."""
    rng = np.random.default_rng(seed)
    vocab = make_vocab(rng, vocab_size)
    forms = vocab + [w + "." for w in vocab] + [w.capitalize() for w in vocab]
    p = 1.0 / np.arange(1, vocab_size + 1) ** 1.05
    p /= p.sum()
    cdf = np.cumsum(p)
    lengths = rng.integers(140, 201, n)
    texts: list[str] = []
    block = 5000
    for b0 in range(0, n, block):
        lens = lengths[b0 : b0 + block]
        total = int(lens.sum())
        ids = np.searchsorted(cdf, rng.random(total) * cdf[-1]).astype(np.int64)
        ids = np.minimum(ids, vocab_size - 1)
        stop = rng.random(total) < 1 / 15  # sentence ends after this word
        cap = np.empty(total, dtype=bool)
        cap[0] = True
        cap[1:] = stop[:-1]
        form = np.where(stop, ids + vocab_size, np.where(cap, ids + 2 * vocab_size, ids))
        offs = np.concatenate([[0], np.cumsum(lens)])
        flat = form.tolist()
        for k in range(len(lens)):
            texts.append(" ".join(map(forms.__getitem__, flat[offs[k] : offs[k + 1]])))
    n_dup = int(n * dup_frac)
    copies = rng.choice(n, n_dup, replace=False)
    is_copy = np.zeros(n, dtype=bool)
    is_copy[copies] = True
    originals = np.flatnonzero(~is_copy)
    sources = originals[rng.integers(0, len(originals), n_dup)]
    for c, s in zip(copies.tolist(), sources.tolist()):
        words = texts[s].split()
        e = rng.uniform(0.005, 0.04)
        hit = np.flatnonzero(rng.random(len(words)) < e)
        for k, v in zip(hit.tolist(), rng.integers(0, vocab_size, len(hit)).tolist()):
            words[k] = vocab[v]
        r = rng.random()
        if r < 0.15:  # drop a few words
            k = int(rng.integers(0, len(words) - 3))
            del words[k : k + int(rng.integers(1, 4))]
        elif r < 0.3:  # insert a few words
            k = int(rng.integers(0, len(words)))
            words[k:k] = [vocab[v] for v in rng.integers(0, vocab_size, int(rng.integers(1, 4))).tolist()]
        texts[c] = " ".join(words)
    return texts, copies, sources


# -------------------------------------------------------------- ground truth

_GT_TEXTS: list[str] = []


def _shingle_set(text: str) -> set[str]:
    w = text.lower().split()
    if not w:
        return set()
    if len(w) < NGRAM:
        return {" ".join(w)}
    return {" ".join(w[i : i + NGRAM]) for i in range(len(w) - NGRAM + 1)}


def _gt_task(pairs: list[tuple[int, int]]) -> list[float]:
    out = []
    for i, j in pairs:
        a, b = _shingle_set(_GT_TEXTS[i]), _shingle_set(_GT_TEXTS[j])
        u = len(a | b)
        out.append(len(a & b) / u if u else 0.0)
    return out


def exact_jaccard_reference(texts: list[str], pairs: np.ndarray, workers: int) -> np.ndarray:
    """Independent exact Jaccard over shingle strings (fork pool, shared texts)."""
    global _GT_TEXTS
    _GT_TEXTS = texts
    plist = [tuple(p) for p in pairs.tolist()]
    chunks = [plist[i : i + 2000] for i in range(0, len(plist), 2000)]
    if workers > 1 and len(chunks) > 1:
        with mp.get_context("fork").Pool(workers) as pool:
            parts = pool.map(_gt_task, chunks)
    else:
        parts = [_gt_task(c) for c in chunks]
    return np.array([x for part in parts for x in part], dtype=np.float64)


def quality(texts, copies, sources, rep, reported, n_random, seed, workers) -> dict:
    n = len(texts)
    rng = np.random.default_rng(seed + 7)
    planted = np.stack([copies, sources], axis=1)
    # pairs of copies of the same source
    order = np.argsort(sources, kind="stable")
    s_sorted, c_sorted = sources[order], copies[order]
    sib = []
    brk = np.flatnonzero(np.diff(s_sorted)) + 1
    for grp in np.split(c_sorted, brk):
        if len(grp) > 1:
            g = grp.tolist()
            sib += [(g[a], g[b]) for a in range(len(g)) for b in range(a + 1, len(g))]
    rnd = rng.integers(0, n, (n_random, 2))
    parts = [planted, rnd, np.asarray(reported, dtype=np.int64).reshape(-1, 2)]
    if sib:
        parts.append(np.array(sib, dtype=np.int64))
    allp = np.concatenate(parts)
    allp = np.sort(allp, axis=1)
    allp = allp[allp[:, 0] != allp[:, 1]]
    allp = np.unique(allp, axis=0)
    t = time.perf_counter()
    jac = exact_jaccard_reference(texts, allp, workers)
    gt_s = time.perf_counter() - t
    pos = jac >= THRESHOLD
    same = rep[allp[:, 0]] == rep[allp[:, 1]]
    rec = float(same[pos].mean()) if pos.any() else float("nan")
    rep_pairs = np.sort(np.asarray(reported, dtype=np.int64).reshape(-1, 2), axis=1)
    if len(rep_pairs):
        code_all = allp[:, 0] * n + allp[:, 1]
        idx = np.searchsorted(code_all, rep_pairs[:, 0] * n + rep_pairs[:, 1])
        prec = float((jac[idx] >= THRESHOLD).mean())
    else:
        prec = float("nan")
    return {
        "recall": rec,
        "precision": prec,
        "gt_pairs": int(len(allp)),
        "gt_positives": int(pos.sum()),
        "reported_pairs": int(len(rep_pairs)),
        "gt_seconds": round(gt_s, 1),
    }


# -------------------------------------------------------------------- phases


def cpu_seconds() -> float:
    """User + system CPU of this process and its waited-for children."""
    a = resource.getrusage(resource.RUSAGE_SELF)
    b = resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def peak_rss_mb() -> tuple[float, float]:
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return self_kb / 1024, child_kb / 1024


def phase_engine(args) -> dict:
    from curate.minhash import MinHashParams, make_pool, near_dedup, shingle_hash32

    # The worker pool is started before the corpus exists: a spawned child
    # inherits the parent's peak RSS at fork time in its ru_maxrss, so this
    # keeps getrusage(RUSAGE_CHILDREN) the workers' own peak. Its start-up
    # (and the workers' imports) is timed and added to the engine's time.
    t = time.perf_counter()
    pool = make_pool(args.workers)
    pool.map(shingle_hash32, [b"warm up"] * args.workers)
    pool_s = time.perf_counter() - t
    t = time.perf_counter()
    texts, copies, sources = make_corpus(args.size, args.seed, args.dup_frac)
    gen_s = time.perf_counter() - t
    rss_corpus, _ = peak_rss_mb()
    params = MinHashParams(
        num_perm=NUM_PERM,
        ngram=NGRAM,
        threshold=THRESHOLD,
        seed=1,
        false_positive_weight=round(1 - args.fn_weight, 6),
        false_negative_weight=args.fn_weight,
    )
    cpu0 = cpu_seconds()
    t = time.perf_counter()
    res = near_dedup(texts, params, verify=args.verify, workers=args.workers, pool=pool)
    wall = time.perf_counter() - t + pool_s
    pool.close()
    pool.join()
    cpu = cpu_seconds() - cpu0
    rss_self, rss_child = peak_rss_mb()
    q = quality(texts, copies, sources, res.representative, res.pairs, args.random_pairs, args.seed, args.workers)
    return {
        "method": f"curate.minhash ({args.workers} proc, verify={args.verify})",
        "docs": len(texts),
        "avg_bytes": sum(map(len, texts[:10000])) / min(len(texts), 10000),
        "seconds": wall,
        "cpu_seconds": cpu,
        "docs_per_s": len(texts) / wall,
        "rss_self_mb": rss_self,
        "rss_child_mb": rss_child,
        "rss_corpus_mb": rss_corpus,
        "gen_seconds": gen_s,
        "bands_rows": [res.stats["bands"], res.stats["rows"]],
        "stats": res.stats,
        "timings": {"pool_start": round(pool_s, 2), **{k: round(v, 2) for k, v in res.timings_s.items()}},
        **q,
    }


def phase_baseline(args) -> dict:
    from datasketch import MinHash, MinHashLSH

    texts, copies, sources = make_corpus(args.size, args.seed, args.dup_frac)
    rss_corpus, _ = peak_rss_mb()
    cpu0 = cpu_seconds()
    t = time.perf_counter()
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
    mins = []
    for i, text in enumerate(texts):
        w = text.lower().split()
        if len(w) >= NGRAM:
            sh = [" ".join(w[k : k + NGRAM]).encode() for k in range(len(w) - NGRAM + 1)]
        else:
            sh = [" ".join(w).encode()] if w else []
        m = MinHash(num_perm=NUM_PERM)
        m.update_batch(sh)
        lsh.insert(i, m)
        mins.append(m)
    pairs = set()
    for i, m in enumerate(mins):
        for j in lsh.query(m):
            if j != i:
                pairs.add((min(i, j), max(i, j)))
    parent = list(range(len(texts)))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, j in sorted(pairs):
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
    rep = np.array([find(i) for i in range(len(texts))])
    wall = time.perf_counter() - t
    cpu = cpu_seconds() - cpu0
    rss_self, rss_child = peak_rss_mb()
    reported = np.array(sorted(pairs), dtype=np.int64).reshape(-1, 2)
    q = quality(texts, copies, sources, rep, reported, args.random_pairs // 10, args.seed, 1)
    return {
        "method": "datasketch baseline (1 proc)",
        "docs": len(texts),
        "avg_bytes": sum(map(len, texts)) / len(texts),
        "seconds": wall,
        "cpu_seconds": cpu,
        "docs_per_s": len(texts) / wall,
        "rss_self_mb": rss_self,
        "rss_child_mb": rss_child,
        "rss_corpus_mb": rss_corpus,
        "bands_rows": [lsh.b, lsh.r],
        **q,
    }


def run_phase(phase: str, size: int, args) -> dict:
    cmd = [
        sys.executable, __file__, "--phase", phase, "--size", str(size),
        "--seed", str(args.seed), "--dup-frac", str(args.dup_frac), "--workers", str(args.workers),
        "--verify", args.verify, "--fn-weight", str(args.fn_weight), "--random-pairs", str(args.random_pairs),
    ]  # fmt: skip
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100000", help="comma separated corpus sizes (default 100000)")
    ap.add_argument("--baseline-docs", type=int, default=10000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dup-frac", type=float, default=0.1, help="share of documents that are planted near copies")
    ap.add_argument("--verify", default="exact", choices=["none", "signature", "exact"])
    ap.add_argument("--fn-weight", type=float, default=0.95, help="false-negative weight for bands/rows")
    ap.add_argument("--random-pairs", type=int, default=20000)
    ap.add_argument("--phase", choices=["engine", "baseline"], help=argparse.SUPPRESS)
    ap.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.phase:
        fn = phase_engine if args.phase == "engine" else phase_baseline
        print(json.dumps(fn(args)))
        return

    sizes = [int(s) for s in args.sizes.split(",") if s]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, load avg {os.getloadavg()[0]:.1f}")
    rows = []
    base = run_phase("baseline", args.baseline_docs, args)
    rows.append(base)
    print(f"baseline done: {base['docs_per_s']:.0f} docs/s", flush=True)
    for size in sizes:
        r = run_phase("engine", size, args)
        rows.append(r)
        print(
            f"engine {size}: {r['seconds']:.1f} s, stages {r['timings']}, bands x rows {r['bands_rows']}, "
            f"corpus gen {r['gen_seconds']:.0f} s, ground truth {r['gt_pairs']} pairs "
            f"({r['gt_positives']} with J>={THRESHOLD}) in {r['gt_seconds']} s",
            flush=True,
        )
    print(f"load avg after: {os.getloadavg()[0]:.1f}")
    hdr = (
        f"{'method':<40} {'docs':>8} {'b x r':>6} {'wall s':>7} {'docs/s':>7} {'vs base':>8} "
        f"{'CPU s':>6} {'docs/CPU s':>10} {'RSS main MB':>11} {'(corpus)':>8} {'RSS worker MB':>13} "
        f"{'recall':>6} {'precision':>9}"
    )
    print()
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        br = f"{r['bands_rows'][0]}x{r['bands_rows'][1]}"
        child = f"{r['rss_child_mb']:.0f}" if r["rss_child_mb"] else "-"
        print(
            f"{r['method']:<40} {r['docs']:>8} {br:>6} {r['seconds']:>7.1f} {r['docs_per_s']:>7.0f} "
            f"{r['docs_per_s'] / base['docs_per_s']:>7.1f}x {r['cpu_seconds']:>6.1f} "
            f"{r['docs'] / r['cpu_seconds']:>10.0f} {r['rss_self_mb']:>11.0f} {r['rss_corpus_mb']:>8.0f} "
            f"{child:>13} {r['recall']:>6.3f} {r['precision']:>9.3f}"
        )
    print(
        "\nwall s includes worker start-up. CPU s = user+sys of the process and its workers. "
        "RSS main = getrusage peak of the\nmeasuring process, the corpus texts included "
        "((corpus) = its peak right after generating them); RSS worker = getrusage\n"
        "RUSAGE_CHILDREN, the largest worker's peak; the simultaneous peak is at most main + workers x worker. "
        "recall = share\nof sampled pairs with exact J >= 0.8 put in one cluster; precision = share of "
        "reported pairs with exact J >= 0.8."
    )


if __name__ == "__main__":
    main()
