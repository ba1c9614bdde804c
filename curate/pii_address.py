"""Street addresses: usaddress's CRF parser, gated, plus postcode-anchored patterns.

US (and any address written the US way): `usaddress` 0.5.16 (MIT, its CRF
model ships in the wheel, runs offline) labels the tokens of a text window.
It labels every token of any text as *some* address part, so only a run of
address labels that has one of
- a house number + a street name + a USPS street suffix ("900 Brock Extension"),
- a PO / PSC / CMR box with its number ("PSC 8903, Box 3178"),
- a state + a 5-digit ZIP ("KY 80347"),
counts, and the parser runs only on windows around a cheap trigger (a number
followed by a street suffix, a box, a state + ZIP), not on every text.

UK / IE / CA / AU: the postcode is the anchor (a UK postcode, an Eircode, a
Canadian postal code, an Australian state + 4 digits); the address is the
text before it back to the start of the line before, a sentence end or a cue
("is", "to", "at"), from its first number or capitalised word.

Windows span line breaks, so an address split over two lines is one span.

Elsewhere (`_intl`), three more shapes, each anchored so that prose does not match:
- street type first, house number after: "Calle de Alcalá 45", "Rue de Rivoli 12",
  "Via Giuseppe Garibaldi 27", "Rua Augusta 1508", "ul. Marszałkowska 84/92";
  Dutch/Scandinavian compounds before a number: "Keizersgracht 123", "Storgatan 5";
- a flat / house number with its building: "Flat 12B, Kestrel House",
  "flat no 302, Sai Residency", "H.No. 12-2-417/5";
- a postcode + city after a comma, the address before it: "…, 10115 Berlin",
  "…, 1015 CJ Amsterdam", "…, Bengaluru 560038" (Indian PIN after the city),
  when the text before the postcode has a house number.
"""

from __future__ import annotations

import re
from functools import lru_cache

from curate.pii_patterns import PRIORITY, Hit

_US_STATES = (
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ "
    "NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY PR GU VI AS MP AA AE AP"
).split()
_US_STATE_NAMES = (
    "alabama alaska arizona arkansas california colorado connecticut delaware florida georgia "
    "hawaii idaho illinois indiana iowa kansas kentucky louisiana maine maryland massachusetts "
    "michigan minnesota mississippi missouri montana nebraska nevada ohio oklahoma oregon "
    "pennsylvania tennessee texas utah vermont virginia washington wisconsin wyoming"
).split()
_STATE_SET = frozenset(_US_STATES) | frozenset(_US_STATE_NAMES)


# A house number and the words after it; a street suffix among them
# (usaddress.STREET_NAMES, a set lookup) makes it a trigger.
_NUMBER_WORDS = re.compile(
    r"(?<![\w.,/-])\d{1,6}[A-Za-z]?(?:-\d{1,4})?[ \t]+"
    r"((?:(?:[^\W\d_][\w'’.-]*|\d{1,3}(?:st|nd|rd|th))[ \t,]+){0,4}[^\W\d_][\w'’.-]*)"
)
_BOX_OR_ZIP = re.compile(
    r"(?i:\bP\.?\s?O\.?\s*Box|\bPost\s+Office\s+Box|\bPSC|\bCMR|\bBox)\s*#?\s*\d{1,6}\b"
    r"|\b(?:" + "|".join(_US_STATES) + r")\.?,?\s+\d{5}(?:-\d{4})?\b"
)
_SPLIT = re.compile(r"[ \t,]+")
_BOX_OR_ZIP_HINT = re.compile(r"\d{5}|(?i:box|psc|cmr)")


@lru_cache(maxsize=1)
def _suffix_set() -> frozenset[str]:
    import usaddress

    return frozenset(usaddress.STREET_NAMES)


_TOKEN = re.compile(r"\(*\b[^\s,;#&()]+[.,;)\n]*|[#&]")
_ADDR_LABELS = frozenset({
    "AddressNumberPrefix", "AddressNumber", "AddressNumberSuffix", "StreetNamePreModifier",
    "StreetNamePreDirectional", "StreetNamePreType", "StreetName", "StreetNamePostType",
    "StreetNamePostDirectional", "SubaddressType", "SubaddressIdentifier", "OccupancyType",
    "OccupancyIdentifier", "PlaceName", "StateName", "ZipCode", "USPSBoxType", "USPSBoxID",
    "USPSBoxGroupType", "USPSBoxGroupID",
})
_STREET_STOP = frozenset(
    "am pm on at in the to for of and or is was my your our a an from by with it this that "
    "be me you i we they he she his her their version update are was were has have had".split())
