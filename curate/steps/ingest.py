"""ingest: read the input files into the frame (a source step: its n_in counts the records it found)."""
from curate.config import IngestConfig
from curate.steps.base import StepType


def _run(frame, conf: IngestConfig, ctx):
    from curate.ingest import ingest_step

    return ingest_step(ctx.files, conf)[0]


STEP = StepType("ingest", IngestConfig, _run, adds_records=True, prefixes=("ingest.", "schema."))
