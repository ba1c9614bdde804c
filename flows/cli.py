"""`python -m flows`: run a flow from the command line (Prefect's ephemeral mode when no server is set),
or serve every deployment against a running `prefect server start`."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from schemas.overrides import OverrideError, parse_assignment, set_dotted

FLOWS = ("curate", "pipeline", "incremental", "synth", "preferences", "train")
# Where the curate settings sit inside each flow's config.
CURATE_AT = {"curate": "", "pipeline": "curate.", "incremental": "curate."}


class CliError(Exception):
    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


def _set(data: dict[str, Any], dotted: str, value: Any) -> None:
    try:
        set_dotted(data, dotted, value)
    except OverrideError as e:
        raise CliError(f"--set {dotted}: {e}") from None


def _curate_overrides(data: dict[str, Any], at: str, key: str, value: Any) -> None:
    """Add one ``overrides`` entry of the CurateFlowConfig found at ``at``."""
    node = data
    for k in [p for p in at.split(".") if p]:
        node = node.setdefault(k, {})
    node.setdefault("overrides", {})[key] = value


def build_params(flow: str, args: argparse.Namespace) -> dict[str, Any]:
    """The flow's config as a dict: --params YAML, then shortcut flags, then --set."""
    import yaml

    data: dict[str, Any] = {}
    if args.params:
        try:
            with open(args.params, encoding="utf-8") as f:
                data = yaml.safe_load(f) or {}
        except OSError as e:
            raise CliError(f"{args.params}: cannot read ({e.strerror})") from None
        except yaml.YAMLError as e:
            raise CliError(f"{args.params}: invalid YAML ({e})") from None
        if not isinstance(data, dict):
            raise CliError(f"{args.params}: expected a mapping of config fields")
    at = CURATE_AT.get(flow)
    if at is not None:
        if args.inputs:
            _set(data, at + "inputs", list(args.inputs))
        if args.out:
            _set(data, at + "out", args.out)
        if args.pipeline_config:
            _set(data, at + "config_file", args.pipeline_config)
        for name in ("shards", "work_dir"):
            if getattr(args, name) is not None:
                _set(data, at + name, getattr(args, name))
        if args.refresh:
            _set(data, at + "refresh", True)
        if args.keep_intermediates:
            _set(data, at + "keep_intermediates", True)
        for name in ("kind", "workers", "address"):
            v = getattr(args, f"runner_{name}")
            if v is not None:
                _set(data, at + f"runner.{name}", v)
        if args.no_pii:
            _curate_overrides(data, at, "pii.enabled", False)
        if args.perplexity:
            _curate_overrides(data, at, "perplexity.enabled", True)
        if args.semantic_dedup:
            _curate_overrides(data, at, "semantic_dedup.enabled", True)
        if args.select:
            _curate_overrides(data, at, "select.expression", args.select)
    elif args.inputs or args.out:
        raise CliError(f"run {flow}: INPUT and --out are for curate, pipeline and incremental; use --set")
    if flow == "incremental":
        if args.landing:
            data["landing"] = args.landing
        if args.runs_dir:
            data["runs_dir"] = args.runs_dir
    from curate.config import PipelineConfig

    sections = PipelineConfig.section_names() if at is not None else set()
    for item in args.set:
        try:
            k, v = parse_assignment(item)
        except OverrideError:
            raise CliError(f"--set {item}: expected KEY=VALUE, e.g. runner.workers=2") from None
        if k.split(".")[0] in sections:
            _curate_overrides(data, at, k, v)  # --set perplexity.cpu_threads=1 as with curate run
        else:
            _set(data, k, v)
    return data


def _flow_and_model(flow: str):
    from flows import config as c

    if flow == "curate":
        from flows.curate import curate_flow
        return curate_flow, c.CurateFlowConfig
    if flow == "incremental":
        from flows.curate import incremental_curate_flow
        return incremental_curate_flow, c.IncrementalConfig
    if flow == "pipeline":
        from flows.pipeline import pipeline_flow
        return pipeline_flow, c.PipelineFlowConfig
    if flow == "synth":
        from flows.synthesis import synth_flow
        return synth_flow, c.SynthFlowConfig
    if flow == "preferences":
        from flows.synthesis import preference_flow
        return preference_flow, c.PreferenceFlowConfig
    from flows.training import train_flow
    return train_flow, c.TrainFlowConfig