_CLEAN = re.compile(r"^[(]+|[.,;)\n]+$")
_FEATURE_CLEAN = re.compile(r"(^[\W]*)|([^.\w]*$)")
_BOX_GROUP = frozenset("psc cmr unit rr hc rural route highway contract star".split())
_BOX_TYPE = frozenset("po p o box post office pob drawer bin caller firm".split())
_OCCUPANCY = frozenset(
    "apt apartment suite ste unit flat floor fl room rm bldg building dept lot trlr space spc "
    "hangar slip pier stop lbby lobby ofc office ph penthouse rear side uppr lowr frnt # no "
    "number level lvl shop".split())

# --------------------------------------------------------------- postcodes

_POSTCODES = re.compile(
    r"\b(?:"
    r"(?P<uk>(?:[A-PR-UWYZ][A-HK-Y]?\d[A-Z\d]?|GIR)\s?\d[ABD-HJLNP-UW-Z]{2})"
    r"|(?P<ca>[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z]\s?\d[ABCEGHJ-NPRSTV-Z]\d)"
    r"|(?P<au>(?:NSW|VIC|Vic|QLD|Qld|WA|SA|TAS|Tas|ACT|NT)\s+\d{4})"
    r"|(?P<ie>(?:[AC-FHKNPRTV-Y]\d{2}|D6W)\s?[0-9AC-FHKNPRTV-Y]{4})"
    r")\b"
)
# Where an address written before a postcode starts at the latest.
_BACK_STOP = re.compile(
    r"(?:(?<!\bSt)(?<!\bRd)(?<!\bDr)(?<!\bLn)(?<!\bNo)(?<!\bCo)(?<!\bMt)(?<!\bCt)(?<!\bAve)"
    r"(?<!\bApt)[.!?](?=\s)|[:;]"
    r"|(?i:\b(?:is|to|at|was|are|address|addr|ship|send|deliver|in)\b))"
)
_START_WORD = re.compile(r"\d[\w/-]*|[A-ZÀ-ÖØ-Þ][\w'’.-]*|(?:flat|apt|ul|calle|rue|rua|via)\b")
_NOT_START = frozenset("I My Our The Please Its It Hi Hello Thanks And But So Your We".split())


# ------------------------------------------------------ other countries

_NAMEW = r"[A-ZÀ-ÖØ-ÞĀ-Ž][\w'’.-]*"
_PARTICLE = r"(?:de|del|de la|de los|de las|dos|da|das|do|di|della|delle|dei|degli|des|du|la|le|les|van|der|den)"
# Street types written before the name. Lower case counts only for words that
# are no English words.
_TYPE_CAP = (r"Calle|C/|Avenida|Avda\.?|Av\.|Paseo|Plaza|Carrer|Avinguda|Camino|Carretera|Ronda|"
             r"Travesía|Rua|Travessa|Largo|Praça|Estrada|Alameda|Via|Viale|Corso|Piazza|Piazzale|"
             r"Vicolo|Strada|Rue|Avenue|Boulevard|Bd\.?|Chemin|Allée|Impasse|Quai|Place|Cours|"
             r"Ul\.|Ulica|Aleja|Al\.|Os\.")
_TYPE_LOW = (r"calle|avenida|avda\.?|paseo|carrer|avinguda|camino|rua|travessa|praça|viale|corso|"
             r"piazza|vicolo|rue|boulevard|chemin|allée|impasse|quai|ul\.|ulica|aleja|al\.|os\.")
