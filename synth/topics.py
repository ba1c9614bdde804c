"""Seed topics: a YAML file (topics plus optional system prompt, personas, task types,
difficulty levels) or a plain text file with one topic per line."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from synth.errors import SynthUserError

DEFAULT_PERSONAS = ["a customer"]
DEFAULT_TASK_TYPES = ["question"]
DEFAULT_DIFFICULTIES = ["medium"]


@dataclass(frozen=True)
class Topic:
    name: str
    description: str = ""
    line: int | None = None


@dataclass
class TopicsFile:
    path: str
    topics: list[Topic]
    system_prompt: str = ""
    context: str = ""
    personas: list[str] = field(default_factory=lambda: list(DEFAULT_PERSONAS))
    task_types: list[str] = field(default_factory=lambda: list(DEFAULT_TASK_TYPES))
    difficulties: list[str] = field(default_factory=lambda: list(DEFAULT_DIFFICULTIES))


@dataclass(frozen=True)
class Item:
    """One example to generate: a topic and the persona / task type / difficulty drawn for it."""

    id: str
    topic: Topic
    index: int
    persona: str
    task_type: str
    difficulty: str


def _str_list(value: object, key: str, path: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise SynthUserError(f"{path}: '{key}' must be a list of non-empty strings")
    return [v.strip() for v in value]


def _yaml_lines(text: str) -> dict[str, int]:
    """Line of each '- name' / '- topic' entry under topics:, for file:line in messages."""
    out: dict[str, int] = {}
    for i, line in enumerate(text.splitlines(), 1):
        m = re.match(r"\s*-\s*(?:name:\s*)?[\"']?([^\"'#\n]+?)[\"']?\s*$", line)
        if m:
            out.setdefault(m.group(1).strip(), i)
    return out


def load_topics(path: str | Path) -> TopicsFile:
    """Read a topics file; a problem is one :class:`SynthUserError` line naming file (and line)."""
    import yaml

    p = Path(path)
    if not p.is_file():
        raise SynthUserError(f"{p}: topics file not found")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise SynthUserError(f"{p}: not UTF-8 (byte at {e.start}); re-encode it") from None
    if p.suffix.lower() not in (".yaml", ".yml"):
        topics = [Topic(line.strip(), line=i) for i, line in enumerate(text.splitlines(), 1)
                  if line.strip() and not line.lstrip().startswith("#")]
        if not topics:
            raise SynthUserError(f"{p}: no topics (one per line; # starts a comment)")
        return TopicsFile(str(p), topics)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{p}:{mark.line + 1}" if mark else str(p)
        raise SynthUserError(f"{where}: not valid YAML ({getattr(e, 'problem', e)})") from None
    if isinstance(data, list):
        data = {"topics": data}
    if not isinstance(data, dict) or not isinstance(data.get("topics"), list) or not data["topics"]:
        raise SynthUserError(f"{p}: expected a 'topics:' list (strings or {{name, description}} mappings)")
    known = {"topics", "system_prompt", "context", "personas", "task_types", "difficulties"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise SynthUserError(f"{p}: unknown key(s) {unknown}; expected {sorted(known)}")
    lines = _yaml_lines(text)
    topics: list[Topic] = []
    for k, t in enumerate(data["topics"]):
        if isinstance(t, str) and t.strip():
            topics.append(Topic(t.strip(), line=lines.get(t.strip())))
        elif isinstance(t, dict) and isinstance(t.get("name"), str) and t["name"].strip():
            extra = set(t) - {"name", "description"}
            if extra:
                raise SynthUserError(f"{p}: topic {k + 1} has unknown key(s) {sorted(extra)}")
            topics.append(Topic(t["name"].strip(), str(t.get("description") or "").strip(),
                                line=lines.get(t["name"].strip())))
        else:
            raise SynthUserError(f"{p}: topic {k + 1} must be a non-empty string or a mapping with 'name'")
    for key in ("system_prompt", "context"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise SynthUserError(f"{p}: '{key}' must be a string")
    return TopicsFile(
        str(p), topics, system_prompt=(data.get("system_prompt") or "").strip(),
        context=(data.get("context") or "").strip(),
        personas=_str_list(data.get("personas"), "personas", str(p)) or list(DEFAULT_PERSONAS),
        task_types=_str_list(data.get("task_types"), "task_types", str(p)) or list(DEFAULT_TASK_TYPES),
        difficulties=_str_list(data.get("difficulties"), "difficulties", str(p)) or list(DEFAULT_DIFFICULTIES))


def slug(text: str, max_len: int = 40) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return s[:max_len].rstrip("-") or "topic"


def stable_int(*parts: object) -> int:
    """A 31-bit integer from a hash of the parts: the same inputs give the same number on every machine."""
    return int(hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:8], 16) & 0x7FFFFFFF


def plan_items(tf: TopicsFile, per_topic: int, seed: int = 0) -> list[Item]:
    """Items in topic order; persona, task type and difficulty rotate per topic from a seeded offset,
    so the examples of one topic differ from each other and the draw is reproducible."""
    items: list[Item] = []
    used: set[str] = set()
    for topic in tf.topics:
        base = slug(topic.name)
        stem, n = base, 2
        while stem in used:
            stem, n = f"{base}-{n}", n + 1
        used.add(stem)
        offs = [stable_int(seed, topic.name, what) for what in ("persona", "task", "difficulty")]
        for i in range(per_topic):
            items.append(Item(
                id=f"{stem}-{i + 1:03d}", topic=topic, index=i,
                persona=tf.personas[(offs[0] + i) % len(tf.personas)],
                task_type=tf.task_types[(offs[1] + i + i // len(tf.personas)) % len(tf.task_types)],
                difficulty=tf.difficulties[(offs[2] + i) % len(tf.difficulties)]))
    return items
