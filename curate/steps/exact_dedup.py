"""exact_dedup: drop copies of the same text (also of an earlier run's corpus, with ``against``)."""
from curate.config import ExactDedupConfig
from curate.steps.base import StepType


def _run(frame, conf: ExactDedupConfig, ctx):
    from curate.dedup import exact_dedup

    return exact_dedup(frame, conf, ctx.corpus.exact)


STEP = StepType("exact_dedup", ExactDedupConfig, _run, key_inputs=lambda cfg, ctx: (ctx.against_digest,),
                reasons=("dedup.exact_duplicate",), prefixes=("dedup.",))