_HOUSE_NO = r"(?:n[º°o]\.?\s*|nr\.?\s*)?\d{1,5}[a-zA-Z]?(?:\s?[/-]\s?(?:\d{1,4}[a-zA-Z]?|[IVX]{1,4}))?"
_TYPE_FIRST = re.compile(
    r"(?<![\w/])(?:" + _TYPE_CAP + r"|" + _TYPE_LOW + r")\s+(?:(?:" + _PARTICLE + r")\s+|[ldLD]['’])*"
    + _NAMEW + r"(?:\s+(?:" + _PARTICLE + r"\s+)?" + _NAMEW + r"){0,4},?\s+" + _HOUSE_NO
    + r"(?![\w]|[.,]\d)"
)
_COMPOUND_NUMBER = re.compile(
    r"(?<![\w-])[A-ZÀ-ÖØ-Þ][\w'’-]*(?:straat|gracht|laan|weg|plein|kade|singel|dijk|steeg|markt|"
    r"dreef|gatan|vägen|gata|gade|vej|veien|gate|torget)\s+" + _HOUSE_NO + r"(?![\w]|[.,]\d)"
)
_BUILDING_WORDS = (r"House|Court|Apartments?|Residency|Residence|Towers?|Mansions|Building|Block|"
                   r"Heights|Lodge|Villas?|Enclave|Complex|Chambers|Hall|Gardens|Cottage|Farm|Manor|"
                   r"Wharf|Point|Quay|Estate|Nagar|Society|Niwas|Bhavan|Sadan|Colony|Layout|Mahal|Flats")
_FLAT = re.compile(
    r"(?<![\w-])(?:Flat|FLAT|[Ff]lat\s+[Nn]o\.?|Apartment|Apt\.?|H\.\s?No\.?|House\s+No\.?|"
    r"Door\s+No\.?|Plot\s+No\.?)\s*#?\s*\d{1,5}[A-Za-z]?(?:[/-]\d{1,5}[A-Za-z]?)*"
    r"(?:,?\s+(?:[A-Z][\w'’-]*\s+){1,3}(?:" + _BUILDING_WORDS + r")\b)?"
)
# postcode + city (continental Europe, Latin America) or city + PIN (India), after a comma
_PC_CITY = re.compile(
    r"[,\n]\s*(?:(?:\d{5}|\d{4}\s?[A-Z]{2}|\d{4}-\d{3}|\d{2}-\d{3}|\d{5}-\d{3}|\d{4})\s+"
    r"[A-ZÀ-ÖØ-Þ][\w'’-]+(?:[ -][A-ZÀ-ÖØ-Þ][\w'’-]+){0,2}"
    r"|[A-Z][a-z]+(?:\s[A-Z][a-z]+)?\s*[-–]?\s*[1-9]\d{2}\s?\d{3})(?![\w-])"
)
_PC_STOP = re.compile(
    r"(?:(?<!\bSt)(?<!\bNo)(?<!\bnr)(?<!\bAv)(?<!\bAl)(?<!\bUl)(?<!\bul)(?<!\bH)[.!?](?=\s)|[:;]"
    r"|(?i:\b(?:is|to|at|was|are|address|ship|send|deliver|in|es|en|a|à|au|chez|nach|der|im|am|"
    r"na|no|em|op|te|ist|est|è|é|à|alla|ao|para|an|zu|per)\b))"
)
# A word that makes the text before a postcode a street line.
_STREET_WORD = re.compile(
    r"(?i:straße|strasse|str\.|weg\b|allee|platz|gasse|ring\b|damm\b|ufer\b|straat|gracht|laan\b|"
    r"plein\b|kade\b|singel|dijk\b|gatan|vägen|vej\b|\bcalle\b|\bc/|\bavenida|\bavda|\bav\.|"
    r"\bpaseo|\bplaza|\bcarrer|\bcamino|\brua\b|\btravessa|\bpraça|\bvia\b|\bviale|\bcorso|"
    r"\bpiazza|\bvicolo|\brue\b|\bavenue|\bboulevard|\bchemin|\ballée|\bimpasse|\bquai\b|"
    r"\bplace\b|\bul\.|\bulica|\baleja|\bstreet|\broad\b|\blane\b|\bcross\b|\bmain\b|"
    r"nagar\b|\bsector\b|\bcolony|\blayout|\bapartments?|\bflat\b|\bh\.\s?no|\bhouse\b|"
    r"\bmarg\b|\bsalai\b|\bapto\b|\bapp\.|\bappartement|\bpiso\b|\bwohnung|\bstiege|"
    r"\d+\s*[º°ª]|\d+/\d+)"
)
_STREET_NAME_STOP = frozenset(
    "order settings menu email item step page option number version level chapter section figure "
    "table type model gate platform terminal room floor python java windows".split())


