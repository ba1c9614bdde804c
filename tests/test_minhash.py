"""MinHash LSH near-dedup: curate.minhash against real datasketch."""

from __future__ import annotations

import random

import numpy as np
import pytest
from datasketch import MinHashLSH
from datasketch.lsh import _optimal_param

from curate import minhash as mh
from curate.minhash import MinHashParams
from curate.minhash.hashing import _shingle_hashes_chunk

P = MinHashParams()


def _words(rng: random.Random, n: int, vocab: int = 5000) -> list[str]:
    return [f"w{rng.randrange(vocab)}" for _ in range(n)]


def _text(rng: random.Random, n: int = 200) -> str:
    return " ".join(_words(rng, n))


def _edit(text: str, positions: list[int], word: str = "EDITED") -> str:
    w = text.split()
    for p in positions:
        w[p] = word
    return " ".join(w)


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    """Originals and near copies (2 % of words replaced), plus short and empty texts."""
    rng = random.Random(7)
    base = [" ".join(rng.choice([f"v{i}" for i in range(300)]) for _ in range(100)) for _ in range(60)]
    texts = list(base)
    for _ in range(90):
        w = rng.choice(base).split()
        for k in range(len(w)):
            if rng.random() < 0.02:
                w[k] = f"v{rng.randrange(300)}"
        texts.append(" ".join(w))
    return texts + ["", "three short words", "Three  SHORT words"]


# ------------------------------------------------------------------ hashing


def test_vectorised_shingle_hashes_equal_the_reference_on_tricky_texts():
    texts = [
        "Hello   World foo bar baz qux",
        "",
        " \t\n ",
        "one",
        "Ünïcode\u00a0nbsp\u2003em-space ÀÉ text with accents here",
        "x\x1cy\x1fz\x0bq w e r t",
        "nul\x00byte inside a word and more words here",
        "a" * 40 + " short and a verylongwordthatexceedssixteenbytes " + "é" * 9 + " end",
        "exactly16bytes!! and 8bytes!! and 17bytesbytesbytes words",
    ]
    rng = random.Random(1)
    for _ in range(50):
        texts.append(" ".join(_words(rng, rng.randrange(0, 30))))
    for ngram in (1, 2, 5):
        sh, soff = _shingle_hashes_chunk(texts, ngram)
        for i, t in enumerate(texts):
            want = [mh.shingle_hash64(s) for s in mh.shingles(t, ngram)]
            assert sh[soff[i] : soff[i + 1]].tolist() == want, (ngram, t)


def test_signatures_equal_datasketch_minhash_with_our_hashfunc_bit_for_bit(corpus):
    params = MinHashParams(num_perm=64, seed=3)
    sigs = mh.signatures(corpus, params)
    assert sigs.dtype == np.uint32 and sigs.shape == (len(corpus), 64)
    for i in (0, 1, 70, 149, len(corpus) - 2, len(corpus) - 3):
        ref = mh.reference_minhash(corpus[i], params)
        assert ref.scheme == "affine32"
        assert np.array_equal(ref.hashvalues, sigs[i])
        lean = mh.to_datasketch(sigs[i], params.seed)
        assert lean.hashvalues.dtype == ref.hashvalues.dtype and len(lean) == 64
        assert lean.jaccard(ref) == 1.0


def test_empty_and_very_short_texts():
    assert mh.shingles("", 5) == [] and mh.shingles(" \n\t", 5) == []
    assert mh.shingles("Two  WORDS", 5) == [b"two words"]
    assert mh.shingles("a b c d e f", 5) == [b"a b c d e", b"b c d e f"]
    texts = ["", "   ", "Two words", "two   words", "one"]
    sigs = mh.signatures(texts, P)
    assert (sigs[0] == 0xFFFFFFFF).all() and (sigs[1] == 0xFFFFFFFF).all()
    res = mh.near_dedup(texts, P)
    # empty texts are never near-duplicates (of each other or of anything)
    assert res.representative.tolist() == [0, 1, 2, 2, 4]
    assert res.stats["n_empty"] == 2
    assert mh.near_dedup([], P).representative.shape == (0,)
    with pytest.raises(TypeError, match="text 1 is NoneType"):
        mh.signatures(["fine", None], P)


