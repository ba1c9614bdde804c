"""Handoff files beside the split files, so trainers and the Hub take a run folder as it is.

- ``README.md``: a Hugging Face dataset card (``huggingface_hub.DatasetCard``) whose YAML
  front matter names every exported format as a config with train / validation / test
  ``data_files``, so ``datasets.load_dataset(DIR)`` needs no guessing; the body sums up
  provenance, filters, retention, leak checks and a licence placeholder.
- ``dataset_info.json``: LLaMA-Factory entries (``dataset_dir: DIR``, ``dataset: NAME_train``).
- ``axolotl.yaml``: an Axolotl ``datasets:`` / ``test_datasets:`` block (``type: chat_template``).
- ``chat_template.jinja``: the model's chat template with ``{% generation %}`` markers,
  used only when it renders byte-identically (curate.chat_template), for
  ``SFTConfig(assistant_only_loss=True, chat_template_path=...)``.

Every file is listed with its sha256 in the manifest's outputs.
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from pydantic import Field

from schemas.manifest import FileEntry, Manifest
from schemas.frozen import Frozen

SPLIT_NAMES = {"train": "train", "val": "validation", "test": "test"}
CARD, LLAMA_FACTORY, AXOLOTL, TEMPLATE = "README.md", "dataset_info.json", "axolotl.yaml", "chat_template.jinja"
# Field mappings for trainers that read conversations (DPO has its own trainers' configs).
CHAT_FIELDS = {
    "chatml": {"messages": "messages", "role": "role", "content": "content",
               "user": "user", "assistant": "assistant", "system": "system"},
    "sharegpt": {"messages": "conversations", "role": "from", "content": "value",
                 "user": "human", "assistant": "gpt", "system": "system"},
}


class HandoffConfig(Frozen):
    """What is written beside the split files for the Hub and for trainers."""

    enabled: bool = Field(True, description="Write README.md (dataset card), dataset_info.json, axolotl.yaml "
                                            "and chat_template.jinja beside the split files.")
    name: str = Field("curated", description="Dataset name in the card and the LLaMA-Factory entries "
                                             "(NAME_train...); not the folder's name, so outputs do not depend on it.")
    tokenizer: str | None = Field(None, description="Model folder whose chat template is handed out with "
                                                    "generation markers (default: the embedded model).")
    chat_template: bool = Field(True, description="Write chat_template.jinja (loads the tokenizer: needs the ml extra).")
    license: str = Field("unknown", description="Licence id in the card's front matter; set it before publishing.")


def write_handoff(out: Path, manifest: Manifest, cfg: HandoffConfig, formats: list[str]) -> list[FileEntry]:
    """Write the handoff files into ``out``; return their manifest entries (sha256, bytes)."""
    from schemas.jsonl import write_bytes_atomic

    if not cfg.enabled:
        return []
    name = _slug(cfg.name)
    files = {s.path: s for s in manifest.outputs if s.format}
    template, template_note = _training_template(cfg) if cfg.chat_template else (None, "not requested")
    written: dict[str, bytes] = {}
    if template is not None:
        written[TEMPLATE] = template.encode()
    written[LLAMA_FACTORY] = (json.dumps(llama_factory_entries(name, formats, files), indent=2) + "\n").encode()
    written[AXOLOTL] = axolotl_yaml(formats, files, template is not None).encode()
    written[CARD] = dataset_card(name, manifest, formats, files, cfg.license, template is not None,
                                 template_note).encode()
    entries = []
    for fname, data in written.items():
        write_bytes_atomic(out / fname, data)
        entries.append(FileEntry(path=fname, sha256=hashlib.sha256(data).hexdigest(), bytes=len(data)))
    return entries


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_.") or "curated"


def _split_files(fmt: str, files: dict[str, FileEntry]) -> dict[str, str]:
    """Hub split name -> file, for the splits of ``fmt`` that hold records (an empty file is not a split)."""
    out = {}
    for split, hub in SPLIT_NAMES.items():
        entry = files.get(f"{split}.{fmt}.jsonl")
        if entry is not None and entry.records:
            out[hub] = entry.path
    return out


def llama_factory_entries(name: str, formats: list[str], files: dict[str, FileEntry]) -> dict[str, Any]:
    """One ``dataset_info.json`` entry per format and split (``NAME[_FMT]_train``...), as LLaMA-Factory's
    data/README.md documents them: ``file_name``, ``formatting``, ``columns``, ``tags``."""
    entries: dict[str, Any] = {}
    for fmt in formats:
        prefix = name if fmt == formats[0] else f"{name}_{fmt}"
        for hub, path in _split_files(fmt, files).items():
            entry: dict[str, Any] = {"file_name": path}
            if fmt in CHAT_FIELDS:
                f = CHAT_FIELDS[fmt]
                entry.update(formatting="sharegpt", columns={"messages": f["messages"]},
                             tags={"role_tag": f["role"], "content_tag": f["content"], "user_tag": f["user"],
                                   "assistant_tag": f["assistant"], "system_tag": f["system"]})
            elif fmt == "alpaca":
                entry.update(formatting="alpaca", columns={"prompt": "instruction", "query": "input",
                                                           "response": "output", "system": "system",
                                                           "history": "history"})
            else:  # dpo: LLaMA-Factory's ranking format wants one chosen/rejected message, not a list
                continue
            entries[f"{prefix}_{'val' if hub == 'validation' else hub}"] = entry
    return entries


def axolotl_yaml(formats: list[str], files: dict[str, FileEntry], has_template: bool) -> str:
    """An Axolotl config fragment: ``datasets`` (train) and ``test_datasets`` (validation) with
    ``type: chat_template`` and the field mapping, per Axolotl's conversation dataset docs."""
    import yaml

    fmt = next((f for f in formats if f in CHAT_FIELDS), None)
    head = ("# Axolotl dataset block written by curatekit. Paths are relative to this folder:\n"
            "# run axolotl from here, or make them absolute. Merge into your axolotl config.\n")
    if fmt is None:
        return head + "# No chatml or sharegpt export in this run: add `--format chatml` to get a block.\n"
    f = CHAT_FIELDS[fmt]
    splits = _split_files(fmt, files)

    def block(path: str) -> dict[str, Any]:
        return {"path": path, "ds_type": "json", "split": "train", "type": "chat_template",
                "field_messages": f["messages"],
                "message_property_mappings": {"role": f["role"], "content": f["content"]},
                "roles": {"user": [f["user"]], "assistant": [f["assistant"]], "system": [f["system"]]},
                "roles_to_train": ["assistant"], "train_on_eos": "turn"}

    doc: dict[str, Any] = {"chat_template": "jinja" if has_template else "tokenizer_default"}
    if has_template:
        doc["chat_template_jinja"] = TEMPLATE
    doc["datasets"] = [block(splits["train"])] if "train" in splits else []
    if "validation" in splits:
        doc["test_datasets"] = [block(splits["validation"])]
    return head + yaml.safe_dump(doc, sort_keys=False)


