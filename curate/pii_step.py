"""scrub_pii: the PII step. Every field that can carry personal data is scrubbed, with
placeholders consistent across the whole record; records that cannot be made safe are rejects.

Fields: every turn's content (all roles, chosen and rejected), a message's
`name`, tool-call `arguments` (parsed as JSON, string and long-number values
scrubbed, valid JSON written back), tool results (as JSON values when the
content is JSON, else as text), the record `id` and `group` (replaced by a
stable hash when they hold a value the scrubber finds). All of them are one
pseudo-conversation for the scrubber, so "Maria" in a tool call and in a turn
get the same placeholder and the residual re-scan covers every field.

Reports carry entity counts by type only. Record metadata copied from inputs
(extra JSON fields, transcript headers) is dropped here, since it can hold the
same values the text did.
"""
from __future__ import annotations

import hashlib
import re
from collections import Counter

import orjson
import polars as pl
from pydantic import Field

from curate.pii import PiiConfig, PiiScrubber, effective_workers
from curate.step import StepResult, partition


class PiiStepConfig(PiiConfig):
    enabled: bool = Field(True, description="Scrub PII (turning it off leaves raw PII in the outputs).")

    def scrubber_config(self) -> PiiConfig:
        return PiiConfig(**self.model_dump(exclude={"enabled"}))


_SCRUBBERS: dict[str, PiiScrubber] = {}


def _scrubber(cfg: PiiConfig) -> PiiScrubber:
    key = cfg.model_dump_json()
    if key not in _SCRUBBERS:
        _SCRUBBERS[key] = PiiScrubber(cfg)
    return _SCRUBBERS[key]


def _safe_meta(meta_json: str | None) -> str:
    meta = orjson.loads(meta_json) if meta_json else {}
    meta.pop("extra", None)
    meta.pop("header", None)
    return orjson.dumps(meta, option=orjson.OPT_SORT_KEYS).decode()


def stable_hash_id(value: str) -> str:
    """The replacement of an id or group key that holds PII: same value, same hash."""
    return "pii-" + hashlib.blake2b(value.encode(), digest_size=10).hexdigest()


# ------------------------------------------------------------ flatten / rebuild

_LONG_NUMBER = 10 ** 6  # a JSON number this large may be a phone, card or account number


class _Leaves:
    """The scrubbable leaves of a parsed JSON value, and a way to put new ones back."""

    def __init__(self, value):
        self.value = value
        self.paths: list[tuple] = []
        self.texts: list[str] = []
        self._walk(value, ())

    def _walk(self, v, path) -> None:
        if isinstance(v, str):
            if v.strip():
                self.paths.append(path)
                self.texts.append(v)
        elif isinstance(v, bool) or v is None:
            return
        elif isinstance(v, int | float):
            if abs(v) >= _LONG_NUMBER and float(v).is_integer():
                self.paths.append(path)
                self.texts.append(str(int(v)))
        elif isinstance(v, dict):
            for k, x in v.items():
                self._walk(x, path + (k,))
        elif isinstance(v, list):
            for i, x in enumerate(v):
                self._walk(x, path + (i,))

    def rebuild(self, new_texts: list[str]):
        value = self.value
        for path, old, new in zip(self.paths, self.texts, new_texts):
            if new == old:
                continue
            if not path:
                value = new
                continue
            parent = value
            for p in path[:-1]:
                parent = parent[p]
            parent[path[-1]] = new  # a long number that held PII becomes its placeholder
        return value


def _json_or_none(s: str | None):
    if not s or s.lstrip()[:1] not in ("{", "["):
        return None
    try:
        return orjson.loads(s)
    except orjson.JSONDecodeError:
        return None


