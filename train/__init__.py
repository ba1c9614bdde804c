"""Training stage: LoRA / QLoRA SFT and DPO from validated JSONL, with a pre-flight check of
the chat template and loss mask, and evaluation before and after.

Submodules import torch, transformers, TRL and PEFT inside the functions that
need them, so importing ``train`` (or ``python -m train --help``) stays fast.
Never imports Prefect.
"""
