"""The four on-disk formats: names, keys, per-record shape detection, validators."""
from __future__ import annotations

from typing import Literal

from pydantic import TypeAdapter

from schemas.alpaca import AlpacaExample
from schemas.dpo import DPOConversational, DPOPlain
from schemas.messages import ChatExample
from schemas.sharegpt import ShareGPTExample

Format = Literal["chatml", "alpaca", "sharegpt", "dpo"]
FORMATS: tuple[str, ...] = ("chatml", "alpaca", "sharegpt", "dpo")

FORMAT_KEYS: dict[str, frozenset[str]] = {
    "chatml": frozenset({"messages"}),
    "alpaca": frozenset({"instruction", "input", "output", "system", "history"}),
    "sharegpt": frozenset({"conversations"}),
    "dpo": frozenset({"prompt", "chosen", "rejected"}),
}

ADAPTERS: dict[str, TypeAdapter] = {
    "chatml": TypeAdapter(ChatExample),
    "alpaca": TypeAdapter(AlpacaExample),
    "sharegpt": TypeAdapter(ShareGPTExample),
    "dpo_plain": TypeAdapter(DPOPlain),
    "dpo_conversational": TypeAdapter(DPOConversational),
}


def shape_of(obj: object) -> str | None:
    """The format a single parsed record looks like, from its keys; None if none fits.

    Detection is per record: a file's format is decided from all its records,
    never from the first one alone.
    """
    if not isinstance(obj, dict):
        return None
    if "messages" in obj:
        return "chatml"
    if "conversations" in obj:
        return "sharegpt"
    if "chosen" in obj or "rejected" in obj:
        return "dpo"
    if "instruction" in obj or "output" in obj:
        return "alpaca"
    return None


def adapter_for(fmt: str, obj: object) -> TypeAdapter:
    if fmt == "dpo":
        conv = isinstance(obj, dict) and isinstance(obj.get("prompt"), list)
        return ADAPTERS["dpo_conversational" if conv else "dpo_plain"]
    return ADAPTERS[fmt]