def _flatten(r: dict) -> tuple[list[dict], list[tuple], dict]:
    """One pseudo-conversation of every scrubbable text of a record, with where each came from."""
    conv: list[dict] = []
    where: list[tuple] = []
    parsed: dict = {}

    def add(role: str, text: str, loc: tuple) -> None:
        conv.append({"role": role, "content": text})
        where.append(loc)

    for i, m in enumerate(r["messages"]):
        role = m["role"]
        content = m["content"]
        tree = _json_or_none(content) if role == "tool" else None
        if tree is not None:
            leaves = _Leaves(tree)
            parsed[("content", i)] = leaves
            for k, t in enumerate(leaves.texts):
                add(role, t, ("content_leaf", i, k))
        else:
            add(role, content, ("content", i))
        if m.get("name"):
            add(role, m["name"], ("name", i))
        if m.get("tool_call_id"):
            add(role, m["tool_call_id"], ("tool_call_id", i))
        calls = _json_or_none(m.get("tool_calls"))
        if calls is not None:
            leaves = _Leaves(calls)
            parsed[("tool_calls", i)] = leaves
            for k, (path, t) in enumerate(zip(leaves.paths, leaves.texts)):
                args = _json_or_none(t) if path and path[-1] == "arguments" else None
                if args is not None:
                    inner = _Leaves(args)
                    parsed[("arguments", i, k)] = inner
                    for a, t2 in enumerate(inner.texts):
                        add("assistant", t2, ("argument_leaf", i, k, a))
                else:
                    add("assistant", t, ("tool_calls_leaf", i, k))
    for extra in ("chosen", "rejected"):
        if r[extra] is not None:
            add("assistant", r[extra], (extra,))
    add("user", r["id"], ("id",))
    if r["group"] != r["id"]:
        add("user", r["group"], ("group",))
    return conv, where, parsed


_NAME_SAFE = re.compile(r"[<>]")
_TAG = re.compile(r"<([A-Z_]+?)_(?:\d+|REDACTED)>")
# A record id that looks like an account or ticket number ("CM-001008") is
# the dataset's own key, not a person's: only other types make an id PII.
_ID_KEEP = frozenset({"ACCOUNT_ID", "URL"})


def _identifies(value: str, scrubbed: str) -> bool:
    """Whether scrubbing an id / group found personal data in it."""
    if scrubbed == value:
        return False
    tags = set(_TAG.findall(scrubbed))
    return not tags or not tags <= _ID_KEEP


def _rebuild(r: dict, where: list[tuple], parsed: dict, out: list[dict]) -> dict:
    """The record with every field replaced by its scrubbed text."""
    msgs = [dict(m) for m in r["messages"]]
    new_leaf: dict[tuple, list[str]] = {}
    rec = {"id": r["id"], "group": r["group"], "chosen": r["chosen"], "rejected": r["rejected"]}
    for loc, o in zip(where, out):
        text = o["content"]
        kind = loc[0]
        if kind == "content":
            msgs[loc[1]]["content"] = text
        elif kind == "name":
            # a placeholder without brackets: names must stay identifier-like
            msgs[loc[1]]["name"] = _NAME_SAFE.sub("", text)
        elif kind == "tool_call_id":
            if text != r["messages"][loc[1]]["tool_call_id"]:
                msgs[loc[1]]["tool_call_id"] = stable_hash_id(r["messages"][loc[1]]["tool_call_id"])
        elif kind in ("content_leaf", "tool_calls_leaf"):
            new_leaf.setdefault(("content" if kind == "content_leaf" else "tool_calls", loc[1]),
                                []).append(text)
        elif kind == "argument_leaf":
            new_leaf.setdefault(("arguments", loc[1], loc[2]), []).append(text)
        elif kind in ("chosen", "rejected"):
            rec[kind] = text
        elif kind in ("id", "group"):
            if _identifies(r[kind], text):
                rec[kind] = stable_hash_id(r[kind])
    for key, leaves in parsed.items():
        if key[0] == "arguments":
            continue
        i = key[1]
        texts = list(new_leaf.get(key, []))
        if key[0] == "tool_calls":
            # splice re-serialised arguments back into the call list's leaves
            full = []
            it = iter(texts)
            for k, (path, t) in enumerate(zip(leaves.paths, leaves.texts)):
                inner = parsed.get(("arguments", i, k))
                if inner is not None:
                    args = inner.rebuild(new_leaf.get(("arguments", i, k), inner.texts))
                    full.append(orjson.dumps(args).decode())
                else:
                    full.append(next(it))
            msgs[i]["tool_calls"] = orjson.dumps(leaves.rebuild(full)).decode()
        else:
            msgs[i]["content"] = orjson.dumps(leaves.rebuild(texts)).decode()
    rec["messages"] = msgs
    if rec["group"] == r["id"]:
        rec["group"] = rec["id"]
    return rec


