"""Write data/general/general_instructions.jsonl: a small general-instruction set (Alpaca format)
to blend into train as a guard against forgetting. Deterministic; answers are computed, not made up.

    .venv/bin/python data/make_general.py
"""
import json
import random
from pathlib import Path

OUT = Path(__file__).parent / "general" / "general_instructions.jsonl"
CAPITALS = {"France": "Paris", "Japan": "Tokyo", "Canada": "Ottawa", "Kenya": "Nairobi", "Peru": "Lima",
            "Norway": "Oslo", "Egypt": "Cairo", "Chile": "Santiago", "Vietnam": "Hanoi", "Poland": "Warsaw"}
DEFS = {
    "photosynthesis": "the process by which plants use light, water and carbon dioxide to make sugar and release oxygen",
    "inflation": "a general rise in prices over time, which lowers what a unit of money can buy",
    "a prime number": "a whole number greater than 1 whose only divisors are 1 and itself",
    "an API": "a defined interface that lets one program request data or actions from another",
    "latency": "the time between a request being sent and the first part of the answer arriving",
    "a checksum": "a small value computed from data so that changes or corruption can be detected",
}


def items(rng: random.Random):
    for country, city in CAPITALS.items():
        yield {"instruction": f"What is the capital of {country}?", "input": "",
               "output": f"The capital of {country} is {city}."}
    for _ in range(10):
        km = rng.randint(2, 500)
        yield {"instruction": "Convert the distance to miles, rounded to one decimal place.", "input": f"{km} km",
               "output": f"{km} km is about {km * 0.621371:.1f} miles."}
    for _ in range(10):
        nums = rng.sample(range(1, 100), 6)
        yield {"instruction": "Sort these numbers from smallest to largest.", "input": ", ".join(map(str, nums)),
               "output": ", ".join(map(str, sorted(nums)))}
    for term, d in DEFS.items():
        yield {"instruction": f"Define {term} in one sentence.", "input": "",
               "output": f"{term[0].upper() + term[1:]} is {d}."}
    for _ in range(8):
        a, b = rng.randint(10, 999), rng.randint(10, 999)
        yield {"instruction": "Add the two numbers and show the result.", "input": f"{a} and {b}",
               "output": f"{a} + {b} = {a + b}."}


def main() -> None:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    rows = list(items(random.Random(7)))
    OUT.write_text("".join(json.dumps({"id": f"GEN-{i:03d}", **r}) + "\n" for i, r in enumerate(rows)))
    print(f"wrote {len(rows)} items to {OUT}")


if __name__ == "__main__":
    main()
