"""The heuristic quality filter: every reason code, the check order, details, config, reports."""
from __future__ import annotations

import polars as pl
import pytest
from pydantic import ValidationError

from curate.frame import FRAME_SCHEMA, records_to_frame
from curate.quality import (
    ANNOTATION_COLUMNS,
    CHECK_ORDER,
    REASONS,
    QualityConfig,
    filter_quality,
)
from curate.step import REJECT_SCHEMA
from schemas.record import Record

Q = "How do I reset my router?"
GOOD = ("Unplug the router, wait thirty seconds, and plug it back in. "
        "The lights should turn green within two minutes.")


def rec(rid: str, *turns: str, chosen: str | None = None, system: str | None = None) -> Record:
    """A record whose turns alternate user, assistant, user, ... (after an optional system turn)."""
    msgs = [{"role": "system", "content": system}] if system else []
    msgs += [{"role": ("user", "assistant")[i % 2], "content": c} for i, c in enumerate(turns)]
    return Record(id=rid, source="in.jsonl", line=1, group=rid, messages=msgs,
                  chosen={"role": "assistant", "content": chosen} if chosen else None)


def run(records: list[Record], config: QualityConfig | None = None):
    return filter_quality(records_to_frame(records), config or QualityConfig())


def outcome(result) -> tuple[list[str], dict[str, str]]:
    """(kept ids in order, {rejected id: reason})."""
    return result.kept["id"].to_list(), dict(zip(result.rejects["id"], result.rejects["reason"]))


def details(result) -> dict[str, str]:
    return dict(zip(result.rejects["id"], result.rejects["detail"]))


# One example per reason code, plus clean records that must survive every check.
CASES = [
    rec("clean", Q, GOOD),
    rec("clean_multi", Q, "Have you tried turning it off and on again?", "Yes, twice.", GOOD),
    rec("clean_list", Q, "Try these steps:\n- unplug the router\n- wait thirty seconds\n- plug it back in"),
    rec("clean_code", Q, "Run this:\n```bash\nsudo systemctl restart networking && ip -4 a | grep -E '^[0-9]+:'\n```"),
    rec("clean_emoji", Q, "Unplug the router and plug it back in after thirty seconds 👍"),
    rec("clean_dpo", Q, chosen="Unplug the router and wait thirty seconds before plugging it back in."),
    rec("ends_user", Q, GOOD, "Thanks, and what then?"),     # trimmed to its last assistant turn, kept
    rec("only_user", Q),
    rec("todo", Q, "TODO"),
    rec("insert", Q, "[insert answer]"),
    rec("na", Q, "N/A"),
    rec("ellipsis", Q, "..."),
    rec("angle", Q, "<answer>"),
    rec("lorem", Q, "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor."),
    rec("as_an_ai", Q, "As an AI language model, I cannot touch routers, but unplugging it usually helps."),
    rec("refuse", Q, "I’m sorry, but I can’t assist with that request."),
    rec("short", "hi", "ok"),
    rec("long", Q, " ".join(["Unplug the router and wait."] * 2500)),
    rec("symbols", Q, "#$%^&* @@!! ))(( ^^^ %%% $$$ ### 123 ~~~ +++ === <<< >>> ;;; ..."),
    rec("thanks", Q, "Thank you thank you thank you thank you thank you thank you thank you."),
    rec("spanish", Q, "Desenchufe el router, espere treinta segundos y vuelva a enchufarlo. "
                      "Las luces deberían ponerse verdes en dos minutos."),
    rec("german", Q, "Ziehen Sie den Stecker des Routers, warten Sie dreißig Sekunden und stecken Sie ihn "
                     "wieder ein. Die Lichter sollten dann grün sein."),
    rec("chinese", Q, "请拔下路由器的电源，等待三十秒，然后重新插上。指示灯应在两分钟内变绿。"),
    rec("trunc_and", Q, "Unplug the router, wait thirty seconds, and then plug it back in and"),
    rec("trunc_long", Q, "Unplug the router from the wall socket, wait thirty seconds so that it fully resets, "
                         "then plug it back in and wait for the lights on the front to turn green before you try "
                         "to connect again from"),
    rec("trunc_paren", Q, "Unplug the router, wait thirty seconds and plug it back in (the lights should turn."),
    Record(id="trunc_cut", source="in.jsonl", line=1, group="trunc_cut", provenance="synthetic",
           meta={"synth": {"finish_reason": "length"}},
           messages=[{"role": "user", "content": Q}, {"role": "assistant", "content": GOOD}]),
]
CASE = {r.id: r for r in CASES}
EXPECTED_REJECTS = {
    "only_user": "quality.ends_on_user",
    "todo": "quality.placeholder", "insert": "quality.placeholder", "na": "quality.placeholder",
    "ellipsis": "quality.placeholder", "angle": "quality.placeholder", "lorem": "quality.placeholder",
    "as_an_ai": "quality.refusal", "refuse": "quality.refusal",
    "short": "quality.too_short", "long": "quality.too_long",
    "symbols": "quality.low_alpha",
    "thanks": "quality.repetition",
    "spanish": "quality.wrong_language", "german": "quality.wrong_language", "chinese": "quality.wrong_language",
    "trunc_and": "quality.truncated", "trunc_long": "quality.truncated", "trunc_paren": "quality.truncated",
    "trunc_cut": "quality.truncated",
}


