"""Runs that never crash, never skip silently and never leak: one case per situation of issue 13.

Each case runs `python -m curate run` (or the flows / synth CLI) as a user would and checks the exit
code, the one line it prints (never a traceback) and conservation: records in == kept + rejected.
"""
from __future__ import annotations

import gzip
import json
import os
import resource
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"
FAST = ["--no-pii"]
SPLITS = ("train", "val", "test")


def cli(*args, env=None, preexec_fn=None, module="curate", timeout=300):
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, **(env or {})}, preexec_fn=preexec_fn, timeout=timeout)


def read(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def conserved(out: Path) -> dict:
    """Records in == kept + rejected, counted from the files themselves; returns the manifest."""
    m = json.loads((out / "manifest.json").read_text())
    kept = sum(len(read(out / f"{s}.chatml.jsonl")) for s in SPLITS)
    rejects = read(out / "rejects.jsonl")
    assert m["totals"] == {"records_in": kept + len(rejects), "kept": kept, "rejected": len(rejects)}
    return m


def one_error_line(r: subprocess.CompletedProcess) -> str:
    """The run failed with exactly one `error:` line and no traceback; return it."""
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, r.stderr[-3000:]
    return errors[0]


def ingest_rejects(out: Path) -> list[dict]:
    return [r for r in read(out / "rejects.jsonl") if r["step"] == "ingest"]


def manifest(tmp: Path) -> dict:
    return json.loads((tmp / "out" / "manifest.json").read_text())


def step_counts(tmp: Path, step: str) -> tuple[int, int, int]:
    s = next(s for s in manifest(tmp)["steps"] if s["step"] == step)
    return s["n_in"], s["n_kept"], s["n_rejected"]


def kept(tmp: Path) -> dict[str, dict]:
    return {x["id"]: x for s in SPLITS for x in read(tmp / "out" / f"{s}.chatml.jsonl")}


def chat(i: int) -> dict:
    return {"messages": [{"role": "user", "content": f"How do I reset the password of account number {i}?"},
                         {"role": "assistant", "content": f"Open Settings, choose Security and press Reset for "
                                                           f"account {i}; a link arrives by email within a minute."}]}


def write_chats(path: Path, n: int, start: int = 0) -> Path:
    path.write_text("".join(json.dumps(chat(i)) + "\n" for i in range(start, start + n)))
    return path


def unprivileged():
    """A preexec_fn that makes permission bits bind (they mean nothing to root): root loses the
    capabilities that override them (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH) for the command it runs."""
    if os.geteuid() != 0:
        return None
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)

    def drop():
        for cap in (1, 2):  # PR_CAPBSET_DROP: gone from the bounding set, so from the exec'd program
            if libc.prctl(24, cap, 0, 0, 0) != 0:
                raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")
    return drop


@pytest.fixture
def open_tmp(tmp_path):
    """A scratch folder whose locked parts are unlocked again afterwards (so pytest can remove it)."""
    yield tmp_path
    for p in tmp_path.rglob("*"):
        if not p.is_symlink():
            p.chmod(0o755)


# --------------------------------------------------------------------------- the table
# One case per row of the table that a single command shows. A case builds its inputs in a
# scratch folder and returns the command's arguments; the test checks the exit code, the one error
# line (or, on success, conservation from the files themselves) and what is particular to the row.


@dataclass
class Case:
    build: Callable[[Path], list]
    code: int
    line: str | None = None  # the start of the one `error:` line, with {tmp} for the scratch folder
    check: Callable[[Path, subprocess.CompletedProcess], None] | None = None
    module: str = "curate"
    unprivileged: bool = False


