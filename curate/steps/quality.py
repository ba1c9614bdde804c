"""quality: nine heuristic checks on the assistant side of each record (``curate.quality``)."""
from curate.quality import REASONS, QualityConfig
from curate.steps.base import StepType


def _run(frame, conf: QualityConfig, ctx):
    from curate.quality import filter_quality

    return filter_quality(frame, conf)


STEP = StepType("quality", QualityConfig, _run, reasons=REASONS, per_shard=True)