def test_each_check_rejects_its_example_with_its_reason_and_clean_records_survive():
    kept, rejected = outcome(run(CASES))

    assert kept == ["clean", "clean_multi", "clean_list", "clean_code", "clean_emoji", "clean_dpo", "ends_user"]
    assert rejected == EXPECTED_REJECTS
    assert set(rejected.values()) == set(REASONS)


def test_the_report_conserves_records_and_counts_each_reason():
    result = run(CASES)

    assert result.report.n_in == len(CASES) == result.report.n_kept + result.report.n_rejected
    assert result.report.reasons["quality.placeholder"] == 6
    assert result.report.reasons["quality.wrong_language"] == 3
    assert result.rejects.schema == pl.Schema(REJECT_SCHEMA)
    assert set(result.rejects["step"]) == {"quality"}
    assert set(result.rejects["source"]) == {"in.jsonl"}


def test_details_name_the_measure_and_the_threshold_and_never_the_text():
    d = details(run(CASES))

    assert d["only_user"] == "no assistant turn before the trailing user turns"
    assert d["todo"] == "assistant turn 1 of 1 is empty or a placeholder"
    assert d["as_an_ai"] == "matches refusal phrase 'as an ai language model'"
    assert d["refuse"] == "matches refusal phrase 'i'm sorry, but i can't assist'"
    assert d["short"] == "conversation words 2 < min_words 4"
    assert d["long"] == "conversation words 12506 > max_words 12000"
    assert d["symbols"] == "alpha ratio 0.0 < min_ratio 0.5"
    assert d["thanks"] == "duplicate 4-gram fraction 0.818 > 0.3"
    assert d["spanish"] == "language es (stopword ratio 0.278) not in expected en (best expected ratio 0.056)"
    assert d["chinese"] == "language other (Latin-script letters below 0.5), expected en"
    assert d["trunc_and"] == "assistant turn 1 of 1 ends mid-sentence: a dangling connector word or comma"
    assert d["trunc_long"] == "assistant turn 1 of 1 ends mid-sentence: no sentence-ending punctuation after 30+ words"
    assert d["trunc_paren"] == "assistant turn 1 of 1 ends mid-sentence: an open bracket or quote"
    assert d["trunc_cut"] == "the generator stopped at its token limit (finish_reason length)"
    texts = {r.id: " ".join(m.content for m in r.messages) for r in CASES}
    for rid, detail in d.items():
        assert texts[rid][:12].lower() not in detail.lower(), rid


