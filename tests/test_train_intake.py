"""Data intake refuses, in one line, data it cannot trust; test records are read only at the end."""
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from train.intake import IntakeError, open_run
from train.testing import write_run_dir

REPO = Path(__file__).resolve().parents[1]
CHAT = {"messages": [{"role": "user", "content": "Is the outage fixed?"},
                     {"role": "assistant", "content": "Yes, service was restored at 10:40."}]}


@pytest.fixture(scope="module")
def curated(tmp_path_factory) -> Path:
    """A real curate run over the shipped sample (no PII step: not what these tests are about)."""
    out = tmp_path_factory.mktemp("curated") / "run"
    subprocess.run([sys.executable, "-m", "curate", "run", "data/sample", "--out", str(out), "--no-pii"],
                   cwd=REPO, check=True, capture_output=True)
    return out


@pytest.fixture()
def run_copy(curated, tmp_path) -> Path:
    dest = tmp_path / "run"
    shutil.copytree(curated, dest)
    return dest


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "train", *args], cwd=REPO, capture_output=True, text=True)


def test_a_curate_run_is_accepted_and_only_train_and_val_are_read(run_copy):
    data = open_run(run_copy, "sft")
    manifest = json.loads((run_copy / "manifest.json").read_text())
    assert data.manifest_sha256 == hashlib.sha256((run_copy / "manifest.json").read_bytes()).hexdigest()
    assert sorted(data.files) == ["test", "train", "val"] and data.formats["train"] == "chatml"
    train = data.load("train")
    val = data.load("val")
    assert len(train) == manifest["splits"]["train"] and len(val) == manifest["splits"]["val"]
    assert data.loaded == ["train", "val"]
    assert set(train[0]) == {"messages", "_line"} and train[0]["_line"] == 1


def test_a_missing_manifest_is_refused_by_the_cli_in_one_line_without_traceback(run_copy, tmp_path):
    (run_copy / "manifest.json").unlink()
    res = _cli("sft", "--data", str(run_copy), "--out", str(tmp_path / "o"))
    assert res.returncode == 1
    assert res.stderr.splitlines() == [
        f"error: {run_copy}/manifest.json is missing: train only reads a finished curate/synth run directory "
        "(python -m curate run INPUT --out DIR writes it last)"]
    assert not (tmp_path / "o").exists()


def test_a_split_file_changed_after_the_run_is_refused_by_its_hash(run_copy, tmp_path):
    train = run_copy / "train.chatml.jsonl"
    train.write_bytes(train.read_bytes().replace(b"Northwind", b"Southwind", 1))
    with pytest.raises(IntakeError) as e:
        open_run(run_copy, "sft")
    assert str(e.value) == (f"{train}: sha256 does not match manifest.json (the file changed after the run wrote "
                            "it); re-run curate or restore the file")
    res = _cli("check", "--data", str(run_copy))
    assert res.returncode == 1 and len(res.stderr.splitlines()) == 1 and "Traceback" not in res.stderr


def test_a_file_that_does_not_validate_is_refused_with_file_and_line(tmp_path):
    bad = {"messages": [{"role": "user", "content": "Hi"}, {"role": "robot", "content": "Beep."}]}
    run = write_run_dir(tmp_path / "run", {"train": [CHAT, bad, bad], "val": [CHAT]})
    data = open_run(run, "sft")  # the manifest's hashes match: only validation can catch it
    with pytest.raises(IntakeError) as e:
        data.load("train")
    msg = str(e.value)
    assert msg.startswith(f"{run / 'train.chatml.jsonl'}:2: messages[1].role: unknown role 'robot'")
    assert "(2 of 3 records invalid)" in msg and "\n" not in msg
    res = _cli("check", "--data", str(run))
    assert res.returncode == 1 and res.stderr.startswith(f"error: {run / 'train.chatml.jsonl'}:2:")


def test_a_manifest_that_does_not_validate_or_lists_no_usable_split_is_refused(tmp_path):
    run = write_run_dir(tmp_path / "run", {"train": [CHAT]})
    manifest = json.loads((run / "manifest.json").read_text())
    del manifest["outputs"][0]["sha256"]
    (run / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IntakeError, match=r"manifest.json: does not validate as a run manifest \(outputs.0.sha256"):
        open_run(run, "sft")
    with pytest.raises(IntakeError, match="lists no train.dpo.jsonl for a dpo run"):
        open_run(write_run_dir(tmp_path / "run2", {"train": [CHAT]}), "dpo")
    (tmp_path / "run3").mkdir()
    (tmp_path / "run3" / "manifest.json").write_text("{")
    with pytest.raises(IntakeError, match="not valid JSON"):
        open_run(tmp_path / "run3", "sft")


def test_a_saved_run_config_refuses_data_with_another_manifest(run_copy):
    with pytest.raises(IntakeError, match="differs from the run config's data_manifest_sha256"):
        open_run(run_copy, "sft", expect_manifest_sha256="0" * 64)


def test_sharegpt_and_plain_dpo_files_are_converted_through_schemas(tmp_path):
    sharegpt = {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello."}]}
    data = open_run(write_run_dir(tmp_path / "s", {"train": [sharegpt]}, "sharegpt"), "sft")
    assert data.load("train") == [{"messages": [{"role": "user", "content": "Hi"},
                                                {"role": "assistant", "content": "Hello."}], "_line": 1}]
    plain = {"prompt": "How do I pay?", "chosen": "Use the Billing tab.", "rejected": "Dunno."}
    pairs = open_run(write_run_dir(tmp_path / "d", {"train": [plain]}, "dpo"), "dpo").load("train")
    assert pairs == [{"prompt": [{"role": "user", "content": "How do I pay?"}],
                      "chosen": [{"role": "assistant", "content": "Use the Billing tab."}],
                      "rejected": [{"role": "assistant", "content": "Dunno."}], "_line": 1}]
