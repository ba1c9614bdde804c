"""Overlap resolution, allow-list, and replacement (typed placeholders or surrogates).

Everything here is per conversation and deterministic: placeholders are numbered
by first appearance, surrogates are drawn from an RNG seeded with a hash of
(conversation key, entity type, normalised value).
"""

from __future__ import annotations

import hashlib
import random
import re
import string

from curate.pii_patterns import Hit

_NER_TIER = 50  # hits with prio below this came from NER / name cues
_STRIP = " \t\n,.;:!?()[]{}'\"“”‘’-–—/"


def _alnum(s: str) -> int:
    return sum(c.isalnum() for c in s)


def _subtract(s: int, e: int, taken: list[tuple[int, int]]) -> list[tuple[int, int]]:
    pieces = [(s, e)]
    for a, b in taken:
        nxt = []
        for ps, pe in pieces:
            if b <= ps or a >= pe:
                nxt.append((ps, pe))
                continue
            if ps < a:
                nxt.append((ps, a))
            if b < pe:
                nxt.append((b, pe))
        pieces = nxt
        if not pieces:
            break
    return pieces


def _trim(text: str, s: int, e: int) -> tuple[int, int]:
    while s < e and text[s] in _STRIP:
        s += 1
    while e > s and text[e - 1] in _STRIP:
        e -= 1
    return s, e


def resolve(text: str, hits: list[Hit], allow_spans: list[tuple[int, int]]) -> list[Hit]:
    """Non-overlapping hits: the higher priority wins, then the longer span.

    A loser that only partly overlaps keeps its uncovered rest (a NER span
    "Maria Garcia 415" that overlaps a phone still scrubs "Maria Garcia").
    NER-tier hits also lose the parts covered by allow-listed terms.
    """
    order = sorted(hits, key=lambda h: (-h.prio, -(h.end - h.start), h.start, h.entity))
    taken: list[tuple[int, int]] = []
    out: list[Hit] = []
    for h in order:
        blockers = taken + allow_spans if h.prio < _NER_TIER else taken
        pieces = _subtract(h.start, h.end, blockers)
        if pieces == [(h.start, h.end)]:
            kept = pieces
        else:
            min_alnum = 2 if h.prio < _NER_TIER else 3
            kept = []
            for ps, pe in pieces:
                ps, pe = _trim(text, ps, pe)
                if h.prio < _NER_TIER and ps > 0 and text[ps - 1] in "'’" and text[ps:ps + 1] == "s":
                    ps, pe = _trim(text, ps + 1, pe)  # the "'s" left of "Harry Potter's"
                if pe > ps and _alnum(text[ps:pe]) >= min_alnum:
                    kept.append((ps, pe))
        for ps, pe in kept:
            out.append(Hit(ps, pe, h.entity, h.score, h.prio))
            taken.append((ps, pe))
    out.sort(key=lambda h: h.start)
    return out


# ------------------------------------------------------------- normalisation

_WS = re.compile(r"\s+")


def normalise(entity: str, value: str) -> str:
    """The identity of a value for numbering: same person/phone/card, same key."""
    if entity in ("CREDIT_CARD", "US_SSN", "IBAN_CODE", "NATIONAL_ID"):
        return "".join(c for c in value if c.isalnum()).upper()
    if entity == "PHONE_NUMBER":
        d = "".join(c for c in value if c.isdigit())
        return d[1:] if len(d) == 11 and d.startswith("1") else d
    return _WS.sub(" ", value).strip().casefold()


def person_aliases(values: list[str]) -> dict[str, str]:
    """Map a one-word name to the unique multi-word name it is part of."""
    parts: dict[str, set[str]] = {}
    for v in values:
        toks = v.split()
        if len(toks) > 1:
            for t in toks:
                parts.setdefault(t.casefold(), set()).add(_WS.sub(" ", v).strip().casefold())
    return {p: next(iter(f)) for p, f in parts.items() if len(f) == 1}


# ------------------------------------------------------------------ surrogates

