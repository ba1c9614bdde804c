"""Seeded, labelled customer-support conversations for measuring PII recall.

Stdlib only. Every PII value the templates insert is recorded with its exact
character span and entity type, so a detector can be scored span by span. The
filler text around it is PII-free by construction: dates, prices, error codes,
versions, product names and agent aliases appear, but they are not labelled,
because they are not personal data (and products/aliases are in ALLOW_LIST).

Usage:
    from benchmarks.pii_eval_set import generate, ALLOW_LIST
    convs = generate(200, seed=7)
    convs[0].as_messages()            # [{"role": ..., "content": ...}, ...]
    convs[0].messages[1].spans        # (Span(start, end, entity, value), ...)

`python benchmarks/pii_eval_set.py [N] [SEED]` prints a sample.
"""

from __future__ import annotations

import random
import re
import string
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path

# Company, product and agent names: not personal data, must survive scrubbing.
COMPANY = "Acme Cloud"
PRODUCTS = ["Acme Sync", "Acme Vault", "Nimbus Router", "Acme Pro"]
AGENT_ALIASES = ["Skye", "Juno", "Orion", "Wren"]
ALLOW_LIST = ["Acme", COMPANY, "Acme Cloud Support", *PRODUCTS, *AGENT_ALIASES]


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    entity: str
    value: str


@dataclass(frozen=True)
class EvalMessage:
    role: str
    content: str
    spans: tuple[Span, ...]


@dataclass(frozen=True)
class EvalConversation:
    id: str
    messages: tuple[EvalMessage, ...]

    def as_messages(self) -> list[dict[str, str]]:
        return [{"role": m.role, "content": m.content} for m in self.messages]


# --------------------------------------------------------------------------
# value pools

NAMES: dict[str, tuple[list[str], list[str]]] = {
    "en": (["James", "Emily", "Michael", "Sarah", "David", "Jessica", "Robert", "Hannah",
            "Thomas", "Olivia", "Daniel", "Rebecca"],
           ["Thompson", "Walker", "Harris", "Bennett", "Collins", "Murphy", "Parker",
            "Reynolds", "Hughes", "Fletcher", "Crawford", "Whitfield"]),
    "es": (["María", "José", "Alejandro", "Lucía", "Camila", "Diego", "Valentina", "Mateo",
            "Sofía", "Javier"],
           ["García", "Rodríguez", "Martínez", "Hernández", "López", "González", "Pérez",
            "Sánchez", "Ramírez", "Torres", "de la Cruz"]),
    "pt": (["João", "Beatriz", "Thiago", "Larissa", "Gabriel", "Fernanda"],
           ["Silva", "Santos", "Oliveira", "Souza", "Ferreira", "Carvalho"]),
    "de": (["Lukas", "Anna", "Jonas", "Lena", "Felix", "Katharina", "Maximilian", "Sophie"],
           ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Becker", "Hoffmann",
            "Schäfer"]),
    "fr": (["Jean-Pierre", "Camille", "Louis", "Chloé", "Antoine", "Élodie", "Mathieu",
            "Amélie"],
           ["Dubois", "Lefebvre", "Moreau", "Laurent", "Girard", "Rousseau", "Fontaine"]),
    "it": (["Giulia", "Marco", "Alessandro", "Francesca", "Lorenzo", "Chiara"],
           ["Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo"]),
    "pl": (["Katarzyna", "Piotr", "Agnieszka", "Tomasz", "Małgorzata", "Krzysztof"],
           ["Kowalski", "Nowak", "Wiśniewski", "Wójcik", "Kamiński", "Lewandowski"]),
    "ru": (["Dmitri", "Olga", "Sergei", "Natalia", "Alexei", "Tatiana"],
           ["Ivanov", "Smirnov", "Kuznetsov", "Popov", "Sokolov", "Volkov"]),
    "zh": (["Wei", "Fang", "Jing", "Lei", "Xiaoming", "Mei"],
           ["Zhang", "Wang", "Liu", "Chen", "Huang", "Zhao"]),
    "ja": (["Haruto", "Yui", "Kenji", "Sakura", "Takeshi", "Aiko"],
           ["Tanaka", "Watanabe", "Suzuki", "Takahashi", "Yamamoto", "Nakamura"]),
    "ko": (["Min-jun", "Seo-yeon", "Ji-ho", "Ha-eun", "Jae-won"],
           ["Kim", "Park", "Choi", "Jung", "Kang"]),
    "vi": (["Minh", "Lan", "Tuấn", "Hương", "Duc"],
           ["Nguyen", "Tran", "Pham", "Hoang", "Vu"]),
    "in": (["Priya", "Arjun", "Ananya", "Rohan", "Deepika", "Vikram", "Sanjay", "Lakshmi"],
           ["Sharma", "Patel", "Raghunathan", "Iyer", "Reddy", "Gupta", "Chatterjee", "Nair"]),
    "ar": (["Mohammed", "Fatima", "Omar", "Layla", "Youssef", "Aisha", "Khalid", "Noor"],
           ["Al-Sayed", "Haddad", "Mansour", "Khalil", "Nasser", "El-Amin", "Farouk"]),
    "ng": (["Oluwaseun", "Chiamaka", "Emeka", "Ngozi", "Tunde", "Adaeze", "Chinedu"],
           ["Adeyemi", "Okonkwo", "Okafor", "Balogun", "Eze", "Nwosu"]),
    "tr": (["Emre", "Elif", "Mehmet", "Zeynep", "Burak"],
           ["Yılmaz", "Kaya", "Demir", "Şahin", "Çelik"]),
    "gr": (["Nikos", "Eleni", "Georgios", "Dimitra"],
           ["Papadopoulos", "Georgiou", "Nikolaidis", "Karagiannis"]),
    "nordic": (["Lars", "Ingrid", "Sven", "Astrid", "Björn"],
               ["Johansson", "Lindqvist", "Andersen", "Halvorsen", "Nyström"]),
    "ie": (["Siobhán", "Ciarán", "Aoife", "Declan"],
           ["O'Connor", "O'Sullivan", "McCarthy", "Byrne"]),
    "africa": (["Wanjiru", "Kofi", "Amara", "Tesfaye", "Thandiwe"],
               ["Mwangi", "Mensah", "Kamau", "Bekele", "Ndlovu"]),
}

