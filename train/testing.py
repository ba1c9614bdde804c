"""Random-initialised models and small run directories, for tests and benchmarks (no downloads).

`build_random_model` writes an ordinary HF folder (config, safetensors, the
embedded model's tokenizer) for a Llama of a named shape: ``tiny`` (2 layers,
hidden 64: unit tests), ``smollm2-135m`` (the embedded model's shape) or
``llama3-8b`` (Llama-3-8B's shape, for GPU memory and throughput figures).
`write_run_dir` writes split files and a schemas.manifest.Manifest the way
a curate run does, so intake treats them like real runs.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

SHAPES: dict[str, dict[str, Any]] = {
    "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, max_position_embeddings=2048, tie_word_embeddings=True),
    "smollm2-135m": dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
                         num_key_value_heads=3, head_dim=64, max_position_embeddings=8192, tie_word_embeddings=True,
                         rms_norm_eps=1e-5, rope_theta=100000.0),
    "llama3-8b": dict(vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                      num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=8192,
                      tie_word_embeddings=False, rms_norm_eps=1e-5, rope_theta=500000.0),
}


def build_random_model(shape: str, out_dir: str | Path, tokenizer_dir: str | Path | None = None, seed: int = 0,
                       dtype: str = "float32", device: str = "cpu") -> Path:
    """Save a randomly initialised LlamaForCausalLM of `shape` with the embedded tokenizer.

    The vocabulary is the tokenizer's (49,152) unless the shape fixes its own
    (Llama-3-8B: 128,256; the tokenizer then uses only the first ids).
    Returns `out_dir`. An existing complete folder (config.json + weights) is reused.
    `device` "cuda" initialises on the GPU (an 8B shape in seconds instead of minutes).
    """
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from schemas.local_model import resolve_model_path

    out = Path(out_dir)
    if (out / "config.json").is_file() and any(out.glob("*.safetensors")):
        return out
    tok = AutoTokenizer.from_pretrained(tokenizer_dir or resolve_model_path(None))
    spec = {"vocab_size": len(tok), **SHAPES[shape]}
    config = LlamaConfig(bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                         pad_token_id=tok.pad_token_id, **spec)
    torch.manual_seed(seed)
    with torch.device(device):
        model = LlamaForCausalLM._from_config(config, dtype=getattr(torch, dtype))
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def write_run_dir(run_dir: str | Path, splits: dict[str, list[dict]], fmt: str = "chatml") -> Path:
    """Write ``{split}.{fmt}.jsonl`` and a manifest.json listing their sha256, bytes and records."""
    from schemas.jsonl import write_bytes_atomic, write_jsonl_atomic
    from schemas.manifest import FileEntry, Manifest

    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    outputs = []
    for split, rows in splits.items():
        path = run / f"{split}.{fmt}.jsonl"
        n = write_jsonl_atomic(path, rows)
        data = path.read_bytes()
        outputs.append(FileEntry(path=path.name, sha256=hashlib.sha256(data).hexdigest(), bytes=len(data),
                                 records=n, format=fmt))
    manifest = Manifest(tool_version="0.1.0", inputs=[], config={}, versions={}, steps=[],
                        splits={s: len(r) for s, r in splits.items()}, outputs=outputs)
    write_bytes_atomic(run / "manifest.json", json.dumps(manifest.model_dump(), indent=2).encode() + b"\n")
    return run


def dpo_pairs_from_chat(records: list[dict], seed: int = 0) -> list[dict]:
    """Preference pairs from chatml records: the prompt is the conversation up to its last
    assistant turn, chosen is that turn's real answer, rejected is the last answer of
    another (seeded random) conversation: fluent but off-topic. For demos and tests."""
    import random

    rng = random.Random(seed)
    pairs = []
    answers = [[m for m in r["messages"] if m["role"] == "assistant"][-1]["content"] for r in records]
    for i, rec in enumerate(records):
        msgs = rec["messages"]
        last = max(j for j, m in enumerate(msgs) if m["role"] == "assistant")
        others = [a for j, a in enumerate(answers) if j != i and a.strip() != msgs[last]["content"].strip()]
        if not others:
            continue
        pairs.append({"prompt": [{"role": m["role"], "content": m["content"]} for m in msgs[:last]],
                      "chosen": [{"role": "assistant", "content": msgs[last]["content"]}],
                      "rejected": [{"role": "assistant", "content": rng.choice(others)}]})
    return pairs
