"""The LLM client against a local fake endpoint: retries, Retry-After, timeouts, cache, limits, budget, ledger."""
from __future__ import annotations

import asyncio
import time

import pytest

from synth.cache import RequestCache
from synth.client import Endpoint, FatalEndpointError, LLMClient, RequestFailed, parse_retry_after, public_url
from synth.config import ClientConfig, Price
from synth.fake_endpoint import FakeEndpoint, request_identity
from synth.ledger import Ledger
from synth.ratelimit import RateLimiter

FAST = dict(timeout_s=0.5, backoff_base_s=0.02, backoff_max_s=0.1, max_retries=3)


def _msgs(i: int | str) -> list[dict]:
    return [{"role": "user", "content": str(i)}]


def _by_content(seqs: dict[str, list[str]]):
    def script(body, attempt):
        s = seqs.get(body["messages"][0]["content"], [])
        return s[attempt] if attempt < len(s) else "ok"
    return script


async def _client_run(ep: FakeEndpoint, cfg: ClientConfig, coro_fn, cache=None, transport="auto"):
    cfg = cfg.model_copy(update={"http_transport": transport})
    client = LLMClient(Endpoint(ep.base_url, "fake", "fake-endpoint"), cfg, cache=cache)
    try:
        return client, await coro_fn(client)
    finally:
        await client.aclose()


@pytest.mark.parametrize("transport", ["lean", "httpx"])
def test_every_fault_is_retried_until_an_answer_and_counted_in_the_ledger(transport):
    seqs = {"a": ["429_retry_after", "ok"], "b": ["429", "500", "ok"], "c": ["hang", "ok"],
            "d": ["invalid_body", "ok"], "e": ["truncated", "ok"], "f": ["500"] * 10, "g": []}
    with FakeEndpoint(script=_by_content(seqs), hang_s=5, retry_after="1") as ep:
        async def go(client):
            return await asyncio.gather(*(client.chat(_msgs(k), max_tokens=20) for k in seqs),
                                        return_exceptions=True)
        t0 = time.monotonic()
        client, results = asyncio.run(_client_run(ep, ClientConfig(**FAST), go, transport=transport))
        elapsed = time.monotonic() - t0
    by_key = dict(zip(seqs, results))
    assert isinstance(by_key["f"], RequestFailed) and by_key["f"].reason == "request_failed"
    assert "4 attempts" in by_key["f"].detail
    assert all(not isinstance(by_key[k], BaseException) for k in "abcdeg")
    led = client.ledger
    answered = ep.answered()
    assert led.requests == len(answered) == 6
    assert led.prompt_tokens == sum(e.prompt_tokens for e in answered)
    assert led.completion_tokens == sum(e.completion_tokens for e in answered)
    assert dict(led.errors) == {"http_429": 2, "http_500": 5, "timeout": 1, "bad_body": 1, "connection": 1}
    # The hang, the malformed and the cut-off answer may each have been billed: booked at an estimate.
    assert dict(led.unread) == {"timeout": 1, "bad_body": 1, "cut_off": 1}
    assert led.unread_tokens == 3 * (client.estimate_prompt_tokens(_msgs("d")) + 20)
    assert led.retries == 9 and led.failures == 1
    assert len(ep.entries()) == 6 + 10  # answers + every failed attempt, nothing more
    assert elapsed >= 1.0  # Retry-After: 1 was honoured


def test_retry_after_in_seconds_ms_and_http_dates_is_parsed():
    assert parse_retry_after({"retry-after": "2"}) == 2.0
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert parse_retry_after({}) is None
    assert parse_retry_after({"retry-after": "soon"}) is None
    from email.utils import formatdate

    assert 8 <= parse_retry_after({"retry-after": formatdate(time.time() + 10, usegmt=True)}) <= 10


def test_a_stored_answer_is_never_requested_again(tmp_path):
    cache = RequestCache(tmp_path / "c.sqlite")
    with FakeEndpoint() as ep:
        async def go(client):
            first = await client.chat(_msgs("x"), max_tokens=20, seed=1)
            again = await client.chat(_msgs("x"), max_tokens=20, seed=1)
            other_seed = await client.chat(_msgs("x"), max_tokens=20, seed=2)
            return first, again, other_seed
        client, (first, again, other) = asyncio.run(_client_run(ep, ClientConfig(**FAST), go, cache=cache))
        assert len(ep.entries()) == 2
        assert (first.cached, again.cached, other.cached) == (False, True, False)
        assert again.text == first.text
        assert client.ledger.requests == 2 and client.ledger.cache_hits == 1
        # A new client on the same cache file (a re-run) pays nothing.
        cache2 = RequestCache(tmp_path / "c.sqlite")
        client2, ans = asyncio.run(_client_run(ep, ClientConfig(**FAST),
                                               lambda c: c.chat(_msgs("x"), max_tokens=20, seed=1), cache=cache2))
        assert ans.cached and len(ep.entries()) == 2 and client2.ledger.requests == 0
    stored = {request_identity(r) for r in RequestCache(tmp_path / "c.sqlite").requests()}
    assert stored == {e.identity for e in ep.entries()}


def test_identical_requests_in_flight_together_are_sent_once():
    with FakeEndpoint(latency=0.1) as ep:
        client, results = asyncio.run(_client_run(
            ep, ClientConfig(**FAST), lambda c: asyncio.gather(*(c.chat(_msgs("same"), max_tokens=9) for _ in range(5)))))
    assert len(ep.entries()) == 1
    assert len({r.text for r in results}) == 1


