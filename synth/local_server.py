"""curatekit's embedded OpenAI-compatible server: transformers + llguidance grammar-constrained decoding.

``transformers serve`` refuses ``response_format``, so a schema cannot reach
it, and the 135M model alone writes broken JSON often. This server is the
embedded default instead: the same loopback OpenAI-compatible endpoint (so
the client code path is the one a real endpoint gets), and every request
with ``response_format`` ``json_schema`` (or ``json_object``) is decoded
under a grammar compiled from the schema by llguidance (Microsoft's Rust
constrained-decoding engine, the one vLLM, SGLang and llama.cpp use): at
each step only tokens that keep the output a valid prefix of a
schema-valid document may be sampled.

llguidance was chosen over xgrammar (its wheel pulls triton and
apache-tvm-ffi, hundreds of MB), outlines (a framework with its own model
wrappers) and lm-format-enforcer (Python-speed masks): a 3 MB MIT wheel
with no dependencies, masks in microseconds on CPU.

One more guarantee: a reply that reaches ``max_tokens`` inside the JSON is
closed, not cut: decoding goes on for at most ``CLOSE_TOKENS`` more tokens
with tokens that end a string or object favoured, so the document still
parses and validates; ``finish_reason`` stays ``length`` and the usage
counts every token. So for a schema it was given, this server never
returns invalid JSON.

Endpoints: ``GET /health`` (200 once the model is loaded), ``GET
/v1/models``, ``POST /v1/chat/completions`` (model, messages, temperature,
top_p, max_tokens / max_completion_tokens, seed, stop, frequency_penalty,
presence_penalty, response_format). One generation at a time (CPU).

    python -m synth.local_server MODEL_DIR --port 8000 [--threads 1]
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

CLOSE_TOKENS = 64
CLOSE_BIAS = 30.0
# Compact JSON like the prompts' worked examples; no free whitespace (a small model loops on newlines).
JSON_OPTIONS = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": ", "lenient": True}


class BadRequest(ValueError):
    """A request the server refuses with HTTP 400 (the message names the field)."""


@dataclass
class Completion:
    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    constrained: bool
    closed: bool = False  # the JSON was closed after max_tokens


def grammar_for(response_format: Any) -> str | None:
    """The llguidance grammar of a ``response_format`` (None: unconstrained). Raises :class:`BadRequest`."""
    from llguidance import LLMatcher

    if response_format is None:
        return None
    if not isinstance(response_format, dict):
        raise BadRequest("response_format must be an object")
    kind = response_format.get("type")
    if kind in (None, "text"):
        return None
    if kind == "json_object":
        schema: Any = {"type": "object"}
    elif kind == "json_schema":
        spec = response_format.get("json_schema")
        if not isinstance(spec, dict) or not isinstance(spec.get("schema"), dict):
            raise BadRequest("response_format.json_schema.schema must be a JSON schema object")
        schema = spec["schema"]
    else:
        raise BadRequest(f"response_format.type {kind!r} is not supported (text, json_object, json_schema)")
    try:
        grammar = LLMatcher.grammar_from_json_schema(schema, overrides=JSON_OPTIONS)
    except ValueError as e:
        raise BadRequest(f"response_format.json_schema.schema: {e}") from None
    err = LLMatcher.validate_grammar(grammar)
    if err and not err.startswith("WARNING"):
        raise BadRequest(f"response_format.json_schema.schema: {err[:300]}")
    return grammar


class LocalModel:
    """A causal LM on CPU with its tokenizer and llguidance's view of the vocabulary."""

    def __init__(self, model_dir: str | Path, threads: int = 1):
        import llguidance.hf
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        torch.set_num_threads(threads)
        self.torch = torch
        self.model_dir = Path(model_dir)
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_dir)
        self.model = AutoModelForCausalLM.from_pretrained(self.model_dir, dtype=torch.float32).eval()
        self.vocab = int(self.model.config.vocab_size)
        stop = {self.tokenizer.eos_token_id, *(self.model.generation_config.eos_token_id or [])} \
            if isinstance(self.model.generation_config.eos_token_id, list) else \
            {self.tokenizer.eos_token_id, self.model.generation_config.eos_token_id}
        self.stop_ids = {int(t) for t in stop if t is not None}
        self.ll_tokenizer = llguidance.hf.from_tokenizer(self.tokenizer, n_vocab=self.vocab)
        # Tokens that end a string, object or array: favoured when a reply must be closed after max_tokens.
        closing = [i for i in range(len(self.tokenizer))
                   if any(c in self.tokenizer.decode([i]) for c in '"}]')]
        self.closing = torch.zeros(self.vocab)
        self.closing[[i for i in closing if i < self.vocab]] = CLOSE_BIAS

    def _mask(self, matcher) -> Any:
        """Boolean tensor of the tokens the grammar allows next."""
        import numpy as np

        bits = np.frombuffer(matcher.compute_bitmask(), dtype=np.uint8)
        allowed = np.unpackbits(bits, bitorder="little")[: self.vocab].astype(bool)
        return self.torch.from_numpy(allowed)

    def complete(self, messages: list[dict], *, max_tokens: int, temperature: float = 0.0, top_p: float = 1.0,
                 seed: int | None = None, grammar: str | None = None, stop: list[str] | None = None,
                 frequency_penalty: float = 0.0, presence_penalty: float = 0.0) -> Completion:
        torch = self.torch
        from llguidance import LLMatcher

        enc = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        prompt = list(enc["input_ids"] if hasattr(enc, "keys") else enc)
        matcher = LLMatcher(self.ll_tokenizer, grammar, log_level=0) if grammar else None
        if matcher is not None and matcher.is_error():
            raise BadRequest(f"response_format: {matcher.get_error()[:300]}")
        gen = torch.Generator().manual_seed(int(seed) if seed is not None else 0)
        counts = torch.zeros(self.vocab)
        out: list[int] = []
        past = None
        step_input = torch.tensor([prompt])
        finish = "length"
        closed = False
        limit = max_tokens
        while len(out) < limit:
            with torch.no_grad():
                o = self.model(input_ids=step_input, cache=past, use_cache=True)
            past = o.cache
            logits = o.logits[0, -1, : self.vocab].float()
            if frequency_penalty or presence_penalty:
                logits = logits - frequency_penalty * counts - presence_penalty * (counts > 0).float()
            closing_now = len(out) >= max_tokens
            if matcher is not None:
                allowed = self._mask(matcher)
                if closing_now:
                    logits = logits + self.closing
                logits = logits.masked_fill(~allowed, float("-inf"))
            if temperature > 0 and not closing_now:
                probs = torch.softmax(logits / temperature, dim=-1)
                if top_p < 1.0:
                    sp, si = torch.sort(probs, descending=True)
                    keep = torch.cumsum(sp, 0) - sp < top_p
                    probs = torch.zeros_like(probs).scatter(0, si[keep], sp[keep])
                token = int(torch.multinomial(probs, 1, generator=gen))
            else:
                token = int(torch.argmax(logits))
            if token in self.stop_ids:
                finish = "stop" if not closing_now else "length"
                break
            if matcher is not None and not matcher.consume_token(token):
                break  # cannot happen with a masked choice; end rather than emit past the grammar
            out.append(token)
            counts[token] += 1
            step_input = torch.tensor([[token]])
            if matcher is not None and matcher.is_stopped():
                finish = "stop" if not closing_now else "length"
                break
            if stop and not closing_now:
                text = self.tokenizer.decode(out, skip_special_tokens=True)
                if any(s and s in text for s in stop):
                    finish = "stop"
                    break
            if len(out) == limit and matcher is not None and not matcher.is_accepting() and limit == max_tokens:
                limit = max_tokens + CLOSE_TOKENS  # close the JSON instead of cutting it
                closed = True
        text = self.tokenizer.decode(out, skip_special_tokens=True)
        if stop and finish == "stop" and matcher is None:
            cut = min((text.find(s) for s in stop if s and s in text), default=-1)
            if cut >= 0:
                text = text[:cut]
        return Completion(text, finish, len(prompt), len(out), matcher is not None, closed)


