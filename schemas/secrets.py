"""Redacting credentials from anything shown or stored: argv in manifests, logs, errors, reports.

Covers credentials in URLs (``http://user:secret@host``, ``?api_key=...``), header-like pairs
(``Authorization: Bearer ...``), ``NAME=value`` and ``--flag value`` pairs whose name says
key/token/secret/password, and the values of such environment variables wherever they appear.
"""
from __future__ import annotations

import os
import re
from typing import Iterable

MASK = "***"
_SECRET_NAME = r"[A-Za-z0-9_.-]*(?:key|token|secret|passw(?:or)?d|pwd|credential|auth)[A-Za-z0-9_.-]*"
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@\"'<>]+@")
_QUERY = re.compile(r"(?i)([?&;](?:api[_-]?key|key|token|access[_-]?token|auth|secret|password|sig|signature|code)=)"
                    r"[^&\s\"'<>#]+")
_HEADER = re.compile(r"(?i)\b((?:proxy-)?authorization|x-api-key|api-key|openai-api-key|x-goog-api-key|cookie)"
                     r"(\"?\s*[:=]\s*\"?)(?:(bearer|basic|token)\s+)?[^\s\"',}]+")
_ASSIGN = re.compile(rf"(?i)(?<![\w-])(--?{_SECRET_NAME}|{_SECRET_NAME})=(?!{re.escape(MASK)})[^\s\"',&]+")
# Names that contain a secret-sounding word but hold counts, names or paths.
_NOT_SECRET_FLAG = re.compile(r"(?i)tokens|keyword|author(?!i)|[-_](?:env|file|path|dir|name)$")


def _env_secrets() -> list[str]:
    """Values of environment variables whose names say they are secret (long enough to be one)."""
    name = re.compile(rf"(?i)^{_SECRET_NAME}$")
    return [v for k, v in os.environ.items() if name.match(k) and len(v) >= 8 and not v.isdigit()
            and not os.path.isabs(v)]


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every credential replaced by ``***``."""
    if not text:
        return text
    for s in sorted({s for s in [*secrets, *_env_secrets()] if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(s, MASK)
    text = _URL_USERINFO.sub(rf"\1{MASK}@", text)
    text = _QUERY.sub(rf"\1{MASK}", text)
    text = _HEADER.sub(lambda m: f"{m.group(1)}{m.group(2)}{(m.group(3) + ' ') if m.group(3) else ''}{MASK}", text)
    return _ASSIGN.sub(lambda m: m.group(0) if _NOT_SECRET_FLAG.search(m.group(1)) else f"{m.group(1)}={MASK}", text)


def redact_argv(argv: list[str], secrets: Iterable[str] = ()) -> list[str]:
    """An argument list with secrets masked, including the value after ``--api-key``-like flags."""
    secrets = list(secrets)
    out: list[str] = []
    flag = re.compile(rf"(?i)^--?{_SECRET_NAME}$")
    for i, a in enumerate(argv):
        prev = argv[i - 1] if i else ""
        if flag.match(prev) and not _NOT_SECRET_FLAG.search(prev) and not a.startswith("-"):
            out.append(MASK)
        else:
            out.append(redact(a, secrets))
    return out
