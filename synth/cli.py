"""``python -m synth``: generate, prefs, import-prefs, serve. User errors are one line, no traceback."""
from __future__ import annotations

import argparse
import sys
from typing import Any

from synth.config import SynthConfigError, load_config
from synth.errors import SynthUserError


def _stderr(message: str) -> None:
    print(f"synth: {message}", file=sys.stderr, flush=True)


def _parse_price(text: str) -> tuple[str, dict[str, float]]:
    try:
        model, prices = text.rsplit("=", 1)
        pin, pout = (float(x) for x in prices.split(","))
    except ValueError:
        raise SynthUserError(f"--price {text!r}: expected MODEL=INPUT,OUTPUT (per million tokens), e.g. "
                             "gpt-4o-mini=0.15,0.6", code=2) from None
    return model, {"input_per_mtok": pin, "output_per_mtok": pout}


def _parse_set(text: str) -> tuple[str, Any]:
    from schemas.overrides import OverrideError, parse_assignment

    try:
        return parse_assignment(text)
    except OverrideError:
        raise SynthUserError(f"--set {text!r}: expected KEY=VALUE, e.g. generate.judge.min_score=3.5",
                             code=2) from None


def _add_client_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("endpoint, limits and cost")
    g.add_argument("--config", help="YAML config (sections client, generate, prefs, import_prefs)")
    g.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set client.max_in_flight=16 (repeatable)")
    g.add_argument("--base-url", help="OpenAI-compatible endpoint (default: $OPENAI_BASE_URL, else the embedded "
                                      "local model served by synth.local_server)")
    g.add_argument("--model", help="model name at the endpoint (default: $SYNTH_MODEL); with the embedded server, "
                                   "a local model folder")
    g.add_argument("--api-key-env", help="environment variable holding the API key (default OPENAI_API_KEY)")
    g.add_argument("--budget", type=float, help="stop cleanly before a request that would take the spend over this")
    g.add_argument("--price", action="append", default=[], metavar="MODEL=IN,OUT",
                   help="price per million tokens (input,output) for a model; '*' for any (repeatable)")
    g.add_argument("--max-in-flight", type=int, help="requests in flight at once")
    g.add_argument("--rpm", type=float, help="client-side limit: requests per minute")
    g.add_argument("--tpm", type=float, help="client-side limit: tokens per minute")
    g.add_argument("--timeout", type=float, help="per-request timeout in seconds")
    g.add_argument("--max-retries", type=int, help="retries on 429 / 5xx / timeouts / connection errors")
    g.add_argument("--json-mode", action="store_true", help="send response_format=json_object (the same as "
                                                             "--response-format json_object)")
    g.add_argument("--response-format", choices=["auto", "json_schema", "json_object", "none"],
                   help="what JSON requests carry (default auto: the reply's JSON schema, stepping down to "
                        "json_object, then the prompt alone, when the endpoint refuses or ignores it)")
    g.add_argument("--cache", help="request cache file (default: synth_cache.sqlite next to --out)")
    g.add_argument("--no-cache", action="store_true", help="no persistent request cache (not resumable)")
    g.add_argument("--progress", dest="progress", action="store_true", default=None, help="force the progress bar")
    g.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    g.add_argument("-v", "--verbose", action="store_true", help="log every retry")


def _client_overrides(args: argparse.Namespace) -> dict[str, Any]:
    o: dict[str, Any] = {}
    for flag, key in (("base_url", "base_url"), ("model", "model"), ("api_key_env", "api_key_env"),
                      ("budget", "budget"), ("max_in_flight", "max_in_flight"), ("rpm", "requests_per_minute"),
                      ("tpm", "tokens_per_minute"), ("timeout", "timeout_s"), ("max_retries", "max_retries"),
                      ("cache", "cache_path")):
        v = getattr(args, flag, None)
        if v is not None:
            o[f"client.{key}"] = v
    if args.json_mode:
        o["client.json_mode"] = True
    if getattr(args, "response_format", None):
        o["client.response_format"] = args.response_format
    if args.no_cache:
        o["client.cache"] = False
    for text in args.price:
        model, price = _parse_price(text)
        o[f"client.prices.{model}"] = price
    return o


def _config(args: argparse.Namespace, extra: dict[str, Any]):
    overrides = _client_overrides(args) if hasattr(args, "base_url") else {}
    overrides.update(extra)
    for text in args.set:
        k, v = _parse_set(text)
        overrides[k] = v
    return load_config(args.config, overrides)