def _back_window(text: str, ps: int, stops: re.Pattern, nl_end: int) -> int:
    """Where the street text before an anchor at ``ps`` may start: at most 150 characters and two
    lines back (newlines searched before ``nl_end``), after the last ``stops`` match."""
    lo = max(0, ps - 150)
    nl1 = text.rfind("\n", lo, nl_end)
    if nl1 >= 0:
        lo = max(lo, text.rfind("\n", lo, nl1) + 1)
    start = lo
    for stop in stops.finditer(text, lo, ps):
        start = stop.end()
    return start


class AddressFinder:
    """STREET_ADDRESS hits in a text."""

    def __init__(self) -> None:
        import usaddress

        self._suffixes = _suffix_set()
        self._tagger = usaddress.TAGGER
        self._features = usaddress.tokens2features

    def find(self, text: str) -> list[Hit]:
        hits: list[Hit] = []
        if any(c.isdigit() for c in text):
            self._us(text, hits)
            self._postcodes(text, hits)
            self._intl(text, hits)
        return hits

    # ------------------------------------------------------ other countries
    def _intl(self, text: str, hits: list[Hit]) -> None:
        p = PRIORITY["STREET_ADDRESS"]
        for m in _TYPE_FIRST.finditer(text):
            words = [w.lower().strip(".,") for w in m.group().split()[1:]]
            if not any(w in _STREET_NAME_STOP for w in words):
                hits.append(Hit(m.start(), m.end(), "STREET_ADDRESS", 0.7, p))
        for m in _COMPOUND_NUMBER.finditer(text):
            hits.append(Hit(m.start(), m.end(), "STREET_ADDRESS", 0.7, p))
        flats = [(m.start(), m.end()) for m in _FLAT.finditer(text)]
        for fs, fe in flats:
            hits.append(Hit(fs, fe, "STREET_ADDRESS", 0.7, p))
        for m in _PC_CITY.finditer(text):
            ps, pe = m.start() + 1, m.end()
            while ps < pe and text[ps].isspace():
                ps += 1
            start = _back_window(text, ps, _PC_STOP, ps - 1)
            seg = text[start:ps]
            if not any(c.isdigit() for c in seg) or len(seg.split()) > 14:
                continue  # no house number before the postcode: not an address
            pin = text[pe - 1].isdigit() and not text[ps].isdigit()  # "Bengaluru 560038"
            if _STREET_WORD.search(seg) is None and not (pin and seg.count(",") >= 2):
                continue  # "The 2024 Report, 2025 Outlook": no street before it
            first = next((w for w in _START_WORD.finditer(text, start, ps)
                          if w.group() not in _NOT_START), None)
            if first is not None:
                s0 = first.start()
                # a flat line the back-stop cut ("H.No. 8-3-169, ..."): one span
                s0 = min([s0] + [fs for fs, fe in flats if fs < s0 < fe])
                hits.append(Hit(s0, pe, "STREET_ADDRESS", 0.7, p))

    # ------------------------------------------------------------------ US
    def _us(self, text: str, hits: list[Hit]) -> None:
        wins: list[list[int]] = []
        for m in self._triggers(text):
            s = max(text.rfind("\n", 0, max(0, m.start() - 1)), m.start() - 80, 0)
            e = text.find("\n", m.end() + 1)
            e = len(text) if e < 0 else e
            e = min(e, m.end() + 80)
            if wins and s <= wins[-1][1]:
                wins[-1][1] = max(wins[-1][1], e)
            else:
                wins.append([s, e])
        for s, e in wins:
            # usaddress's features need a token with a word character left
            # after its own cleaning ("—", "…" alone would crash it)
            toks = [t for t in _TOKEN.finditer(text, s, e) if _FEATURE_CLEAN.sub("", t.group())]
            if not toks:
                continue
            labels = self._tagger.tag(self._features([t.group() for t in toks]))
            self._runs(text, toks, labels, hits)

    def _triggers(self, text: str):
        for m in _NUMBER_WORDS.finditer(text):
            words = _SPLIT.split(m.group(1))
            if any(w.lower().rstrip(".") in self._suffixes for w in words[1:] if w):
                yield m
        if _BOX_OR_ZIP_HINT.search(text) is not None:
            yield from _BOX_OR_ZIP.finditer(text)

    def _runs(self, text, toks, labels, hits) -> None:
        i, n = 0, len(toks)
        p = PRIORITY["STREET_ADDRESS"]
        while i < n:
            if labels[i] not in _ADDR_LABELS:
                i += 1
                continue
            j = i
            while j < n and labels[j] in _ADDR_LABELS and _plausible(toks[j].group(), labels[j]):
                j += 1
            if j == i:
                i += 1
                continue
            run = [(_CLEAN.sub("", toks[k].group()), labels[k]) for k in range(i, j)]
            if _gated(run):
                s = toks[i].start()
                while s < len(text) and text[s] == "(":
                    s += 1
                e = toks[j - 1].end()
                while e > s and text[e - 1] in ".,;)\n ":
                    e -= 1
                hits.append(Hit(s, e, "STREET_ADDRESS", 0.8, p))
            i = j

    # ----------------------------------------------------------- postcodes
    def _postcodes(self, text: str, hits: list[Hit]) -> None:
        p = PRIORITY["STREET_ADDRESS"]
        for m in _POSTCODES.finditer(text):
            ps, pe = m.start(), m.end()
            start = _back_window(text, ps, _BACK_STOP, ps)
            seg_words = list(_START_WORD.finditer(text, start, ps))
            first = next((w for w in seg_words if w.group() not in _NOT_START), None)
            kind = m.lastgroup
            if first is None:
                # a postcode on its own: still location data at street level
                # (a UK postcode is ~15 households); an Eircode alone is too
                # like other ids to take without an address before it.
                if kind != "ie" or "eircode" in text[max(0, ps - 20):ps].lower():
                    hits.append(Hit(ps, pe, "STREET_ADDRESS", 0.6, p))
                continue
            s = first.start()
            if len(text[s:ps].split()) > 14:
                s = ps
            if kind == "ie" and s == ps:
                continue
            hits.append(Hit(s, pe, "STREET_ADDRESS", 0.7, p))


