"""Terminal output: one-line user errors and summary tables."""
from __future__ import annotations

import sys
from collections import Counter
from typing import NoReturn, Sequence


class UserError(Exception):
    """Bad input or arguments: shown as one line, never as a traceback."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


def fail(message: str, code: int = 1) -> NoReturn:
    raise UserError(message, code)


def summary_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]],
                  reasons: Counter | None = None, footer: str = "") -> None:
    """Print a summary table (and reasons table) to stderr with rich."""
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=True, width=max(100, Console(stderr=True).width))
    table = Table(title=title, title_justify="left")
    for h in headers:
        table.add_column(h, justify="right" if h not in ("file", "format", "input", "output", "rejects", "step") else "left")
    for row in rows:
        table.add_row(*[str(c) for c in row])
    console.print(table)
    if reasons:
        rt = Table(title="rejected / invalid by reason", title_justify="left")
        rt.add_column("reason")
        rt.add_column("count", justify="right")
        for reason, n in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])):
            rt.add_row(reason, str(n))
        console.print(rt)
    if footer:
        console.print(footer)


class PlainProgress:
    """Progress as plain lines on stderr (``pii: 4096/10000 conv (41 %), 12.3 s``) for logs and pipes:
    at most one line per ``every`` seconds or 10 % step, and a last line at the end."""

    def __init__(self, total: int, desc: str, unit: str, every: float = 5.0):
        import time

        self.total, self.desc, self.unit, self.every = total, desc, unit, every
        self.n, self._clock = 0, time.perf_counter
        self._t0 = self._last = self._clock()
        self._step = -1

    def update(self, n: int = 1) -> None:
        self.n += n
        step = 10 * self.n // max(self.total, 1)
        now = self._clock()
        if self.n < self.total and step > self._step and now - self._last >= self.every:
            self._step, self._last = step, now
            self._line()

    def _line(self, done: bool = False) -> None:
        pct = f" ({100 * self.n // self.total} %)" if self.total else ""
        took = self._clock() - self._t0
        print(f"{self.desc}: {self.n}/{self.total} {self.unit}{pct}, {took:.1f} s" + (" done" if done else ""),
              file=sys.stderr, flush=True)

    def __enter__(self) -> "PlainProgress":
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None and self.total:
            self._line(done=True)

    def close(self) -> None:
        self.__exit__(None, None, None)


def progress(total: int, desc: str, unit: str = "it", enabled: bool = True):
    """A tqdm bar on a terminal; plain lines (no carriage returns) when stderr is a log file or a pipe."""
    if not enabled:
        from tqdm.auto import tqdm

        return tqdm(total=total, disable=True)
    if sys.stderr.isatty():
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=desc, unit=unit, leave=False)
    return PlainProgress(total, desc, unit)