def _client_log(args: argparse.Namespace):
    return _stderr if args.verbose else None


def _nothing_succeeded(manifest: dict[str, Any]) -> int:
    """Exit non-zero, with the reason, when items were asked for and not one request got an answer."""
    c, led = manifest["counts"], manifest.get("ledger") or {}
    if not c["n_in"] or c["n_out"] or led.get("requests", 0) or led.get("cache_hits", 0):
        return 0
    errs = ", ".join(f"{k} x{v}" for k, v in (led.get("errors") or {}).items())
    where = (manifest.get("endpoint") or {}).get("base_url") or "the endpoint"
    why = (f"budget {led.get('budget')} reached before the first answer" if led.get("stopped_by_budget")
           else f"errors: {errs}" if errs else "no request was answered")
    print(f"error: nothing succeeded: none of {c['n_in']} items got an answer from {where} ({why}); "
          "check --base-url, --model and that the server is up", file=sys.stderr)
    return 1


def cmd_generate(args: argparse.Namespace) -> int:
    from synth.generate import run_generate
    from synth.report import print_summary

    extra: dict[str, Any] = {}
    if args.per_topic is not None:
        extra["generate.per_topic"] = args.per_topic
    if args.evolve:
        extra["generate.evolve.enabled"] = True
    if args.no_judge:
        extra["generate.judge.enabled"] = False
    if args.min_score is not None:
        extra["generate.judge.min_score"] = args.min_score
    if args.eval_file:
        extra["generate.curate.eval_files"] = args.eval_file
    if args.no_curate:
        extra["generate.curate.enabled"] = False
    cfg = _config(args, extra)
    manifest = run_generate(args.topics, args.out, cfg, progress=args.progress, log=_stderr,
                            argv=sys.argv[1:] if args.argv is None else args.argv,
                            client_log=_client_log(args))
    print_summary("synth generate", manifest, "examples")
    return _nothing_succeeded(manifest)


def cmd_prefs(args: argparse.Namespace) -> int:
    from synth.prefs import run_prefs
    from synth.report import print_summary

    extra: dict[str, Any] = {}
    for flag, key in (("candidates", "candidates"), ("min_margin", "min_margin"),
                      ("pairs_per_prompt", "pairs_per_prompt"), ("weak_model", "weak_model"),
                      ("weak_candidates", "weak_candidates"), ("judge_model", "judge.model")):
        v = getattr(args, flag)
        if v is not None:
            extra[f"prefs.{key}"] = v
    cfg = _config(args, extra)
    manifest = run_prefs(args.prompts, args.out, cfg, kto_out=args.kto_out, progress=args.progress, log=_stderr,
                         argv=sys.argv[1:] if args.argv is None else args.argv, client_log=_client_log(args))
    print_summary("synth prefs", manifest, "pairs")
    return _nothing_succeeded(manifest)


