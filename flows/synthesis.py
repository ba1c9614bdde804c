"""synth_flow and preference_flow: synth's library calls as LLM tasks with Prefect retries.

The tasks call ``synth.generate.run_generate`` and ``synth.prefs.run_prefs``
unchanged. synth's client already retries each request (429, 5xx, timeouts);
a Prefect retry covers what it gives up on for the whole task (an endpoint
that refuses every request, an embedded server that did not start). A retry
re-runs the library call, whose persistent request cache answers every
request that was already answered, so nothing is paid twice. LLM tasks are
not cached by Prefect for the same reason: the request cache is the cache.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task

from flows.artifacts import publish_manifest
from flows.config import PreferenceFlowConfig, SynthFlowConfig


def _chain(exc: BaseException | None):
    while exc is not None:
        yield exc
        exc = exc.__cause__ or exc.__context__


def retry_llm(task_, task_run, state) -> bool:
    """Retry an LLM task when the endpoint (or the network under it) failed, not on a user error."""
    from synth.client import FatalEndpointError, RequestFailed

    try:
        from synth.server import EmbeddedServerError
    except ImportError:  # pragma: no cover
        EmbeddedServerError = RuntimeError  # type: ignore[misc,assignment]
    transient = (FatalEndpointError, RequestFailed, EmbeddedServerError, ConnectionError, TimeoutError, OSError)
    exc = state.data if isinstance(state.data, BaseException) else None
    return any(isinstance(e, transient) for e in _chain(exc))


def _summary(manifest: dict[str, Any], out: str) -> dict[str, Any]:
    """The small part of a synth manifest that flows pass on (paths, hashes, counts, cost)."""
    ledger = manifest.get("ledger") or {}
    return {"out": out, "manifest": str(_manifest_path(out)), "complete": manifest.get("complete"),
            "counts": manifest.get("counts"), "steps": manifest.get("steps") or [],
            "outputs": {o["path"]: o["sha256"] for o in manifest.get("outputs") or []},
            "cost": ledger.get("cost"), "requests": ledger.get("requests")}


def _manifest_path(out: str) -> Path:
    from synth.report import manifest_path_for

    return manifest_path_for(Path(out))


@task(name="synth-generate", retries=3, retry_delay_seconds=[10, 20, 40], retry_condition_fn=retry_llm)
def generate_examples(topics: str, out: str, synth_data: dict[str, Any]) -> dict[str, Any]:
    """Seed topics -> judged, curated synthetic SFT examples (``synth.generate.run_generate``)."""
    from synth.config import SynthConfig
    from synth.generate import run_generate

    log = get_run_logger()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    manifest = run_generate(topics, out, SynthConfig.model_validate(synth_data), progress=False,
                            log=log.info, argv=["flows", "synth", topics])
    return _summary(manifest, out)


@task(name="synth-prefs", retries=3, retry_delay_seconds=[10, 20, 40], retry_condition_fn=retry_llm)
def make_preference_pairs(prompts: list[str], out: str, kto_out: str | None,
                          synth_data: dict[str, Any]) -> dict[str, Any]:
    """Prompts -> candidates -> judge in both orders -> DPO pairs (``synth.prefs.run_prefs``)."""
    from synth.config import SynthConfig
    from synth.prefs import run_prefs

    log = get_run_logger()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    manifest = run_prefs(prompts, out, SynthConfig.model_validate(synth_data), kto_out=kto_out, progress=False,
                         log=log.info, argv=["flows", "preferences", *prompts])
    return _summary(manifest, out)


def _with_retries(t, retry):
    return t.with_options(retries=retry.retries, retry_delay_seconds=retry.delays())


@flow(name="synth", description="Seed topics -> synthetic SFT examples over an OpenAI-compatible endpoint "
                                "(the embedded local model by default).")
def synth_flow(config: SynthFlowConfig = SynthFlowConfig()) -> dict[str, Any]:
    """One synth generate run; returns output paths, hashes, counts and cost."""
    cfg = config.synth_config()
    summary = _with_retries(generate_examples, config.retry)(config.topics, config.out,
                                                             cfg.model_dump(mode="json", exclude_unset=True))
    publish_manifest("synth", config.out, summary, [f"Output: `{Path(config.out).resolve()}`",
                                                    f"Counts: {summary['counts']}", f"Cost: {summary['cost']}"])
    return summary


@flow(name="preferences", description="Prompts -> K candidates -> judged in both orders -> DPO pairs; "
                                      "optionally curated into a DPO run directory for training.")
def preference_flow(config: PreferenceFlowConfig = PreferenceFlowConfig()) -> dict[str, Any]:
    """One synth prefs run (and, with ``curate_out``, its curation into a run directory)."""
    if not config.prompts:
        raise ValueError("preference_flow needs prompts (files of prompts or conversations)")
    cfg = config.synth_config()
    summary = _with_retries(make_preference_pairs, config.retry)(list(config.prompts), config.out, config.kto_out,
                                                                 cfg.model_dump(mode="json", exclude_unset=True))
    publish_manifest("preferences", config.out, summary, [f"Pairs: `{Path(config.out).resolve()}`",
                                                          f"Counts: {summary['counts']}"])
    if config.curate_out:
        from flows.config import CurateFlowConfig
        from flows.curate import run_curate

        base = config.curate or CurateFlowConfig()
        overrides = {**base.overrides, "export.formats": ["dpo"]}
        cc = base.model_copy(update={"inputs": [config.out], "out": config.curate_out, "overrides": overrides,
                                     "work_dir": None})
        summary["curated"] = run_curate(cc, flow_label="preferences-curate")
    return summary
