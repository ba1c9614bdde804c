"""The canonical record frame: records as polars rows, and text views of them."""
from __future__ import annotations

from typing import Any, Iterable

import orjson
import polars as pl

from schemas.messages import Message
from schemas.record import Record

MESSAGE_DTYPE = pl.List(pl.Struct({"role": pl.String, "content": pl.String, "name": pl.String,
                                   "tool_call_id": pl.String, "tool_calls": pl.String}))
FRAME_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.String, "source": pl.String, "line": pl.Int64, "group": pl.String,
    "provenance": pl.String, "messages": MESSAGE_DTYPE, "chosen": pl.String, "rejected": pl.String,
    "meta": pl.String,
}


def _msg_row(m: Message) -> dict[str, Any]:
    return {"role": m.role, "content": m.content, "name": m.name, "tool_call_id": m.tool_call_id,
            "tool_calls": orjson.dumps(m.tool_calls).decode() if m.tool_calls is not None else None}


def records_to_frame(records: Iterable[Record]) -> pl.DataFrame:
    rows = [{
        "id": r.id, "source": r.source, "line": r.line, "group": r.group, "provenance": r.provenance,
        "messages": [_msg_row(m) for m in r.messages],
        "chosen": r.chosen.content if r.chosen else None,
        "rejected": r.rejected.content if r.rejected else None,
        "meta": orjson.dumps(r.meta, option=orjson.OPT_SORT_KEYS).decode(),
    } for r in records]
    return pl.DataFrame(rows, schema=FRAME_SCHEMA)


def row_to_record(row: dict[str, Any]) -> Record:
    msgs = [Message(role=m["role"], content=m["content"], name=m["name"], tool_call_id=m["tool_call_id"],
                    tool_calls=orjson.loads(m["tool_calls"]) if m["tool_calls"] else None)
            for m in row["messages"]]
    return Record(
        id=row["id"], source=row["source"], line=row["line"], group=row["group"], messages=msgs,
        chosen=Message(role="assistant", content=row["chosen"]) if row.get("chosen") else None,
        rejected=Message(role="assistant", content=row["rejected"]) if row.get("rejected") else None,
        provenance=row["provenance"], meta=orjson.loads(row["meta"]) if row.get("meta") else {},
    )


def frame_to_records(frame: pl.DataFrame) -> list[Record]:
    return [row_to_record(r) for r in frame.iter_rows(named=True)]


def empty_frame() -> pl.DataFrame:
    return pl.DataFrame(schema=FRAME_SCHEMA)


def contents(role: str | None = None) -> pl.Expr:
    """List of message contents per record (optionally of one role)."""
    el = pl.element()
    if role is None:
        return pl.col("messages").list.eval(el.struct.field("content"))
    return pl.col("messages").list.eval(el.filter(el.struct.field("role") == role).struct.field("content"))


def full_text() -> pl.Expr:
    """All turns' contents joined by newlines: the text dedup and decontamination see."""
    return contents().list.join("\n")
