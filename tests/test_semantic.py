"""semantic_dedup: paraphrases rejected with the kept id, paraphrases kept in one split, embeddings cached.

Uses the real packaged all-MiniLM-L6-v2 (checksum-verified) on CPU. The
planted texts are written for these tests: "duplicates" are the same answer
reworded (MinHash 5-gram Jaccard ~0.04, so near_dedup misses them; cosine
0.94-0.97), "paraphrases" are the question and the answer both reworded
(cosine 0.78-0.85: related, not duplicates), and a hard negative (turn 2FA on
vs off, cosine 0.72) must survive both.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from pydantic import ValidationError

from curate.frame import records_to_frame
from schemas.messages import Message
from schemas.record import Record

pytest_plugins = ("flows.testing",)

pytestmark = pytest.mark.slow

DUPS = [  # one answer, reworded twice: the first is kept, the other two are duplicates of it
    ("How do I reset my password?", "To reset your password, click 'Forgot password' on the sign-in page and enter "
                                     "your e-mail address. We send a link that works for 24 hours."),
    ("How can I reset my password?", "To reset the password, press 'Forgot password' on the login page and type your "
                                      "email address. We will send you a link that is valid for 24 hours."),
    ("Hi! How do I reset my password please?", "To reset your password, just click 'Forgot password' on the sign in "
                                                "page and enter your email. We'll send you a link which works for 24 hours."),
]
HARD_NEGATIVE = [
    ("How do I turn on two-factor authentication?", "Open Settings > Security and turn on two-factor authentication, "
                                                     "then scan the QR code with your authenticator app."),
    ("How do I turn off two-factor authentication?", "Open Settings > Security, choose two-factor authentication and "
                                                      "press Disable, then confirm with a code from your app."),
]
PARAPHRASES = [  # related (same split), not duplicates (both kept)
    (("How do I cancel my subscription?", "You can cancel your plan from Settings > Billing > Cancel plan. Access "
                                          "continues until the end of the billing period."),
     ("I want to stop paying for my monthly plan.", "Go to Settings, then Billing, and press Cancel plan; you keep "
                                                     "access until the period ends.")),
    (("Where can I download my invoices?", "All invoices are listed under Billing > Invoices, and each one has a PDF "
                                           "button so you can download it."),
     ("How do I get copies of my bills?", "Open Billing and then Invoices: every invoice there has a PDF button for "
                                          "downloading it.")),
    (("My package has not arrived yet.", "Your parcel is delayed at the carrier's depot and should arrive tomorrow. "
                                         "You can follow it with the tracking link in your e-mail."),
     ("Where is my delivery? It should be here by now.", "The courier has your parcel at their local depot with a "
                                                         "one-day delay, so expect it tomorrow; the tracking link is "
                                                         "in your e-mail.")),
    (("Do you ship to Canada?", "Yes, we ship to Canada. Delivery takes five to eight business days and costs twelve "
                                "dollars."),
     ("Can I order from Canada?", "We do deliver to Canada: shipping costs twelve dollars and arrives in five to eight "
                                  "working days.")),
    (("How do I switch the app to dark mode?", "Go to Settings, open Appearance and choose Dark. The app changes its "
                                               "colours right away."),
     ("Is there a dark theme in the app?", "Yes: in Settings, open Appearance and select Dark, and the colours change "
                                           "immediately.")),
    (("My card keeps getting declined.", "Please check the card's expiry date and billing address. If both are "
                                         "correct, your bank may be blocking the payment, so give them a call."),
     ("Payment fails with my credit card every time.", "Make sure the expiry date and billing address match your "
                                                       "card. If they do, the bank is probably declining it; calling "
                                                       "them usually fixes it.")),
    (("How do I add a teammate to my workspace?", "Go to Workspace settings, open Members and click Invite. Your "
                                                  "teammate gets an e-mail to join."),
     ("I want to invite a colleague to our team space.", "Open Members in your workspace settings and press Invite; "
                                                         "your colleague receives an invitation by e-mail.")),
    (("The printer will not connect to my Wi-Fi.", "Restart the printer and the router, then run the Wireless Setup "
                                                   "Wizard from the printer menu and pick your network."),
     ("My printer cannot join the wireless network.", "Turn the router and the printer off and on, then use the "
                                                      "Wireless Setup Wizard on the printer to select your network "
                                                      "again.")),
]


def rec(rid: str, qa: tuple[str, str], group: str | None = None) -> Record:
    return Record(id=rid, source="t.jsonl", line=1, group=group or rid,
                  messages=[Message(role="user", content=qa[0]), Message(role="assistant", content=qa[1])])


def _planted_rows() -> list[tuple[str, tuple[str, str]]]:
    rows = [(f"d{i}", qa) for i, qa in enumerate(DUPS)] + [(f"n{i}", qa) for i, qa in enumerate(HARD_NEGATIVE)]
    for k, (a, b) in enumerate(PARAPHRASES):
        rows += [(f"p{k}a", a), (f"p{k}b", b)]
    return rows


def planted_frame() -> pl.DataFrame:
    return records_to_frame([rec(rid, qa) for rid, qa in _planted_rows()])


def count_forwards(cfg, calls: list):
    """Hook the real loaded encoder: every forward pass appends its batch size to `calls`."""
    from curate.embed import load_encoder

    return load_encoder(cfg).model.register_forward_hook(
        lambda module, args, kwargs, out: calls.append(int(kwargs["input_ids"].shape[0])), with_kwargs=True)


# --------------------------------------------------------------------------- step behaviour


def test_planted_paraphrases_are_rejected_with_the_kept_id_and_the_cosine():
    from curate.semantic import SemanticDedupConfig, semantic_dedup

    r = semantic_dedup(planted_frame(), SemanticDedupConfig(enabled=True, dedup=True), progress=False)
    assert r.rejects["id"].to_list() == ["d1", "d2"]
    assert set(r.rejects["reason"]) == {"dedup.semantic_duplicate"}
    for detail in r.rejects["detail"]:
        assert detail.startswith("semantic duplicate of d0 (cosine 0.9")
    assert r.kept["id"].to_list() == ["d0", "n0", "n1"] + [f"p{k}{s}" for k in range(len(PARAPHRASES)) for s in "ab"]
    assert r.report.n_in == 3 + 2 + 2 * len(PARAPHRASES) == r.report.n_kept + r.report.n_rejected


def test_the_member_with_the_highest_quality_score_is_kept():
    from curate.semantic import SemanticDedupConfig, semantic_dedup

    f = planted_frame().with_columns(
        pl.when(pl.col("id") == "d2").then(0.9).when(pl.col("id") == "d0").then(0.1).otherwise(None)
        .alias("quality_score"))
    r = semantic_dedup(f, SemanticDedupConfig(enabled=True, dedup=True), progress=False)
    assert sorted(r.rejects["id"].to_list()) == ["d0", "d1"]
    assert all(d.startswith("semantic duplicate of d2 ") for d in r.rejects["detail"])
    assert r.report.stats["kept_by_score"] == 1


def test_related_paraphrases_share_a_component_and_the_hard_negative_stays_apart():
    from curate.semantic import SemanticDedupConfig, semantic_dedup, semantic_edges

    cfg = SemanticDedupConfig(enabled=True, dedup=True)
    r = semantic_dedup(planted_frame(), cfg, progress=False)
    comp = dict(zip(r.kept["id"], r.kept["semantic_component"]))
    for k in range(len(PARAPHRASES)):
        assert comp[f"p{k}a"] == comp[f"p{k}b"] == f"p{k}a"
    assert comp["n0"] is None and comp["n1"] is None and comp["d0"] is None
    edges = semantic_edges(planted_frame(), cfg)
    assert {(f"p{k}a", f"p{k}b") for k in range(len(PARAPHRASES))} <= set(edges)
    assert ("n0", "n1") not in edges


def test_by_default_the_step_rejects_nothing_and_groups_the_reworded_answers_for_the_split():
    from curate.semantic import SemanticDedupConfig, semantic_dedup

    r = semantic_dedup(planted_frame(), SemanticDedupConfig(enabled=True), progress=False)
    assert r.report.n_rejected == 0 and r.kept["id"].to_list() == planted_frame()["id"].to_list()
    comp = dict(zip(r.kept["id"], r.kept["semantic_component"]))
    assert comp["d0"] == comp["d1"] == comp["d2"] == "d0"


def test_disabled_step_keeps_everything_and_loads_no_model(monkeypatch):
    import curate.embed
    from curate.semantic import SemanticDedupConfig, semantic_dedup

    def refuse(*a, **k):
        raise AssertionError("model loaded")

    monkeypatch.setattr(curate.embed, "load_encoder", refuse)
    f = planted_frame()
    r = semantic_dedup(f, SemanticDedupConfig())
    assert r.kept["id"].to_list() == f["id"].to_list() and r.rejects.height == 0


# --------------------------------------------------------------------------- split


def test_a_paraphrase_pair_is_never_split_across_train_val_test():
    from curate.config import SplitConfig
    from curate.semantic import SemanticDedupConfig, semantic_dedup
    from curate.split import split_by_group

    cfg = SplitConfig(ratios=(0.34, 0.33, 0.33))
    annotated = semantic_dedup(planted_frame(), SemanticDedupConfig(enabled=True), progress=False).kept

    def pairs_apart(frame):
        split = dict(zip(frame["id"], frame["split"]))
        return [k for k in range(len(PARAPHRASES)) if split[f"p{k}a"] != split[f"p{k}b"]]

    without = split_by_group(annotated.drop("semantic_component"), cfg).kept
    assert pairs_apart(without), "the planted pairs would not straddle splits anyway: the test could not fail"
    assert pairs_apart(split_by_group(annotated, cfg).kept) == []


def test_curate_run_with_semantic_dedup_keeps_pairs_together_and_reuses_embeddings(tmp_path):
    from curate.config import PipelineConfig
    from curate.run import run
    from curate.semantic import SemanticDedupConfig

    src = tmp_path / "in" / "chats.jsonl"
    src.parent.mkdir()
    rows = [{"id": r.id, "customer_id": f"cust-{r.id}", "messages": [m.model_dump(exclude_none=True) for m in r.messages]}
            for r in (rec(rid, qa) for rid, qa in _planted_rows())]
    src.write_text("".join(json.dumps(x) + "\n" for x in rows))
    out = tmp_path / "out"
    cfg = PipelineConfig.model_validate({"pii": {"enabled": False}, "semantic_dedup": {"enabled": True, "dedup": True},
                                         "split": {"ratios": [0.34, 0.33, 0.33]},
                                         "quality": {"truncated": {"enabled": False}}})
    res = run([str(src)], out, cfg)
    sem = next(r for r in res.reports if r.step == "semantic_dedup")
    assert (sem.n_in, sem.n_rejected, dict(sem.reasons)) == (len(rows), 2, {"dedup.semantic_duplicate": 2})
    rejects = [json.loads(x) for x in (out / "rejects.jsonl").read_text().splitlines()]
    assert sorted((r["id"], r["detail"][:26]) for r in rejects) == [
        ("d1", "semantic duplicate of d0 ("), ("d2", "semantic duplicate of d0 (")]
    split = {}
    for s in ("train", "val", "test"):
        for line in (out / f"{s}.chatml.jsonl").read_text().splitlines():
            split[json.loads(line)["id"]] = s
    assert all(split[f"p{k}a"] == split[f"p{k}b"] for k in range(len(PARAPHRASES))), split
    assert res.manifest.leak_checks["passed"]
    assert list((out / ".steps" / "embeddings").iterdir()), "no embedding cache in the run directory"

    # A changed dedup threshold re-runs the step: every vector comes from the cache, the model never runs.
    calls: list[int] = []
    handle = count_forwards(cfg.semantic_dedup.embed, calls)
    try:
        cfg2 = cfg.model_copy(update={"semantic_dedup": cfg.semantic_dedup.model_copy(update={"threshold": 0.95})})
        res2 = run([str(src)], out, cfg2)
    finally:
        handle.remove()
    assert "semantic_dedup" not in res2.reused  # the step ran again...
    assert calls == []  # ...on cached vectors
    assert next(r for r in res2.reports if r.step == "semantic_dedup").n_rejected == 2

    # The default (`--semantic-dedup` alone): nothing rejected, the reworded answers kept in one split.
    res3 = run([str(src)], out, cfg.model_copy(update={"semantic_dedup": SemanticDedupConfig(enabled=True)}))
    assert next(r for r in res3.reports if r.step == "semantic_dedup").n_rejected == 0
    split3 = {json.loads(line)["id"]: s for s in ("train", "val", "test")
              for line in (out / f"{s}.chatml.jsonl").read_text().splitlines()}
    assert len(split3) == len(rows) and split3["d0"] == split3["d1"] == split3["d2"]


# --------------------------------------------------------------------------- cache, search, config, model


def test_embeddings_are_cached_by_content_and_only_new_texts_are_embedded(tmp_path):
    from curate.embed import EmbedConfig, embed_texts

    cfg = EmbedConfig()
    texts = [f"{q}\n{a}" for q, a in DUPS]
    calls: list[int] = []
    handle = count_forwards(cfg, calls)
    try:
        first = embed_texts(texts, cfg, cache_dir=tmp_path)
        assert sum(calls) == 3
        again = embed_texts(texts, cfg, cache_dir=tmp_path)
        assert sum(calls) == 3
        more = embed_texts(texts + ["A new text about roaming fees abroad."], cfg, cache_dir=tmp_path)
        assert sum(calls) == 4  # one forward pass of one text
        uncached = embed_texts(texts, cfg.model_copy(update={"cache": False}), cache_dir=tmp_path)
        assert sum(calls) == 7
    finally:
        handle.remove()
    assert np.array_equal(first, again) and np.array_equal(first, more[:3])
    np.testing.assert_allclose(first, uncached, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(embed_texts(["", "  "], cfg), np.zeros((2, first.shape[1]), dtype=np.float32))


def test_tokenizing_in_chunks_packs_each_texts_ids_and_embeds_the_same_as_one_call():
    from curate.embed import EmbedConfig, encode, load_encoder, token_ids

    enc = load_encoder(EmbedConfig())
    texts = [f"{q}\n{a}" for q, a in DUPS + HARD_NEGATIVE] + ["", "ok", "word " * 400]
    flat, offsets = token_ids(enc, texts, chunk=2)  # 9 texts in 5 tokenizer calls
    assert flat.dtype == np.int32 and len(offsets) == len(texts) + 1
    for i, t in enumerate(texts):
        want = enc.tokenizer(t, truncation=True, max_length=enc.max_tokens)["input_ids"]
        assert flat[offsets[i]:offsets[i + 1]].tolist() == want
    assert offsets[-1] - offsets[-2] == enc.max_tokens  # the long text is cut to the model's limit
    one_call = token_ids(enc, texts, chunk=4096)
    assert np.array_equal(one_call[0], flat) and np.array_equal(one_call[1], offsets)
    vecs = encode(enc, texts[:5], batch_size=2)
    solo = np.stack([encode(enc, [t], batch_size=1)[0] for t in texts[:5]])
    np.testing.assert_allclose(vecs, solo, atol=1e-5)  # padding in a batch does not change a text's vector


def test_neighbour_pairs_are_exactly_the_pairs_over_the_threshold():
    from curate.semantic import neighbour_pairs

    rng = np.random.default_rng(3)
    x = rng.standard_normal((700, 8)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    x[650:] = x[:50]  # exact copies: cosine 1 must be found
    pairs, sims = neighbour_pairs(x, 0.9, block_size=64)
    s = x @ x.T
    i, j = np.nonzero(np.triu(s >= 0.9 - 1e-6, 1))
    assert pairs.tolist() == np.stack([i, j], 1).tolist()
    np.testing.assert_allclose(sims, s[i, j], atol=1e-6)
    assert {(k, 650 + k) for k in range(50)} <= set(map(tuple, pairs.tolist()))


def test_config_is_strict_typed_and_reachable_from_the_cli():
    from curate.config import PipelineConfig, load_config
    from curate.semantic import SemanticDedupConfig

    with pytest.raises(ValidationError):
        SemanticDedupConfig(treshold=0.9)
    with pytest.raises(ValidationError):
        SemanticDedupConfig(threshold=0.8, related_threshold=0.85)
    with pytest.raises(ValidationError):
        SemanticDedupConfig(roles=("customer",))
    assert PipelineConfig().semantic_dedup.enabled is False and SemanticDedupConfig().dedup is False
    assert load_config(None, {"semantic_dedup.enabled": True, "semantic_dedup.embed.batch_size": 8}
                       ).semantic_dedup.embed.batch_size == 8
    import argparse

    from curate.cli_run import add_run

    parser = argparse.ArgumentParser()
    add_run(parser.add_subparsers())
    assert parser.parse_args(["run", "x", "--out", "o", "--semantic-dedup"]).semantic_dedup is True
    for field in SemanticDedupConfig.model_fields.values():
        assert field.description


def test_the_packaged_model_is_checksum_verified_and_a_changed_file_is_refused(tmp_path):
    from curate.embed_model import PINNED, packaged_model_dir, verify_embedding_model
    from schemas.local_model import ModelNotFoundError
    from curate.embed_model import resolve_embedding_model

    folder = packaged_model_dir()
    assert folder is not None and verify_embedding_model(folder) == []
    copy = tmp_path / "minilm"
    for name in PINNED:
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(folder / name, copy / name)
    assert verify_embedding_model(copy) == []
    (copy / "config.json").unlink()
    cfg = json.loads((folder / "config.json").read_text())
    cfg["hidden_act"] = "relu"
    (copy / "config.json").write_text(json.dumps(cfg, indent=2)[: PINNED["config.json"][1]].ljust(
        PINNED["config.json"][1]))
    assert verify_embedding_model(copy) == [f"{copy / 'config.json'} does not match its pinned sha256"]
    with pytest.raises(ModelNotFoundError, match="never downloaded"):
        resolve_embedding_model(str(tmp_path / "no-such-model"))


def test_a_related_component_never_exceeds_its_share_the_threshold_rises_instead():
    from curate.semantic import neighbour_pairs, related_components

    # 40 records on a chain: each is related to the next at ~0.80, and 20 disjoint pairs at ~0.95.
    n = 40
    pairs = np.array([[i, i + 1] for i in range(n - 1)], dtype=np.int64)
    sims = np.where(np.arange(n - 1) % 2 == 0, 0.95, 0.80).astype(np.float32)
    alive = np.ones(n, dtype=bool)
    comp, used, edges = related_components(n, pairs, sims, alive, 0.75, 0.92, max_share=0.15)
    assert used == 0.81 and edges == 20  # at 0.75 the chain is one component of 40 (100% > 15%)
    assert np.bincount(comp).max() == 2
    comp, used, _ = related_components(n, pairs, sims, alive, 0.75, 0.92, max_share=1.0)
    assert used == 0.75 and np.bincount(comp).max() == n
    assert neighbour_pairs(np.zeros((0, 4), dtype=np.float32), 0.5)[0].shape == (0, 2)


def test_the_curate_flow_runs_semantic_dedup_and_keeps_its_embeddings_for_a_changed_threshold(prefect_harness,
                                                                                                tmp_path):
    from flows.config import CurateFlowConfig
    from flows.curate import curate_flow

    src = tmp_path / "in" / "chats.jsonl"
    src.parent.mkdir()
    rows = [{"id": r.id, "messages": [m.model_dump(exclude_none=True) for m in r.messages]}
            for r in (rec(rid, qa) for rid, qa in _planted_rows())]
    src.write_text("".join(json.dumps(x) + "\n" for x in rows))
    over = {"pii.enabled": False, "semantic_dedup.enabled": True, "semantic_dedup.dedup": True,
            "quality.truncated.enabled": False}
    curate_flow(CurateFlowConfig(inputs=[str(src)], out=str(tmp_path / "flow"), work_dir=str(tmp_path / "work"),
                                 overrides=over))
    rejects = [json.loads(x) for x in (tmp_path / "flow" / "rejects.jsonl").read_text().splitlines()]
    assert sorted(r["id"] for r in rejects if r["reason"] == "dedup.semantic_duplicate") == ["d1", "d2"]
    assert list((tmp_path / "work" / "embeddings").iterdir()), "no embedding cache in the flow's work dir"

    from curate.semantic import SemanticDedupConfig

    calls: list[int] = []
    handle = count_forwards(SemanticDedupConfig().embed, calls)
    try:  # a changed threshold recomputes the task, on cached vectors: the model never runs
        curate_flow(CurateFlowConfig(inputs=[str(src)], out=str(tmp_path / "flow2"), work_dir=str(tmp_path / "work"),
                                     overrides={**over, "semantic_dedup.threshold": 0.95}))
    finally:
        handle.remove()
    assert calls == []
