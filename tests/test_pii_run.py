"""A full `curate run` on the sample leaves no planted PII in any output, reject, cache or log file."""
import json
import subprocess
import sys
from pathlib import Path

import polars as pl

REPO = Path(__file__).resolve().parents[1]


def run_and_read(inputs: str, out: Path, log: Path) -> dict[str, str]:
    """`curate run` into `out`; the text of every file it wrote (parquet as rows) and of its log."""
    with open(log, "w") as fh:
        r = subprocess.run([sys.executable, "-m", "curate", "run", inputs, "--out", str(out)],
                           cwd=REPO, stdout=fh, stderr=subprocess.STDOUT)
    assert r.returncode == 0, log.read_text()
    texts = {"run.log": log.read_text()}
    for p in out.rglob("*"):
        if p.is_file():
            texts[str(p.relative_to(out))] = (str(pl.read_parquet(p).rows()) if p.suffix == ".parquet"
                                              else p.read_text(errors="replace"))
    assert {"train.chatml.jsonl", "rejects.jsonl", "manifest.json", "report.html"} <= set(texts)
    return texts


def test_no_planted_pii_value_survives_anywhere_in_the_run_directory_or_log(tmp_path):
    out = tmp_path / "run"
    texts = run_and_read("data/sample", out, tmp_path / "run.log")
    planted = json.loads((REPO / "data/sample/planted_pii.json").read_text())
    assert len(planted) > 150
    leaks = sorted({(v["type"], name) for v in planted for name, t in texts.items() if v["value"] in t})
    assert leaks == []
    m = json.loads((out / "manifest.json").read_text())
    pii = next(s for s in m["steps"] if s["step"] == "pii")
    assert pii["stats"]["entity_EMAIL_ADDRESS"] > 0 and pii["stats"]["entity_PERSON"] > 0
    train = (out / "train.chatml.jsonl").read_text()
    assert "<EMAIL_ADDRESS_1>" in train or "<PERSON_1>" in train