def test_requests_in_flight_never_exceed_the_bound():
    with FakeEndpoint(latency=0.05) as ep:
        asyncio.run(_client_run(ep, ClientConfig(**FAST, max_in_flight=5),
                                lambda c: asyncio.gather(*(c.chat(_msgs(i), max_tokens=9) for i in range(30)))))
    assert len(ep.entries()) == 30
    assert ep.max_concurrent == 5


def test_requests_per_minute_limit_spaces_requests():
    # 1200/min = 20/s with one second of burst: 40 requests need about one second more than the burst.
    with FakeEndpoint() as ep:
        t0 = time.monotonic()
        client, _ = asyncio.run(_client_run(
            ep, ClientConfig(**FAST, max_in_flight=40, requests_per_minute=1200),
            lambda c: asyncio.gather(*(c.chat(_msgs(i), max_tokens=9) for i in range(40)))))
        elapsed = time.monotonic() - t0
    assert len(ep.entries()) == 40
    assert elapsed >= 0.9  # unlimited, 40 requests to this endpoint take well under 0.3 s
    assert client.limiter.waited_s >= 0.5  # (the bucket also refills while the first burst is sent)


def test_tokens_per_minute_limit_waits_for_the_bucket():
    async def go():
        lim = RateLimiter(None, 6000, burst_s=1.0)  # 100 tokens/s, bucket of 100
        t0 = time.monotonic()
        await lim.acquire(100)
        first = time.monotonic() - t0
        await lim.acquire(50)
        return first, time.monotonic() - t0
    first, second = asyncio.run(go())
    assert first < 0.2 and 0.45 <= second <= 2.0  # the second acquire waited ~0.5 s for 50 tokens


def test_budget_stops_before_a_request_that_would_exceed_it_and_keeps_finished_answers():
    prices = {"fake": Price(input_per_mtok=0, output_per_mtok=1_000_000)}  # one unit per output token
    cfg = ClientConfig(**FAST, max_in_flight=1, prices=prices, budget=100)
    with FakeEndpoint() as ep:
        async def go(client):
            out = []
            for i in range(10):
                try:
                    out.append(await client.chat(_msgs(i), max_tokens=40))
                except RequestFailed as e:
                    out.append(e)
            return out
        client, results = asyncio.run(_client_run(ep, cfg, go))
    done = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, RequestFailed)]
    led = client.ledger
    assert all(r.reason == "budget_exhausted" for r in refused)
    assert len(done) + len(refused) == 10 and done and refused
    assert results[: len(done)] == done  # it stops once, and stays stopped
    assert len(ep.entries()) == len(done) == led.requests
    assert led.spent <= 100
    assert led.spent + 40 > 100  # the refused request's estimate (40 output tokens) would have exceeded
    assert led.stopped_by_budget and led.budget_refused == len(refused)


def test_cost_per_model_follows_the_price_table():
    led = Ledger(prices={"big": Price(input_per_mtok=2.5, output_per_mtok=10), "*": Price(input_per_mtok=1)})
    led.record("big", 1000, 500)
    led.record("small", 2000, 100)
    assert led.by_model["big"].cost == pytest.approx(0.0025 + 0.005)
    assert led.by_model["small"].cost == pytest.approx(0.002)
    assert led.spent == pytest.approx(0.0095)
    assert led.to_dict()["by_model"]["big"]["requests"] == 1
    from synth.cli import _parse_price
    from synth.config import load_config

    model, price = _parse_price("gpt-4.1-mini=0.4,1.6")  # --price; a model name may contain dots
    cfg = load_config(None, {f"client.prices.{model}": price})
    assert cfg.client.prices == {"gpt-4.1-mini": Price(input_per_mtok=0.4, output_per_mtok=1.6)}


def test_bad_key_is_fatal_and_the_key_is_not_in_the_message():
    key = "sk-test-VERYSECRET-0123456789"
    with FakeEndpoint(script=lambda b, a: "401") as ep:
        async def go(client):
            return await client.chat(_msgs("x"), max_tokens=9)
        client = LLMClient(Endpoint(ep.base_url, "fake", "fake", api_key=key), ClientConfig(**FAST))

        async def run():
            try:
                await go(client)
            finally:
                await client.aclose()
        with pytest.raises(FatalEndpointError) as info:
            asyncio.run(run())
        assert ep.entries()[0].authorization == f"Bearer {key}"  # it was sent ...
    assert key not in str(info.value) and "***" in str(info.value)  # ... but never echoed
    assert len(ep.entries()) == 1  # and not retried


def test_public_url_drops_credentials_and_query():
    assert public_url("https://user:pw@api.example.com:8443/v1/?key=abc") == "https://api.example.com:8443/v1"


def test_answers_that_arrive_unreadable_are_booked_so_the_budget_is_a_true_ceiling():
    # Every answer is a 200 with a broken body: nothing is ever parsed, yet each may be billed.
    with FakeEndpoint(script=lambda body, attempt: "invalid_body") as ep:
        cfg = ClientConfig(**{**FAST, "max_retries": 50, "budget": 0.001,
                              "prices": {"fake": {"input_per_mtok": 10.0, "output_per_mtok": 10.0}}})

        async def go(client):
            return await asyncio.gather(*(client.chat(_msgs(str(i)), max_tokens=20) for i in range(4)),
                                        return_exceptions=True)
        client, results = asyncio.run(_client_run(ep, cfg, go))
        sent = len(ep.entries())
    led = client.ledger
    assert all(isinstance(r, RequestFailed) for r in results)
    assert led.requests == 0 and led.unread["bad_body"] == sent  # every answer the endpoint sent is booked
    assert led.stopped_by_budget and led.spent <= 0.001
    each = led.cost("fake", client.estimate_prompt_tokens(_msgs("0")), 20)
    assert led.spent == pytest.approx(sent * each)
    assert sent < 4 * 51  # the budget stopped the retries long before they ran out