def test_the_estimate_is_unbiased_for_jaccard_on_random_pairs():
    # Sets of distinct words with a known overlap: |A| = |B| = 100, shift k
    # gives J = (100 - k) / (100 + k). Mean error over many random pairs must
    # be ~0 (the per-pair standard deviation is ~0.04 at num_perm=128).
    rng = random.Random(11)
    params = MinHashParams(ngram=1)
    a_texts, b_texts, exact = [], [], []
    for _ in range(400):
        words = [f"t{rng.getrandbits(40)}" for _ in range(200)]
        k = rng.randrange(0, 100)
        a_texts.append(" ".join(words[:100]))
        b_texts.append(" ".join(words[k : k + 100]))
        exact.append((100 - k) / (100 + k))
    est = mh.signature_jaccard(mh.signatures(a_texts, params), mh.signatures(b_texts, params))
    err = est - np.array(exact)
    assert abs(err.mean()) < 0.01
    assert np.sqrt((err**2).mean()) < 0.06
    # and on word 5-gram shingles of edited texts, against exact Jaccard
    docs = [_text(rng, 150) for _ in range(150)]
    edited = [_edit(d, rng.sample(range(150), rng.randrange(0, 12))) for d in docs]
    est = mh.signature_jaccard(mh.signatures(docs, P), mh.signatures(edited, P))
    truth = [
        len(set(mh.shingles(x)) & set(mh.shingles(y))) / len(set(mh.shingles(x)) | set(mh.shingles(y)))
        for x, y in zip(docs, edited)
    ]
    assert abs((est - np.array(truth)).mean()) < 0.015


# ------------------------------------------------------------ LSH parameters


def test_optimal_bands_rows_matches_datasketch():
    for threshold in (0.5, 0.8, 0.9):
        for weights in ((0.5, 0.5), (0.1, 0.9)):
            assert mh.optimal_bands_rows(threshold, 128, *weights) == _optimal_param(threshold, 128, *weights)
    assert MinHashParams().bands_rows == (9, 13)
    assert MinHashParams(bands=16, rows=8).bands_rows == (16, 8)
    with pytest.raises(ValueError):
        MinHashParams(bands=16, rows=9)


def test_datasketch_lsh_built_from_converted_signatures_finds_the_same_candidates(corpus):
    sigs = mh.signatures(corpus, P)
    for bands, rows in ((9, 13), (16, 8)):
        lsh = MinHashLSH(num_perm=128, params=(bands, rows))
        lean = [mh.to_datasketch(s, P.seed) for s in sigs]
        for i, m in enumerate(lean):
            lsh.insert(i, m)
        theirs = {(min(i, j), max(i, j)) for i, m in enumerate(lean) for j in lsh.query(m) if j != i}
        ours = {tuple(p) for p in mh.candidate_pairs(sigs, bands, rows).tolist()}
        assert len(ours) > 50
        assert ours == theirs


def test_a_bucket_cap_keeps_the_same_clusters(corpus):
    sigs = mh.signatures(corpus, P)
    full = mh.candidate_pairs(sigs, 16, 8)
    capped = mh.candidate_pairs(sigs, 16, 8, max_bucket=2)
    assert len(capped) < len(full)
    n = len(corpus)
    assert np.array_equal(mh.union_find_clusters(n, capped), mh.union_find_clusters(n, full))


def test_union_find_gives_the_smallest_index_of_each_component():
    rng = random.Random(3)
    for _ in range(100):
        n = rng.randrange(1, 50)
        pairs = np.array([(rng.randrange(n), rng.randrange(n)) for _ in range(rng.randrange(60))], dtype=np.int64)
        parent = list(range(n))

        def find(x):
            while parent[x] != x:
                x = parent[x]
            return x

        for a, b in pairs.reshape(-1, 2).tolist():
            ra, rb = find(a), find(b)
            parent[max(ra, rb)] = min(ra, rb)
        assert mh.union_find_clusters(n, pairs).tolist() == [find(x) for x in range(n)]


# --------------------------------------------------------------- near_dedup


