"""Shingling and hashing: the pure-Python reference (the specification) and the vectorised
path that reproduces it bit for bit, up to one chunk's MinHash signature matrix."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import xxhash


_U64 = np.uint64
_U32 = np.uint32
_M64 = (1 << 64) - 1
_MAX32 = np.uint32(0xFFFFFFFF)

# MurmurHash3 fmix constants (the same ones datasketch uses).
_F64_M1 = 0xFF51AFD7ED558CCD
_F64_M2 = 0xC4CEB9FE1A85EC53
_F32_M1 = 0x85EBCA6B
_F32_M2 = 0xC2B2AE35
# Fixed odd constants of the word / shingle / band hashes (arbitrary, never
# change them: saved signatures depend on them).
_K_LEN = 0x9E3779B97F4A7C15
_K_HI = 0xD6E8FEB86659FD93
_K_M = 0xA0761D6478BD642F
_K_POS_SEED = 0x2545F4914F6CDD1D
_K_BAND_SEED = 0x94D049BB133111EB

# Python's str.split() whitespace within ASCII: \t \n \v \f \r, \x1c-\x1f, space.
_SEP = np.zeros(256, dtype=bool)
_SEP[[9, 10, 11, 12, 13, 28, 29, 30, 31, 32]] = True
# Byte masks that keep the first L bytes of a zero padded 16-byte word.
_MASK_LO = np.array([(1 << (8 * min(L, 8))) - 1 for L in range(17)], dtype=_U64)
_MASK_HI = np.array([(1 << (8 * max(L - 8, 0))) - 1 for L in range(17)], dtype=_U64)
_WORD_PACK = 16
_LEN_MIX = np.array([(L * _K_LEN) & _M64 for L in range(_WORD_PACK + 1)], dtype=_U64)


# --------------------------------------------------------------------------
# reference (pure Python) shingling and hashing: the specification that the
# vectorised path reproduces bit for bit.


def _fmix64(x: int) -> int:
    x ^= x >> 33
    x = (x * _F64_M1) & _M64
    x ^= x >> 33
    x = (x * _F64_M2) & _M64
    return x ^ (x >> 33)


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


@lru_cache(maxsize=64)
def _odd_constants(seed: int, n: int) -> tuple[int, ...]:
    out, x = [], seed
    for _ in range(n):
        x = _splitmix64(x)
        out.append(x | 1)
    return tuple(out)


def normalize_words(text: str) -> list[str]:
    """The words of a text: lower-cased, split on any whitespace."""
    return text.lower().split()


def shingles(text: str, ngram: int = 5) -> list[bytes]:
    """Word n-gram shingles of a text (UTF-8, words joined by one space).

    A text of fewer than ``ngram`` words gives one shingle of all its words;
    an empty text gives none. Duplicates are kept (MinHash treats the list as
    a set).
    """
    words = normalize_words(text)
    if not words:
        return []
    if len(words) < ngram:
        return [" ".join(words).encode()]
    return [" ".join(words[i : i + ngram]).encode() for i in range(len(words) - ngram + 1)]


def word_hash64(word: bytes) -> int:
    """64-bit hash of one (lower-cased, UTF-8) word."""
    n = len(word)
    if n > _WORD_PACK:
        return xxhash.xxh3_64_intdigest(word)
    lo, hi = struct.unpack("<QQ", word.ljust(_WORD_PACK, b"\0"))
    return _fmix64(lo ^ ((n * _K_LEN) & _M64) ^ ((hi * _K_HI) & _M64))


def shingle_hash64(shingle: bytes) -> int:
    """64-bit hash of a shingle (words joined by single spaces)."""
    words = shingle.split(b" ")
    pos = _odd_constants(_K_POS_SEED, len(words))
    acc = 0
    for c, w in zip(pos, words):
        acc = (acc + word_hash64(w) * c) & _M64
    return _fmix64(acc ^ ((len(words) * _K_M) & _M64))


def shingle_hash32(shingle: bytes) -> int:
    """The 32-bit base hash of a shingle: datasketch's ``hashfunc`` for our scheme."""
    return shingle_hash64(shingle) & 0xFFFFFFFF


# --------------------------------------------------------------------------
# vectorised shingling and signatures


def _vfmix64(x: np.ndarray) -> np.ndarray:
    x = x ^ (x >> _U64(33))
    x *= _U64(_F64_M1)
    x ^= x >> _U64(33)
    x *= _U64(_F64_M2)
    x ^= x >> _U64(33)
    return x


def _vfmix32(x: np.ndarray) -> np.ndarray:
    x = x ^ (x >> _U32(16))
    x *= _U32(_F32_M1)
    x ^= x >> _U32(13)
    x *= _U32(_F32_M2)
    x ^= x >> _U32(16)
    return x