_OWN_COLUMNS = frozenset({"id", "group", "source", "provenance", "chosen", "rejected", "meta",
                          "messages", "_reason", "_detail"})
_MSG_REF = re.compile(r"^message (\d+) \((\w+)\)")


def _field_detail(detail: str | None, where: list[tuple]) -> str:
    """Engine details name pseudo-message indexes; say which field of the record instead."""
    if not detail:
        return ""
    m = _MSG_REF.match(detail)
    if not m or int(m.group(1)) >= len(where):
        return detail
    loc = where[int(m.group(1))]
    what = {"content": "content", "content_leaf": "tool result value", "name": "name",
            "tool_call_id": "tool_call_id", "tool_calls_leaf": "tool call",
            "argument_leaf": "tool call argument"}.get(loc[0])
    label = f"message {loc[1]} {what}" if what else f"record {loc[0]}"
    return label + detail[m.end():]


def _scrub_with_progress(scrubber: PiiScrubber, convs: list, ids: list[str], chunk: int = 2048) -> list:
    from curate.console import progress

    out: list = []
    with progress(len(convs), "pii", "conv") as bar:
        for i in range(0, len(convs), chunk):
            out.extend(scrubber.scrub(convs[i:i + chunk], ids[i:i + chunk]))
            bar.update(min(chunk, len(convs) - i))
    return out


def scrub_pii(frame: pl.DataFrame, cfg: PiiStepConfig) -> StepResult:
    if not cfg.enabled or frame.height == 0:
        return partition("pii", frame.with_columns(pl.lit(None, dtype=pl.String).alias("_reason")))
    rows = frame.select("id", "group", "messages", "chosen", "rejected").to_dicts()
    flat = [_flatten(r) for r in rows]
    scfg = cfg.scrubber_config()
    workers = effective_workers(scfg.workers, len(rows))  # auto (0): a pool for big frames only
    results = _scrub_with_progress(_scrubber(scfg.model_copy(update={"workers": workers})),
                                   [f[0] for f in flat], [r["id"] for r in rows], 2048 * workers)
    totals: Counter = Counter()
    ids, groups, new_msgs, chosen, rejected, reasons, details = [], [], [], [], [], [], []
    for r, (_conv, where, parsed), res in zip(rows, flat, results):
        # the id is replaced for rejects too: reject rows carry it
        id_text = next((o["content"] for loc, o in zip(where, res.messages) if loc == ("id",)),
                       None)
        ids.append(r["id"] if id_text is not None and not _identifies(r["id"], id_text)
                   else stable_hash_id(r["id"]))
        if not res.ok:
            reasons.append(res.reason)
            details.append(_field_detail(res.detail, where))
            groups.append(stable_hash_id(r["group"]))
            new_msgs.append([{**m, "content": ""} for m in r["messages"]])  # never written out
            chosen.append(None)
            rejected.append(None)
            continue
        totals.update(res.entity_counts)
        rec = _rebuild(r, where, parsed, res.messages)
        groups.append(rec["group"])
        new_msgs.append(rec["messages"])
        chosen.append(rec["chosen"])
        rejected.append(rec["rejected"])
        reasons.append(None)
        details.append(None)
    # Columns earlier steps filled with record ids (near_dedup's `cluster`
    # names the kept member) follow the id replacement.
    id_map = {r["id"]: new for r, new in zip(rows, ids) if new != r["id"]}
    id_cols = []
    if id_map:
        for col, dtype in frame.schema.items():
            if dtype == pl.String and col not in _OWN_COLUMNS:
                id_cols.append(pl.col(col).replace(id_map))
    df = frame.with_columns(
        *id_cols,
        pl.Series("id", ids, dtype=pl.String),
        pl.Series("group", groups, dtype=pl.String),
        pl.Series("messages", new_msgs, dtype=frame.schema["messages"]),
        pl.Series("chosen", chosen, dtype=pl.String),
        pl.Series("rejected", rejected, dtype=pl.String),
        pl.col("meta").map_elements(_safe_meta, return_dtype=pl.String),
        pl.Series("_reason", reasons, dtype=pl.String),
        pl.Series("_detail", details, dtype=pl.String),
    )
    stats = {f"entity_{k}": int(v) for k, v in sorted(totals.items())}
    stats["records_with_pii"] = sum(1 for res in results if res.ok and res.entity_counts)
    out = partition("pii", df, stats)
    # The hashes this step gave ids (no raw value): rejects of earlier steps that name
    # these records follow them (see scrub_reject_ids).
    out.extra["hashed_ids"] = sorted(new for r, new in zip(rows, ids) if new != r["id"])
    return out