EMAIL_DOMAINS = ["gmail.com", "outlook.com", "yahoo.co.uk", "proton.me", "web.de",
                 "orange.fr", "icloud.com", "hotmail.com", "northwind-traders.com",
                 "fabrikam.io", "mail.ru", "libero.it"]

US_AREAS = ["212", "415", "312", "646", "617", "305", "512", "206", "720", "404", "718", "503"]

CITIES = ["Lisbon", "Toronto", "Nairobi", "Osaka", "Lyon", "Kraków", "Melbourne",
          "São Paulo", "Hyderabad", "Denver", "Manchester", "Rotterdam", "Chicago",
          "Seattle", "Dublin", "Barcelona"]

US_CITIES = [("Springfield", "IL"), ("Portland", "OR"), ("Austin", "TX"), ("Denver", "CO"),
             ("Madison", "WI"), ("Columbus", "OH"), ("Raleigh", "NC"), ("Boise", "ID"),
             ("Tucson", "AZ"), ("Albany", "NY")]
UK_CITIES = ["Leeds", "Bristol", "Sheffield", "Norwich", "Cardiff", "York"]
DE_CITIES = ["Berlin", "Hamburg", "München", "Köln", "Leipzig", "Dresden"]
STREETS = ["Maple", "Oak", "Cedar", "Elm", "Washington", "Lincoln", "Park", "Lake", "Hill",
           "Sunset", "Willow", "Highland", "Church", "Mill", "Chestnut", "Riverside",
           "5th", "42nd", "Grand", "Pine"]
US_SUFFIXES = ["Street", "St", "Avenue", "Ave", "Road", "Rd", "Boulevard", "Blvd", "Lane",
               "Drive", "Court", "Way", "Place", "Terrace"]
UK_SUFFIXES = ["Road", "Street", "Lane", "Close", "Crescent", "Avenue"]
DE_STREETS = ["Haupt", "Linden", "Garten", "Schiller", "Goethe", "Bahnhof", "Berliner"]
DE_SUFFIXES = ["straße", "weg", "allee", "platz"]

URL_TEMPLATES = [
    "https://www.linkedin.com/in/{slug}-{n4}",
    "https://github.com/{slug}",
    "https://{slugnd}.dev",
    "https://drive.google.com/file/d/{token}/view?usp=sharing",
    "https://calendly.com/{slug}/30min",
    "www.{slug}-photography.com",
    "https://{slugnd}.wordpress.com/about",
    "https://www.dropbox.com/s/{token12}/invoice.pdf?dl=0",
]


# --------------------------------------------------------------------------
# value generators (each returns a fresh realistic fake value)

def _ascii(s: str) -> str:
    s = s.replace("ß", "ss").replace("ł", "l").replace("Ł", "L").replace("ı", "i")
    s = unicodedata.normalize("NFKD", s)
    return "".join(c for c in s if not unicodedata.combining(c))


