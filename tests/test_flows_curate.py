"""Curation flows under Prefect's test harness: the same files as the CLI, cached re-runs, config changes
that invalidate exactly the steps after them, artifacts, the Dask runner, incremental runs, the CLI."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from flows.config import CurateFlowConfig, IncrementalConfig, PipelineFlowConfig, RunnerConfig

pytest_plugins = ("flows.testing",)

REPO = Path(__file__).resolve().parents[1]
OUT_FILES = ("train.chatml.jsonl", "val.chatml.jsonl", "test.chatml.jsonl", "rejects.jsonl", "manifest.json",
             "report.html", "corpus/index.parquet", "corpus/signatures.parquet")
NO_PII = {"pii.enabled": False}
BEFORE_QUALITY = ["ingest_file", "ingest", "normalize", "exact_dedup"]
# near-dedup runs after quality and PII (on the text that ships), so it follows a quality change.
FROM_QUALITY = ["quality", "near_dedup", "split", "mix", "decontam"]


def task_states(summary: dict) -> dict[str, set[str]]:
    """Step name -> the final state names of its tasks ("Cached", "Completed")."""
    out: dict[str, set[str]] = {}
    for t in summary["tasks"]:
        out.setdefault(t["step"], set()).add(t["state"])
    return out


def hashes(run_dir: Path) -> dict[str, str]:
    return {f: hashlib.sha256((run_dir / f).read_bytes()).hexdigest() for f in OUT_FILES}


def cli_run(out: Path, *flags: str) -> dict[str, str]:
    """`python -m curate run data/sample --out OUT FLAGS` through the CLI's own entry point (in this
    process, so the PII models it loads are shared with the flow that follows)."""
    from curate.cli import main

    assert main(["run", "data/sample", "--out", str(out), *flags]) == 0
    return hashes(out)


@pytest.fixture(scope="module", autouse=True)
def in_repo():
    """Inputs are given as `data/sample`, as in the README: records and manifests carry that path."""
    old = os.getcwd()
    os.chdir(REPO)
    yield
    os.chdir(old)


@pytest.fixture(scope="module")
def cli_no_pii(tmp_path_factory) -> dict[str, str]:
    return cli_run(tmp_path_factory.mktemp("cli") / "run", "--no-pii")


def no_pii(out: Path, **kw) -> CurateFlowConfig:
    return CurateFlowConfig(inputs=["data/sample"], out=str(out), overrides=dict(NO_PII), **kw)


def test_pipeline_flow_with_the_default_config_writes_the_same_files_as_the_curate_cli(prefect_harness, tmp_path):
    from flows.pipeline import pipeline_flow

    expected = cli_run(tmp_path / "cli")
    result = pipeline_flow(PipelineFlowConfig(curate=CurateFlowConfig(inputs=["data/sample"],
                                                                      out=str(tmp_path / "flow"))))

    assert hashes(tmp_path / "flow") == expected
    summary = result["curate"]
    assert summary["leak_checks_passed"] and "pii" in {t["step"] for t in summary["tasks"]}
    manifest = json.loads((tmp_path / "flow" / "manifest.json").read_text())
    assert summary["outputs"] == {o["path"]: o["sha256"] for o in manifest["outputs"]}
    # After success the work dir keeps no frame from before the PII step (they hold raw text).
    work = Path(summary["work_dir"])
    assert summary["intermediates"].startswith("removed")
    assert sorted(p.name for p in work.iterdir()) == ["decontam", "mix", "near_dedup", "pii", "signatures", "split"]


def test_a_second_run_of_an_unchanged_flow_reports_its_heavy_tasks_cached(prefect_harness, tmp_path, cli_no_pii):
    from prefect.artifacts import Artifact

    from flows.curate import curate_flow

    cfg = no_pii(tmp_path / "run")
    first = curate_flow(cfg)
    second = curate_flow(cfg)

    assert {t["state"] for t in first["tasks"]} == {"Completed"}
    assert {t["state"] for t in second["tasks"]} == {"Cached"}
    steps = [s["step"] for s in second["steps"] if s["step"] != "export"]
    assert second["cached_steps"] == steps
    assert len(second["tasks"]) == len(first["tasks"]) > len(steps)  # mapped steps are several tasks
    assert hashes(tmp_path / "run") == cli_no_pii

    # One artifact per run: the summary first (leak checks, per-step table, report.html), then each step.
    run_md = Artifact.get("curate-run").data
    quality = next(s for s in second["steps"] if s["step"] == "quality")
    assert run_md.index("Leak checks: **PASS**") < run_md.index("## Steps") < run_md.index("### step `quality`")
    assert str((tmp_path / "run" / "report.html").resolve()) in run_md and "file://" not in run_md
    assert f"| quality | {quality['n_in']:,} | {quality['n_kept']:,} |" in run_md
    placeholder = quality["reasons"]["quality.placeholder"]
    assert f"| `quality.placeholder` | {placeholder} |" in run_md.split("### step `quality`")[1]
    assert "reused from the cache" in run_md and Artifact.get("curate-quality") is None


def test_a_config_change_recomputes_exactly_the_changed_step_and_the_steps_after_it(prefect_harness, tmp_path):
    from flows.curate import curate_flow

    base = no_pii(tmp_path / "run")
    first = curate_flow(base)

    changed = curate_flow(base.model_copy(update={"overrides": {**NO_PII, "quality.length.min_words": 40}}))
    states = task_states(changed)
    assert {s: states[s] for s in BEFORE_QUALITY} == {s: {"Cached"} for s in BEFORE_QUALITY}
    assert {s: states[s] for s in FROM_QUALITY} == {s: {"Completed"} for s in FROM_QUALITY}
    assert "Completed" in states["signatures"]  # of the shards whose quality output changed
    n_rejected = {s["step"]: s["n_rejected"] for s in changed["steps"]}
    assert n_rejected["quality"] > {s["step"]: s["n_rejected"] for s in first["steps"]}["quality"]
    assert hashes(tmp_path / "run") == cli_run(tmp_path / "cli", "--no-pii", "--set", "quality.length.min_words=40")

    # A change that rejects nothing more recomputes its step; what comes after reads the same
    # shards as before (content-hash keys), so it stays cached.
    noop = task_states(curate_flow(base.model_copy(update={"overrides": {**NO_PII,
                                                                         "quality.length.max_words": 100000}})))
    assert noop["quality"] == {"Completed"}
    assert all(noop[s] == {"Cached"} for s in ["normalize", "near_dedup", "split", "mix", "decontam"])

    # A new near-dup threshold re-bands the signatures it already has.
    rebanded = task_states(curate_flow(base.model_copy(update={"overrides": {**NO_PII,
                                                                             "near_dedup.threshold": 0.7}})))
    assert all(rebanded[s] == {"Cached"} for s in ["ingest_file", "ingest", "normalize", "exact_dedup",
                                                   "quality", "signatures"])
    assert rebanded["near_dedup"] == {"Completed"}


def test_the_flow_on_a_local_dask_cluster_gives_the_cli_outputs(prefect_harness, tmp_path, cli_no_pii):
    pytest.importorskip("prefect_dask")
    from flows.curate import curate_flow

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    state = curate_flow(no_pii(tmp_path / "run", shards=3, runner=RunnerConfig(kind="dask", workers=2)),
                        return_state=True)
    summary = state.result()

    assert hashes(tmp_path / "run") == cli_no_pii
    assert {t["state"] for t in summary["tasks"]} == {"Completed"}
    assert len([t for t in summary["tasks"] if t["step"] == "quality"]) == 3
    # The workers reported their task runs to this flow's API (not to a temporary server of their own).
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(
            id=FlowRunFilterId(any_=[state.state_details.flow_run_id])))
    assert {r.name for r in runs} >= {t["task"] for t in summary["tasks"]}


def test_a_missing_work_dir_file_is_recomputed_not_trusted_from_the_cache(prefect_harness, tmp_path, cli_no_pii):
    from flows.curate import curate_flow

    cfg = no_pii(tmp_path / "run")
    curate_flow(cfg)
    shutil.rmtree(tmp_path / ".run.flow" / "split")
    states = task_states(curate_flow(cfg))

    assert states["split"] == {"Completed"} and states["quality"] == {"Cached"}
    assert hashes(tmp_path / "run") == cli_no_pii


def _json_or_none(line: str) -> dict | None:
    try:  # the sample holds invalid lines on purpose
        obj = json.loads(line)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None


def _record(rid: str, customer: str, question: str, answer: str) -> str:
    return json.dumps({"id": rid, "customer_id": customer, "messages": [
        {"role": "user", "content": question}, {"role": "assistant", "content": answer}]})


def test_incremental_flow_curates_only_new_files_against_earlier_increments(prefect_harness, tmp_path):
    from flows.curate import incremental_curate_flow

    landing, runs = tmp_path / "landing", tmp_path / "runs"
    landing.mkdir()
    shutil.copy("data/sample/chats.jsonl", landing / "chats.jsonl")
    shutil.copy("data/sample/turns.csv", landing / "turns.csv")
    cfg = IncrementalConfig(landing=str(landing), runs_dir=str(runs), curate=CurateFlowConfig(overrides=NO_PII))

    first = incremental_curate_flow(cfg)
    assert first["run"] == "run-0001" and first["new_files"] == 2
    old_index = pl.read_parquet(runs / "run-0001" / "corpus" / "index.parquet")
    old_split = dict(zip(old_index["group"].to_list(), old_index["split"].to_list()))
    kept_ids = set(old_index["id"].to_list())
    originals = [r for r in map(_json_or_none, (landing / "chats.jsonl").read_text().splitlines()) if r]
    customers = [r["customer_id"] for r in originals if r.get("id") in kept_ids and r.get("customer_id")][:4]

    # Day two: a copy of yesterday's file (all duplicates of the corpus), and new conversations of old customers.
    shutil.copy(landing / "chats.jsonl", landing / "chats_resent.jsonl")
    new_lines = [_record(f"NEW-{i}", c, f"Hello, this is about ticket {900 + i}: my router {w} keeps dropping the "
                                        f"connection every evening since I moved it to the {w} room upstairs.",
                         f"Thanks for the details about ticket {900 + i}. Please restart the router, move it away "
                         f"from the {w} window, and run the line test in the app; if it still drops tonight, reply "
                         f"here and we will send a technician.")
                 for i, (c, w) in enumerate(zip(customers, ["blue", "green", "quiet", "spare"]))]
    (landing / "new_customers.jsonl").write_text("\n".join(new_lines) + "\n")

    second = incremental_curate_flow(cfg)
    assert second["run"] == "run-0002" and second["new_files"] == 2
    ingested = {t["task"] for t in second["tasks"] if t["step"] == "ingest_file"}
    assert ingested == {"ingest[chats_resent.jsonl]", "ingest[new_customers.jsonl]"}
    manifest = json.loads((runs / "run-0002" / "manifest.json").read_text())
    assert sorted(Path(i["path"]).name for i in manifest["inputs"]) == ["chats_resent.jsonl", "new_customers.jsonl"]
    rejects = [json.loads(x) for x in (runs / "run-0002" / "rejects.jsonl").read_text().splitlines()]
    # Every record the corpus already holds comes back as a duplicate of the existing corpus.
    in_corpus = kept_ids & {r["id"] for r in originals}
    resent = {r["id"]: r for r in rejects if r["source"].endswith("chats_resent.jsonl")}
    assert in_corpus and all("(existing corpus)" in resent[i]["detail"] for i in in_corpus)
    kept = [json.loads(x) for s in ("train", "val", "test")
            for x in (runs / "run-0002" / f"{s}.chatml.jsonl").read_text().splitlines()]
    assert not in_corpus & {r["id"] for r in kept}
    moved = [(r["id"], s) for s in ("train", "val", "test")
             for r in map(json.loads, (runs / "run-0002" / f"{s}.chatml.jsonl").read_text().splitlines())
             if r["meta"]["group"] in old_split and old_split[r["meta"]["group"]] != s]
    pinned = [r for r in kept if r["meta"]["group"] in old_split]
    assert pinned and not moved

    third = incremental_curate_flow(cfg)
    assert third == {"new_files": 0, "run": None}
    assert json.loads((runs / "ledger.json").read_text())["runs"] == ["run-0001", "run-0002"]


def test_python_m_flows_run_curate_writes_the_cli_outputs_and_reports_errors_in_one_line(prefect_harness, tmp_path,
                                                                                         cli_no_pii):
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    done = subprocess.run([sys.executable, "-m", "flows", "run", "curate", "data/sample", "--out",
                           str(tmp_path / "run"), "--no-pii", "--shards", "2"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    assert hashes(tmp_path / "run") == cli_no_pii
    assert "leak checks: PASS" in done.stderr

    from flows.cli import main

    assert main(["run", "curate", "--set", "shards=0"]) == 2
    assert main(["run", "synth", "data/sample"]) == 2


def test_flows_run_shortcut_flags_become_curate_overrides():
    from flows.cli import build_params, build_parser

    args = build_parser().parse_args(["run", "pipeline", "data/sample", "--out", "out/x", "--semantic-dedup",
                                      "--select", "resolved = true and csat >= 4", "--perplexity"])
    overrides = build_params("pipeline", args)["curate"]["overrides"]
    assert overrides == {"semantic_dedup.enabled": True, "select.expression": "resolved = true and csat >= 4",
                         "perplexity.enabled": True}
    plain = build_params("curate", build_parser().parse_args(["run", "curate", "data/sample", "--out", "out/x"]))
    assert "overrides" not in plain


def test_flows_set_of_a_curate_section_becomes_a_curate_override_and_a_flow_field_stays_a_flow_field():
    from flows.cli import build_params, build_parser

    args = build_parser().parse_args(["run", "pipeline", "data/sample", "--out", "out/x", "--perplexity",
                                      "--set", "perplexity.cpu_threads=1", "--set", "semantic_dedup.dedup=false",
                                      "--set", "train.enabled=false"])
    params = build_params("pipeline", args)
    assert params["curate"]["overrides"] == {"perplexity.enabled": True, "perplexity.cpu_threads": 1,
                                             "semantic_dedup.dedup": False}
    assert params["train"] == {"enabled": False}
    direct = build_params("curate", build_parser().parse_args(
        ["run", "curate", "data/sample", "--out", "o", "--set", "quality.length.min_words=3", "--set", "shards=2"]))
    assert direct["overrides"] == {"quality.length.min_words": 3} and direct["shards"] == 2
    synth = build_params("synth", build_parser().parse_args(["run", "synth", "--set", "perplexity.x=1"]))
    assert synth == {"perplexity": {"x": 1}}  # not a curate flow: the key is the synth config's to refuse
