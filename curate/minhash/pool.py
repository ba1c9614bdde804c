"""The process pool the signature and verification stages share (spawned workers, chunked tasks)."""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Iterator
from typing import Any


class _Runner:
    """Maps a task function over chunk tasks: in-process, on a given pool, or
    on a spawn pool of ``workers`` processes created on first need and shared
    by every stage of one call (signatures, then verification).

    spawn: workers inherit neither the caller's threads (polars, torch:
    forking those can deadlock) nor its memory (a forked copy of a large
    corpus is touched by refcounts and duplicated). Start-up costs ~0.3 s,
    which is why inputs of fewer than ``_MIN_POOL_CHUNKS`` chunks run
    in-process.
    """

    def __init__(self, workers: int = 1, pool: Any = None) -> None:
        if isinstance(pool, _Runner):
            self.workers, self.pool, self.own = pool.workers, pool.pool, False
            self.parent = pool
        else:
            self.workers, self.pool, self.own, self.parent = max(1, int(workers)), pool, False, None

    def imap(self, fn, tasks, n_tasks: int):
        if self.parent is not None:
            return self.parent.imap(fn, tasks, n_tasks)
        if self.pool is None and self.workers > 1 and n_tasks >= _MIN_POOL_CHUNKS:
            self.pool = make_pool(self.workers)
            self.own = True
        if self.pool is None:
            return map(fn, tasks)
        return self.pool.imap(fn, tasks)

    def __enter__(self) -> _Runner:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if self.own and self.pool is not None:
            if exc_type is None:
                self.pool.close()
            else:
                self.pool.terminate()
            self.pool.join()
            self.pool, self.own = None, False


def make_pool(workers: int):
    """A spawn ``multiprocessing`` pool set up like the one the functions here
    create for ``workers > 1``; pass it as ``pool=`` to reuse it across calls
    (close it yourself)."""
    return mp.get_context("spawn").Pool(workers, initializer=_worker_init)


def _worker_init() -> None:
    # A fresh process starts with glibc's default 128 KiB mmap threshold, so
    # every multi-MiB temporary of a chunk is mmapped, page-faulted and
    # unmapped again (~25 % of a worker's time). Keep freed memory for reuse
    # instead; this only touches worker processes we own.
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 256 << 20)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 512 << 20)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass


# Texts per worker task (~2 MB of text: big enough to amortise a task's
# overhead, small enough to balance two workers and keep temporaries in cache).
_CHUNK = 2048
# Below this many chunks a process pool costs more than it saves.
_MIN_POOL_CHUNKS = 4


def _chunks(n: int, size: int) -> Iterator[tuple[int, int]]:
    for i in range(0, n, size):
        yield i, min(i + size, n)