def _number(body: dict, key: str, default: float, lo: float, hi: float) -> float:
    v = body.get(key, default)
    if v is None:
        return default
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not lo <= v <= hi:
        raise BadRequest(f"{key} must be a number in [{lo:g}, {hi:g}]")
    return float(v)


def chat_completion(model: LocalModel, name: str, body: Any, lock: threading.Lock) -> dict:
    """One ``/v1/chat/completions`` request -> the response document. Raises :class:`BadRequest`."""
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs or not all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
            for m in msgs):
        raise BadRequest("messages must be a non-empty list of {role, content} objects with string content")
    if body.get("stream"):
        raise BadRequest("stream is not supported")
    if body.get("n") not in (None, 1):
        raise BadRequest("n must be 1")
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens", 256))
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or not 1 <= max_tokens <= 8192:
        raise BadRequest("max_tokens must be an integer in [1, 8192]")
    seed = body.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise BadRequest("seed must be an integer")
    stop = body.get("stop")
    stop = [stop] if isinstance(stop, str) else stop
    if stop is not None and not (isinstance(stop, list) and all(isinstance(s, str) for s in stop)):
        raise BadRequest("stop must be a string or a list of strings")
    grammar = grammar_for(body.get("response_format"))
    kwargs = dict(max_tokens=max_tokens, temperature=_number(body, "temperature", 1.0, 0, 2),
                  top_p=_number(body, "top_p", 1.0, 0, 1), seed=seed, grammar=grammar, stop=stop,
                  frequency_penalty=_number(body, "frequency_penalty", 0.0, -2, 2),
                  presence_penalty=_number(body, "presence_penalty", 0.0, -2, 2))
    messages = [{"role": m["role"], "content": m["content"]} for m in msgs]
    with lock:
        c = model.complete(messages, **kwargs)
    return {"id": f"chatcmpl-{time.monotonic_ns():x}", "object": "chat.completion", "created": int(time.time()),
            "model": name,
            "choices": [{"index": 0, "finish_reason": c.finish_reason,
                         "message": {"role": "assistant", "content": c.text, "refusal": None}}],
            "usage": {"prompt_tokens": c.prompt_tokens, "completion_tokens": c.completion_tokens,
                      "total_tokens": c.prompt_tokens + c.completion_tokens},
            "system_fingerprint": "curatekit-llguidance" if c.constrained else "curatekit"}