def test_identical_texts_cluster():
    rng = random.Random(0)
    t = _text(rng)
    res = mh.near_dedup([t, _text(rng), t.upper(), "  ".join(t.split())], P)
    assert res.representative.tolist() == [0, 1, 0, 0]
    assert res.is_duplicate.tolist() == [False, False, True, True]
    assert res.cluster_size.tolist() == [3, 1, 3, 3]


def test_a_one_word_edit_in_a_200_word_text_clusters():
    rng = random.Random(1)
    t = _text(rng, 200)
    res = mh.near_dedup([t, _edit(t, [100])], P, verify="exact")
    assert res.representative.tolist() == [0, 0]
    assert res.pairs.tolist() == [[0, 1]]
    assert res.pair_similarity[0] == pytest.approx(191 / 201)


def test_unrelated_texts_do_not_cluster():
    rng = random.Random(2)
    texts = [_text(rng, 150) for _ in range(200)]
    res = mh.near_dedup(texts, P)
    assert res.representative.tolist() == list(range(200))
    assert res.stats["n_candidate_pairs"] == 0


def test_the_representative_is_the_smallest_index():
    rng = random.Random(4)
    t = _text(rng)
    texts = [_text(rng), _edit(t, [5]), _text(rng), t, _edit(t, [150]), _text(rng)]
    res = mh.near_dedup(texts, P)
    assert res.representative.tolist() == [0, 1, 2, 1, 1, 5]
    assert res.cluster_id.tolist() == [0, 1, 2, 1, 1, 3]


def test_exact_verification_removes_a_planted_false_candidate():
    # With 16 bands of one row, two texts that share a third of their
    # shingles almost surely meet in some band; exact Jaccard (~0.33) is far
    # below the threshold, so verification must drop the pair, while a true
    # near-duplicate (one edit) survives it.
    rng = random.Random(5)
    words = _words(rng, 120)
    a = " ".join(words[:80])
    b = " ".join(words[40:120])
    c = _edit(a, [40])
    params = MinHashParams(num_perm=16, bands=16, rows=1)
    loose = mh.near_dedup([a, b, c], params)
    assert [0, 1] in loose.pairs.tolist()
    assert loose.representative.tolist() == [0, 0, 0]
    strict = mh.near_dedup([a, b, c], params, verify="exact")
    assert strict.pairs.tolist() == [[0, 2]]
    assert strict.representative.tolist() == [0, 1, 0]
    jac = mh.exact_jaccard([a, b, c], np.array([[0, 1], [0, 2]]), ngram=5)
    assert jac[0] == pytest.approx(36 / 116) and jac[1] == pytest.approx(71 / 81)


def test_results_are_deterministic_and_do_not_depend_on_workers(corpus):
    params = MinHashParams(false_negative_weight=0.9, false_positive_weight=0.1)
    one = mh.near_dedup(corpus, params, verify="exact")
    again = mh.near_dedup(corpus, params, verify="exact")
    assert np.array_equal(one.signatures, again.signatures)
    assert np.array_equal(one.representative, again.representative)
    assert np.array_equal(one.pairs, again.pairs)
    assert one.stats == again.stats
    pooled = mh.signatures(corpus, params, workers=2, chunk_size=16)  # 10 chunks: a real pool
    assert np.array_equal(pooled, one.signatures)
    jac = mh.exact_jaccard(corpus, one.pairs, workers=2, chunk_pairs=8)
    assert np.array_equal(jac, one.pair_similarity)
    assert (one.pair_similarity >= 0.8).all() and one.stats["n_duplicates"] > 40
    # a different seed gives different signatures but the same clusters here
    other = mh.near_dedup(corpus, MinHashParams(seed=2, false_negative_weight=0.9, false_positive_weight=0.1),
                          verify="exact")  # fmt: skip
    assert not np.array_equal(other.signatures, one.signatures)


# --------------------------------------------------------------- incremental


