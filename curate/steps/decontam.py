"""decontam: drop train records that share a long span with a user's eval file (and synthetic or
mixed-in records that overlap val/test)."""
from curate.config import DecontamConfig
from curate.steps.base import StepType


def _run(frame, conf: DecontamConfig, ctx):
    from curate.decontam import decontaminate

    return decontaminate(frame, conf, ctx.eval_texts)


STEP = StepType("decontam", DecontamConfig, _run, key_inputs=lambda cfg, ctx: (ctx.eval_digest,),
                reasons=("decontam.ngram_overlap",))
