"""Conversions between the on-disk formats, through the canonical :class:`Record`.

Lossless pairs (round-trip tested): chatml <-> sharegpt (no tool turns),
chatml -> alpaca -> chatml (multi-turn through ``history``), dpo plain <-> dpo conversational
(single-turn prompt), and every format -> Record -> same format. Alpaca's
instruction/input split survives a trip through Record (kept in meta) but not
through a ChatML file, whose user turn is ``instruction + "\\n\\n" + input``.
Where a target cannot hold a record, :class:`ConversionError` says why.
"""
from __future__ import annotations

from typing import Any

from schemas.formats import FORMAT_KEYS, Format
from schemas.messages import Message
from schemas.record import Record
from schemas.sharegpt import ROLE_TO_SHAREGPT, SHAREGPT_TO_ROLE

ALPACA_JOIN = "\n\n"


class ConversionError(ValueError):
    """A valid record the target format cannot represent. ``reason`` is a reason code."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def _extras(obj: dict, fmt: Format) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in FORMAT_KEYS[fmt]}


def record_id(obj: dict, source: str, line: int | None) -> str:
    """The record's own ``id`` when it has a usable one, else ``source:line``."""
    rid = obj.get("id")
    if isinstance(rid, (str, int)) and not isinstance(rid, bool) and str(rid).strip():
        return str(rid)
    return f"{source}:{line}"


def to_record(fmt: Format, obj: dict, *, source: str = "", line: int | None = None,
              group: str | None = None) -> Record:
    """Turn an already validated example of ``fmt`` into a canonical Record."""
    extras = _extras(obj, fmt)
    meta: dict[str, Any] = {"extra": extras} if extras else {}
    provenance = "real"
    m = extras.get("meta")
    if isinstance(m, dict) and m.get("provenance") in ("real", "synthetic", "mix"):
        provenance = m["provenance"]
    chosen = rejected = None
    if fmt == "chatml":
        messages = [Message(**m) for m in obj["messages"]]
    elif fmt == "sharegpt":
        messages = [Message(role=SHAREGPT_TO_ROLE[t["from"]], content=t["value"]) for t in obj["conversations"]]
    elif fmt == "alpaca":
        inp = obj.get("input") or ""
        user = obj["instruction"] + (ALPACA_JOIN + inp if inp else "")
        messages = [Message(role="system", content=obj["system"])] if obj.get("system") else []
        for u, a in obj.get("history") or []:
            messages += [Message(role="user", content=u), Message(role="assistant", content=a)]
        messages += [Message(role="user", content=user), Message(role="assistant", content=obj["output"])]
        meta["alpaca"] = {"instruction": obj["instruction"], "input": inp}
    elif fmt == "dpo":
        if isinstance(obj["prompt"], list):
            messages = [Message(**m) for m in obj["prompt"]]
            chosen, rejected = Message(**obj["chosen"][0]), Message(**obj["rejected"][0])
            meta["dpo_form"] = "conversational"
        else:
            messages = [Message(role="user", content=obj["prompt"])]
            chosen = Message(role="assistant", content=obj["chosen"])
            rejected = Message(role="assistant", content=obj["rejected"])
            meta["dpo_form"] = "plain"
    else:  # pragma: no cover - Format is a closed set
        raise ValueError(f"unknown format {fmt!r}")
    rid = record_id(obj, source, line)
    return Record(id=rid, source=source, line=line, group=group or rid, messages=messages,
                  chosen=chosen, rejected=rejected, provenance=provenance, meta=meta)


def _msg(m: Message) -> dict[str, Any]:
    out = m.model_dump(exclude_none=True)
    if m.tool_calls and not m.content:
        out["content"] = None  # OpenAI's shape for a turn that only calls tools
    return out


def _sft_messages(rec: Record) -> list[Message]:
    """SFT view of a record: a preference record trains on its chosen answer."""
    return rec.messages + ([rec.chosen] if rec.chosen is not None else [])


def from_record(fmt: Format, rec: Record, *, dpo_form: str | None = None) -> dict[str, Any]:
    """Render a Record in ``fmt``; raise :class:`ConversionError` if it cannot be held."""
    out: dict[str, Any] = dict(rec.meta.get("extra", {}))
    if fmt == "chatml":
        out["messages"] = [_msg(m) for m in _sft_messages(rec)]
    elif fmt == "sharegpt":
        msgs = _sft_messages(rec)
        bad = [m.role for m in msgs if m.role not in ROLE_TO_SHAREGPT]
        if bad:
            raise ConversionError("convert.unsupported_role", f"ShareGPT has no '{bad[0]}' role")
        out["conversations"] = [{"from": ROLE_TO_SHAREGPT[m.role], "value": m.content} for m in msgs]
    elif fmt == "alpaca":
        msgs = _sft_messages(rec)
        system = [m for m in msgs if m.role == "system"]
        rest = [m for m in msgs if m.role != "system"]
        roles = [m.role for m in rest]
        bad = [r for r in roles if r not in ("user", "assistant")]
        if bad:
            raise ConversionError("convert.unsupported_role", f"Alpaca has no '{bad[0]}' role")
        if len(rest) % 2 or roles != ["user", "assistant"] * (len(rest) // 2):
            raise ConversionError("convert.no_final_answer",
                                  "Alpaca needs user/assistant pairs ending on an answer; this record ends on a "
                                  f"{roles[-1] if roles else 'system'} turn")
        history = [[rest[i].content, rest[i + 1].content] for i in range(0, len(rest) - 2, 2)]
        rest = rest[-2:]
        user = rest[0].content
        split = rec.meta.get("alpaca")
        if split and split["instruction"] + (ALPACA_JOIN + split["input"] if split["input"] else "") == user:
            out["instruction"], out["input"] = split["instruction"], split["input"]
        else:
            out["instruction"], out["input"] = user, ""
        out["output"] = rest[1].content
        if system:
            out["system"] = system[0].content
        if history:
            out["history"] = history
    elif fmt == "dpo":
        if rec.chosen is None or rec.rejected is None:
            raise ConversionError("convert.no_preference",
                                  "a DPO record needs chosen and rejected answers; this record has one answer")
        form = dpo_form or rec.meta.get("dpo_form", "conversational")
        if form == "plain":
            if [m.role for m in rec.messages] != ["user"]:
                raise ConversionError("convert.multi_turn",
                                      "plain DPO holds a single user prompt; use the conversational form")
            out.update(prompt=rec.messages[0].content, chosen=rec.chosen.content, rejected=rec.rejected.content)
        else:
            out.update(prompt=[_msg(m) for m in rec.messages], chosen=[_msg(rec.chosen)],
                       rejected=[_msg(rec.rejected)])
    else:  # pragma: no cover
        raise ValueError(f"unknown format {fmt!r}")
    return out


def convert(obj: dict, src: Format, dst: Format, *, dpo_form: str | None = None,
            source: str = "", line: int | None = None) -> dict[str, Any]:
    """Convert one validated example from ``src`` to ``dst``."""
    return from_record(dst, to_record(src, obj, source=source, line=line), dpo_form=dpo_form)