def _plausible(tok: str, label: str) -> bool:
    """A token the parser labelled an address part that can really be one."""
    t = _CLEAN.sub("", tok)
    if not t or t.lower() in _STREET_STOP:
        return False  # "is" is also USPS for "Island"
    if label in ("PlaceName", "StreetName"):
        if t.lower() in _STREET_STOP:
            return False
        if label == "PlaceName":
            return t[0].isupper()
    if label == "AddressNumber":
        return re.fullmatch(r"\d{1,6}[A-Za-z]?(?:-\d{1,4})?", t) is not None
    if label == "StreetNamePostType":
        return t.lower().rstrip(".") in _suffix_set()
    if label == "USPSBoxGroupType":
        return t.lower().replace(".", "") in _BOX_GROUP
    if label == "USPSBoxType":
        return t.lower().replace(".", "") in _BOX_TYPE
    if label in ("OccupancyType", "SubaddressType"):
        return t.lower().rstrip(".") in _OCCUPANCY
    if label in ("OccupancyIdentifier", "SubaddressIdentifier"):
        return any(c.isdigit() for c in t) or len(t) <= 2
    if label == "StateName":
        return (t.isupper() and t in _STATE_SET) or t.lower() in _US_STATE_NAMES
    return True


def _gated(run: list[tuple[str, str]]) -> bool:
    labs = {lab for _t, lab in run}
    if "AddressNumber" in labs and "StreetName" in labs and "StreetNamePostType" in labs:
        num = any(lab == "AddressNumber" and any(c.isdigit() for c in t) for t, lab in run)
        sfx = any(lab == "StreetNamePostType" and t.lower().rstrip(".") in _suffix_set()
                  for t, lab in run)
        if num and sfx:
            return True
    if ({"USPSBoxType", "USPSBoxGroupType"} & labs
            and any(lab in ("USPSBoxID", "USPSBoxGroupID") and any(c.isdigit() for c in t)
                    for t, lab in run)):
        return True
    if "StateName" in labs and any(lab == "ZipCode" and re.fullmatch(r"\d{5}(?:-\d{4})?", t)
                                   for t, lab in run):
        return True
    return False
