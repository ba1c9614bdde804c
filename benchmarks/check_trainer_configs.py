"""Check a run's handoff files with the real Axolotl and LLaMA-Factory code (not installed by the project:
each pins its own torch/transformers). Their wheels are unzipped, without dependencies, into a folder:

    .venv/bin/python -m pip download --no-deps axolotl==0.19.0 llamafactory==0.9.5 -d /tmp/w
    (cd /tmp/w && for f in *.whl; do unzip -q -o $f -d x; done)
    .venv/bin/python benchmarks/check_trainer_configs.py RUN_DIR --wheels /tmp/w/x

Axolotl: every dataset entry of axolotl.yaml validates as its SFTDataset model. LLaMA-Factory: every
dataset_info.json entry is parsed by its get_dataset_list and every row (loaded with datasets, as
LLaMA-Factory does) goes through its converter; the alpaca rows (with history) must give the same turns as
the chatml rows of the same ids. Prints counts; exits 1 on the first mismatch.
"""
from __future__ import annotations

import argparse
import importlib.machinery
import json
import sys
import types

import yaml


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir")
    ap.add_argument("--wheels", required=True, help="folder with the unzipped axolotl and llamafactory wheels")
    args = ap.parse_args()
    run = args.run_dir
    sys.path.insert(0, args.wheels)
    from datasets import load_dataset

    from axolotl.utils.schemas.datasets import SFTDataset

    block = yaml.safe_load(open(f"{run}/axolotl.yaml"))
    for d in block["datasets"] + block.get("test_datasets", []):
        m = SFTDataset.model_validate(d)
        print(f"axolotl SFTDataset: {m.path} type={m.type} field_messages={m.field_messages} "
              f"mappings={m.message_property_mappings} roles_to_train={m.roles_to_train}")
    # llamafactory.data imports its multimodal plugin, which imports torchaudio (unused by the converters).
    stub = types.ModuleType("torchaudio")
    stub.__spec__ = importlib.machinery.ModuleSpec("torchaudio", None)
    sys.modules.setdefault("torchaudio", stub)
    from llamafactory.data.converter import get_dataset_converter
    from llamafactory.data.parser import get_dataset_list

    class DataArgs:
        media_dir = run

    info = json.load(open(f"{run}/dataset_info.json"))
    turns: dict[str, dict[str, list]] = {}
    for attr in get_dataset_list(list(info), run):
        conv = get_dataset_converter(attr.formatting, attr, DataArgs())
        rows = list(load_dataset("json", data_files=f"{run}/{attr.dataset_name}", split="train"))
        for r in rows:
            out = conv(r)
            msgs = [(m["role"], m["content"]) for m in out["_prompt"] + out["_response"]]
            if not out["_response"] or out["_response"][0]["role"] != "assistant":
                print(f"FAIL {attr.dataset_name} {r['id']}: no assistant response: {out}")
                return 1
            turns.setdefault(attr.dataset_name.split(".")[1], {})[r["id"]] = [out["_system"] or "", msgs]
        print(f"llamafactory {attr.formatting:8s} {attr.dataset_name:22s} {len(rows)} rows converted")
    if "alpaca" in turns and "chatml" in turns:
        a, c = turns["alpaca"], turns["chatml"]
        same = [i for i in c if a[i] == c[i]]
        # LLaMA-Factory joins instruction and input with "\n"; curatekit's user turn uses "\n\n".
        join = [i for i in c if i not in same and json.dumps(a[i]) == json.dumps(c[i]).replace("\\n\\n", "\\n")]
        other = [i for i in c if i not in same and i not in join]
        print(f"alpaca (history) vs chatml rows, LLaMA-Factory turns: {len(same)} identical, {len(join)} differ only "
              f"by the instruction/input join ('\\n' vs '\\n\\n'), {len(other)} differ otherwise (of {len(c)})")
        for i in other[:2]:
            print("  differs:", i, a[i], "\n       vs:", c[i])
        return 1 if other else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
