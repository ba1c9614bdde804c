"""normalize: Unicode normal form, whitespace, control characters. Empty results are rejects."""
from __future__ import annotations

import polars as pl

from curate.config import NormalizeConfig
from curate.step import StepResult, partition

# C0/C1 controls except tab and newline, zero-width characters, BOM, line/paragraph separators.
CONTROL = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200d\u2060\ufeff]"


def normalize_text(expr: pl.Expr, cfg: NormalizeConfig) -> pl.Expr:
    e = expr.str.normalize(cfg.unicode_form)
    e = e.str.replace_all(r"\r\n?|[\u2028\u2029\x85]", "\n").str.replace_all(CONTROL, "")
    if cfg.collapse_spaces:
        e = e.str.replace_all(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+", " ")
    e = e.str.replace_all(r"[ \t]+\n", "\n").str.replace_all(r"\n[ \t]+", "\n")
    e = e.str.replace_all("\n{%d,}" % (cfg.max_blank_lines + 2), "\n" * (cfg.max_blank_lines + 1))
    return e.str.strip_chars()


def normalize(frame: pl.DataFrame, cfg: NormalizeConfig) -> StepResult:
    """Normalise every turn (and chosen/rejected); a record with a turn left empty is rejected."""
    if frame.height == 0:
        return partition("normalize", frame.with_columns(pl.lit(None, dtype=pl.String).alias("_reason")))
    df = frame.with_row_index("_r")
    ex = df.select("_r", "messages").explode("messages").unnest("messages")
    ex = ex.with_columns(normalize_text(pl.col("content"), cfg).alias("content"))
    # A turn that only calls tools has no text by design.
    empty = ex.group_by("_r").agg(((pl.col("content").str.len_chars() == 0) & pl.col("tool_calls").is_null())
                                  .sum().alias("_empty"))
    back = ex.group_by("_r", maintain_order=True).agg(
        pl.struct("role", "content", "name", "tool_call_id", "tool_calls").alias("messages"))
    changed = df.select("_r", pl.col("messages").alias("_old"))
    df = (df.drop("messages").join(back, on="_r", how="left").join(empty, on="_r", how="left")
          .join(changed, on="_r", how="left").sort("_r"))
    df = df.with_columns(
        normalize_text(pl.col("chosen"), cfg).alias("chosen"),
        normalize_text(pl.col("rejected"), cfg).alias("rejected"),
    )
    n_changed = df.select((pl.col("messages") != pl.col("_old")).sum()).item()
    reason = (pl.when(pl.col("_empty") > 0).then(pl.lit("normalize.empty_content"))
              .when(pl.col("chosen").str.len_chars() == 0).then(pl.lit("normalize.empty_content"))
              .when(pl.col("rejected").str.len_chars() == 0).then(pl.lit("normalize.empty_content")))
    df = df.with_columns(reason.alias("_reason"),
                         pl.format("{} turn(s) empty after normalisation", pl.col("_empty")).alias("_detail"))
    return partition("normalize", df.drop("_r", "_empty", "_old"), {"records_changed": int(n_changed)})
