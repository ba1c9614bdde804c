"""semantic_dedup: paraphrases by sentence embeddings, after near-dedup (fewer, scrubbed records);
its embeddings are cached in the run's cache folder between runs."""
from curate.semantic import SemanticDedupConfig
from curate.steps.base import StepType


def _run(frame, conf: SemanticDedupConfig, ctx):
    from curate.semantic import semantic_dedup

    return semantic_dedup(frame, conf, ctx.cache_dir)


STEP = StepType("semantic_dedup", SemanticDedupConfig, _run, reasons=("dedup.semantic_duplicate",),
                prefixes=("dedup.",), enabled=lambda cfg: cfg.semantic_dedup.enabled)
