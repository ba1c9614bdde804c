"""Fast pattern detectors for the structured PII entities.

presidio's own pattern pass costs ~7 ms per text here (its phone recognizer,
which runs libphonenumber's matcher once per region, is ~70 % of that). This
module finds candidates with a few compiled regexes and then validates them
the way presidio does, reusing presidio's validators where they exist (Luhn for
cards, mod-97 + country format for IBANs, SSN invalidation, `ipaddress` for
IPs) and libphonenumber (presidio's phone dependency) for phone numbers.

A hit is `Hit(start, end, entity, score, prio)`; `prio` orders overlapping hits
(see `PRIORITY`): structured, validated entities beat NER labels, DATE_TIME
beats nothing.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from typing import NamedTuple

# Must be set before presidio (which imports tldextract) is imported: otherwise
# the first e-mail match tries to download the public-suffix list.
os.environ["TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS"] = ""

import phonenumbers  # noqa: E402  (presidio's dependency)
from presidio_analyzer.predefined_recognizers import (  # noqa: E402
    CreditCardRecognizer,
    IbanRecognizer,
    IpRecognizer,
    UsSsnRecognizer,
)

from curate import pii_ids  # noqa: E402


class Hit(NamedTuple):
    """A detected span: [start, end) in the text, type, confidence, overlap priority."""

    start: int
    end: int
    entity: str
    score: float
    prio: int


# Higher wins an overlap. Checksummed / prefixed entities first, then
# structured patterns, then NER labels; DATE_TIME last, so a DATE_TIME span
# can never swallow an IP address or a house number.
PRIORITY = {
    "SECRET": 100, "IBAN_CODE": 97, "CREDIT_CARD": 95, "US_SSN": 92, "NATIONAL_ID": 91,
    "EMAIL_ADDRESS": 90,
    "IP_ADDRESS": 85, "DATE_OF_BIRTH": 82, "PHONE_NUMBER": 80, "ACCOUNT_ID": 75, "URL": 70, "SECRET_ENTROPY": 68,
    "STREET_ADDRESS": 60, "PERSON_CUE": 45, "PERSON_LIST": 44, "PLACE_CUE": 43, "PERSON": 42, "PERSON_PROPAGATED": 41,
    "LOCATION": 40, "NRP": 30, "DATE_TIME": 10,
}

PATTERN_ENTITIES = frozenset({
    "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "IBAN_CODE", "IP_ADDRESS",
    "URL", "STREET_ADDRESS", "DATE_OF_BIRTH", "ACCOUNT_ID", "SECRET", "NATIONAL_ID",
})

DEFAULT_ACCOUNT_PATTERNS = (
    r"\bACC-\d{6,}\b",
    r"\bORD-\d{4}-\d{4,}\b",
    # generic prefixed ids: TKT-1066528, INV-2024-000123, CS-00412345
    r"\b[A-Z]{2,5}-(?:\d{4}-)?\d{5,}\b",
    r"(?i:\b(?:ticket|case)\s*(?:no\.?|number)?\s*#?\s*)(\d{5,})\b",
    r"(?i:\b(?:account|acct|customer|member|policy|invoice)\s*(?:no\.?|number|num|id|#)"
    r"\s*[:#]?\s*(?:is\s+)?)((?=[A-Z0-9-]*\d)[A-Z0-9][A-Z0-9-]{4,})\b",
    # a bare number of 6+ digits right after the word: "account 483920174", "MRN: 00817263"
    r"(?i:\b(?:account|acct|a/c|mrn|member|membership|policy|patient)\b\.?\s*[:#]?\s*)"
    r"(\d{6,})\b",
)

# ------------------------------------------------------------------ regexes

_EMAIL = re.compile(
    r"(?<![\w.%+-])[\w.%+-]*[^\W_]@(?:[^\W_](?:[\w-]*[^\W_])?\.)+[^\W\d_]{2,24}(?![\w-])"
)
_URL_SCHEME = re.compile(r"\b(?:https?|ftp)://[^\s<>\"'`{}|\\^\[\]]+", re.I)
_URL_WWW = re.compile(r"(?<![\w./-])www\d{0,3}\.[^\s<>\"'`{}|\\^\[\]]+", re.I)
_URL_BARE = re.compile(
    r"(?<![\w.@/-])(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+"
    r"(?:com|org|net|io|dev|app|ai|co|me|info|biz|edu|gov|us|uk|de|fr|es|it|nl|jp|cn|in|br|"
    r"au|ca|ru|ng|ch|se|no|pl|eu|tv|ly|gg|xyz|site|online|shop|blog)"
    r"(?:/[^\s<>\"'`{}|\\^\[\]]*)?(?![\w-])",
    re.I,
)
_URL_TRAIL = ".,;:!?'\")]}"

_IP4 = re.compile(IpRecognizer.PATTERNS[2].regex)
_IP6 = re.compile(IpRecognizer.PATTERNS[3].regex)
_IP6_HINT = re.compile(r"[0-9A-Fa-f]{1,4}::|::[0-9A-Fa-f]{1,4}|(?:[0-9A-Fa-f]{1,4}:){3}")

# Digit groups separated by single space/dot/dash, optional +CC and (area).
_PHONE = re.compile(
    r"(?<![\w+@/.,-])(?:\+\d{1,3}[ .\-]?)?(?:\(\d{1,5}\)[ .\-]?)?\d{1,5}(?:[ .\-]\d{1,8}){1,5}"
    r"(?![\w@]|[.\-]\d)"
)
_PHONE_PLAIN = re.compile(r"(?<![\w+@/.,-])\+?\d{10,13}(?![\w@]|[.\-]\d)")
_PHONE_CONTEXT = re.compile(
    r"(?i)\b(?:phone|tel|telephone|call|cell|mobile|number|text|whatsapp|sms|reach|fax|ring|line"
    # es, pt, fr, de, it, nl, pl
    r"|m[óo]vil|tel[ée]fono|llam\w*|celular|cel|telefone|ligue|ligar|portable|num[ée]ro|n[úu]mero"
    r"|rappel\w*|appel\w*|handy|telefon|rufnummer|ruf\w*|anruf\w*|cellulare|chiam\w*"
    r"|nummer|telefoon\w*|bel|numer|telefonu|kom[óo]rka)\b"
)
_PHONE_REGIONS = ("GB", "DE", "FR", "IT", "ES", "NL", "AU", "IN", "JP", "BR", "IE", "KR", "CN",
                  "NG", "MX", "PL", "PT", "ZA", "KE", "AT", "BE", "CH", "SE", "PH")
# Regions whose national numbers are written without a trunk 0 ("655 123 987",
# "98450 12345", "55 1234 5678"): tried for a number without + or 0 after a phone word.
_NO_TRUNK_REGIONS = ("ES", "IT", "PL", "PT", "IN", "MX", "BR")
# Typical national shapes that need no phone word: a Spanish number in 3-3-3
# groups from 6/7/9, an Indian mobile in 5-5 groups from 6-9.
_NATIONAL_SHAPES = ((re.compile(r"[679]\d{2} \d{3} \d{3}"), "ES"),
                    (re.compile(r"[6-9]\d{4} \d{5}"), "IN"))
_SPLIT_GROUPS = re.compile(r"[ .\-]+")

_CARD = re.compile(r"(?<![\w.,+-])[1-6]\d{2,5}(?:[ -]?\d{2,6}){1,5}(?![\w-]|[.,]\d)")
_SSN = re.compile(r"(?<![\w.+-])(?<!\d )\d{3}([- ])\d{2}\1\d{4}(?![\w-]|\.\d)")
_SSN_PLAIN = re.compile(
    r"(?i:\b(?:ssn|social security(?: number| no\.?)?|social|ss#)\b[^\d\n]{0,20})"
    r"(\d{9}|\d{3}\.\d{2}\.\d{4})(?![\w-]|\.\d)"
)
_IBAN = re.compile(r"(?<![\w-])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,32}(?![\w-])")

_SECRET_PREFIXED = re.compile(
    r"(?<![\w-])(?:sk-(?:proj-|ant-|svcacct-)?[A-Za-z0-9_\-]{20,}"
    r"|[sprk]k_(?:live|test)_[A-Za-z0-9]{16,}"
    r"|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,}|xox[abposre]-[A-Za-z0-9-]{10,}"
    r"|(?:AKIA|ASIA|AGPA|AIDA|AROA)[A-Z0-9]{16}|AIza[0-9A-Za-z_\-]{35}|glpat-[A-Za-z0-9_\-]{20,}"
    r"|hf_[A-Za-z0-9]{30,}|SG\.[A-Za-z0-9_\-]{16,}\.[A-Za-z0-9_\-]{16,}"
    r"|eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----)"
)
_SECRET_BEARER = re.compile(r"\b(?:Bearer|Basic|Token)\s+([A-Za-z0-9._~+/\-]{16,}=*)")
_SECRET_CONTEXT = re.compile(
    r"(?i:\b(?:api[_ -]?key|secret(?:[_ -]?key)?|access[_ -]?(?:key|token)|auth[_ -]?token"
    r"|client[_ -]?secret|token|password|passwd|pwd|passcode|passphrase|auth(?:orization)?[_ -]?code"
    # es, de, fr, pt, nl, it, pl; "PIN"; a bare "code" only with a value that is
    # clearly random (see _secrets)
    r"|contrase[ñn]a|clave|passwort|kennwort|mot\s+de\s+passe|mdp|senha|wachtwoord|parola\s+d'ordine"
    r"|has[łl]o|(?P<code>code|c[óo]digo|codice))s?\b"
    r"[\"']?\s*(?:is|was|:|=|->|es|era|ist|lautet|est|[ée]|è|jest|to)\s*[\"']?)([^\s\"'`]{6,})"
)
_ENTROPY_TOKEN = re.compile(r"(?<![\w/+=.-])[A-Za-z0-9_/+=\-]{24,}(?![\w/+=-])")

_ADDR_SUFFIX = (
    r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl"
    r"|Terrace|Ter|Way|Parkway|Pkwy|Circle|Cir|Highway|Hwy|Square|Sq|Trail|Trl|Crescent"
    r"|Close|Row|Alley|Loop|Plaza|Grove|Gardens|Mews|Rise|Walk|Green|Hill)"
    r"(?:\.(?!\s*(?:$|[A-Z\n])))?"  # "St." but not a sentence's full stop
)
_CAP = r"[A-Z][\w'’-]*"
_CITYW = r"[A-ZÀ-ÖØ-ÞĀ-ſ][a-zà-öø-ÿĀ-ſ'’-]+"
_ADDR_US = re.compile(
    r"(?<![\w.,-])\d{1,6}[A-Za-z]?(?:-\d{1,4})?\s+"
    r"(?:(?:N|S|E|W|NE|NW|SE|SW|North|South|East|West)\.?\s+)?"
    r"(?:(?:" + _CAP + r"|\d{1,3}(?:st|nd|rd|th))\s+){1,4}" + _ADDR_SUFFIX + r"(?![\w-])"
    r"(?:,?\s*(?:Apt|Apartment|Suite|Ste|Unit|Fl|Floor|Room|Rm|#)\.?\s*#?\s*[A-Za-z0-9-]{1,6}\b)?"
    r"(?:,\s*" + _CITYW + r"(?:\s+" + _CITYW + r"){0,2}"
    r"(?:,?\s+(?:[A-Z]{2}\s+\d{5}(?:-\d{4})?|[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}|[A-Z]{2}\b)|"
    r"\s+\d{5}\b)?)?"
)
_ADDR_DE = re.compile(
    r"\b(?:[A-ZÄÖÜ][\wäöüß-]*\s)?(?:[A-ZÄÖÜ][\wäöüß-]*"
    r"(?:straße|strasse|str\.|weg|allee|platz|gasse|ring|damm|ufer)"
    r"|Straße|Strasse|Weg|Allee|Platz)"
    r"\s+\d{1,4}[a-z]?\b(?:,\s*\d{5}\s+[A-ZÄÖÜ][\wäöüß-]+)?"
)
_ADDR_FR = re.compile(
    r"(?<![\w.,-])\d{1,4}(?:\s?(?:bis|ter))?,?\s+(?:rue|avenue|boulevard|bd|place|chemin|allée|"
    r"impasse|quai|cours)\s+(?:(?:de|du|des|la|le|l'|d')\s*)*[A-ZÉÈ][\w'’-]*"
    r"(?:\s+[A-ZÉÈ][\w'’-]*)*(?:,\s*\d{5}\s+[A-ZÉÈ][\w-]+)?"
)

_DIGIT = re.compile(r"\d")

_MONTH = (r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
          r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?")
# es, fr, de, it, pt, nl month names, as in "23 de mayo de 1985", "3. März 1961"
_MONTH_INTL = (
    r"(?:enero|febrero|marzo|abril|mayo|junio|julio|agosto|sep?tiembre|octubre|noviembre|diciembre"
    r"|janvier|f[ée]vrier|mars|avril|mai|juin|juillet|ao[ûu]t|septembre|octobre|novembre|d[ée]cembre"
    r"|januar|j[äa]nner|februar|m[äa]rz|maerz|juni|juli|oktober|dezember"
    r"|gennaio|febbraio|aprile|maggio|giugno|luglio|settembre|ottobre|dicembre"
    r"|janeiro|fevereiro|mar[çc]o|maio|junho|julho|setembro|outubro|dezembro"
    r"|januari|februari|maart|mei|augustus)"
)
_DATE = (
    r"\d{1,4}[/.-]\d{1,2}[/.-]\d{2,4}"
    r"|(?i:\d{1,2}(?:st|nd|rd|th)?(?:\s+of)?\s+" + _MONTH + r",?\s+\d{4})"
    r"|(?i:" + _MONTH + r"\s+\d{1,2}(?:st|nd|rd|th)?,?\s+\d{4})"
    r"|(?i:\d{1,2}(?:\.|º|er)?\s+(?:de\s+)?(?:" + _MONTH_INTL + r"|" + _MONTH + r")\s+(?:de\s+)?\d{4})"
)
_DOB_CUE = (
    r"date\s+of\s+birth|birth\s*date|birthday|d\.?o\.?b\.?|born(?:\s+(?:on|in))?"
    r"|geburtsdatum|geboren(?:\s+am)?|geb\.|fecha\s+de\s+nacimiento|nacid[oa]\s+el"
    r"|n[ée]e?\s+le|date\s+de\s+naissance|data\s+di\s+nascita|nat[oa]\s+il|nac[ií]\s+el"
    r"|data\s+de\s+nascimento|nascid[oa]\s+em|geboortedatum|geboren\s+op|data\s+urodzenia"
    r"|urodzi?[łl]?[ae]?m?\s+si[ęe]|urodzon[ya]"
)
# A date of birth is a date next to a birth cue (up to 60 other characters
# after it, or a few before a trailing "geboren"/"born"); a bare date is an
# ordinary date (DATE_TIME, off by default).
_DOB = re.compile(
    r"(?i:\b(?:" + _DOB_CUE + r")(?:\s+(?:is|was|of|date|ist|es|est|è|é))?)[\s:=,()-]{0,4}"
    r"(?:[^\d\n;]{0,60}?)(" + _DATE + r")(?![\w/-])"
)
_DOB_AFTER = re.compile(
    r"(?<![\w/.-])(" + _DATE + r")(?![\w/-])(?=[^\d\n.!?]{0,15}\b(?i:geboren|born|nacid[oa]|n[ée]e?"
    r"|nat[oa]|nascid[oa])\b)"
)
_DOB_HINT = re.compile(
    r"(?i)birth|dob|d\.o\.b|born|geb|nac[ií]|n[ée]e? |nat[oa] |naissance|nascit|nascimento|urodz")
_PHONE_EXT = re.compile(r"\s*(?:x|ext\.?|extension)\s*\d{1,6}\b", re.I)


def shannon_entropy(s: str) -> float:
    """Bits per character of `s` (0 for the empty string)."""
    n = len(s)
    if not n:
        return 0.0
    return -sum(c / n * math.log2(c / n) for c in Counter(s).values())


def _looks_random(tok: str) -> bool:
    core = tok.rstrip("=")
    if len(core) < 24:
        return False
    has_up = any(c.isupper() for c in core)
    has_lo = any(c.islower() for c in core)
    has_dig = any(c.isdigit() or c in "+/" for c in core)
    if not (has_up and has_lo and has_dig):
        return False
    # Random base62/64 of length n has entropy near log2(min(n, 62));
    # identifiers and words made of few letters sit well below that.
    return shannon_entropy(core) >= min(4.0, 0.8 * math.log2(len(core)))


def _random_code(val: str) -> bool:
    """A typed code that is a credential, not an error/promo/version code:
    a digit, and a symbol other than -_. or mixed case ("fT7#kq2P!xw9")."""
    if not any(c.isdigit() for c in val) or val.lower().startswith("0x"):
        return False
    core = val.replace("-", "").replace("_", "").replace(".", "")
    return not core.isalnum() or (any(c.isupper() for c in val) and any(c.islower() for c in val))


class PatternDetector:
    """Finds the structured entities in one text. Thread- and process-safe."""

    def __init__(self, entities: frozenset[str], account_patterns: tuple[str, ...]):
        self.entities = entities & PATTERN_ENTITIES
        self.account_res = [re.compile(p) for p in account_patterns]
        self._card = CreditCardRecognizer()
        self._iban = IbanRecognizer()
        self._ssn = UsSsnRecognizer()
        self._ip = IpRecognizer()
        self.address = None  # pii_address.AddressFinder, loaded on first use

    # -------------------------------------------------------------- validators
    def _valid_card(self, s: str) -> bool:
        digits = s.replace(" ", "").replace("-", "")
        return 13 <= len(digits) <= 19 and bool(self._card.validate_result(digits))

    def _valid_iban(self, s: str) -> bool:
        return bool(self._iban.validate_result(s))

    def _valid_ssn(self, s: str) -> bool:
        return not self._ssn.invalidate_result(s)

    @staticmethod
    def _valid_phone(s: str, context: bool) -> float:
        """Score of `s` as a phone number, 0 when it is not one."""
        digits = sum(c.isdigit() for c in s)
        if digits < 7 or digits > 15:
            return 0.0
        try:
            if s.startswith("+"):
                n = phonenumbers.parse(s, None)
                if phonenumbers.is_valid_number(n):
                    return 0.85
                return 0.7 if phonenumbers.is_possible_number(n) else 0.0
            groups = [g for g in _SPLIT_GROUPS.split(s.replace("(", "").replace(")", "")) if g]
            lens = [len(g) for g in groups]
            nanp = "".join(groups)
            if nanp.startswith("1") and len(nanp) == 11:
                nanp, lens = nanp[1:], lens[1:] if lens and lens[0] == 1 else lens
            # NANP: any area code in the typed shapes "(134) 555-0116",
            # 134-555-0116, 134.555.0116 (people type numbers libphonenumber
            # calls invalid, and they still identify); a bare 10-digit run
            # needs a valid-looking number and a phone word before it.
            if len(nanp) == 10 and (lens == [3, 3, 4] or (s.startswith("(") and len(lens) > 1)):
                return 0.8
            if (len(nanp) == 10 and lens == [10] and nanp[0] in "23456789"
                    and nanp[3] in "23456789"):
                return 0.8 if context else 0.0
            if s.startswith("0") or s.startswith("(0"):
                for region in _PHONE_REGIONS:
                    n = phonenumbers.parse(s, region)
                    if phonenumbers.is_valid_number(n):
                        return 0.75
            elif 9 <= len(nanp) <= 11 and nanp[0] != "1":
                for rx, region in _NATIONAL_SHAPES:
                    if rx.fullmatch(s) and "000" not in groups and phonenumbers.is_valid_number(
                            phonenumbers.parse(s, region)):
                        return 0.7
                if context:
                    for region in _NO_TRUNK_REGIONS:
                        if phonenumbers.is_valid_number(phonenumbers.parse(s, region)):
                            return 0.7
        except phonenumbers.NumberParseException:
            return 0.0
        return 0.0

    # --------------------------------------------------------------- detectors
    def detect(self, text: str, entities: frozenset[str] | None = None) -> list[Hit]:
        """All structured hits in `text` (overlaps included, resolved later)."""
        ents = self.entities if entities is None else entities & PATTERN_ENTITIES
        hits: list[Hit] = []
        add = hits.append
        has_digit = _DIGIT.search(text) is not None

        if "SECRET" in ents:
            self._secrets(text, add)
        if "EMAIL_ADDRESS" in ents and "@" in text:
            for m in _EMAIL.finditer(text):
                add(Hit(m.start(), m.end(), "EMAIL_ADDRESS", 1.0, PRIORITY["EMAIL_ADDRESS"]))
        if "URL" in ents and "." in text:
            self._urls(text, add)
        if "ACCOUNT_ID" in ents:
            for rx in self.account_res:
                g = 1 if rx.groups else 0
                for m in rx.finditer(text):
                    if m.end(g) > m.start(g):
                        add(Hit(m.start(g), m.end(g), "ACCOUNT_ID", 0.8, PRIORITY["ACCOUNT_ID"]))
        if not has_digit:  # every remaining entity contains digits
            return hits
        if "IP_ADDRESS" in ents:
            self._ips(text, add)
        if "IBAN_CODE" in ents:
            for m in _IBAN.finditer(text):
                span = self._longest_valid(text, m.start(), m.end(), self._valid_iban, " ")
                if span:
                    add(Hit(*span, "IBAN_CODE", 1.0, PRIORITY["IBAN_CODE"]))
        if "CREDIT_CARD" in ents:
            for m in _CARD.finditer(text):
                span = self._longest_valid(text, m.start(), m.end(), self._valid_card, " -")
                if span:
                    add(Hit(*span, "CREDIT_CARD", 1.0, PRIORITY["CREDIT_CARD"]))
        if "US_SSN" in ents:
            for m in _SSN.finditer(text):
                if self._valid_ssn(m.group()):
                    add(Hit(m.start(), m.end(), "US_SSN", 0.85, PRIORITY["US_SSN"]))
            for m in _SSN_PLAIN.finditer(text):
                if self._valid_ssn(m.group(1)):
                    add(Hit(m.start(1), m.end(1), "US_SSN", 0.7, PRIORITY["US_SSN"]))
        if "NATIONAL_ID" in ents:
            for s, e, _kind in pii_ids.find(text):
                add(Hit(s, e, "NATIONAL_ID", 0.9, PRIORITY["NATIONAL_ID"]))
        if "PHONE_NUMBER" in ents:
            self._phones(text, add)
        if "DATE_OF_BIRTH" in ents and _DOB_HINT.search(text) is not None:
            for rx in (_DOB, _DOB_AFTER):
                for m in rx.finditer(text):
                    add(Hit(m.start(1), m.end(1), "DATE_OF_BIRTH", 0.8,
                            PRIORITY["DATE_OF_BIRTH"]))
        if "STREET_ADDRESS" in ents:
            if self.address is None:
                from curate.pii_address import AddressFinder

                self.address = AddressFinder()
            hits.extend(self.address.find(text))
            for rx in (_ADDR_US, _ADDR_DE, _ADDR_FR):
                for m in rx.finditer(text):
                    add(Hit(m.start(), m.end(), "STREET_ADDRESS", 0.7, PRIORITY["STREET_ADDRESS"]))
        return hits

    @staticmethod
    def _longest_valid(text, start, end, valid, seps) -> tuple[int, int] | None:
        """Longest prefix of text[start:end] ending at a group boundary that validates.

        A candidate often swallows a trailing number ("4111 1111 1111 1111 09 27"),
        so on failure drop trailing groups one by one.
        """
        if valid(text[start:end]):
            return start, end
        cut = end
        while True:
            cut = max(text.rfind(s, start, cut) for s in seps)
            if cut <= start:
                return None
            if valid(text[start:cut]):
                return start, cut

    def _secrets(self, text: str, add) -> None:
        p = PRIORITY["SECRET"]
        for m in _SECRET_PREFIXED.finditer(text):
            add(Hit(m.start(), m.end(), "SECRET", 0.95, p))
        if "Bearer" in text or "Basic" in text or "Token" in text:
            for m in _SECRET_BEARER.finditer(text):
                add(Hit(m.start(1), m.end(1), "SECRET", 0.9, p))
        for m in _SECRET_CONTEXT.finditer(text):
            val = m.group(2).rstrip(".,;:)]}")
            if m.group("code") and not _random_code(val):
                continue  # "error code is E1234", "promo code is SAVE20" stay
            # A real password/key has a digit, or a symbol, or mixed case beyond
            # the first letter; "the token expired" does not.
            # Code is not a secret: `token = jwt.encode(...)`; nor is a
            # placeholder such as your-secret-key.
            if any(c in val for c in "(){}[]") or val.startswith(("$", "%", "<")):
                continue
            core = val.replace("-", "").replace("_", "")
            if len(val) >= 6 and (any(c.isdigit() for c in val) or not core.isalnum()
                                  or any(c.isupper() for c in val[1:])):
                add(Hit(m.start(2), m.start(2) + len(val), "SECRET", 0.8, p))
        for m in _ENTROPY_TOKEN.finditer(text):
            if _looks_random(m.group()):
                add(Hit(m.start(), m.end(), "SECRET", 0.6, PRIORITY["SECRET_ENTROPY"]))

    def _urls(self, text: str, add) -> None:
        p = PRIORITY["URL"]
        seen: list[tuple[int, int]] = []
        for rx, score in ((_URL_SCHEME, 0.7), (_URL_WWW, 0.6), (_URL_BARE, 0.5)):
            for m in rx.finditer(text):
                s, e = m.start(), m.end()
                if any(a <= s < b for a, b in seen):
                    continue
                url = text[s:e]
                while url and url[-1] in _URL_TRAIL:
                    if url[-1] == ")" and url.count("(") >= url.count(")"):
                        break
                    url = url[:-1]
                if "." not in url:
                    continue
                # Policy: a bare host (python.org, https://docs.rs) names a
                # public site; a path, query or user part can name a person.
                rest = url.split("://", 1)[-1]
                if "@" not in rest and not re.search(r"/[^/\s]|\?", rest):
                    continue
                seen.append((s, s + len(url)))
                add(Hit(s, s + len(url), "URL", score, p))

    def _ips(self, text: str, add) -> None:
        p = PRIORITY["IP_ADDRESS"]
        if "." in text:
            for m in _IP4.finditer(text):
                add(Hit(m.start(), m.end(), "IP_ADDRESS", 0.95, p))
        if ":" in text and _IP6_HINT.search(text):
            for m in _IP6.finditer(text):
                # IpRecognizer.invalidate_result: ipaddress must parse it
                if not self._ip.invalidate_result(m.group()):
                    add(Hit(m.start(), m.end(), "IP_ADDRESS", 0.95, p))

    def _phones(self, text: str, add) -> None:
        p = PRIORITY["PHONE_NUMBER"]
        for m in _PHONE.finditer(text):
            s, e = m.start(), m.end()
            ctx = _PHONE_CONTEXT.search(text, max(0, s - 40), s) is not None
            best = None
            cand = text[s:e]
            # The greedy match may include a neighbouring number: try the full
            # candidate, then drop trailing, then leading groups.
            bounds = [0] + [g.end() for g in _SPLIT_GROUPS.finditer(cand)] + [len(cand) + 1]
            for cut in range(len(bounds) - 1, 1, -1):
                sub_end = bounds[cut] - (1 if cut == len(bounds) - 1 else 0)
                sub = cand[:sub_end].rstrip(" .-")
                score = self._valid_phone(sub, ctx)
                if score:
                    best = (s, s + len(sub), score)
                    break
            if best is None and not cand.startswith("+"):
                for k in range(1, len(bounds) - 2):
                    sub = cand[bounds[k]:]
                    score = self._valid_phone(sub, ctx)
                    if score:
                        best = (s + bounds[k], e, score)
                        break
            if best:
                x = _PHONE_EXT.match(text, best[1])
                add(Hit(best[0], x.end() if x else best[1], "PHONE_NUMBER", best[2], p))
        for m in _PHONE_PLAIN.finditer(text):
            s = m.start()
            if _PHONE_CONTEXT.search(text, max(0, s - 40), s) is None:
                continue
            score = self._valid_phone(m.group(), True)
            if score:
                add(Hit(s, m.end(), "PHONE_NUMBER", score - 0.1, p))
