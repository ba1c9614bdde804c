"""Each curation step: exact kept ids and reasons, and the conservation invariant for all of them."""
import pytest
import polars as pl

from curate.config import DecontamConfig, ExactDedupConfig, NearDedupConfig, NormalizeConfig, SplitConfig
from curate.dedup import exact_dedup, near_dedup
from curate.frame import records_to_frame
from curate.normalize import normalize
from curate.decontam import decontaminate
from curate.split import shared_groups, split_by_group
from schemas.messages import Message
from schemas.record import Record

BASE = ("Your router firmware is out of date, so please open the admin page at the address on the sticker, "
        "choose the update tab, press install and wait about five minutes while the lights blink before "
        "you reconnect any of your devices to the network again today. If the lights stay red after that, unplug "
        "the power cable for thirty seconds, plug it back in, and call us back so that a technician can run a "
        "line test from our side and book a visit if the fault is outside your home")


def rec(rid, answer, group=None, user="My internet keeps dropping every evening.", prov="real"):
    return Record(id=rid, source="t.jsonl", line=int(rid[1:]) if rid[1:].isdigit() else 1, group=group or rid,
                  provenance=prov, messages=[Message(role="user", content=user),
                                             Message(role="assistant", content=answer)])


def words(i, n=16):
    """A distinct text per ``i``: no two share a 5-word shingle or a 13-word span by chance."""
    import random

    r = random.Random(i)
    return " ".join("".join(r.choice("bcdfgklmnprstvz") + r.choice("aeiou") for _ in range(3)) for _ in range(n))


def frame():
    return records_to_frame([
        rec("r1", BASE),
        rec("r2", BASE.replace("  ", " ")),                       # exact duplicate of r1
        rec("r3", BASE.upper()),                                   # same up to case: exact duplicate
        rec("r4", BASE.replace("five minutes", "ten minutes")),    # near duplicate of r1
        rec("r5", "Billing questions go to the Billing tab where invoices for the last twelve months are listed "
                  "with due dates, amounts and payment status, and you can download each one as a PDF file."),
        rec("r6", "x\u200b\x07"),                                  # empty after normalisation? no: 'x' stays
    ])


def test_normalize_rejects_turns_that_become_empty_and_keeps_the_rest():
    f = records_to_frame([rec("a1", "ok\u00a0 fine\r\n\r\n\r\n\r\nbye"), rec("a2", "\u200b\x07 ")])
    r = normalize(f, NormalizeConfig())
    assert r.kept["id"].to_list() == ["a1"]
    assert r.kept["messages"][0][1]["content"] == "ok fine\n\nbye"
    assert r.rejects.select("id", "reason").rows() == [("a2", "normalize.empty_content")]


def test_exact_dedup_keeps_the_first_copy_and_names_it():
    r = exact_dedup(frame(), ExactDedupConfig())
    assert r.kept["id"].to_list() == ["r1", "r4", "r5", "r6"]
    assert r.rejects.select("id", "reason", "detail").rows() == [
        ("r2", "dedup.exact_duplicate", "duplicate of r1"), ("r3", "dedup.exact_duplicate", "duplicate of r1")]


def test_exact_dedup_against_an_existing_corpus_rejects_only_new_copies():
    f = frame()
    keys = exact_dedup(f, ExactDedupConfig()).kept
    old = {k: "old-" + i for k, i in zip(keys["exact_key"].to_list(), keys["id"].to_list())}
    r = exact_dedup(records_to_frame([rec("n1", BASE), rec("n2", "A brand new answer about roaming fees.")]),
                    ExactDedupConfig(), existing={k: v for k, v in old.items() if v == "old-r1"})
    assert r.kept["id"].to_list() == ["n2"]
    assert r.rejects["detail"].to_list() == ["duplicate of old-r1 (existing corpus)"]


