"""Dotted ``--set KEY=VALUE`` overrides, shared by every CLI and flow config.

One value rule for all of them: the text after ``=`` is read as YAML (``0.1``, ``true``, ``null``,
``[q_proj, v_proj]``), and kept as the plain string when it is not valid YAML.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence


class OverrideError(ValueError):
    """An override that cannot be applied; the message is one line without the CLI's prefix."""


def parse_value(text: str) -> Any:
    """A --set value as YAML scalar/list syntax; the raw text when it does not parse."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def parse_assignment(item: str) -> tuple[str, Any]:
    """``"a.b=VALUE"`` -> ``("a.b", parsed VALUE)``; `OverrideError` without ``=``."""
    if "=" not in item:
        raise OverrideError(f"{item!r}: expected KEY=VALUE")
    key, value = item.split("=", 1)
    return key.strip(), parse_value(value)


def set_dotted(data: dict[str, Any], key: str | Sequence[str], value: Any) -> None:
    """Set ``data[a][b][c] = value`` for ``key="a.b.c"`` (or the parts ``["a", "b", "c"]``), creating
    missing (or null) sections; `OverrideError` when a part already holds a value that is not a section."""
    *parents, leaf = key.split(".") if isinstance(key, str) else list(key)
    node = data
    for k in parents:
        nxt = node.get(k)
        if nxt is None:
            nxt = node[k] = {}
        elif not isinstance(nxt, dict):
            raise OverrideError(f"{k} is not a section")
        node = nxt
    node[leaf] = value


def apply_dotted(data: dict[str, Any], overrides: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """Apply ``{dotted key: value}`` to ``data`` in place and return it."""
    for key, value in (overrides.items() if isinstance(overrides, Mapping) else overrides):
        set_dotted(data, key, value)
    return data
