"""perplexity: score assistant turns with the local model; reject too high (or too low) perplexity.
Per shard unless a percentile cut makes it global (the percentile is over the frame it is given)."""
from curate.perplexity import REASONS, PerplexityConfig
from curate.steps.base import StepType


def _run(frame, conf: PerplexityConfig, ctx):
    from curate.perplexity import filter_perplexity

    return filter_perplexity(frame, conf)


STEP = StepType("perplexity", PerplexityConfig, _run, reasons=REASONS,
                per_shard=lambda cfg: not (cfg.perplexity.upper_percentile or cfg.perplexity.lower_percentile),
                enabled=lambda cfg: cfg.perplexity.enabled)