def _print_curate(summary: dict[str, Any], title: str) -> None:
    from collections import Counter

    from curate.console import summary_table

    states: dict[str, list[str]] = {}
    for t in summary.get("tasks", []):
        states.setdefault(t["step"], []).append(t["state"])
    rows, reasons = [], Counter()
    for s in summary["steps"]:
        st = states.get(s["step"], [])
        shown = f"{sum(x == 'Cached' for x in st)}/{len(st)} cached" if st else "-"
        rows.append((s["step"], s["n_in"], s["n_kept"], s["n_rejected"], shown))
        reasons.update(s["reasons"])
    t = summary["totals"]
    rt = summary.get("retention") or {}
    kept_line = (f"retention: {rt['kept']} of {rt['distinct_in']} distinct conversations kept "
                 f"({rt['retention']:.1%})\n" if rt else "")
    summary_table(title, ["step", "in", "kept", "rejected", "tasks"], rows, reasons=reasons,
                  footer=kept_line + f"splits: {summary['splits']}   leak checks: "
                         f"{'PASS' if summary['leak_checks_passed'] else 'FAIL'}   {t['records_in']} in = "
                         f"{t['kept']} kept + {t['rejected']} rejected   report: {summary['report_html']}")
    for w in summary.get("warnings") or []:
        print(f"warning: {w}", file=sys.stderr)


def _require_out(flow: str, data: dict[str, Any]) -> None:
    """A curation flow writes its run directory only where the user said: no silent default."""
    if flow not in ("curate", "pipeline"):
        return
    node: Any = data
    for k in [p for p in CURATE_AT[flow].split(".") if p]:
        node = node.get(k) if isinstance(node, dict) else None
    if isinstance(node, dict) and node.get("out"):
        return
    inputs = (node or {}).get("inputs") if isinstance(node, dict) else None
    stem = Path(str((inputs or ["data/sample"])[0]).rstrip("/")).name.split(".")[0] or "run"
    free = next(f"out/{stem}{'' if i == 0 else f'-{i + 1}'}" for i in range(1000)
                if not Path(f"out/{stem}{'' if i == 0 else f'-{i + 1}'}").exists())
    raise CliError(f"run {flow}: --out is required (the run directory; e.g. --out {free}, which does not exist yet)")


def cmd_run(args: argparse.Namespace) -> int:
    import json

    from pydantic import ValidationError

    flow, model = _flow_and_model(args.flow)
    data = build_params(args.flow, args)
    _require_out(args.flow, data)
    try:
        config = model.model_validate(data)
    except ValidationError as e:
        err = e.errors(include_url=False)[0]
        raise CliError(f"run {args.flow}: {'.'.join(str(x) for x in err['loc'])}: {err['msg']}") from None
    summary = flow(config)
    cur = summary.get("curate") if args.flow == "pipeline" else summary
    if isinstance(cur, dict) and "steps" in cur and "totals" in cur:
        _print_curate(cur, f"{args.flow} flow -> {cur['out']}")
    if args.json or not (isinstance(cur, dict) and "totals" in cur):
        print(json.dumps(summary, indent=1, default=str, sort_keys=True)[:20000])
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from flows.config import IncrementalConfig
    from flows.deployments import serve_all

    if not (os.environ.get("PREFECT_API_URL") or _profile_api_url()):
        raise CliError("serve needs a Prefect server: run `prefect server start` in another terminal, then "
                       "export PREFECT_API_URL=http://127.0.0.1:4200/api")
    data = build_params("incremental", args)
    inc = IncrementalConfig.model_validate(data)
    serve_all(inc, cron=args.cron, interval=args.interval, limit=args.limit)
    return 0


def _profile_api_url() -> str | None:
    try:
        from prefect.settings import PREFECT_API_URL

        return PREFECT_API_URL.value()
    except Exception:  # pragma: no cover
        return None


