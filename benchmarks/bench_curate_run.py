"""Whole `curate run` on N synthetic support transcripts: wall time and peak RSS per step.

    .venv/bin/python benchmarks/bench_curate_run.py [--n 100000] [--no-pii] [--workers 2]

Generates a ChatML JSONL corpus (seeded; 2-6 turns, planted exact and near
duplicates, a few customers with several conversations, e-mails and phone
numbers in some turns), runs the pipeline into a temp dir and prints a table.
The baseline column is the same steps' share of the total, to show where time goes.
"""
from __future__ import annotations

import argparse
import random
import tempfile
import threading
import time
from pathlib import Path

import orjson

WORDS = ("account bill router modem signal outage refund plan upgrade roaming invoice password reset "
         "payment card balance data speed fiber cable install technician appointment contract fee credit "
         "network coverage phone number email address device setting restart update firmware light").split()
FIRST = "Ana Ben Chen Dara Eli Fatima Goran Hana Ivan Jun Kofi Lena Maya Nils Omar Priya".split()


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def conversation(rng: random.Random, i: int) -> dict:
    turns = []
    for t in range(rng.randint(1, 3)):
        user = sentence(rng, rng.randint(6, 16))
        if rng.random() < 0.1:
            name = rng.choice(FIRST)
            user += f" I'm {name}, reach me at {name.lower()}{i}@example.com or 555-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}."
        turns += [{"role": "user", "content": user},
                  {"role": "assistant", "content": " ".join(sentence(rng, rng.randint(8, 18)) for _ in range(rng.randint(2, 5)))}]
    return {"id": f"B-{i:07d}", "customer_id": f"C-{rng.randint(0, i // 3 + 1)}", "messages": turns}


def make_corpus(path: Path, n: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    base = [conversation(rng, i) for i in range(n)]
    for i in range(0, n, 50):  # 2% exact copies, 2% near copies
        j = rng.randrange(n)
        base[i] = dict(base[j], id=f"B-{i:07d}")
        k = rng.randrange(n)
        near = orjson.loads(orjson.dumps(base[k]))
        near["id"] = f"B-{i + 1:07d}"
        near["messages"][-1]["content"] += " Thanks again."
        if i + 1 < n:
            base[i + 1] = near
    path.write_bytes(b"".join(orjson.dumps(c) + b"\n" for c in base))


def cpu_seconds() -> float:
    """CPU seconds of this process and its children (live ones from /proc, finished ones from
    getrusage): independent of what else the machine runs, unlike the wall clock."""
    import os
    import resource

    total = time.process_time()
    total += sum(getattr(resource.getrusage(resource.RUSAGE_CHILDREN), f) for f in ("ru_utime", "ru_stime"))
    me = str(os.getpid())
    tick = os.sysconf("SC_CLK_TCK")
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me:  # ppid
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


class RssSampler:
    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _rss(self) -> int:
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            time.sleep(0.05)

    def reset(self) -> int:
        p, self.peak = self.peak, self._rss()
        return p

    def start(self) -> "RssSampler":
        self._t.start()
        return self

    def stop(self) -> None:
        self._stop.set()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--no-pii", action="store_true")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    from curate.config import PipelineConfig
    from curate.run import run

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in" / "corpus.jsonl"
        src.parent.mkdir()
        t = time.perf_counter()
        make_corpus(src, args.n)
        print(f"corpus: {args.n} conversations, {src.stat().st_size / 1e6:.1f} MB, made in {time.perf_counter() - t:.1f}s")
        cfg = PipelineConfig.model_validate({
            "pii": {"enabled": not args.no_pii, "workers": args.workers},
            "near_dedup": {"workers": args.workers}})
        sampler = RssSampler().start()
        marks: list[tuple[str, float, float, int]] = []
        last = {"name": None, "t": time.perf_counter(), "c": cpu_seconds()}

        def on_step(name: str, state: str) -> None:
            now, cpu = time.perf_counter(), cpu_seconds()
            if last["name"]:
                marks.append((last["name"], now - last["t"], cpu - last["c"], sampler.reset()))
            last.update(name=name, t=now, c=cpu)

        import os

        load0 = os.getloadavg()[0]
        t0, c0 = time.perf_counter(), cpu_seconds()
        result = run([str(src.parent)], Path(tmp) / "out", cfg, on_step)
        now, cpu = time.perf_counter(), cpu_seconds()
        marks.append((last["name"] + " + export/leak checks/report", now - last["t"], cpu - last["c"],
                      sampler.reset()))
        sampler.stop()
        total = now - t0
        print(f"{'step':<42}{'wall s':>9}{'share':>8}{'CPU s':>9}{'peak RSS MB':>13}")
        for name, dt, dc, peak in marks:
            print(f"{name:<42}{dt:>9.1f}{dt / total:>7.0%}{dc:>9.1f}{peak / 1e6:>13.0f}")
        m = result.manifest
        print(f"{'total':<42}{total:>9.1f}{'':>8}{cpu - c0:>9.1f}{max(p for *_, p in marks) / 1e6:>13.0f}")
        print(f"load average at start {load0:.1f}, at end {os.getloadavg()[0]:.1f} (2 cores; CPU s: this "
              f"process and its worker processes; peak RSS: this process only)")
        print(f"records in {m.totals['records_in']}, kept {m.totals['kept']}, rejected {m.totals['rejected']}; "
              f"{m.totals['records_in'] / total:,.0f} records/s end to end; leak checks "
              f"{'pass' if m.leak_checks['passed'] else 'FAIL'}")


if __name__ == "__main__":
    main()