def _training_template(cfg: HandoffConfig) -> tuple[str | None, str]:
    """The chat template with generation markers, or None and why not (never fails the run)."""
    from curate.chat_template import TemplateRenderer, choose_training_template
    from schemas.local_model import ModelNotFoundError, resolve_model_path

    try:
        folder = resolve_model_path(cfg.tokenizer)
        # The template and special tokens alone (no tokenizer, no torch): a run pays ~1 s, not ~3 s.
        tok = TemplateRenderer.from_folder(folder)
        if tok is None:
            from transformers import AutoTokenizer

            tok = AutoTokenizer.from_pretrained(str(folder))
        choice = choose_training_template(tok)
    except ImportError:
        return None, "transformers is not installed (install the ml extra)"
    except ModelNotFoundError as e:
        return None, str(e)
    if choice.training is None:
        return None, choice.problem or "no training template"
    return choice.training, f"{folder.name}: {choice.source}"


def _pct(a: int, b: int) -> str:
    return f"{100 * a / b:.1f} %" if b else "n/a"


def _size_category(n: int) -> str:
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                         (1_000_000, "100K<n<1M")):
        if n < limit:
            return label
    return "1M<n<10M"


def dataset_card(name: str, m: Manifest, formats: list[str], files: dict[str, FileEntry], license: str,
                 has_template: bool, template_note: str) -> str:
    """The dataset card: YAML front matter (configs, licence, task) and a body from the manifest."""
    from huggingface_hub import DatasetCard, DatasetCardData

    configs = []
    for fmt in formats:
        splits = _split_files(fmt, files)
        if splits:
            configs.append({"config_name": fmt, **({"default": True} if fmt == formats[0] else {}),
                            "data_files": [{"split": s, "path": p} for s, p in splits.items()]})
    data = DatasetCardData(
        license=license, pretty_name=name, task_categories=["text-generation"],
        size_categories=_size_category(m.totals.get("kept", 0)),
        tags=["curatekit", "dpo" if formats[0] == "dpo" else "sft", "conversational"], configs=configs)
    fields = _card_fields(name, m, formats, files, template_note)
    card = DatasetCard.from_template(data, template_str=CARD_TEMPLATE, has_template=TEMPLATE if has_template else None,
                                     **fields)
    return str(card).rstrip("\n") + "\n"


