"""Person names from name lists, with cues for the words that are also English words.

Sources (both shipped in PyPI wheels, read offline):
- `names` 0.3.0: the US census 1990 given names (5,163) and surnames (88,799).
- `english-words` 2.0.2: Webster's 2nd (web2), lower-case entries only, as "a
  dictionary word" (used to decide which capitalised unknown words spaCy should
  look at, and which surnames can stand alone).

Rules, per capitalised word (possessive "'s" stripped):
- a given name that is not also an everyday English word (Theresa, Brian,
  Priya is not in the list and is left to cues and spaCy) is a PERSON, grown
  over the following capitalised words ("Brian Cox", "Ana de la Cruz");
- an ambiguous given name (Will, May, Grace, Mark, Hope ...; AMBIGUOUS below)
  is a PERSON only with evidence: a following surname, a possessive
  ("Grace's address"), a cue before it (handled by pii_ner.cue_names), or
  standing alone as a whole short message or signature line;
- a surname alone counts when possessive and not a dictionary word
  ("Okafor's order"); after Mr/Ms it is a cue;
- in lower case, a given name counts only straight after a strong cue
  ("this is paul", "my name is theresa").
Terms of the allow-list never start a name.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from curate.pii_patterns import PRIORITY, Hit

# Given names from the census list that are everyday English words, months,
# or words a sentence can start with. They need evidence beyond the list.
AMBIGUOUS = frozenset("""
ai al alpha amber an angel angle april ara art august aura autumn bee bell belle berry bill
birdie blossom bo bob brain brandy brook buck bud buddy bunny candy caprice carry chance
charity chase cherish cherry chi chin china chuck clay cliff cole coral crystal daisy dale dawn
dean delta desire destiny diamond dick dimple dolly don dot drew dusty earl earnest easter echo
else emerald era fairy faith fawn fern forest frank gale garland garnet gay gene genesis genie
german ginger glen glory golden grace grant guy ha harmony hazel heath heather holly honey hope
hue hung in iris ivory ivy jack jade jay jewel joy june junior karma kit kitty lady lance lane
lean liberty lily long love lucky ma major man mana manual many maple marine mark marry marvel
may melody mercy merry meta mi miss misty moon my na noble nova olive omega pa page pansy
patience pearl penny piper porter precious prince princess queen randy raven reed rich robin
rocky rose royal ruby rusty sage sandy season see sky so son song soon sparkle spring star
sterling stormy summer sun sunny sunshine temple tiny trinity un velvet victor violet viva
walker ward will willow windy winter young ok per chi mac max sol sue pat tad ted tom dean art
""".split())

# Cues after which a lower-case word is taken as a name ("this is paul").
_STRONG_CUE = re.compile(
    r"(?i:\b(?:my name is|my name's|name is|name's|this is|i am|i'm|im|it's|call me|"
    r"hi|hey|hello|dear|thanks|thank you|regards|cheers|bye)[\s,:]+)$"
)

_WORD = re.compile(r"[^\W\d_][\w'’-]*")
NAME_PARTICLES = frozenset(
    "de da del della di dos das du van von der den la le bin binti ibn al el ter zu y".split())
# Words that never are names however they are written.
NOT_NAMES = frozenset("""
i i'm i'd i'll i've a an the and or but if of to in on at by for with from as is are was were
be been it its it's this that these those my your our their his her he she we you they me us
them mr mrs ms mx dr prof sir madam monday tuesday wednesday thursday friday saturday sunday
january february march april may june july august september october november december
ok okay hi hello hey dear thanks thank regards cheers best yes no not please sorry
""".split())


def _names_dir() -> Path:
    import names

    return Path(names.__file__).parent


@lru_cache(maxsize=1)
def given_names() -> frozenset[str]:
    out = set()
    for f in ("dist.male.first", "dist.female.first"):
        with open(_names_dir() / f) as fh:
            out.update(line.split()[0].lower() for line in fh if line.strip())
    return frozenset(out)


@lru_cache(maxsize=1)
def surnames() -> frozenset[str]:
    with open(_names_dir() / "dist.all.last") as fh:
        return frozenset(line.split()[0].lower() for line in fh if line.strip())


@lru_cache(maxsize=1)
def dictionary_words() -> frozenset[str]:
    """Lower-case entries of Webster's 2nd (proper nouns there are capitalised)."""
    from english_words import get_english_words_set

    return frozenset(w for w in get_english_words_set(["web2"]) if w.islower())


