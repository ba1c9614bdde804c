"""Shared fixtures: the provisioned local model and small sample files."""
from __future__ import annotations

import os
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
