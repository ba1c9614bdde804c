"""The per-process scrubbing machinery behind `curate.pii.PiiScrubber`.

One `Engine` per process: pattern detectors, the spaCy NER runner, and the
per-conversation steps (cues, propagation, resolution, replacement, re-scan).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from curate import pii_allow, pii_names, pii_ner, pii_patterns, pii_replace
from curate.pii_patterns import PRIORITY, Hit
from curate.pii_result import REASON_INVALID, REASON_RESIDUAL_PREFIX, REASON_TOO_LONG, ScrubResult

if TYPE_CHECKING:  # pii.py imports this module (lazily); this one never imports pii.py
    from curate.pii import PiiConfig


class Memo:
    """A bounded memo of per-text results (emptied when full, so memory stays flat).

    Support data repeats whole turns (greetings, macros, "Thanks!"), and
    conversations repeat spaCy windows; every function memoised here depends on
    its text alone, so a memo hit gives exactly what recomputing would.
    """

    MAX_CHARS = 2_000  # longer texts rarely repeat: not worth their memory

    def __init__(self, size: int):
        self.size = size
        self.data: dict[str, tuple] = {}

    def get(self, text: str):
        return self.data.get(text) if self.size else None

    def put(self, text: str, value: tuple) -> None:
        if not self.size or len(text) > self.MAX_CHARS:
            return
        if len(self.data) >= self.size:
            self.data.clear()
        self.data[text] = value


class Engine:
    """The per-process scrubbing machinery (patterns, NER, replacement).

    `memo_size` bounds each per-text memo (0: recompute everything; results are
    the same either way, see Memo).
    """

    MEMO_SIZE = 20_000

    def __init__(self, config: PiiConfig, memo_size: int | None = None):
        self.cfg = config
        memo_size = self.MEMO_SIZE if memo_size is None else memo_size
        self.text_memo = Memo(memo_size)    # text -> pattern, cue and name-list hits
        self.allow_memo = Memo(memo_size)   # text -> allow-listed spans
        self.window_memo = Memo(memo_size)  # NER window text -> hits relative to it
        self.entities = frozenset(config.entities)
        self.patterns = pii_patterns.PatternDetector(self.entities, config.account_patterns)
        self.residual = frozenset(config.residual_entities)
        self.residual_detector = pii_patterns.PatternDetector(
            self.residual, config.account_patterns)
        self.rescan_all = config.mode != "placeholder" or not self.residual <= self.entities
        ner_ents = self.entities & pii_ner.NER_ENTITIES
        self.ner = pii_ner.NerRunner(ner_ents, config.batch_size) if ner_ents else None
        self.prefilter = config.prefilter and "DATE_TIME" not in self.entities
        terms = list(config.allow_list)
        if config.default_allow_list:
            terms += pii_allow.DEFAULT_ALLOW_TERMS
        self.allow = pii_allow.AllowList(terms)
        self.allow_words = self.allow.words
        self.allow_exact = self.allow.exact
        self.names = None
        if "PERSON" in self.entities:
            self.names = pii_names.NameFinder(self.allow_words, pii_ner.COMMON_WORDS)
        # With places or dates on, spaCy must see dictionary words too
        # ("Paris", "March"); for persons only, words the lists explain need no NER.
        self.ner_unknown = (self.names.unknown if self.names is not None
                            and not self.entities & {"LOCATION", "NRP", "DATE_TIME"} else None)

    def warm(self) -> None:
        """Touch every lazy part once (libphonenumber region metadata, spaCy buffers)."""
        self.scrub([WARM_UP], ["warm-up"])

    # ------------------------------------------------------------------ driver
    def scrub(self, convs: list, keys: list[str], with_spans: bool = False) -> list[ScrubResult]:
        """Scrub a chunk: patterns, one batched NER pass, then each conversation's finish."""
        results: list[ScrubResult | None] = [None] * len(convs)
        work = []  # (conv index, texts, pattern + cue hits per text)
        # NER runs once per distinct window text of the chunk not in the memo;
        # slots say where each window's hits go (in window order, as without memo).
        jobs: list[tuple[str, int, int]] = []
        job_of: dict[str, int] = {}
        slots: list[tuple] = []  # ((work, message), offset, window, memoised hits or None)
        for ci, conv in enumerate(convs):
            bad = check(conv, self.cfg.max_chars)
            if bad:
                results[ci] = bad
                continue
            texts = [m["content"] for m in conv]
            phits = [self._text_hits(t) for t in texts]
            wi = len(work)
            work.append((ci, texts, phits))
            if self.ner is None:
                continue
            known = self._known_names(texts, phits) if self.prefilter else None
            for mi, (t, hits) in enumerate(zip(texts, phits)):
                if not t:
                    continue
                if not self.prefilter:
                    wins = [(0, len(t))]
                else:
                    # Words already inside a structured value or a name found by a
                    # cue (anywhere in the conversation) need no NER of their own.
                    blocked = [(h.start, h.end) for h in hits]
                    if known is not None:
                        blocked += [(m.start(), m.end()) for m in known.finditer(t)]
                    words, cands = pii_ner.ner_candidates(t, blocked, self.allow_words,
                                                          self.ner_unknown)
                    wins = pii_ner.ner_windows(t, words, cands, margin=pii_ner.WINDOW_MARGIN)
                for s, e in wins:
                    seg = t[s:e]
                    memo = self.window_memo.get(seg)
                    if memo is None and seg not in job_of:
                        job_of[seg] = len(jobs)
                        jobs.append((seg, 0, len(seg)))
                    slots.append(((wi, mi), s, seg, memo))
        job_results = self.ner.run(jobs) if jobs else []
        for (seg, _s, _e), hits in zip(jobs, job_results):
            self.window_memo.put(seg, tuple(hits))
        ner_hits: dict[tuple[int, int], list] = {}
        for owner, s, seg, memo in slots:
            hits = memo if memo is not None else job_results[job_of[seg]]
            ner_hits.setdefault(owner, []).extend(
                h._replace(start=h.start + s, end=h.end + s) for h in hits)
        for wi, (ci, texts, phits) in enumerate(work):
            nh = [ner_hits.get((wi, mi), []) for mi in range(len(texts))]
            results[ci] = self._finish(convs[ci], texts, phits, nh, keys[ci], with_spans)
        return results  # type: ignore[return-value]

    def _text_hits(self, t: str) -> list[Hit]:
        """Pattern, cue and name-list hits of one text (memoised: they depend on the text alone)."""
        if not t:
            return []
        memo = self.text_memo.get(t)
        if memo is None:
            hits = self.patterns.detect(t)
            if self.names is not None:
                hits += self._plausible(t, pii_ner.cue_names(
                    t, self.allow_words, "LOCATION" in self.entities))
                hits += self.names.find(t)
            memo = tuple(hits)
            self.text_memo.put(t, memo)
        return list(memo)

    def _allow_spans(self, t: str) -> list[tuple[int, int]]:
        if not self.allow:
            return []
        memo = self.allow_memo.get(t)
        if memo is None:
            memo = tuple(self.allow.spans(t))
            self.allow_memo.put(t, memo)
        return list(memo)

    def _known_names(self, texts, hits_per_text):
        """Regex of the names cues found in this conversation (and their parts)."""
        thr = self.cfg.score_threshold
        names = {t[h.start:h.end] for t, hits in zip(texts, hits_per_text) for h in hits
                 if h.entity == "PERSON" and h.score >= thr}
        variants = [v for v in pii_ner.name_variants(names, self.allow_words)
                    if v.casefold() not in self.allow_exact]
        return pii_ner.propagation_regex(variants)

    def _plausible(self, text: str, hits: list[Hit]) -> list[Hit]:
        """PERSON hits from cues or spaCy narrowed to words that can be names (see
        pii_names.NameFinder.person_span); other hits unchanged."""
        if self.names is None:
            return hits
        out = []
        for h in hits:
            if h.entity != "PERSON":
                out.append(h)
                continue
            span = self.names.person_span(text, h.start, h.end,
                                          _TITLE_BEFORE.search(text, 0, h.start) is not None,
                                          cued=h.prio == PRIORITY["PERSON_CUE"])
            if span is not None:
                out.append(h._replace(start=span[0], end=span[1]))
        return out

    def _finish(self, conv, texts, phits, nhits, conv_key, with_spans) -> ScrubResult:
        thr = self.cfg.score_threshold
        nhits = [self._plausible(t, nh) for t, nh in zip(texts, nhits)]
        per_msg = [list(ph) + list(nh) for ph, nh in zip(phits, nhits)]
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
        # The re-scan can only find something in a text whose first pass saw a
        # residual type (then dropped by the allow-list or the threshold), when
        # a residual type is not scrubbed at all, or when surrogates are inserted.
        rescan = [self.rescan_all or any(h.entity in self.residual for h in hits)
                  for hits in per_msg]
        for t, hits in zip(texts, per_msg):
            if not t:
                resolved.append([])
                continue
            if prop is not None:
                for m in prop.finditer(t):
                    ent = variants[m.group()]
                    prio = PRIORITY["PERSON_PROPAGATED"] if ent == "PERSON" else PRIORITY[ent]
                    hits.append(Hit(m.start(), m.end(), ent, 0.7, prio))
            if "PERSON" in self.entities:
                hits = pii_ner.extend_names(t, hits, self.allow_words)
            allow_spans = self._allow_spans(t)
            # An allow-listed term keeps everything inside it (a phone-like run
            # inside an allow-listed card number stays too); the residual
            # re-scan below still catches high-risk values.
            keep = [h for h in hits if h.score >= thr and h.entity in self.entities
                    and t[h.start:h.end].strip().casefold() not in self.allow_exact
                    and not any(a <= h.start and h.end <= b for a, b in allow_spans)]
            res = pii_replace.resolve(t, keep, allow_spans)
            resolved.append(res)
            all_person += [t[h.start:h.end] for h in res if h.entity == "PERSON"]
        avoid = frozenset(
            w.casefold() for t, res in zip(texts, resolved) for h in res
            if h.entity in ("PERSON", "LOCATION") for w in t[h.start:h.end].split())
        replacer = pii_replace.Replacer(self.cfg.mode, conv_key,
                                        pii_replace.person_aliases(all_person), avoid)
        out_msgs: list[dict] = []
        counts: dict[str, int] = {}
        reason = detail = None
        for mi, (msg, t, res) in enumerate(zip(conv, texts, resolved)):
            new, inserted, c = pii_replace.splice(t, res, replacer)
            for k, v in c.items():
                counts[k] = counts.get(k, 0) + v
            if self.residual and new and rescan[mi]:
                left = [h for h in self.residual_detector.detect(new)
                        if not any(h.start < b and a < h.end for a, b in inserted)]
                if left:
                    left.sort(key=lambda h: (-h.prio, h.start))
                    if reason is None:
                        reason = REASON_RESIDUAL_PREFIX + left[0].entity.lower()
                        types = ", ".join(sorted({h.entity for h in left}))
                        detail = f"message {mi} ({msg['role']}): {types} left after scrubbing"
                    masked = pii_replace.resolve(new, left, [])
                    new, _, _ = pii_replace.splice(new, masked, lambda e, v: f"<{e}_REDACTED>")
            # Only role and content come back: any other key of the input
            # message (a "name", tool arguments ...) was not scrubbed.
            out_msgs.append({"role": msg["role"], "content": new})
        spans = None
        if with_spans:
            spans = tuple(tuple((h.start, h.end, h.entity) for h in res) for res in resolved)
        return ScrubResult(out_msgs, dict(sorted(counts.items())), reason, detail, spans)