def test_the_first_failing_check_in_the_documented_order_gives_the_reason():
    # A short refusal that also ends mid-sentence: refusal (3) beats too_short (4) and truncated (9).
    both = rec("both", Q, "I must decline to")
    # Short and truncated: too_short (4) beats truncated (9).
    short_cut = rec("short_cut", Q, "Unplug the")
    # A placeholder in the first turn and a conversation ending on the user: ends_on_user (1) wins.
    first = rec("first", Q, "TODO", "and then?")
    result = run([both, short_cut, first], QualityConfig(ends_on_user={"mode": "reject"},
                                                         length={"scope": "assistant", "min_words": 3}))

    assert outcome(result) == ([], {"both": "quality.refusal", "short_cut": "quality.too_short",
                                    "first": "quality.ends_on_user"})
    assert result.report.stats["fails.truncated"] == 2  # every failing check is counted, not only the first
    assert result.report.stats["fails.too_short"] == 2  # "I must decline to" has 4 words: not short
    assert CHECK_ORDER == ("ends_on_user", "placeholder", "refusal", "too_short", "too_long",
                           "low_alpha", "repetition", "wrong_language", "truncated")


def test_placeholder_names_which_assistant_turn_and_an_empty_turn_counts():
    frame = records_to_frame([rec("second", Q, GOOD, "And the modem?", "[your answer here]")])
    empty = frame.with_columns(pl.lit("e").alias("id"), pl.col("messages").list.eval(
        pl.struct(pl.element().struct.field("role"),
                  pl.when(pl.element().struct.field("role") == "assistant").then(pl.lit("  "))
                  .otherwise(pl.element().struct.field("content")).alias("content"),
                  *[pl.element().struct.field(f) for f in ("name", "tool_call_id", "tool_calls")])))
    no_assistant = frame.with_columns(pl.lit("none").alias("id"),
                                      pl.col("messages").list.head(1).list.concat(
                                          pl.col("messages").list.head(1).list.eval(
                                              pl.element().struct.with_fields(pl.lit("system").alias("role")))))
    result = filter_quality(pl.concat([frame, empty, no_assistant]), QualityConfig())

    assert outcome(result) == ([], {"second": "quality.placeholder", "e": "quality.placeholder",
                                    "none": "quality.placeholder"})
    assert details(result) == {"second": "assistant turn 2 of 2 is empty or a placeholder",
                               "e": "assistant turn 1 of 2 is empty or a placeholder",
                               "none": "no assistant text"}


def test_preference_records_are_judged_on_chosen_and_may_end_on_the_user():
    result = run([rec("ok", Q, chosen=GOOD), rec("bad", Q, chosen="TODO"),
                  rec("bad_rejected_is_not_judged", Q, chosen=GOOD)])
    frame = records_to_frame([rec("x", Q, chosen=GOOD)]).with_columns(pl.lit("TODO").alias("rejected"))
    assert outcome(result) == (["ok", "bad_rejected_is_not_judged"], {"bad": "quality.placeholder"})
    assert outcome(filter_quality(frame, QualityConfig())) == (["x"], {})


def test_length_counts_the_whole_conversation_by_default_or_assistant_words_only():
    long_question = " ".join(["word"] * 30) + "?"
    records = [rec("a", long_question, "Yes, that works fine.")]
    assert outcome(run(records, QualityConfig(length={"max_words": 10, "scope": "assistant"}))) == (["a"], {})
    by_conversation = run(records, QualityConfig(length={"max_words": 10}))
    assert outcome(by_conversation) == ([], {"a": "quality.too_long"})
    assert details(by_conversation)["a"] == "conversation words 34 > max_words 10"
    # A one-word answer to a real question is kept; a "hi" / "ok" exchange is too short.
    trivia = [rec("q", "Islamabad is the capital of which country?", "Pakistan"), rec("hi", "hi", "ok")]
    assert outcome(run(trivia)) == (["q"], {"hi": "quality.too_short"})


def test_cjk_characters_count_as_words():
    result = run([rec("zh", Q, "好的。")], QualityConfig(language={"enabled": False},
                                                  length={"scope": "assistant", "min_words": 3}))
    assert outcome(result) == (["zh"], {})
    assert result.kept["q_words"].to_list() == [3]