def _luhn_complete(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    total = 0
    for i, d in enumerate(reversed(body)):
        v = int(d)
        if i % 2 == 0:  # these get doubled once the check digit is appended
            v *= 2
            if v > 9:
                v -= 9
        total += v
    return body + str((10 - total % 10) % 10)


def make_card(rng: random.Random) -> str:
    kind = rng.choice(["visa", "visa", "mc", "mc2", "amex", "discover"])
    if kind == "amex":
        num = _luhn_complete(rng.choice(["34", "37"]), 15, rng)
        groups = [num[:4], num[4:10], num[10:]]
    else:
        prefix = {"visa": "4", "mc": str(rng.randint(51, 55)), "mc2": str(rng.randint(2221, 2720)),
                  "discover": "6011"}[kind]
        num = _luhn_complete(prefix, 16, rng)
        groups = [num[i:i + 4] for i in range(0, 16, 4)]
    sep = rng.choice([" ", " ", "-", ""])
    return sep.join(groups)


def make_ssn(rng: random.Random) -> str:
    while True:
        area = rng.randint(1, 899)
        if area != 666:
            break
    group, serial = rng.randint(1, 99), rng.randint(1, 9999)
    if (area, group, serial) == (78, 5, 1120):
        serial += 1
    sep = rng.choice(["-", "-", "-", " "])
    return f"{area:03d}{sep}{group:02d}{sep}{serial:04d}"


IBAN_FORMATS = {  # country: BBAN layout (n digit, a letter, c alnum)
    "DE": "n" * 18, "GB": "aaaa" + "n" * 14, "FR": "n" * 10 + "n" * 11 + "nn",
    "ES": "n" * 20, "IT": "a" + "n" * 10 + "n" * 12, "NL": "aaaa" + "n" * 10,
    "CH": "n" * 5 + "n" * 12, "PL": "n" * 24, "BE": "n" * 12, "AT": "n" * 16,
    "IE": "aaaa" + "n" * 14, "SE": "n" * 20,
}


def make_iban(rng: random.Random) -> str:
    cc = rng.choice(list(IBAN_FORMATS))
    bban = "".join(rng.choice(string.digits) if k == "n" else rng.choice(string.ascii_uppercase)
                   for k in IBAN_FORMATS[cc])
    numeric = "".join(str(int(ch, 36)) for ch in bban + cc + "00")
    iban = f"{cc}{98 - int(numeric) % 97:02d}{bban}"
    if rng.random() < 0.5:
        return " ".join(iban[i:i + 4] for i in range(0, len(iban), 4))
    return iban


def make_ip(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.15:
        groups = [f"{rng.randint(0x2001, 0x2a0f):x}", f"{rng.randint(0, 0xffff):x}",
                  f"{rng.randint(0, 0xffff):x}", f"{rng.randint(0, 0xffff):x}"]
        return ":".join(groups) + f"::{rng.randint(1, 0xfff):x}"
    if r < 0.3:
        return f"192.168.{rng.randint(0, 20)}.{rng.randint(2, 254)}"
    first = rng.choice([23, 45, 62, 81, 89, 91, 104, 142, 151, 172, 185, 203, 212])
    return f"{first}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def make_phone(rng: random.Random) -> str:
    d = lambda n: "".join(rng.choice(string.digits) for _ in range(n))  # noqa: E731
    line = d(4)
    exch = str(rng.randint(2, 9)) + d(2)
    area = rng.choice(US_AREAS)
    us = [f"({area}) {exch}-{line}", f"{area}-{exch}-{line}", f"{area}.{exch}.{line}",
          f"+1 {area} {exch} {line}", f"+1-{area}-{exch}-{line}", f"{area}-555-01{d(2)}"]
    uk_mobile = "7" + rng.choice(["400", "412", "507", "539", "700", "723", "815", "888", "984"])
    intl = [f"+44 20 7946 0{d(3)}", f"+44 {uk_mobile} {d(6)}", f"020 7946 0{d(3)}",
            f"0{uk_mobile} {d(6)}", f"+49 30 {rng.randint(2, 9)}{d(7)}", f"+49 151 {d(8)}",
            f"+33 1 {d(2)} {d(2)} {d(2)} {d(2)}", f"+33 6 {d(2)} {d(2)} {d(2)} {d(2)}",
            f"+91 9{d(4)} {d(5)}", f"+81 3-{rng.randint(1000, 9999)}-{d(4)}",
            f"+81 90-{d(4)}-{d(4)}",
            f"+55 11 9{d(4)}-{d(4)}", f"+61 2 9{d(3)} {d(4)}", f"+61 4{d(2)} {d(3)} {d(3)}",
            f"+34 6{d(2)} {d(3)} {d(3)}", f"+39 3{d(2)} {d(3)} {d(4)}",
            f"+234 803 {d(3)} {d(4)}", f"+52 55 {d(4)} {d(4)}", f"+86 138 {d(4)} {d(4)}",
            f"+82 10-{d(4)}-{d(4)}"]
    return rng.choice(us if rng.random() < 0.55 else intl)


def make_address(rng: random.Random) -> tuple[str, str]:
    """A street address (with unit / city / postcode sometimes) and its city."""
    r = rng.random()
    if r < 0.6:
        num = str(rng.randint(1, 9999)) if rng.random() < 0.8 else str(rng.randint(10, 99999))
        addr = f"{num} {rng.choice(STREETS)} {rng.choice(US_SUFFIXES)}"
        if rng.random() < 0.35:
            addr += rng.choice([f", Apt {rng.randint(1, 40)}{rng.choice('ABCD')}",
                                f" Apt {rng.randint(1, 999)}", f", Suite {rng.randint(100, 999)}",
                                f", Unit {rng.randint(1, 30)}"])
        city, st = rng.choice(US_CITIES)
        if rng.random() < 0.7:
            addr += f", {city}, {st} {rng.randint(10000, 99999)}"
        elif rng.random() < 0.5:
            addr += f", {city}"
        return addr, city
    if r < 0.85:
        city = rng.choice(UK_CITIES)
        addr = f"{rng.randint(1, 250)} {rng.choice(STREETS)} {rng.choice(UK_SUFFIXES)}"
        if rng.random() < 0.7:
            pc = (f"{rng.choice(['LS', 'BS', 'S', 'NR', 'CF', 'YO'])}{rng.randint(1, 20)} "
                  f"{rng.randint(1, 9)}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}"
                  f"{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}")
            addr += f", {city} {pc}"
        return addr, city
    city = rng.choice(DE_CITIES)
    addr = f"{rng.choice(DE_STREETS)}{rng.choice(DE_SUFFIXES)} {rng.randint(1, 120)}"
    if rng.random() < 0.8:
        addr += f", {rng.randint(10000, 99999)} {city}"
    return addr, city


def _b62(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(n))


def make_secret(rng: random.Random) -> str:
    k = rng.randrange(9)
    if k == 0:
        return "sk-proj-" + _b62(rng, 40)
    if k == 1:
        return "sk_live_" + _b62(rng, 24)
    if k == 2:
        return "pk_live_" + _b62(rng, 24)
    if k == 3:
        return "ghp_" + _b62(rng, 36)
    if k == 4:
        return (f"xoxb-{rng.randint(10**10, 10**11)}-{rng.randint(10**11, 10**12)}-"
                + _b62(rng, 24))
    if k == 5:
        return "AKIA" + "".join(rng.choice(string.ascii_uppercase + "234567") for _ in range(16))
    if k == 6:
        return "eyJhbGciOiJIUzI1NiJ9." + _b62(rng, 48) + "." + _b62(rng, 43)
    if k == 7:  # AWS-style secret access key: 40 chars of base64
        return "".join(rng.choice(string.ascii_letters + string.digits + "/+") for _ in range(40))
    return _b62(rng, 32)


def make_password(rng: random.Random) -> str:
    words = ["Sunflower", "Tiger", "Maple", "Ocean", "Falcon", "Winter", "Copper", "Rocket"]
    return rng.choice(words) + str(rng.randint(10, 9999)) + rng.choice("!?#$%&*")


def make_account(rng: random.Random) -> str:
    return f"ACC-{rng.randint(10**5, 10**9 - 1):0{rng.choice([6, 8, 9])}d}"


def make_order(rng: random.Random) -> str:
    return f"ORD-{rng.randint(2019, 2026)}-{rng.randint(1000, 999999):0{rng.choice([4, 5, 6])}d}"


def make_ticket(rng: random.Random) -> str:
    return str(rng.randint(10**4, 10**7 - 1))


class Person:
    def __init__(self, rng: random.Random, exclude: set[str] = frozenset()):
        while True:
            culture = rng.choice(list(NAMES))
            firsts, lasts = NAMES[culture]
            self.first, self.last = rng.choice(firsts), rng.choice(lasts)
            if self.first not in exclude and self.last not in exclude:
                break
        # Chinese, Japanese, Korean and Vietnamese names are often written family name first.
        family_first = culture in ("zh", "ko", "vi") and rng.random() < 0.5
        self.full = f"{self.last} {self.first}" if family_first else f"{self.first} {self.last}"
        self.call = self.last if family_first else self.first  # how an agent addresses them
        f, l_ = _ascii(self.first).lower().replace("'", ""), _ascii(self.last).lower()
        l_ = l_.replace(" ", "").replace("'", "")
        local = rng.choice([f"{f}.{l_}", f"{f[0]}.{l_}", f"{f}{l_}{rng.randint(1, 99)}",
                            f"{l_}.{f}", f"{f}_{l_}", f"{f}{rng.randint(1970, 2005)}"])
        self.email = f"{local}@{rng.choice(EMAIL_DOMAINS)}"
        self.slug = f"{f}-{l_}"
        self.slugnd = f"{f}{l_}"


def make_url(rng: random.Random, p: Person) -> str:
    t = rng.choice(URL_TEMPLATES)
    return t.format(slug=p.slug, slugnd=p.slugnd, n4=rng.randint(1000, 9999),
                    token=_b62(rng, 33), token12=_b62(rng, 15).lower())


# --------------------------------------------------------------------------
# templates: {slot} inserts a labelled value; {{ }} is not used.

# slot -> entity type; slots not listed here are unlabelled (agent alias, product ...)
SLOT_ENTITY = {
    "name": "PERSON", "first": "PERSON", "call": "PERSON", "name2": "PERSON",
    "first2": "PERSON", "email": "EMAIL_ADDRESS", "email2": "EMAIL_ADDRESS",
    "phone": "PHONE_NUMBER", "phone2": "PHONE_NUMBER", "card": "CREDIT_CARD",
    "ssn": "US_SSN", "iban": "IBAN_CODE", "ip": "IP_ADDRESS", "url": "URL",
    "address": "STREET_ADDRESS", "city": "LOCATION", "account": "ACCOUNT_ID",
    "order": "ACCOUNT_ID", "ticket": "ACCOUNT_ID", "secret": "SECRET", "password": "SECRET",
}

USER_OPENERS = [
    "Hi, my name is {name} and I can't log into my {product} account since this morning.",
    "Hello, this is {name}. I was charged twice for my subscription this month.",
    "Hi there. {name} here, account {account}. My {product} stopped syncing yesterday.",
    "Good morning, I'm {name} and I need help with a refund for order {order}.",
    "Hey, I ordered a {product} two weeks ago (order {order}) and it still hasn't arrived.",
    "Hi, I need to update the billing details on my account. My name is {name}.",
    "Hello! I'm writing about ticket #{ticket}, nobody has replied for three days.",
    "Hi, I think someone else logged into my account. I'm {name}, email {email}.",
    "My API calls started failing with 401 errors after the update to version 3.2.",
    "Hi, I'd like to close my account and get a refund for the remaining months.",
    "Hello, our team can't get SSO working with {product}. Can someone help?",
    "I was told to contact you about case {ticket}. This is {name} from the accounting team.",
]

USER_PII = [
    "Sure, my email is {email} and the phone number on file should be {phone}.",
    "You can reach me at {phone} or by email at {email}.",
    "The card I used ends in the full number {card}, it's a personal card.",
    "I paid with {card}, expiry 09/27. Please refund it to the same card.",
    "For verification, my SSN is {ssn}.",
    "My social security number is {ssn} if you need it for the tax form.",
    "Please send the refund to my bank account instead: IBAN {iban}.",
    "My IBAN is {iban}, the account is under my name.",
    "The login attempts came from {ip}, that isn't my address.",
    "I'm connecting from {ip} through the office VPN and it keeps timing out.",
    "The shipping address should be {address}.",
    "I moved last month, my new address is {address}. Please update it.",
    "Here is the key we're using: {secret}. Is it still valid?",
    "Our integration sends the header Authorization: Bearer {secret} on every call.",
    "I pasted my key by mistake in the last message: {secret}. Can you revoke it?",
    "I reset it and my temporary password is {password}, but it still says invalid.",
    "My portfolio is at {url} if that helps to confirm who I am.",
    "I shared the screenshot here: {url}",
    "I'm travelling in {city} this week, so please don't call before 10am.",
    "The account is actually in my husband's name, {name2}. His email is {email2}.",
    "My colleague {name2} set it up originally, you can also call her at {phone2}.",
    "The order number is {order} and my account is {account}.",
    "I already opened ticket {ticket} last week about this.",
    "Please call me back at {phone}, I'm available after 3 PM.",
    "I live at {address}, the package was marked delivered but it's not here.",
    "I'm {name}, date of birth March 4, 1987, and my SSN is {ssn}.",
    "Could you send the invoice to {email}? Our accounts team is in {city}.",
]

AGENT_PII = [
    "Thanks, {call}! I can see your account {account}. Let me check the charges.",
    "Hi {call}, this is {agent} from {company} Support. I'm sorry about the trouble.",
    "Thank you {call}. I've confirmed the email on file is {email}.",
    "I've updated the phone number to {phone}, {call}. Anything else?",
    "Got it. I've escalated this as case {ticket} and a specialist will follow up.",
    "I've issued a refund for order {order}. It may take 5-7 business days, {call}.",
    "For security, I've revoked the key you shared ({secret}). Please never post keys in chat.",
    "The sign-ins from {ip} were blocked. I've also reset your sessions.",
    "I've changed the delivery address to {address}. The courier will try again tomorrow.",
    "Thanks {call}, I've noted the IBAN {iban} for the refund.",
    "Thanks for your patience, {call}. I've added {name2} as an authorised user.",
    "Hello {call}! Let me look into ticket #{ticket} right away.",
    "I can confirm we received the card ending {last4}. No need to share the full number.",
]

USER_FILLER = [
    "Thanks, that worked!",
    "It says 'Error E-4012: sync failed' when I open the app on Windows 11.",
    "I already tried reinstalling and clearing the cache, no luck.",
    "Okay, how long will that take?",
    "I'm on the Pro plan, it renewed on March 3 for $49.99.",
    "Is there a way to export all my data first?",
    "The app version is 5.2.1 and I'm using Chrome on a MacBook.",
    "I waited 30 minutes on the phone line yesterday before giving up.",
    "Great, thank you so much for the quick help.",
    "No, that's everything for today.",
    "Can you also check why the invoice total is $1,249.00 instead of $1,149.00?",
    "It happens every morning around 9:15 AM.",
    "The router light is blinking orange, is that normal?",
    "I turned two-factor authentication on last week, could that be the cause?",
    "Sorry, I'm not very technical. What is a cache?",
    "Yes, that's the right account.",
    "Will I get a confirmation email?",
    "We have 12 seats on the Business plan.",
    "The request ID in the error was 3f2c9a1e-7b4d-4e8f-9a6b-2d1c0e5f8a7b.",
    "Build 2024.11.3 (commit 9fceb02) crashes on startup.",
    "The installer fails with error 0x80070005 on my laptop.",
    "I bought it on 2024-03-15 and the receipt says 14:32.",
    "I have 2 devices and 15 GB of storage left.",
    "Our office connection is 10 Mbps down and 2 Mbps up.",
    "I'm on the Starter tier, 3 users, billed yearly at $299.",
]

AGENT_FILLER = [
    "I'm sorry to hear that. Let me take a look.",
    "Could you try signing out and back in, then let me know if the error persists?",
    "I've checked our status page and there's no outage at the moment.",
    "Thanks for your patience while I look into this.",
    "Refunds usually appear within 5-10 business days, depending on your bank.",
    "Please go to Settings > Billing > Payment methods and remove the old card.",
    "Is there anything else I can help you with today?",
    "That light means the firmware is updating. Please leave it plugged in for 10 minutes.",
    "I've sent a password reset link. It expires in 24 hours.",
    "Our team is available Monday to Friday, 8am to 6pm CET.",
    "You'll receive a confirmation by email within the hour.",
    "For security reasons I can't change that without verifying your identity first.",
    "Version 5.2.2 fixes that bug; the update rolls out on Thursday.",
    "I've applied a one-month credit of $49.99 to your account.",
    "Could you send me a screenshot of the error message?",
    "Have a great day!",
]

SYSTEM_PLAIN = [
    "You are a helpful, concise support agent for {company}. Never share internal notes.",
    "You are {agent}, a support assistant for {company}. Be polite and verify identity "
    "before making account changes.",
]

SYSTEM_PROFILE = [
    "You are a support agent for {company}. Customer profile: name {name}, email {email}, "
    "phone {phone}, account {account}, plan Pro.",
    "Support context for {agent}. Customer: {name} ({email}). Shipping address on file: "
    "{address}. Open order: {order}.",
]

_SLOT = re.compile(r"\{(\w+)\}")


def _fill(template: str, values: dict[str, str]) -> tuple[str, tuple[Span, ...]]:
    out: list[str] = []
    spans: list[Span] = []
    pos = 0
    length = 0
    for m in _SLOT.finditer(template):
        lit = template[pos:m.start()]
        out.append(lit)
        length += len(lit)
        slot = m.group(1)
        val = values[slot]
        ent = SLOT_ENTITY.get(slot)
        if ent is not None:
            spans.append(Span(length, length + len(val), ent, val))
        out.append(val)
        length += len(val)
        pos = m.end()
    out.append(template[pos:])
    return "".join(out), tuple(spans)


def _values(rng: random.Random) -> dict[str, str]:
    p = Person(rng, exclude=set(AGENT_ALIASES))
    p2 = Person(rng, exclude=set(AGENT_ALIASES) | {p.first, p.last})
    addr, _ = make_address(rng)
    card = make_card(rng)
    return {
        "name": p.full, "first": p.first, "call": p.call, "name2": p2.full, "first2": p2.first,
        "email": p.email, "email2": p2.email, "phone": make_phone(rng),
        "phone2": make_phone(rng), "card": card, "last4": card[-4:], "ssn": make_ssn(rng),
        "iban": make_iban(rng), "ip": make_ip(rng), "url": make_url(rng, p),
        "address": addr, "city": rng.choice(CITIES), "account": make_account(rng),
        "order": make_order(rng), "ticket": make_ticket(rng), "secret": make_secret(rng),
        "password": make_password(rng), "agent": rng.choice(AGENT_ALIASES),
        "company": COMPANY, "product": rng.choice(PRODUCTS),
    }


def generate_conversation(rng: random.Random, idx: int) -> EvalConversation:
    v = _values(rng)
    msgs: list[EvalMessage] = []
    r = rng.random()
    if r < 0.2:
        msgs.append(EvalMessage("system", *_fill(rng.choice(SYSTEM_PROFILE), v)))
    elif r < 0.5:
        msgs.append(EvalMessage("system", *_fill(rng.choice(SYSTEM_PLAIN), v)))
    n_pairs = rng.randint(2, 4)
    for turn in range(n_pairs):
        parts = [rng.choice(USER_OPENERS) if turn == 0 else
                 rng.choice(USER_PII if rng.random() < 0.7 else USER_FILLER)]
        if rng.random() < 0.25:
            parts.append(rng.choice(USER_PII))
        for _ in range(rng.choice([0, 1, 1, 2])):
            parts.insert(rng.randint(0, len(parts)), rng.choice(USER_FILLER))
        msgs.append(EvalMessage("user", *_fill(" ".join(parts), v)))
        parts = [rng.choice(AGENT_PII if rng.random() < 0.5 else AGENT_FILLER)]
        for _ in range(rng.choice([0, 1, 1, 2])):
            parts.append(rng.choice(AGENT_FILLER))
        msgs.append(EvalMessage("assistant", *_fill(" ".join(parts), v)))
    return EvalConversation(f"conv-{idx:05d}", tuple(msgs))


def generate(n: int, seed: int = 0) -> list[EvalConversation]:
    """`n` labelled conversations, identical for the same (n, seed)."""
    rng = random.Random(seed)
    return [generate_conversation(rng, i) for i in range(n)]


# Hand-written messages, not from the templates above and not used to tune the
# scrubber: a check of PERSON recall on phrasing the generator never produces.
# Each entry: (text, names in it). Lowercase and all-caps names are included on
# purpose (spaCy's NER, and so presidio and curate.pii, rarely finds them).
HANDWRITTEN_NAMES: list[tuple[str, list[str]]] = [
    ("Per our call, Rahul Mehta approved the exception.", ["Rahul Mehta"]),
    ("Can you ask Svetlana to resend the invoice?", ["Svetlana"]),
    ("I've cc'd my accountant, Giovanni Bellini, on this thread.", ["Giovanni Bellini"]),
    ("The package was signed for by Adebayo Okoro at the front desk.", ["Adebayo Okoro"]),
    ("Nkechi and I share the account, she handles billing.", ["Nkechi"]),
    ("We escalated to your manager Ms. Lindström last Friday.", ["Lindström"]),
    ("Please address the letter to Dr. Hiroshi Yamada at the Osaka office.",
     ["Hiroshi Yamada"]),
    ("Hey it's dave, my wife jenny set this up", ["dave", "jenny"]),
    ("The refund should go to Carlos Eduardo dos Santos.", ["Carlos Eduardo dos Santos"]),
    ("Thabo Nkosi from the Johannesburg office will call you.", ["Thabo Nkosi"]),
    ("Talked with your colleague Priyanka earlier, she said 48 hours.", ["Priyanka"]),
    ("ANA MARIA POPESCU is the name on the card.", ["ANA MARIA POPESCU"]),
    ("Kind regards,\nEwa Zielińska\nHead of Finance", ["Ewa Zielińska"]),
    ("Is Tomás still handling our case? He promised a callback.", ["Tomás"]),
    ("I tried to reach Mariam Tahir twice but her line was busy.", ["Mariam Tahir"]),
    ("Forwarding this on behalf of Liang Qiu, who is out sick.", ["Liang Qiu"]),
    ("Both Ahmed and Ingrid lost access after the migration.", ["Ahmed", "Ingrid"]),
    ("Olumide said you would waive the fee.", ["Olumide"]),
    ("Could Dmitri Volkov get admin rights too?", ["Dmitri Volkov"]),
    ("The invoice lists Beatriz Carvalho as the contact, that's wrong.", ["Beatriz Carvalho"]),
    ("Yesterday Kwame Asante from IT reset the router for us.", ["Kwame Asante"]),
    ("Please remove Jasper van der Berg from the billing emails.", ["Jasper van der Berg"]),
    ("My son Mateo uses the tablet, can you set up parental controls?", ["Mateo"]),
    ("Signed: Aroha Ngata", ["Aroha Ngata"]),
    ("Our CTO, Sung-min Cho, wants a call about SSO.", ["Sung-min Cho"]),
    ("Nobody told Fiona about the outage, she found out from a customer.", ["Fiona"]),
    ("Send it attn. Rajesh Khanna, 3rd floor.", ["Rajesh Khanna"]),
    ("I'm writing for my mother, Gertrude Hoffmann, who is 84.", ["Gertrude Hoffmann"]),
    ("Is Mr Ogunleye's account linked to mine?", ["Ogunleye"]),
    ("That agent, Bogdan I think, hung up on me.", ["Bogdan"]),
]


def handwritten_conversations() -> list[EvalConversation]:
    """HANDWRITTEN_NAMES as one-message conversations with PERSON spans."""
    out = []
    for i, (text, names) in enumerate(HANDWRITTEN_NAMES):
        spans = []
        for name in names:
            start = text.index(name)
            spans.append(Span(start, start + len(name), "PERSON", name))
        msg = EvalMessage("user", text, tuple(sorted(spans, key=lambda s: s.start)))
        out.append(EvalConversation(f"hand-{i:03d}", (msg,)))
    return out


# --------------------------------------------------------------------------
# data this project did not generate: the hand-written set and real corpora

DATA_DIR = Path(__file__).resolve().parent / "data"
_ROLES = {"S": "system", "U": "user", "A": "assistant", "T": "tool"}


@dataclass(frozen=True)
class Planted:
    """A hand-written conversation: its turns, the values that must go, the strings that must stay."""

    id: str
    locale: str
    messages: tuple[dict, ...]
    pii: tuple[tuple[str, str], ...]  # (type, value)
    keep: tuple[str, ...]


def load_handwritten(path: Path | None = None) -> list[Planted]:
    """Parse benchmarks/data/pii_handwritten.txt (format in its header)."""
    path = path or DATA_DIR / "pii_handwritten.txt"
    out: list[Planted] = []
    cur = None
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("=== "):
            if cur:
                out.append(Planted(cur[0], cur[1], tuple(cur[2]), tuple(cur[3]), tuple(cur[4])))
            cid, locale = line[4:].split()
            cur = (cid, locale, [], [], [])
        elif cur is None:
            raise ValueError(f"{path}:{n}: text before the first '=== id locale' line")
        elif line[:3] in ("S: ", "U: ", "A: ", "T: "):
            cur[2].append({"role": _ROLES[line[0]], "content": line[3:].replace("\\n", "\n")})
        elif line.startswith("PII "):
            typ, value = line[4:].split(": ", 1)
            cur[3].append((typ, value))
        elif line.startswith("KEEP: "):
            cur[4].append(line[6:])
        else:
            raise ValueError(f"{path}:{n}: cannot parse {line[:40]!r}")
    if cur:
        out.append(Planted(cur[0], cur[1], tuple(cur[2]), tuple(cur[3]), tuple(cur[4])))
    for c in out:
        text = "\n".join(m["content"] for m in c.messages)
        for typ, v in c.pii:
            if v not in text:
                raise ValueError(f"{path}: {c.id}: planted {typ} {v!r} is not in the text")
        for v in c.keep:
            if v not in text:
                raise ValueError(f"{path}: {c.id}: control {v!r} is not in the text")
    return out


def load_chatterbot() -> list[list[dict]]:
    """chatterbot-corpus (PyPI) English conversations as user/assistant turns."""
    import chatterbot_corpus
    import yaml

    root = Path(chatterbot_corpus.__file__).parent / "data" / "english"
    out = []
    for f in sorted(root.glob("*.yml")):
        for conv in yaml.safe_load(f.read_text(encoding="utf-8")).get("conversations", []):
            turns = [str(t) for t in conv if str(t).strip()]
            if turns:
                out.append([{"role": "user" if i % 2 == 0 else "assistant", "content": t}
                            for i, t in enumerate(turns)])
    return out


def load_chitchat(limit: int | None = None) -> list[list[dict]]:
    """chitchat-dataset (PyPI, BYU PCC): each sender's run of messages is one turn."""
    import json

    import chitchat_dataset

    data = json.loads((Path(chitchat_dataset.__file__).parent / "dataset.json").read_text())
    out = []
    for key in sorted(data)[:limit]:
        turns = [" ".join(u["text"] for u in run) for run in data[key]["messages"]]
        turns = [t for t in turns if t.strip()]
        if turns:
            out.append([{"role": "user" if i % 2 == 0 else "assistant", "content": t}
                        for i, t in enumerate(turns)])
    return out


def entity_totals(convs: list[EvalConversation]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for c in convs:
        for m in c.messages:
            for s in m.spans:
                totals[s.entity] = totals.get(s.entity, 0) + 1
    return dict(sorted(totals.items()))


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    convs = generate(n, seed)
    for c in convs[:5]:
        print(f"== {c.id}")
        for m in c.messages:
            print(f"[{m.role}] {m.content}")
            for s in m.spans:
                print(f"    {s.entity:<15} {m.content[s.start:s.end]!r}")
    texts = [m.content for c in convs for m in c.messages]
    print(f"{len(convs)} conversations, {len(texts)} texts, "
          f"mean {sum(map(len, texts)) / len(texts):.0f} chars")
    print(entity_totals(convs))
