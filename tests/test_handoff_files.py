"""The files a run hands to the Hub and to trainers: dataset card, LLaMA-Factory and Axolotl configs,
the training chat template; the system prompt and relative sources in published rows.

LLaMA-Factory and Axolotl are not installed here (each pins its own torch/transformers), so their
configs are checked against schemas written from their documentation (LLaMA-Factory data/README.md,
Axolotl docs/dataset-formats/conversation.qmd and its config reference), field by field, and against
the rows they point at.
"""
import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Literal

import pytest
import yaml
from pydantic import BaseModel, ConfigDict

REPO = Path(__file__).resolve().parents[1]
PROMPT = "You are Northwind's support assistant. Be brief and never promise refunds."


def curate(out: Path, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "curate", "run", str(REPO / "data/sample"), "--out", str(out),
                           "--no-pii", *flags], cwd=REPO, capture_output=True, text=True)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """The sample curated into chatml (primary), alpaca and sharegpt, with a system prompt from a file."""
    base = tmp_path_factory.mktemp("handoff")
    (base / "prompt.txt").write_text(PROMPT + "\n")
    r = curate(base / "run", "--format", "chatml", "--format", "alpaca", "--format", "sharegpt",
               "--system-prompt", f"@{base / 'prompt.txt'}")
    assert r.returncode == 0, r.stderr[-2000:]
    return base / "run"


@pytest.fixture(scope="module")
def plain_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("plain") / "run"
    r = curate(out)
    assert r.returncode == 0, r.stderr[-2000:]
    return out