_FIRST = ["Alex", "Jordan", "Sam", "Taylor", "Morgan", "Casey", "Riley", "Jamie", "Avery",
          "Quinn", "Elena", "Tomas", "Aditi", "Kwame", "Yuki", "Lucas", "Ines", "Omar",
          "Mei", "Noah", "Sara", "Ivan", "Leila", "Mateo", "Hana", "Felix", "Zara", "Ravi"]
_LAST = ["Morgan", "Lee", "Novak", "Okafor", "Tanaka", "Silva", "Fischer", "Kowal",
         "Haddad", "Ortiz", "Nguyen", "Brooks", "Ibsen", "Marsh", "Petrov", "Costa",
         "Reyes", "Sato", "Adler", "Quinn", "Doyle", "Varga", "Lindgren", "Rahman"]
_CITIES = ["Springfield", "Riverton", "Fairview", "Lakeside", "Greenville", "Oakridge",
           "Maplewood", "Brookfield", "Westport", "Ashford"]
_STREETS = ["Oak", "Pine", "Cedar", "Birch", "Walnut", "Spruce", "Hawthorn", "Aspen"]
_SUFFIXES = ["Street", "Avenue", "Road", "Lane", "Drive", "Court"]
_SECRET_PREFIX = re.compile(
    r"^(?:sk-(?:proj-|ant-|svcacct-)?|[sprk]k_(?:live|test)_|gh[pousr]_|github_pat_|"
    r"xox[a-z]-|AKIA|ASIA|AGPA|AIDA|AROA|AIza|glpat-|hf_|SG\.|eyJ)"
)


def _shape(rng: random.Random, value: str, keep: int = 0) -> str:
    """Same shape as `value` (digits, letters by case, separators kept), new characters."""
    out = list(value[:keep])
    for c in value[keep:]:
        if c.isdigit():
            out.append(rng.choice(string.digits))
        elif c.isupper():
            out.append(rng.choice(string.ascii_uppercase))
        elif c.islower():
            out.append(rng.choice(string.ascii_lowercase))
        else:
            out.append(c)
    return "".join(out)


def _luhn_fix(digits: str) -> str:
    body = digits[:-1]
    total = 0
    for i, d in enumerate(reversed(body)):
        v = int(d)
        if i % 2 == 0:
            v = v * 2 - 9 if v > 4 else v * 2
        total += v
    return body + str((10 - total % 10) % 10)


def _card(rng: random.Random, value: str) -> str:
    digits = [c for c in value if c.isdigit()]
    new = digits[0] + "0000" + "".join(rng.choice(string.digits) for _ in digits[5:])
    new = _luhn_fix(new[: len(digits)])
    it = iter(new)
    return "".join(next(it) if c.isdigit() else c for c in value)


def _iban(rng: random.Random, value: str) -> str:
    compact = "".join(c for c in value if c.isalnum()).upper()
    bban = _shape(rng, compact[4:])
    numeric = "".join(str(int(ch, 36)) for ch in bban + compact[:2] + "00")
    new = f"{compact[:2]}{98 - int(numeric) % 97:02d}{bban}"
    it = iter(new)
    return "".join(next(it) if c.isalnum() else c for c in value)


