"""Errors shown to the user as one line (no traceback)."""
from __future__ import annotations


class SynthUserError(Exception):
    """Bad input, arguments or environment: one clear line, then a non-zero exit code."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code
