"""Cache keys of flow tasks: content hashes of the inputs + the step's config JSON + the package version.

Prefect's default cache policy hashes the task's arguments and the flow run id
and cannot see the library code a task calls. Here every key is built from
what determines a task's output, and nothing else:

- a task that reads an input file hashes the file's path (records carry it) and sha256;
- every later task hashes the sha256 of the files it reads (its kept shard, or
  every kept shard for a reduce, plus signature files), its shard position,
  the step's config JSON exactly as ``curate.run.plan`` builds it (including
  digests of the ``against`` corpus, eval files and mix files), the curatekit
  version and ``KEY_SCHEMA`` (bumped when the shape of a task's files changes).

So a changed config of one step changes that step's keys; the steps after it
are recomputed where their input changed (and only there: a shard whose input
came out the same is still cached), and no step before it is touched.

The flow computes each key before it submits a task (the stage before has
finished, so the hashes are known) and passes it as the task's ``key``
argument; :class:`StepKey` hands it to Prefect.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Optional

from prefect.cache_policies import CachePolicy

KEY_SCHEMA = "flows-v1"


def _version() -> str:
    from curate.pipeline import tool_version

    return tool_version()


def step_key(step: str, config_json: str, *parts: str) -> str:
    """``<step>-<sha256>`` of the step name, its config JSON, the package version and ``parts``."""
    h = hashlib.sha256()
    for p in (KEY_SCHEMA, _version(), step, config_json, *parts):
        h.update(p.encode())
        h.update(b"\x00")
    return f"{step.replace('_', '-')}-{h.hexdigest()}"


def file_key(step: str, config_json: str, path: str, sha256: str) -> str:
    """Key of a task that reads one input file: its path (records carry it) and content hash."""
    return step_key(step, config_json, f"file:{path}", f"sha256:{sha256}")


@dataclass
class StepKey(CachePolicy):
    """Cache policy: the task's ``key`` argument, computed by the flow with :func:`step_key`."""

    def compute_key(self, task_ctx: Any, inputs: dict[str, Any], flow_parameters: dict[str, Any],
                    **kwargs: Any) -> Optional[str]:
        return inputs.get("key")


STEP_KEY = StepKey()
