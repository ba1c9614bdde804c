"""A lean HTTP/1.1 transport for plain-http endpoints (local vLLM, Ollama, llama.cpp, transformers serve).

The openai SDK stays in charge (``AsyncOpenAI``: auth header, request
building, status codes -> exceptions, timeouts from the request options); this
only replaces the httpx connection pool underneath it. httpx's pool walks
every connection on each request and each response, and with tens of
requests in flight that walk costs more CPU than everything else synth does
per request; here a free list of keep-alive connections per host makes
checkout O(1).

Scope, on purpose: ``http://`` only (TLS endpoints keep the standard
transport), no proxies (synth falls back to httpx when a proxy applies),
bodies framed by Content-Length or chunked encoding, no compression (the
request asks for identity). Errors are raised as the httpx exception types
the SDK maps: ConnectError, ConnectTimeout, ReadTimeout, WriteTimeout,
RemoteProtocolError.
"""
from __future__ import annotations

import asyncio
from collections import deque
from typing import Any


class _Stale(Exception):
    """The connection ended before a single byte of the response."""


class _Conn:
    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer

    def close(self) -> None:
        try:
            self.writer.close()
        except Exception:  # pragma: no cover - already closed
            pass


def make_lean_transport(httpx: Any, max_idle_per_host: int = 256):
    """Build the transport class on the httpx module the SDK uses (httpx or httpx2)."""

    class LeanTransport(httpx.AsyncBaseTransport):
        def __init__(self) -> None:
            self._idle: dict[tuple[str, int], deque[_Conn]] = {}

        async def _connect(self, host: str, port: int, timeout: float | None) -> _Conn:
            try:
                async with asyncio.timeout(timeout):
                    reader, writer = await asyncio.open_connection(host, port, limit=1 << 22)
            except TimeoutError:
                raise httpx.ConnectTimeout(f"connect to {host}:{port} timed out") from None
            except OSError as e:
                raise httpx.ConnectError(f"connect to {host}:{port} failed: {e}") from None
            return _Conn(reader, writer)

        async def handle_async_request(self, request):
            url = request.url
            host, port = url.host, url.port or 80
            timeouts = request.extensions.get("timeout") or {}
            read_t = timeouts.get("read")
            key = (host, port)
            pool = self._idle.setdefault(key, deque())
            body = request.content if isinstance(request.content, (bytes, bytearray)) else await request.aread()
            data = self._head(request, host, port, len(body)) + body
            for attempt in (0, 1):
                reused = bool(pool)
                conn = pool.pop() if reused else await self._connect(host, port, timeouts.get("connect"))
                try:
                    async with asyncio.timeout(read_t):  # no extra task per request, unlike wait_for
                        status, headers, content, keep = await self._exchange(conn, data)
                except TimeoutError:
                    conn.close()
                    raise httpx.ReadTimeout("timed out waiting for the response") from None
                except _Stale:
                    conn.close()
                    if reused and attempt == 0:
                        continue  # the server had closed this idle keep-alive connection: not its answer
                    raise httpx.RemoteProtocolError("server closed the connection without a response") from None
                except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError, ValueError) as e:
                    conn.close()
                    raise httpx.RemoteProtocolError(f"connection broken: {type(e).__name__}: {e}") from None
                if keep and len(pool) < max_idle_per_host:
                    pool.append(conn)
                else:
                    conn.close()
                return httpx.Response(status, headers=headers, content=content, request=request)
            raise AssertionError("unreachable")  # pragma: no cover

        @staticmethod
        def _head(request, host: str, port: int, length: int) -> bytes:
            lines = [f"{request.method} {request.url.raw_path.decode('ascii')} HTTP/1.1"]
            seen_host = False
            for k, v in request.headers.raw:
                lk = k.lower()
                if lk in (b"accept-encoding", b"connection", b"transfer-encoding", b"content-length"):
                    continue
                seen_host |= lk == b"host"
                lines.append(f"{k.decode('latin-1')}: {v.decode('latin-1')}")
            if not seen_host:
                lines.append(f"Host: {host}:{port}")
            lines += ["Accept-Encoding: identity", "Connection: keep-alive", f"Content-Length: {length}"]
            return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

        @staticmethod
        async def _exchange(conn: _Conn, data: bytes):
            r = conn.reader
            try:
                conn.writer.write(data)
                await conn.writer.drain()
                status_line = await r.readuntil(b"\r\n")
            except asyncio.IncompleteReadError as e:
                if not e.partial:
                    raise _Stale() from None
                raise
            except ConnectionError:
                raise _Stale() from None
            parts = status_line.split(b" ", 2)
            if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
                raise ValueError(f"not an HTTP response: {status_line[:40]!r}")
            status = int(parts[1])
            raw = await r.readuntil(b"\r\n\r\n")
            headers: list[tuple[bytes, bytes]] = []
            length = None
            chunked = False
            keep = parts[0] == b"HTTP/1.1"
            for line in raw.split(b"\r\n"):
                if not line:
                    continue
                k, _, v = line.partition(b":")
                k, v = k.strip(), v.strip()
                lk = k.lower()
                if lk == b"content-length":
                    length = int(v)
                elif lk == b"transfer-encoding" and b"chunked" in v.lower():
                    chunked = True
                elif lk == b"connection":
                    keep = v.lower() == b"keep-alive" or (keep and v.lower() != b"close")
                headers.append((k, v))
            if chunked:
                pieces = []
                while True:
                    size_line = await r.readuntil(b"\r\n")
                    size = int(size_line.split(b";")[0].strip(), 16)
                    if size == 0:
                        await r.readuntil(b"\r\n")  # (no trailers expected) the final CRLF
                        break
                    pieces.append(await r.readexactly(size))
                    await r.readexactly(2)
                content = b"".join(pieces)
                headers = [(k, v) for k, v in headers if k.lower() != b"transfer-encoding"]
            elif length is not None:
                content = await r.readexactly(length) if length else b""
            elif status in (204, 304) or 100 <= status < 200:
                content = b""
            else:  # body runs to the end of the connection
                content = await r.read()
                keep = False
            return status, headers, content, keep

        async def aclose(self) -> None:
            for pool in self._idle.values():
                while pool:
                    pool.pop().close()
            self._idle.clear()

    return LeanTransport()
