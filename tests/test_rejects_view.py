"""`python -m curate rejects RUN_DIR`: rejected conversations re-read from the inputs, with concrete detail."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "curate", *args], cwd=REPO, capture_output=True, text=True)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("rej")
    out = base / "run"
    # Internal leaks are prevented by grouping, so decontamination deletes only against a named eval
    # set: four of the sample's chats that hold planted PII serve as one.
    chats = (REPO / "data/sample/chats.jsonl").read_text().splitlines()
    (base / "eval.jsonl").write_text("\n".join(chats[i] for i in (7, 8, 9, 12)) + "\n")
    r = cli("run", "data/sample", "--out", str(out), "--eval-file", str(base / "eval.jsonl"))  # PII on
    assert r.returncode == 0, r.stderr[-2000:]
    return out


def rejects(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "rejects.jsonl").read_text().splitlines()]


def blocks(stdout: str) -> list[str]:
    return [b for b in stdout.split("── ")[1:]]


def words(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def turn_texts(block: str) -> list[str]:
    return [ln.split(":", 1)[1] for ln in block.splitlines() if re.match(r"\s+(user|assistant|system):", ln)]


def test_exact_duplicates_are_shown_next_to_the_record_they_matched(run_dir):
    want = [r for r in rejects(run_dir) if r["reason"] == "dedup.exact_duplicate"]
    r = cli("rejects", str(run_dir), "--reason", "dedup.exact_duplicate", "-n", "0", "--width", "0")
    assert r.returncode == 0, r.stderr
    got = blocks(r.stdout)
    assert [b.split()[0] for b in got] == [x["id"] for x in want]
    for b, x in zip(got, want):
        kept_id = x["detail"].removeprefix("duplicate of ").split()[0]  # "... once PII is scrubbed"
        mine, theirs = b.split(f"   matched {kept_id} (")
        assert turn_texts(mine) and [words(t) for t in turn_texts(mine)] == [words(t) for t in turn_texts(theirs)]
    assert r.stdout.rstrip().endswith(f"{len(want)} of {len(want)} reject(s) shown")


def test_a_decontamination_reject_names_the_shared_span_and_the_eval_record_holding_it(run_dir):
    r = cli("rejects", str(run_dir), "--reason", "decontam", "-n", "4", "--width", "0")
    assert r.returncode == 0, r.stderr
    held = {}
    lines = (run_dir.parent / "eval.jsonl").read_text().splitlines()
    for i, line in enumerate(lines, 1):
        held[f"eval.jsonl:{i}"] = ("eval file", words(" ".join(m["content"] for m in json.loads(line)["messages"])))
    for split in ("val", "test"):
        for line in (run_dir / f"{split}.chatml.jsonl").read_text().splitlines():
            row = json.loads(line)
            held[row["id"]] = (split, words(" ".join(m["content"] for m in row["messages"])))
    assert blocks(r.stdout)
    for b in blocks(r.stdout):
        m = re.search(r'shares "([^"]+)" with (\S+) \((val|test|eval file)\)', b)
        assert m, b
        span, other, split = m.groups()
        assert len(span.split()) == 13 and held[other][0] == split and span in held[other][1]
        shown = re.sub(r"^\s+(user|assistant|system):", "", b.split('   shares "')[0], flags=re.M)
        assert span in words(shown), b  # the record shown above the line holds it (spans cross turns)


def test_rejects_after_pii_scrubbing_are_shown_scrubbed_unless_raw(run_dir):
    planted = [p["value"] for p in json.loads((REPO / "data/sample/planted_pii.json").read_text())]
    scrubbed = cli("rejects", str(run_dir), "--reason", "decontam", "-n", "0", "--width", "0")
    raw = cli("rejects", str(run_dir), "--reason", "decontam", "-n", "0", "--width", "0", "--raw")
    assert "shown PII-scrubbed" in scrubbed.stdout and "shown PII-scrubbed" not in raw.stdout
    assert [v for v in planted if v in raw.stdout]  # the inputs hold planted PII in these records...
    assert not [v for v in planted if v in scrubbed.stdout]  # ...the scrubbed view shows none of it


def test_records_that_never_parsed_are_shown_as_their_input_lines(run_dir):
    bad = next(x for x in rejects(run_dir) if x["reason"] == "schema.invalid_json")
    r = cli("rejects", str(run_dir), "--reason", "schema.invalid_json", "-n", "1", "--width", "0")
    src_line = (REPO / bad["source"]).read_text().splitlines()[bad["line"] - 1]
    assert f"{bad['line']:>5}| {src_line}" in r.stdout


def test_an_unknown_reason_or_folder_is_one_line_with_the_fix(run_dir, tmp_path):
    r = cli("rejects", str(run_dir), "--reason", "nope")
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1
    assert "dedup.exact_duplicate" in r.stderr and r.stdout == ""
    r = cli("rejects", str(tmp_path))
    assert r.returncode == 2 and "not a finished curate run" in r.stderr and "Traceback" not in r.stderr
