"""The four command lines: console scripts, --version, help with descriptions and defaults, usage errors
for the subcommand typed, plain progress lines in logs, and flow failures as one line."""
from __future__ import annotations

import importlib
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from curate.cli_kit import _subparsers

pytest_plugins = ("flows.testing",)

REPO = Path(__file__).resolve().parents[1]
CLIS = ("curate", "synth", "train", "flows")


def scripts() -> dict[str, str]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]


def test_every_cli_has_a_prefixed_console_script_that_answers_version(capsys):
    from importlib.metadata import version

    assert set(scripts()) == {f"curatekit-{c}" for c in CLIS}
    for name, target in scripts().items():
        module, fn = target.split(":")
        main = getattr(importlib.import_module(module), fn)
        with pytest.raises(SystemExit) as e:
            main(["--version"])
        assert e.value.code == 0
        assert capsys.readouterr().out.strip() == f"curatekit {version('curatekit')}"


@pytest.mark.parametrize("cli", CLIS)
def test_every_subcommand_has_a_description_and_every_option_a_help_text(cli):
    parser = importlib.import_module(f"{cli}.cli").build_parser()
    subs = _subparsers(parser)
    assert subs
    for name, sub, _ in subs:
        assert sub.description, f"{cli} {name}"
        missing = [a.option_strings or a.dest for a in sub._actions if not a.help and a.dest != "help"]
        assert not missing, f"{cli} {name}: {missing}"
        text = sub.format_help()
        for a in sub._actions:  # a real default is shown once, from the one source
            if a.option_strings and a.default not in (None, False, [], "==SUPPRESS==") and a.help:
                assert f"(default: {a.default})" in " ".join(text.split()), f"{cli} {name} {a.option_strings}"


def test_a_wrong_flag_shows_the_usage_of_the_subcommand_typed():
    r = subprocess.run([sys.executable, "-m", "curate", "run", "data/sample", "--out", "x", "--bogus"],
                       cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.startswith("usage: python -m curate run ") and "--system-prompt" in r.stderr
    assert r.stderr.strip().endswith("python -m curate run: error: unrecognized arguments: --bogus")
    r = subprocess.run([sys.executable, "-m", "train", "check", "--bogus"], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 2 and "python -m train check: error: unrecognized arguments: --bogus" in r.stderr


def test_progress_is_plain_lines_without_carriage_returns_when_stderr_is_not_a_terminal(capsys):
    from curate.console import PlainProgress, progress

    bar = progress(10, "pii", "conv")
    assert isinstance(bar, PlainProgress)  # pytest captures stderr: not a TTY
    bar.every = 0.0
    with bar:
        for _ in range(10):
            bar.update(1)
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert "\r" not in err and "\x1b" not in err
    assert [x.split(",")[0] for x in lines] == [f"pii: {i}/10 conv ({i * 10} %)" for i in range(1, 10)] + [
        "pii: 10/10 conv (100 %)"]
    assert lines[-1].endswith(" done")


def test_a_failed_flow_run_is_one_error_line_and_the_traceback_only_with_debug(prefect_harness, tmp_path):
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    cmd = [sys.executable, "-m", "flows", "run", "curate", "data/sample", "--out", str(tmp_path / "run"), "--no-pii",
           "--set", f"overrides.against={tmp_path / 'nowhere'}"]
    plain = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    debug = subprocess.run(cmd + ["--debug"], cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    want = f"error: {tmp_path / 'nowhere'}: no corpus index (corpus/index.parquet); point --against at an earlier run"
    for r in (plain, debug):
        assert r.returncode == 1 and [x for x in r.stderr.splitlines() if x.startswith("error:")][0].startswith(want)
    assert "Traceback" not in plain.stderr and "Traceback" in debug.stderr
    assert len(plain.stderr.splitlines()) < 12
