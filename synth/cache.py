"""The persistent request cache: every answer is stored the moment it arrives.

A sqlite file in WAL mode, one row per answered request, keyed by a hash of
(endpoint identity, model, messages, parameters). Each insert is its own
committed transaction, so after a kill -9 every answer the process had
received and stored is still there, and a re-run asks only for the rest.
(WAL with synchronous=NORMAL survives a killed process; only a power cut can
lose the last transactions, which then are simply asked again.)

Failures are never cached: a 500 or a timeout is asked again next run. A
malformed *answer* (a model's invalid JSON) is an answer and is cached: the
re-run reaches the same reject without paying again.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path
from typing import Any, Iterator

SCHEMA_VERSION = 1


def cache_key(endpoint: str, model: str, messages: list[dict], params: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of what determines an answer."""
    doc = {"v": SCHEMA_VERSION, "endpoint": endpoint, "model": model, "messages": messages, "params": params}
    blob = json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class RequestCache:
    """sqlite (WAL) store of answers; ``get`` / ``put`` are cheap enough for hundreds per second."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, endpoint TEXT NOT NULL, model TEXT NOT NULL, "
            "request TEXT NOT NULL, answer TEXT NOT NULL, created REAL NOT NULL)")

    def get(self, key: str) -> dict[str, Any] | None:
        row = self._db.execute("SELECT answer FROM answers WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, endpoint: str, model: str, request: dict[str, Any], answer: dict[str, Any]) -> None:
        """Store one answer in its own committed transaction."""
        self._db.execute(
            "INSERT OR REPLACE INTO answers (key, endpoint, model, request, answer, created) VALUES (?, ?, ?, ?, ?, ?)",
            (key, endpoint, model, json.dumps(request, ensure_ascii=False), json.dumps(answer, ensure_ascii=False),
             time.time()))

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0]

    def requests(self) -> Iterator[dict[str, Any]]:
        """The request bodies of every stored answer (for audits and tests)."""
        for (req,) in self._db.execute("SELECT request FROM answers ORDER BY created"):
            yield json.loads(req)

    def close(self) -> None:
        self._db.close()


class NullCache:
    """No persistence (``--no-cache``): every run pays for every request."""

    path = None

    def get(self, key: str) -> None:
        return None

    def put(self, *args: Any, **kwargs: Any) -> None:
        return None

    def __len__(self) -> int:
        return 0

    def requests(self) -> Iterator[dict[str, Any]]:
        return iter(())

    def close(self) -> None:
        return None
