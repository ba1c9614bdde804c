"""split: groups and related records (near-duplicates, shared spans) share one of train/val/test;
an earlier corpus's groups keep their split. Deletes nothing."""
from curate.config import SplitConfig
from curate.steps.base import StepType


def _run(frame, conf: SplitConfig, ctx):
    from curate.split import split_by_group

    cfg, c = ctx.cfg, ctx.corpus
    return split_by_group(frame, conf, c.groups, cfg.near_dedup, ngram=cfg.decontam.ngram,
                          earlier=(c.sigs, c.splits) if c.sigs is not None else None)


STEP = StepType("split", SplitConfig, _run,
                key_inputs=lambda cfg, ctx: (cfg.near_dedup, cfg.decontam.ngram, ctx.against_digest))
