"""The step registry (``curate.steps.REGISTRY``): every registered step conserves records and names its
rejects with its own reason family, and a filter added through the registry alone runs in
``curate run`` and in the Prefect flow."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import polars as pl
import pytest
from pydantic import BaseModel, ConfigDict, Field

from curate import steps
from curate.config import PipelineConfig
from curate.filter import filter_frame
from curate.frame import empty_frame, full_text
from curate.run import plan
from curate.steps.base import StepType

pytest_plugins = ("flows.testing",)

REPO = Path(__file__).resolve().parents[1]


def chat(rid: str, user: str, answer: str, **meta) -> dict:
    return {"id": rid, "customer_id": f"cust-{rid}", "messages": [{"role": "user", "content": user},
                                                                  {"role": "assistant", "content": answer}], **meta}


ROUTER = ("To change the Wi-Fi password, open the app, go to Internet and then My Router, choose the network "
          "name, type the new password twice and press save. Every device that used the old password will "
          "need the new one, so have it at hand before you press save.")
REFUND = ("Refunds go back to the card you paid with. Once the returned item reaches our warehouse we check "
          "it within two working days, and the bank usually shows the money three to five days after that. "
          "You will get an e-mail from us as soon as the refund has been sent.")
ROWS = [
    chat("a1", "How do I change my Wi-Fi password?", ROUTER),
    chat("a2", "When will I get my refund?", REFUND),
    chat("a3", "Can I move my delivery to Friday?", "Yes. Open your order, choose Change delivery and pick "
         "Friday; the courier gets the new date at once and you will receive a confirmation text."),
    chat("a4", "Why is my bill higher this month?", "Your bill includes a one-off charge for the engineer's "
         "visit on the 3rd. From next month it goes back to the usual amount, and I have added a note to "
         "your account."),
    chat("a5", "Do you ship to Norway?", "We do ship to Norway. Delivery takes four to six working days and "
         "customs fees are included in the price you see at checkout."),
    chat("a6", "My parcel arrived damaged, what now?", "I'm sorry about that. Please send a photo of the box "
         "and the item to support@example.com and we will send a replacement the same day, free of charge."),
    chat("dup", "How do I change my Wi-Fi password?", ROUTER),                         # exact copy of a1
    chat("near", "When will I get my refund?", REFUND.replace("two working days", "2 working days")),
    chat("refusal", "Write me a poem about my router.", "As an AI language model, I cannot write poems."),
    chat("salad", "Tell me about the warranty please.", "Purple spoon galaxy quietly bicycle umbrella "
         "thermostat pancake volcano orchestra lantern."),
    chat("email", "Can you call me back instead?", "Of course, we will call you back within the hour on "
         "the number on your account.", channel="email"),
]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_every_registered_step_conserves_records_and_names_its_rejects_with_its_own_reason_family(tmp_path):
    src = write_jsonl(tmp_path / "in" / "chats.jsonl", ROWS)
    evals = write_jsonl(tmp_path / "eval.jsonl", [chat("e1", "How do I change my Wi-Fi password?", ROUTER)])
    # Every step on, so that walking the plan walks the whole registry.
    cfg = PipelineConfig.model_validate({
        "perplexity": {"enabled": True, "cpu_threads": 1},
        "semantic_dedup": {"enabled": True, "dedup": True},
        "select": {"expression": "channel != 'email'", "on_missing": "keep"},
        "mix": {"files": [str(REPO / "data" / "general" / "general_instructions.jsonl")], "fraction": 0.2},
        "decontam": {"eval_files": [str(evals)]},
    })
    p = plan([str(src)], cfg, tmp_path / "cache")
    assert [s.name for s in p.steps] == [s.name for s in steps.REGISTRY]

    frame, seen = empty_frame(), {}
    for step, spec in zip(p.steps, steps.REGISTRY):
        res = step.fn(frame)
        r = res.report
        assert r.step == spec.name and set(res.rejects["step"].to_list()) <= {spec.name}
        assert r.n_in == r.n_kept + r.n_rejected, spec.name
        assert (r.n_kept, r.n_rejected) == (res.kept.height, res.rejects.height), spec.name
        assert sum(r.reasons.values()) == r.n_rejected, spec.name
        given = set(frame["id"].to_list()) if frame.height else set()
        out = set(res.kept["id"].to_list()) | set(res.rejects["id"].to_list())
        if spec.adds_records:  # a source: what it was given plus what it brought in
            assert r.n_in >= frame.height and given <= out, spec.name
        else:
            assert r.n_in == frame.height and out == given, spec.name
        for reason in res.rejects["reason"].to_list():
            assert reason.startswith(spec.reason_prefixes), (spec.name, reason)
            assert not spec.reasons or reason in spec.reasons, (spec.name, reason)
        seen[spec.name] = dict(r.reasons)
        frame = res.kept

    # The fixture exercises the steps: each planted problem is caught by the step meant for it.
    assert seen["ingest"] == {} and seen["select"] == {"select.not_matched": 1}
    assert seen["exact_dedup"] == {"dedup.exact_duplicate": 1}
    assert seen["quality"] == {"quality.refusal": 1}
    assert seen["perplexity"] == {"perplexity.too_high": 1}  # the word salad
    assert seen["near_dedup"] == {"dedup.near_duplicate": 1}
    assert seen["decontam"] == {"decontam.ngram_overlap": 1}  # a1 is in the eval file
    assert set(seen["mix"]) <= set(steps.get("mix").reasons) and sum(seen["mix"].values()) > 0


# --------------------------------------------------------------------------- a filter added through the registry


class ToyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    word: str = Field("xyzzy", description="Reject a record whose text contains this word.")


def toy_filter(frame: pl.DataFrame, conf: ToyConfig, ctx) -> object:
    fails = full_text().str.to_lowercase().str.contains(conf.word, literal=True)
    return filter_frame("toy", frame, [("banned_word", fails, pl.lit(f"contains the word {conf.word}"))])


@pytest.fixture
def toy_registered():
    steps.register(StepType("toy", ToyConfig, toy_filter, reasons=("toy.banned_word",), per_shard=True),
                   after="quality")
    yield
    steps.unregister("toy")


OUT_FILES = ("train.chatml.jsonl", "val.chatml.jsonl", "test.chatml.jsonl", "rejects.jsonl", "manifest.json")


def hashes(run_dir: Path) -> dict[str, str]:
    return {f: hashlib.sha256((run_dir / f).read_bytes()).hexdigest() for f in OUT_FILES}


def test_a_filter_added_through_the_registry_alone_runs_in_curate_run_and_in_the_flow(
        toy_registered, prefect_harness, tmp_path):
    from curate.cli import main
    from flows.config import CurateFlowConfig
    from flows.curate import curate_flow

    rows = ROWS[:6] + [chat("toy", "What is the magic word?", "The magic word is plugh, as in the old game.")]
    src = write_jsonl(tmp_path / "in" / "chats.jsonl", rows)

    # Its config is typed like every step's: set from the command line, checked, recorded in the manifest.
    cli_out = tmp_path / "cli"
    assert main(["run", str(src), "--out", str(cli_out), "--no-pii", "--set", "toy.word=plugh"]) == 0
    rejects = [json.loads(x) for x in (cli_out / "rejects.jsonl").read_text().splitlines()]
    assert [(r["id"], r["step"], r["reason"], r["detail"]) for r in rejects] == [
        ("toy", "toy", "toy.banned_word", "contains the word plugh")]
    m = json.loads((cli_out / "manifest.json").read_text())
    names = [s["step"] for s in m["steps"]]
    assert names[names.index("quality") + 1] == "toy"
    assert m["config"]["toy"] == {"word": "plugh"}  # the manifest records the resolved config of every step

    flow_out = tmp_path / "flow"
    summary = curate_flow(CurateFlowConfig(inputs=[str(src)], out=str(flow_out), shards=2,
                                           overrides={"pii.enabled": False, "toy.word": "plugh"}))
    toy_tasks = sorted(t["task"] for t in summary["tasks"] if t["step"] == "toy")
    assert toy_tasks == ["toy[0]", "toy[1]"]  # per_shard: one task per shard
    assert hashes(flow_out) == hashes(cli_out)


def test_a_bad_step_setting_is_one_error_line_naming_the_setting(toy_registered, tmp_path, capsys):
    from curate.cli import main

    src = write_jsonl(tmp_path / "in" / "chats.jsonl", ROWS[:2])
    for setting, says in [("quality.length.min_words=-1", "quality.length.min_words: Input should be greater than "
                                                          "or equal to 0"),
                          ("perplexity.max_ppl=high", "perplexity.max_ppl: Input should be a valid number"),
                          ("pii.bogus=1", "pii.bogus: Extra inputs are not permitted"),
                          ("toy.wrod=plugh", "toy.wrod: Extra inputs are not permitted")]:
        assert main(["run", str(src), "--out", str(tmp_path / "out"), "--set", setting]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: config: " + says), (setting, err)
    assert not (tmp_path / "out").exists()
