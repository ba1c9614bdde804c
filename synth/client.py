"""One async client for any OpenAI-compatible endpoint, with its own retry loop.

The openai SDK's ``AsyncOpenAI`` does the HTTP (``max_retries=0``: retries
are ours, so they are counted, logged, rate-limited and budgeted), through
its own ``post`` with the body built here, over several small connection
pools, and for plain-http endpoints over synth's lean keep-alive transport
(synth/transport.py): together ~3x less client CPU per request than
``chat.completions.create`` on one httpx pool. Around it:

- a persistent request cache (checked first; a hit costs nothing),
- identical requests in flight at once are sent once,
- an ``asyncio.Semaphore`` bounding requests in flight,
- the budget check (estimated cost reserved before sending),
- client-side request / token rate limits,
- retries with exponential backoff and jitter on 429, 5xx, connection
  errors, timeouts and malformed bodies, honouring ``Retry-After``,
- a per-request timeout,
- the ledger (tokens and cost per model) and the cache write as each answer
  arrives.

The API key only ever reaches the SDK. Every message synth prints or writes
about a request goes through :class:`Redactor` first.
"""
from __future__ import annotations

import asyncio
import email.utils
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import urlsplit, urlunsplit

from synth.cache import NullCache, RequestCache, cache_key
from synth.config import ClientConfig
from synth.ledger import Ledger
from synth.ratelimit import RateLimiter
from synth.structured import MODES, ResponseModes, names_response_format, response_format

JSON_HEADERS = {"Content-Type": "application/json"}
SHARD_CONNECTIONS = 8  # connections per httpx pool (see LLMClient.__init__)
RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529})
FATAL_STATUS = {401: "the endpoint refused the API key", 403: "the API key may not use this endpoint or model",
                404: "endpoint or model not found (check --base-url and --model)"}


class RequestFailed(Exception):
    """A request that produced no answer. ``reason`` is ``request_failed`` or ``budget_exhausted``."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class FatalEndpointError(Exception):
    """The endpoint refuses every request (bad key, unknown model): stop the run."""


class BadBody(Exception):
    """A 200 response whose body is not a chat completion."""


class FormatRefused(Exception):
    """The endpoint answered 400/422 naming ``response_format``: it does not take this mode."""


class Redactor:
    """Replaces every secret (the API key) in a text before it is shown or stored."""

    def __init__(self, secrets: list[str] | None = None):
        self.secrets = sorted({s for s in (secrets or []) if s and len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        from schemas.secrets import redact

        return redact(text, self.secrets)  # the key, plus credentials in URLs, headers and env


def public_url(url: str) -> str:
    """The URL without user:password or query string (which may carry keys)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))


@dataclass(frozen=True)
class Endpoint:
    """Where requests go. ``identity`` names it in cache keys (stable across runs, no secrets)."""

    base_url: str
    model: str
    identity: str
    api_key: str = field(repr=False, default="")
    embedded: bool = False
    sample_via_generation_config: bool = False

    def describe(self) -> dict[str, Any]:
        return {"base_url": public_url(self.base_url), "model": self.model, "identity": self.identity,
                "embedded": self.embedded}


@dataclass
class Answer:
    text: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    model: str
    cached: bool
    key: str
    mode: str = "none"  # the response_format mode the answer was asked with (synth.structured)
    refusal: str | None = None  # the endpoint's message.refusal (structured outputs)

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"


def parse_retry_after(headers: Any) -> float | None:
    """Seconds from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date), else None."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    ra = headers.get("retry-after")
    if not ra:
        return None
    try:
        return max(0.0, float(ra))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(ra)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _parse_body(content: bytes) -> dict[str, Any]:
    import orjson

    try:
        data = orjson.loads(content)
    except orjson.JSONDecodeError as e:
        raise BadBody(f"body is not JSON ({len(content)} bytes: {e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("choices"), list) or not data["choices"]:
        raise BadBody("body has no choices")
    choice = data["choices"][0]
    msg = choice.get("message") if isinstance(choice, dict) else None
    if not isinstance(msg, dict):
        raise BadBody("first choice has no message")
    return data


def use_lean_transport(base_url: str, choice: str) -> bool:
    """``auto``: the lean transport for plain http:// endpoints that no proxy setting applies to."""
    if choice != "auto":
        return choice == "lean"
    import urllib.request

    parts = urlsplit(base_url)
    if parts.scheme != "http" or not parts.hostname:
        return False
    proxies = urllib.request.getproxies()
    return not (proxies.get("http") or proxies.get("all")) or bool(urllib.request.proxy_bypass(parts.hostname))


