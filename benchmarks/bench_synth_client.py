"""Throughput of synth's LLM client against a local endpoint with a fixed latency.

The bound: with C requests in flight and a fixed latency L per request, no
client can do better than C / L requests per second (64 / 0.2 s = 320/s).
The endpoint (synth.fake_endpoint) runs in its own process so its CPU does
not compete with the client's event loop for the GIL. The client runs the
real path: AsyncOpenAI (max_retries=0) over synth's lean keep-alive transport
(plain http), semaphore, ledger, and the sqlite request cache written for
every answer. A third row, bare asyncio streams without the SDK, is the
reference for what the machine allows at that moment (on a shared, loaded
2-core box the bound itself may be out of reach).

    .venv/bin/python benchmarks/bench_synth_client.py [--in-flight 64] [--latency 0.2] [--rounds 10]

Prints measured throughput beside the bound, the ratio, and the client's CPU
time per request (process time of this process / requests). A warm-up round
opens the connections first; it is not counted.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


async def _run(base_url: str, in_flight: int, n: int, cache_path: Path | None, tag: str) -> tuple[float, float]:
    from synth.cache import NullCache, RequestCache
    from synth.client import Endpoint, LLMClient
    from synth.config import ClientConfig

    cfg = ClientConfig(max_in_flight=in_flight, timeout_s=30, max_retries=0)
    cache = RequestCache(cache_path) if cache_path else NullCache()
    client = LLMClient(Endpoint(base_url, "bench", "bench"), cfg, cache=cache)
    try:
        # Warm-up: one round to open every connection (keep-alive), not counted.
        await asyncio.gather(*(client.chat([{"role": "user", "content": f"warm {tag} {i}"}], max_tokens=16)
                               for i in range(in_flight)))
        cpu0, t0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(client.chat([{"role": "user", "content": f"q {tag} {i}"}], max_tokens=16)
                               for i in range(n)))
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    finally:
        await client.aclose()
        cache.close()
    return wall, cpu


async def _run_bare(base_url: str, in_flight: int, n: int) -> tuple[float, float]:
    """The floor: keep-alive HTTP/1.1 on bare asyncio streams, no SDK, no cache (what this machine allows)."""
    import json
    from urllib.parse import urlsplit

    u = urlsplit(base_url)
    per = n // in_flight

    async def worker(k: int) -> None:
        reader, writer = await asyncio.open_connection(u.hostname, u.port)
        for i in range(per + 1):  # the first exchange warms the connection
            body = json.dumps({"model": "bench", "messages": [{"role": "user", "content": f"bare {k} {i}"}],
                               "max_tokens": 16}).encode()
            writer.write(b"POST %s/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                         b"content-length: %d\r\n\r\n" % (u.path.encode(), len(body)) + body)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"content-length: (\d+)", head, re.I).group(1))
            json.loads(await reader.readexactly(length))
            if i == 0:
                await barrier.wait()
                marks.setdefault("t0", (time.perf_counter(), time.process_time()))
        writer.close()

    marks: dict[str, tuple[float, float]] = {}
    barrier = _Barrier(in_flight)
    await asyncio.gather(*(worker(k) for k in range(in_flight)))
    t0, c0 = marks["t0"]
    return time.perf_counter() - t0, time.process_time() - c0


class _Barrier:
    def __init__(self, n: int):
        self.n, self.count, self.event = n, 0, asyncio.Event()

    async def wait(self) -> None:
        self.count += 1
        if self.count >= self.n:
            self.event.set()
        await self.event.wait()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--in-flight", type=int, default=64)
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--rounds", type=int, default=10, help="requests = rounds x in-flight")
    ap.add_argument("--repeats", type=int, default=3, help="best of this many timed runs")
    args = ap.parse_args()

    server = subprocess.Popen([sys.executable, "-m", "synth.fake_endpoint", "--port", "0",
                               "--latency", str(args.latency)], stdout=subprocess.PIPE, text=True,
                              cwd=Path(__file__).resolve().parents[1])
    try:
        line = server.stdout.readline()
        m = re.search(r"(http://\S+)", line)
        if not m:
            print(f"endpoint did not start: {line!r}", file=sys.stderr)
            return 1
        base_url = m.group(1)
        n = args.rounds * args.in_flight
        bound = args.in_flight / args.latency
        print(f"endpoint {base_url}: fixed latency {args.latency * 1000:.0f} ms, {args.in_flight} in flight, "
              f"{n} requests per run, best of {args.repeats}")
        print(f"{'client':<28}{'req/s':>9}{'bound':>9}{'of bound':>10}{'CPU ms/req':>12}{'wall s':>8}")
        worst_ratio = 1.0
        with tempfile.TemporaryDirectory() as tmp:
            for label, cache in (("synth client + sqlite cache", True), ("synth client, no cache", False),
                                 ("bare asyncio (reference)", None)):
                best = None
                for r in range(args.repeats):
                    if cache is None:
                        wall, cpu = asyncio.run(_run_bare(base_url, args.in_flight, n))
                    else:
                        path = Path(tmp) / f"cache-{r}.sqlite" if cache else None
                        wall, cpu = asyncio.run(_run(base_url, args.in_flight, n, path, f"{label}-{r}"))
                    if best is None or wall < best[0]:
                        best = (wall, cpu)
                wall, cpu = best
                rate = n / wall
                if cache is not None:
                    worst_ratio = min(worst_ratio, rate / bound)
                print(f"{label:<28}{rate:>9.1f}{bound:>9.1f}{rate / bound:>10.1%}{cpu / n * 1000:>12.2f}{wall:>8.2f}")
        print(f"(machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; the endpoint runs in its "
              "own process)")
        print("target (synth client): >= 90% of the bound: " + ("met" if worst_ratio >= 0.9 else "NOT met") +
              "; the bare client shows what this machine's load leaves for any Python client")
    finally:
        server.terminate()
        server.wait(10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
