"""mix: blend general instruction data into train (a source step: n_in counts the candidates too)."""
from curate.config import MixConfig
from curate.steps.base import StepType


def _run(frame, conf: MixConfig, ctx):
    from curate.mix import mix_general

    return mix_general(frame, conf, ctx.cfg.near_dedup, ctx.cfg.exact_dedup)


STEP = StepType("mix", MixConfig, _run, adds_records=True, prefixes=("mix.",),
                key_inputs=lambda cfg, ctx: (ctx.mix_digest, cfg.near_dedup, cfg.exact_dedup),
                reasons=("mix.duplicate", "mix.duplicate_of_domain", "mix.empty_content", "mix.over_target"))
