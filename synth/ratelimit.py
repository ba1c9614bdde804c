"""Client-side rate limits: token buckets for requests and tokens per minute."""
from __future__ import annotations

import asyncio
import time


class Bucket:
    """A token bucket refilled at ``per_minute / 60`` per second, holding ``burst_s`` seconds of it."""

    def __init__(self, per_minute: float, burst_s: float = 1.0):
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate * burst_s)
        self.level = self.capacity
        self.t = time.monotonic()

    def _refill(self) -> None:
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self.t) * self.rate)
        self.t = now

    def wait_for(self, amount: float) -> float:
        """Seconds until ``amount`` is available (0 if it is now). Amounts above capacity wait for a full bucket."""
        self._refill()
        amount = min(amount, self.capacity)
        return 0.0 if self.level >= amount else (amount - self.level) / self.rate

    def take(self, amount: float) -> None:
        self.level -= min(amount, self.capacity)

    def give_back(self, amount: float) -> None:
        self._refill()
        self.level = min(self.capacity, self.level + amount)


class RateLimiter:
    """Waits until both the request and the token bucket allow a request (FIFO through a lock)."""

    def __init__(self, requests_per_minute: float | None, tokens_per_minute: float | None, burst_s: float = 1.0):
        self.requests = Bucket(requests_per_minute, burst_s) if requests_per_minute else None
        self.tokens = Bucket(tokens_per_minute, burst_s) if tokens_per_minute else None
        self._lock = asyncio.Lock()
        self.waited_s = 0.0

    @property
    def active(self) -> bool:
        return self.requests is not None or self.tokens is not None

    async def acquire(self, tokens: int) -> None:
        if not self.active:
            return
        async with self._lock:
            while True:
                wait = max(self.requests.wait_for(1) if self.requests else 0.0,
                           self.tokens.wait_for(tokens) if self.tokens else 0.0)
                if wait <= 0:
                    break
                self.waited_s += wait
                await asyncio.sleep(wait)
            if self.requests:
                self.requests.take(1)
            if self.tokens:
                self.tokens.take(tokens)

    def refund_tokens(self, estimated: int, actual: int) -> None:
        """Give back what a request did not use of its estimate."""
        if self.tokens and estimated > actual:
            self.tokens.give_back(estimated - actual)
