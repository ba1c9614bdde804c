"""The ledger: tokens, cost, requests, retries and cache hits, and the budget cap.

Cost is ``prompt_tokens * input_per_mtok / 1e6 + completion_tokens *
output_per_mtok / 1e6`` with the configured price table (USD by convention;
the ledger does not care). The budget is enforced *before* a request: its
estimated cost (prompt length / chars_per_token, plus max_tokens of output)
is reserved while it is in flight, so requests running side by side cannot
together overshoot the cap.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from synth.config import Price


@dataclass
class ModelUsage:
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens, "cost": round(self.cost, 8)}


@dataclass
class Ledger:
    """Counts of one run. ``requests`` are answers received (complete 200 responses)."""

    prices: dict[str, Price] = field(default_factory=dict)
    budget: float | None = None
    by_model: dict[str, ModelUsage] = field(default_factory=dict)
    cache_hits: int = 0
    cache_hit_tokens: int = 0
    cache_saved_cost: float = 0.0
    retries: int = 0
    failures: int = 0
    errors: Counter = field(default_factory=Counter)
    usage_estimated: int = 0
    # Answers the endpoint produced (and may bill) that never arrived readable: timed out, cut off or
    # malformed. Counted at an estimate (prompt estimate + max_tokens) so the budget stays a true ceiling.
    unread: Counter = field(default_factory=Counter)
    unread_tokens: int = 0
    unread_cost: float = 0.0
    budget_refused: int = 0
    reserved: float = 0.0
    stopped_by_budget: bool = False

    def price(self, model: str) -> Price:
        return self.prices.get(model) or self.prices.get("*") or Price()

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float:
        p = self.price(model)
        return prompt_tokens * p.input_per_mtok / 1e6 + completion_tokens * p.output_per_mtok / 1e6

    @property
    def spent(self) -> float:
        return sum(u.cost for u in self.by_model.values()) + self.unread_cost

    @property
    def requests(self) -> int:
        return sum(u.requests for u in self.by_model.values())

    @property
    def prompt_tokens(self) -> int:
        return sum(u.prompt_tokens for u in self.by_model.values())

    @property
    def completion_tokens(self) -> int:
        return sum(u.completion_tokens for u in self.by_model.values())

    def try_reserve(self, estimate: float) -> bool:
        """Reserve ``estimate`` for a request about to be sent; False (and stop) if it would break the budget.

        Once refused, every later request is refused too: the run stops
        cleanly instead of squeezing in small requests around a big one.
        """
        if self.budget is not None and (self.stopped_by_budget or self.spent + self.reserved + estimate > self.budget):
            self.stopped_by_budget = True
            self.budget_refused += 1
            return False
        self.reserved += estimate
        return True

    def retry_allowed(self) -> bool:
        """A retry costs again (the last attempt may have been billed): False, and stop, once the
        spent plus what is reserved in flight is over the budget."""
        if self.budget is not None and (self.stopped_by_budget or self.spent + self.reserved > self.budget):
            self.stopped_by_budget = True
            return False
        return True

    def release(self, estimate: float) -> None:
        self.reserved = max(0.0, self.reserved - estimate)

    def record(self, model: str, prompt_tokens: int, completion_tokens: int, estimated: bool = False) -> float:
        u = self.by_model.setdefault(model, ModelUsage())
        c = self.cost(model, prompt_tokens, completion_tokens)
        u.requests += 1
        u.prompt_tokens += prompt_tokens
        u.completion_tokens += completion_tokens
        u.cost += c
        self.usage_estimated += estimated
        return c

    def record_unread(self, model: str, prompt_tokens: int, completion_tokens: int, kind: str) -> float:
        """Book an answer that may have been produced and billed but could not be read (an estimate)."""
        c = self.cost(model, prompt_tokens, completion_tokens)
        self.unread[kind] += 1
        self.unread_tokens += prompt_tokens + completion_tokens
        self.unread_cost += c
        return c

    def record_hit(self, model: str, prompt_tokens: int, completion_tokens: int) -> None:
        self.cache_hits += 1
        self.cache_hit_tokens += prompt_tokens + completion_tokens
        self.cache_saved_cost += self.cost(model, prompt_tokens, completion_tokens)

    def summary_line(self) -> str:
        unread = f" · {sum(self.unread.values())} unread (estimated)" if self.unread else ""
        return (f"{self.requests} req ({self.cache_hits} cached, {self.retries} retries) · "
                f"{self.prompt_tokens}/{self.completion_tokens} tok in/out · cost {self.spent:.4f}{unread}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests, "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens, "cost": round(self.spent, 8),
            "by_model": {m: u.to_dict() for m, u in sorted(self.by_model.items())},
            "prices": {m: p.model_dump() for m, p in sorted(self.prices.items())},
            "cache_hits": self.cache_hits, "cache_hit_tokens": self.cache_hit_tokens,
            "cache_saved_cost": round(self.cache_saved_cost, 8), "retries": self.retries,
            "failures": self.failures, "errors": dict(sorted(self.errors.items())),
            "usage_estimated": self.usage_estimated,
            "unread_answers": dict(sorted(self.unread.items())), "unread_tokens_estimated": self.unread_tokens,
            "unread_cost_estimated": round(self.unread_cost, 8), "budget": self.budget,
            "budget_refused": self.budget_refused, "stopped_by_budget": self.stopped_by_budget,
        }
