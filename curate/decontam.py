"""decontaminate: delete only where deletion is the right answer: train records overlapping a
user-named eval file, and synthetic or mixed-in train records overlapping val/test (the split
already put related real records in one split). `overlaps` is also the run's final leak check."""
from __future__ import annotations

import numpy as np
import polars as pl

from curate.config import DecontamConfig
from curate.frame import full_text
from curate.sketches import sketches
from curate.step import StepResult, partition


def boilerplate_k(frame: pl.DataFrame, cfg: DecontamConfig) -> int:
    """The split's n-gram bound (n-grams in more records are boilerplate); without a split
    step (synth's curation) the eval-file bound."""
    if "boilerplate_k" in frame.columns and frame["boilerplate_k"].drop_nulls().len():
        return int(frame["boilerplate_k"].drop_nulls().max())
    return cfg.boilerplate_min_records - 1


def overlaps(frame: pl.DataFrame, cfg: DecontamConfig, eval_texts: dict[str, list[str]],
             k: int | None = None) -> list[str | None]:
    """Per record: the label of what it shares a non-boilerplate n-gram with (train records only), else None.

    Labels are "val", "test" or "eval file NAME"; with several, the first in sort order.
    Against val/test an n-gram is boilerplate when more than ``k`` records hold it (the
    split's bound, the same the relatedness graph used); against eval files when at least
    ``cfg.boilerplate_min_records`` records and eval items hold it.
    """
    k = boilerplate_k(frame, cfg) if k is None else k
    texts = frame.select(full_text().alias("t"))["t"].to_list()
    labels = frame["split"].to_list()
    for label, ts in eval_texts.items():
        texts.extend(ts)
        labels.extend([label] * len(ts))
    n_records = frame.height
    pairs = sketches().ngram_table(texts, cfg.ngram)
    if pairs.height == 0:
        return [None] * n_records
    pairs = pairs.join(pl.DataFrame({"doc": np.arange(len(labels), dtype=np.int64), "label": labels}),
                       on="doc", how="left")
    owners = pairs.filter(pl.col("label") != "train").select("h", "label").unique()
    freq = pairs.join(owners.select("h").unique(), on="h", how="semi").group_by("h").agg(pl.len().alias("n"))
    is_eval = pl.col("label").str.starts_with("eval file")
    bound = pl.when(is_eval).then(cfg.boilerplate_min_records - 1).otherwise(k)
    hits = (pairs.filter((pl.col("label") == "train") & (pl.col("doc") < n_records)).select("doc", "h")
            .join(owners, on="h").join(freq, on="h")
            .filter(pl.col("n") <= bound)
            .group_by("doc").agg(pl.col("label").min().alias("owner")))
    out: list[str | None] = [None] * n_records
    for d, o in hits.iter_rows():
        out[d] = o
    return out


def decontaminate(frame: pl.DataFrame, cfg: DecontamConfig, eval_texts: dict[str, list[str]]) -> StepResult:
    """Reject train records sharing a non-boilerplate n-gram with a named eval set, and synthetic or
    mixed-in train records sharing one with val or test.

    Real records never overlap val/test here: the split put related records in one split.
    Repeated until nothing changes: removing records lowers n-gram counts, so a span that
    was boilerplate before can become a leak after; the fixed point is what the leak check
    then confirms.
    """
    hits: list[str | None] = [None] * frame.height
    rounds = 0
    real = [p == "real" for p in frame["provenance"].to_list()] if frame.height else []
    # Only eval files and synthetic / mixed-in records can lose anything here.
    if cfg.enabled and frame.height and (eval_texts or not all(real)):
        k = boilerplate_k(frame, cfg)
        alive = list(range(frame.height))
        while True:
            rounds += 1
            new = overlaps(frame[alive], cfg, eval_texts, k)
            found = [(i, h) for i, h in zip(alive, new)
                     if h and (h.startswith("eval file") or not real[i])]
            if not found:
                break
            for i, h in found:
                hits[i] = h
            gone = {i for i, _ in found}
            alive = [i for i in alive if i not in gone]
    reasons = ["decontam.ngram_overlap" if h else None for h in hits]
    details = [f"shares a {cfg.ngram}-word span with {h}" if h else None for h in hits]
    df = frame.with_columns(pl.Series("_reason", reasons, dtype=pl.String), pl.Series("_detail", details, dtype=pl.String))
    return partition("decontam", df, {"rounds": rounds})