def test_thresholds_are_configurable():
    records = [rec("short", Q, "Unplug it."), rec("clean", Q, GOOD),
               rec("spanish", Q, CASE['spanish'].messages[1].content), rec("thanks", Q, CASE['thanks'].messages[1].content)]
    config = QualityConfig(length={"min_words": 1, "max_words": 18, "scope": "assistant"},
                           language={"expected": ["en", "es"]},
                           repetition={"max_dup_ngram_frac": 0.9, "max_top_ngram_frac": 1.0})
    assert outcome(run(records, config)) == (["short", "spanish", "thanks"], {"clean": "quality.too_long"})

    strict_alpha = QualityConfig(alpha={"min_ratio": 0.97})
    assert outcome(run([rec("clean", Q, GOOD)], strict_alpha)) == ([], {"clean": "quality.low_alpha"})


def test_a_support_agent_declining_a_business_request_is_not_a_refusal():
    records = [rec("policy", "Can you ship today?", "I'm sorry, but I cannot fulfill orders placed after 5 pm "
                                                    "on the same day. It will ship tomorrow morning.")]
    assert outcome(run(records)) == (["policy"], {})


def test_refusal_phrases_are_configurable_and_match_case_insensitively():
    config = QualityConfig(refusal={"phrases": ["Please Consult A Professional"]})
    records = [rec("custom", Q, "You should please consult a professional about that router."),
               rec("default_gone", Q, "As an AI language model, I think unplugging it will help.")]
    assert outcome(run(records, config)) == (["default_gone"], {"custom": "quality.refusal"})


def test_repetition_is_judged_only_on_texts_with_enough_words():
    few = rec("few", Q, "Thanks, thanks, thanks!")
    many = rec("many", Q, "Please please please please please please please please please help me now.")
    natural = rec("natural", Q, "Your plan covers the modem. Your plan also covers the router, and "
                                "your plan covers the phone line as well.")
    result = run([few, many, natural])
    assert outcome(result) == (["few", "natural"], {"many": "quality.repetition"})
    assert result.kept["q_dup_ngram"].to_list()[0] is None
    only_top = QualityConfig(repetition={"max_dup_ngram_frac": 1.0, "max_top_ngram_frac": 0.5})
    d = details(run([many], only_top))
    assert d == {"many": "top 2-gram covers 1.0 of words > 0.5"}


def test_language_is_not_judged_below_min_words_and_unknown_is_kept_unless_asked():
    short_es = rec("short_es", Q, "Sí, desenchufe el router.")
    mash = rec("mash", Q, "asdkj qwelk zxcmn poiuy lkjhg mnbvc qwert yuiop asdfg hjklz.")
    result = run([short_es, mash])
    assert outcome(result) == (["short_es", "mash"], {})
    assert result.kept["q_lang"].to_list() == [None, "unknown"]
    strict = QualityConfig(language={"reject_unknown": True})
    assert outcome(run([short_es, mash], strict)) == (["short_es"], {"mash": "quality.wrong_language"})
    assert details(run([mash], strict))["mash"] == ("language unknown (best stopword ratio 0.0 < 0.1), "
                                                    "expected en")


@pytest.mark.parametrize("lang,text", [
    ("fr", "Débranchez le routeur, attendez trente secondes et rebranchez-le. Les voyants doivent "
           "devenir verts en deux minutes."),
    ("it", "Scollega il router, aspetta trenta secondi e poi ricollegalo. Le luci dovrebbero diventare "
           "verdi in due minuti, se non è così chiama il supporto."),
    ("pt", "Desligue o roteador da tomada, espere trinta segundos e ligue de novo. As luzes devem ficar "
           "verdes em dois minutos, se não ficarem você deve ligar para o suporte."),
    ("nl", "Haal de stekker van de router uit het stopcontact, wacht dertig seconden en steek hem er "
           "weer in. De lampjes worden dan groen."),
    ("de", CASE['german'].messages[1].content),
    ("es", CASE['spanish'].messages[1].content),
    ("en", GOOD),
])
def test_the_language_guess_tells_the_supported_languages_apart(lang, text):
    result = run([rec("x", Q, text)], QualityConfig(language={"expected": [lang]}))
    assert outcome(result) == (["x"], {})
    assert result.kept["q_lang"].to_list() == [lang]