# ------------------------------------------------------------ rejects of earlier steps

# the id an exact-dedup detail names: "duplicate of ID" [+ " (existing corpus)"]
_REF = re.compile(r"^((?:near-)?duplicate of )(.+?)((?: \(existing corpus\)| once PII is scrubbed)?)$")
_HASHED = re.compile(r"pii-[0-9a-f]{20}")


def scrub_ids(values: list[str], cfg: PiiStepConfig, hashed: frozenset[str] = frozenset()) -> dict[str, str]:
    """Each distinct id -> what the PII step writes for it: the id itself, or its stable hash when
    scrubbing the id on its own finds personal data (the step's own rule, ``_identifies``) or when
    the step hashed that record's id (``hashed``: hashes, as in its ``extra["hashed_ids"]``)."""
    distinct = sorted({v for v in values if v and not _HASHED.fullmatch(v)})
    if not distinct:
        return {}
    scfg = cfg.scrubber_config()
    scfg = scfg.model_copy(update={"workers": effective_workers(scfg.workers, len(distinct))})
    results = _scrubber(scfg).scrub([[{"role": "user", "content": v}] for v in distinct], distinct)
    out = {}
    for v, res in zip(distinct, results):
        h = stable_hash_id(v)
        if h in hashed or not res.ok or _identifies(v, res.messages[0]["content"]):
            out[v] = h
    return out


def scrub_reject_ids(rejects: list[pl.DataFrame], hashed: list[str], cfg: PiiStepConfig) -> list[pl.DataFrame]:
    """Reject rows of the steps before the PII step (ingest ... exact_dedup, quality) with their ids,
    and the ids their details name ("duplicate of ID"), replaced as the PII step replaces ids
    (``hashed``: the PII step's ``extra["hashed_ids"]``): a record rejected before scrubbing must
    not put a raw e-mail used as its id in rejects.jsonl."""
    if not cfg.enabled:
        return rejects
    ids = [v for f in rejects for v in f["id"].to_list()]
    refs = [m.group(2) for f in rejects for m in map(_REF.match, [d or "" for d in f["detail"].to_list()]) if m]
    new = scrub_ids(ids + refs, cfg, frozenset(hashed))
    if not new:
        return rejects

    def detail(d: str | None) -> str | None:
        return _REF.sub(lambda m: m.group(1) + new.get(m.group(2), m.group(2)) + m.group(3), d) if d else d

    return [f.with_columns(pl.Series("id", [new.get(v, v) for v in f["id"].to_list()], dtype=pl.String),
                           pl.Series("detail", [detail(d) for d in f["detail"].to_list()], dtype=pl.String))
            if f.height else f for f in rejects]
