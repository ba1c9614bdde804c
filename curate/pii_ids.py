"""National identity numbers (entity NATIONAL_ID) in the locales the project handles.

Each kind is a candidate shape, a validator and, where the shape alone is
ambiguous, a cue that must stand near it. Validation comes from `python-stdnum`
(maintained; check digits, embedded dates and issuer rules for ~all national
ids) and, for the Australian Medicare number, from presidio's own recogniser;
only the Singapore NRIC/FIN check letter, which neither library has, is
computed here. A shape that is common in ordinary text (9, 11, 12 digits; five
letters + four digits + a letter, which is also what SKUs look like) counts
only after a cue ("SIN", "BSN", "PAN card", "PESEL", ...) in the 60 characters
before it or the 25 after it. A formatted shape with a check digit counts alone
("123.456.789-09", "2345 6789 0124", "RSSMRA85T10A562S", "12345678Z").
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from typing import NamedTuple

from presidio_analyzer.predefined_recognizers import AuMedicareRecognizer, DeIdCardRecognizer
from stdnum.au import tfn
from stdnum.be import nn as be_nn
from stdnum.br import cpf
from stdnum.ca import sin
from stdnum.cl import rut
from stdnum.cn import ric
from stdnum.de import idnr
from stdnum.es import dni, nie
from stdnum.fi import hetu
from stdnum.fr import nir
from stdnum.in_ import aadhaar, pan
from stdnum.it import codicefiscale
from stdnum.jp import in_ as jp_mynumber
from stdnum.kr import rrn
from stdnum.mx import curp
from stdnum.nl import bsn
from stdnum.no import fodselsnummer
from stdnum.pl import pesel
from stdnum.pt import nif as pt_nif
from stdnum.se import personnummer
from stdnum.tr import tckimlik

ENTITY = "NATIONAL_ID"

# Around a candidate: not inside a longer word/number, not a group of a longer
# digit sequence ("4111 1111 1111 1111" holds no Aadhaar).
_PRE = r"(?<![\w./-])(?<!\d[ ])"
_POST = r"(?![\w/]|[.,-]\d|[ ]\d)"

_MEDICARE = AuMedicareRecognizer()
_DE_ID_CARD = DeIdCardRecognizer()
_NRIC_W = (2, 7, 6, 5, 4, 3, 2)


def _nric(v: str) -> bool:
    """Singapore NRIC/FIN check letter (published weights 2765432, offset by series)."""
    v = v.upper()
    total = sum(int(d) * w for d, w in zip(v[1:8], _NRIC_W))
    first = v[0]
    total += {"S": 0, "T": 4, "F": 0, "G": 4, "M": 3}[first]
    r = total % 11
    table = "JZIHGFEDCBA" if first in "ST" else ("XWUTRQPNMLK" if first in "FG" else "KLJNPQRTUWX")
    return table[r] == v[8]


def _nino_prefix(v: str) -> bool:
    """HMRC prefix rules (as in presidio's UkNinoRecognizer)."""
    a, b = v[0].upper(), v[1].upper()
    return (a not in "DFIQUV" and b not in "DFIOQUV"
            and (a + b) not in ("BG", "GB", "NK", "KN", "NT", "TN", "ZZ"))


def _always(_v: str) -> bool:
    return True


class Kind(NamedTuple):
    """One national id: shape, validator, cue, and when the shape needs no cue."""

    name: str
    rx: re.Pattern
    valid: Callable[[str], bool]
    cue: re.Pattern | None  # None: never needs one
    bare: Callable[[str], bool]  # True: this match counts without a cue


def _k(name, shape, valid, cue=None, bare=_always):
    cue_rx = re.compile(cue) if cue else None
    return Kind(name, re.compile(_PRE + "(?:" + shape + ")" + _POST), valid, cue_rx,
                bare if cue else _always)


_NEVER = (lambda _v: False)
_SPACED_444 = re.compile(r"\d{4}([ -])\d{4}\1\d{4}")

KINDS: tuple[Kind, ...] = (
    _k("gb_nino", r"[A-Za-z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-Da-d]", _always,
       r"(?i:national\s+insurance|\bNI\s*(?:no|number|#)|\bNINO\b|\bN\.I\.)",
       bare=lambda v: bool(re.fullmatch(r"[A-Z]{2} \d\d \d\d \d\d [A-D]", v)) and _nino_prefix(v)),
    _k("in_pan", r"[A-Z]{5}\d{4}[A-Z]", pan.is_valid,
       r"(?i:\bPAN\b|permanent\s+account|income\s+tax|\bKYC\b)", bare=_NEVER),
    _k("in_aadhaar", r"[2-9]\d{3}[ -]?\d{4}[ -]?\d{4}", aadhaar.is_valid,
       r"(?i:aadhaa?r|\bUIDAI?\b)|आधार", bare=lambda v: bool(_SPACED_444.fullmatch(v))),
    _k("es_dni", r"\d{8}[ -]?[A-Za-z]", dni.is_valid),
    _k("es_nie", r"[XYZxyz][ -]?\d{7}[ -]?[A-Za-z]", nie.is_valid),
    _k("it_codice_fiscale",
       r"[A-Za-z]{6}[0-9LMNP-V]{2}[ABCDEHLMPRSTabcdehlmprst][0-9LMNP-V]{2}[A-Za-z][0-9LMNP-V]{3}[A-Za-z]",
       codicefiscale.is_valid),
    _k("br_cpf", r"\d{3}\.?\d{3}\.?\d{3}-?\d{2}", cpf.is_valid, r"(?i:\bCPF\b)",
       bare=lambda v: bool(re.fullmatch(r"\d{3}\.\d{3}\.\d{3}-\d{2}", v))),
    _k("cl_rut", r"\d{1,2}\.?\d{3}\.?\d{3}-[\dkK]", rut.is_valid, r"(?i:\bRU[TN]\b)",
       bare=lambda v: "." in v),
    _k("mx_curp", r"[A-Z]{4}\d{6}[HMX][A-Z]{5}[0-9A-Z]\d", curp.is_valid),
    _k("fr_nir", r"[12] ?\d{2} ?\d{2} ?(?:\d{2}|2[AB]) ?\d{3} ?\d{3} ?\d{2}", nir.is_valid,
       r"(?i:s[ée]curit[ée]\s+sociale|\bs[ée]cu\b|\bNIR\b|\bINSEE\b|carte\s+vitale)",
       bare=lambda v: v.count(" ") >= 5),
    _k("se_personnummer", r"(?:19|20)?\d{6}[-+]\d{4}", personnummer.is_valid,
       r"(?i:personnummer|personnr)", bare=_NEVER),
    _k("fi_hetu", r"\d{6}[-+A-FU-Y]\d{3}[0-9A-Y]", hetu.is_valid),
    _k("kr_rrn", r"\d{6}-?\d{7}", rrn.is_valid, r"(?i:\bRRN\b|resident\s+registration)|주민등록",
       bare=lambda v: "-" in v),
    _k("cn_ric", r"\d{17}[\dXx]", ric.is_valid),
    _k("sg_nric", r"[STFGMstfgm]\d{7}[A-Za-z]", _nric),
    _k("au_tfn", r"\d{3} ?\d{3} ?\d{2,3}", tfn.is_valid, r"(?i:\bTFN\b|tax\s+file)", bare=_NEVER),
    _k("au_medicare", r"[2-6]\d{3} ?\d{5} ?\d(?:[ /-]?\d)?",
       lambda v: bool(_MEDICARE.validate_result(v)), r"(?i:medicare)", bare=_NEVER),
    _k("ca_sin", r"\d{3}[ -]?\d{3}[ -]?\d{3}", sin.is_valid,
       r"\bSIN\b|(?i:social\s+insurance|\bNAS\b|assurance\s+sociale)", bare=_NEVER),
    _k("nl_bsn", r"\d{9}|\d{4}\.\d{2}\.\d{3}|\d{3} \d{3} \d{3}", bsn.is_valid,
       r"(?i:\bBSN\b|burgerservicenummer|sofi-?nummer)", bare=_NEVER),
    _k("pt_nif", r"\d{9}|\d{3} \d{3} \d{3}", pt_nif.is_valid,
       r"(?i:\bNIF\b|contribuinte)", bare=_NEVER),
    _k("de_steuer_id", r"\d{2} ?\d{3} ?\d{3} ?\d{3}", idnr.is_valid,
       r"(?i:steuer-?\s?id|steueridentifikations|\bIdNr\b|identifikationsnummer|tax\s+id)",
       bare=_NEVER),
    _k("pl_pesel", r"\d{11}", pesel.is_valid, r"(?i:\bPESEL\b)", bare=_NEVER),
    _k("tr_tc_kimlik", r"[1-9]\d{10}", tckimlik.is_valid, r"(?i:kimlik|\bTCKN\b|\bT\.?C\.?\s+no)",
       bare=_NEVER),
    _k("no_fodselsnummer", r"\d{6} ?\d{5}", fodselsnummer.is_valid,
       r"(?i:f[øo]dselsnummer|personnummer)", bare=_NEVER),
    _k("be_national_number", r"\d{2}\.?\d{2}\.?\d{2}[ -]?\d{3}\.?\d{2}", be_nn.is_valid,
       r"(?i:rijksregister|num[ée]ro\s+national|national\s+(?:register\s+)?number|\bINSZ\b|\bNISS\b)",
       bare=_NEVER),
    _k("de_personalausweis", r"[CFGHJKLMNPRTVWXYZ][CFGHJKLMNPRTVWXYZ0-9]{7}[0-9]",
       lambda v: bool(_DE_ID_CARD.validate_result(v)),
       r"(?i:ausweis|identity\s+card|\bID\s*card|national\s+id)", bare=_NEVER),
    _k("jp_my_number", r"\d{4} ?\d{4} ?\d{4}", jp_mynumber.is_valid,
       r"(?i:my\s*number)|マイナンバー|個人番号", bare=_NEVER),
)
# Documents with no check digit a library knows (passports, driving licences,
# ID cards of other countries): the number right after its cue, 6-18 letters and
# digits with at least one digit ("passport number is X1234567", "Reisepass: C01X00T47").
_DOC_CUED = re.compile(
    r"(?i:\b(?:passport|pasaporte|passeport|reisepass|passaporto|passaporte|paspoort|paszport"
    r"|driv(?:er'?s|ing)\s+licen[cs]e|f[üu]hrerschein|permis\s+de\s+conduire|licencia\s+de\s+conducir"
    r"|carnet\s+de\s+conducir|patente|carta\s+d'identit[àa]|carte\s+d'identit[ée]|identity\s+card"
    r"|id\s+card|c[ée]dula|documento\s+de\s+identidad|(?:personal)?ausweis)"
    r"(?:\s+(?:no\.?|number|nr\.?|num[ée]ro|n[úu]mero|nummer|#))?\s*[:#]?\s*"
    r"(?:(?:is|es|est|ist|è|é|lautet)\s+)?)"
    r"((?=[A-Za-z]*\d)[A-Za-z0-9]{6,18})(?![\w-])"
)
# Speed: the kinds that may count without a cue are found in one pass of their
# union (the shapes without look-behinds, so the scan can skip to a first
# character quickly); each cue-only kind runs only when one of its stems is in
# the text (a stem with a capital letter is matched case-sensitively).
_BARE_KINDS = tuple(k for k in KINDS if k.bare is not _NEVER)
_CUE_KINDS = tuple(k for k in KINDS if k.bare is _NEVER)
_CANDIDATE = re.compile("|".join(
    "(?:" + k.rx.pattern[len(_PRE):-len(_POST)] + ")" for k in _BARE_KINDS))
_STEMS: dict[str, tuple[str, ...]] = {
    "in_pan": ("PAN", "pan card", "pan number", "pan no", "permanent account", "income tax", "kyc"),
    "se_personnummer": ("personnummer", "personnr"),
    "au_tfn": ("tfn", "tax file"),
    "au_medicare": ("medicare",),
    "ca_sin": ("SIN", "social insurance", "NAS", "assurance sociale"),
    "nl_bsn": ("bsn", "burgerservice", "sofi"),
    "pt_nif": ("nif", "contribuinte"),
    "de_steuer_id": ("steuer", "idnr", "identifikationsnummer", "tax id"),
    "pl_pesel": ("pesel",),
    "tr_tc_kimlik": ("kimlik", "tckn", "t.c", "tc no", "tc "),
    "no_fodselsnummer": ("fødselsnummer", "fodselsnummer", "personnummer"),
    "be_national_number": ("rijksregister", "national", "insz", "niss"),
    "de_personalausweis": ("ausweis", "identity card", "id card", "idcard", "national id"),
    "jp_my_number": ("my number", "mynumber", "マイナンバー", "個人番号"),
}
assert set(_STEMS) == {k.name for k in _CUE_KINDS}
_DOC_STEMS = ("pass", "licen", "führer", "fuhrer", "permis", "conduc", "patente", "identit",
              "id card", "cédula", "cedula", "ausweis")
_HAS_DIGIT = re.compile(r"\d")
_CUE_BEFORE, _CUE_AFTER = 60, 25


def _has_stem(stems, text: str, low: str) -> bool:
    return any((st in text) if not st.islower() else (st in low) for st in stems)


def _cue_near(k: Kind, text: str, s: int, e: int) -> bool:
    return k.cue is not None and (
        k.cue.search(text, max(0, s - _CUE_BEFORE), s) is not None
        or k.cue.search(text[e:e + _CUE_AFTER]) is not None)


def find(text: str) -> list[tuple[int, int, str]]:
    """(start, end, kind) of every validated national id in `text`."""
    if _HAS_DIGIT.search(text) is None:
        return []
    out = []
    pos = 0
    while True:
        m = _CANDIDATE.search(text, pos)
        if m is None:
            break
        s, nxt = m.start(), m.start() + 1
        for k in _BARE_KINDS:
            km = k.rx.match(text, s)
            if km is None:
                continue
            v = km.group()
            if k.valid(v) and (k.bare(v) or _cue_near(k, text, s, km.end())):
                out.append((s, km.end(), k.name))
                nxt = max(nxt, km.end())
        pos = nxt
    low = text.lower()
    for k in _CUE_KINDS:
        if not _has_stem(_STEMS[k.name], text, low):
            continue
        for km in k.rx.finditer(text):
            v = km.group()
            if k.valid(v) and _cue_near(k, text, km.start(), km.end()):
                out.append((km.start(), km.end(), k.name))
    if any(st in low for st in _DOC_STEMS):
        for dm in _DOC_CUED.finditer(text):
            out.append((dm.start(1), dm.end(1), "id_document"))
    return out


def is_any_valid(value: str) -> bool:
    """Whether `value` validates as any national id (surrogates must not)."""
    for k in KINDS:
        if k.rx.fullmatch(value):
            try:
                if k.valid(value):
                    return True
            except Exception:  # noqa: BLE001 - a validator's own parse error means "not valid"
                continue
    return False


def surrogate(value: str, rng: random.Random) -> str:
    """Same shape as `value`, new characters, and a check that does not validate."""
    from curate.pii_replace import _shape

    new = _shape(rng, value)
    for _ in range(50):
        if not is_any_valid(new):
            return new
        new = _shape(rng, value)
    return new
