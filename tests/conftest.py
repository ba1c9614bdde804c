"""Shared fixtures: the provisioned local model and small sample files."""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def local_model_dir() -> Path:
    """The embedded instruct model, provisioned (idempotently) into data/models/."""
    from schemas.local_model import provision

    return provision(log=lambda *a, **k: None)


@pytest.fixture(scope="session")
def local_tokenizer(local_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(local_model_dir)


@pytest.fixture(scope="session")
def pii_eval_set():
    """benchmarks/pii_eval_set.py as a module (the PII generator and the hand-written sets' loader)."""
    spec = importlib.util.spec_from_file_location("pii_eval_set", REPO / "benchmarks" / "pii_eval_set.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod
