"""Throughput and peak memory of semantic dedup: embedding and neighbour search, next to baselines.

Data: real chat conversations from the PyPI package ``chitchat-dataset``
(0.9.0; 7,168 conversations, cut into windows of 4 turns: user, assistant,
user, assistant), never text this project made. Each measurement runs in a
fresh subprocess so its peak RSS is its own.

- embed, ours: `curate.embed.embed_texts` (tokenize once, length-sorted
  batches, mean pooling, L2 norm; fp32 on CPU, bf16 on CUDA), no cache.
- embed, plain: the loop a user would write with transformers: batches in
  input order, tokenizer(padding=True) per batch, same model, mean pooling,
  same batch size and dtype.
- search, ours: `curate.semantic.neighbour_pairs` (exact, blocked numpy
  matrix products, upper triangle only).
- search, faiss: ``faiss.IndexFlatIP.range_search`` (exact), if installed.
- search, usearch: an HNSW index (``usearch``), 16 nearest neighbours per
  vector, filtered to the threshold; recall against the exact pairs.

Corpora (``--corpus``): ``chitchat`` = 4-turn windows at offset 0 (34,574 at
most); ``mixed`` = 100k+ real conversations, since no PyPI package ships 100k:
every conversation of chatterbot-corpus 1.3.3 (7,642, all 28 languages) plus
chitchat 4-turn windows starting at turn 0, 2, 1 and 3 (34,574 + 32,279 +
33,270 + 31,446; windows of different offsets overlap by 1-3 turns), exact
duplicate texts dropped (138,003 left), shuffled with seed 0, first N taken.

Search of more vectors than were embedded: the real embeddings, then random
rotations of them (each block keeps the real neighbour structure; blocks are
unrelated). With as many real vectors as asked, the search sees only those.
CPU seconds (user+sys, all threads) are printed next to wall time: on a shared
machine they are the fair figure.

    .venv/bin/python benchmarks/bench_semantic.py --sizes 10000 --search-sizes 10000,100000
    .venv/bin/python benchmarks/bench_semantic.py --corpus mixed --sizes 100000 --skip-plain \\
        --search-sizes 100000 --no-ann --threads 1 --progress --vectors-dir out/bench_semantic
    .venv/bin/python benchmarks/bench_semantic.py --corpus mixed --sizes "" --search-sizes "" \\
        --ab 1000 --rounds 1 --threads 1     # ours vs plain loop, wall and CPU seconds, same process
    .venv/bin/python benchmarks/bench_semantic.py --corpus chitchat --sizes 34574 --skip-plain --search-sizes "" \
        --no-ann --vectors-dir out/rel      # then, on the saved vectors, the dedup / related table alone:
    .venv/bin/python benchmarks/bench_semantic.py --vectors out/rel/vecs_34574.npy --sizes "" --search-sizes ""

On an oversubscribed machine (load 14-18 on 2 cores) torch's default 2
threads spin and wait: 600 conversations took 25.0 CPU-s with 2 threads vs
11.0 with 1 (and twice the wall time), so the 100k run uses ``--threads 1``.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def chitchat_texts(n: int, window: int = 4) -> list[list[dict]]:
    """Up to `n` conversations of `window` turns from chitchat-dataset (roles alternate by sender)."""
    try:
        import chitchat_dataset
    except ImportError:
        sys.exit("needs the real corpus: pip install chitchat-dataset==0.9.0")
    out = []
    for conv in chitchat_dataset.Dataset().values():
        turns = [" ".join(m["text"] for m in group) for group in conv["messages"]]
        for s in range(0, len(turns) - 1, window):
            part = turns[s:s + window]
            if len(part) >= 2:
                out.append([{"role": "user" if k % 2 == 0 else "assistant", "content": t} for k, t in enumerate(part)])
            if len(out) >= n:
                return out
    return out


def chitchat_windows(offset: int, window: int = 4, data: dict | None = None) -> list[list[dict]]:
    """Every window of `window` turns starting at turn `offset`, `offset + window`, ... of each chitchat chat."""
    if data is None:
        import chitchat_dataset

        data = chitchat_dataset.Dataset()
    out = []
    for conv in data.values():
        turns = [" ".join(m["text"] for m in group) for group in conv["messages"]]
        for s in range(offset, len(turns) - 1, window):
            part = turns[s:s + window]
            if len(part) >= 2:
                out.append([{"role": "user" if k % 2 == 0 else "assistant", "content": t} for k, t in enumerate(part)])
    return out


def chatterbot_all() -> list[list[dict]]:
    """Every conversation of chatterbot-corpus 1.3.3, all 28 languages (turns alternate, the user's first)."""
    import chatterbot_corpus
    import yaml

    out = []
    for f in sorted((Path(chatterbot_corpus.__file__).parent / "data").glob("*/*.yml")):
        data = yaml.safe_load(f.read_text(encoding="utf-8")) or {}
        for conv in data.get("conversations") or []:
            turns = [str(t).strip() for t in conv if t is not None and str(t).strip()]
            if len(turns) >= 2:
                out.append([{"role": ("user", "assistant")[k % 2], "content": t} for k, t in enumerate(turns)])
    return out


MIXED_OFFSETS = (0, 2, 1, 3)


def mixed_texts(n: int) -> list[list[dict]]:
    """Up to `n` distinct real conversations: chatterbot-corpus (all languages), then chitchat windows of
    4 turns at offsets 0, 2, 1, 3 (each offset gives 34,574 windows; windows of neighbouring offsets share
    turns, as overlapping chunks of one long chat do), exact-duplicate texts dropped, the pool shuffled
    (seed 0) and its first `n` taken, so any prefix mixes both sources."""
    try:
        import chitchat_dataset

        pool = chatterbot_all()
        data = chitchat_dataset.Dataset()
        for off in MIXED_OFFSETS:
            pool.extend(chitchat_windows(off, data=data))
    except ImportError:
        sys.exit("needs the real corpora: pip install chitchat-dataset==0.9.0 chatterbot-corpus==1.3.3")
    seen, uniq = set(), []
    for conv in pool:
        t = conversation_text(conv)
        if t not in seen:
            seen.add(t)
            uniq.append(conv)
    order = np.random.default_rng(0).permutation(len(uniq))
    return [uniq[i] for i in order[:n]]


def corpus_texts(corpus: str, n: int) -> list[list[dict]]:
    return mixed_texts(n) if corpus == "mixed" else chitchat_texts(n)


def conversation_text(conv: list[dict]) -> str:
    return "\n".join(m["content"] for m in conv)  # what semantic_dedup embeds with roles user + assistant


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --------------------------------------------------------------------------- parts (one per subprocess)


def part_embed(n: int, impl: str, device: str, out: str | None, corpus: str = "chitchat") -> dict:
    from curate.embed import CPU_BATCH_SIZE, CUDA_BATCH_SIZE, EmbedConfig, encode, load_encoder, token_ids

    texts = [conversation_text(c) for c in corpus_texts(corpus, n)]
    enc = load_encoder(EmbedConfig(device=device))
    batch = CPU_BATCH_SIZE if enc.device.type == "cpu" else CUDA_BATCH_SIZE
    base_mb = peak_mb()
    import torch

    if os.environ.get("BENCH_THREADS"):
        torch.set_num_threads(int(os.environ["BENCH_THREADS"]))
    progress = bool(os.environ.get("BENCH_PROGRESS"))

    sync = torch.cuda.synchronize if enc.device.type == "cuda" else (lambda: None)
    t0, c0 = time.perf_counter(), time.process_time()
    if impl == "ours":
        vecs = encode(enc, texts, batch_size=batch, progress=progress)
    else:
        vecs = plain_loop(enc, texts, batch)
    sync()
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0  # process_time: user+sys of all threads
    peak = peak_mb()  # before the count below, which tokenizes again
    if out:
        np.save(out, vecs)
    n_tokens = int(token_ids(enc, texts)[1][-1])  # word pieces embedded (cut at max_tokens), counted in chunks
    res = {"part": f"embed-{impl}", "n": len(texts), "seconds": dt, "conv_per_s": len(texts) / dt,
           "cpu_seconds": cpu, "conv_per_cpu_s": len(texts) / cpu, "torch_threads": torch.get_num_threads(),
           "load_avg": os.getloadavg(),
           "tokens": n_tokens, "batch": batch, "device": str(enc.device), "dtype": str(enc.dtype),
           "peak_rss_mb": peak, "rss_after_load_mb": base_mb}
    if enc.device.type == "cuda":
        res["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return res


def plain_loop(enc, texts: list[str], batch: int) -> np.ndarray:
    """What one writes from the model card: input order, padding per batch, mean pooling."""
    import torch

    out = []
    with torch.no_grad():
        for s in range(0, len(texts), batch):
            b = enc.tokenizer(texts[s:s + batch], padding=True, truncation=True, max_length=enc.max_tokens,
                              return_tensors="pt").to(enc.device)
            h = enc.model(**b).last_hidden_state.float()
            m = b["attention_mask"].unsqueeze(-1).float()
            v = torch.nn.functional.normalize((h * m).sum(1) / m.sum(1), dim=-1)
            out.append(v.cpu().numpy())
    return np.concatenate(out)


def part_ab(n: int, rounds: int, device: str, corpus: str = "chitchat") -> dict:
    """Ours and the plain loop alternately on the same texts in one process: a fair ratio on a busy machine.
    Wall and CPU seconds (user+sys, all threads) of each round."""
    from curate.embed import CPU_BATCH_SIZE, CUDA_BATCH_SIZE, EmbedConfig, encode, load_encoder

    texts = [conversation_text(c) for c in corpus_texts(corpus, n)]
    enc = load_encoder(EmbedConfig(device=device))
    import torch

    if os.environ.get("BENCH_THREADS"):
        torch.set_num_threads(int(os.environ["BENCH_THREADS"]))
    batch = CPU_BATCH_SIZE if enc.device.type == "cpu" else CUDA_BATCH_SIZE
    encode(enc, texts[:batch], batch_size=batch)  # warm-up
    ours, plain, ours_cpu, plain_cpu = [], [], [], []
    for _ in range(rounds):
        for fn, wall, cpu in ((lambda: encode(enc, texts, batch_size=batch), ours, ours_cpu),
                              (lambda: plain_loop(enc, texts, batch), plain, plain_cpu)):
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    return {"part": "ab", "n": len(texts), "ours": ours, "plain": plain, "ours_cpu": ours_cpu,
            "plain_cpu": plain_cpu, "torch_threads": torch.get_num_threads(), "load_avg": os.getloadavg()}


def scaled_vectors(path: str, n: int) -> np.ndarray:
    """`n` vectors: the real ones, then random rotations of them (unrelated blocks, same structure)."""
    base = np.load(path).astype(np.float32)
    blocks, k = [base], 1
    rng = np.random.default_rng(0)
    while sum(len(b) for b in blocks) < n:
        q, _ = np.linalg.qr(rng.standard_normal((base.shape[1], base.shape[1])))
        blocks.append((base @ q.astype(np.float32)).astype(np.float32))
        k += 1
    return np.ascontiguousarray(np.concatenate(blocks)[:n])


def part_search(path: str, n: int, impl: str, threshold: float, truth: str | None) -> dict:
    x = scaled_vectors(path, n)
    real = min(n, len(np.load(path, mmap_mode="r")))
    base_mb = peak_mb()
    t0, c0 = time.perf_counter(), time.process_time()
    extra: dict = {"real_vectors": real}
    if impl == "ours":
        from curate.semantic import neighbour_pairs

        pairs, _ = neighbour_pairs(x, threshold)
        if truth:
            np.save(truth, pairs)
    elif impl == "faiss":
        import faiss

        faiss.omp_set_num_threads(os.cpu_count() or 1)
        index = faiss.IndexFlatIP(x.shape[1])
        index.add(x)
        lims, _, ids = index.range_search(x, threshold - 1e-6)
        rows = np.repeat(np.arange(n), np.diff(lims).astype(np.int64))
        keep = ids.astype(np.int64) > rows
        pairs = np.stack([rows[keep], ids[keep]], 1)
    else:
        from usearch.index import Index

        index = Index(ndim=x.shape[1], metric="ip", dtype="f32")
        index.add(np.arange(n), x)
        m = index.search(x, 16)
        sims = 1 - m.distances
        rows = np.repeat(np.arange(n), m.keys.shape[1])
        cols = m.keys.reshape(-1).astype(np.int64)
        ok = (sims.reshape(-1) >= threshold - 1e-6) & (cols != rows) & (cols >= 0)
        a, b = np.minimum(rows[ok], cols[ok]), np.maximum(rows[ok], cols[ok])
        pairs = np.unique(np.stack([a, b], 1), axis=0)
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    extra["cpu_seconds"] = cpu
    if truth and impl != "ours" and Path(truth).is_file():
        want = {tuple(p) for p in np.load(truth).tolist()}
        got = {tuple(p) for p in np.asarray(pairs).tolist()}
        extra["recall_vs_exact"] = len(want & got) / max(1, len(want))
    return {"part": f"search-{impl}", "n": n, "threshold": threshold, "seconds": dt, "conv_per_s": n / dt,
            "pairs": int(len(pairs)), "peak_rss_mb": peak_mb(), "rss_before_mb": base_mb, **extra}


def retention(path: str) -> None:
    """On the real vectors: what dedup would reject and how big related components get, per threshold."""
    from curate.semantic import choose_kept, components, neighbour_pairs

    x = np.load(path)
    n = len(x)
    pairs, sims = neighbour_pairs(x, 0.65)
    print(f"real data, {n} conversations:")
    for t in (0.85, 0.90, 0.92, 0.95):
        rep, _ = choose_kept(n, pairs, sims, t, np.arange(n))
        print(f"  dedup at cosine >= {t:.2f}: {int((rep >= 0).sum())} rejected ({(rep >= 0).mean():.2%}), "
              f"retention {(rep < 0).mean():.2%}")
    for t in (0.65, 0.70, 0.75, 0.80):
        sel = sims >= t
        comp = components(n, pairs[sel])
        sizes = np.bincount(comp, minlength=n)
        print(f"  related at cosine >= {t:.2f}: {int(sel.sum())} pairs, {int((sizes[comp] > 1).sum())} records in "
              f"{int((sizes > 1).sum())} components, largest {int(sizes.max())} ({sizes.max() / n:.2%})")


# --------------------------------------------------------------------------- driver


def run_part(args: list[str]) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    shown = bool(env.get("BENCH_PROGRESS"))  # the part's stderr (progress bar) goes straight to ours
    proc = subprocess.run([sys.executable, __file__, "--part", *args], stdout=subprocess.PIPE,
                          stderr=None if shown else subprocess.PIPE, text=True, env=env)
    if proc.returncode != 0:
        print((proc.stderr or "")[-2000:], file=sys.stderr)
        raise SystemExit(f"part {args} failed")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000", help="conversations to embed (comma-separated)")
    ap.add_argument("--search-sizes", default="10000,100000", help="vectors to search (comma-separated)")
    ap.add_argument("--threshold", type=float, default=None, help="search threshold (default: the step's related)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--corpus", choices=["chitchat", "mixed"], default="chitchat",
                    help="chitchat: 4-turn windows at offset 0 (34,574 at most); mixed: chatterbot-corpus (all "
                         "languages) + chitchat windows at offsets 0, 2, 1, 3, distinct, shuffled (138,003 at most)")
    ap.add_argument("--threads", type=int, help="torch CPU threads while embedding (default: torch's, = cores); "
                    "on a shared, oversubscribed machine 1 thread is faster per CPU-second and per wall-second")
    ap.add_argument("--progress", action="store_true", help="show the embedding progress bar (stderr)")
    ap.add_argument("--vectors-dir", help="keep the embeddings here (vecs_N.npy) instead of a temp folder")
    ap.add_argument("--skip-plain", action="store_true", help="do not run the plain transformers loop")
    ap.add_argument("--no-ann", action="store_true", help="skip faiss / usearch")
    ap.add_argument("--ab", type=int, default=0, metavar="N",
                    help="also time ours and the plain loop alternately on N conversations (fair on a busy machine)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of --ab")
    ap.add_argument("--vectors", help="search these saved embeddings (.npy) instead of embedding first")
    ap.add_argument("--part", nargs="*", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.part:
        kind, *rest = args.part
        if kind == "ab":
            res = part_ab(int(rest[0]), int(rest[1]), rest[2], rest[3])
        elif kind == "embed":
            res = part_embed(int(rest[0]), rest[1], rest[2], rest[3] or None, rest[4])
        else:
            res = part_search(rest[0], int(rest[1]), rest[2], float(rest[3]), rest[4] if len(rest) > 4 else None)
        print(json.dumps(res))
        return 0

    from curate.semantic import SemanticDedupConfig

    if args.threads:
        os.environ["BENCH_THREADS"] = str(args.threads)
    if args.progress:
        os.environ["BENCH_PROGRESS"] = "1"
    threshold = args.threshold or SemanticDedupConfig().related_threshold
    tmp = Path(args.vectors_dir) if args.vectors_dir else Path(os.environ.get("TMPDIR", "/tmp")) / f"bench_semantic_{os.getpid()}"
    tmp.mkdir(parents=True, exist_ok=True)
    print(f"torch threads: {args.threads or 'default'}, {os.cpu_count()} cores visible; device {args.device}; corpus {args.corpus}; "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    vec_path = args.vectors
    for n in [int(s) for s in args.sizes.split(",") if s]:
        path = str(tmp / f"vecs_{n}.npy")
        ours = run_part(["embed", str(n), "ours", args.device, path, args.corpus])
        vec_path = path
        print(f"embed {ours['n']:>7} conv ({ours['tokens']} tokens, batch {ours['batch']}, {ours['device']} "
              f"{ours['dtype']}): ours {ours['seconds']:.1f} s = {ours['conv_per_s']:.1f} conv/s, "
              f"peak RSS {ours['peak_rss_mb']:.0f} MB (texts + model loaded: {ours['rss_after_load_mb']:.0f} MB)"
              + (f", CUDA peak {ours['cuda_peak_mb']:.0f} MB"
                                                          if "cuda_peak_mb" in ours else "")
              + f"; CPU {ours['cpu_seconds']:.0f} s user+sys = {ours['conv_per_cpu_s']:.1f} conv per CPU-s "
                f"({ours['torch_threads']} torch threads, load {ours['load_avg'][0]:.2f} at end); vectors {path}",
              flush=True)
        if not args.skip_plain:
            plain = run_part(["embed", str(n), "plain", args.device, str(tmp / f"plain_{n}.npy"), args.corpus])
            diff = float(np.abs(np.load(path) - np.load(tmp / f"plain_{n}.npy")).max())
            print(f"embed {plain['n']:>7} conv: plain transformers loop {plain['seconds']:.1f} s = "
                  f"{plain['conv_per_s']:.1f} conv/s, peak RSS {plain['peak_rss_mb']:.0f} MB"
                  + (f", CUDA peak {plain['cuda_peak_mb']:.0f} MB" if "cuda_peak_mb" in plain else "")
                  + f"; CPU {plain['cpu_seconds']:.0f} s = {plain['conv_per_cpu_s']:.1f} conv per CPU-s"
                  + f"; speed-up {ours['conv_per_s'] / plain['conv_per_s']:.2f}x wall, "
                    f"{ours['conv_per_cpu_s'] / plain['conv_per_cpu_s']:.2f}x CPU; max |ours - plain| {diff:.2e}",
                  flush=True)
    if args.ab:
        r = run_part(["ab", str(args.ab), str(args.rounds), args.device, args.corpus])
        print(f"alternating, {r['n']} conv x {args.rounds} rounds, {r['torch_threads']} torch threads: ours "
              f"{min(r['ours']):.1f} s (rounds {', '.join(f'{x:.1f}' for x in r['ours'])}), plain "
              f"{min(r['plain']):.1f} s (rounds {', '.join(f'{x:.1f}' for x in r['plain'])}); best vs best "
              f"{min(r['plain']) / min(r['ours']):.2f}x wall; CPU ours {min(r['ours_cpu']):.1f} s = "
              f"{r['n'] / min(r['ours_cpu']):.1f} conv/CPU-s, plain {min(r['plain_cpu']):.1f} s = "
              f"{r['n'] / min(r['plain_cpu']):.1f} conv/CPU-s, {min(r['plain_cpu']) / min(r['ours_cpu']):.2f}x "
              f"(load {r['load_avg'][0]:.1f} at end)", flush=True)
    if vec_path is None:
        return 0
    retention(vec_path)
    impls = ["ours"] + ([] if args.no_ann else ["faiss", "usearch"])
    for n in [int(s) for s in args.search_sizes.split(",") if s]:
        truth = str(tmp / f"truth_{n}.npy")
        for impl in impls:
            module = {"faiss": "faiss", "usearch": "usearch"}.get(impl)
            if module and importlib.util.find_spec(module) is None:
                print(f"search {n:>7} {impl}: skipped (not a project dependency: pip install "
                      f"{'faiss-cpu==1.15.1' if impl == 'faiss' else 'usearch==2.26.6'})")
                continue
            try:
                r = run_part(["search", vec_path, str(n), impl, str(threshold), truth])
            except SystemExit as e:
                print(f"search {n:>7} {impl}: failed ({e})")
                continue
            rec = f", recall {r['recall_vs_exact']:.3f}" if "recall_vs_exact" in r else ""
            kind = "real" if r["real_vectors"] == n else f"{r['real_vectors']} real + rotated copies"
            print(f"search {n:>7} vectors ({kind}), cosine >= {threshold}: {impl:>7} {r['seconds']:.2f} s = "
                  f"{r['conv_per_s']:.0f} conv/s, CPU {r['cpu_seconds']:.1f} s, {r['pairs']} pairs{rec}, "
                  f"peak RSS {r['peak_rss_mb']:.0f} MB",
                  flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
