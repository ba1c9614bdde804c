"""What every command line of the toolkit shares (curate, synth, train, flows): the program name,
``--version``, defaults and descriptions in every ``--help``, and usage errors that show the
usage of the subcommand that was typed, not the top-level one."""
from __future__ import annotations

import argparse
import os
import sys


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows ``(default: X)`` for options with a real default (not None, False or an empty list)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "%(default)" in text or action.default in (None, False, [], argparse.SUPPRESS) or not action.option_strings:
            return text
        return text + " (default: %(default)s)"


def prog(module: str) -> str:
    """``curatekit-curate`` when run as the console script, else ``python -m curate``."""
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return name if name.startswith("curatekit-") else f"python -m {module}"


def version_text() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"curatekit {version('curatekit')}"
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "curatekit (not installed)"


def _subparsers(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser, str | None]]:
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            out += [(name, p, helps.get(name)) for name, p in action.choices.items()]
    return out


def polish(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add ``--version``; give the parser and every subcommand the defaults-showing formatter and a
    description (its one-line help when it has none)."""
    parser.add_argument("--version", action="version", version=version_text())
    parser.formatter_class = HelpFormatter
    for _, sub, help_text in _subparsers(parser):
        sub.formatter_class = HelpFormatter
        if not sub.description and help_text:
            sub.description = help_text[0].upper() + help_text[1:] + "."
    return parser


def parse(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> argparse.Namespace:
    """``parse_args``, except that an unknown option is reported with the subcommand's usage."""
    args, extra = parser.parse_known_args(argv)
    if extra:
        chosen = {name: sub for name, sub, _ in _subparsers(parser)}.get(getattr(args, "command", None) or "")
        (chosen or parser).error(f"unrecognized arguments: {' '.join(extra)}")
    return args
