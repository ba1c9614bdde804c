"""split_by_group and decontaminate: leak-free train / val / test.

Assignment is a stable hash of the group key (a component of groups joined by
near-dup clusters), so adding data never moves an old group. Synthetic and
mixed-in records go to train only unless the config allows otherwise; their
whole component follows them, so no group ever straddles two splits.
"""
from __future__ import annotations


import numpy as np
import polars as pl
import xxhash

from curate.config import DecontamConfig, SplitConfig
from curate.frame import full_text
from curate.step import StepResult, partition

SPLITS = ("train", "val", "test")


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        p = self.parent.setdefault(x, x)
        while p != self.parent[p]:
            self.parent[p] = self.parent[self.parent[p]]
            p = self.parent[p]
        self.parent[x] = p
        return p

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:  # the smaller key becomes the root: deterministic component keys
            lo, hi = sorted((ra, rb))
            self.parent[hi] = lo


def bucket(key: str, seed: str, ratios: tuple[float, float, float]) -> str:
    u = xxhash.xxh64_intdigest(f"{seed}\x00{key}".encode()) / 2**64
    total = sum(ratios)
    if u < ratios[0] / total:
        return "train"
    if u < (ratios[0] + ratios[1]) / total:
        return "val"
    return "test"


def group_digest(group: str) -> str:
    """The group key as written to outputs and the corpus index (never the raw key)."""
    import hashlib

    return hashlib.sha256(group.encode()).hexdigest()[:16]


def split_by_group(frame: pl.DataFrame, cfg: SplitConfig, known: dict[str, str] | None = None) -> StepResult:
    """Add a ``split`` column. Every group and every near-dup cluster lands in one split.

    ``known`` maps group digests of an earlier corpus to their split: such groups
    keep it (old assignments never move); new groups are placed by hash.
    """
    uf = _UnionFind()
    groups = frame["group"].to_list()
    clusters = frame["cluster"].to_list() if "cluster" in frame.columns else groups
    ids = frame["id"].to_list()
    for g, c, i in zip(groups, clusters, ids):
        uf.union("g:" + g, "g:" + g)
        if c is not None and c != i:
            # a cluster id is a record id; tie the cluster to this record's group
            uf.union("g:" + g, "c:" + c)
    if "semantic_component" in frame.columns:  # paraphrase neighbourhoods (curate.semantic)
        for g, c in zip(groups, frame["semantic_component"].to_list()):
            if c is not None:
                uf.union("g:" + g, "c:" + c)
    for g, i in zip(groups, ids):
        uf.union("g:" + g, "c:" + i)
    comp = [uf.find("g:" + g) for g in groups]
    train_only = set()
    if not cfg.synthetic_in_eval:
        for c, prov in zip(comp, frame["provenance"].to_list()):
            if prov in ("synthetic", "mix"):
                train_only.add(c)
    pinned: dict[str, str] = {}
    for c, g in sorted(zip(comp, groups)):
        old = (known or {}).get(group_digest(g))
        if old and c not in pinned:
            pinned[c] = old
    split = [pinned[c] if c in pinned else "train" if c in train_only else
             bucket(c.split(":", 1)[1], cfg.seed, cfg.ratios) for c in comp]
    df = frame.with_columns(pl.Series("split", split, dtype=pl.String), pl.lit(None, dtype=pl.String).alias("_reason"))
    stats = {f"records_{s}": split.count(s) for s in SPLITS}
    stats["components"] = len(set(comp))
    stats["forced_train_components"] = len(train_only)
    stats["components_kept_from_earlier_runs"] = len(pinned)
    return partition("split", df, stats)


_MIX = None