def test_near_dedup_clusters_edits_and_keeps_the_earliest_member():
    r = near_dedup(exact_dedup(frame(), ExactDedupConfig()).kept, NearDedupConfig())
    assert r.kept["id"].to_list() == ["r1", "r5", "r6"]
    assert r.rejects.select("id", "reason", "detail").rows() == [("r4", "dedup.near_duplicate", "near-duplicate of r1")]
    assert dict(zip(r.kept["id"], r.kept["cluster_size"])) == {"r1": 2, "r5": 1, "r6": 1}


def test_split_keeps_groups_and_clusters_together_and_synthetic_in_train():
    records = [rec(f"g{i}", words(i), group=f"cust-{i % 7}", user=words(-i - 1)) for i in range(60)]
    records += [rec("s1", words(1000), group="cust-1", prov="synthetic", user=words(1001))]
    f = records_to_frame(records).with_columns(pl.col("id").alias("cluster"))
    r = split_by_group(f, SplitConfig(ratios=(0.5, 0.25, 0.25)))
    assert r.report.n_rejected == 0
    assert shared_groups(r.kept) == 0
    by_group = dict(r.kept.group_by("group").agg(pl.col("split").first()).rows())
    assert by_group["cust-1"] == "train"  # pulled to train by its synthetic record
    # A cluster spanning two groups lands in one split.
    f2 = f.with_columns(pl.when(pl.col("id") == "g3").then(pl.lit("g2")).otherwise(pl.col("cluster")).alias("cluster"))
    k2 = split_by_group(f2, SplitConfig(ratios=(0.5, 0.25, 0.25))).kept
    assert k2.filter(pl.col("group").is_in(["cust-2", "cust-3"]))["split"].n_unique() == 1


def test_split_assignment_is_stable_when_data_is_added():
    old = records_to_frame([rec(f"a{i}", words(i), group=f"grp-{i}", user=words(5000 + i)) for i in range(200)])
    new = records_to_frame([rec(f"b{i}", words(1000 + i), group=f"new-{i}", user=words(9000 + i)) for i in range(300)])
    before = dict(split_by_group(old, SplitConfig()).kept.select("id", "split").rows())
    after = dict(split_by_group(pl.concat([new, old]), SplitConfig()).kept.select("id", "split").rows())
    assert all(after[k] == v for k, v in before.items())
    counts = pl.Series(list(before.values())).value_counts().sort("")
    assert set(before.values()) == {"train", "val", "test"} and counts is not None


def test_decontaminate_deletes_only_for_eval_files_and_synthetic_records_never_real_ones_against_val():
    leak = "the quick brown fox jumps over the lazy dog while the cat sleeps on the warm mat"
    rows = [rec("t1", "Intro. " + leak + " end."), rec("t2", "Nothing in common here at all, just words."),
            rec("v1", leak)]
    f = records_to_frame(rows).with_columns(pl.Series("split", ["train", "train", "val"]))
    # A real train record overlapping val is the split's business (one component), never deleted here.
    assert decontaminate(f, DecontamConfig(), {}).report.n_rejected == 0
    synth = f.with_columns(pl.when(pl.col("id") == "t1").then(pl.lit("synthetic")).otherwise(pl.col("provenance"))
                           .alias("provenance"))
    r = decontaminate(synth, DecontamConfig(), {})
    assert r.rejects.select("id", "reason", "detail").rows() == [
        ("t1", "decontam.ngram_overlap", "shares a 13-word span with val")]
    r2 = decontaminate(f.filter(pl.col("id") != "v1"), DecontamConfig(), {"eval file e.jsonl": [leak]})
    assert r2.rejects.select("id", "detail").rows() == [("t1", "shares a 13-word span with eval file e.jsonl")]
    # The same span in 3+ records is boilerplate (a canned macro), not a leak.
    rows3 = [rec("t1", "Intro. " + leak + " end."), rec("t3", leak + " again", user="A different question.")]
    f3 = records_to_frame(rows3).with_columns(pl.Series("split", ["train", "train"]))
    assert decontaminate(f3, DecontamConfig(), {"eval file e.jsonl": [leak]}).report.n_rejected == 0


