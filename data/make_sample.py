#!/usr/bin/env python3
"""Write the shipped sample of raw customer-support transcripts to data/sample/.

Deterministic (one seeded ``random.Random``), stdlib only, no network. Running
it again rewrites every file byte for byte. The sample is for a fictional
company, Northwind Telecom; every person, number and key in it is made up.

What the sample deliberately contains (duplicates, near-duplicates, junk, PII,
broken records, synthetic records) is listed in data/sample/PLANTED.md, and
every PII value that ends up in a file is listed in data/sample/planted_pii.json,
both written by this script so they cannot drift from the data.

    python data/make_sample.py
"""
from __future__ import annotations

import csv
import gzip
import io
import json
import random
import re
import string
import sys
import unicodedata
from collections import Counter
from pathlib import Path

SEED = 20240611
OUT = Path(__file__).resolve().parent / "sample"
TXT_DIR = OUT / "transcripts"

rng = random.Random(SEED)


def pick(seq):
    return seq[rng.randrange(len(seq))]


def sample(seq, k):
    return rng.sample(list(seq), k)


# --------------------------------------------------------------------------- #
# Fake PII values. Each one is recorded when a template actually uses it; the
# final planted_pii.json keeps only values that are present in a written file.
# --------------------------------------------------------------------------- #

PII_SEEN: dict[str, str] = {}  # value -> type, in first-use order


def reg(value: str, kind: str) -> str:
    PII_SEEN.setdefault(value, kind)
    return value


FIRST = [
    "Maria", "James", "Aisha", "Wei", "Olivia", "Daniel", "Priyanka", "Tomás",
    "Grace", "Kwame", "Hannah", "Mateo", "Yuki", "Fatima", "Liam", "Sofia",
    "Ethan", "Chloe", "Omar", "Ingrid", "Lucas", "Nadia", "Samuel", "Zoë",
    "Björn", "Amara", "Connor", "Mei", "Diego", "Rachel", "Siobhán", "Arjun",
]
LAST = [
    "Gonzalez", "Whitaker", "Okafor", "Zhang", "Brennan", "Kowalski", "Raman",
    "Hernández", "Lindqvist", "Mensah", "Fischer", "Alvarez", "Tanaka", "Haddad",
    "O'Connor", "Rossi", "Patel", "Dubois", "Nakamura", "Schneider", "Morales",
    "Novak", "Adeyemi", "Carter", "Larsen", "Moreau", "Kim", "Duarte",
]
STREETS = [
    "Elm Street", "Maple Avenue", "Oak Lane", "Harbor View Road", "Cedar Court",
    "Pinecrest Drive", "Willow Way", "Lakeshore Boulevard", "Chestnut Street",
    "Birchwood Terrace", "Mill Road", "Sunset Avenue", "Juniper Place",
]
CITIES = [
    ("Springfield", "IL", "62704"), ("Portland", "OR", "97205"),
    ("Columbus", "OH", "43215"), ("Madison", "WI", "53703"),
    ("Austin", "TX", "78704"), ("Raleigh", "NC", "27601"),
    ("Boise", "ID", "83702"), ("Tucson", "AZ", "85719"),
    ("Albany", "NY", "12207"), ("Fresno", "CA", "93721"),
]
MAIL_DOMAINS = ["example.com", "example.org", "example.net", "mail.example.com", "inbox.example.org"]
US_AREA = ["415", "212", "312", "206", "503", "617", "702", "919", "512", "608"]


def ascii_fold(s: str) -> str:
    decomposed = unicodedata.normalize("NFKD", s)
    return "".join(ch for ch in decomposed if ch.isascii() and ch.isalnum())


def new_email(first: str, last: str) -> str:
    f, l = ascii_fold(first).lower(), ascii_fold(last).lower()
    local = pick([
        f"{f}.{l}", f"{f[0]}{l}", f"{f}{l}{rng.randint(1, 99)}", f"{f}_{l}",
        f"{l}.{f[0]}", f"{f}.{l}{rng.randint(70, 99)}",
    ])
    return f"{local}@{pick(MAIL_DOMAINS)}"


def new_phone() -> str:
    a = pick(US_AREA)
    n = f"{rng.randint(100, 199):03d}"[1:]  # 555-01xx: the fictional range
    line = f"01{n}"
    style = rng.randrange(9)
    if style == 0:
        return f"({a}) 555-{line}"
    if style == 1:
        return f"{a}-555-{line}"
    if style == 2:
        return f"+1 {a} 555 {line}"
    if style == 3:
        return f"{a}.555.{line}"
    if style == 4:
        return f"+1-{a}-555-{line}"
    if style == 5:
        return f"+44 20 7946 0{rng.randint(100, 999)}"  # UK drama range
    if style == 6:
        return f"+44 7700 900{rng.randint(100, 999)}"
    if style == 7:
        return f"+49 30 {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}"
    return f"+61 491 570 {rng.randint(100, 999)}"  # AU fictional mobile range


def new_address() -> str:
    num = rng.randint(12, 9899)
    street = pick(STREETS)
    city, st, zipc = pick(CITIES)
    style = rng.randrange(3)
    if style == 0:
        return f"{num} {street}, {city}"
    if style == 1:
        return f"{num} {street}, Apt {rng.randint(1, 30)}{pick('ABCD')}, {city}, {st} {zipc}"
    return f"{num} {street}, {city}, {st} {zipc}"


def luhn_complete(prefix: str, length: int) -> str:
    digits = prefix + "".join(str(rng.randrange(10)) for _ in range(length - len(prefix) - 1))
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:  # these get doubled once the check digit is appended
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return digits + str((10 - total % 10) % 10)


def luhn_ok(number: str) -> bool:
    ds = [int(c) for c in number if c.isdigit()]
    s = 0
    for i, d in enumerate(reversed(ds)):
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        s += d
    return s % 10 == 0


def new_card() -> str:
    kind = rng.randrange(4)
    if kind == 0:
        n = luhn_complete("4", 16)
    elif kind == 1:
        n = luhn_complete(str(rng.randint(51, 55)), 16)
    elif kind == 2:
        n = luhn_complete(pick(["34", "37"]), 15)
        return pick([f"{n[:4]} {n[4:10]} {n[10:]}", n])
    else:
        n = luhn_complete("6011", 16)
    style = rng.randrange(3)
    if style == 0:
        return " ".join(n[i:i + 4] for i in range(0, 16, 4))
    if style == 1:
        return "-".join(n[i:i + 4] for i in range(0, 16, 4))
    return n


def new_ssn(spaced: bool = False) -> str:
    while True:
        area = rng.randint(1, 899)
        if area == 666:
            continue
        group, serial = rng.randint(1, 99), rng.randint(1, 9999)
        s = f"{area:03d}-{group:02d}-{serial:04d}"
        if s in ("078-05-1120", "123-45-6789", "219-09-9999"):
            continue
        return s.replace("-", " ") if spaced else s


def iban_check(country: str, bban: str) -> str:
    rearranged = bban + country + "00"
    num = "".join(str(int(c, 36)) for c in rearranged)
    return f"{98 - int(num) % 97:02d}"


def new_iban() -> str:
    c = pick(["DE", "GB", "NL", "DE"])
    if c == "DE":
        bban = "".join(str(rng.randrange(10)) for _ in range(18))
    elif c == "GB":
        bban = pick(["NWBK", "BARC", "LOYD", "MIDL"]) + "".join(str(rng.randrange(10)) for _ in range(14))
    else:
        bban = pick(["ABNA", "INGB", "RABO"]) + "".join(str(rng.randrange(10)) for _ in range(10))
    iban = c + iban_check(c, bban) + bban
    if rng.random() < 0.5:
        return " ".join(iban[i:i + 4] for i in range(0, len(iban), 4))
    return iban


def iban_ok(iban: str) -> bool:
    s = iban.replace(" ", "")
    s = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in s)) % 97 == 1


def new_ip() -> str:
    net = pick(["203.0.113", "198.51.100", "192.0.2", "203.0.113"])
    return f"{net}.{rng.randint(2, 254)}"


def new_api_key() -> str:
    alphabet = string.ascii_letters + string.digits
    return "sk-live-" + "".join(pick(alphabet) for _ in range(40))


def new_acc() -> str:
    return f"ACC-{rng.randint(10_000_000, 99_999_999)}"


def new_ord() -> str:
    return f"ORD-{pick(['2023', '2024', '2024'])}-{rng.randint(100_000, 999_999)}"


def new_tkt() -> str:
    return f"TKT-{rng.randint(1_000_000, 9_999_999)}"


class Profile:
    """A fake customer; values are registered only when a template uses them."""

    def __init__(self, customer_id: str | None = None):
        self.first, self.last = pick(FIRST), pick(LAST)
        self.name = f"{self.first} {self.last}"
        self.email = new_email(self.first, self.last)
        self.phone = new_phone()
        self.address = new_address()
        self.acc = new_acc()
        self.customer_id = customer_id


PII_KEYS = {
    "name": "person", "email": "email", "phone": "phone", "phone2": "phone",
    "address": "street_address", "address2": "street_address", "card": "credit_card",
    "ssn": "us_ssn", "iban": "iban", "ip": "ipv4", "ip2": "ipv4", "apikey": "api_key",
    "acc": "account_number", "ord": "order_number", "tkt": "ticket_number",
    "email2": "email",
}

# --------------------------------------------------------------------------- #
# Non-PII slot values.
# --------------------------------------------------------------------------- #

MOBILE_PLANS = ["Flex 5GB", "Flex 15GB", "Unlimited Essentials", "Unlimited Plus",
                "Unlimited Premium", "Family Share 4", "Prepaid Go 10"]
HOME_PLANS = ["Fiber 300", "Fiber 500", "Fiber Gig", "Home Basic 100", "Home Plus 250"]
ROUTERS = ["NW-AX1800", "NW-AX3000", "Northwind Hub 6", "Northwind Hub 5 Pro", "NW-Mesh Duo", "NW-Mesh Trio"]
DEVICES = ["iPhone 15", "Pixel 8", "Galaxy S24", "iPhone 13", "Moto G Power", "Galaxy A54", "Pixel 7a", "iPhone SE"]
COUNTRIES = ["Spain", "Mexico", "Japan", "Canada", "Italy", "Germany", "Thailand", "Portugal",
             "the UK", "France", "Brazil", "Greece", "Iceland", "Costa Rica"]
APPS = ["the Northwind app", "the My Northwind app", "the My Northwind portal",
        "northwind.example.com/account", "the Account section of the Northwind app"]
FEES = ["Network Access Fee", "Regulatory Recovery Charge", "Late Payment Fee", "Equipment Rental Fee",
        "Paper Bill Fee", "Activation Fee", "Device Protection charge"]