def cmd_import(args: argparse.Namespace) -> int:
    from synth.importer import run_import
    from synth.report import print_summary

    extra: dict[str, Any] = {}
    for flag in ("prompt_col", "chosen_col", "rejected_col", "system_col", "id_col", "response_col", "rank_col"):
        v = getattr(args, flag)
        if v is not None:
            extra[f"import_prefs.{flag}"] = v
    cfg = _config(args, extra)
    manifest = run_import(args.csv, args.out, cfg.import_prefs, argv=sys.argv[1:] if args.argv is None else args.argv)
    print_summary("synth import-prefs", manifest, "pairs")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Keep the embedded server up in the foreground, so several commands can share it (--base-url)."""
    import time

    from synth.server import EmbeddedServerError, embedded_server

    cfg = _config(args, {})
    try:
        with embedded_server(cfg.client.embedded, args.model, _stderr) as srv:
            print(f"--base-url {srv.base_url} --model {srv.model}", flush=True)
            _stderr("serving; Ctrl-C stops it")
            while True:
                time.sleep(3600)
    except EmbeddedServerError as e:
        raise SynthUserError(f"embedded server: {e}") from None


def build_parser() -> argparse.ArgumentParser:
    from curate.cli_kit import polish, prog

    parser = argparse.ArgumentParser(
        prog=prog("synth"),
        description="Synthetic SFT data and preference pairs through any OpenAI-compatible endpoint "
                    "(default: the embedded local model).")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    g = sub.add_parser("generate", help="seed topics -> ChatML SFT examples (judged and curated)",
                       description="Seed topics become customer messages and expert answers, judged by a rubric "
                                   "and curated (dedup, quality, decontamination); writes ChatML JSONL, "
                                   "OUT.rejects.jsonl and OUT.manifest.json.")
    g.add_argument("--topics", required=True, help="topics file: YAML (topics, system_prompt, personas, task_types, "
                                                   "difficulties) or text (one topic per line)")
    g.add_argument("--out", required=True, help="output ChatML JSONL")
    g.add_argument("--per-topic", type=int, help="examples per topic")
    g.add_argument("--evolve", action="store_true", help="evolve questions (deepen, add constraints, concretise)")
    g.add_argument("--no-judge", action="store_true", help="skip the rubric judge")
    g.add_argument("--min-score", type=float, help="least mean rubric score (1-5) to keep an example")
    g.add_argument("--eval-file", action="append", default=[], help="eval set to decontaminate against (repeatable)")
    g.add_argument("--no-curate", action="store_true", help="skip dedup / quality / decontamination")
    _add_client_args(g)
    g.set_defaults(func=cmd_generate, argv=None)

    p = sub.add_parser("prefs", help="prompts -> K candidates -> judge (both orders) -> DPO pairs",
                       description="For each prompt: K candidates, a pairwise judge asked in both orders, and a "
                                   "chosen/rejected pair when the margin is big enough; writes conversational "
                                   "DPO JSONL, OUT.rejects.jsonl and OUT.manifest.json.")
    p.add_argument("--prompts", required=True, action="append",
                   help="JSONL (ChatML, ShareGPT, Alpaca, DPO, or {'prompt': ...}) or text, one prompt per line "
                        "(repeatable)")
    p.add_argument("--out", required=True, help="output DPO JSONL")
    p.add_argument("-k", "--candidates", type=int, help="candidates per prompt")
    p.add_argument("--min-margin", type=float, help="least judge score gap (1-10) between chosen and rejected")
    p.add_argument("--pairs-per-prompt", type=int, help="pairs per prompt (best vs worst, best vs next-worst, ...)")
    p.add_argument("--weak-model", help="a second, weaker model for some candidates")
    p.add_argument("--weak-candidates", type=int, help="how many candidates come from --weak-model")
    p.add_argument("--judge-model", help="judge model (default: the generation model)")
    p.add_argument("--kto-out", help="also write unpaired KTO rows (prompt, completion, label) here")
    _add_client_args(p)
    p.set_defaults(func=cmd_prefs, argv=None)

    i = sub.add_parser("import-prefs", help="CSV chosen/rejected (or ranked) data -> DPO JSONL",
                       description="Import human preference data: pairwise columns prompt,chosen,rejected or "
                                   "ranked rows prompt,response,rank (--rank-col).")
    i.add_argument("csv", help="CSV file with a header row")
    i.add_argument("--out", required=True, help="output DPO JSONL")
    for flag in ("prompt", "chosen", "rejected", "system", "id", "response", "rank"):
        i.add_argument(f"--{flag}-col", dest=f"{flag}_col", help=f"{flag} column name")
    i.add_argument("--config", help="synth YAML config")
    i.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one config value")
    i.set_defaults(func=cmd_import, argv=None)

    s = sub.add_parser("serve", help="run the embedded local server in the foreground (share it with --base-url)")
    s.add_argument("--model", help="local model folder (default: the embedded model)")
    s.add_argument("--config", help="synth YAML config")
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one config value")
    s.set_defaults(func=cmd_serve, argv=None)
    return polish(parser)


def _terminate(signum, frame):  # pragma: no cover - signal handler
    raise KeyboardInterrupt  # unwind: the embedded server is stopped and finished answers stay cached


def main(argv: list[str] | None = None) -> int:
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
    from curate.cli_kit import parse

    args = parse(build_parser(), argv)
    if argv is not None:
        args.argv = list(argv)
    try:
        return int(args.func(args) or 0)
    except (SynthUserError, SynthConfigError) as e:
        from schemas.secrets import redact

        print(f"error: {redact(str(e))}", file=sys.stderr)
        return getattr(e, "code", 2) if isinstance(e, SynthUserError) else 2
    except KeyboardInterrupt:
        print("interrupted (answers received so far are cached; re-run to continue)", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    except OSError as e:  # disk full, permissions: one line naming the path; stored answers stay cached
        from curate.rundir import describe_os_error
        from schemas.secrets import redact

        print(f"error: {redact(describe_os_error(e, None))}", file=sys.stderr)
        return 4


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
