"""Command-line entry point. User errors print one line and exit non-zero; no tracebacks."""
from __future__ import annotations

import argparse
import sys

from curate.console import UserError


def build_parser() -> argparse.ArgumentParser:
    from curate.cli_format import add_convert, add_validate

    from curate.cli_kit import polish, prog

    parser = argparse.ArgumentParser(prog=prog("curate"),
                                     description="Curate fine-tuning data: validate, convert, run the pipeline.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_validate(sub)
    add_convert(sub)
    p = sub.add_parser("provision-model", help="provision the embedded local model into data/models/")
    p.add_argument("--dest", default=None, help="folder to provision into (default: data/models/)")
    p.add_argument("--force", action="store_true", help="rebuild even when a verified copy is there")
    p.set_defaults(func=_provision)
    try:
        from curate.cli_run import add_run
    except ImportError:  # the pipeline command lands separately
        pass
    else:
        add_run(sub)
    from curate.rejects_view import add_rejects

    add_rejects(sub)
    return polish(parser)


def _provision(args: argparse.Namespace) -> int:
    from schemas.local_model import main as provision_main

    argv = (["--dest", args.dest] if args.dest else []) + (["--force"] if args.force else [])
    return provision_main(argv)


def main(argv: list[str] | None = None) -> int:
    from curate.cli_kit import parse

    args = parse(build_parser(), argv)
    try:
        return int(args.func(args) or 0)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    except OSError as e:  # disk full, permissions: one line naming the path (run has its own, richer one)
        from curate.rundir import describe_os_error

        print(f"error: {describe_os_error(e, None)}", file=sys.stderr)
        return 4
