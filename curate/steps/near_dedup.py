"""near_dedup: MinHash LSH clusters of near-identical texts; the earliest member of each is kept.
Sharded, signatures are computed per shard (map) and banded once (reduce); not with ``against``."""
import json

from curate.config import NearDedupConfig
from curate.steps.base import ShardMap, StepType


def _run(frame, conf: NearDedupConfig, ctx):
    from curate.dedup import near_dedup

    c = ctx.corpus
    return near_dedup(frame, conf, c.sigs, c.ids)


def _fingerprint(cfg) -> str:
    """Signatures depend only on what makes them comparable (scheme, num_perm, ngram, seed), not on
    the threshold: a new threshold re-bands without re-hashing."""

    return json.dumps(cfg.near_dedup.minhash_params().signature_fingerprint(), sort_keys=True)


def _map(frame, cfg):
    from curate.shard import shard_signatures

    return shard_signatures(frame, cfg.near_dedup)


def _reduce(frame, cfg, sigs):
    from curate.shard import near_dedup_from_signatures

    return near_dedup_from_signatures(frame, cfg.near_dedup, sigs)


STEP = StepType("near_dedup", NearDedupConfig, _run, key_inputs=lambda cfg, ctx: (ctx.against_digest,),
                reasons=("dedup.near_duplicate",), prefixes=("dedup.",),
                shard_map=ShardMap("signatures", lambda cfg: cfg.near_dedup.enabled and not cfg.against,
                                   _fingerprint, _map, _reduce))