def _shingle_hashes_chunk(texts: Sequence[str], ngram: int, first: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Shingle hashes (uint64) of a batch, grouped by text, and their offsets (n+1).

    Equal to ``[shingle_hash64(s) for s in shingles(t, ngram)]`` per text.
    The texts are joined into one byte buffer; words are found and hashed
    with array operations, so per-word Python work is limited to words longer
    than 16 bytes.
    """
    pieces = [b""]  # the join below then starts with a separator
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"text {first + i} is {type(t).__name__}, expected str")
        s = t.lower()
        if not s.isascii():
            # Unicode whitespace (NBSP, U+2003, ...) is multi-byte in UTF-8:
            # let Python split it so both paths see the same words.
            s = " ".join(s.split())
        pieces.append(s.encode())
    n = len(pieces) - 1
    lens = np.fromiter(map(len, pieces), dtype=np.int64, count=n + 1)[1:]
    # texts joined by one separator, one more in front and at the end, so
    # every word is enclosed by separators and never straddles two texts;
    # then zero padding for the 16-byte reads of the last word
    doc_start = np.ones(n, dtype=np.int64)
    if n > 1:
        np.cumsum(lens[:-1] + 1, out=doc_start[1:])
        doc_start[1:] += 1
    pieces.append(b"\0" * _WORD_PACK)
    data = b" ".join(pieces)
    del pieces
    buf = np.frombuffer(data, dtype=np.uint8)
    body = buf[: len(data) - _WORD_PACK]
    # word byte <=> not one of Python's ASCII whitespace (9..13, 28..32)
    isword = ((body - np.uint8(9)) > 4) & ((body - np.uint8(28)) > 4)
    flips = np.flatnonzero(isword[1:] != isword[:-1]) + 1
    del isword, body
    starts, ends = flips[0::2], flips[1::2]
    # word w belongs to text d iff woff[d] <= w < woff[d + 1]
    woff = np.empty(n + 1, dtype=np.int64)
    woff[:n] = np.searchsorted(starts, doc_start)
    woff[n] = len(starts)
    wcount = np.diff(woff)

    # word hashes: the first 16 bytes of each word as two little-endian
    # uint64 (one 16-byte gather per word through an overlapping view)
    wlen = ends - starts
    win = np.ndarray(shape=(len(buf) - _WORD_PACK + 1,), dtype="V16", buffer=buf, strides=(1,))
    q = win[starts].view("<u8").reshape(-1, 2)
    clipped = np.minimum(wlen, _WORD_PACK)
    lo = q[:, 0] & _MASK_LO[clipped]
    hi = q[:, 1] & _MASK_HI[clipped]
    del q, win
    lo ^= _LEN_MIX[clipped]
    hi *= _U64(_K_HI)
    lo ^= hi
    wh = _vfmix64(lo)
    for k in np.flatnonzero(wlen > _WORD_PACK).tolist():
        wh[k] = xxhash.xxh3_64_intdigest(data[starts[k] : ends[k]])
    del lo, hi, data, buf

    # shingle hashes: acc[g] = sum_j wh[g + j] * C_j for every word position g
    nw = len(wh)
    pos = _odd_constants(_K_POS_SEED, ngram)
    whp = np.concatenate([wh, np.zeros(ngram, dtype=_U64)])
    acc = wh * _U64(pos[0])
    for j in range(1, ngram):
        acc += whp[j : j + nw] * _U64(pos[j])
    del whp
    # a full shingle starts anywhere but at the last ngram-1 words of a text;
    # a short text (0 < count < ngram) has one shingle at its first word
    valid = np.ones(nw, dtype=bool)
    for j in range(1, ngram):
        valid[woff[1:][wcount >= j] - j] = False
    short = np.flatnonzero((wcount > 0) & (wcount < ngram))
    if len(short):
        base = woff[short]
        cnt = wcount[short]
        sacc = wh[base] * _U64(pos[0])
        for j in range(1, ngram - 1):
            m = cnt > j
            sacc[m] += wh[base[m] + j] * _U64(pos[j])
        # the length term below assumes ngram words: correct it for these
        sacc ^= (cnt.astype(_U64) * _U64(_K_M)) ^ _U64((ngram * _K_M) & _M64)
        acc[base] = sacc
        valid[base] = True
    sel = acc[valid]
    sel ^= _U64((ngram * _K_M) & _M64)
    sh = _vfmix64(sel)
    scount = np.where(wcount >= ngram, wcount - ngram + 1, np.minimum(wcount, 1))
    soff = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(scount, out=soff[1:])
    return sh, soff


@lru_cache(maxsize=32)
def _permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's affine32 permutation parameters for (num_perm, seed)."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=_U32) * _U32(2) + _U32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=_U32)
    return a, b


# Shingles per permutation block: 128 x 8192 uint32 = 4 MiB stays in cache.
_PERM_BLOCK = 8192


def _minhash_from_shingles(sh: np.ndarray, soff: np.ndarray, num_perm: int, seed: int) -> np.ndarray:
    n = len(soff) - 1
    a, b = _permutations(num_perm, seed)
    a_col, b_col = a[:, None], b[:, None]
    hv = _vfmix32((sh & _U64(0xFFFFFFFF)).astype(_U32))
    out = np.full((num_perm, n), _MAX32, dtype=_U32)
    counts = np.diff(soff)
    nonempty = np.flatnonzero(counts > 0)
    if len(nonempty) == 0:
        return np.ascontiguousarray(out.T)
    # group whole texts into blocks of about _PERM_BLOCK shingles
    ne_start = soff[nonempty]
    block_id = ne_start // _PERM_BLOCK
    cuts = np.flatnonzero(np.diff(block_id)) + 1
    bounds = np.concatenate([[0], cuts, [len(nonempty)]])
    tmp = np.empty((num_perm, min(len(hv), 2 * _PERM_BLOCK)), dtype=_U32)
    for lo_i, hi_i in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
        docs = nonempty[lo_i:hi_i]
        s0 = int(soff[docs[0]])
        s1 = int(soff[docs[-1] + 1])
        width = s1 - s0
        if width > tmp.shape[1]:
            tmp = np.empty((num_perm, width), dtype=_U32)
        view = tmp[:, :width]
        np.multiply(a_col, hv[None, s0:s1], out=view)
        view += b_col
        out[:, docs] = np.minimum.reduceat(view, soff[docs] - s0, axis=1)
    return np.ascontiguousarray(out.T)