def _hide_tracebacks() -> None:
    """Prefect logs a failed flow or task run with its traceback; keep its one-line message only."""
    import logging

    import prefect  # noqa: F401 - configures Prefect's loggers first

    class NoTraceback(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            record.exc_info, record.exc_text = None, None
            return True

    for name in ("prefect.flow_runs", "prefect.task_runs", "prefect.flow_engine", "prefect.task_engine"):
        logging.getLogger(name).addFilter(NoTraceback())


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--debug", action="store_true", help="show tracebacks of failed flow and task runs")
    p.add_argument("--params", metavar="FILE.yaml", help="the flow's config as YAML (fields of its config model)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="set one config field, dotted, e.g. --set runner.workers=2 (repeatable); "
                        "a curate section (perplexity.cpu_threads=1) goes to the curate overrides")
    g = p.add_argument_group("curation (curate, pipeline, incremental)")
    g.add_argument("--pipeline-config", metavar="FILE.yaml", help="curate pipeline YAML (as curate run --config)")
    g.add_argument("--no-pii", action="store_true", help="disable PII scrubbing (as curate run --no-pii)")
    g.add_argument("--perplexity", action="store_true", help="enable the perplexity filter")
    g.add_argument("--semantic-dedup", action="store_true",
                   help="keep paraphrases in one split by sentence embeddings (as curate run --semantic-dedup)")
    g.add_argument("--select", metavar="EXPR", help="keep records whose metadata match EXPR (as curate run --select)")
    g.add_argument("--shards", type=int, help="shards of the shard-parallel steps (default 4)")
    g.add_argument("--work-dir", help="task outputs (default .OUT.flow beside OUT)")
    g.add_argument("--refresh", action="store_true", help="recompute every task, ignoring cached results")
    g.add_argument("--keep-intermediates", action="store_true",
                   help="keep the work dir's unscrubbed frames after success (default: deleted)")
    g.add_argument("--runner", dest="runner_kind", choices=["local", "dask", "ray"],
                   help="task runner for mapped steps (default local threads)")
    g.add_argument("--workers", dest="runner_workers", type=int, help="threads / local cluster workers")
    g.add_argument("--address", dest="runner_address", help="an existing Dask or Ray cluster")
    g.add_argument("--landing", help="incremental: the landing folder")
    g.add_argument("--runs-dir", help="incremental: where increments, ledger.json and corpus_all/ go")


def build_parser() -> argparse.ArgumentParser:
    from curate.cli_kit import polish, prog

    parser = argparse.ArgumentParser(prog=prog("flows"), description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    r = sub.add_parser("run", help="run one flow now (ephemeral Prefect unless PREFECT_API_URL is set)")
    r.add_argument("flow", choices=FLOWS, help="which flow")
    r.add_argument("inputs", nargs="*", metavar="INPUT", help="curate / pipeline: input files or folders")
    r.add_argument("--out", help="curate / pipeline: run directory")
    r.add_argument("--json", action="store_true", help="print the flow's summary as JSON")
    _common(r)
    r.set_defaults(func=cmd_run)
    s = sub.add_parser("serve", help="register every deployment with the server at PREFECT_API_URL and serve them")
    s.set_defaults(inputs=[], out=None)
    s.add_argument("--cron", default="0 2 * * *", help="schedule of the incremental curation (nightly 02:00)")
    s.add_argument("--interval", type=float, help="schedule every N seconds instead of --cron")
    s.add_argument("--limit", type=int, default=1, help="flow runs at once in this process")
    _common(s)
    s.set_defaults(func=cmd_serve)
    return polish(parser)


def main(argv: list[str] | None = None) -> int:
    from curate.cli_kit import parse

    args = parse(build_parser(), argv)
    if not args.debug:
        _hide_tracebacks()
    try:
        return int(args.func(args) or 0)
    except CliError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a failed flow: one line here (the traceback in Prefect's log with --debug)
        from curate.console import UserError

        code = e.code if isinstance(e, UserError) else 1
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        print(f"error: {type(e).__name__}: {msg}" if not isinstance(e, UserError) else f"error: {msg}",
              file=sys.stderr)
        return code