def _sdk_httpx():
    """The HTTP library the installed openai SDK is built on (httpx, or its fork httpx2 in openai 3.x)."""
    import importlib

    import openai

    for cls in openai.DefaultAsyncHttpxClient.__mro__:
        top = cls.__module__.split(".")[0]
        if top.startswith("httpx"):
            return importlib.import_module(top)
    return importlib.import_module("httpx")


class LLMClient:
    """Send chat requests; see the module docstring for what happens around each one."""

    def __init__(self, endpoint: Endpoint, cfg: ClientConfig, *, cache: RequestCache | NullCache | None = None,
                 ledger: Ledger | None = None, timeout_s: float | None = None, max_in_flight: int | None = None,
                 log: Callable[[str], None] | None = None, on_update: Callable[[], None] | None = None,
                 redactor: Redactor | None = None, rng: random.Random | None = None,
                 modes: ResponseModes | None = None):
        import openai

        self.endpoint = endpoint
        self.cfg = cfg
        self.cache = cache if cache is not None else NullCache()
        self.ledger = ledger if ledger is not None else Ledger(prices=dict(cfg.prices), budget=cfg.budget)
        self.timeout_s = timeout_s or cfg.timeout_s
        self.max_in_flight = max_in_flight or cfg.max_in_flight
        self.redact = redactor or Redactor([endpoint.api_key])
        self.modes = modes if modes is not None else ResponseModes(cfg.response_format_mode)
        self._log = log
        self.on_update = on_update
        self.limiter = RateLimiter(cfg.requests_per_minute, cfg.tokens_per_minute, cfg.rate_burst_s)
        self._sem = asyncio.Semaphore(self.max_in_flight)
        self._pending: dict[str, asyncio.Future] = {}
        self._rng = rng or random.Random()
        self.in_flight = 0
        self._httpx = _sdk_httpx()
        # httpx's connection pool scans every connection on each request and response, so one pool
        # of 64 connections costs more CPU per request than the rest of the client together. Several
        # small pools (each request goes to the least busy one) keep that scan short.
        n = max(1, -(-self.max_in_flight // SHARD_CONNECTIONS))
        per = -(-self.max_in_flight // n)
        self._shards = []
        self.transport = "lean" if use_lean_transport(endpoint.base_url, cfg.http_transport) else "httpx"
        for _ in range(n):
            if self.transport == "lean":
                from synth.transport import make_lean_transport

                http = openai.DefaultAsyncHttpxClient(transport=make_lean_transport(self._httpx))
            else:
                http = openai.DefaultAsyncHttpxClient(limits=self._httpx.Limits(
                    max_connections=per + 4, max_keepalive_connections=per + 4))
            # Local servers want no key, but the SDK insists on one.
            self._shards.append(openai.AsyncOpenAI(base_url=endpoint.base_url,
                                                   api_key=endpoint.api_key or "not-needed", max_retries=0,
                                                   timeout=self.timeout_s, http_client=http))
        self._shard_load = [0] * n

    # ------------------------------------------------------------------ helpers

    def log(self, message: str) -> None:
        if self._log is not None:
            self._log(self.redact(message))

    def estimate_prompt_tokens(self, messages: list[dict]) -> int:
        chars = sum(len(str(m.get("content") or "")) for m in messages)
        return int(chars / self.cfg.chars_per_token) + 4 * len(messages) + 3

    def build_body(self, messages: list[dict], *, model: str | None, temperature: float, max_tokens: int,
                   seed: int | None, json_mode: bool, schema: type | None = None,
                   mode: str | None = None) -> dict[str, Any]:
        """The exact JSON body sent (and stored with the cached answer). ``schema`` (a pydantic model)
        with ``mode`` sets ``response_format`` (synth.structured); ``json_mode`` alone asks for json_object."""
        body: dict[str, Any] = {"model": model or self.endpoint.model, "messages": messages,
                                "temperature": temperature, self.cfg.max_tokens_param: max_tokens}
        if seed is not None and self.cfg.send_seed:
            body["seed"] = seed
        if schema is not None:
            rf = response_format(mode or "none", schema)
            if rf is not None:
                body["response_format"] = rf
        elif json_mode and self.cfg.json_mode:
            body["response_format"] = {"type": "json_object"}
        extra = dict(self.cfg.extra_body)
        if self.endpoint.sample_via_generation_config and temperature > 0 and "generation_config" not in extra:
            extra["generation_config"] = '{"do_sample": true}'
        body.update(extra)
        return body

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            # Honour the server, plus a little jitter so a crowd does not return at the same instant.
            return min(retry_after, self.cfg.max_retry_after_s) + self._rng.uniform(0, 0.1)
        cap = min(self.cfg.backoff_max_s, self.cfg.backoff_base_s * (2 ** attempt))
        return self._rng.uniform(cap / 2, cap)  # "equal jitter": at least half the exponential step

    def _notify(self) -> None:
        if self.on_update is not None:
            self.on_update()

    # ------------------------------------------------------------------ the request

    async def chat(self, messages: list[dict], *, model: str | None = None, temperature: float = 0.0,
                   max_tokens: int = 256, seed: int | None = None, json_mode: bool = False,
                   schema: type | None = None) -> Answer:
        """One chat completion: from the cache if stored, else from the endpoint (with retries).

        With ``schema`` (the pydantic model the reply must fit) the request
        carries the ``response_format`` of the model's current mode, and a
        400 naming the field sends it again one mode down (synth.structured).

        Raises :class:`RequestFailed` (retries exhausted, a non-retryable
        status, or the budget) and :class:`FatalEndpointError` (401/403/404).
        """
        model_name = model or self.endpoint.model
        while True:
            mode = self.modes.mode(model_name) if schema is not None else "none"
            try:
                answer = await self._chat(messages, model=model, temperature=temperature, max_tokens=max_tokens,
                                          seed=seed, json_mode=json_mode, schema=schema, mode=mode)
            except FormatRefused as e:
                if not self.modes.step_down(model_name, mode, str(e)):
                    self.ledger.failures += 1
                    raise RequestFailed("request_failed", self.redact(str(e))) from None
                self.log(f"{model_name}: the endpoint refuses response_format {mode}; now "
                         f"{self.modes.mode(model_name)} ({e})")
                continue
            if schema is not None:
                self.modes.note_used(model_name, answer.mode)
            return answer

    async def _chat(self, messages: list[dict], *, model: str | None, temperature: float, max_tokens: int,
                    seed: int | None, json_mode: bool, schema: type | None, mode: str) -> Answer:
        body = self.build_body(messages, model=model, temperature=temperature, max_tokens=max_tokens,
                               seed=seed, json_mode=json_mode, schema=schema, mode=mode)
        model_name = body["model"]
        params = {k: v for k, v in body.items() if k not in ("model", "messages")}
        key = cache_key(self.endpoint.identity, self.ledger_name(model_name), messages, params)
        # An answer stored under another response_format mode (an earlier run that had stepped down,
        # or not yet) answers this request too: a re-run never pays twice for it.
        keys = [(key, mode)]
        if schema is not None:
            for other in MODES:
                if other != mode:
                    alt = self.build_body(messages, model=model, temperature=temperature, max_tokens=max_tokens,
                                          seed=seed, json_mode=json_mode, schema=schema, mode=other)
                    keys.append((cache_key(self.endpoint.identity, self.ledger_name(model_name), messages,
                                           {k: v for k, v in alt.items() if k not in ("model", "messages")}), other))
        for k, m in keys:
            hit = self.cache.get(k)
            if hit is not None:
                self.ledger.record_hit(self.ledger_name(model_name), hit["prompt_tokens"], hit["completion_tokens"])
                self._notify()
                return self._answer(hit, k, cached=True, mode=m)
        pending = self._pending.get(key)
        if pending is not None:  # the same request is already in flight: share its answer
            return await asyncio.shield(pending)
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        self._pending[key] = fut
        try:
            answer = await self._send(body, key, model_name)
            answer.mode = mode
        except BaseException as e:
            if not fut.done():
                fut.set_exception(e)
                fut.exception()  # mark retrieved: nobody else may be waiting
            raise
        else:
            fut.set_result(answer)
            return answer
        finally:
            self._pending.pop(key, None)

    def ledger_name(self, model_name: str) -> str:
        """The embedded model is booked under its stable identity, not a local folder path."""
        if self.endpoint.embedded and model_name == self.endpoint.model:
            return self.endpoint.identity
        return model_name

    @staticmethod
    def _answer(stored: dict[str, Any], key: str, cached: bool, mode: str = "none") -> Answer:
        return Answer(text=stored["text"], finish_reason=stored.get("finish_reason"),
                      prompt_tokens=stored["prompt_tokens"], completion_tokens=stored["completion_tokens"],
                      model=stored.get("model") or "", cached=cached, key=key, mode=mode,
                      refusal=stored.get("refusal"))

    async def _send(self, body: dict[str, Any], key: str, model_name: str) -> Answer:
        import openai

        messages = body["messages"]
        est_prompt = self.estimate_prompt_tokens(messages)
        import orjson

        # Serialised once: the SDK deep-copies its request options on every attempt, bytes copy for free.
        payload = orjson.dumps(body)
        max_out = int(body[self.cfg.max_tokens_param])
        est_tokens = est_prompt + max_out
        async with self._sem:
            estimate = self.ledger.cost(self.ledger_name(model_name), est_prompt, max_out)
            if not self.ledger.try_reserve(estimate):
                raise RequestFailed("budget_exhausted",
                                    f"budget {self.ledger.budget} reached (spent {self.ledger.spent:.6f}, "
                                    f"next request estimated {estimate:.6f})")
            self.in_flight += 1
            try:
                attempt = 0
                while True:
                    await self.limiter.acquire(est_tokens)
                    retry_after = None
                    try:
                        # The SDK's own POST (auth, headers, status errors -> exceptions) with the body as
                        # built here: create() would re-validate every message through its TypedDict
                        # transform, a third of the client's CPU per request at high concurrency.
                        shard = min(range(len(self._shards)), key=self._shard_load.__getitem__)
                        self._shard_load[shard] += 1
                        try:
                            resp = await self._shards[shard].post(
                                "/chat/completions", cast_to=self._httpx.Response, content=payload,
                                options={"timeout": self.timeout_s, "headers": JSON_HEADERS})
                        finally:
                            self._shard_load[shard] -= 1
                        data = _parse_body(resp.content)
                    except openai.APIStatusError as e:
                        status = e.status_code
                        if status in FATAL_STATUS:
                            raise FatalEndpointError(self.redact(
                                f"HTTP {status} from {public_url(self.endpoint.base_url)}: {FATAL_STATUS[status]} "
                                f"({str(e.message)[:200]})")) from None
                        if "response_format" in body and names_response_format(status, str(e.message)):
                            self.ledger.errors[f"http_{status}_response_format"] += 1
                            raise FormatRefused(self.redact(f"HTTP {status}: {str(e.message)[:200]}")) from None
                        if status not in RETRYABLE_STATUS and status < 500:
                            self.ledger.errors[f"http_{status}"] += 1
                            self.ledger.failures += 1
                            raise RequestFailed("request_failed", self.redact(
                                f"HTTP {status} (not retryable): {str(e.message)[:200]}")) from None
                        kind = f"http_{status}"
                        retry_after = parse_retry_after(e.response.headers)
                    except openai.APITimeoutError:
                        kind = "timeout"
                        self._book_unread(kind, model_name, est_prompt, max_out)
                    except (openai.APIConnectionError, self._httpx.TransportError) as e:
                        kind = "connection"
                        if _cut_off_answer(e):
                            self._book_unread("cut_off", model_name, est_prompt, max_out)
                    except BadBody as e:
                        kind = "bad_body"
                        self.log(f"malformed response body: {e}")
                        self._book_unread(kind, model_name, est_prompt, max_out)
                    else:
                        return self._store(data, body, key, model_name, est_prompt, est_tokens)
                    self.ledger.errors[kind] += 1
                    if attempt < self.cfg.max_retries and not self.ledger.retry_allowed():
                        self.ledger.failures += 1
                        raise RequestFailed("budget_exhausted", f"budget {self.ledger.budget} reached after "
                                            f"{attempt + 1} attempts (last: {kind}); not retried")
                    if attempt >= self.cfg.max_retries:
                        self.ledger.failures += 1
                        self._notify()
                        raise RequestFailed("request_failed",
                                            f"no answer after {attempt + 1} attempts (last: {kind})")
                    delay = self._backoff(attempt, retry_after)
                    self.ledger.retries += 1
                    why = f"Retry-After {retry_after:g}s" if retry_after is not None else "backoff"
                    self.log(f"retry {attempt + 1}/{self.cfg.max_retries} after {kind} in {delay:.2f}s ({why})")
                    self._notify()
                    await asyncio.sleep(delay)
                    attempt += 1
            finally:
                self.in_flight -= 1
                self.ledger.release(estimate)

    def _book_unread(self, kind: str, model_name: str, est_prompt: int, max_out: int) -> None:
        """The endpoint may have produced (and billed) an answer we could not read: book an estimate."""
        self.ledger.record_unread(self.ledger_name(model_name), est_prompt, max_out, kind)

    def _store(self, data: dict[str, Any], body: dict[str, Any], key: str, model_name: str,
               est_prompt: int, est_tokens: int) -> Answer:
        choice = data["choices"][0]
        text = choice["message"].get("content") or ""
        if not isinstance(text, str):
            text = str(text)
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else None
        estimated = not (usage and isinstance(usage.get("prompt_tokens"), int)
                         and isinstance(usage.get("completion_tokens"), int))
        if estimated:
            pt, ct = est_prompt, max(1, int(len(text) / self.cfg.chars_per_token))
        else:
            pt, ct = usage["prompt_tokens"], usage["completion_tokens"]
        stored = {"text": text, "finish_reason": choice.get("finish_reason"), "prompt_tokens": pt,
                  "completion_tokens": ct, "model": str(data.get("model") or model_name),
                  "usage_estimated": estimated}
        refusal = choice["message"].get("refusal")
        if refusal:
            stored["refusal"] = str(refusal)
        # Store first, then count: a kill between the two leaves a free answer, never a lost one.
        self.cache.put(key, self.endpoint.identity, model_name, body, stored)
        self.ledger.record(self.ledger_name(model_name), pt, ct, estimated)
        self.limiter.refund_tokens(est_tokens, pt + ct)
        self._notify()
        return self._answer(stored, key, cached=False)

    async def aclose(self) -> None:
        for oa in self._shards:
            await oa.close()


def _cut_off_answer(e: BaseException) -> bool:
    """True when a connection error came after the request was sent (the answer was cut off),
    not before (refused, DNS): only then may the endpoint have produced and billed an answer."""
    seen = 0
    while e is not None and seen < 8:
        name = type(e).__name__
        if "without a response" in str(e):
            return False
        if name in ("RemoteProtocolError", "ReadError", "IncompleteRead", "ReadTimeout") or "cut off" in str(e):
            return True
        if name in ("ConnectError", "ConnectTimeout", "gaierror", "ConnectionRefusedError"):
            return False
        e, seen = e.__cause__ or e.__context__, seen + 1
    return False


async def gather_all(client: LLMClient, coros: list) -> list:
    """Run ``coros`` concurrently; on a fatal endpoint error cancel the rest and re-raise.
    The client is closed in every case."""
    try:
        tasks = [asyncio.create_task(c) for c in coros]
        try:
            return list(await asyncio.gather(*tasks))
        except FatalEndpointError:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
    finally:
        await client.aclose()
