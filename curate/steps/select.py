"""select: keep records whose metadata match an expression; keep only the metadata fields asked for."""
from curate.config import SelectConfig
from curate.steps.base import StepType


def _run(frame, conf: SelectConfig, ctx):
    from curate.select import select_pii, select_records

    return select_records(frame, conf, select_pii(ctx.cfg))


def _key(cfg, ctx):
    from curate.select import select_pii

    return (select_pii(cfg),)


STEP = StepType("select", SelectConfig, _run, key_inputs=_key,
                reasons=("select.missing_field", "select.not_matched", "select.unsafe_meta"))