STEPS = {
    "normalize": lambda f: normalize(f, NormalizeConfig()),
    "exact_dedup": lambda f: exact_dedup(f, ExactDedupConfig()),
    "near_dedup": lambda f: near_dedup(f, NearDedupConfig()),
    "split": lambda f: split_by_group(f.with_columns(pl.col("id").alias("cluster")), SplitConfig()),
    "decontam": lambda f: decontaminate(
        f.with_columns(pl.Series("split", ["train", "val"] * (f.height // 2) + ["train"] * (f.height % 2))),
        DecontamConfig(), {}),
}


def _optional_steps():
    out = {}
    try:
        from curate.quality import QualityConfig, filter_quality
        out["quality"] = lambda f: filter_quality(f, QualityConfig())
    except ImportError:
        pass
    return out


@pytest.mark.parametrize("name", sorted({**STEPS, **_optional_steps()}))
def test_every_step_conserves_records(name):
    fn = {**STEPS, **_optional_steps()}[name]
    f = frame()
    r = fn(f)
    assert r.report.n_in == f.height == r.kept.height + r.rejects.height
    assert r.report.n_kept == r.kept.height and r.report.n_rejected == r.rejects.height
    assert sum(r.report.reasons.values()) == r.report.n_rejected
    assert set(r.kept["id"]) | set(r.rejects["id"]) == set(f["id"])
    assert all(x.startswith(name.split("_")[0]) or x.startswith("dedup.") for x in r.rejects["reason"])


def test_mix_blends_the_target_fraction_dedups_against_domain_and_accounts_for_every_candidate(tmp_path):
    import json

    from curate.config import MixConfig
    from curate.mix import mix_general

    domain = records_to_frame([rec(f"d{i}", f"domain answer number {i} about routers and bills") for i in range(6)])
    domain = domain.with_columns(pl.Series("split", ["train"] * 4 + ["val", "test"]),
                                 pl.col("id").alias("cluster"), pl.lit(1, dtype=pl.Int64).alias("cluster_size"))
    mix_file = tmp_path / "general.jsonl"
    items = [{"id": f"g{i}", "instruction": f"General question {i} about {w}", "output": f"An answer on {w}."}
             for i, w in enumerate(["maths", "maps", "music", "moons", "maize", "mail"])]
    items.append({"instruction": "My internet keeps dropping every evening.",
                  "output": "domain answer number 2 about routers and bills"})  # same as d2
    mix_file.write_text("".join(json.dumps(x) + "\n" for x in items) + "{bad\n")
    r = mix_general(domain, MixConfig(files=[str(mix_file)], fraction=1 / 3), NearDedupConfig(), ExactDedupConfig())
    mixed = r.kept.filter(pl.col("provenance") == "mix")
    assert mixed.height == 2 and set(mixed["split"]) == {"train"}
    reasons = sorted(r.rejects["reason"].to_list())
    assert reasons == ["mix.duplicate_of_domain", "mix.invalid_invalid_json"] + ["mix.over_target"] * 4
    assert r.report.n_in == 6 + 8 == r.kept.height + r.rejects.height


def test_groups_of_an_earlier_corpus_keep_their_split():
    from curate.split import group_digest

    f = records_to_frame([rec(f"k{i}", words(i), group=f"grp-{i}", user=words(100 + i)) for i in range(30)])
    plain = SplitConfig(ratio_tolerance=0.99)  # no balancing: new groups stay where their hash puts them
    free = dict(split_by_group(f, plain).kept.select("group", "split").rows())
    flipped = {group_digest(g): ("val" if s == "train" else "train") for g, s in free.items() if g < "grp-2"}
    pinned = dict(split_by_group(f, plain, known=flipped).kept.select("group", "split").rows())
    # With balancing on, new groups may move to even out the shares; the old ones never do.
    balanced = dict(split_by_group(f, SplitConfig(), known=flipped).kept.select("group", "split").rows())
    assert all(balanced[g] == flipped[group_digest(g)] for g in free if g < "grp-2")
    assert all(pinned[g] == flipped[group_digest(g)] for g in free if g < "grp-2")
    assert all(pinned[g] == free[g] for g in free if g >= "grp-2")
