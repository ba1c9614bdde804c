"""normalize: Unicode form, spaces and blank lines; turns that become empty are rejects."""
from curate.config import NormalizeConfig
from curate.steps.base import StepType


def _run(frame, conf: NormalizeConfig, ctx):
    from curate.normalize import normalize

    return normalize(frame, conf)


STEP = StepType("normalize", NormalizeConfig, _run, reasons=("normalize.empty_content",), per_shard=True)