_TITLE_BEFORE = re.compile(
    r"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Madam|Mister|Herr|Frau|Sr|Sra|Señor|Señora|Mme|Mlle"
    r"|Monsieur|Madame|Signor|Signora)\.?\s+(?:[A-Z]\.\s*){0,2}$")

WARM_UP = [
    {"role": "system", "content": "You are a support agent. Customer: Maria Garcia."},
    {"role": "user", "content": "Hi, I'm Maria Garcia from Lisbon. Call +44 20 7946 0958, "
     "020 7946 0958, (212) 555-0199 or +49 30 12345678. Card 4111 1111 1111 1111, SSN "
     "219-09-9998, IBAN DE89 3704 0044 0532 0130 00, IP 10.0.0.12 / 2001:db8::1, "
     "https://example.com/x, 12 Oak Street, Springfield, IL 62704, ACC-0048213, key "
     "sk_live_4eC39HqLyjWDarjtT1zdp7dc, maria@example.com"},
    {"role": "assistant", "content": "Thanks, Maria! Ticket #482910 is open."},
]


def check(conv, max_chars: int) -> ScrubResult | None:
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
            msgs = [{"role": m2["role"], "content": ""} for m2 in conv]
            return ScrubResult(msgs, {}, REASON_TOO_LONG,
                               f"message {i} has {len(m['content'])} chars > {max_chars}")
    return None
