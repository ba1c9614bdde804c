"""The PII engine's speed-ups change no output: memoised per-text work equals recomputing it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from curate.pii import PiiConfig
from curate.pii_engine import Engine, Memo

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]



@pytest.fixture(scope="module")
def handwritten(pii_eval_set) -> list[list[dict]]:
    mod = pii_eval_set
    convs = [list(c.messages) for c in mod.load_handwritten()]
    convs += [list(c.messages) for c in mod.load_handwritten(mod.DATA_DIR / "pii_handwritten_heldout.txt")]
    return convs


def _outputs(engine: Engine, convs: list[list[dict]], chunk: int) -> list:
    out = []
    for i in range(0, len(convs), chunk):
        part = convs[i:i + chunk]
        out += engine.scrub(part, [f"k{i + j}" for j in range(len(part))], with_spans=True)
    return out


@pytest.mark.parametrize("mode", ["placeholder", "surrogate"])
def test_memoised_engine_gives_byte_identical_results_to_recomputing_on_the_handwritten_sets(handwritten, mode):
    cfg = PiiConfig(mode=mode)
    # every conversation twice, in chunks that cut across the repeats: the second pass
    # is served from the memo (turns, NER windows, allow-list spans)
    convs = handwritten + handwritten[::-1]
    memo = Engine(cfg)
    plain = Engine(cfg, memo_size=0)
    got, want = _outputs(memo, convs, 37), _outputs(plain, convs, 37)
    assert len(memo.text_memo.data) > 300 and memo.window_memo.data  # the memo was used
    assert not plain.text_memo.data and not plain.window_memo.data
    assert got == want
    altered = sum(r.messages != c for r, c in zip(got, convs))
    assert altered > len(handwritten)  # the sets do contain PII: the comparison is not vacuous


def test_a_full_memo_is_emptied_and_results_stay_the_same(handwritten):
    cfg = PiiConfig()
    tiny = Engine(cfg, memo_size=5)
    plain = Engine(cfg, memo_size=0)
    convs = handwritten[:60] * 2
    assert _outputs(tiny, convs, 16) == _outputs(plain, convs, 16)
    assert len(tiny.text_memo.data) <= 5 and len(tiny.window_memo.data) <= 5


def test_the_memo_skips_long_texts_and_is_off_at_size_zero():
    m = Memo(3)
    m.put("x" * (Memo.MAX_CHARS + 1), (1,))
    assert m.get("x" * (Memo.MAX_CHARS + 1)) is None
    m.put("a", (1,))
    assert m.get("a") == (1,)
    off = Memo(0)
    off.put("a", (1,))
    assert off.get("a") is None


def test_the_engine_module_does_not_import_the_public_pii_module():
    """pii.py starts engines; pii_engine.py must not import pii.py back (no import cycle)."""
    code = "import sys, curate.pii_engine; print('curate.pii' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert out.stdout.strip() == "False"


TRICKY = [
    "Hi, this is Maria. Mr. Smith called; thanks Bob. My name is  Ann, sincerely: Joe",
    "hiMaria, HI MARIA, Hello\\nSister Maria, signed by Ana, signed Bo, card holder Li, cardholder Kim",
    "2Maria said x.Maria hi-Maria Señor Ruiz, Sra. Gómez, Señora Paz, Mme Roux, ÉTIENNE, Émile, Kelvin",
    "transferred you to Ana, transferring you to Bo, transfered you to Cy; my name's Dee, name: Eve",
    "thank you Fay thanks, Gus cheers=Hal; Ms.Ivy Dr  Jo attn: Kai, cc Lu, from: Mo, my name is was Ned",
]


def test_the_letter_indexed_cue_scan_finds_exactly_the_ends_of_the_full_regex():
    from curate import pii_ner

    assert pii_ner._CUE_BY_LETTER is not None  # the cue regex has the shape the fast scan needs
    for text in TRICKY + [t.lower() for t in TRICKY] + [t.upper() for t in TRICKY]:
        assert list(pii_ner._cue_ends(text)) == [m.end() for m in pii_ner._CUE.finditer(text)], text


def test_a_cue_regex_of_another_shape_gets_no_fast_scan():
    import re

    from curate import pii_ner

    assert pii_ner._by_first_letter(re.compile(r"(?i:\b(?:hi|hello)\b)\s*|\d+")) is None
    assert pii_ner._by_first_letter(re.compile(r"\b(?:hi|(?:x)y)\s")) is None
    fast = pii_ner._by_first_letter(re.compile(r"\b(?:hi|hey|(?:a|b)c)\s"))
    assert fast is None  # a word starting with a group: cannot tell its first letter
