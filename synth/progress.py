"""Progress bar (rich, on stderr): items done, plus requests, tokens and cost so far."""
from __future__ import annotations

import sys
from typing import Any

from synth.ledger import Ledger


class ProgressBar:
    """``with ProgressBar(total, ledger, enabled): bar.advance()``; a no-op when disabled."""

    def __init__(self, total: int, ledger: Ledger, description: str, enabled: bool | None = None):
        self.total = total
        self.ledger = ledger
        self.description = description
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._progress: Any = None
        self._task: Any = None
        self._client: Any = None

    def attach(self, client: Any) -> None:
        """Show the client's requests in flight too."""
        self._client = client

    def _stats(self) -> str:
        inflight = f" · {self._client.in_flight} in flight" if self._client is not None else ""
        return self.ledger.summary_line() + inflight

    def __enter__(self) -> "ProgressBar":
        if self.enabled:
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn)

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TimeElapsedColumn(), TextColumn("{task.fields[stats]}"),
                                      console=Console(stderr=True), refresh_per_second=4)
            self._progress.__enter__()
            self._task = self._progress.add_task(self.description, total=self.total, stats=self._stats())
        return self

    def refresh(self) -> None:
        if self._progress is not None:
            self._progress.update(self._task, stats=self._stats())

    def advance(self, n: int = 1) -> None:
        if self._progress is not None:
            self._progress.update(self._task, advance=n, stats=self._stats())

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self.refresh()
            self._progress.__exit__(*exc)
            self._progress = None