def _mix_constants(n: int) -> np.ndarray:
    global _MIX
    if _MIX is None or len(_MIX) < n:
        rng = np.random.default_rng(0x5EED)
        _MIX = rng.integers(1, 2**63, size=max(n, 64), dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    return _MIX[:n]


def ngram_table(texts: list[str], n: int) -> pl.DataFrame:
    """Unique ``(doc, h)`` pairs: every word n-gram (lower-cased ``\\w+`` words) of every text, hashed.

    Vectorised: words are hashed once by polars, n-gram hashes are a weighted
    sum of word hashes (wrapping uint64), windows never cross documents.
    """
    words = pl.Series("t", texts, dtype=pl.String).str.to_lowercase().str.extract_all(r"\w+")
    lens = words.list.len().fill_null(0).to_numpy().astype(np.int64)
    flat = words.explode().drop_nulls()
    if len(flat) == 0:
        return pl.DataFrame(schema={"doc": pl.Int64, "h": pl.UInt64})
    wh = flat.hash(seed=7).to_numpy()
    total = len(wh)
    padded = np.concatenate([wh, np.zeros(n, dtype=np.uint64)])
    h = np.zeros(total, dtype=np.uint64)
    for k, c in enumerate(_mix_constants(n)):
        h += padded[k:k + total] * c
    doc = np.repeat(np.arange(len(texts), dtype=np.int64), lens)
    starts = np.repeat(np.cumsum(lens) - lens, lens)
    valid = (np.arange(total) - starts) <= np.repeat(lens, lens) - n
    return pl.DataFrame({"doc": doc[valid], "h": h[valid]}).unique(maintain_order=True)


def overlaps(frame: pl.DataFrame, cfg: DecontamConfig, eval_texts: dict[str, list[str]]) -> list[str | None]:
    """Per record: the label of the eval set it shares a non-boilerplate n-gram with (train only), else None.

    Labels are "val", "test" or "eval file NAME"; with several, the first in sort order.
    """
    texts = frame.select(full_text().alias("t"))["t"].to_list()
    labels = frame["split"].to_list()
    for label, ts in eval_texts.items():
        texts.extend(ts)
        labels.extend([label] * len(ts))
    n_records = frame.height
    pairs = ngram_table(texts, cfg.ngram)
    if pairs.height == 0:
        return [None] * n_records
    pairs = pairs.join(pl.DataFrame({"doc": np.arange(len(labels), dtype=np.int64), "label": labels}),
                       on="doc", how="left")
    owners = pairs.filter(pl.col("label") != "train").group_by("h").agg(pl.col("label").min().alias("owner"))
    freq = pairs.join(owners.select("h"), on="h", how="semi").group_by("h").agg(pl.len().alias("n"))
    hits = (pairs.filter((pl.col("label") == "train") & (pl.col("doc") < n_records))
            .join(owners, on="h").join(freq, on="h")
            .filter(pl.col("n") < cfg.boilerplate_min_records)
            .group_by("doc").agg(pl.col("owner").min()))
    out: list[str | None] = [None] * n_records
    for d, o in hits.iter_rows():
        out[d] = o
    return out


def decontaminate(frame: pl.DataFrame, cfg: DecontamConfig, eval_texts: dict[str, list[str]]) -> StepResult:
    """Reject train records sharing a long n-gram with val, test or a named eval set.

    Repeated until nothing changes: removing records lowers n-gram counts, so a
    span that was boilerplate before can become a leak after; the fixed point is
    what the leak check then confirms.
    """
    hits: list[str | None] = [None] * frame.height
    rounds = 0
    if cfg.enabled and frame.height:
        alive = list(range(frame.height))
        while True:
            rounds += 1
            sub = frame[alive]
            new = overlaps(sub, cfg, eval_texts)
            found = [i for i, h in zip(alive, new) if h]
            for i, h in zip(alive, new):
                if h:
                    hits[i] = h
            if not found:
                break
            gone = set(found)
            alive = [i for i in alive if i not in gone]
    reasons = ["decontam.ngram_overlap" if h else None for h in hits]
    details = [f"shares a {cfg.ngram}-word span with {h}" if h else None for h in hits]
    df = frame.with_columns(pl.Series("_reason", reasons, dtype=pl.String), pl.Series("_detail", details, dtype=pl.String))
    return partition("decontam", df, {"rounds": rounds})


def shared_groups(frame: pl.DataFrame) -> int:
    if frame.height == 0:
        return 0
    return frame.group_by("group").agg(pl.col("split").n_unique().alias("n")).filter(pl.col("n") > 1).height
