"""The PII engine's speed-ups change no output: memoised per-text work equals recomputing it."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from curate.pii import PiiConfig
from curate.pii_engine import Engine, Memo

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


def _eval_set():
    path = ROOT / "benchmarks" / "pii_eval_set.py"
    spec = importlib.util.spec_from_file_location("pii_eval_set", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def handwritten() -> list[list[dict]]:
    mod = _eval_set()
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
