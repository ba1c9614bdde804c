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
