"""pii: scrub personal data from every turn (after it, the text is what ships)."""
from curate.pii_step import PiiStepConfig
from curate.steps.base import StepType


def _run(frame, conf: PiiStepConfig, ctx):
    from curate.pii_step import scrub_pii

    return scrub_pii(frame, conf)


STEP = StepType("pii", PiiStepConfig, _run, per_shard=True, enabled=lambda cfg: cfg.pii.enabled)
