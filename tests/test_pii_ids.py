"""National identity numbers (NATIONAL_ID) and passwords after a cue: exact
redactions with real presidio + spaCy and python-stdnum's validators, and the
look-alikes (order numbers, SKUs, versions, error codes, wrong check digits)
that must stay."""

from __future__ import annotations

import random

import pytest

from curate import pii_ids
from curate.pii import PiiConfig, PiiScrubber


@pytest.mark.parametrize(("text", "kind"), [
    ("My National Insurance number is QQ 12 34 56 C", "gb_nino"),
    ("NI no: qq123456c", "gb_nino"),
    ("My PAN card is ABCPD1234F", "in_pan"),
    ("aadhaar 2345 6789 0124", "in_aadhaar"),
    ("mi DNI es 12345678Z", "es_dni"),
    ("NIE X1234567L", "es_nie"),
    ("codice fiscale RSSMRA85T10A562S", "it_codice_fiscale"),
    ("Meu CPF é 123.456.789-09", "br_cpf"),
    ("numéro de sécu 2 95 10 99 126 111 93", "fr_nir"),
    ("my SIN is 130 692 544", "ca_sin"),
    ("TFN 123 456 782", "au_tfn"),
    ("Medicare 2123 45670 1", "au_medicare"),
    ("Steuer-ID 36574261809", "de_steuer_id"),
    ("BSN 111222333", "nl_bsn"),
    ("PESEL 44051401359", "pl_pesel"),
    ("NRIC S1234567D", "sg_nric"),
    ("RUT 76.086.428-5", "cl_rut"),
    ("CURP BOXW310820HNERXN09", "mx_curp"),
    ("HETU 131052-308T", "fi_hetu"),
    ("Ausweisnummer: L01X00T44", "de_personalausweis"),
    # no check digit: only right after a passport / licence / ID-card cue
    ("my passport number is X1234567", "id_document"),
    ("driving licence no. MORGA753116SM9IJ", "id_document"),
])
def test_each_national_id_is_found_with_its_kind(text, kind):
    found = pii_ids.find(text)
    assert [k for _s, _e, k in found] == [kind]
    s, e, _k = found[0]
    assert text[e:] == "" and text[s - 1] == " "


@pytest.mark.parametrize("text", [
    # 9 digits that pass the CA SIN and NL BSN checks, but no cue: an order number
    "Your order 130692544 ships Monday",
    # PAN shape without a PAN/KYC cue is an SKU (PAN has no check digit)
    "SKU ABCPD1234F is back in stock",
    # a PAN cue, but the 4th letter is no holder type
    "PAN ABCDE1234F",
    # wrong DNI check letter, wrong CPF check digits, wrong Aadhaar Verhoeff digit
    "ref 12345678A", "CPF 123.456.789-00", "aadhaar 2345 6789 0125",
    # NINO shape without a cue and with a prefix HMRC never issues
    "part QQ 12 34 56 C",
    # a card, a phone, versions, prices, error codes, times
    "4111 1111 1111 1111", "+44 20 7946 0958",
    "v12.5.1 costs $1,234.56, error 0x80070005 at 10:45",
    # a passport cue followed by words and sizes, not a number
    "passport photos 35x45mm please", "passport expires 2027", "passport renewal form DS82",
])
def test_look_alikes_are_not_national_ids(text):
    assert pii_ids.find(text) == []


def test_a_surrogate_keeps_the_shape_and_fails_every_check():
    rng = random.Random(3)
    for value in ("123.456.789-09", "RSSMRA85T10A562S", "12345678Z", "2345 6789 0124"):
        new = pii_ids.surrogate(value, rng)
        assert len(new) == len(value) and new != value
        assert [c.isdigit() for c in new] == [c.isdigit() for c in value]
        assert not pii_ids.is_any_valid(new)


@pytest.fixture(scope="module")
def plain():
    with PiiScrubber(PiiConfig()) as s:
        yield s


def scrub_one(scrubber, text: str):
    [res] = scrubber.scrub([[{"role": "user", "content": text}]])
    return res


@pytest.mark.slow
@pytest.mark.parametrize(("text", "expected"), [
    ("My National Insurance number is QQ 12 34 56 C, do you need it?",
     "My National Insurance number is <NATIONAL_ID_1>, do you need it?"),
    ("My PAN card is ABCPD1234F, need it linked with KYC",
     "My PAN card is <NATIONAL_ID_1>, need it linked with KYC"),
    ("Me llamo Juan y mi DNI es 12345678Z.", "Me llamo <PERSON_1> y mi DNI es <NATIONAL_ID_1>."),
    ("Il mio codice fiscale è RSSMRA85T10A562S, serve per la fattura",
     "Il mio codice fiscale è <NATIONAL_ID_1>, serve per la fattura"),
    ("Meu CPF é 123.456.789-09 e quero cancelar.", "Meu CPF é <NATIONAL_ID_1> e quero cancelar."),
    ("Mijn BSN is 111222333 en mijn order 130692544.",
     "Mijn BSN is <NATIONAL_ID_1> en mijn order 130692544."),
    # passwords and codes after a cue, in several languages
    ("my password is fT7#kq2P!xw9 and it fails", "my password is <SECRET_1> and it fails"),
    ("pwd: Hunter2go!", "pwd: <SECRET_1>"),
    ("mi contraseña: Gato#2024x", "mi contraseña: <SECRET_1>"),
    ("Passwort ist Sommer2024!", "Passwort ist <SECRET_1>"),
    ("the auth code is wrong. code is fT7#kq2P!xw9",
     "the auth code is wrong. code is <SECRET_1>"),
])
def test_national_ids_and_passwords_are_redacted_exactly(plain, text, expected):
    res = scrub_one(plain, text)
    assert res.reason is None
    assert res.messages[0]["content"] == expected


@pytest.mark.slow
@pytest.mark.parametrize("text", [
    "SKU ABCPD1234F is back in stock, order 130692544 ships Monday.",
    "promo code is SAVE20, error code: ERR-4021, verification code is 482913",
    "the code is v2.3.1-beta and the token expired yesterday",
])
def test_controls_next_to_id_and_password_cues_stay(plain, text):
    res = scrub_one(plain, text)
    assert res.reason is None and res.messages[0]["content"] == text


@pytest.mark.slow
def test_a_national_id_left_in_by_the_entity_choice_is_flagged_by_the_residual_rescan():
    cfg = PiiConfig(entities=("PERSON", "EMAIL_ADDRESS"))
    with PiiScrubber(cfg) as s:
        res = scrub_one(s, "Meu CPF é 123.456.789-09.")
    assert res.reason == "pii.residual_national_id"
    assert "123.456.789-09" not in res.messages[0]["content"]


@pytest.mark.slow
def test_surrogate_mode_writes_an_id_that_does_not_validate():
    with PiiScrubber(PiiConfig(mode="surrogate")) as s:
        res = scrub_one(s, "Il mio codice fiscale è RSSMRA85T10A562S.")
    assert res.reason is None
    out = res.messages[0]["content"]
    assert "RSSMRA85T10A562S" not in out and pii_ids.find(out) == []
    assert out.startswith("Il mio codice fiscale è ") and len(out) == len("Il mio codice fiscale è RSSMRA85T10A562S.")
