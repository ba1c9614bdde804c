"""PII recognisers for text the first rules were not written for: names outside the
1990 census, cues in other languages, addresses of other countries, local phone
formats, dates of birth away from their cue; and ordinary text that must stay.
Real presidio + spaCy, default config (what a new user gets)."""

from __future__ import annotations

import pytest

from curate.pii import PiiConfig, PiiScrubber

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def plain():
    with PiiScrubber(PiiConfig()) as s:
        yield s


def scrub_one(scrubber, text: str) -> str:
    [res] = scrubber.scrub([[{"role": "user", "content": text}]])
    assert res.reason is None
    return res.messages[0]["content"]


@pytest.mark.parametrize(("text", "expected"), [
    # not in the census lists: found through faker's locale lists, a cue, or both
    ("My granddaughter Harper set up the tablet.",
     "My granddaughter <PERSON_1> set up the tablet."),
    ("Please ask Arjun to bring the charger.", "Please ask <PERSON_1> to bring the charger."),
    ("Put the pickup name as Chinonso please.", "Put the pickup name as <PERSON_1> please."),
    # "call" before an ambiguous given name; a title with an initial
    ("Don't call Bill, call me instead.", "Don't call <PERSON_1>, call me instead."),
    ("Details: Mrs K. Ashworth, sort code 40-11-62",
     "Details: Mrs K. <PERSON_1>, sort code 40-11-62"),
    # French, German, Italian, Spanish cues; the cue word itself stays
    ("Bonjour, je m'appelle Sylvie Durand.", "Bonjour, je m'appelle <PERSON_1>."),
    ("Hallo, ich bin Jürgen Kessler.", "Hallo, ich bin <PERSON_1>."),
    ("Buongiorno, sono Federica, ho un problema.", "Buongiorno, sono <PERSON_1>, ho un problema."),
    ("Soy Camila y vivo en Valencia.", "Soy <PERSON_1> y vivo en Valencia."),
    ("Guten Tag Frau Vollmer-Eck, Ihre Bestellung ist unterwegs.",
     "Guten Tag Frau <PERSON_1>, Ihre Bestellung ist unterwegs."),
])
def test_names_outside_the_census_lists_and_in_other_languages_are_replaced(plain, text, expected):
    assert scrub_one(plain, text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("Ich wohne in der Goethestraße 14, 80336 München.", "Ich wohne in der <STREET_ADDRESS_1>."),
    ("Mi dirección es Calle Mayor 7, 3ºB, 28013 Madrid.", "Mi dirección es <STREET_ADDRESS_1>."),
    ("Envíalo a C/ de Sants 120, Barcelona.", "Envíalo a <STREET_ADDRESS_1>, Barcelona."),
    ("Il mio indirizzo è Via Roma 10, 00184 Roma.", "Il mio indirizzo è <STREET_ADDRESS_1>."),
    ("ik woon op de Prinsengracht 263", "ik woon op de <STREET_ADDRESS_1>"),
    ("Please deliver to Apartment 4C, Riverside Court, Leeds",
     "Please deliver to <STREET_ADDRESS_1>, Leeds"),
    ("H.No. 8-3-169, Ameerpet, Hyderabad 500016", "<STREET_ADDRESS_1>"),
    ("Flat 7A, Larch House\n19 Quay Street\nBristol BS1 4DJ",
     "<STREET_ADDRESS_1>\n<STREET_ADDRESS_2>"),
])
def test_street_lines_of_other_countries_and_building_lines_are_replaced(plain, text, expected):
    assert scrub_one(plain, text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("mi móvil es 612 345 678", "mi móvil es <PHONE_NUMBER_1>"),
    ("my number is 98765 43210, call before 5", "my number is <PHONE_NUMBER_1>, call before 5"),
    ("pode ligar no (21) 99876-5432", "pode ligar no <PHONE_NUMBER_1>"),
    ("Il mio numero è 333 1234567", "Il mio numero è <PHONE_NUMBER_1>"),
    ("please update my DOB, it's wrong in your system. should be 08/21/1979",
     "please update my DOB, it's wrong in your system. should be <DATE_OF_BIRTH_1>"),
    ("Ich bin am 3. März 1961 geboren.", "Ich bin am <DATE_OF_BIRTH_1> geboren."),
    ("Nací el 23 de mayo de 1985 en Sevilla.", "Nací el <DATE_OF_BIRTH_1> en Sevilla."),
    ("data de nascimento: 2 de março de 1990", "data de nascimento: <DATE_OF_BIRTH_1>"),
])
def test_local_phone_formats_and_dates_of_birth_away_from_their_cue(plain, text, expected):
    assert scrub_one(plain, text) == expected


@pytest.mark.parametrize("text", [
    # German capitalises nouns: none of these is a name
    "Meine Rechnung ist falsch. Die Lieferung kam nicht, der Router blinkt.",
    "Rappelez-moi demain, merci.",
    # a number and capitalised words after a comma are not a postcode + city without a street
    "The 2024 Report, 2025 Outlook and 10000 Steps are out.",
    "Go to Settings 5, Place Order 66 via Python 3.",
    # thousands in groups of three are no Spanish phone number
    "I paid 600 000 000 pesos for it.",
    "My birthday party is on Saturday; the invoice date is 12/03/2025.",
    "I flew Ryanair and the DHL parcel came via Royal Mail.",
])
def test_ordinary_text_in_other_languages_and_near_misses_stays(plain, text):
    assert scrub_one(plain, text) == text


def test_an_international_given_name_that_is_also_a_word_needs_a_cue(plain):
    # "Red", "Berlin", "Arjun" (a tree in Webster's) are in faker's lists or words:
    # alone as a whole reply they stay, after a strong cue they go
    assert scrub_one(plain, "Berlin") == "Berlin"
    assert scrub_one(plain, "Arjun") == "Arjun"
    assert scrub_one(plain, "this is Arjun") == "this is <PERSON_1>"


def test_an_account_number_after_is_is_an_account_id(plain):
    assert scrub_one(plain, "Account number is 0048213377, balance $12.40.") == \
        "Account number is <ACCOUNT_ID_1>, balance $12.40."