def make_server(model: LocalModel | None, host: str, port: int, name: str) -> ThreadingHTTPServer:
    """The HTTP server; ``model`` may be set later (``server.model = ...``): /health is 503 until then."""
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt: str, *args: Any) -> None:  # quiet: the client logs what matters
            return

        def _send(self, status: int, doc: dict) -> None:
            payload = json.dumps(doc, ensure_ascii=False).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _error(self, status: int, message: str, param: str | None = None) -> None:
            self._send(status, {"error": {"message": message, "type": "invalid_request_error", "param": param,
                                          "code": None}})

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            path = self.path.split("?")[0].rstrip("/")
            if path.endswith("/health"):
                ready = server.model is not None
                self._send(200 if ready else 503, {"status": "ok" if ready else "loading"})
            elif path.endswith("/models"):
                self._send(200, {"object": "list", "data": [{"id": name, "object": "model", "owned_by": "local"}]})
            else:
                self._error(404, f"no route {path}")

        def do_POST(self) -> None:  # noqa: N802
            path = self.path.split("?")[0].rstrip("/")
            n = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(n) if n else b""
            if not path.endswith("/chat/completions"):
                self._error(404, f"no route {path}")
                return
            if server.model is None:
                self._error(503, "the model is still loading")
                return
            try:
                body = json.loads(raw)
                doc = chat_completion(server.model, name, body, lock)
            except json.JSONDecodeError as e:
                self._error(400, f"the request body is not JSON: {e}")
            except BadRequest as e:
                param = "response_format" if "response_format" in str(e) else None
                self._error(400, str(e), param)
            except Exception as e:  # a server bug must answer, not hang the client
                self._error(500, f"{type(e).__name__}: {e}")
            else:
                self._send(200, doc)

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    server.model = model  # type: ignore[attr-defined]
    return server


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m synth.local_server", description=__doc__.split("\n\n")[0])
    p.add_argument("model_dir", help="local Hugging Face model folder")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--name", help="model name reported in answers (default: the folder path)")
    args = p.parse_args(argv)
    name = args.name or str(args.model_dir)
    server = make_server(None, args.host, args.port, name)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()  # /health answers 503 while the model loads
    t0 = time.monotonic()
    server.model = LocalModel(args.model_dir, args.threads)  # type: ignore[attr-defined]
    print(f"model loaded in {time.monotonic() - t0:.1f} s; serving http://{args.host}:{server.server_port}/v1",
          flush=True)
    try:
        t.join()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