def rows(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def front_matter(card: Path) -> dict:
    text = card.read_text()
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def test_the_card_front_matter_parses_and_load_dataset_of_the_folder_gives_train_validation_test(run_dir):
    from datasets import load_dataset

    meta = front_matter(run_dir / "README.md")
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert [c["config_name"] for c in meta["configs"]] == ["chatml", "alpaca", "sharegpt"]
    assert meta["configs"][0]["default"] is True and meta["license"] == "unknown"
    ds = load_dataset(str(run_dir), cache_dir=str(run_dir.parent / "hf_cache"))
    sizes = {"train": manifest["splits"]["train"], "validation": manifest["splits"]["val"],
             "test": manifest["splits"]["test"]}
    assert {k: len(v) for k, v in ds.items()} == sizes
    assert ds["validation"][0]["messages"][0] == {"role": "system", "content": PROMPT}
    sg = load_dataset(str(run_dir), "sharegpt", cache_dir=str(run_dir.parent / "hf_cache"))
    assert {k: len(v) for k, v in sg.items()} == sizes
    body = (run_dir / "README.md").read_text()
    totals = manifest["totals"]
    assert f"{totals['records_in']} records in, {totals['kept']} kept" in body
    assert "## Leak checks (passed)" in body and "## Licence" in body


def test_every_handoff_file_is_in_the_manifest_with_its_sha256(run_dir):
    outputs = {o["path"]: o for o in json.loads((run_dir / "manifest.json").read_text())["outputs"]}
    for name in ("README.md", "dataset_info.json", "axolotl.yaml", "chat_template.jinja"):
        data = (run_dir / name).read_bytes()
        assert outputs[name]["sha256"] == hashlib.sha256(data).hexdigest() and outputs[name]["bytes"] == len(data)


# LLaMA-Factory data/README.md: the keys of one dataset_info.json entry.
class LFColumns(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt: str | None = None
    query: str | None = None
    response: str | None = None
    history: str | None = None
    messages: str | None = None
    system: str | None = None
    tools: str | None = None
    images: str | None = None
    videos: str | None = None
    audios: str | None = None
    chosen: str | None = None
    rejected: str | None = None
    kto_tag: str | None = None


class LFTags(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role_tag: str | None = None
    content_tag: str | None = None
    user_tag: str | None = None
    assistant_tag: str | None = None
    observation_tag: str | None = None
    function_tag: str | None = None
    system_tag: str | None = None


class LFEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hf_hub_url: str | None = None
    ms_hub_url: str | None = None
    script_url: str | None = None
    file_name: str | None = None
    formatting: Literal["alpaca", "sharegpt", "openai"] = "alpaca"
    ranking: bool = False
    subset: str | None = None
    split: str = "train"
    folder: str | None = None
    num_samples: int | None = None
    columns: LFColumns | None = None
    tags: LFTags | None = None


def test_dataset_info_entries_match_llama_factorys_documented_schema_and_the_rows(run_dir):
    info = json.loads((run_dir / "dataset_info.json").read_text())
    name = "curated"
    assert set(info) == {f"{name}{f}_{s}" for f in ("", "_alpaca", "_sharegpt") for s in ("train", "val", "test")}
    for key, raw in info.items():
        e = LFEntry.model_validate(raw)
        data = rows(run_dir / e.file_name)
        assert len(data) == json.loads((run_dir / "manifest.json").read_text())["splits"][key.rsplit("_", 1)[1]]
        if e.formatting == "sharegpt":
            t = e.tags
            roles = {t.user_tag, t.assistant_tag, t.system_tag}
            for r in data:
                turns = r[e.columns.messages]
                assert all(m[t.role_tag] in roles and m[t.content_tag] for m in turns)
                assert turns[-1][t.role_tag] == t.assistant_tag
        else:
            c = e.columns
            assert (c.prompt, c.query, c.response, c.system, c.history) == (
                "instruction", "input", "output", "system", "history")
            assert all(r[c.prompt] and r[c.response] for r in data)
            hist = [h for r in data for h in r.get(c.history) or []]
            assert hist and all(len(h) == 2 and all(h) for h in hist)


# Axolotl docs: a chat_template dataset entry and the top-level chat_template settings.
class AxolotlDataset(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str
    ds_type: Literal["json", "csv", "parquet", "arrow", "text"] | None = None
    split: str | None = None
    type: Literal["chat_template"]
    field_messages: str
    message_property_mappings: dict[str, str]
    roles: dict[str, list[str]]
    roles_to_train: list[str]
    train_on_eos: Literal["all", "turn", "last"]


class AxolotlBlock(BaseModel):
    model_config = ConfigDict(extra="forbid")
    chat_template: Literal["tokenizer_default", "jinja", "chatml"]
    chat_template_jinja: str | None = None
    datasets: list[AxolotlDataset]
    test_datasets: list[AxolotlDataset] = []


def test_the_axolotl_block_matches_its_documented_schema_and_maps_every_role_in_the_rows(run_dir):
    block = AxolotlBlock.model_validate(yaml.safe_load((run_dir / "axolotl.yaml").read_text()))
    assert [d.path for d in block.datasets + block.test_datasets] == ["train.chatml.jsonl", "val.chatml.jsonl"]
    assert block.chat_template == "jinja" and (run_dir / block.chat_template_jinja).is_file()
    for d in block.datasets + block.test_datasets:
        role_key, content_key = d.message_property_mappings["role"], d.message_property_mappings["content"]
        known = {v for vs in d.roles.values() for v in vs}
        for r in rows(run_dir / d.path):
            assert all(m[role_key] in known and m[content_key] for m in r[d.field_messages])
        assert d.roles_to_train == ["assistant"]


def test_trl_trains_assistant_tokens_only_one_step_on_the_export_with_the_exported_template(
        run_dir, local_model_dir, tmp_path):
    import torch
    from datasets import load_dataset
    from transformers import AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from train.testing import build_random_model

    torch.set_num_threads(1)
    model = build_random_model("tiny", tmp_path / "tiny", tokenizer_dir=local_model_dir)
    train = load_dataset(str(run_dir), split="train", cache_dir=str(run_dir.parent / "hf_cache")).select(range(4))
    common = dict(max_steps=1, per_device_train_batch_size=2, assistant_only_loss=True, use_cpu=True,
                  report_to=[], save_strategy="no", max_length=1024)
    with pytest.raises(Exception, match="generation"):  # the model's own template is refused...
        SFTTrainer(model=str(model), args=SFTConfig(output_dir=str(tmp_path / "a"), **common),
                   train_dataset=train, processing_class=AutoTokenizer.from_pretrained(model))
    tok = AutoTokenizer.from_pretrained(model)  # ...the exported one is accepted
    trainer = SFTTrainer(model=str(model), processing_class=tok, train_dataset=train,
                         args=SFTConfig(output_dir=str(tmp_path / "b"),
                                        chat_template_path=str(run_dir / "chat_template.jinja"), **common))
    ex = trainer.train_dataset[0]
    scored = tok.decode([i for i, lab in zip(ex["input_ids"], ex["labels"]) if lab != -100])
    answers = [m["content"] + "<|im_end|>" for m in train[0]["messages"] if m["role"] == "assistant"]
    assert scored == "".join(answers)
    result = trainer.train()
    assert trainer.state.global_step == 1 and torch.isfinite(torch.tensor(result.training_loss))


def test_the_system_prompt_is_added_or_replaced_and_counted_in_the_manifest(run_dir, plain_dir):
    before = [r for s in ("train", "val", "test") for r in rows(plain_dir / f"{s}.chatml.jsonl")]
    had = sum(r["messages"][0]["role"] == "system" for r in before)
    export = next(s for s in json.loads((run_dir / "manifest.json").read_text())["steps"] if s["step"] == "export")
    assert (export["stats"]["system_prompt_added"], export["stats"]["system_prompt_replaced"]) == (
        len(before) - had, had)
    assert had > 0
    after = {r["id"]: r for s in ("train", "val", "test") for r in rows(run_dir / f"{s}.chatml.jsonl")}
    for r in before:
        rest = r["messages"][1:] if r["messages"][0]["role"] == "system" else r["messages"]
        assert after[r["id"]]["messages"] == [{"role": "system", "content": PROMPT}, *rest]
    assert all(r["system"] == PROMPT for r in rows(run_dir / "train.alpaca.jsonl"))


def test_keep_mode_leaves_existing_system_turns_and_per_source_prompts_win(tmp_path, plain_dir):
    out = tmp_path / "run"
    r = curate(out, "--set", "export.system_prompt.text=Generic.", "--set", "export.system_prompt.mode=keep",
               "--set", "export.system_prompt.per_source={'turns.csv': 'From the CSV.'}")
    assert r.returncode == 0, r.stderr[-2000:]
    before = {x["id"]: x for s in ("train", "val", "test") for x in rows(plain_dir / f"{s}.chatml.jsonl")}
    for s in ("train", "val", "test"):
        for x in rows(out / f"{s}.chatml.jsonl"):
            old = before[x["id"]]["messages"]
            if old[0]["role"] == "system":
                assert x["messages"] == old
            else:
                want = "From the CSV." if x["meta"]["source"] == "turns.csv" else "Generic."
                assert x["messages"] == [{"role": "system", "content": want}, *old]


def test_published_rows_carry_sources_relative_to_the_input_root_and_no_local_path(plain_dir):
    root = str(REPO / "data/sample")  # curate() passes an absolute input path
    sources = set()
    for f in plain_dir.glob("*.chatml.jsonl"):
        text = f.read_text()
        assert root not in text and str(REPO) not in text
        sources |= {r["meta"]["source"] for r in rows(f)}
    files = {str(p.relative_to(REPO / "data/sample")) for p in (REPO / "data/sample").rglob("*") if p.is_file()}
    assert sources <= files and {"chats.jsonl", "transcripts/support_batch_2024-03.txt"} <= sources
    rejects = rows(plain_dir / "rejects.jsonl")
    assert all(r["source"].startswith(root) for r in rejects if r["source"])  # local file: real paths


def test_the_template_only_renderer_renders_like_the_real_tokenizer(local_model_dir, local_tokenizer):
    from curate.chat_template import PROBES, TemplateRenderer, choose_training_template

    renderer = TemplateRenderer.from_folder(local_model_dir)
    assert choose_training_template(renderer).training == choose_training_template(local_tokenizer).training
    for msgs in PROBES:
        for gen in (False, True):
            assert renderer.apply_chat_template(msgs, add_generation_prompt=gen) == \
                local_tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=gen)