def test_code_blocks_are_left_out_of_alpha_repetition_and_language():
    code = "```json\n" + "{\"a\": [1, 2, 3], \"b\": {\"c\": null}}\n" * 20 + "```"
    result = run([rec("json", Q, "Here is the data you asked for, in the format the API returns.\n" + code)])
    assert outcome(result) == (["json"], {})
    row = result.kept.row(0, named=True)
    assert row["q_dup_ngram"] == 0.0 and row["q_alpha"] > 0.9 and row["q_lang"] == "en"


@pytest.mark.parametrize("ending,truncated", [
    ("done.", False), ("done!", False), ("done?", False), ('he said "done."', False), ("done…", False),
    ("done :)", False), ("done 🎉", False), ("done ❤️", False), ("see https://example.com/help", False),
    ("write to help@example.com", False), ("**done**", False), ("```\nls -la\n```", False),
    ("steps:\n1. unplug\n2. replug", False), ("| a | b |\n| 1 | 2 |", False),
    ("done", False), ("done,", True), ("done and", True), ("it is one of the", True), ("steps:", True),
    ("- unplug and", True), ("```\nls -la", True), ("prices, e.g. $4", False),
    # short chat replies need no full stop; a long unpunctuated turn is cut
    ("maybe a bionic robot", False),
    ("wait until the lights on the front of the box stop blinking and turn a steady green which can take up to "
     "five minutes on older models and then try to connect again from your laptop or phone", True),
    # an open bracket or quote is cut; emoticons and list markers are not brackets
    ("see (the manual", True), ('he said "done', True), ("done :) (yes)", False), ("done :(", False),
    ("steps:\n1) unplug\n2) replug", False), ("see the `f(` call.", False),
])
def test_truncation_accepts_sentence_ends_lists_emoji_and_links(ending, truncated):
    text = "Unplug the router first, then " + ending
    result = run([rec("x", Q, text)], QualityConfig(length={"min_words": 0}, language={"enabled": False},
                                                    alpha={"enabled": False}))
    assert outcome(result) == (([], {"x": "quality.truncated"}) if truncated else (["x"], {}))


def test_truncation_of_any_turn_or_only_the_last():
    records = [rec("mid", Q, "Let me check that for you and", "Sure.", GOOD)]
    result = run(records, QualityConfig(truncated={"turns": "all"}))
    assert outcome(result) == ([], {"mid": "quality.truncated"})
    assert details(result)["mid"] == "assistant turn 1 of 2 ends mid-sentence: a dangling connector word or comma"
    # By default only the last turn is judged: an earlier turn that trails off was answered.
    assert outcome(run(records)) == (["mid"], {})
    d = details(run([rec("last", Q, GOOD, "And?", "Then plug it into the")], QualityConfig(truncated={"turns": "last"})))
    assert d == {"last": "assistant turn 2 of 2 ends mid-sentence: a dangling connector word or comma"}


def test_a_disabled_check_rejects_nothing_and_leaves_its_annotation_null():
    off = {name: {"enabled": False} for name in ("ends_on_user", "placeholder", "refusal", "length", "alpha",
                                                 "repetition", "language", "truncated")}
    result = run(CASES, QualityConfig(**off))
    assert result.rejects.height == 0 and result.kept.height == len(CASES)
    assert all(result.kept[c].null_count() == len(CASES) for c in ANNOTATION_COLUMNS)

    kept, rejected = outcome(run(CASES, QualityConfig(language={"enabled": False})))
    assert {"spanish", "german", "chinese"} <= set(kept)
    assert rejected == {k: v for k, v in EXPECTED_REJECTS.items() if v != "quality.wrong_language"}


def test_the_whole_step_can_be_disabled():
    result = run(CASES, QualityConfig(enabled=False))
    assert result.kept["id"].to_list() == [r.id for r in CASES]
    assert result.kept.columns == [*FRAME_SCHEMA, *ANNOTATION_COLUMNS]
    assert result.report.to_dict()["stats"] == {}


