"""One LLM session: the endpoint (configured, or the embedded server started for the run),
the request cache, the ledger and the client settings that go with them."""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from synth.cache import NullCache, RequestCache
from synth.client import Endpoint, LLMClient, public_url
from synth.config import ClientConfig
from synth.errors import SynthUserError
from synth.ledger import Ledger
from synth.structured import ResponseModes

MODEL_ENV = "SYNTH_MODEL"
BASE_URL_ENV = "OPENAI_BASE_URL"
CACHE_FILENAME = "synth_cache.sqlite"


@dataclass
class Session:
    endpoint: Endpoint
    cfg: ClientConfig
    cache: RequestCache | NullCache
    ledger: Ledger
    timeout_s: float
    max_in_flight: int
    server: dict | None = None
    modes: ResponseModes = field(default_factory=ResponseModes)  # response_format mode per model

    def client(self, log: Callable[[str], None] | None = None,
               on_update: Callable[[], None] | None = None) -> LLMClient:
        """A client bound to the running event loop (create it inside ``asyncio.run``)."""
        return LLMClient(self.endpoint, self.cfg, cache=self.cache, ledger=self.ledger, timeout_s=self.timeout_s,
                         max_in_flight=self.max_in_flight, log=log, on_update=on_update, modes=self.modes)

    def describe(self) -> dict:
        d = self.endpoint.describe()
        d.update(timeout_s=self.timeout_s, max_in_flight=self.max_in_flight,
                 cache=str(self.cache.path) if self.cache.path else None)
        if self.server:
            d["server"] = self.server
        if self.modes.used or self.modes.fallbacks:
            d["structured_output"] = self.modes.describe()
        return d


def default_cache_path(out: Path) -> Path:
    return out.parent / CACHE_FILENAME


@contextlib.contextmanager
def open_session(cfg: ClientConfig, out: Path, log: Callable[[str], None] = lambda m: None) -> Iterator[Session]:
    """Resolve the endpoint (config, then $OPENAI_BASE_URL, else the embedded server) and open the cache."""
    base_url = cfg.base_url or os.environ.get(BASE_URL_ENV) or None
    api_key = os.environ.get(cfg.api_key_env) or ""
    cache_path = Path(cfg.cache_path) if cfg.cache_path else default_cache_path(out)
    with contextlib.ExitStack() as stack:
        if base_url:
            model = cfg.model or os.environ.get(MODEL_ENV)
            if not model:
                raise SynthUserError(f"an endpoint is set ({public_url(base_url)}) but no model: pass --model "
                                     f"(or set {MODEL_ENV})", code=2)
            endpoint = Endpoint(base_url=base_url, model=model, identity=public_url(base_url),
                                api_key=api_key)
            timeout_s, in_flight, server = cfg.timeout_s, cfg.max_in_flight, None
        else:
            from synth.server import EmbeddedServerError, embedded_server

            try:
                srv = stack.enter_context(embedded_server(cfg.embedded, cfg.model, log))
            except EmbeddedServerError as e:
                raise SynthUserError(f"embedded server: {e}") from None
            endpoint = Endpoint(base_url=srv.base_url, model=srv.model, identity=srv.identity,
                                embedded=True,
                                sample_via_generation_config=(cfg.embedded.sample_via_generation_config
                                                              and srv.kind == "transformers serve"))
            # A configured value beats the embedded default only when it was set on purpose.
            set_fields = cfg.model_fields_set
            timeout_s = cfg.timeout_s if "timeout_s" in set_fields else cfg.embedded.timeout_s
            in_flight = cfg.max_in_flight if "max_in_flight" in set_fields else cfg.embedded.max_in_flight
            server = {"kind": srv.kind, "model_dir": srv.model, "port": srv.port,
                      "startup_s": srv.startup_s, "threads": cfg.embedded.threads}
        cache: RequestCache | NullCache
        try:
            cache = RequestCache(cache_path) if cfg.cache else NullCache()
        except Exception as e:  # sqlite3.Error, OSError
            raise SynthUserError(f"{cache_path}: cannot open the request cache ({e})") from None
        stack.callback(cache.close)
        ledger = Ledger(prices=dict(cfg.prices), budget=cfg.budget)
        yield Session(endpoint, cfg, cache, ledger, timeout_s, in_flight, server,
                      ResponseModes(cfg.response_format_mode))