FEE_REASONS = ["your promotional bundle expired", "a rental modem was registered on your account",
               "paperless billing was switched off", "a payment arrived after the due date",
               "device protection was added at activation"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
AREAS = ["the Riverside area", "the north side of town", "Oak Hills", "the downtown area",
         "Maple Grove", "your neighborhood", "the Lakeview district", "Cedar Park"]
LIGHTS = ["blinking orange", "solid red", "flashing white", "off completely", "blinking blue", "solid amber"]
CAUSES = ["a fiber cut from roadwork", "a failed power supply in a street cabinet",
          "storm damage to an overhead line", "planned maintenance that overran",
          "a faulty line card at the local exchange", "a software update on our network equipment"]
ERRORS = ["SIM not provisioned", "No service", "PDP authentication failure", "Invalid SIM",
          "Registration failed", "Emergency calls only"]


def money(lo: float, hi: float) -> str:
    return f"${rng.uniform(lo, hi):.2f}"


def a_date() -> str:
    return f"{pick(MONTHS)} {rng.randint(1, 28)}"


class Slots(dict):
    """Per-conversation slot values, created on first use so they stay consistent."""

    def __init__(self, profile: Profile | None = None):
        super().__init__()
        self.profile = profile

    def __getitem__(self, key):
        value = super().__getitem__(key)
        if key in PII_KEYS:
            reg(value, PII_KEYS[key])
        return value

    def __missing__(self, key):
        p = self.profile
        makers = {
            "amount": lambda: money(12, 180), "amount2": lambda: money(30, 140),
            "promo": lambda: f"${rng.choice([5, 10, 15, 20, 25])}/month",
            "date": a_date, "date2": a_date, "fee": lambda: pick(FEES),
            "fee_reason": lambda: pick(FEE_REASONS), "days": lambda: pick(["3 to 5", "5 to 7", "7 to 10", "2 to 3"]),
            "n_months": lambda: str(rng.randint(2, 6)), "last4": lambda: f"{rng.randint(0, 9999):04d}",
            "plan_old": lambda: pick(MOBILE_PLANS), "plan_new": lambda: pick(MOBILE_PLANS),
            "home_old": lambda: pick(HOME_PLANS), "home_new": lambda: pick(HOME_PLANS),
            "price": lambda: f"${rng.choice([25, 35, 45, 55, 65, 75, 85, 95])}",
            "price2": lambda: f"${rng.choice([30, 40, 50, 60, 70, 80, 90])}",
            "router": lambda: pick(ROUTERS), "device": lambda: pick(DEVICES),
            "country": lambda: pick(COUNTRIES), "pass_price": lambda: f"${rng.choice([5, 8, 10, 12, 15])}",
            "speed": lambda: str(rng.choice([300, 500, 940, 100, 250])),
            "speed_got": lambda: str(rng.choice([12, 25, 40, 60, 8, 90])),
            "hours": lambda: pick(["two", "three", "four", "six", "24"]),
            "eta": lambda: f"{rng.randint(2, 10)}:{pick(['00', '15', '30', '45'])} PM",
            "down_at": lambda: f"{rng.randint(5, 11)}:{pick(['00', '10', '20', '30', '40', '50'])} AM",
            "years": lambda: pick(["two", "three", "five", "eight", "ten", "12"]),
            "app": lambda: pick(APPS), "area": lambda: pick(AREAS), "light": lambda: pick(LIGHTS),
            "cause": lambda: pick(CAUSES), "error": lambda: pick(ERRORS),
            "gb": lambda: str(rng.choice([2, 5, 10, 15, 20, 50])), "gb_used": lambda: str(rng.choice([4, 7, 12, 18, 23])),
            "ssid": lambda: f"Northwind-{rng.randint(1000, 9999)}", "pin_len": lambda: pick(["four", "six"]),
            "window": lambda: pick(["8 AM and 12 PM", "12 PM and 4 PM", "1 PM and 5 PM", "9 AM and 1 PM"]),
            "weekday": lambda: pick(["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]),
            "etf": lambda: money(40, 260), "port_pin": lambda: f"{rng.randint(0, 999999):06d}",
            "carrier": lambda: pick(["Bluewave Mobile", "Crestline Wireless", "Summit Cellular", "Harbor Telecom"]),
            # PII
            "name": lambda: p.name if p else f"{pick(FIRST)} {pick(LAST)}",
            "email": lambda: p.email if p else new_email(pick(FIRST), pick(LAST)),
            "email2": lambda: new_email(pick(FIRST), pick(LAST)),
            "phone": lambda: p.phone if p else new_phone(), "phone2": new_phone,
            "address": lambda: p.address if p else new_address(), "address2": new_address,
            "acc": lambda: p.acc if p else new_acc(), "ord": new_ord, "tkt": new_tkt,
            "card": new_card, "ssn": lambda: new_ssn(spaced=rng.random() < 0.25), "iban": new_iban, "ip": new_ip, "ip2": new_ip,
            "apikey": new_api_key,
        }
        value = makers[key]()
        self[key] = value
        return value


def fill(template: str, slots: Slots) -> str:
    return template.format_map(slots)


# --------------------------------------------------------------------------- #
# Conversation content: generic pieces and one block per support topic.
# --------------------------------------------------------------------------- #

ACK = [
    "Thanks for reaching out to Northwind Telecom.",
    "Thanks for contacting Northwind support; I can help with {phrase}.",
    "I'm sorry for the trouble, and I'm glad you reached out.",
    "Thanks for getting in touch about {phrase}.",
    "I understand how frustrating this can be, so let's get it sorted out.",
    "Happy to help with {phrase}.",
    "Thanks for your message; I can definitely look into {phrase} for you.",
    "Sorry about the hassle.",
    "Thank you for your patience while I pulled up your account.",
    "Good question, and thanks for checking with us first.",
    "Thanks for letting us know.",
    "Hi there, thanks for contacting Northwind.",
    "Hello, and thank you for choosing Northwind Telecom.",
    "Thanks for the details, that makes this much easier to look into.",
    "",
]
TRANSITION = [
    "Thanks for confirming.", "Got it, thank you.", "Perfect, that helps.",
    "Thanks, that's exactly what I needed.", "Understood.", "Thanks for checking that.",
    "Okay, I see it now.", "Great, thank you for the details.", "All right.",
    "Thank you, that narrows it down.", "",
]
CLOSE = [
    "Is there anything else I can help you with today?",
    "Let me know if anything else comes up.",
    "If you run into any other issues, just reply to this chat.",
    "Feel free to reach back out if you need anything else.",
    "Have a great rest of your day!",
    "Thanks again for being a Northwind customer.",
    "Anything else I can do for you?",
    "I'll keep this case open for 48 hours in case you need us.",
    "You'll also get an e-mail with a summary of today's conversation.",
    "Is there anything else on your account I can check while we're here?",
]
THANKS = [
    "Thanks, that's all I needed.", "Great, thank you so much!", "ok thanks",
    "Perfect, appreciate the help.", "That worked, thanks!", "Thank you, have a good day.",
    "Awesome, thanks for sorting that out.", "Alright, thanks.", "cool, thanks for the quick help",
    "Thanks. That's everything for now.", "Much appreciated, you've been very helpful.",
    "Brilliant, thanks a lot.", "Okay great. Thank you!",
]
WELCOME = ["You're welcome! {close}", "My pleasure. {close}", "Glad I could help. {close}",
           "Anytime! {close}", "You're very welcome. {close}", "Happy to help. {close}",
           "Glad that's sorted. {close}"]
PREFACE = ["", "", "", "Hi, ", "Hello, ", "Hey, ", "Good morning. ", "Hi there. ", "hello ",
           "Good afternoon, ", "Hi team, ", "Evening. "]
STEP_INTRO = ["Here's what to do:", "Please try these steps:", "Here's the quickest way:",
              "Follow these steps and let me know where you get stuck:", "Here's how:",
              "Could you try the following?"]
LOOKUP = [
    "I've pulled up your account.", "Let me take a look at that for you.",
    "I've checked the notes on your account.", "One moment while I check. Okay, I can see what's happening.",
    "I've had a look at the history on your line.",
]
EXTRA_SENTENCES = [
    "I've also added a note to your account so the next agent can see this.",
    "Just so you know, this won't change the end date of your current agreement.",
    "You can always check the status yourself in the Northwind app under Support.",
    "If anything looks off on your next bill, reply to this thread and we'll fix it.",
    "Our team is available around the clock if you need us again.",
]

# One block per support topic. A topic has intents; one intent is a coherent
# thread (what the customer opens with, what the agent finds, what the agent asks
# and the answers that fit, how it is resolved; ``steps=True`` where the topic's
# numbered how-to list fits). ``extra`` sentences and
# ``followups`` are neutral enough for every intent of the topic. An answer given
# as (text, resolution) brings its own resolution.
TOPICS: dict[str, dict] = {}

_ASK_CARD_OR_CREDIT = (
    "Would you prefer the money back on your card, or applied as a credit to your next bill?", [
        ("Back on the card please.",
         "I've released the refund of {amount} to your card; it should reach you within {days} business days."),
        ("Just put it on my bill, that's easier.",
         "I've applied {amount} as a credit to your account, and you'll see it on your bill dated {date2}."),
    ])
_ASK_CARD_ACTIVE = (
    "Is the card you originally paid with still active?", [
        ("Yes, same card, nothing has changed.",
         "I've released the refund of {amount} to that card, and it should show within {days} business days."),
        ("The card expired last month, I have a new one now.",
         "Because the card has expired, the bank will usually forward the refund to your new card automatically; if not, they'll return it to us and we'll mail you a check instead."),
    ])

TOPICS["billing"] = dict(
    phrase=["the unexpected charge", "your bill", "the extra charge on your statement", "this billing issue"],
    intents=[
        dict(
            open=[
                "I was charged {amount} twice on {date} and I only have one line with you.",
                "I just got my statement and there is a {amount} charge dated {date} that I don't recognize.",
                "Why do I see two payments of {amount} to Northwind in my bank app? I only paid once.",
            ],
            diag=[
                "I can see two charges of {amount} posted on {date}; the second one is a duplicate authorization from our payment processor.",
                "It looks like the autopay attempt on {date} failed once and was retried, which is why the amount shows up twice in your banking app.",
                "There was a processing error on {date} that charged some customers twice, and your account is one of them.",
            ],
            ask=[
                ("Could you confirm the last four digits of the card or bank account the payment came from?", [
                    "It ends in {last4}.", "I think it was the card ending {last4}.", "It's my bank account, ending {last4}.",
                ]),
                ("Can you tell me whether the second charge shows as pending or posted in your bank app?", [
                    ("It still says pending on my side.",
                     "Pending duplicates usually fall off automatically within {days} business days; if it posts instead, we'll refund it without you having to call."),
                    ("Both say posted.",
                     "I've submitted a refund of the duplicate {amount} to the card, which takes {days} business days to appear."),
                    "Pending, but it's been like that for three days.",
                ]),
            ],
            resolve=[
                "I've submitted a refund of the duplicate {amount}, and it will go back to the original payment method within {days} business days.",
                "I've credited the duplicate {amount} to your account, so it will come off your next bill.",
            ],
        ),
        dict(
            open=[
                "My bill this month is {amount} but it's usually around {amount2}. Can you explain why it went up?",
                "my bill doubled this month?? it says {amount} and I haven't changed anything",
                "I've been a customer for {years} years and this is the first time my bill jumped like this, it's {amount} now.",
            ],
            diag=[
                "Looking at your account, the increase comes from your promotional discount of {promo} ending on {date}.",
                "Your latest statement includes a partial-month charge because your plan changed mid-cycle on {date}, so you're seeing two prorated amounts.",
                "The statement you're looking at covers two billing periods because of the change in your bill date, so it's larger than usual.",
            ],
            ask=[
                ("Would you like me to walk you through the line items, or should I go straight to looking for a discount or adjustment?", [
                    "Just fix it please, I don't need the breakdown.", "Go straight to the adjustment.",
                    ("A quick breakdown would be nice, then fix it.",
                     "Your bill has three parts: the plan itself, taxes and surcharges, and one-time charges, and the one-time section is where the difference is. I've added a one-time courtesy credit of {amount2} to balance it out."),
                ]),
                ("Did you make any changes to your plan or add any services in the last two months?", [
                    "No, nothing at all.", "I added a line for my son, but that shouldn't double it.", "Not that I remember.",
                ]),
            ],
            resolve=[
                "I've reapplied the loyalty discount of {promo} for the next 12 months, so your monthly total goes back down.",
                "I've added a one-time courtesy credit of {amount2}, which will show on your next statement.",
                "I've spread the extra charge over your next three bills, so you won't have to pay it all at once.",
            ],
        ),
        dict(
            open=[
                "There's a charge on my statement called '{fee}' that I never agreed to.",
                "Can someone explain the {fee} on my latest invoice? Nobody told me about it.",
            ],
            diag=[
                "The {fee} is a monthly charge that was added when {fee_reason}.",
                "I've reviewed your last three statements, and the {fee} started on {date}, when {fee_reason}.",
            ],
            ask=[
                ("Do you remember agreeing to this when you last visited a store or called us?", [
                    ("No, I never asked for that. I'd like it removed.",
                     "I've removed the {fee} going forward and credited the last {n_months} months of it, for a total of {amount2}."),
                    ("I definitely didn't agree to anything like that, the store rep never mentioned it.",
                     "I've removed the {fee} and credited everything you were charged for it, {amount2} in total."),
                    "Maybe? I don't remember, but I don't want it.",
                ]),
            ],
            resolve=[
                "I've removed the {fee} going forward and credited the last {n_months} months of it, for a total of {amount2}.",
            ],
        ),
        dict(
            open=[
                "Why am I being billed for {plan_new} when I'm on {plan_old}?",
                "My bill says {plan_new} but I never switched from {plan_old}.",
            ],
            diag=[
                "I can see a change to {plan_new} was requested on {date}, and it looks like it was applied to your line by mistake.",
                "Your line was moved to {plan_new} on {date} during a system migration, which shouldn't have happened.",
            ],
            ask=[
                ("Would you like to go back to {plan_old}, or keep {plan_new} now that it's there?", [
                    ("Back to {plan_old} please.",
                     "I've switched your line back to {plan_old} and credited the difference of {amount2}."),
                    ("What's the difference in price?",
                     "{plan_new} is {price2} a month compared with {price} for {plan_old}; I've put you back on {plan_old} for now and credited the difference of {amount2}."),
                ]),
            ],
            resolve=["I've switched your line back to {plan_old} and credited the difference of {amount2}."],
        ),
    ],
    extra=[
        "I've also added a note under ticket {tkt} so any agent can see what we agreed today.",
        "You don't need to do anything else on your side.",
        "You'll see the adjustment under Billing > Adjustments in {app} within the hour.",
        "I'm sorry for the confusion this caused.",
    ],
    followups=[
        ("Will this affect my credit or autopay?", [
            "No, billing adjustments don't affect your credit, and autopay will simply charge the lower amount next cycle.",
            "Autopay stays on as it is; it will pick up the adjusted balance automatically."]),
        ("Can I get that in writing?", [
            "Of course. I've sent a summary of today's adjustment to the e-mail on file, and it references ticket {tkt}.",
            "Yes, you'll receive a written confirmation by e-mail within the hour, and the change is also visible under Billing > Adjustments in {app}."]),
        ("How do I stop this from happening again?", [
            "You can set a bill alert in {app} for any amount over a limit you choose, so a surprise like this gets flagged before the due date.",
            "I'd suggest enabling bill notifications in {app}; you'll get a text before each charge so nothing surprises you."]),
    ],
)

TOPICS["refund"] = dict(
    phrase=["your refund", "the return", "getting your money back", "the refund request"],
    intents=[
        dict(
            open=[
                "I returned my {router} on {date} and still haven't received my refund of {amount}.",
                "Where is my refund?? It's been three weeks since I returned the equipment.",
                "I'd like a refund for the {device} I sent back, it was defective out of the box.",
            ],
            diag=[
                "I can see the return was scanned at our warehouse on {date}, but the refund was never released, which is our mistake.",
                "Our records show the item arrived, but the serial number didn't match the one on your account, which put the refund on hold.",
                "The return is logged, but the refund is still waiting for the warehouse to confirm the condition of the item.",
            ],
            ask=[
                ("Could you share the tracking number from the return label, or the date you dropped it off?", [
                    "I dropped it off at the shipping store on {date}, I still have the receipt.",
                    "I don't have the tracking number anymore, but it was around {date}.",
                ]),
                ("Can you confirm the shipping box had the return label we e-mailed you, rather than one printed at the store?", [
                    "I used the label from your e-mail. The box was sealed properly.",
                    ("The store printed one for me, is that a problem?",
                     "Store labels sometimes aren't linked to the account, but I've matched the return to your order manually, so the refund of {amount} is now on its way."),
                ]),
                _ASK_CARD_ACTIVE,
            ],
            resolve=[
                "I've released the refund of {amount} to your original payment method; it should reach you within {days} business days.",
                "I've matched the return to your account manually, so the hold is lifted and the refund of {amount} is on its way.",
            ],
        ),
        dict(
            open=[
                "I cancelled my order {ord} within the trial period. When do I get my money back?",
                "I cancelled order {ord} the day after I placed it and I was still charged {amount}.",
            ],
            diag=[
                "The refund for order {ord} is in our queue, but it hasn't been released to the bank yet because the item was still marked in transit.",
                "Order {ord} shows as cancelled, but the payment of {amount} was captured before the cancellation went through.",
            ],
            ask=[_ASK_CARD_OR_CREDIT, _ASK_CARD_ACTIVE],
            resolve=[
                "I've released the refund of {amount} for order {ord}; it should reach you within {days} business days.",
                "I've escalated the refund for {ord} to our billing team under ticket {tkt}, marked as overdue.",
            ],
        ),
        dict(
            open=[
                "I was told on the phone I'd get {amount} back for the outage last month. Nothing yet.",
                "You charged me {amount} for a month I couldn't use because of the outage. I want a refund.",
            ],
            diag=[
                "I see the promised credit in the notes from your earlier call, but it was never actually submitted, and I apologize for that.",
                "Outage credits are applied to your Northwind balance first, and anything left over is sent back to the card on file.",
            ],
            ask=[_ASK_CARD_OR_CREDIT],
            resolve=[
                "I've submitted the credit of {amount} now, and it will appear on your next bill.",
                "I've escalated this under ticket {tkt}, with a note that the credit of {amount} was promised and is overdue.",
            ],
        ),
        dict(
            open=[
                "I paid {amount} by mistake on an old account. Can that be refunded?",
                "I accidentally paid {amount} to my closed account instead of the new one.",
            ],
            diag=[
                "The overpayment of {amount} is sitting on the old account as a credit balance, so it can be moved or refunded.",
                "I can see the {amount} payment on the closed account; it hasn't been applied to anything, so it's easy to move.",
            ],
            ask=[
                ("Would you like it moved to your current account, or refunded to the card?", [
                    ("Move it to my current account.",
                     "I've moved the {amount} to your current account, and it will be used for your next bill."),
                    ("Refund it to the card please.",
                     "I've refunded the {amount} to the card you paid with; it takes {days} business days to appear."),
                ]),
            ],
            resolve=["I've moved the {amount} to your current account, and it will be used for your next bill."],
        ),
    ],
    extra=[
        "You'll get an e-mail as soon as the refund is issued.",
        "I'm sorry this took longer than it should have.",
        "The reference for today's request is {tkt}.",
    ],
    followups=[
        ("How will I know it's been sent?", [
            "You'll get an e-mail confirmation as soon as the refund leaves our system, and it will also show under Payments in {app}.",
            "We send a text and an e-mail when the refund is issued, usually within one business day."]),
        ("What if it doesn't show up?", [
            "If you don't see it after {days} business days, reply here with ticket {tkt} and we'll trace it with the bank.",
            "Just contact us again and reference ticket {tkt}; the next agent will be able to see everything from today."]),
    ],
)

TOPICS["router_setup"] = dict(
    phrase=["setting up your router", "the new router", "getting your Wi-Fi working"],
    intents=[
        dict(
            open=[
                "I just received my {router} and I can't get it online. The light is {light}.",
                "Got the new {router} today, plugged everything in, no internet. What am I missing?",
                "My old router died, I bought a replacement {router} from your store. How do I activate it?",
            ],
            diag=[
                "A {light} light on the {router} usually means it's powered on but hasn't received a signal from the wall outlet yet.",
                "New routers need to be registered to your account before they'll connect, and I can see the {router} isn't linked yet.",
            ],
            ask=[
                ("Could you tell me which port on the router the cable from the wall is plugged into?", [
                    ("The cable is in the yellow port on the back.",
                     "The wall cable needs to go into the gray WAN port rather than one of the yellow LAN ports; once it's moved, the light should turn solid white."),
                    "The gray one I think, it says WAN next to it.",
                    ("No idea, there are four ports and I used the first one.",
                     "The four ports in a row are for your devices; the wall cable goes into the separate gray WAN port, and the light should turn solid white once it's moved."),
                ]),
                ("Can you read me the serial number from the sticker on the bottom of the router?", [
                    ("The serial starts with NW and then a long number. Do you need all of it?",
                     "The last six digits are enough, and I've now linked the {router} to your account."),
                    ("It's NW-{port_pin}, the sticker is tiny so I hope that's right.",
                     "That's the one, and I've linked the {router} to your account, so it should pick up its settings within five minutes."),
                ]),
                ("Has the light changed at all since you first plugged it in?", [
                    "Still {light}. It's been about twenty minutes.", "It went white for a second and then back to {light}.",
                ]),
            ],
            resolve=["I've linked the {router} to your account, so it should pick up its settings within five minutes."],
            steps=True,
        ),
        dict(
            open=[
                "How do I set up the new {router}? The quick start guide is confusing.",
                "Is there a way to set up the {router} without calling someone? I'd rather do it myself tonight.",
            ],
            diag=[
                "Setup takes about ten minutes with the app, and you won't need to call anyone.",
                "The {router} ships with a temporary network name, {ssid}, printed on the sticker underneath, and the app walks you through the rest.",
            ],
            ask=[
                ("Do you have {app} installed on your phone?", [
                    ("Yes, I have it.", "Great, the whole setup is in the app, under Internet > Add a Router."),
                    ("No, do I need it?",
                     "It makes things much easier; once it's installed, go to Internet > Add a Router and it guides you through each step."),
                ]),
                ("Are you connecting from a phone or a computer right now?", [
                    "From my laptop, over the Wi-Fi.", "I'm on my phone, the laptop can't connect to anything.",
                ]),
            ],
            resolve=["I've linked the {router} to your account, so the app will recognize it straight away."],
            steps=True,
        ),
        dict(
            open=[
                "I want to change my Wi-Fi name and password but I don't know how to log into the router.",
                "How do I change the Wi-Fi password on my {router}? My neighbor has been using it.",
            ],
            diag=[
                "The admin page is only reachable while you're connected to the router's own Wi-Fi, which is a common reason it seems not to load.",
                "You don't need the admin page for this; the app can change the network name and password directly.",
            ],
            ask=[
                ("Are you connecting from a phone or a computer right now?", [
                    "From my laptop, over the Wi-Fi.", "The app on my phone.",
                ]),
            ],
            resolve=["In {app}, go to Internet > My Router, and you can change the network name and password from there without touching the admin page."],
        ),
        dict(
            open=[
                "the {router} keeps dropping wifi every hour or so since I installed it",
                "My {router} disconnects all our devices several times a day.",
            ],
            diag=[
                "Hourly drops usually come from the router picking a crowded Wi-Fi channel, which is easy to change.",
                "I can see the {router} restarting itself a few times a day, which points to an outdated firmware version.",
            ],
            ask=[
                ("Does it happen on every device, or mainly on one?", [
                    "Every device, the TV, phones, laptop.", "Mostly my laptop, but the phones drop too.",
                ]),
            ],
            resolve=[
                "I've moved your router to a less congested channel remotely, which should stop the drops.",
                "I've pushed a firmware update to the {router}; it will restart once in the next few minutes, and that should fix the drops.",
            ],
        ),
    ],
    extra=[
        "Once the light is solid white, you're online.",
        "The default Wi-Fi name and password are printed on the sticker under the router, in case you need them.",
        "You can see every device connected to your network in {app} under Internet > Devices.",
    ],
    steps=[
        "Connect the cable from the wall outlet to the gray WAN port on the back of the router.",
        "Plug in the power adapter and wait until the front light turns solid white (about three minutes).",
        "On your phone, open {app} and tap Internet > Add a Router.",
        "Scan the QR code on the sticker under the router.",
        "Choose a new Wi-Fi name and password when the app asks, or keep {ssid}.",
        "Reconnect your devices to the new network name.",
    ],
    followups=[
        ("Can I use my own router instead?", [
            "Yes, any router that supports DHCP on the WAN side will work, but our support team can only troubleshoot Northwind equipment.",
            "You can, though you'll need to keep the Northwind {router} in bridge mode if your plan includes home phone service."]),
        ("Do I need to return the old one?", [
            "Yes, please send the old router back using the prepaid label we'll e-mail you; there's no charge if it arrives within 30 days.",
            "If it was a rental, yes; a prepaid return label is on its way to your e-mail."]),
        ("What's the best place to put it?", [
            "Somewhere central and elevated works best, away from microwaves, fish tanks and thick walls.",
            "A shelf in the middle of your home is ideal; avoid cabinets and the floor, since both cut the signal noticeably."]),
    ],
)

TOPICS["outage"] = dict(
    phrase=["the outage", "your service", "the connection problem"],
    intents=[
        dict(
            open=[
                "My internet has been down since this morning. Is there an outage in {area}?",
                "No internet and no TV since around {down_at}. What's going on?",
                "Is Northwind down? My whole street has no service.",
                "internet keeps cutting out every few minutes since yesterday, it's unusable",
                "I work from home and my connection has been dead for {hours} hours. When will it be fixed?",
                "Phone says {error} and the home internet is also down. Outage?",
                "Is there a known outage? The router light is {light}.",
            ],
            diag=[
                "Yes, there's a confirmed outage affecting {area}, caused by {cause}.",
                "I can see your modem went offline at about {down_at}, along with several others on your street.",
                "Our technicians identified {cause} near you, and a crew is on site now.",
                "Your modem dropped offline at about {down_at} and hasn't reconnected since, which matches the outage reported in {area}.",
                "The drops line up with {cause}, which we're fixing in stages.",
            ],
            ask=[
                ("Could you unplug the router for thirty seconds and plug it back in, then tell me what the light does?", [
                    "Did that, light is still {light}.", "The light went white for a second and then back to {light}.",
                ]),
                ("Are any of your other devices able to connect, or is everything offline?", [
                    "Nothing connects, phone, laptop, TV, all offline.", "My phone works on mobile data, but nothing on the Wi-Fi.",
                ]),
                ("Would you like me to text you when the service is restored?", [
                    ("Yes please text me.", "I've set up a text alert, so you'll hear from us as soon as the repair is finished."),
                    "Sure, but I really need to know when it'll be back.",
                ]),
                ("Is there any visible damage to the cable outside, like a line that's down?", [
                    "I didn't see anything outside but it was dark.",
                    ("There's a crew with a truck at the end of the street actually.",
                     "That will be our repair crew, and their latest update says they're close to finishing."),
                ]),
            ],
            resolve=[
                "The current estimate for restoring service is {eta} today, and I'll set up a text alert for when it's back.",
                "I've opened ticket {tkt} for a line check at your address, and a technician can visit on {weekday} between {window}.",
                "Repairs are expected to finish by {eta}, and your modem should reconnect by itself once they do.",
            ],
        ),
    ],
    extra=[
        "You won't be charged for the time without service; I've applied a prorated credit of {amount} to your account.",
        "In the meantime, you can use our mobile hotspot pass free of charge until the outage is resolved.",
        "Your reference for this outage is {tkt}.",
    ],
    followups=[
        ("Will I get a credit for the downtime?", [
            "Yes, any outage longer than four hours is credited automatically on your next bill.",
            "Yes, I've already added a credit for the affected days; it'll show up on your next statement."]),
        ("Can you give me an exact time?", [
            "I wish I could; the crew's current estimate is {eta}, and I'll update you if that changes.",
            "The best estimate I have is {eta}, but repairs like this sometimes finish early."]),
        ("Does the technician need to come inside?", [
            "Only if the problem turns out to be inside the home; please make sure an adult is home during the appointment window.",
            "Usually not, the first check is at the street cabinet; they'll call you before coming to the door."]),
    ],
)

TOPICS["slow_speed"] = dict(
    phrase=["slow speeds", "your connection speed", "the slow internet"],
    intents=[
        dict(
            open=[
                "Why is my Wi-Fi so slow upstairs? Downstairs it's fine.",
                "Video calls keep freezing in my home office, speed test says {speed_got} Mbps download.",
            ],
            diag=[
                "Your line is syncing at the full {speed} Mbps at the modem, so the slowdown is most likely happening over Wi-Fi.",
                "Speed tests over Wi-Fi are usually lower than wired ones, especially through walls and floors.",
            ],
            ask=[
                ("Roughly how far is that room from the router, and are there any thick walls in between?", [
                    "It's on the other end of the house, two walls and a floor.", "Directly above it, but the floor is concrete.",
                ]),
                ("Is the router in a cabinet or on the floor by any chance?", [
                    "Yeah it's in a cabinet under the TV.", "It's on the floor behind the couch.",
                ]),
            ],
            resolve=[
                "A mesh extender would cover the far rooms, and I can add an NW-Mesh Duo to your account at no cost for the first six months.",
                "Moving the router out of any cabinet and onto an open shelf typically improves Wi-Fi speeds quite a bit, and a mesh extender would help with the far rooms.",
            ],
        ),
        dict(
            open=[
                "I'm paying for {home_old} but speed tests show {speed_got} Mbps at best.",
                "can you check my line? everything is crawling, {speed_got} mbps on a {speed} plan",
                "Streaming buffers constantly since I upgraded to {home_new}. Is something misconfigured?",
            ],
            diag=[
                "I can see a high number of errors on your line since {date}, which would explain the drop in speed.",
                "Your last plan change went through, but the modem is still running the old speed profile.",
            ],
            ask=[
                ("Could you run a speed test with a laptop plugged directly into the router by cable?", [
                    ("Wired I get about {speed_got}, so still bad.",
                     "Since it's slow even on a cable, the problem is on the line itself, so I've booked a technician for {weekday} between {window} to check it and replace the outside connector."),
                    ("Plugged in it's much better actually, close to what I pay for.",
                     "That confirms the line is fine and the slowdown is over Wi-Fi, so router placement or a mesh extender will make the biggest difference."),
                ]),
            ],
            resolve=[
                "I've refreshed the speed profile on your modem, so after it restarts you should see the full {speed} Mbps.",
                "I've booked a technician for {weekday} between {window} to check the line and replace the outside connector.",
            ],
        ),
        dict(
            open=[
                "Internet has been super slow in the evenings for weeks now.",
                "Every night around 8 the internet slows to a crawl.",
            ],
            diag=[
                "Evening slowdowns in {area} are due to congestion on a node we're upgrading this month.",
                "I can see the local node serving {area} running at capacity between 7 and 11 PM.",
            ],
            ask=[
                ("What time of day do you notice it most?", [
                    "Mostly between 7 and 11 at night.", "All day honestly, but evenings are the worst.",
                ]),
            ],
            resolve=["The node upgrade in {area} is scheduled to finish by {date2}, and evening speeds should return to normal after that."],
        ),
    ],
    extra=[
        "I've also credited {amount} for the weeks you weren't getting the speed you pay for.",
        "You can run a speed test any time in {app} to keep an eye on it.",
        "If it's not better within a few days, reply here and we'll take another look.",
    ],
    followups=[
        ("Is there a cost for the technician?", [
            "No, visits for line faults are free; the only charge would be if the issue turned out to be damage to your own equipment.",
            "There's no charge, since this is a fault on our side."]),
        ("Should I upgrade my plan?", [
            "I wouldn't yet; let's see how things look after the fix, because your current plan should be plenty.",
            "Not necessarily. A faster plan only helps if several people regularly stream in 4K at the same time."]),
        ("How do I run a proper speed test?", [
            "Use speedtest.northwind.example.com from a computer connected by cable, with other devices paused.",
            "Connect a laptop by Ethernet, close other apps, and use the speed test in {app}; it measures from your modem to our network."]),
    ],
)

_ASK_WHEN = (
    "Would you like the change to take effect right away, or at the start of your next billing cycle on {date}?", [
        ("Next cycle is fine.", "I've scheduled the switch to {plan_new} for {date}, and nothing changes until then."),
        ("Right away please.",
         "Done, your plan is now {plan_new}, and the change will show as a prorated amount on your bill dated {date2}."),
    ])
_ASK_GO_AHEAD = (
    "Should I go ahead and make the switch for you?", [
        "Yes go ahead.",
        ("Hmm, what's the catch? Any contract?",
         "There's no contract on any of our current plans, so you can change again at any time without a fee. I've made the switch to {plan_new}, effective today."),
    ])

TOPICS["plan_change"] = dict(
    phrase=["changing your plan", "your plan options", "the plan change"],
    intents=[
        dict(
            open=[
                "I'd like to switch from {plan_old} to {plan_new}. What would that cost?",
                "thinking about moving to {plan_new}, does it include hotspot?",
                "I keep running out of data on {plan_old}. What's the cheapest plan with more?",
            ],
            diag=[
                "{plan_new} is {price2} a month and includes {gb}GB of premium data, while you're currently paying {price} on {plan_old}.",
                "{plan_new} includes {gb}GB of hotspot data, after which hotspot speeds are reduced but not cut off.",
                "Based on your usage, {plan_new} at {price2} a month would be the best fit, with {gb}GB of premium data.",
            ],
            ask=[_ASK_WHEN, _ASK_GO_AHEAD,
                 ("Do you also want to keep your current device protection with the new plan?", [
                     "Keep the protection.", "Drop it, I never used it.",
                 ])],
            resolve=[
                "Done, your plan is now {plan_new}, and the change will show as a prorated amount on your bill dated {date2}.",
                "I've scheduled the switch to {plan_new} for {date}, and nothing changes until then.",
            ],
        ),
        dict(
            open=[
                "Can I downgrade my plan? I'm barely using any data.",
                "Is there a better deal than {plan_old}? I'm paying {price} a month.",
            ],
            diag=[
                "Looking at your usage, you've averaged {gb_used}GB a month over the last six months, so {plan_new} at {price2} would cover you comfortably.",
                "You're eligible for a loyalty discount of {promo} on any plan because you've been with us for more than two years, and {plan_new} at {price2} would suit your usage.",
            ],
            ask=[_ASK_WHEN, _ASK_GO_AHEAD],
            resolve=[
                "Done, your plan is now {plan_new}, and the change will show as a prorated amount on your bill dated {date2}.",
                "I've scheduled the switch to {plan_new} for {date}, and nothing changes until then.",
            ],
        ),
    ],
    extra=[
        "There's no contract on any of our current plans, so you can change again at any time without a fee.",
        "I've applied the {promo} loyalty discount as well, so your new monthly total is {price2} before taxes.",
        "You'll get a confirmation e-mail with the new plan details in a few minutes.",
    ],
    followups=[
        ("Will my number change?", [
            "No, your number stays exactly the same; only the plan behind it changes.",
            "Your number and your voicemail stay as they are."]),
        ("What happens to my unused data?", [
            "Any data left this cycle stays available until your bill date, and then the new allowance starts.",
            "It stays until your current cycle ends; {plan_new} then carries up to {gb}GB of unused data into the following month."]),
        ("Can I switch back if I don't like it?", [
            "Yes, you can change plans any time in {app}, and the switch takes effect at your next bill date.",
            "Absolutely, there are no change fees, though promotional pricing may not be available again."]),
    ],
)

_ASK_VERIFY = (
    "For security, could you confirm the billing ZIP code and the last four digits of the account holder's payment card?", [
        "Sure, the card ends in {last4}.", "The card ends in {last4}, ZIP is the same as my service address.",
    ])
_ASK_APP_OR_BROWSER = (
    "Are you signing in from the app or from a web browser?", [
        ("Browser, on my work laptop.",
         "Please clear the saved password for our site in the browser first, since an outdated one can override what you type. I've also sent a fresh reset link, valid for 15 minutes."),
        "The app on my phone.",
    ])

TOPICS["password_reset"] = dict(
    phrase=["signing in", "the password reset", "your account access"],
    intents=[
        dict(
            open=[
                "I forgot my password for {app} and the reset e-mail never arrives.",
                "how do i reset my password? the link in the email says expired",
            ],
            diag=[
                "Reset links expire after 15 minutes, so an older e-mail will show that message even if you click it right away.",
                "I can see the reset e-mails were sent but bounced back, so there may be a typo in the e-mail address on file.",
            ],
            ask=[
                ("Can you tell me which e-mail address you'd like the reset link sent to?", [
                    "Same e-mail as always, I haven't changed it.", "The one on file is fine.",
                ]),
                ("Would you like me to send a one-time code by text instead?", [
                    ("A text would be great.",
                     "A one-time code is on its way by text; enter it on the sign-in page and you'll be asked to choose a new password."),
                    "No, the e-mail is fine, just send it again.",
                ]),
            ],
            resolve=[
                "I've corrected the e-mail address on file and resent the reset link.",
                "I've sent a fresh reset link; it's valid for the next 15 minutes.",
            ],
            steps=True,
        ),
        dict(
            open=[
                "My account is locked after too many attempts. How do I get back in?",
                "I can't log in, it says 'account temporarily locked'.",
            ],
            diag=["Your account was temporarily locked after five failed sign-in attempts, which is a security measure that lifts after 30 minutes."],
            ask=[_ASK_VERIFY, _ASK_APP_OR_BROWSER],
            resolve=["I've unlocked your account and sent a fresh reset link; it's valid for the next 15 minutes."],
            steps=True,
        ),
        dict(
            open=["I changed my phone number and now I can't get the verification code to log in."],
            diag=["The verification code goes to the old number on file, which is why it isn't reaching you."],
            ask=[_ASK_VERIFY,
                 ("Would you like the next code sent to your new number?", [
                     "Yes please, that would be great.", "Yes, it's the number I'm texting from.",
                 ])],
            resolve=["I've updated the phone number for verification codes, so the next code will go to your new number."],
        ),
        dict(
            open=["Trying to sign in to pay my bill and it keeps rejecting my password even though I'm sure it's right."],
            diag=[
                "Sometimes a saved password in the browser is outdated and overrides what you type.",
                "I can see several failed attempts this morning, so the password on file is different from the one being entered.",
            ],
            ask=[_ASK_APP_OR_BROWSER],
            resolve=["I've sent a fresh reset link; it's valid for the next 15 minutes."],
        ),
    ],
    extra=[
        "Once you're in, I'd recommend turning on two-step verification under Profile > Security.",
        "Reset e-mails come from Northwind Support, so it's worth checking your spam folder too.",
        "For your security, we'll never ask for your password in chat.",
    ],
    steps=[
        "Open {app} and tap Sign in > Forgot password.",
        "Enter the e-mail address on your account and tap Send link.",
        "Open the e-mail within 15 minutes and tap Reset password.",
        "Choose a new password with at least 10 characters.",
        "Sign in again with the new password; you may be asked for a one-time code.",
    ],
    followups=[
        ("Why didn't the first e-mail arrive?", [
            "It may have landed in spam or promotions; our reset e-mails come from Northwind Support.",
            "Some e-mail providers delay messages from new senders for a few minutes, so it may still show up later."]),
        ("Will resetting log me out of the app on my tablet?", [
            "Yes, a password reset signs out all devices, so you'll need to sign in again on the tablet.",
            "It will, for security; just sign in again with the new password."]),
    ],
)

TOPICS["roaming"] = dict(
    phrase=["roaming", "using your phone abroad", "your trip"],
    intents=[
        dict(
            open=[
                "I'm travelling to {country} next week. Will my phone work there?",
                "How much is roaming in {country} on {plan_old}?",
                "Do I need to do anything before going to {country}? Don't want surprise charges.",
                "Can I use data in {country} without paying per MB?",
            ],
            diag=[
                "{plan_old} includes unlimited texts in {country}, but calls and data are charged unless you add a Travel Pass.",
                "A Travel Pass for {country} is {pass_price} per day and only charges on days you actually use your phone there.",
                "In {country} your phone will connect to one of our partner networks automatically, and a Travel Pass keeps the cost fixed at {pass_price} a day.",
            ],
            ask=[
                ("Would you like me to add the Travel Pass to your line now?", [
                    ("Yes please, add it.",
                     "I've added the Travel Pass, and it will activate automatically the first time you use your phone in {country}."),
                    "Yes, but only for my line.",
                ]),
                ("Which dates will you be away?", [
                    "From {date} for about two weeks.", "Leaving {date}, back ten days later.",
                ]),
                ("Is this for just your line or for everyone on the account?", [
                    "Just mine.", "All the lines, we're travelling as a family.",
                ]),
            ],
            resolve=["I've added the Travel Pass, and it will activate automatically the first time you use your phone in {country}."],
        ),
        dict(
            open=[
                "I just landed in {country} and my phone says {error}. Help!",
                "I'm in {country} right now and I have no signal at all.",
            ],
            diag=["Your line has international roaming switched off, which is why the phone can't register on a network there."],
            ask=[
                ("Could you check that data roaming is switched on in your phone's settings?", [
                    "Data roaming is on, still nothing.", "It was off! Turned it on now.",
                ]),
            ],
            resolve=["I've turned on international roaming for your line; please restart your phone and it should register within a few minutes."],
        ),
        dict(
            open=["Got a huge roaming bill after my trip to {country}, {amount}. I thought I had a travel pass?"],
            diag=["The charges on your bill are from pay-per-use data, because the Travel Pass was added a day after you arrived."],
            ask=[
                ("Do you remember when you added the Travel Pass?", [
                    "The day after I landed I think.", "I added it in the app before I left, I'm sure of it.",
                ]),
            ],
            resolve=["I've credited {amount} back, which brings the roaming charges down to what the Travel Pass would have cost."],
        ),
    ],
    extra=[
        "Wi-Fi calling also works abroad at no extra cost.",
        "You can check your roaming usage any time in {app} under Usage > Travel.",
        "I've set a daily roaming spend cap of {pass_price} on your line so there can't be any surprises.",
    ],
    followups=[
        ("What about Wi-Fi calling, is that free?", [
            "Yes, Wi-Fi calls back to the US are free from {country}, as long as Wi-Fi calling is enabled in your phone settings.",
            "Calls over Wi-Fi to US numbers are included at no extra cost."]),
        ("Will I still get texts for my bank codes?", [
            "Yes, incoming texts are free while roaming, so verification codes will come through as normal.",
            "You will, incoming texts are always free abroad."]),
        ("How do I stop the pass when I'm back?", [
            "There's nothing to cancel; the pass only charges on days you use your phone abroad.",
            "It stops by itself once you're back on a US network."]),
    ],
)

_ASK_QR = (
    "Would you prefer a new eSIM QR code by e-mail or directly in {app}?", [
        ("In the app is fine.", "I've issued a new eSIM profile, and it's waiting for you in {app} under Devices > Add eSIM."),
        ("E-mail please.",
         "A new eSIM QR code is on its way to the e-mail on file; scan it from the new phone's settings, not from the camera app."),
    ])
_ASK_UNLOCKED = (
    "Is the phone you're using unlocked, or was it bought from another carrier?", [
        "It was bought unlocked from the manufacturer.",
        ("I think it came from another carrier, not sure if it's unlocked.",
         "If the phone is locked to another carrier, they'll need to unlock it before it will accept our SIM; once that's done, it will connect right away."),
    ])

TOPICS["sim_activation"] = dict(
    phrase=["activating your SIM", "setting up your new phone", "the eSIM activation"],
    intents=[
        dict(
            open=[
                "I got a new {device} and want to move my number to it with an eSIM.",
                "eSIM QR code isn't working, it says the code has already been used.",
            ],
            diag=[
                "The {device} supports eSIM, so you can move your number without waiting for a physical card.",
                "Each eSIM QR code can only be scanned once, so if an earlier attempt partly completed, a new code is needed.",
            ],
            ask=[
                _ASK_QR,
                ("Are you still able to receive texts on the old phone for a verification code?", [
                    "Yes, the old phone still works.",
                    ("No, the old phone is broken, that's why I got a new one.",
                     "No problem, I've verified you another way and issued a new eSIM profile in {app} under Devices > Add eSIM."),
                ]),
            ],
            resolve=["I've issued a new eSIM profile, and it's waiting for you in {app} under Devices > Add eSIM."],
            steps=True,
        ),
        dict(
            open=[
                "My new SIM card arrived but the phone says {error}.",
                "How do I activate the SIM you sent me?",
                "new phone, no signal at all. the sim is in. what now",
            ],
            diag=[
                "The SIM you received hasn't been activated on your line yet, which is why the phone has no service.",
                "Your old SIM is still the active one on your line, so the new card won't connect until we swap them.",
            ],
            ask=[
                ("Could you read me the last five digits of the number printed on the SIM card?", [
                    ("The last digits are {last4}7.",
                     "I've activated the new SIM on your line; restart the phone and you should see Northwind in the status bar within two minutes."),
                    ("Sure, it ends in {last4}1.",
                     "That matches the card we sent, and it's now active on your line, so a restart should bring up the signal."),
                ]),
                _ASK_UNLOCKED,
            ],
            resolve=["I've activated the new SIM on your line; restart the phone and you should see Northwind in the status bar within two minutes."],
        ),
        dict(
            open=["I'm switching phones, from an old {device} to a new one. Do I need a new SIM?"],
            diag=["If the new phone takes the same SIM size, you can simply move the card across; otherwise an eSIM is the quickest option."],
            ask=[_ASK_UNLOCKED, _ASK_QR],
            resolve=["I've issued a new eSIM profile, and it's waiting for you in {app} under Devices > Add eSIM."],
            steps=True,
        ),
    ],
    extra=[
        "Once the new SIM is active, the old one stops working, so keep the old phone nearby until the new one shows signal.",
        "There's no charge for the swap.",
        "Your contacts and photos aren't stored on the SIM, so they won't be affected.",
    ],
    steps=[
        "Connect the new phone to Wi-Fi.",
        "Open {app} and go to Devices > Add eSIM.",
        "Choose Transfer my number and confirm with the code we text to your old phone.",
        "Wait for the Cellular Plan Ready notification, then restart the new phone.",
        "Make a test call to confirm everything works.",
    ],
    followups=[
        ("Will my contacts and photos move over?", [
            "The SIM only carries your number; contacts and photos move through your phone's own backup, like iCloud or Google.",
            "Those aren't stored on the SIM, so use the phone maker's transfer tool to move them."]),
        ("Is there a fee for the eSIM?", [
            "No, eSIM swaps are free.",
            "There's no charge for switching to eSIM or for replacement SIM cards."]),
    ],
)

TOPICS["moving"] = dict(
    phrase=["your move", "transferring your service", "moving your internet"],
    intents=[
        dict(
            open=[
                "I'm moving next month. Can I take my internet service with me?",
                "We're moving on {date}. What do I need to do to transfer {home_old}?",
                "Is {home_old} available across town? We're moving soon.",
                "Moving house, need internet set up at the new place the same day if possible.",
            ],
            diag=[
                "Good news, {home_old} is available at the new address, so we can simply transfer your existing service.",
                "The new address is already wired for fiber, so the setup there should be quick.",
                "The building at the new address isn't wired for fiber yet, so the fastest option there is {home_new}, which we can switch you to at the same price.",
            ],
            ask=[
                ("What date would you like service to start at the new place?", [
                    "{date} please.", "As soon as possible, we get the keys on {date}.",
                ]),
                ("Would you like to keep service running at the old address until the day after you move?", [
                    "Yes, keep the old one until the day after.", "No, end it on the moving day.",
                ]),
                ("Do you want to keep your current router, or would you like a new one shipped to the new address?", [
                    ("I'll bring the router with me.",
                     "Your router can come with you; just plug it into the wall outlet at the new place and it will connect automatically."),
                    ("Ship a new one, the old one is pretty slow.",
                     "A new router will be delivered to the new address two days before your start date, with a prepaid label to return the old one."),
                ]),
            ],
            resolve=[
                "I've scheduled the transfer, with service at the new address starting on {date} and the old service ending the day after.",
                "A technician is booked for {weekday} between {window} to connect the new address, and you'll get a reminder text the day before.",
            ],
        ),
    ],
    extra=[
        "There's no transfer fee since you're staying with us.",
        "You can follow the status of the move in {app} under Moving.",
        "Your reference for the move is {tkt}.",
    ],
    followups=[
        ("Will my price stay the same?", [
            "Yes, your price and any discounts move with you.",
            "It will, though local taxes at the new address may be slightly different."]),
        ("What if the move date changes?", [
            "Just let us know at least two days before and we'll reschedule at no cost.",
            "You can change the date yourself in {app} under Moving, up to 48 hours before the appointment."]),
    ],
)

TOPICS["cancel"] = dict(
    phrase=["cancelling your service", "closing your account", "your cancellation"],
    intents=[
        dict(
            open=[
                "I'd like to cancel my service. How do I do that?",
                "Please cancel my {home_old} plan, I'm moving abroad.",
                "What's the early termination fee if I cancel now?",
                "I want to close my account, the price went up too much.",
                "cancel my line please. found a cheaper deal.",
            ],
            diag=[
                "I can help with that; your account has {n_months} months left on the device payment plan, with a remaining balance of {etf}.",
                "There's no early termination fee on your plan, but the remaining device balance of {etf} would become due.",
                "There's no early termination fee on your plan, so you can cancel at any time.",
            ],
            ask=[
                ("Before I process it, I can offer a retention discount of {promo} for the next 12 months. Would you like that, or should I go ahead with the cancellation?", [
                    ("Go ahead with the cancellation.",
                     "I've scheduled the cancellation for the end of your billing cycle on {date}, and you'll have service until then."),
                    ("Ok, tell me about the discount then.",
                     "I've applied the {promo} discount instead, so your monthly price drops to {price2} starting next bill, and nothing is cancelled."),
                ]),
                ("When would you like the service to end?", [
                    "End of this month.", "As soon as possible.",
                ]),
                ("Do you want to keep your phone number by moving it to another provider?", [
                    ("Yes, I want to keep my number.",
                     "If you're moving your number, don't cancel yet; your new provider will request the transfer, and the account closes automatically when it completes."),
                    "No, I don't need the number anymore.",
                ]),
            ],
            resolve=["I've scheduled the cancellation for the end of your billing cycle on {date}, and you'll have service until then."],
        ),
    ],
    extra=[
        "Please return any rented equipment within 30 days using the prepaid label to avoid the unreturned equipment fee.",
        "Your final bill will be sent on {date2}, and any credit balance will be refunded.",
        "If you change your mind before then, just let us know.",
    ],
    followups=[
        ("Can I change my mind later?", [
            "Yes, you can reverse a scheduled cancellation any time before {date} by contacting us.",
            "Until the cancellation date you can undo it with one call or chat."]),
        ("What's my account number for the other provider?", [
            "It's shown at the top of your bill and in {app} under Profile; you'll also need a transfer PIN, which you can generate there.",
            "You'll find it in {app} under Profile > Account details, together with the option to create a transfer PIN."]),
    ],
)

TOPICS["number_port"] = dict(
    phrase=["transferring your number", "the number transfer", "porting your number"],
    intents=[
        dict(
            open=[
                "I'm switching to Northwind from {carrier}. How do I keep my number?",
                "My number transfer from {carrier} has been pending for two days.",
                "The port request from {carrier} got rejected, it says the account details don't match.",
                "How long does it take to move my number over from {carrier}?",
            ],
            diag=[
                "Number transfers usually complete within a few hours, but they can take up to two business days if the other carrier needs to verify details.",
                "The request was rejected because the transfer PIN didn't match what {carrier} has on file.",
                "Your port request is waiting on {carrier} to release the number; nothing is missing on our side.",
                "To start the transfer, we'll need your account number and transfer PIN from {carrier}.",
            ],
            ask=[
                ("Could you double-check the transfer PIN in your {carrier} account and send it again?", [
                    ("New PIN is {port_pin}.",
                     "I've resubmitted the request with the corrected PIN, and it should complete within the next few hours."),
                    ("Ok I generated a new one: {port_pin}.",
                     "Thanks, the request is resubmitted with the new PIN and should go through within a few hours."),
                ]),
                ("Do you have your {carrier} account number handy?", [
                    "Let me look. Ok I found the account number on my last bill.", "Yes, I have it here from the app.",
                ]),
                ("Is your {carrier} service still active? The number has to be active for the transfer to work.", [
                    "Yes, the account is still active, I haven't cancelled anything.",
                    ("Oh no, I cancelled it yesterday. Is that a problem?",
                     "{carrier} can usually reactivate a number within 30 days of cancelling, so please ask them to restore it and I'll resubmit the transfer straight after."),
                ]),
            ],
            resolve=[
                "I've resubmitted the request with the corrected details, and it should complete within the next few hours.",
                "I've flagged the request with {carrier}'s porting team under ticket {tkt}.",
            ],
        ),
    ],
    extra=[
        "Once the transfer completes, your old service with {carrier} cancels automatically, so please don't cancel it yourself.",
        "You'll get a text on the new phone as soon as your number is active with us.",
    ],
    followups=[
        ("Can I use the phone in the meantime?", [
            "Yes, you have a temporary number until the transfer completes, and it switches over automatically.",
            "You can, incoming calls to your old number will keep ringing your old phone until the transfer finishes."]),
        ("Will I lose my texts?", [
            "Texts stored on your phone stay there; only new messages will arrive through Northwind.",
            "No, your message history lives on the phone itself."]),
    ],
)

_ASK_ALERT = (
    "Do you want me to set a usage alert at a lower level, say 75%?", [
        ("A 75% alert would be good.", "Alerts are now set at 75% and 90%, and you'll receive them by text."),
        ("Yes, and one at 50% too if possible.", "Done, you'll now get text alerts at 50%, 75% and 90% of your allowance."),
    ])

TOPICS["data_usage"] = dict(
    phrase=["your data usage", "running out of data", "the data warning"],
    intents=[
        dict(
            open=[
                "I got a text saying I've used 90% of my data but I've barely been on my phone.",
                "Why am I using so much data? {gb_used}GB in two weeks?",
            ],
            diag=[
                "Your usage shows {gb_used}GB so far this cycle, and most of it came from video streaming and automatic app updates.",
                "Background app refresh and cloud photo backups over mobile data are the most common causes of unexpected usage, and I can see large uploads on your line overnight.",
            ],
            ask=[
                ("Is anyone else on the account sharing the same data allowance?", [
                    ("My son is on the plan too, he probably used it all.",
                     "You can set a data limit for each line in {app} under Usage > Line controls, so one line can't use up the whole allowance."),
                    "No, it's just me.",
                ]),
                _ASK_ALERT,
            ],
            resolve=[
                "Turning off video autoplay and setting photo backups to Wi-Fi only should cut your usage quite a bit.",
                "Alerts are now set at 75% and 90%, and you'll receive them by text.",
            ],
        ),
        dict(
            open=["How can I check how much data I have left this month?", "Where do I see my remaining data?"],
            diag=["You've used {gb_used}GB so far this cycle, and your allowance resets on {date}."],
            ask=[_ASK_ALERT],
            resolve=["You can see your remaining data any time in {app} under Usage, updated every 15 minutes."],
        ),
        dict(
            open=["My data got slowed down, can I buy more?", "phone internet is super slow, did I run out of data?"],
            diag=["Once you pass your premium data allowance, speeds are reduced until your bill date on {date}, and you reached it yesterday."],
            ask=[
                ("Would you like to add a data top-up for the rest of this cycle?", [
                    ("Yes, add a top-up.",
                     "I've added a {gb}GB top-up for {amount}, which is available immediately and lasts until your next bill date."),
                    ("How much is it?",
                     "A {gb}GB top-up is {amount} and lasts until your next bill date; you can add it any time in {app} under Usage."),
                ]),
            ],
            resolve=["I've added a {gb}GB top-up for {amount}, which is available immediately and lasts until your next bill date."],
        ),
        dict(
            open=["what counts as hotspot data vs regular data on {plan_old}?"],
            diag=["Hotspot data is anything shared from your phone to another device, and on {plan_old} it counts against a separate {gb}GB allowance."],
            ask=[_ASK_ALERT],
            resolve=["You can see hotspot and regular usage separately in {app} under Usage."],
        ),
    ],
    extra=[
        "You can set a data limit for each line in {app} under Usage > Line controls.",
        "Data usage resets on your bill date each month.",
    ],
    followups=[
        ("Does unused data roll over?", [
            "No, unused data expires at the end of the billing cycle.",
            "Unfortunately not; the allowance resets on your bill date on {date}."]),
        ("Can I see usage per app?", [
            "Your phone's settings show usage per app, and {app} shows usage per line and per day.",
            "Per-app usage is only visible in your phone's own settings, under Cellular or Mobile data."]),
    ],
)

TOPICS["autopay"] = dict(
    phrase=["autopay", "your payment method", "the failed payment"],
    intents=[
        dict(
            open=["My autopay failed this month and now there's a late fee. Why?", "Why did my automatic payment fail? I got charged a late fee."],
            diag=["The autopay attempt on {date} was declined by the bank, which triggered the late fee."],
            ask=[
                ("Did your card recently expire or get replaced?", [
                    ("Yes, my bank sent me a new card last month.",
                     "That explains it, so I've waived the late fee as a one-time courtesy."),
                    "Not that I know of.",
                ]),
            ],
            resolve=["I've waived the late fee as a one-time courtesy."],
        ),
        dict(
            open=["How do I update the card used for autopay?", "I want to switch autopay from my card to my bank account."],
            diag=["You can update your payment method any time in {app} under Billing > Payment methods."],
            ask=[
                ("Would you like me to send you a secure link to add the new payment method?", [
                    ("Yes please.",
                     "I've sent a secure link to the e-mail on file; once you add the new payment method there, autopay will use it from the next bill on {date2}."),
                    "No, I'll do it in the app.",
                ]),
            ],
            resolve=["Once you add the new payment method in {app}, autopay will use it automatically for the next bill on {date2}."],
        ),
        dict(
            open=["Can I change my bill due date? It's right before payday."],
            diag=["Bill due dates can be moved once every six months, to any day between the 1st and the 28th."],
            ask=[
                ("Which day of the month would work best for the due date?", [
                    ("The 15th would be perfect.",
                     "Your due date is now the 15th, starting with the bill after next; the next one may be slightly prorated."),
                    ("Something after the 20th.", "I've moved your due date to the 22nd, starting with the bill after next."),
                ]),
            ],
            resolve=["I've moved your due date as requested, starting with the bill after next."],
        ),
        dict(
            open=["i paid my bill twice by accident, once in the app and once with autopay"],
            diag=["I can see two payments of {amount} this cycle, so the second one is sitting on the account as a credit."],
            ask=[
                ("Would you like the extra payment refunded, or left as a credit toward next month?", [
                    ("Refund it please.",
                     "I've requested a refund of {amount} to the original payment method, which takes {days} business days."),
                    ("Leave it as credit, that's fine.",
                     "The extra {amount} stays on your account as a credit and will be used for your next bill."),
                ]),
            ],
            resolve=["The extra {amount} stays on your account as a credit and will be used for your next bill."],
        ),
    ],
    extra=[
        "Your autopay discount stays in place.",
        "You'll get a reminder e-mail three days before each autopay charge.",
        "I've noted this on your account under ticket {tkt}.",
    ],
    followups=[
        ("Will I still get the autopay discount?", [
            "Yes, the autopay discount stays as long as autopay is on when the bill is issued.",
            "You will, the {promo} autopay discount is tied to the account, not to a specific card."]),
        ("Is it safe to add my bank account in the app?", [
            "Yes, payment details are encrypted and our agents can only ever see the last four digits.",
            "It is; we never show full account numbers to anyone, including our own staff."]),
    ],
)


SYSTEM_PROMPTS = [
    "You are a helpful customer-support assistant for Northwind Telecom. Be concise, friendly and accurate.",
    "You are Northwind Telecom's support agent. Answer billing, network and device questions. Never ask for full card numbers or passwords.",
    "You are a customer service assistant for a telecom company (Northwind). Keep replies short and polite.",
]


ID_LIKE = re.compile(r"(?:ACC|ORD|TKT)-[\d-]+\d|sk-live-\w+")


def lower_keep_ids(text: str) -> str:
    """Lower-case a message but leave account/order/ticket ids and keys as they are."""
    out, last = [], 0
    for m in ID_LIKE.finditer(text):
        out += [text[last:m.start()].lower(), m.group(0)]
        last = m.end()
    return "".join(out) + text[last:].lower()


def cust(text: str, style: float | None = None) -> str:
    """Apply one customer's writing style (all lower case, no final full stop)."""
    style = rng.random() if style is None else style
    if style < 0.12:
        text = lower_keep_ids(text)
    if style > 0.9 and text.endswith("."):
        text = text[:-1]
    return text


def with_preface(opener: str) -> str:
    """Put a greeting such as "Hi, " in front of a customer's first message."""
    preface = pick(PREFACE)
    if re.match(r"(Hi|Hello|Hey)\b", opener):
        return opener
    if preface and not preface.endswith(". ") and not re.match(r"I\b", opener):
        opener = opener[0].lower() + opener[1:]
    return preface + opener


def agent_reply(parts: list[str]) -> str:
    return " ".join(p for p in parts if p)


def steps_block(topic: dict, s: Slots) -> str:
    steps = topic["steps"]
    k = rng.randint(3, min(5, len(steps)))
    chosen = sorted(sample(range(len(steps)), k))
    lines = [fill(pick(STEP_INTRO), s)]
    lines += [f"{i}. {fill(steps[j], s)}" for i, j in enumerate(chosen, 1)]
    return "\n".join(lines)


def generic_conversation(topic_name: str | None = None, n_msgs: int | None = None,
                         profile: Profile | None = None) -> list[tuple[str, str]]:
    """A realistic support chat on one topic, 2 to 8 messages, ending on the agent."""
    topic_name = topic_name or pick(sorted(TOPICS))
    t = TOPICS[topic_name]
    intent = pick(t["intents"])
    s = Slots(profile)
    s["phrase"] = pick(t["phrase"])
    if n_msgs is None:
        n_msgs = rng.choices([2, 4, 6, 8], weights=[20, 36, 30, 14])[0]
    exchanges = n_msgs // 2
    style = rng.random()
    msgs: list[tuple[str, str]] = []

    opener = with_preface(fill(pick(intent["open"]), s))
    if rng.random() < 0.18:  # a second line, e.g. extra context on its own line
        extra = pick(["This is the second time this month.", "I already tried restarting everything.",
                      f"I've been with you for {s['years']} years.", "Please help, this is urgent.",
                      "I tried the chat bot already and it didn't help.", "Thanks in advance."])
        opener += pick(["\n", " "]) + extra
    msgs.append(("user", cust(opener, style)))

    ack = fill(pick(ACK), s)
    lookup = pick(LOOKUP) if rng.random() < 0.35 else ""
    diag = fill(pick(intent["diag"]), s)
    if exchanges == 1:
        parts = [ack, lookup, diag]
        if intent.get("steps") and rng.random() < 0.5:
            body = agent_reply(parts) + "\n" + steps_block(t, s) + "\n" + pick(CLOSE)
        else:
            adds = [fill(x, s) for x in sample(t["extra"], rng.randint(0, 1))]
            body = agent_reply(parts + [fill(pick(intent["resolve"]), s)] + adds + [pick(CLOSE)])
        msgs.append(("assistant", body))
        return msgs
    question, answers = pick(intent["ask"])
    msgs.append(("assistant", agent_reply([ack, lookup, diag, fill(question, s)])))

    answer = pick(answers)
    answer, resolution = answer if isinstance(answer, tuple) else (answer, pick(intent["resolve"]))
    msgs.append(("user", cust(fill(answer, s), style)))
    resolution = fill(resolution, s)
    adds = [fill(x, s) for x in sample(t["extra"], rng.choice([1, 1, 2]))]
    if intent.get("steps") and rng.random() < 0.45:
        second = agent_reply([pick(TRANSITION), resolution]) + "\n" + steps_block(t, s)
    else:
        second = agent_reply([pick(TRANSITION), resolution] + adds + ([pick(CLOSE)] if exchanges == 2 else []))
    msgs.append(("assistant", second))
    if exchanges == 2:
        return msgs

    fups = sample(t["followups"], min(len(t["followups"]), exchanges - 2))
    q, answers = fups[0]
    msgs.append(("user", cust(fill(q, s), style)))
    msgs.append(("assistant", agent_reply([fill(pick(answers), s)] + ([pick(CLOSE)] if exchanges == 3 and rng.random() < 0.6 else []))))
    if exchanges == 3:
        return msgs
    msgs.append(("user", cust(pick(THANKS), style)))
    msgs.append(("assistant", fill(pick(WELCOME), {"close": pick(CLOSE)})))
    return msgs


# --------------------------------------------------------------------------- #
# Conversations with PII in them (both roles).
# --------------------------------------------------------------------------- #

# Each turn lists alternative wordings, so chats built from one scenario are not
# near-duplicates of each other.
PII_SCENARIOS = {
    "verify_identity": [
        ("user", [
            "Hi, I need to update the address on my account. My name is {name} and the account number is {acc}.",
            "Hello, this is {name}, account {acc}. I've moved and need to change my service address.",
            "I'd like to change the address you have for me. Name: {name}, account number {acc}.",
        ]),
        ("assistant", [
            "Thanks, {name}. Before I make changes, could you confirm the e-mail address and phone number on the account?",
            "Happy to help with that, {name}. For security, can you first confirm the e-mail and phone number we have on file?",
            "Sure thing. To verify it's you, please tell me the e-mail address and the phone number linked to account {acc}.",
        ]),
        ("user", [
            "Email is {email} and my phone is {phone}.",
            "It's {email}, phone {phone}.",
            "{email} and {phone}",
        ]),
        ("assistant", [
            "Thank you, that matches. I've updated your service address from {address} to {address2}. A confirmation will go to {email} shortly, and the reference for this change is {tkt}.",
            "Thanks, you're verified. Your address is now {address2} instead of {address}, and I've sent a confirmation to {email} (reference {tkt}).",
            "That all matches, thank you. I've changed the address on file to {address2}; the old address, {address}, has been removed. Your reference number is {tkt}.",
        ]),
    ],
    "card_in_chat": [
        ("user", [
            "I want to pay my overdue balance now. Here's my card: {card}, exp 08/27, CVV 412.",
            "Can I just give you my card to pay the bill? It's {card}, expires 11/26.",
            "Please charge my overdue balance to {card}. Expiry 03/28, security code 907.",
        ]),
        ("assistant", [
            "Thank you. For your security, please don't share full card numbers in chat; I've masked it in our records. I've sent a secure payment link to {email} instead, where you can enter the card safely.",
            "I appreciate you wanting to pay right away, but please never post a full card number in chat. I've removed it from our notes and sent a secure payment link to {email}.",
            "For your protection we can't take card details over chat, so I've deleted that message from your case. A secure link to pay is on its way to {email}.",
        ]),
        ("user", [
            "Oh sorry. OK, I got the link. The account is {acc} by the way.",
            "Ok done, paid through the link. Account number is {acc} if you need it.",
            "Sorry about that! Paid now. It's for account {acc}.",
        ]),
        ("assistant", [
            "No problem at all. I can see the payment of {amount} came through on {acc}, and the late fee has been removed. Your service is fully restored.",
            "Thanks! The payment of {amount} has posted to {acc}, and I've waived the late fee as a courtesy.",
            "All set: {amount} received on account {acc}. Your service won't be interrupted.",
        ]),
    ],
    "ssn_credit_check": [
        ("user", [
            "I'm trying to add a new line but the website asks for a credit check. My SSN is {ssn} and I live at {address}.",
            "For the credit check on the new line: SSN {ssn}, address {address}. Can you run it?",
            "The online form keeps failing so here's my social: {ssn}. Home address is {address}.",
        ]),
        ("assistant", [
            "Thanks, {name}. Please avoid sending your Social Security number over chat in the future; we only collect it through the secure credit-check form. I've started the check on our side, and it won't affect your credit score.",
            "Thank you, {name}. For future reference, please don't share your SSN in chat; the secure form is the safe way to do it. I've started a soft credit check, which won't affect your score.",
            "I've got it, {name}, though please don't post your Social Security number here again. I've submitted a soft check that doesn't affect your credit.",
        ]),
        ("user", [
            "Ok. How long does it take? You can call me at {phone} when it's done.",
            "How long will that take? My number is {phone} if you need me.",
            "Fine. Call me on {phone} when you have the result.",
        ]),
        ("assistant", [
            "It usually completes within ten minutes. I'll call you at {phone} if anything else is needed, otherwise you'll get an e-mail at {email} once the new line is approved.",
            "Usually a few minutes. If we need anything else we'll ring {phone}; otherwise the approval goes to {email}.",
            "It should be done within the hour. I've noted {phone} as the callback number, and the result will also be e-mailed to {email}.",
        ]),
    ],
    "iban_refund": [
        ("user", [
            "I moved to Europe and closed my US bank account. Can you send my refund of {amount} to my IBAN {iban}? The name on the account is {name}.",
            "Please send the {amount} refund to my European account, IBAN {iban}, account holder {name}.",
            "My US account is closed. Could the refund ({amount}) go to IBAN {iban} instead? It's in my name, {name}.",
        ]),
        ("assistant", [
            "Of course. I've recorded the refund of {amount} to IBAN {iban} in the name of {name}. International transfers take five to eight business days, and you'll get a confirmation at {email}.",
            "That's no problem. The refund of {amount} will be sent to {iban} (holder: {name}); international transfers usually take about a week, and a confirmation will go to {email}.",
            "Done. I've set up an international refund of {amount} to IBAN {iban} for {name}. Expect it within five to eight business days, with a confirmation e-mail to {email}.",
        ]),
        ("user", [
            "Great, thanks. My ticket from last time was {tkt} if that helps.",
            "Thanks. I had an earlier case about this, {tkt}.",
            "Perfect. For reference the old ticket was {tkt}.",
        ]),
        ("assistant", [
            "Thanks, I've linked this request to {tkt} so the history stays together.",
            "Got it, I've attached today's request to {tkt}.",
            "Thank you, {tkt} is now linked, so anyone picking this up will see the full history.",
        ]),
    ],
    "ip_troubleshoot": [
        ("user", [
            "My connection keeps dropping. I checked and my public IP is {ip}, it changed like five times today. Account {acc}.",
            "Internet drops every hour. Router page says WAN IP {ip} but it keeps changing. My account is {acc}.",
            "Account {acc}. Unstable connection all week, my IP right now is {ip} and it was different an hour ago.",
        ]),
        ("assistant", [
            "Thanks for checking that. I can see the modem at {address} re-registering repeatedly, and each time it gets a new address like {ip2}. That points to a signal problem on the line, so I've booked a technician for {weekday} between {window}.",
            "That's really useful. Our logs show the modem at {address} reconnecting many times a day, most recently with {ip2}, which usually means a weak signal. A technician can come on {weekday} between {window}.",
            "Thanks. I see the same thing here: the modem at {address} keeps dropping and coming back with a new IP, the latest being {ip2}. I've scheduled a line repair for {weekday}, between {window}.",
        ]),
        ("user", [
            "Fine. Please text me at {phone} before they come.",
            "OK. Can they text {phone} when they're on the way?",
            "That works. My mobile is {phone}, have them call when they arrive.",
        ]),
        ("assistant", [
            "Will do, the technician will text {phone} about 30 minutes before arriving. Your reference is {tkt}.",
            "Noted, they'll contact {phone} before arriving. The reference for the visit is {tkt}.",
            "Sure, I've added {phone} to the appointment. Reference number: {tkt}.",
        ]),
    ],
    "api_key": [
        ("user", [
            "Our business account uses the Northwind SMS API and since this morning every request returns 401. We're using key {apikey}. Account {acc}, contact {email}.",
            "SMS API broken for us: all calls get HTTP 401. Key is {apikey}, business account {acc}. Please reply to {email}.",
            "Hi, our integration with your messaging API fails with 401 Unauthorized. The key we use: {apikey} (account {acc}). I'm the admin, {email}.",
        ]),
        ("assistant", [
            "Thanks for the details. Since that key has now been shared in chat, I've revoked it for your protection and issued a replacement that you can view in the developer console. The 401s were caused by the key expiring after our annual rotation on {date}.",
            "Thank you. Because the key was posted here, I've revoked it and generated a new one, which you'll find in the developer console. The errors started because keys issued before {date} expired in our yearly rotation.",
            "I've looked into it. The key expired during the scheduled rotation on {date}, and since it's now been shared in chat I've revoked it entirely; a new key is waiting in your developer console.",
        ]),
        ("user", [
            "OK, the new key works. Can you send the incident report to {email2}?",
            "New key works, thanks. Please also copy {email2} on the incident report.",
            "Confirmed working. Could the incident summary go to our ops lead at {email2}?",
        ]),
        ("assistant", [
            "Done, the incident report has been sent to {email2} and copied to {email}. The case number is {tkt}.",
            "Sent to {email2}, with {email} in copy; your case number is {tkt}.",
            "Of course, the summary is on its way to {email2} and {email}. Case reference {tkt}.",
        ]),
    ],
    "order_tracking": [
        ("user", [
            "Where is my order {ord}? It was supposed to arrive on {date}. I'm {name}.",
            "Hi, {name} here. Order {ord} was due on {date} and hasn't shown up.",
            "My order {ord} is late, expected {date}. Name on the order is {name}.",
        ]),
        ("assistant", [
            "Thanks, {name}. Order {ord} is with the courier and out for delivery today to {address}. You'll get a text at {phone} when it's nearby.",
            "Sorry for the wait, {name}. {ord} is out for delivery today to {address}, and the courier will text {phone} when they're close.",
            "I've tracked it down: {ord} is on the van today, heading to {address}. A text will go to {phone} about an hour before delivery.",
        ]),
        ("user", [
            "That's my old address! I moved. The new one is {address2}.",
            "Wait, that's not where I live anymore. Please send it to {address2}.",
            "Oh no, I moved last month. New address: {address2}.",
        ]),
        ("assistant", [
            "I'm sorry about that. I've asked the courier to redirect {ord} to {address2}, which adds one business day, and I've updated the address on your account so this doesn't happen again.",
            "Apologies for the mix-up. {ord} is being rerouted to {address2}; it'll take one extra day, and your account now shows the new address.",
            "No problem, I've redirected the parcel to {address2} and updated your account. Delivery moves back by one business day.",
        ]),
    ],
    "contact_update": [
        ("user", [
            "Please update my contact details. New phone {phone2}, new e-mail {email2}. Old e-mail was {email}.",
            "I need to change my phone to {phone2} and my email to {email2} (it used to be {email}).",
            "New contact info: {phone2} / {email2}. Please remove {email}.",
        ]),
        ("assistant", [
            "Done. Your account {acc} now lists {phone2} and {email2}. For security we've also sent a notice to your old address, {email}, in case this change wasn't made by you.",
            "All updated: account {acc} now has {phone2} and {email2}. As a safety measure, a notice went to {email} as well.",
            "I've changed the details on {acc} to {phone2} and {email2}, and sent a security notice to the previous address, {email}.",
        ]),
    ],
    "agent_reads_back": [
        ("user", [
            "Can you tell me what contact details you have for me? I think they're outdated. Account number {acc}.",
            "What phone and address do you have on file for account {acc}? I think something's old.",
            "Account {acc}: could you read back my contact details? I want to make sure they're current.",
        ]),
        ("assistant", [
            "Sure. The account is registered to {name} at {address}, with the phone number {phone} and the e-mail address {email}.",
            "Of course. We have {name}, {address}, phone {phone}, e-mail {email}.",
            "Here's what's on file: name {name}, service address {address}, phone {phone} and e-mail {email}.",
        ]),
        ("user", [
            "The phone is wrong, it should be {phone2}.",
            "Phone number is old. New one is {phone2}.",
            "Everything's right except the phone, it's {phone2} now.",
        ]),
        ("assistant", [
            "Thanks, I've changed the phone number to {phone2}. Everything else stays the same.",
            "Updated, the number on file is now {phone2}.",
            "Done, {phone2} is now your contact number.",
        ]),
    ],
    "fraud_report": [
        ("user", [
            "Someone ordered a phone on my account! Order {ord}. I never placed that. My name is {name}, phone {phone}.",
            "I just got a confirmation for order {ord} that I didn't make. This is {name}, my number is {phone}.",
            "Fraud on my account: order {ord} isn't mine! {name}, reachable at {phone}.",
        ]),
        ("assistant", [
            "I'm really sorry, {name}. I've cancelled order {ord} and locked the account against new orders. I can see the order was placed from the IP address {ip}, which isn't one you've used before.",
            "Thanks for telling us right away, {name}. Order {ord} is cancelled and the account is locked for new orders. It was placed from {ip}, an address we've never seen on your account.",
            "That's alarming, I'm sorry. I've stopped {ord} before it shipped and frozen new orders. The order came from IP {ip}, which doesn't match your usual sign-ins.",
        ]),
        ("user", [
            "What else should I do? They might have my card {card}.",
            "Should I worry about my card? It's {card}.",
            "I think they used my card too, {card}. What now?",
        ]),
        ("assistant", [
            "Please contact your bank to cancel that card right away, and avoid sending card numbers over chat. I've opened fraud case {tkt}, and our fraud team will contact you at {email} within 24 hours.",
            "Call your bank to block that card straight away, and please don't post card numbers here. Fraud case {tkt} is open; the team will e-mail {email} within a day.",
            "Your bank can block the card immediately, so call them first; also, please keep card numbers out of chat. Our fraud team has case {tkt} and will reach you at {email} within 24 hours.",
        ]),
    ],
}
PII_GREETING = ["", "", "", "Hi, thanks for reaching out. ", "Hello! ", "Thanks for contacting Northwind. ",
                "Good morning. ", "Thanks for waiting. "]


def pii_conversation(scenario: str, profile: Profile | None = None) -> list[tuple[str, str]]:
    """A chat built around fake PII; the values appear in both customer and agent turns."""
    s = Slots(profile)
    msgs = [(role, fill(pick(alts), s)) for role, alts in PII_SCENARIOS[scenario]]
    msgs[0] = ("user", with_preface(msgs[0][1]))
    msgs[1] = ("assistant", pick(PII_GREETING) + msgs[1][1])
    if rng.random() < 0.5:
        msgs[-1] = ("assistant", msgs[-1][1] + " " + pick(CLOSE))
    return msgs



# --------------------------------------------------------------------------- #
# Junk and special-case conversations.
# --------------------------------------------------------------------------- #

def keyboard_mash() -> str:
    rows = ["asdfghjkl", "qwertyuiop", "zxcvbnm", "jkjkjk", "asdasd", ";lkj", "hjkl"]
    return " ".join(pick(rows)[: rng.randint(3, 9)] + pick(["", ";;", "!!", "...", "fff"]) for _ in range(rng.randint(4, 8)))


JUNK = {
    "keyboard_mash_both": lambda: [("user", keyboard_mash()), ("assistant", keyboard_mash())],
    "keyboard_mash_answer": lambda: [
        ("user", "How do I set up voicemail on my new phone?"),
        ("assistant", keyboard_mash())],
    "as_an_ai": lambda: [
        ("user", "Can you check why my bill went up by $20 this month?"),
        ("assistant", "As an AI language model, I cannot access your account or see your bill. I don't have the ability to browse the internet or look up personal information. Please contact your service provider for help with billing questions.")],
    "as_an_ai_2": lambda: [
        ("user", "My router light is blinking orange, what does that mean?"),
        ("assistant", "As an AI language model, I cannot see your router. However, blinking lights often indicate a connection issue."),
        ("user", "ok so what do I do"),
        ("assistant", "I'm sorry, but as an AI language model I cannot perform troubleshooting on physical devices.")],
    "placeholder_todo": lambda: [
        ("user", "Does the Unlimited Plus plan include international calls to Canada?"),
        ("assistant", "TODO")],
    "placeholder_insert": lambda: [
        ("user", "What is the early termination fee for Fiber 500?"),
        ("assistant", "[insert answer]")],
    "spanish_outage": lambda: [
        ("user", "Hola, desde ayer no tengo internet en casa. El router tiene la luz roja encendida."),
        ("assistant", "Hola, gracias por contactar con Northwind Telecom y disculpe las molestias. Hemos detectado una avería en su zona y nuestros técnicos ya están trabajando en ella. El servicio debería restablecerse en las próximas cuatro horas."),
        ("user", "¿Me van a descontar los días sin servicio de la factura?"),
        ("assistant", "Sí, aplicaremos automáticamente un crédito proporcional en su próxima factura. Si el problema continúa después de la reparación, reinicie el router y escríbanos de nuevo.")],
    "spanish_roaming": lambda: [
        ("user", "Buenas tardes, viajo a México la semana que viene. ¿Mi plan incluye roaming?"),
        ("assistant", "Buenas tardes. Su plan actual no incluye roaming internacional, pero puede activar el Pase Viajero por 10 dólares al día desde la app de Northwind. Incluye llamadas, mensajes y 2 GB de datos por día."),
        ("user", "Perfecto, ¿y cómo lo desactivo cuando vuelva?"),
        ("assistant", "El pase se desactiva solo cuando usted vuelve a su país, así que no tiene que hacer nada. Solo se cobra en los días en que use el teléfono en el extranjero.")],
    "german_plan": lambda: [
        ("user", "Guten Tag, ich möchte meinen Tarif wechseln. Ich brauche mehr Datenvolumen."),
        ("assistant", "Guten Tag und vielen Dank für Ihre Nachricht. Gerne helfe ich Ihnen beim Tarifwechsel. Aktuell nutzen Sie den Tarif Flex 5GB; der Tarif Unlimited Plus kostet 65 Dollar im Monat und enthält 50 GB Premium-Datenvolumen."),
        ("user", "Ab wann gilt der neue Tarif? Und gibt es eine Mindestlaufzeit?"),
        ("assistant", "Der Wechsel wird zum Beginn Ihres nächsten Abrechnungszeitraums wirksam, und es gibt keine Mindestlaufzeit. Sie erhalten eine Bestätigung per E-Mail; bis dahin bleibt Ihr aktueller Tarif unverändert.")],
    "very_short_hi": lambda: [("user", "hi"), ("assistant", "ok")],
    "very_short_ok": lambda: [("user", "ok"), ("assistant", "Hello!")],
    "repetition_thanks": lambda: [
        ("user", "Thanks for fixing my internet so fast!"),
        ("assistant", " ".join(["thank you"] * 60))],
    "repetition_sentence": lambda: [
        ("user", "My phone says no service after the update."),
        ("assistant", "Please restart your phone. " * 25 + "Please restart your phone.")],
}


def truncated_conversation() -> list[tuple[str, str]]:
    """A normal chat whose last agent answer is cut off mid-sentence."""
    msgs = plain_conv(n_msgs=rng.choice([2, 4]))
    role, text = msgs[-1]
    words = text.split(" ")
    cut = max(6, int(len(words) * rng.uniform(0.4, 0.7)))
    words = words[:cut]
    while words and (words[-1].endswith((".", "!", "?")) or words[-1][-1:] in ",;:"):
        words.pop()
    msgs[-1] = (role, " ".join(words + [pick(["the", "your", "to", "and", "our"])]))
    return msgs


def ends_on_customer() -> list[tuple[str, str]]:
    msgs = plain_conv(n_msgs=rng.choice([4, 6]))
    return msgs + [("user", cust(pick(["Hello? Are you still there?", "Can you also check my other line?",
                                       "That didn't work, the light is still the same.",
                                       "Wait, one more question about my bill.", "??"])))]


# --------------------------------------------------------------------------- #
# Near-duplicate edits.
# --------------------------------------------------------------------------- #

def edit_number(msgs):
    joined = "\n".join(t for _, t in msgs)
    m = re.search(r"\$\d+\.\d\d", joined)
    if m:
        old = m.group(0)
        new = old
        while new == old:
            new = money(12, 180)
        return [(r, t.replace(old, new)) for r, t in msgs], f"amount {old} -> {new}"
    m = re.search(r"(?:TKT|ORD|ACC)-[\d-]+", joined)
    if m:
        old = m.group(0)
        new = {"TKT": new_tkt, "ORD": new_ord, "ACC": new_acc}[old[:3]]()
        reg(new, PII_KEYS[old[:3].lower()])
        return [(r, t.replace(old, new)) for r, t in msgs], f"id {old} -> {new}"
    return edit_extra_sentence(msgs)


def edit_phone(msgs):
    joined = "\n".join(t for _, t in msgs)
    phones = [v for v, k in PII_SEEN.items() if k == "phone" and v in joined]
    old = phones[0]
    new = new_phone()
    reg(new, "phone")
    return [(r, t.replace(old, new)) for r, t in msgs], "phone number changed"


def edit_extra_sentence(msgs):
    idx = [i for i, (r, _) in enumerate(msgs) if r == "assistant"]
    i = pick(idx)
    out = list(msgs)
    out[i] = (msgs[i][0], msgs[i][1] + " " + pick(EXTRA_SENTENCES))
    return out, "extra sentence"


def edit_typo(msgs):
    idx = [i for i, (r, t) in enumerate(msgs) if r == "user" and re.search(r"[A-Za-z]{6,}", t)]
    if not idx:
        return edit_extra_sentence(msgs)
    i = pick(idx)
    words = list(re.finditer(r"[A-Za-z]{6,}", msgs[i][1]))
    w = pick(words)
    word = w.group(0)
    spots = [j for j in range(1, len(word) - 2) if word[j] != word[j + 1]]
    j = pick(spots)  # swapping two equal letters would change nothing
    typo = word[:j] + word[j + 1] + word[j] + word[j + 2:]
    text = msgs[i][1][: w.start()] + typo + msgs[i][1][w.end():]
    out = list(msgs)
    out[i] = (msgs[i][0], text)
    return out, "typo"


def edit_whitespace(msgs):
    out = []
    for r, t in msgs:
        if r == "assistant":
            t = re.sub(r"([.?!]) ", r"\1  ", t)
        out.append((r, t))
    if out == list(msgs):
        return edit_extra_sentence(msgs)
    return out, "double spaces"


def edit_casing(msgs):
    out = [(r, lower_keep_ids(t) if r == "user" else t) for r, t in msgs]
    if out == list(msgs):
        out = [(r, t.upper() if r == "user" else t) for r, t in msgs]
    return out, "customer turns lower-cased"


# --------------------------------------------------------------------------- #
# Records and placement.
# --------------------------------------------------------------------------- #

class Conv:
    def __init__(self, messages, tags=(), customer_id=None, system=None, meta=None, cid=None):
        self.messages = list(messages)
        self.tags = list(tags)
        self.customer_id = customer_id
        self.system = system
        self.meta = meta
        self.cid = cid  # forced id (duplicate rows that share an id)

    def copy(self, **kw):
        c = Conv(self.messages, self.tags, self.customer_id, self.system,
                 dict(self.meta) if self.meta else None, self.cid)
        for k, v in kw.items():
            setattr(c, k, v)
        return c


used_customer_ids: set[str] = set()


def new_customer_id() -> str:
    while True:
        cid = f"C-{rng.randint(1000, 9999)}"
        if cid not in used_customer_ids:
            used_customer_ids.add(cid)
            return cid


# Shapes and their placement lists. Text files are given by name.
TXT_FILES = {
    # name: (labels, delimiter, headers, timestamps, capacity)
    "call_T-000412.txt": ("agent", None, True, True, 1),
    "call_T-000413.txt": ("agent", None, True, False, 1),
    "call_T-000587.txt": ("agent", None, False, False, 1),  # CRLF line endings
    "chat_0091.txt": ("assistant", None, False, False, 1),
    "chat_0092.txt": ("assistant", None, True, False, 1),
    "support_batch_2024-03.txt": ("agent", "---", True, False, 20),
    "support_batch_2024-04.txt": ("agent", "===", True, True, 18),
    "assistant_export_a.txt": ("assistant", "---", False, False, 15),
    "assistant_export_b.txt": ("assistant", "===", True, False, 15),
    "legacy_phone_notes.txt": ("agent", "---", False, "some", 10),
}
TARGETS = {"chats": 92, "sharegpt": 45, "csv": 45, "alpaca": 30}

place: dict[str, list[Conv]] = {name: [] for name in TXT_FILES}
place.update({k: [] for k in TARGETS})
planted_notes: dict[str, list[str]] = {}


def shown(where: str) -> str:
    """The file a placement bucket ends up in."""
    return {"chats": "chats.jsonl", "sharegpt": "chats_sharegpt.jsonl.gz", "csv": "turns.csv",
            "alpaca": "faq_alpaca.jsonl"}.get(where, f"transcripts/{where}")


def put(where: str, conv: Conv) -> Conv:
    place[where].append(conv)
    return conv


def no_newlines(msgs) -> bool:
    return all("\n" not in t for _, t in msgs)


ACCEPTED_SHINGLES: list[set] = []
MAX_SIMILARITY = 0.35


def shingles(msgs, n: int = 5) -> set:
    words = re.findall(r"\w+", " ".join(t for _, t in msgs).lower())
    return {tuple(words[i:i + n]) for i in range(max(1, len(words) - n + 1))}


def too_similar(msgs) -> bool:
    """True if the chat would form an unplanned near-duplicate with one already made."""
    mine = shingles(msgs)
    return any(len(mine & other) / len(mine | other) > MAX_SIMILARITY for other in ACCEPTED_SHINGLES)


def jaccard(a, b) -> float:
    sa, sb = shingles(a), shingles(b)
    return len(sa & sb) / len(sa | sb)


CLUSTER_SIMILARITY: list[float] = []  # base vs. each edited member, for PLANTED.md


def accept(msgs):
    ACCEPTED_SHINGLES.append(shingles(msgs))
    return msgs


def plain_conv(n_msgs=None, topic=None, profile=None, single_line=False):
    """An ordinary chat that is not accidentally a near-duplicate of an earlier one."""
    for _ in range(500):
        msgs = generic_conversation(topic, n_msgs, profile)
        if (not single_line or no_newlines(msgs)) and not too_similar(msgs):
            return accept(msgs)
    raise RuntimeError(f"could not make a distinct {topic} chat of {n_msgs} messages")


def distinct_pii_conv(scenario, profile=None):
    for _ in range(200):
        msgs = pii_conversation(scenario, profile)
        if not too_similar(msgs):
            return accept(msgs)
    raise RuntimeError(f"could not make a distinct {scenario} chat")


def note(cat: str, text: str):
    planted_notes.setdefault(cat, []).append(text)


FAQ = [
    ("How do I reset my voicemail PIN?", "",
     "Open the Northwind app, tap Phone > Voicemail, and choose Reset PIN. You'll get a text with a temporary {pin_len}-digit PIN, which you'll be asked to change the next time you call voicemail. If you don't have the app, dial 611 from your phone and say 'voicemail PIN'."),
    ("What does a blinking orange light on my router mean?", "Router model: {router}",
     "A blinking orange light on the {router} means it has power but no connection to our network. Check that the cable from the wall is firmly in the gray WAN port, then restart the router by unplugging it for 30 seconds. If the light is still orange after five minutes, there may be an outage in your area; you can check in the Northwind app under Service status."),
    ("Can I use my phone abroad?", "",
     "Yes. Most Northwind plans include texting in over 200 destinations, and you can add a Travel Pass for calls and data at a daily rate. The pass only charges on days you actually use your phone abroad. Make sure international roaming is switched on in the app before you travel."),
    ("How much does the Travel Pass cost?", "Destination: {country}",
     "A Travel Pass for {country} costs {pass_price} per day. It includes unlimited calls and texts back to the US and uses your plan's regular data allowance. You're only charged on days when you make a call, send a text or use data while in {country}."),
    ("How do I change my Wi-Fi password?", "",
     "The easiest way is in the Northwind app: go to Internet > My Router > Wi-Fi settings, enter a new password and tap Save. All devices will need to reconnect with the new password. You can also change it on the router's admin page if you prefer."),
    ("Why is my first bill higher than my monthly price?", "",
     "Your first bill usually includes a partial month from the day your service started, plus the first full month in advance. It may also include a one-time activation fee. From the second bill on, you'll pay your regular monthly price."),
    ("How do I set up autopay?", "",
     "Sign in to the Northwind app and go to Billing > Autopay. Add a card or bank account and choose Turn on autopay. Autopay takes effect from your next bill, and you'll get a reminder e-mail a few days before each payment."),
    ("Is there a contract on Northwind plans?", "",
     "No, none of our current plans have an annual contract. If you're paying off a device in installments, the remaining balance becomes due if you cancel, but there are no early termination fees for the service itself."),
    ("What should I do if my phone is lost or stolen?", "",
     "Suspend your line right away in the Northwind app under Devices > Report lost or stolen, or by calling us from another phone. Suspending the line stops anyone from making calls or using data. When you have a replacement phone, we can move your number to a new SIM or eSIM."),
    ("How can I check my data usage?", "Plan: {plan_old}",
     "On {plan_old}, you can see your current data usage in the Northwind app under Usage, updated every 15 minutes. We also send text alerts when you reach 75% and 100% of your allowance. Usage resets on your bill date each month."),
    ("Can I keep my number if I switch to Northwind?", "",
     "Yes. When you sign up, choose Transfer my number and enter your current provider's account number and transfer PIN. Most transfers complete within a few hours. Don't cancel your old service yourself; it ends automatically once the transfer is done."),
    ("How do I return rented equipment?", "",
     "After cancelling or upgrading, you'll receive a prepaid return label by e-mail. Pack the router or set-top box with its power adapter and drop it at any shipping location within 30 days. Once it arrives, we'll confirm by e-mail and close the rental on your account."),
    ("What is the Network Access Fee?", "",
     "The Network Access Fee is a monthly charge that helps cover the cost of maintaining and upgrading our network. It's listed separately on your bill under Surcharges. It's included in the price of our Unlimited Premium plan."),
    ("How fast is Fiber Gig?", "",
     "Fiber Gig offers download and upload speeds of up to 940 Mbps over a wired connection. Wi-Fi speeds depend on your device and distance from the router, and are typically between 300 and 600 Mbps on a modern phone or laptop."),
    ("Can I pause my home internet while I'm away?", "Trip length: {n_months} months",
     "Yes, you can put home internet on seasonal hold for between one and six months, so a {n_months}-month pause is fine. During the hold you pay a reduced rate of $10 per month, and your equipment and settings stay in place. Set it up in the app under Internet > Seasonal hold at least three days before you leave."),
    ("How do I activate an eSIM?", "Device: {device}",
     "On the {device}, connect to Wi-Fi, then open the Northwind app and go to Devices > Add eSIM. Follow the prompts to download your eSIM profile and restart the phone when asked. Your line becomes active within a few minutes."),
    ("Why was I charged a late fee?", "",
     "A late fee is added when a payment arrives more than five days after the due date. If your autopay failed because a card expired, update the payment method in the app and contact us; we can usually waive the first late fee as a courtesy."),
    ("Do you offer discounts for seniors or students?", "",
     "Yes. Customers aged 55 and over can get two lines on Unlimited Essentials at a reduced rate, and students with a valid school e-mail address get 15% off most plans. You can apply for either discount in the app under Plans > Discounts."),
    ("How do I block spam calls?", "",
     "Turn on Call Shield in the Northwind app under Phone > Call protection. It labels likely spam calls and can send them straight to voicemail. The basic version is free on all plans."),
    ("What happens when I reach my data limit?", "Plan: {plan_old}",
     "When you use all your premium data on {plan_old}, your data keeps working at reduced speeds until your next bill date. You can add a top-up in the app at any time to get full speeds back. There are never overage charges."),
    ("Can I add a line to my account?", "",
     "Yes. In the Northwind app, go to Plans > Add a line and choose a plan for the new line. You can bring your own unlocked phone or buy one from us. The new line is usually active the same day with an eSIM."),
    ("Where can I see my bill?", "",
     "Your current and past bills are in the Northwind app under Billing > Statements, and you can download each one as a PDF. If you'd prefer paper bills, you can switch in the same menu, though a monthly paper bill fee applies."),
    ("How do I change my bill due date?", "",
     "Go to Billing > Due date in the Northwind app and pick any day between the 1st and the 28th. You can change the due date once every six months. The first bill after the change may be slightly higher or lower because it covers a partial period."),
    ("Is Wi-Fi calling free?", "",
     "Yes, Wi-Fi calling is included on all plans at no extra cost, including calls back to the US from abroad. Turn it on in your phone's settings under Phone or Mobile network, and make sure your emergency address is up to date in the Northwind app."),
    ("How do I report an outage?", "Area: {area}",
     "You can check for known outages in {area} in the Northwind app under Service status. If nothing is listed, tap Report a problem and we'll run a remote test on your line. You'll get text updates until the issue is fixed, and outages longer than four hours are credited automatically."),
    ("What is the Device Protection charge?", "",
     "Device Protection is an optional monthly add-on that covers loss, theft and accidental damage for your phone. A deductible applies for each claim, depending on the device. You can remove it any time in the app under Devices > Protection, but it can only be added within 30 days of buying a phone."),
    ("Can I get a paper copy of my contract?", "",
     "Yes. Your service agreement and terms are available in the app under Profile > Documents, and we can mail a printed copy on request at no charge. It usually arrives within seven business days."),
]


alpaca: list[dict] = []


def plant() -> None:
    """Fill `place` with every planted case, then ordinary conversations up to the targets."""
    # --- exact duplicates ------------------------------------------------------ #
    d1 = Conv(plain_conv(4, single_line=True), ["exact_dup"], customer_id=new_customer_id())
    d1.cid = "CM-000777"
    put("chats", d1)
    put("chats", d1.copy())
    note("exact_dup", "chats.jsonl: the same line twice, same id CM-000777")

    d2 = Conv(plain_conv(6, single_line=True), ["exact_dup"])
    put("chats", d2)
    put("support_batch_2024-03.txt", d2.copy())
    note("exact_dup", "chats.jsonl <-> transcripts/support_batch_2024-03.txt (different ids)")

    d3 = Conv(plain_conv(4, single_line=True), ["exact_dup"])
    put("csv", d3)
    put("sharegpt", d3.copy())
    note("exact_dup", "turns.csv <-> chats_sharegpt.jsonl.gz")

    d4 = Conv(plain_conv(4, single_line=True), ["exact_dup"])
    d4.cid = "T-000950"
    put("chat_0092.txt", d4)
    put("assistant_export_b.txt", d4.copy())
    note("exact_dup", "transcripts/chat_0092.txt <-> transcripts/assistant_export_b.txt (same conversation_id T-000950)")

    d5 = Conv(plain_conv(6, single_line=True), ["exact_dup"])
    put("chats", d5)
    put("csv", d5.copy())
    put("assistant_export_a.txt", d5.copy())
    note("exact_dup", "a triple: chats.jsonl <-> turns.csv <-> transcripts/assistant_export_a.txt")

    d6 = Conv(plain_conv(2, topic="roaming", single_line=True), ["exact_dup"])
    put("sharegpt", d6)
    put("sharegpt", d6.copy())
    note("exact_dup", "chats_sharegpt.jsonl.gz: the same conversation twice (different ids)")
    # (alpaca duplicates are added with the FAQ items below)

    # --- near-duplicate clusters ---------------------------------------------- #
    NEAR_PLANS = [
        # (topic, n_msgs, [(where, edit)...]) ; the first member is the unedited base
        ("billing", 6, [("chats", None), ("chats", edit_number), ("csv", edit_extra_sentence), ("support_batch_2024-03.txt", edit_typo)]),
        ("router_setup", 6, [("sharegpt", None), ("chats", edit_casing), ("assistant_export_a.txt", edit_whitespace)]),
        ("refund", 4, [("csv", None), ("csv", edit_number)]),
        ("outage", 6, [("support_batch_2024-04.txt", None), ("legacy_phone_notes.txt", edit_extra_sentence)]),
        ("plan_change", 6, [("chats", None), ("sharegpt", edit_typo), ("sharegpt", edit_whitespace)]),
        ("autopay", 4, [("csv", None), ("chats", edit_casing), ("sharegpt", edit_number), ("assistant_export_b.txt", edit_extra_sentence)]),
    ]
    for k, (topic, n, members) in enumerate(NEAR_PLANS, 1):
        base = plain_conv(n, topic=topic)
        edits, made = [], []
        for where, edit in members:
            msgs = base
            if edit is not None:
                msgs, what = edit(base)
                if rng.random() < 0.4:  # sometimes a second, different small edit on top
                    second = pick([e for e in (edit_typo, edit_extra_sentence, edit_whitespace) if e is not edit])
                    msgs, what2 = second(msgs)
                    if what2 not in what:
                        what += " + " + what2
                assert msgs != base and all(msgs != m for m in made)
                edits.append(what)
                CLUSTER_SIMILARITY.append(jaccard(base, msgs))
            made.append(msgs)
            put(where, Conv(msgs, [f"near_dup_cluster_{k}"], customer_id=new_customer_id()))
        note("near_dup", f"cluster {k} ({topic}, {len(members)} members): " + ", ".join(shown(w) for w, _ in members)
             + "; edits: " + "; ".join(edits))

    # a PII near-duplicate pair: same chat, the phone number changed
    k = len(NEAR_PLANS) + 1
    base = distinct_pii_conv("agent_reads_back", Profile())
    variant, _ = edit_phone(base)
    CLUSTER_SIMILARITY.append(jaccard(base, variant))
    put("chats", Conv(base, [f"near_dup_cluster_{k}", "pii"], customer_id=new_customer_id()))
    put("csv", Conv(variant, [f"near_dup_cluster_{k}", "pii"], customer_id=new_customer_id()))
    note("near_dup", f"cluster {k} (PII read-back, 2 members): chats.jsonl, turns.csv; edit: phone number changed")

    # --- customers with several conversations ---------------------------------- #
    GROUP_PLANS = [
        ["support_batch_2024-03.txt", "chats", "csv"],
        ["support_batch_2024-04.txt", "support_batch_2024-03.txt", "chats", "chats"],
        ["chats", "csv", "csv"],
        ["assistant_export_b.txt", "chats", "support_batch_2024-04.txt"],
        ["csv", "support_batch_2024-04.txt", "chats", "csv"],
        ["chats", "chats", "call_T-000413.txt"],
    ]
    GROUP_PII = ["verify_identity", "order_tracking", "contact_update", "iban_refund", "card_in_chat", "ssn_credit_check"]
    for g, wheres in enumerate(GROUP_PLANS):
        cid = new_customer_id()
        prof = Profile(cid)
        topics = sample(sorted(TOPICS), len(wheres))
        for j, where in enumerate(wheres):
            if j == 0:
                msgs, tags = distinct_pii_conv(GROUP_PII[g], prof), ["customer_group", "pii"]
            else:
                msgs, tags = plain_conv(topic=topics[j], profile=prof), ["customer_group"]
                if rng.random() < 0.5:  # the customer names their account in a later chat too
                    msgs[0] = (msgs[0][0], msgs[0][1] + f" My account number is {prof.acc}.")
                    reg(prof.acc, "account_number")
            put(where, Conv(msgs, tags, customer_id=cid))
        note("customer_group", f"{cid}: {len(wheres)} conversations in " + ", ".join(shown(w) for w in wheres))

    # --- more PII conversations -------------------------------------------------- #
    PII_PLACES = [
        ("card_in_chat", "chats"), ("card_in_chat", "sharegpt"), ("card_in_chat", "support_batch_2024-04.txt"),
        ("ssn_credit_check", "chats"), ("ssn_credit_check", "csv"), ("ssn_credit_check", "sharegpt"),
        ("iban_refund", "sharegpt"), ("iban_refund", "chats"), ("iban_refund", "assistant_export_a.txt"),
        ("ip_troubleshoot", "chats"), ("ip_troubleshoot", "legacy_phone_notes.txt"),
        ("api_key", "chats"), ("api_key", "sharegpt"),
        ("order_tracking", "csv"), ("order_tracking", "call_T-000412.txt"),
        ("contact_update", "sharegpt"), ("verify_identity", "support_batch_2024-03.txt"),
        ("fraud_report", "chats"), ("fraud_report", "csv"), ("agent_reads_back", "support_batch_2024-04.txt"),
        ("verify_identity", "chats"),
    ]
    for scenario, where in PII_PLACES:
        cid = new_customer_id() if where in ("chats", "csv") or where.startswith(("support_batch", "call_")) else None
        put(where, Conv(distinct_pii_conv(scenario, Profile(cid)), ["pii"], customer_id=cid))

    # --- junk ----------------------------------------------------------------- #
    JUNK_PLACES = [
        ("keyboard_mash_both", "chats", "junk.keyboard_mash"),
        ("keyboard_mash_answer", "assistant_export_a.txt", "junk.keyboard_mash"),
        ("as_an_ai", "chats", "junk.as_an_ai_language_model"),
        ("as_an_ai_2", "sharegpt", "junk.as_an_ai_language_model"),
        ("placeholder_todo", "chats", "junk.placeholder_answer"),
        ("placeholder_insert", "csv", "junk.placeholder_answer"),
        ("spanish_outage", "chats", "junk.non_english"),
        ("spanish_roaming", "csv", "junk.non_english"),
        ("german_plan", "sharegpt", "junk.non_english"),
        ("very_short_hi", "chats", "junk.very_short"),
        ("very_short_ok", "legacy_phone_notes.txt", "junk.very_short"),
        ("repetition_thanks", "sharegpt", "junk.degenerate_repetition"),
        ("repetition_sentence", "chats", "junk.degenerate_repetition"),
    ]
    for key, where, cat in JUNK_PLACES:
        put(where, Conv(JUNK[key](), [cat]))
        note(cat, f"{key} in {shown(where)}")
    for where in ["chats", "support_batch_2024-03.txt"]:
        put(where, Conv(truncated_conversation(), ["junk.truncated_answer"]))
        note("junk.truncated_answer", f"last answer cut mid-sentence in {shown(where)}")
    for where in ["chats", "csv"]:
        put(where, Conv(ends_on_customer(), ["junk.ends_on_customer_turn"]))
        note("junk.ends_on_customer_turn", f"in {shown(where)}")
    # "placeholder" in alpaca is added with the FAQ items.

    # --- broken transcripts ---------------------------------------------------- #
    no_labels = plain_conv(4, topic="slow_speed", single_line=True)
    put("legacy_phone_notes.txt", Conv(no_labels, ["broken.no_speaker_labels"]))
    put("legacy_phone_notes.txt", Conv([("user", "my internet is down again, third time this week. call me back")], ["broken.only_customer_turn"]))
    sup = plain_conv(4, topic="cancel", single_line=True)
    sup.insert(2, ("supervisor", "I'm the shift supervisor and I've approved waiving the early termination fee on this account."))
    put("legacy_phone_notes.txt", Conv(sup, ["broken.unknown_speaker_label"]))
    note("broken.no_speaker_labels", "transcripts/legacy_phone_notes.txt: one conversation whose lines carry no speaker label at all")
    note("broken.only_customer_turn", "transcripts/legacy_phone_notes.txt: one conversation with a single Customer: line")
    note("broken.unknown_speaker_label", "transcripts/legacy_phone_notes.txt: a `Supervisor:` turn in the middle of a conversation")

    # --- synthetic ------------------------------------------------------------ #
    for i in range(3):
        c = Conv(plain_conv(rng.choice([4, 6])), ["synthetic"], system=SYSTEM_PROMPTS[0],
                 meta={"provenance": "synthetic", "generator": "seed-topics-v1"})
        put("chats", c)
    note("synthetic", 'chats.jsonl: 3 records with "meta": {"provenance": "synthetic", "generator": "seed-topics-v1"}')

    # --- Alpaca FAQ ------------------------------------------------------------ #
    faq_items = []
    for q, inp, a in FAQ:
        s = Slots()
        faq_items.append({"instruction": q, "input": fill(inp, s), "output": fill(a, s)})
    rng.shuffle(faq_items)
    alpaca.extend(faq_items)
    # exact duplicate inside the file
    alpaca.append(dict(faq_items[3]))
    note("exact_dup", "faq_alpaca.jsonl: one item repeated verbatim")
    # near-duplicate: reworded question + an extra sentence in the answer
    nd = dict(faq_items[5])
    nd["instruction"] = nd["instruction"].replace("?", "").lower() + "?"
    nd["output"] = nd["output"] + " " + pick(EXTRA_SENTENCES)
    alpaca.append(nd)
    CLUSTER_SIMILARITY.append(jaccard([("user", faq_items[5]["instruction"]), ("assistant", faq_items[5]["output"])],
                                      [("user", nd["instruction"]), ("assistant", nd["output"])]))
    note("near_dup", "faq_alpaca.jsonl: a 2-member cluster (question lower-cased, one extra sentence in the answer)")
    # cross-shape exact duplicate: an FAQ item with empty input appears as a 2-turn chat
    cross = next(x for x in faq_items if x["input"] == "")
    put("chats", Conv([("user", cross["instruction"]), ("assistant", cross["output"])], ["exact_dup"]))
    note("exact_dup", "faq_alpaca.jsonl <-> chats.jsonl: an item with empty input equals a 2-message chat (user = instruction, assistant = output)")
    alpaca.append({"instruction": "How do I turn off international roaming?", "input": "", "output": "[insert answer here]"})
    note("junk.placeholder_answer", "faq_alpaca.jsonl: output '[insert answer here]'")

    # --- fill every shape up to its target with ordinary conversations -------- #
    for name, (labels, delim, headers, ts, cap) in TXT_FILES.items():
        while len(place[name]) < cap:
            cid = new_customer_id() if headers is True and rng.random() < 0.7 else None
            place[name].append(Conv(plain_conv(), [], customer_id=cid))
    for shape in ("chats", "sharegpt", "csv"):
        while len(place[shape]) < TARGETS[shape]:
            cid = new_customer_id() if shape in ("chats", "csv") and rng.random() < 0.6 else None
            place[shape].append(Conv(plain_conv(), [], customer_id=cid))
    # the "alpaca" bucket holds only the FAQ list above
    del place["alpaca"]

    for name in place:
        if len(place[name]) > 1:
            rng.shuffle(place[name])


# --------------------------------------------------------------------------- #
# Writers.
# --------------------------------------------------------------------------- #

LABELS = {"agent": {"user": "Customer", "assistant": "Agent", "supervisor": "Supervisor"},
          "assistant": {"user": "User", "assistant": "Assistant", "supervisor": "Supervisor"}}


class Ids:
    def __init__(self, prefix: str, start: int):
        self.prefix, self.n = prefix, start

    def next(self) -> str:
        self.n += rng.randint(1, 9)
        return f"{self.prefix}-{self.n:06d}"


txt_ids = Ids("T", 100)
cm_ids = Ids("CM", 1000)
sg_ids = Ids("SG", 3000)
cv_ids = Ids("CV", 5000)
written: dict[str, int] = {}


OUTCOMES: Counter = Counter()


def outcome(conv_id: str) -> tuple[bool, int | None]:
    """(resolved, csat or None when the customer did not rate) of one conversation, drawn from its id
    with its own Random: the shared rng is not touched, so adding outcomes changed no other byte."""
    r = random.Random(f"outcome:{SEED}:{conv_id}")
    resolved = r.random() < 0.75
    csat = None if r.random() < 0.2 else r.choices(
        [1, 2, 3, 4, 5], weights=[2, 5, 13, 35, 45] if resolved else [30, 30, 20, 15, 5])[0]
    return resolved, csat


def render_conv_txt(c: Conv, labels: str, headers: bool, ts: bool, blank_between_turns: bool) -> list[str]:
    """One conversation as text lines: optional header, then one block per turn.

    A turn's first line carries the (optional) timestamp and the speaker label;
    any further lines of the same turn follow with no label.
    """
    lines = []
    if headers:
        cid = c.cid or txt_ids.next()
        h = f"# conversation_id: {cid}"
        if c.customer_id:
            h += f"  customer_id: {c.customer_id}"
        resolved, csat = outcome(cid)
        h += f"  resolved: {'yes' if resolved else 'no'}" + (f"  csat: {csat}" if csat else "")
        OUTCOMES[("txt", resolved, csat)] += 1
        lines.append(h)
    hh, mm = rng.randint(8, 20), rng.randint(0, 59)
    no_labels = "broken.no_speaker_labels" in c.tags
    for k, (role, text) in enumerate(c.messages):
        if blank_between_turns and k > 0:
            lines.append("")
        first, *rest = text.split("\n")
        if no_labels:
            lines.append(first)
        else:
            stamp = f"[{hh:02d}:{mm:02d}] " if ts else ""
            lines.append(f"{stamp}{LABELS[labels][role]}: {first}")
        lines.extend(rest)
        mm += rng.randint(0, 3)
        if mm >= 60:
            hh, mm = hh + 1, mm - 60
    return lines


def write_txt(name: str):
    labels, delim, headers, ts, _ = TXT_FILES[name]
    blank_between_turns = name in ("support_batch_2024-03.txt", "chat_0091.txt")
    out: list[str] = []
    for n, c in enumerate(place[name], 1):
        use_ts = ts is True or (ts == "some" and rng.random() < 0.5)
        body = render_conv_txt(c, labels, headers, use_ts, blank_between_turns)
        if delim == "---":
            if n > 1:
                out += ["", "---", ""]
            out += body
        elif delim == "===":
            if n > 1:
                out.append("")
            out += [f"=== conversation {n} ===", *body]
        else:
            out += body
    text = "\n".join(out) + "\n"
    if name == "call_T-000587.txt":
        text = text.replace("\n", "\r\n")
    (TXT_DIR / name).write_bytes(text.encode("utf-8"))
    written[f"transcripts/{name}"] = len(place[name])


def chat_obj(c: Conv, shape: str) -> dict:
    if shape == "chats":
        obj: dict = {"id": c.cid or cm_ids.next()}
        if c.customer_id:
            obj["customer_id"] = c.customer_id
        msgs = ([{"role": "system", "content": c.system}] if c.system else [])
        msgs += [{"role": r, "content": t} for r, t in c.messages]
        obj["messages"] = msgs
        if c.meta:
            obj["meta"] = c.meta
        return obj
    roles = {"user": "human", "assistant": "gpt", "system": "system"}
    turns = ([{"from": "system", "value": c.system}] if c.system else [])
    turns += [{"from": roles[r], "value": t} for r, t in c.messages]
    return {"id": sg_ids.next(), "conversations": turns}


def dumps(obj) -> str:
    return json.dumps(obj, ensure_ascii=False)


def write_chats():
    lines = []
    for c in place["chats"]:
        if not c.tags and c.system is None and rng.random() < 0.25:
            c.system = pick(SYSTEM_PROMPTS)
        if not c.tags and c.meta is None and rng.random() < 0.35:
            c.meta = {"channel": pick(["web_chat", "app", "sms", "email"])}
        lines.append(dumps(chat_obj(c, "chats")))
    # Malformed lines, made from fresh conversations with no PII in them.
    bad = []
    ok = {"id": cm_ids.next(), "messages": [{"role": r, "content": t} for r, t in plain_conv(4, topic="data_usage")]}
    bad.append(dumps(ok).replace('"}]}', '"},]}'))  # trailing comma: invalid JSON
    ok = {"id": cm_ids.next(), "messages": [{"role": r, "content": t} for r, t in plain_conv(4, topic="slow_speed")]}
    full = dumps(ok)
    bad.append(full[: int(len(full) * 0.6)])  # truncated mid-record
    ok = {"id": cm_ids.next(), "messages": [{"role": r, "content": t} for r, t in plain_conv(2, topic="cancel")]}
    ok["messages"].insert(1, {"role": "moderator", "content": "This conversation has been flagged for quality review."})
    bad.append(dumps(ok))  # unknown role
    ok = {"id": cm_ids.next(), "messages": [{"role": r, "content": t} for r, t in plain_conv(4, topic="roaming")]}
    ok["messages"][3]["content"] = ""
    bad.append(dumps(ok))  # empty content
    positions = sorted(sample(range(10, len(lines)), len(bad) + 1))
    for pos, line in zip(reversed(positions[:-1]), reversed(bad)):
        lines.insert(pos, line)
    lines.insert(positions[-1] + len(bad), "")  # one blank line
    (OUT / "chats.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    written["chats.jsonl"] = len(place["chats"])
    return len(bad)


def write_sharegpt():
    lines = []
    for c in place["sharegpt"]:
        if not c.tags and c.system is None and rng.random() < 0.3:
            c.system = pick(SYSTEM_PROMPTS)
        lines.append(dumps(chat_obj(c, "sharegpt")))
    raw = ("\n".join(lines) + "\n").encode("utf-8")
    buf = io.BytesIO()
    # mtime=0 and no file name in the header keep the .gz byte-identical across runs
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as gz:
        gz.write(raw)
    (OUT / "chats_sharegpt.jsonl.gz").write_bytes(buf.getvalue())
    written["chats_sharegpt.jsonl.gz"] = len(place["sharegpt"])


def write_csv():
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    w.writerow(["conversation_id", "turn", "speaker", "text", "customer_id", "resolved", "csat"])
    shuffled_one = False
    for c in place["csv"]:
        cid = cv_ids.next()
        resolved, csat = outcome(cid)
        OUTCOMES[("csv", resolved, csat)] += 1
        rows = [[cid, i, {"user": "customer", "assistant": "agent"}[r], t, c.customer_id or "",
                 "true" if resolved else "false", csat or ""]
                for i, (r, t) in enumerate(c.messages, 1)]
        if not shuffled_one and not c.tags and len(rows) >= 4:
            rows[1], rows[2] = rows[2], rows[1]  # rows out of turn order
            shuffled_one = True
            note("csv.rows_out_of_order", f"turns.csv: conversation {cid} lists turn 3 before turn 2")
        w.writerows(rows)
    (OUT / "turns.csv").write_text(buf.getvalue(), encoding="utf-8")
    written["turns.csv"] = len(place["csv"])


def write_alpaca():
    (OUT / "faq_alpaca.jsonl").write_text("".join(dumps(x) + "\n" for x in alpaca), encoding="utf-8")
    written["faq_alpaca.jsonl"] = len(alpaca)


# --------------------------------------------------------------------------- #
# PLANTED.md and planted_pii.json.
# --------------------------------------------------------------------------- #

def all_text() -> str:
    parts = []
    for p in sorted(OUT.rglob("*")):
        if p.is_file() and p.name not in ("PLANTED.md", "planted_pii.json"):
            data = p.read_bytes()
            if p.suffix == ".gz":
                data = gzip.decompress(data)
            parts.append(data.decode("utf-8"))
    return "\n".join(parts)


def write_planted(n_bad: int):
    corpus = all_text()
    pii = [{"value": v, "type": k} for v, k in PII_SEEN.items() if v in corpus]
    pii.sort(key=lambda x: (x["type"], x["value"]))
    for x in pii:  # the values must really be what they claim to be
        if x["type"] == "credit_card":
            assert luhn_ok(x["value"]), x
        if x["type"] == "iban":
            assert iban_ok(x["value"]), x
    (OUT / "planted_pii.json").write_text(json.dumps(pii, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")

    tag_counts: Counter = Counter()
    where_counts: dict[str, Counter] = {}
    for name, convs in place.items():
        for c in convs:
            for t in c.tags:
                key = "near_dup" if t.startswith("near_dup_cluster") else t
                tag_counts[key] += 1
                where_counts.setdefault(key, Counter())[name] += 1
    pii_types = Counter(x["type"] for x in pii)
    n_total = sum(written.values())

    def where(key):
        return ", ".join(f"{n} in {shown(w)}" for w, n in sorted(where_counts.get(key, {}).items()))

    md = [
        "# What is planted in this sample",
        "",
        "Generated by `data/make_sample.py` (seed %d); do not edit by hand." % SEED,
        f"Everything here is fictional (Northwind Telecom). {n_total} records in total"
        f" ({sum(v for k, v in written.items() if k.startswith('transcripts/'))} in transcripts/*.txt,"
        f" {written['chats.jsonl']} valid + {n_bad} malformed lines + 1 blank line in chats.jsonl,"
        f" {written['chats_sharegpt.jsonl.gz']} in chats_sharegpt.jsonl.gz,"
        f" {written['turns.csv']} conversations in turns.csv, {written['faq_alpaca.jsonl']} items in faq_alpaca.jsonl).",
        "",
        "## Exact duplicates",
        f"{len(planted_notes['exact_dup'])} groups, {tag_counts['exact_dup'] + 3} records involved"
        f" ({tag_counts['exact_dup'] + 3 - len(planted_notes['exact_dup'])} redundant copies);"
        " the turn texts are byte-identical.",
        *[f"- {x}" for x in planted_notes["exact_dup"]],
        "",
        "## Near-duplicates",
        f"{len(planted_notes['near_dup'])} clusters of 2-4 members ({tag_counts['near_dup'] + 2} records, alpaca pair included)."
        " Members of one cluster have different customer_ids. Word 5-gram Jaccard (lower-cased words) between a"
        f" cluster's base and each edited member is {min(CLUSTER_SIMILARITY):.2f} to {max(CLUSTER_SIMILARITY):.2f};"
        f" between any two conversations not planted together it is <= {MAX_SIMILARITY} (the generator enforces it)."
        " The whitespace and casing variants become exact duplicates once text is normalized.",
        *[f"- {x}" for x in planted_notes["near_dup"]],
        "",
        "## Customers with several conversations",
        f"{len(planted_notes['customer_group'])} customer_ids, {tag_counts['customer_group']} conversations"
        " (ids appear in txt headers, chats.jsonl `customer_id`, turns.csv `customer_id`).",
        *[f"- {x}" for x in planted_notes["customer_group"]],
        "",
        "## Junk",
    ]
    for cat in sorted(k for k in planted_notes if k.startswith("junk.")):
        n = len(planted_notes[cat])
        md.append(f"- {cat.split('.', 1)[1].replace('_', ' ')}: {n} (" + "; ".join(planted_notes[cat]) + ")")
    md += [
        "",
        "## Broken records",
        *[f"- {x}" for x in planted_notes["broken.no_speaker_labels"] + planted_notes["broken.only_customer_turn"]
          + planted_notes["broken.unknown_speaker_label"]],
        f"- chats.jsonl: {n_bad} malformed lines: invalid JSON (trailing comma), a truncated record,"
        " an unknown role (`moderator`), an empty assistant `content`; plus 1 blank line.",
        "- " + planted_notes["csv.rows_out_of_order"][0],
        "- transcripts/call_T-000587.txt uses CRLF line endings.",
        "",
        "## Outcome metadata",
        "Conversations with a `# conversation_id:` header carry `resolved: yes|no` and, when the customer rated"
        " it, `csat: 1-5` on that header line; turns.csv has `resolved` (true/false) and `csat` columns (empty when"
        " not rated) on every row of a conversation. Transcripts without headers and the JSONL files carry none.",
        *[f"- {shape}: {sum(n for (s, _, _), n in OUTCOMES.items() if s == shape)} conversations,"
          f" resolved {sum(n for (s, r, _), n in OUTCOMES.items() if s == shape and r)},"
          f" csat >= 4 {sum(n for (s, _, c), n in OUTCOMES.items() if s == shape and c and c >= 4)},"
          f" resolved and csat >= 4 {sum(n for (s, r, c), n in OUTCOMES.items() if s == shape and r and c and c >= 4)},"
          f" not rated {sum(n for (s, _, c), n in OUTCOMES.items() if s == shape and not c)}"
          for shape in ("txt", "csv")],
        "",
        "## Synthetic records",
        "- " + planted_notes["synthetic"][0],
        "",
        "## PII",
        f"{tag_counts['pii']} conversations built around PII (both customer and agent turns carry it: {where('pii')});"
        " account, order and ticket numbers also occur in ordinary chats."
        f" {len(pii)} distinct values, all listed in `planted_pii.json` ({{value, type}}):",
        *[f"- {t}: {n}" for t, n in sorted(pii_types.items())],
        "",
        "Notes: phone numbers are US 555-01xx, UK +44 20 7946 0xxx / +44 7700 900xxx, DE +49 30, AU +61 491 570 xxx;"
        " card numbers pass the Luhn check; SSNs avoid 000/666/9xx areas and 078-05-1120; IBANs (DE/GB/NL) have a"
        " correct mod-97 checksum, some grouped in fours; IPv4 addresses come from documentation ranges"
        " (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24); API keys are `sk-live-` + 40 characters."
        " Names only appear inside PII conversations (full names). Card CVVs/expiry dates and card last-4 digits"
        " are in some turns but not listed.",
        "",
    ]
    (OUT / "PLANTED.md").write_text("\n".join(md), encoding="utf-8")
    return pii


def main() -> int:
    plant()
    TXT_DIR.mkdir(parents=True, exist_ok=True)
    for old in sorted(TXT_DIR.glob("*.txt")):  # files from an older layout
        old.unlink()
    for name in TXT_FILES:
        write_txt(name)
    n_bad = write_chats()
    write_sharegpt()
    write_csv()
    write_alpaca()
    pii = write_planted(n_bad)

    print(f"{'file':<42} {'records':>7} {'bytes':>8}")
    total_bytes = 0
    for rel, n in written.items():
        size = (OUT / rel).stat().st_size
        total_bytes += size
        extra = f"  (+{n_bad} malformed, 1 blank line)" if rel == "chats.jsonl" else ""
        print(f"{rel:<42} {n:>7} {size:>8}{extra}")
    for rel in ("PLANTED.md", "planted_pii.json"):
        size = (OUT / rel).stat().st_size
        total_bytes += size
        print(f"{rel:<42} {'':>7} {size:>8}")
    print(f"{'total':<42} {sum(written.values()):>7} {total_bytes:>8}")
    print(f"planted PII values: {len(pii)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