def test_kept_rows_keep_their_columns_and_gain_typed_annotations_once():
    result = run(CASES)
    assert result.kept.columns == [*FRAME_SCHEMA, *ANNOTATION_COLUMNS]
    assert {c: result.kept.schema[c] for c in ANNOTATION_COLUMNS} == {
        "q_words": pl.Int64, "q_alpha": pl.Float64, "q_dup_ngram": pl.Float64, "q_top_ngram": pl.Float64,
        "q_lang": pl.String}
    row = result.kept.row(0, named=True)
    assert row["q_words"] == 25 and row["q_lang"] == "en" and 0.9 < row["q_alpha"] < 1.0  # 6 + 19 words
    again = filter_quality(result.kept, QualityConfig())  # annotations are replaced, not duplicated
    assert again.kept.equals(result.kept)


def test_reports_of_shards_add_up_to_the_report_of_the_whole():
    frame = records_to_frame(CASES)
    whole = filter_quality(frame, QualityConfig()).report
    a = filter_quality(frame.head(10), QualityConfig()).report
    b = filter_quality(frame.tail(len(CASES) - 10), QualityConfig()).report
    merged = a + b
    assert merged.to_dict() == whole.to_dict()
    assert whole.stats["lang.en"] >= 8 and whole.stats["lang.other"] == 1


def test_an_empty_frame_gives_an_empty_result():
    result = filter_quality(pl.DataFrame(schema=FRAME_SCHEMA), QualityConfig())
    assert result.kept.height == 0 and result.rejects.height == 0
    assert result.kept.columns == [*FRAME_SCHEMA, *ANNOTATION_COLUMNS]
    assert result.report.n_in == 0


def test_the_step_is_deterministic():
    frame = records_to_frame(CASES)
    a, b = filter_quality(frame, QualityConfig()), filter_quality(frame, QualityConfig())
    assert a.kept.equals(b.kept) and a.rejects.equals(b.rejects) and a.report.to_dict() == b.report.to_dict()


def test_the_config_is_frozen_strict_and_documented():
    with pytest.raises(ValidationError, match="extra"):
        QualityConfig(lenght={"min_words": 3})
    with pytest.raises(ValidationError, match="max_words"):
        QualityConfig(length={"min_words": 10, "max_words": 5})
    with pytest.raises(ValidationError, match="not a valid regex"):
        QualityConfig(placeholder={"patterns": ["(unclosed"]})
    with pytest.raises(ValidationError):
        QualityConfig(language={"expected": ["xx"]})
    with pytest.raises(ValidationError):
        QualityConfig(alpha={"min_ratio": 1.5})
    config = QualityConfig()
    with pytest.raises(ValidationError):
        config.enabled = False  # type: ignore[misc]
    assert QualityConfig.model_validate(config.model_dump()) == config
    for model in (QualityConfig, *[type(getattr(config, f)) for f in QualityConfig.model_fields if f != "enabled"]):
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"


def test_a_punctuation_only_reply_is_a_placeholder_only_as_the_only_answer():
    chat = rec("chat", "I got the job!", ":)", "Starting Monday, in the city.", "Congratulations, that is great news.")
    alone = rec("alone", Q, "...")
    assert outcome(run([chat, alone])) == (["chat"], {"alone": "quality.placeholder"})
    strict = QualityConfig(placeholder={"punctuation_only": "any_turn"})
    assert outcome(run([chat], strict)) == ([], {"chat": "quality.placeholder"})


def test_trailing_user_turns_are_trimmed_and_counted_or_rejected_on_request():
    r = run([rec("thanks", Q, GOOD, "thanks!"), rec("clean", Q, GOOD)])
    assert outcome(r) == (["thanks", "clean"], {}) and r.report.stats["trimmed.ends_on_user"] == 1
    assert [m["role"] for m in r.kept["messages"][0]] == ["user", "assistant"]
    strict = run([rec("thanks", Q, GOOD, "thanks!")], QualityConfig(ends_on_user={"mode": "reject"}))
    assert outcome(strict) == ([], {"thanks": "quality.ends_on_user"})