def _truncated_gzip(tmp: Path) -> list:
    src = tmp / "in"
    src.mkdir()
    body = "".join(f"Customer: my router {i} drops the line\nAgent: Restart it and update the firmware.\n---\n"
                   for i in range(3000)).encode()
    data = gzip.compress(body)
    (src / "calls.txt").write_bytes(data[: len(data) // 2])
    csv = b"conversation_id,turn,speaker,text\n" + b"".join(
        b"c%d,%d,%s,turn %d of the chat here.\n" % (i // 2, i % 2, b"customer" if i % 2 == 0 else b"agent", i)
        for i in range(6000))
    data = gzip.compress(csv)
    (src / "turns.csv.gz").write_bytes(data[: len(data) // 2])
    write_chats(src / "ok.jsonl", 3)
    return ["run", src, "--out", tmp / "out", *FAST]


def _check_truncated_gzip(tmp: Path, r) -> None:
    rej = {Path(x["source"]).name: x for x in ingest_rejects(tmp / "out")}
    assert {k: v["reason"] for k, v in rej.items()} == {"calls.txt": "ingest.truncated_gzip",
                                                        "turns.csv.gz": "ingest.truncated_gzip"}
    size = (tmp / "in" / "calls.txt").stat().st_size
    assert rej["calls.txt"]["detail"].startswith(f"byte {size} (end of file)")
    assert "re-download" in rej["calls.txt"]["detail"]
    assert manifest(tmp)["totals"]["records_in"] == 3 + 2


def _long_csv_field(tmp: Path) -> list:
    long_text = " ".join(f"word{i}" for i in range(30000))  # ~200,000 characters in one cell
    assert len(long_text) > 131072
    (tmp / "turns.csv").write_text("conversation_id,turn,speaker,text\n"
                                   f'c1,0,customer,"{long_text}"\nc1,1,agent,Thanks. I read all of it.\n'
                                   "c2,0,customer,Short question?\nc2,1,agent,A short answer.\n")
    return ["run", tmp / "turns.csv", "--out", tmp / "out", *FAST]


def _check_long_csv_field(tmp: Path, r) -> None:
    assert step_counts(tmp, "ingest") == (2, 2, 0)


def _unreadable_file(tmp: Path) -> list:
    src = tmp / "in"
    src.mkdir()
    write_chats(src / "good.jsonl", 2)
    write_chats(src / "secret.jsonl", 2).chmod(0o000)
    return ["run", src, "--out", tmp / "out", *FAST]


def _unreadable_folder(tmp: Path) -> list:
    src = tmp / "in"
    (src / "locked").mkdir(parents=True)
    write_chats(src / "good.jsonl", 2)
    write_chats(src / "locked" / "more.jsonl", 2)
    (src / "locked").chmod(0o000)
    return ["run", src, "--out", tmp / "out", *FAST]


def _nothing_created(tmp: Path, r) -> None:
    assert "chmod" in r.stderr and not (tmp / "out").exists()


def _symlink_loop(tmp: Path) -> list:
    src = tmp / "in"
    (src / "sub").mkdir(parents=True)
    write_chats(src / "a.jsonl", 2)
    write_chats(src / "sub" / "b.jsonl", 2, start=10)
    (src / "sub" / "back").symlink_to("..")  # sub/back -> in: a loop
    return ["run", src, "--out", tmp / "out", *FAST]


def _check_symlink_loop(tmp: Path, r) -> None:
    src = tmp / "in"
    assert f"note: {src / 'sub' / 'back'}: symlink loop (back to {src.resolve()}), not followed" in r.stderr
    m = manifest(tmp)
    assert m["totals"]["records_in"] == 4 and [Path(i["path"]).name for i in m["inputs"]] == ["a.jsonl", "b.jsonl"]


def _self_link(tmp: Path) -> list:
    _symlink_loop(tmp)
    (tmp / "in" / "self.jsonl").symlink_to("self.jsonl")  # a file that links to itself cannot be read
    return ["run", tmp / "in", "--out", tmp / "out", *FAST]


def _no_supported_file(tmp: Path) -> list:
    (tmp / "in").mkdir()
    (tmp / "in" / "notes.pdf").write_bytes(b"%PDF-1.4")
    return ["run", tmp / "in", "--out", tmp / "out", *FAST]


def _only_empty_files(tmp: Path) -> list:
    (tmp / "in").mkdir()
    (tmp / "in" / "empty.jsonl").write_text("")
    (tmp / "in" / "blank.txt").write_text("\n\n")
    return ["run", tmp / "in", "--out", tmp / "out", *FAST]


def _empty_files_beside_data(tmp: Path) -> list:
    args = _only_empty_files(tmp)
    write_chats(tmp / "in" / "good.jsonl", 3)
    return args


def _check_empty_files(tmp: Path, r) -> None:
    for name in ("blank.txt", "empty.jsonl"):
        assert f"note: {tmp / 'in' / name}: no records (empty file)" in r.stderr
    assert {Path(i["path"]).name: i["records"] for i in manifest(tmp)["inputs"]} == {
        "blank.txt": 0, "empty.jsonl": 0, "good.jsonl": 3}


def _wide(encoding: str, bom: bytes) -> Callable[[Path], list]:
    def build(tmp: Path) -> list:
        text = "".join(json.dumps(chat(i), ensure_ascii=False).replace("password", "mot de passe é") + "\n"
                       for i in range(5))
        (tmp / "wide.jsonl").write_bytes(bom + text.encode(encoding))
        (tmp / "wide.txt").write_bytes(bom + "Customer: Où est ma facture ?\nAgent: Dans l'onglet Facturation.\n"
                                       .encode(encoding))
        return ["run", tmp / "wide.jsonl", tmp / "wide.txt", "--out", tmp / "out", *FAST]
    return build


def _check_wide(tmp: Path, r) -> None:
    assert step_counts(tmp, "ingest") == (6, 6, 0)
    assert any("mot de passe é" in x["messages"][0]["content"] for x in kept(tmp).values())


TOOL_CALL = [{"id": "c1", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Paris"}'}}]


def _openai_shapes(tmp: Path) -> list:
    rows = [
        {"id": "tools", "messages": [
            {"role": "user", "content": "What is the weather in Paris right now?"},
            {"role": "assistant", "content": None, "tool_calls": TOOL_CALL},
            {"role": "tool", "tool_call_id": "c1", "content": "18C and sunny"},
            {"role": "assistant", "content": "It is 18C and sunny in Paris right now."}]},
        {"id": "parts", "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Summarise this note."},
                                         {"type": "text", "text": "The meeting moved to Tuesday at noon."}]},
            {"role": "assistant", "content": "The meeting is now on Tuesday at noon."}]},
        {"id": "image", "messages": [
            {"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                         {"type": "image_url", "image_url": {"url": "http://x/y.png"}}]},
            {"role": "assistant", "content": "A cat sitting on a keyboard."}]},
        {"id": "null", "messages": [{"role": "user", "content": None},
                                    {"role": "assistant", "content": "Hello there, how can I help?"}]},
    ]
    (tmp / "openai.jsonl").write_text("".join(json.dumps(x) + "\n" for x in rows))
    return ["run", tmp / "openai.jsonl", "--out", tmp / "out", *FAST]


def _check_openai_shapes(tmp: Path, r) -> None:
    k = kept(tmp)
    assert sorted(k) == ["parts", "tools"]
    assert k["tools"]["messages"][1] == {"role": "assistant", "content": None, "tool_calls": TOOL_CALL}
    assert k["parts"]["messages"][0]["content"] == "Summarise this note.\nThe meeting moved to Tuesday at noon."
    rej = {x["line"]: (x["reason"], x["detail"]) for x in ingest_rejects(tmp / "out")}
    assert rej == {3: ("schema.unsupported_content", "messages[0]: content[1] is a 'image_url' part; only text "
                                                     "parts can be held: drop the part or the record"),
                   4: ("schema.empty_content", "messages[0]: content is null and the turn calls no tools")}
    assert cli("validate", *[tmp / "out" / f"{s}.chatml.jsonl" for s in SPLITS]).returncode == 0


def _out_is_input(tmp: Path) -> list:
    (tmp / "in").mkdir()
    write_chats(tmp / "in" / "a.jsonl", 2)
    return ["run", tmp / "in", "--out", tmp / "in", *FAST]


def _out_inside_input(tmp: Path) -> list:
    return _out_is_input(tmp)[:3] + [tmp / "in" / "run", *FAST]


def _input_untouched(tmp: Path, r) -> None:
    assert sorted(p.name for p in (tmp / "in").iterdir()) == ["a.jsonl"]


def _user_file_in_out(tmp: Path) -> list:
    (tmp / "out").mkdir()
    (tmp / "out" / "train.chatml.jsonl").write_text('{"mine": true}\n')
    return ["run", "data/sample", "--out", tmp / "out", *FAST]


def _check_user_file_kept(tmp: Path, r) -> None:
    assert (tmp / "out" / "train.chatml.jsonl").read_text() == '{"mine": true}\n'


def _flows_without_out(tmp: Path) -> list:
    return ["run", "curate", "data/sample", "--no-pii"]


CASES = {
    "truncated gzip in .txt and .csv.gz": Case(_truncated_gzip, 0, check=_check_truncated_gzip),
    "csv field over 131072 characters": Case(_long_csv_field, 0, check=_check_long_csv_field),
    "unreadable file": Case(_unreadable_file, 2, "error: cannot read {tmp}/in/secret.jsonl (Permission denied)",
                            _nothing_created, unprivileged=True),
    "unreadable sub-folder": Case(_unreadable_folder, 2, "error: cannot read {tmp}/in/locked (Permission denied)",
                                  _nothing_created, unprivileged=True),
    "symlink loop to a folder": Case(_symlink_loop, 0, check=_check_symlink_loop),
    "symlink loop as a file": Case(_self_link, 2, "error: cannot read {tmp}/in/self.jsonl (symlink loop)"),
    "folder with no supported file": Case(_no_supported_file, 2,
                                          "error: {tmp}/in: no .txt, .jsonl[.gz] or .csv[.gz] file found "
                                          "(1 other file(s) ignored); point at the data files"),
    "only empty .jsonl and .txt": Case(_only_empty_files, 2,
                                       "error: no records in {tmp}/in: every input file is empty ("),
    "empty .jsonl and .txt beside data": Case(_empty_files_beside_data, 0, check=_check_empty_files),
    "utf-16-le with BOM": Case(_wide("utf-16-le", b"\xff\xfe"), 0, check=_check_wide),
    "utf-16-be with BOM": Case(_wide("utf-16-be", b"\xfe\xff"), 0, check=_check_wide),
    "utf-32-le with BOM": Case(_wide("utf-32-le", b"\xff\xfe\x00\x00"), 0, check=_check_wide),
    "openai message shapes": Case(_openai_shapes, 0, check=_check_openai_shapes),
    "--out equal to the input": Case(_out_is_input, 2, "error: --out {tmp}/in is inside the input {tmp}/in: a later "
                                     "run would read its own outputs; put --out outside every input folder",
                                     _input_untouched),
    "--out inside the input": Case(_out_inside_input, 2, "error: --out {tmp}/in/run is inside the input {tmp}/in",
                                   _input_untouched),
    "user file named like an output": Case(_user_file_in_out, 2, "error: {tmp}/out/train.chatml.jsonl was not "
                                           "written by curatekit (or was changed since); move it away, choose "
                                           "another --out, or pass --force to overwrite", _check_user_file_kept),
    "flows run without --out": Case(_flows_without_out, 2, "error: run curate: --out is required (the run "
                                    "directory; e.g. --out out/sample", module="flows"),
}


@pytest.mark.parametrize("situation", list(CASES))
def test_each_situation_ends_as_reject_rows_or_one_error_line_never_a_traceback(situation, open_tmp):
    case = CASES[situation]
    r = cli(*case.build(open_tmp), module=case.module, preexec_fn=unprivileged() if case.unprivileged else None)
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    assert r.returncode == case.code, r.stderr[-3000:]
    if case.code:
        assert one_error_line(r).startswith(case.line.format(tmp=open_tmp))
    else:
        conserved(open_tmp / "out")
    if case.check:
        case.check(open_tmp, r)


# --------------------------------------------------------------------------- the run directory


def test_a_full_disk_is_one_line_leaves_no_temp_file_and_the_run_resumes(tmp_path):
    ref = tmp_path / "ref"
    assert cli("run", "data/sample", "--out", ref, *FAST).returncode == 0
    out = tmp_path / "out"
    limit = 100_000  # the step frames (~62 kB) fit, train.chatml.jsonl (~190 kB) does not: fails during export

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    # (no .pyc writing: a size limit would truncate one and break later imports)
    r = cli("run", "data/sample", "--out", out, *FAST, preexec_fn=small_files, env={"PYTHONDONTWRITEBYTECODE": "1"})
    assert r.returncode == 4
    line = one_error_line(r)
    assert line.startswith(f"error: no space left writing {out}/.staging/train.chatml.jsonl (File too large;")
    assert "free at least" in line and "re-run the same command" in line
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp") or p.name == ".staging"]
    assert not (out / "manifest.json").exists()
    again = cli("run", "data/sample", "--out", out, *FAST)
    assert again.returncode == 0 and "decontam: reused" in again.stderr, again.stderr[-3000:]
    for name in ("train.chatml.jsonl", "val.chatml.jsonl", "test.chatml.jsonl", "rejects.jsonl", "manifest.json"):
        assert (out / name).read_bytes() == (ref / name).read_bytes(), name


def test_files_curatekit_did_not_write_are_not_overwritten_without_force(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "train.chatml.jsonl").write_text('{"mine": true}\n')
    (out / "notes.md").write_text("my notes\n")
    r = cli("run", "data/sample", "--out", out, *FAST)
    assert r.returncode == 2
    assert one_error_line(r).startswith(f"error: {out / 'train.chatml.jsonl'} was not written by curatekit")
    assert (out / "train.chatml.jsonl").read_text() == '{"mine": true}\n'
    assert cli("run", "data/sample", "--out", out, *FAST, "--force").returncode == 0
    conserved(out)
    # Its own outputs it replaces freely, as one set: a second format comes and goes with the config.
    assert cli("run", "data/sample", "--out", out, *FAST, "--format", "chatml", "--format", "alpaca").returncode == 0
    assert (out / "train.alpaca.jsonl").exists()
    assert cli("run", "data/sample", "--out", out, *FAST).returncode == 0
    assert not (out / "train.alpaca.jsonl").exists() and (out / "notes.md").read_text() == "my notes\n"


STEPS = ["ingest", "normalize", "select", "exact_dedup", "quality", "near_dedup", "split", "mix", "decontam", "export"]


def _start_paused(out: Path, step: str, *flags: str, src: str = "data/sample") -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "curate", "run", src, "--out", str(out), *flags],
                            cwd=REPO, env={**os.environ, "CURATEKIT_PAUSE_AFTER_STEP": step,
                                           "CURATEKIT_PAUSE_SECONDS": "120"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait_for(p: subprocess.Popen, out: Path, step: str) -> None:
    """Until the run pauses after ``step``: its finished marker (or the staged manifest) is written."""
    def reached() -> bool:
        if step == "export":
            return (out / ".staging" / "manifest.json").exists()
        return any((out / ".steps").glob(f"*_{step}/report.json"))
    deadline = time.time() + 180
    while not reached():
        assert p.poll() is None and time.time() < deadline, f"never reached {step}"
        time.sleep(0.05)
    time.sleep(0.3)  # what the run does between the marker and its pause (drop the previous frame)


def test_a_second_run_into_a_locked_directory_exits_naming_the_holder(tmp_path):
    out = tmp_path / "out"
    first = _start_paused(out, "ingest", *FAST)
    try:
        _wait_for(first, out, "ingest")
        r = cli("run", "data/sample", "--out", out, *FAST)
        assert r.returncode == 3
        line = one_error_line(r)
        assert line.startswith(f"error: {out} is in use by another run (pid {first.pid} on ")
        assert line.endswith("wait for it to finish or choose another --out")
    finally:
        first.kill()
        first.wait()
    r = cli("run", "data/sample", "--out", out, *FAST)  # kill -9 released the lock
    assert r.returncode == 0, r.stderr[-3000:]




def test_kill_9_at_every_step_boundary_and_during_export_then_rerun_gives_identical_bytes(tmp_path):
    ref = tmp_path / "ref"
    assert cli("run", "data/sample", "--out", ref, *FAST).returncode == 0
    names = sorted(p.name for p in ref.iterdir() if p.is_file())
    out = tmp_path / "out"
    for step in STEPS:
        p = _start_paused(out, step, *FAST)
        _wait_for(p, out, step)
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
        if step == "export":  # killed with the new set complete in staging: the earlier run's set is untouched
            assert (out / ".staging" / "manifest.json").exists()
            for name in names:
                if name != ".lock":
                    assert (out / name).read_bytes() == (ref / name).read_bytes(), name
        kept_frames = list((out / ".steps").glob("*/kept.parquet"))
        assert len(kept_frames) == 1, (step, kept_frames)  # only the newest frame a resume needs
        r = cli("run", "data/sample", "--out", out, *FAST)
        assert r.returncode == 0, (step, r.stderr[-3000:])
        assert sorted(x.name for x in out.iterdir() if x.is_file()) == names, step
        for name in names:
            if name != ".lock":
                assert (out / name).read_bytes() == (ref / name).read_bytes(), (step, name)
        left = [x for x in out.rglob("*") if x.name.endswith(".tmp") or x.name == ".staging"]
        assert not left, (step, left)
        assert [x.parent.name for x in (out / ".steps").glob("*/kept.parquet")] == ["08_decontam"]


def test_a_killed_run_with_pii_leaves_no_unscrubbed_frame_after_the_next_run(tmp_path):
    out = tmp_path / "out"
    src = "data/sample/chats_sharegpt.jsonl.gz"  # 45 conversations with planted PII: a short PII step
    p = _start_paused(out, "quality", src=src)
    _wait_for(p, out, "quality")
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    planted = [x["value"] for x in json.loads((SAMPLE / "planted_pii.json").read_text())]

    def raw_values_in_frames() -> set[str]:
        import polars as pl

        text = "".join(pl.read_parquet(f).write_ndjson() for f in out.rglob("*.parquet"))
        return {v for v in planted if v in text}
    assert raw_values_in_frames()  # the killed run left raw PII behind (so the check below can fail)
    r = cli("run", src, "--out", out)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "note: intermediates: removed" in r.stderr
    shipped = "".join((out / f).read_text() for f in ("train.chatml.jsonl", "val.chatml.jsonl", "test.chatml.jsonl"))
    assert raw_values_in_frames() <= {v for v in planted if v in shipped}
    assert [x.parent.name for x in (out / ".steps").glob("*/kept.parquet")] == ["09_decontam"]


def test_keep_intermediates_keeps_every_frame_and_says_so(tmp_path):
    out = tmp_path / "out"
    r = cli("run", "data/sample", "--out", out, *FAST, "--keep-intermediates")
    assert r.returncode == 0
    assert f"note: intermediates kept in {out / '.steps'} (--keep-intermediates)" in r.stderr
    assert len(list((out / ".steps").glob("*/kept.parquet"))) == 9