def _card_fields(name: str, m: Manifest, formats: list[str], files: dict[str, FileEntry],
                 template_note: str) -> dict[str, Any]:
    t = m.totals
    steps = []
    for s in m.steps:
        reasons = ", ".join(f"`{r}` {n}" for r, n in sorted(s.reasons.items(), key=lambda kv: -kv[1])[:4])
        steps.append({"step": s.step, "n_in": s.n_in, "n_kept": s.n_kept, "n_rejected": s.n_rejected,
                      "reasons": reasons or "-"})
    leaks = m.leak_checks
    leak_rows = [(k, leaks[k]) for k in ("shared_groups", "cross_split_near_duplicates", "ngram_overlaps",
                                         "synthetic_in_eval") if k in leaks]
    export = next((s for s in m.steps if s.step == "export"), None)
    sp = {k.removeprefix("system_prompt_"): v for k, v in (export.stats if export else {}).items()
          if k.startswith("system_prompt_")}
    inputs = sorted({"".join(Path(i.path).suffixes) or Path(i.path).name for i in m.inputs})
    return dict(
        name=name, tool_version=m.tool_version, formats=formats, default_format=formats[0],
        split_rows=[(SPLIT_NAMES[s], n) for s, n in m.splits.items() if s in SPLIT_NAMES],
        n_inputs=len(m.inputs), input_bytes=sum(i.bytes for i in m.inputs), input_types=", ".join(inputs),
        records_in=t.get("records_in", 0), kept=t.get("kept", 0), rejected=t.get("rejected", 0),
        kept_pct=_pct(t.get("kept", 0), t.get("records_in", 0)), steps=steps, leak_rows=leak_rows,
        leak_passed=leaks.get("passed"), ngram=leaks.get("ngram"), system_prompt=sp,
        template_note=template_note,
        chat=[f for f in formats if f in CHAT_FIELDS], versions=m.versions)


CARD_TEMPLATE = """---
{{ card_data }}
---

# {{ name }}

Fine-tuning data curated with curatekit {{ tool_version }}: ingested, normalised, deduplicated,
filtered, PII-scrubbed (when enabled), split by group without leaks, and exported as
{{ formats | join(", ") }} JSON Lines (default config: `{{ default_format }}`).

| split | records |
|---|---:|
{% for s, n in split_rows %}| {{ s }} | {{ n }} |
{% endfor %}
## Loading

```python
from datasets import load_dataset

ds = load_dataset("path/to/this/folder")            # {{ default_format }}: train / validation / test
{% for f in formats[1:] %}ds_{{ f }} = load_dataset("path/to/this/folder", "{{ f }}")
{% endfor %}```

## Provenance

{{ n_inputs }} input file(s) ({{ input_types }}, {{ input_bytes }} bytes); `meta.source` / `meta.line` in every
row name the input file (relative to the input folder) and line. The group key is published only as a hash.
`manifest.json` lists every input's sha256, the full configuration, package versions and the sha256 of every
file in this folder.

## Filters and retention

{{ records_in }} records in, {{ kept }} kept ({{ kept_pct }}), {{ rejected }} rejected, each with a reason
(`rejects.jsonl` stays local: it points at the raw inputs).

| step | in | kept | rejected | top reasons |
|---|---:|---:|---:|---|
{% for s in steps %}| {{ s.step }} | {{ s.n_in }} | {{ s.n_kept }} | {{ s.n_rejected }} | {{ s.reasons }} |
{% endfor %}
{% if system_prompt %}
System prompt set at export: added to {{ system_prompt.added }}, replaced in {{ system_prompt.replaced }},
kept in {{ system_prompt.kept }} records.
{% endif %}
## Leak checks ({{ "passed" if leak_passed else "FAILED" }})

Splits are assigned by connected group (customer, near-duplicate and shared-passage neighbours), so these
counts are zero by construction; they are re-measured on the exported text.

| check | count |
|---|---:|
{% for k, v in leak_rows %}| {{ k }} | {{ v }} |
{% endfor %}| n-gram length (words) | {{ ngram }} |

## Training

{% if has_template %}`{{ has_template }}` is the model's chat template with `{% raw %}{% generation %}{% endraw %}` markers
around each assistant answer ({{ template_note }}); it renders byte-identically to the original, so TRL can
train on assistant tokens only:

```python
SFTConfig(assistant_only_loss=True, chat_template_path="{{ has_template }}")
```
{% else %}No training chat template was written ({{ template_note }}).
{% endif %}
{% if chat %}- LLaMA-Factory: `dataset_dir: path/to/this/folder`, `dataset: {{ name }}_train`,
  `eval_dataset: {{ name }}_val` (entries in `dataset_info.json`).
- Axolotl: merge `axolotl.yaml` (`type: chat_template`, field mapping, `roles_to_train: [assistant]`).
{% endif %}
## Licence

Not set: the licence of this data is the licence of its sources. Set `license:` in the front matter
before publishing.
"""