def _strip_poss(w: str) -> tuple[str, bool]:
    if w.endswith(("'s", "’s")):
        return w[:-2], True
    return w, False


def _is_cap(w: str) -> bool:
    return w[:1].isupper() and not (w.isupper() and len(w) > 1)


class NameFinder:
    """PERSON hits from the name lists; `unknown(word)` tells spaCy where to look."""

    def __init__(self, allow_words: frozenset[str], common_words: frozenset[str]):
        self.first = given_names()
        self.last = surnames()
        self.dict = dictionary_words()
        self.allow = allow_words
        self.common = common_words | NOT_NAMES

    def unknown(self, lw: str) -> bool:
        """A capitalised word no list explains: spaCy gets a look at it."""
        return (lw not in self.dict and lw not in self.first and lw not in self.common
                and lw not in self.allow)

    def _surname_like(self, w: str) -> bool:
        lw = w.lower()
        if lw in self.allow or lw in self.common:
            return False
        return lw in self.last or lw in self.first or lw not in self.dict

    def find(self, text: str) -> list[Hit]:
        words = list(_WORD.finditer(text))
        hits: list[Hit] = []
        prio = PRIORITY["PERSON_LIST"]
        i = 0
        n = len(words)
        while i < n:
            m = words[i]
            raw, poss = _strip_poss(m.group())
            lw = raw.lower()
            if lw in self.allow or lw in NOT_NAMES or lw not in self.first:
                # a possessive surname that is no dictionary word: "Okafor's"
                if (poss and _is_cap(raw) and lw in self.last and lw not in self.dict
                        and lw not in self.allow and lw not in self.common):
                    hits.append(Hit(m.start(), m.start() + len(raw), "PERSON", 0.7, prio))
                i += 1
                continue
            start = m.start()
            end = start + len(raw)
            cap = _is_cap(raw)
            # grow over following surnames / capitalised unknown words
            k = last = i
            while cap and not poss and k + 1 < n and k - i < 4:
                nxt = words[k + 1]
                if text[words[k].end():nxt.start()] != " ":
                    break
                w2, p2 = _strip_poss(nxt.group())
                k += 1
                if w2.lower() in NAME_PARTICLES:
                    continue  # "Ana de la Cruz": counted only if a name follows
                if not (_is_cap(w2) and self._surname_like(w2)):
                    break
                last, end = k, nxt.start() + len(w2)
                if p2:
                    break
            if last > i:
                hits.append(Hit(start, end, "PERSON", 0.75, prio))
                i = last + 1
                continue
            ok = False
            if cap:
                if lw not in AMBIGUOUS and lw not in self.common:
                    ok = True
                elif poss or self._alone(text, m.start(), start + len(raw)):
                    ok = True
            elif lw not in AMBIGUOUS and lw not in self.common and len(lw) > 2:
                ok = _STRONG_CUE.search(text, max(0, m.start() - 20), m.start()) is not None
            if ok:
                hits.append(Hit(start, start + len(raw), "PERSON", 0.7, prio))
            i += 1
        return hits

    @staticmethod
    def _alone(text: str, s: int, e: int) -> bool:
        """The word is a whole message or a whole line (a signature, a one-word reply)."""
        ls = text.rfind("\n", 0, s) + 1
        le = text.find("\n", e)
        le = len(text) if le < 0 else le
        before = text[ls:s].strip(" \t-–—*>")
        after = text[e:le].strip(" \t.!,")
        return not before and not after