def test_a_new_text_that_matches_an_old_one_maps_to_the_old_id(tmp_path):
    rng = random.Random(6)
    old = [_text(rng) for _ in range(4)]
    ids = ["doc-a", "doc-b", "doc-c", "doc-d"]
    path = mh.save_signatures(tmp_path / "corpus.parquet", ids, mh.signatures(old, P), P)
    before = path.read_bytes()
    stored = mh.load_signatures(path, P)
    half_a, half_c = old[0].split()[:100], old[2].split()[100:]
    bridge = " ".join(half_a + half_c)  # J ~ 1/3 with both doc-a and doc-c
    new = [
        _edit(old[1], [10]),  # near copy of doc-b
        _text(rng),  # new and unique
        _edit(old[1], [150]),  # also near doc-b
        "some fresh text that nobody has seen before at all",
        "Some fresh text that nobody has SEEN before at all",  # duplicate within the batch
        bridge,
        old[3],  # exact copy of doc-d
    ]
    res = mh.near_dedup_against(new, stored.sigs, P, corpus_ids=stored.ids)
    assert res.corpus_match.tolist() == [1, -1, 1, -1, -1, -1, 3]
    assert res.corpus_match_id == ["doc-b", None, "doc-b", None, None, None, "doc-d"]
    assert res.representative.tolist() == [-1, 1, -1, 3, 3, 5, -1]
    assert res.is_duplicate.tolist() == [True, False, True, False, True, False, True]
    assert (res.pairs[:, 1] >= len(old)).all()  # never an old-old pair
    assert path.read_bytes() == before  # old ones untouched
    assert np.array_equal(stored.sigs, mh.signatures(old, P))
    # signature and exact verification agree here; exact needs the old texts
    sig_v = mh.near_dedup_against(new, stored.sigs, P, corpus_ids=stored.ids, verify="signature")
    assert sig_v.corpus_match.tolist() == res.corpus_match.tolist()
    ex_v = mh.near_dedup_against(new, stored.sigs, P, verify="exact", corpus_texts=old)
    assert ex_v.corpus_match.tolist() == res.corpus_match.tolist()
    with pytest.raises(ValueError, match="corpus_texts"):
        mh.near_dedup_against(new, stored.sigs, P, verify="exact")
    # a loaded file carries its ids, and its params are checked
    from_file = mh.near_dedup_against(new, stored, P)
    assert from_file.corpus_match_id == res.corpus_match_id
    with pytest.raises(ValueError, match="not comparable"):
        mh.near_dedup_against(new, stored, MinHashParams(ngram=4))


def test_new_texts_never_merge_two_old_ones():
    rng = random.Random(8)
    shared = _words(rng, 200)
    old_a = " ".join(shared[:190] + _words(rng, 10))
    old_b = " ".join(shared[10:] + _words(rng, 10))
    new = " ".join(shared)  # near both old texts
    corpus = mh.signatures([old_a, old_b], P)
    params = MinHashParams(bands=32, rows=4)
    res = mh.near_dedup_against([new], corpus, params)
    assert res.pairs.tolist() == [[0, 2], [1, 2]]  # the new text bridges both old ones
    assert res.corpus_match.tolist() == [0]  # the smaller old row represents it
    assert res.stats["n_corpus_matches"] == 1


def test_signature_files_round_trip_atomically_and_refuse_other_params(tmp_path):
    rng = random.Random(9)
    texts = [_text(rng, 50) for _ in range(5)]
    sigs = mh.signatures(texts, P)
    path = tmp_path / "sigs.parquet"
    mh.save_signatures(path, [f"id{i}" for i in range(5)], sigs, P)
    loaded = mh.load_signatures(path, P)
    assert loaded.ids == [f"id{i}" for i in range(5)]
    assert loaded.sigs.dtype == np.uint32 and np.array_equal(loaded.sigs, sigs)
    assert loaded.fingerprint == P.signature_fingerprint()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sigs.parquet"]  # no temp file left
    mh.save_signatures(path, [10, 11], sigs[:2], P)  # overwrite in place, integer ids
    assert mh.load_signatures(path).ids == [10, 11]
    with pytest.raises(ValueError, match="not comparable"):
        mh.load_signatures(path, MinHashParams(seed=2))
    with pytest.raises(ValueError, match="not comparable"):
        mh.load_signatures(path, MinHashParams(ngram=3))
    mh.save_signatures(tmp_path / "empty.parquet", [], sigs[:0], P)
    assert mh.load_signatures(tmp_path / "empty.parquet", P).sigs.shape == (0, 128)
