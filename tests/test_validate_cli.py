"""`python -m curate validate` / `convert` on every kind of bad input: located errors, exit codes, no tracebacks."""
import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

GOOD = {"messages": [{"role": "user", "content": "Where is my order?"},
                     {"role": "assistant", "content": "It ships tomorrow."}]}


def run(*args, cwd=None):
    r = subprocess.run([sys.executable, "-m", "curate", *args], capture_output=True, text=True, cwd=cwd)
    assert "Traceback" not in r.stderr + r.stdout
    return r


def line(obj) -> bytes:
    return json.dumps(obj).encode() + b"\n"


@pytest.fixture()
def bad_file(tmp_path: Path) -> Path:
    """One record per bad case, each on a known line."""
    rows = [
        b"\xef\xbb\xbf" + line(GOOD),                                           # 1 BOM, fine
        b"\n",                                                                   # 2 blank
        b'{"messages": [{"role": "user", "content": "hi"}\n',                   # 3 malformed JSON
        line({"messages": [{"role": "user", "content": "caf\xe9"}]}).replace(b"caf\\u00e9", b"caf\xe9"),  # 4 latin-1
        line({"messages": [{"role": "user", "content": "q"}, {"role": "assistant"}]}),            # 5 missing
        line({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": 7}]}),  # 6 type
        line({"messages": [{"role": "user", "content": "q"}, {"role": "robot", "content": "a"}]}),   # 7 role
        line({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": ""}]}),  # 8 empty
        b"   \n",                                                                # 9 blank
        line(GOOD),                                                              # 10 fine
        b"[1, 2]\n",                                                             # 11 not an object
        line({"messages": [{"role": "user", "content": "x" * 50_000_000}]}),   # 12 50 MB line
        line(GOOD)[:-20],                                                        # 13 truncated last line
    ]
    p = tmp_path / "bad.jsonl"
    p.write_bytes(b"".join(rows))
    return p


def test_every_bad_case_gets_one_located_line_and_exit_1(bad_file):
    r = run("validate", str(bad_file), "--format", "chatml")
    assert r.returncode == 1
    lines = r.stdout.strip().splitlines()
    located = {int(x.split(":")[1]): x for x in lines}
    assert sorted(located) == [3, 4, 5, 6, 7, 8, 11, 12, 13], r.stdout
    assert "invalid JSON" in located[3]
    assert "not valid UTF-8" in located[4] and "iconv" in located[4]
    assert "messages[1].content: required field is missing" in located[5]
    assert "messages[1].content" in located[6] and "string" in located[6]
    assert "unknown role 'robot'" in located[7]
    assert "empty" in located[8]
    assert "expected a JSON object" in located[11]
    assert "50.0 MB, over the 8 MB limit" in located[12]
    assert "cut off" in located[13]
    assert "byte-order mark" in r.stderr and "2 blank line(s)" in r.stderr


def test_summary_counts_records_valid_and_reasons(bad_file):
    r = run("validate", str(bad_file), "--format", "chatml", "--quiet")
    assert r.stdout == ""
    assert "│ chatml │      11 │     2 │       9 │" in r.stderr
    for reason in ["invalid_json", "not_utf8", "missing_field", "wrong_type", "unknown_role",
                   "empty_content", "not_object", "too_large", "truncated"]:
        assert reason in r.stderr


def test_clean_file_exits_0_and_gzip_is_read(tmp_path):
    p = tmp_path / "clean.jsonl.gz"
    p.write_bytes(gzip.compress(line(GOOD) * 3))
    r = run("validate", str(p))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "format chatml (detected from all 3 parsed records: chatml: 3)" in r.stderr


def test_json_array_file_is_one_clear_error(tmp_path):
    p = tmp_path / "array.json"
    p.write_text(json.dumps([GOOD, GOOD], indent=2))
    r = run("validate", str(p))
    assert r.returncode == 1
    assert r.stdout.strip() == f"{p}: file: file is a JSON array, not JSONL (one object per line); " \
                               "convert it with: jq -c '.[]' IN > OUT.jsonl"


def test_auto_detection_flags_minority_shapes_instead_of_guessing_from_row_one(tmp_path):
    alp = {"instruction": "Say hi", "output": "hi"}
    p = tmp_path / "mixed.jsonl"
    p.write_bytes(line(alp) + line(GOOD) + line(GOOD) + line({"foo": 1}))
    r = run("validate", str(p))
    assert r.returncode == 1
    assert "format chatml (detected from all 4 parsed records: chatml: 2, alpaca: 1, unknown: 1)" in r.stderr
    assert r.stdout.splitlines() == [
        f"{p}:1: record: looks like alpaca but the file is chatml; split mixed files or pass --format",
        f"{p}:4: record: no format's keys found (messages, conversations, instruction/output, prompt/chosen/rejected)",
    ]


def test_usage_errors_exit_2(tmp_path):
    assert run("validate").returncode == 2
    assert run("validate", str(tmp_path / "missing.jsonl")).returncode == 2
    assert run("validate", str(tmp_path), "--format", "yaml").returncode == 2


def test_convert_writes_valid_records_and_rejects_that_add_up(tmp_path, bad_file):
    multi = {"messages": GOOD["messages"] + [{"role": "user", "content": "Hello?"}]}
    src = tmp_path / "in.jsonl"
    src.write_bytes(line(GOOD) + line(multi) + b"{oops\n" + line(GOOD))
    out = tmp_path / "out.alpaca.jsonl"
    r = run("convert", str(src), "--from", "chatml", "--to", "alpaca", "--out", str(out))
    assert r.returncode == 1
    kept = [json.loads(x) for x in out.read_text().splitlines()]
    rejects = [json.loads(x) for x in (tmp_path / "out.alpaca.rejects.jsonl").read_text().splitlines()]
    assert kept == [{"instruction": "Where is my order?", "input": "", "output": "It ships tomorrow."}] * 2
    assert [(x["line"], x["reason"]) for x in rejects] == [(2, "convert.no_final_answer"), (3, "schema.invalid_json")]
    assert run("validate", str(out), "--format", "alpaca").returncode == 0