def surrogate(entity: str, value: str, rng: random.Random) -> str:
    """A realistic fake value of the same type (and mostly the same shape)."""
    if entity == "PERSON":
        first = rng.choice(_FIRST)
        return first if len(value.split()) == 1 else f"{first} {rng.choice(_LAST)}"
    if entity == "EMAIL_ADDRESS":
        return (f"{rng.choice(_FIRST).lower()}.{rng.choice(_LAST).lower()}{rng.randint(1, 99)}"
                f"@example.{rng.choice(['com', 'org', 'net'])}")
    if entity == "PHONE_NUMBER":
        keep = 0
        if value.startswith("+"):
            m = re.match(r"\+\d{1,3}", value)
            keep = m.end() if m else 1
        return _shape(rng, value, keep)
    if entity == "CREDIT_CARD":
        return _card(rng, value)
    if entity == "US_SSN":  # area 9xx is never issued as an SSN
        return "9" + _shape(rng, value[1:])
    if entity == "IBAN_CODE":
        return _iban(rng, value)
    if entity == "NATIONAL_ID":  # same shape, check digit that does not validate
        from curate.pii_ids import surrogate as id_surrogate

        return id_surrogate(value, rng)
    if entity == "IP_ADDRESS":
        if ":" in value:
            return f"2001:db8::{rng.randint(1, 0xffff):x}"
        net = rng.choice(["192.0.2", "198.51.100", "203.0.113"])  # documentation ranges
        return f"{net}.{rng.randint(1, 254)}"
    if entity == "URL":
        host = "www.example.org" if value.lower().startswith("www.") else "https://example.com"
        return f"{host}/{''.join(rng.choice(string.ascii_lowercase) for _ in range(8))}"
    if entity == "LOCATION":
        return rng.choice(_CITIES)
    if entity == "STREET_ADDRESS":
        addr = f"{rng.randint(1, 999)} {rng.choice(_STREETS)} {rng.choice(_SUFFIXES)}"
        return addr + (f", {rng.choice(_CITIES)}" if "," in value else "")
    if entity in ("ACCOUNT_ID", "SECRET"):
        m = _SECRET_PREFIX.match(value) if entity == "SECRET" else None
        keep = m.end() if m else (value.find("-") + 1 if entity == "ACCOUNT_ID" else 0)
        return _shape(rng, value, keep)
    if entity == "NRP":
        return rng.choice(["Canadian", "Brazilian", "Kenyan", "Norwegian", "Thai"])
    if entity == "DATE_TIME":
        return rng.choice(["last Tuesday", "March 3", "the 14th", "next week"])
    return f"<{entity}>"


class Replacer:
    """Replacement values for one conversation."""

    def __init__(self, mode: str, conv_key: str, aliases: dict[str, str],
                 avoid: frozenset[str] = frozenset()):
        self.mode = mode
        self.conv_key = conv_key
        self.aliases = aliases
        # casefolded words of the conversation's real values: a surrogate
        # "Omar Varga" must not reuse "Omar" when Omar is a real person here.
        self.avoid = avoid
        self.ids: dict[tuple[str, str], str] = {}
        self.counters: dict[str, int] = {}
        self.used: set[str] = set()

    def __call__(self, entity: str, value: str) -> str:
        key = normalise(entity, value)
        canon = self.aliases.get(key, key) if entity == "PERSON" else key
        if self.mode == "placeholder":
            rep = self.ids.get((entity, canon))
            if rep is None:
                n = self.counters.get(entity, 0) + 1
                self.counters[entity] = n
                rep = self.ids[(entity, canon)] = f"<{entity}_{n}>"
            return rep
        if entity == "PERSON" and canon != key:
            full = self._surrogate(entity, canon)  # the whole name's surrogate
            toks, ftoks = full.split(), canon.split()
            return toks[0] if key == ftoks[0] else toks[-1]
        return self._surrogate(entity, value if canon == key else canon)

    def _surrogate(self, entity: str, value: str) -> str:
        key = (entity, normalise(entity, value))
        rep = self.ids.get(key)
        if rep is not None:
            return rep
        for attempt in range(50):
            seed = hashlib.blake2b(
                f"{self.conv_key}\x00{entity}\x00{key[1]}\x00{attempt}".encode(), digest_size=8
            ).digest()
            rep = surrogate(entity, value, random.Random(int.from_bytes(seed, "big")))
            if rep not in self.used and not any(
                    w.casefold() in self.avoid for w in rep.split()):
                break
        self.used.add(rep)
        self.ids[key] = rep
        return rep


def splice(text: str, hits: list[Hit], replace) -> tuple[str, list[tuple[int, int]], dict]:
    """Text with every hit replaced; spans of the inserted values; counts by type."""
    out: list[str] = []
    inserted: list[tuple[int, int]] = []
    counts: dict[str, int] = {}
    pos = 0
    length = 0
    for h in hits:
        lit = text[pos:h.start]
        out.append(lit)
        length += len(lit)
        rep = replace(h.entity, text[h.start:h.end])
        out.append(rep)
        inserted.append((length, length + len(rep)))
        length += len(rep)
        pos = h.end
        counts[h.entity] = counts.get(h.entity, 0) + 1
    out.append(text[pos:])
    return "".join(out), inserted, counts
