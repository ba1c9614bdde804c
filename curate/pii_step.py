"""scrub_pii: the PII step. Every turn (all roles, chosen and rejected) is scrubbed with
consistent placeholders per conversation; conversations that cannot be made safe are rejects.

Reports carry entity counts by type only. Record metadata copied from inputs
(extra JSON fields, transcript headers) is dropped here, since it can hold the
same values the text did.
"""
from __future__ import annotations

from collections import Counter

import orjson
import polars as pl
from pydantic import Field

from curate.pii import PiiConfig, PiiScrubber
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
    rows = frame.select("id", "messages", "chosen", "rejected").to_dicts()
    convs = []
    for r in rows:
        conv = [{"role": m["role"], "content": m["content"]} for m in r["messages"]]
        for extra in ("chosen", "rejected"):
            if r[extra] is not None:
                conv.append({"role": "assistant", "content": r[extra]})
        convs.append(conv)
    results = _scrub_with_progress(_scrubber(cfg.scrubber_config()), convs, [r["id"] for r in rows])
    totals: Counter = Counter()
    new_msgs, chosen, rejected, reasons, details = [], [], [], [], []
    for r, res in zip(rows, results):
        n = len(r["messages"])
        if not res.ok:
            reasons.append(res.reason)
            details.append(res.detail or "")
            new_msgs.append(r["messages"])  # dropped with the reject row; never written out
            chosen.append(None)
            rejected.append(None)
            continue
        totals.update(res.entity_counts)
        out = [{**m, "content": s["content"]} for m, s in zip(r["messages"], res.messages[:n])]
        rest = res.messages[n:]
        c = rest.pop(0)["content"] if r["chosen"] is not None else None
        j = rest.pop(0)["content"] if r["rejected"] is not None else None
        new_msgs.append(out)
        chosen.append(c)
        rejected.append(j)
        reasons.append(None)
        details.append(None)
    df = frame.with_columns(
        pl.Series("messages", new_msgs, dtype=frame.schema["messages"]),
        pl.Series("chosen", chosen, dtype=pl.String),
        pl.Series("rejected", rejected, dtype=pl.String),
        pl.col("meta").map_elements(_safe_meta, return_dtype=pl.String),
        pl.Series("_reason", reasons, dtype=pl.String),
        pl.Series("_detail", details, dtype=pl.String),
    )
    stats = {f"entity_{k}": int(v) for k, v in sorted(totals.items())}
    stats["records_with_pii"] = sum(1 for res in results if res.ok and res.entity_counts)
    return partition("pii", df, stats)
