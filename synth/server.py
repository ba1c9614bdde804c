"""The embedded default endpoint: a local OpenAI-compatible server of the embedded model.

With no endpoint configured, synth starts its own server
(``python -m synth.local_server MODEL_DIR``: transformers + llguidance, so
``response_format`` json_schema is enforced; see synth/local_server.py) or,
with ``client.embedded.server: transformers``, ``transformers serve
MODEL_DIR`` (which refuses ``response_format``), on a free loopback port, waits for ``/health``, sends one tiny warm-up
request (the first request loads the model), hands the URL to the client and
stops the server at the end: SIGTERM to its process group, SIGKILL after a
grace period. On Linux the server also gets a parent-death signal, so a
synth process killed with -9 does not leave it running.

Facts about ``transformers serve`` (../shared/ENVIRONMENT.md and measured here): the
server answers /health after ~20 s and loads the model on the first request;
the request's ``model`` must be the served folder's path; it ignores
``response_format`` and ``temperature`` unless sampling is switched on with
a ``generation_config`` body field; it generates one request at a time; with
more than one torch thread on a busy 2-core machine it slows down ~10x.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from synth.config import EmbeddedConfig


class EmbeddedServerError(RuntimeError):
    """The embedded server could not be started."""


@dataclass(frozen=True)
class EmbeddedServer:
    base_url: str
    model: str
    identity: str
    pid: int
    port: int
    startup_s: float
    kind: str = "curatekit"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def model_identity(model_dir: Path) -> str:
    """A stable name for the served model in cache keys: folder name + hash of its checksums (or config)."""
    for name in ("checksums.json", "config.json"):
        f = model_dir / name
        if f.is_file():
            digest = hashlib.sha256(f.read_bytes()).hexdigest()[:16]
            return f"embedded:{model_dir.name}:{digest}"
    return f"embedded:{model_dir.name}"


def _child_setup() -> None:  # pragma: no cover - runs in the child
    os.setsid()
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: die with the parent
    except Exception:
        pass


def _tail(path: Path, n: int = 3) -> str:
    try:
        lines = [ln.strip() for ln in path.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return " | ".join(lines[-n:])


def stop_process_group(proc: subprocess.Popen, grace_s: float = 15.0) -> None:
    """SIGTERM the child's process group, SIGKILL it after ``grace_s``."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        proc.terminate()
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


@contextlib.contextmanager
def embedded_server(cfg: EmbeddedConfig, model: str | None = None,
                    log: Callable[[str], None] = lambda m: None) -> Iterator[EmbeddedServer]:
    """Start ``transformers serve`` of ``model`` (a local folder; default: the embedded model); stop it on exit."""
    import httpx

    from schemas.local_model import ModelNotFoundError, resolve_model_path

    try:
        model_dir = resolve_model_path(model or cfg.model_dir)
    except ModelNotFoundError as e:
        raise EmbeddedServerError(str(e)) from None
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ)
    env.update({"OMP_NUM_THREADS": str(cfg.threads), "MKL_NUM_THREADS": str(cfg.threads),
                "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
                "TOKENIZERS_PARALLELISM": "false"})
    for k in ("OPENAI_API_KEY",):  # the local server needs no key; do not hand it one
        env.pop(k, None)
    log_file = tempfile.NamedTemporaryFile(prefix="synth-serve-", suffix=".log", delete=False)
    log_path = Path(log_file.name)
    if cfg.server == "transformers":
        kind = "transformers serve"
        cmd = [sys.executable, "-m", "transformers.cli.transformers", "serve", str(model_dir),
               "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"]
    else:
        kind = "curatekit local_server (llguidance)"
        cmd = [sys.executable, "-m", "synth.local_server", str(model_dir), "--host", "127.0.0.1",
               "--port", str(port), "--threads", str(cfg.threads)]
    t0 = time.monotonic()
    log(f"starting embedded server: {kind.split(' (')[0]} {model_dir.name} on 127.0.0.1:{port} "
        f"({cfg.threads} thread{'s' if cfg.threads > 1 else ''}; log {log_path})")
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT, env=env,
                            preexec_fn=_child_setup if os.name == "posix" else None)
    log_file.close()
    ok = False
    try:
        deadline = t0 + cfg.startup_timeout_s
        with httpx.Client(timeout=5) as http:
            while True:
                if proc.poll() is not None:
                    raise EmbeddedServerError(f"{kind} exited with code {proc.returncode} before it was "
                                              f"healthy: {_tail(log_path)} (log {log_path})")
                if time.monotonic() > deadline:
                    raise EmbeddedServerError(f"{kind} not healthy after {cfg.startup_timeout_s:.0f} s "
                                              f"(log {log_path}); raise client.embedded.startup_timeout_s")
                with contextlib.suppress(httpx.HTTPError):
                    if http.get(f"{url}/health").status_code == 200:
                        break
                time.sleep(0.5)
            health_s = time.monotonic() - t0
            # The first request loads the model: do it here, not inside a timed, budgeted request.
            try:
                r = http.post(f"{url}/v1/chat/completions", timeout=max(10.0, deadline - time.monotonic()),
                              json={"model": str(model_dir), "max_tokens": 1,
                                    "messages": [{"role": "user", "content": "Hi"}]})
            except httpx.HTTPError as e:
                raise EmbeddedServerError(f"embedded server warm-up failed ({type(e).__name__}); log {log_path}") \
                    from None
            if r.status_code != 200:
                raise EmbeddedServerError(f"embedded server warm-up answered HTTP {r.status_code}: "
                                          f"{r.text[:200]} (log {log_path})")
        startup = time.monotonic() - t0
        log(f"embedded server ready in {startup:.0f} s (health {health_s:.0f} s, model load "
            f"{startup - health_s:.0f} s)")
        ok = True
        # Another server gives other answers to the same request: it is another endpoint in cache keys.
        identity = model_identity(model_dir) + (":curatekit" if cfg.server == "curatekit" else "")
        yield EmbeddedServer(base_url=f"{url}/v1", model=str(model_dir), identity=identity,
                             pid=proc.pid, port=port, startup_s=round(startup, 2), kind=kind)
    finally:
        stop_process_group(proc)
        log(f"embedded server stopped (pid {proc.pid})")
        if ok:
            with contextlib.suppress(OSError):
                log_path.unlink()
