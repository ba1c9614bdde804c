"""A local OpenAI-compatible test endpoint that injects faults on purpose.

Tests and the client benchmark point synth at it instead of a real model.
It is a small HTTP/1.1 server on asyncio (stdlib only, keep-alive) so that it
can misbehave in ways a framework would smooth over: a ``Content-Length``
longer than the body it sends, a body that is not JSON, a reply that never
comes. Every request is logged with the outcome it was given and the usage
it reported, so a test can compare the client's ledger and cache with what
the endpoint actually answered.

What each request gets is decided by ``script(body, attempt)``, where
``attempt`` counts earlier requests with the same identity (model, messages,
sampling parameters): a fault schedule keyed on content, not on arrival
order, gives the same outcomes however many requests are in flight.

Run alone (for the benchmark, or to poke at synth by hand)::

    python -m synth.fake_endpoint --port 0 --latency 0.2
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

OK = "ok"
FAULTS = ("ok", "429", "429_retry_after", "500", "hang", "invalid_body", "truncated", "garbage", "401", "refusal")
REFUSAL = "I'm sorry, I can't help with that request."
# What the endpoint does with response_format: "ignore" it (accept and not enforce), or support only the
# modes up to the named one and answer 400 naming the field for the rest (like servers that refuse it).
FORMAT_SUPPORT = ("ignore", "json_schema", "json_object", "none")
IDENTITY_KEYS = ("model", "messages", "temperature", "max_tokens", "seed", "top_p")

Script = Callable[[dict, int], str]
Responder = Callable[[dict], str]


def request_identity(body: dict) -> str:
    """Hash of what makes two requests the same question (model, messages, sampling parameters)."""
    ident = {k: body.get(k) for k in IDENTITY_KEYS}
    return hashlib.sha256(json.dumps(ident, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def approx_tokens(text: str) -> int:
    """The fake's own token count: one token per 4 characters, at least 1."""
    return max(1, len(text) // 4)


def _last_user(body: dict) -> str:
    for m in reversed(body.get("messages") or []):
        if m.get("role") == "user":
            return str(m.get("content") or "")
    return ""


def _digest(body: dict) -> int:
    return int(request_identity(body)[:12], 16)


_OPENERS = ["Thanks for reaching out about this.", "Good question, and it happens more often than you think.",
            "I can help with that right away.", "Here is what usually fixes it.", "Let us sort this out together."]
_STEPS = ["open the Settings page and choose Account", "sign out on every device and sign in again",
          "check the spam or junk folder of your mailbox", "clear the browser cache and reload the page",
          "look up the order number in the confirmation email", "wait ten minutes before you try again",
          "compare the billing address with the one on your card", "update the app from the store",
          "restart the router and test the connection again", "write down the exact error message"]
_CLOSERS = ["If that does not help, reply with a screenshot and we will look deeper.",
            "Most customers are back on track after these steps.", "Let me know how it goes.",
            "I will keep this ticket open until it works for you."]


def support_text(seed: int, topic: str = "") -> str:
    """A deterministic, plausible support answer; different seeds give clearly different texts."""
    steps = [_STEPS[(seed >> (4 * i)) % len(_STEPS)] for i in range(3)]
    words = " ".join(f"step {i + 1}: {s}." for i, s in enumerate(dict.fromkeys(steps)))
    about = f" about {topic}" if topic else ""
    return (f"{_OPENERS[seed % len(_OPENERS)]} For your question{about} (case {seed % 100000}), "
            f"{words} {_CLOSERS[(seed >> 20) % len(_CLOSERS)]}")


def default_responder(body: dict) -> str:
    """Valid output for synth's own prompts, told apart by the JSON template they ask for.

    Question, answer and rubric-judge prompts get a JSON object with the asked
    fields; pairwise judge prompts get scores that favour the longer answer;
    anything else gets a plain support text. Content depends only on the
    request, so re-asking gives the same answer.
    """
    text = _last_user(body)
    seed = _digest(body)
    topic = ""
    m = re.search(r"Topic: ([^\n.]+)", text)
    if m:
        topic = m.group(1).strip()
    if '"score_a"' in text:
        a = re.search(r"Answer A:\n(.*?)\n\nAnswer B:", text, re.S)
        b = re.search(r"Answer B:\n(.*?)\n\n", text, re.S)
        la, lb = len(a.group(1)) if a else 0, len(b.group(1)) if b else 0
        sa, sb = (8, 4) if la > lb else (4, 8) if lb > la else (6, 6)
        return json.dumps({"score_a": sa, "score_b": sb, "rationale": "The longer answer gives concrete steps."})
    if '"correctness"' in text:
        return json.dumps({"correctness": 4, "helpfulness": 4, "format": 5,
                           "rationale": "Accurate and actionable steps."})
    if '"question"' in text:
        return json.dumps({"question": f"How do I fix a problem with {topic or 'my account'}? "
                                       f"It started this morning (ref {seed % 100000})."})
    if '"answer"' in text:
        return json.dumps({"answer": support_text(seed, topic)})
    return support_text(seed, topic)


@dataclass
class LogEntry:
    """One request the endpoint received and what it did with it."""

    n: int
    identity: str
    attempt: int
    outcome: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    authorization: str = ""
    t_start: float = 0.0
    t_end: float = 0.0

    @property
    def answered(self) -> bool:
        """A complete, well-formed completion reached the client (its content may still be junk)."""
        return self.outcome in (OK, "garbage", "refusal")


def always_ok(body: dict, attempt: int) -> str:
    return OK


@dataclass
class FakeEndpoint:
    """The server. ``start()`` runs it in a background thread; use as a context manager."""

    script: Script = always_ok
    responder: Responder = default_responder
    latency: float = 0.0
    hang_s: float = 30.0
    retry_after: str = "1"
    host: str = "127.0.0.1"
    port: int = 0
    log_authorization: bool = True
    chunked: bool = False  # send 200 answers with Transfer-Encoding: chunked (as some servers do)
    response_format_support: str = "ignore"  # see FORMAT_SUPPORT
    on_answer: Callable[[LogEntry], None] | None = None
    log: list[LogEntry] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._attempts: dict[str, int] = {}
        self._bodies: list[dict] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._writers: set[asyncio.StreamWriter] = set()
        self.concurrent = 0
        self.max_concurrent = 0

    # ------------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def start(self) -> "FakeEndpoint":
        self._thread = threading.Thread(target=self._run, name="fake-endpoint", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake endpoint did not start")
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        loop = self._loop

        async def _shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for w in list(self._writers):
                w.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            loop.stop()

        asyncio.run_coroutine_threadsafe(_shutdown(), loop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop = None

    def __enter__(self) -> "FakeEndpoint":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        self._server = loop.run_until_complete(asyncio.start_server(self._handle, self.host, self.port, backlog=1024))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def serve_forever(self) -> None:
        """Run in the caller's event loop (the command-line mode)."""
        self._loop = asyncio.get_running_loop()
        self._server = await asyncio.start_server(self._handle, self.host, self.port, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        async with self._server:
            await self._server.serve_forever()

    # ------------------------------------------------------------------ queries

    def entries(self) -> list[LogEntry]:
        with self._lock:
            return list(self.log)

    def answered(self) -> list[LogEntry]:
        return [e for e in self.entries() if e.answered]

    def outcomes(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for e in self.entries():
            out[e.outcome] = out.get(e.outcome, 0) + 1
        return out

    # ------------------------------------------------------------------ HTTP

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = (lines[0].split(" ") + ["", ""])[:3]
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                n = int(headers.get("content-length") or 0)
                raw = await reader.readexactly(n) if n else b""
                keep = await self._respond(method, path, headers, raw, writer)
                if not keep or headers.get("connection", "").lower() == "close":
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:  # shutdown: end quietly (the server is going away anyway)
            pass
        finally:
            self._writers.discard(writer)
            try:
                writer.close()
            except Exception:  # pragma: no cover - already gone
                pass

    @staticmethod
    def _write(writer: asyncio.StreamWriter, status: str, body: bytes, extra: dict[str, str] | None = None,
               content_length: int | None = None) -> None:
        hdrs = {"content-type": "application/json", "content-length": str(len(body) if content_length is None
                                                                          else content_length)}
        hdrs.update(extra or {})
        head = f"HTTP/1.1 {status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
        writer.write(head.encode("latin-1") + body)

    async def _respond(self, method: str, path: str, headers: dict, raw: bytes,
                       writer: asyncio.StreamWriter) -> bool:
        if method == "GET" and path.rstrip("/").endswith("/health"):
            self._write(writer, "200 OK", b'{"status":"ok"}')
            await writer.drain()
            return True
        if method == "GET" and path.rstrip("/").endswith("/models"):
            self._write(writer, "200 OK", b'{"object":"list","data":[]}')
            await writer.drain()
            return True
        if not (method == "POST" and path.rstrip("/").endswith("/chat/completions")):
            self._write(writer, "404 Not Found", b'{"error":{"message":"not found"}}')
            await writer.drain()
            return True
        t0 = time.monotonic()
        body = json.loads(raw)
        with self._lock:
            self._bodies.append(body)
        refused = self._refuses_format(body.get("response_format"))
        if refused:
            with self._lock:
                self.log.append(LogEntry(n=len(self.log), identity=request_identity(body), attempt=-1,
                                         outcome="400_response_format", model=str(body.get("model")), t_start=t0,
                                         t_end=time.monotonic()))
            msg = json.dumps({"error": {"message": refused, "type": "invalid_request_error",
                                        "param": "response_format", "code": None}})
            self._write(writer, "400 Bad Request", msg.encode())
            await writer.drain()
            return True
        ident = request_identity(body)
        with self._lock:
            attempt = self._attempts.get(ident, 0)
            self._attempts[ident] = attempt + 1
            entry = LogEntry(n=len(self.log), identity=ident, attempt=attempt, outcome="?",
                             model=str(body.get("model")), t_start=t0,
                             authorization=headers.get("authorization", "") if self.log_authorization else "")
            self.log.append(entry)
        outcome = self.script(body, attempt)
        entry.outcome = outcome
        self.concurrent += 1
        self.max_concurrent = max(self.max_concurrent, self.concurrent)
        try:
            return await self._answer(outcome, body, entry, headers, writer)
        finally:
            self.concurrent -= 1

    def _refuses_format(self, rf: object) -> str:
        """The 400 message for a response_format this endpoint does not take ('' when it takes it)."""
        if rf is None or self.response_format_support == "ignore":
            return ""
        kind = rf.get("type") if isinstance(rf, dict) else None
        ok = {"json_schema": ("json_schema", "json_object", "text"), "json_object": ("json_object", "text"),
              "none": ()}[self.response_format_support]
        if kind in ok:
            return ""
        if self.response_format_support == "none":
            return "Unrecognized request argument supplied: response_format"
        return f"Invalid value for 'response_format.type': {kind!r} is not supported"

    def format_requests(self) -> dict[str, int]:
        """How many requests carried each response_format type (or none), refused ones included."""
        out: dict[str, int] = {}
        for b in self.bodies():
            rf = b.get("response_format")
            k = rf.get("type", "?") if isinstance(rf, dict) else "none"
            out[k] = out.get(k, 0) + 1
        return out

    def bodies(self) -> list[dict]:
        with self._lock:
            return list(self._bodies)

    async def _answer(self, outcome: str, body: dict, entry: LogEntry, headers: dict,
                      writer: asyncio.StreamWriter) -> bool:
        if self.latency:
            await asyncio.sleep(self.latency)
        keep = True
        if outcome == "hang":
            await asyncio.sleep(self.hang_s)
            keep = False
        elif outcome in ("429", "429_retry_after"):
            extra = {"retry-after": self.retry_after} if outcome == "429_retry_after" else {}
            self._write(writer, "429 Too Many Requests",
                        b'{"error":{"message":"rate limited","type":"rate_limit_error"}}', extra)
        elif outcome == "500":
            self._write(writer, "500 Internal Server Error", b'{"error":{"message":"boom","type":"server_error"}}')
        elif outcome == "401":
            # Some providers echo (part of) the key in the message: the client must not pass it on.
            key = headers.get("authorization", "").removeprefix("Bearer ")
            msg = json.dumps({"error": {"message": f"Incorrect API key provided: {key}", "type": "invalid_request_error"}})
            self._write(writer, "401 Unauthorized", msg.encode())
        elif outcome == "invalid_body":
            self._write(writer, "200 OK", b'{"id": "chatcmpl-x", "choices": [{"message": {"content": "oops')
        else:
            content = "Sure! I think the best reply is to be kind." if outcome == "garbage" else self.responder(body)
            if outcome == "refusal":
                content = ""
            finish = "stop"
            limit = body.get("max_tokens")
            if isinstance(limit, int) and approx_tokens(content) > limit:  # like a real server: cut at max_tokens
                content, finish = content[: 4 * limit], "length"
            prompt = "".join(str(m.get("content") or "") for m in body.get("messages") or [])
            entry.prompt_tokens, entry.completion_tokens = approx_tokens(prompt), approx_tokens(content)
            doc = {
                "id": f"chatcmpl-{entry.n}", "object": "chat.completion", "created": int(time.time()),
                "model": str(body.get("model")),
                "choices": [{"index": 0, "finish_reason": finish,
                             "message": {"role": "assistant", "content": content or None,
                                         "refusal": REFUSAL if outcome == "refusal" else None}}],
                "usage": {"prompt_tokens": entry.prompt_tokens, "completion_tokens": entry.completion_tokens,
                          "total_tokens": entry.prompt_tokens + entry.completion_tokens},
            }
            payload = json.dumps(doc).encode()
            if outcome == "truncated":
                entry.prompt_tokens = entry.completion_tokens = 0
                self._write(writer, "200 OK", payload[: len(payload) // 2], content_length=len(payload))
                keep = False
            elif self.chunked:
                half = len(payload) // 2
                chunks = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in (payload[:half], payload[half:])) + b"0\r\n\r\n"
                head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
                writer.write(head.encode("latin-1") + chunks)
            else:
                self._write(writer, "200 OK", payload)
        try:
            await writer.drain()
        except ConnectionError:
            keep = False
        entry.t_end = time.monotonic()
        if entry.answered and self.on_answer is not None:
            self.on_answer(entry)
        return keep


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m synth.fake_endpoint",
                                     description="Local OpenAI-compatible endpoint with fixed latency (for tests and benchmarks).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before every answer")
    args = parser.parse_args(argv)
    ep = FakeEndpoint(latency=args.latency, host=args.host, port=args.port, log_authorization=False)

    async def run() -> None:
        task = asyncio.create_task(ep.serve_forever())
        while not ep._ready.is_set():
            await asyncio.sleep(0.01)
        print(f"listening {ep.base_url}", flush=True)
        await task

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
