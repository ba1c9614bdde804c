"""Heuristic quality filter: cheap, vectorised checks on the assistant side of each record.

`filter_quality` measures every record with polars expressions (no Python loop
over rows), then rejects a record for the *first* failing check in this fixed
order (`CHECK_ORDER`)::

    1. quality.ends_on_user     only user turns are left once trailing user turns are trimmed
                                (``mode="reject"``: the last turn is a user turn)
    2. quality.placeholder      an assistant turn is empty or a placeholder ("TODO", "[insert answer]", "...")
    3. quality.refusal          boilerplate refusal / "As an AI language model" disclaimer
    4. quality.too_short        fewer words than ``length.min_words``
    5. quality.too_long         more words than ``length.max_words``
    6. quality.low_alpha        alphabetic-character ratio of the assistant prose below threshold
    7. quality.repetition       duplicated word n-grams / most frequent n-gram cover too much text
    8. quality.wrong_language   detected language (stopword ratios) not among the expected ones
    9. quality.truncated        the last assistant turn ends mid-sentence (evidence below)

Specific content patterns come first (a "TODO" answer is a placeholder, not
merely short), then size, then statistical text measures, then the language
guess, and truncation last (it is the check most often tripped by informal but
otherwise good chat data).

What is measured:

- *assistant text*: the contents of all assistant turns, joined by newlines;
  for a preference record (``chosen`` set, ``messages`` being the prompt) the
  ``chosen`` answer counts as the last assistant turn. The ``rejected`` answer
  is never judged: it is meant to be worse.
- *prose*: the assistant text with fenced code blocks (```...```) removed;
  alpha ratio, repetition and language are measured on prose, so a code answer
  is not called symbol soup. A record whose prose is empty is not judged by
  those three checks.
- *words*: whitespace-separated runs of characters, each CJK ideograph or kana
  counting as one word (those scripts put no spaces between words). Counted on
  the assistant text by default (``length.scope="assistant"``) or on all turns
  (``"conversation"``). Repetition and language work on the lower-cased letter
  runs of the prose instead (``don't`` -> ``don``, ``t``; digits and
  punctuation drop out).

Kept rows get five annotation columns (`ANNOTATION_COLUMNS`; null where the
check that owns the measure is disabled or the record was not judged):
``q_words`` (Int64), ``q_alpha`` (Float64), ``q_dup_ngram`` (Float64),
``q_top_ngram`` (Float64), ``q_lang`` (String: a language code, ``"unknown"``
or ``"other"``). Drop them with ``frame.drop(ANNOTATION_COLUMNS)``. Reject
details name the measured value and the threshold, never raw text.

The report's ``stats`` are additive sums and counts only, so shard reports add up.

Measured precision on real dialog data (``benchmarks/bench_retention.py --no-pii --examples N``,
every flag read by hand; chitchat-dataset 0.9.0: 4,017 two-party chats, chatterbot-corpus
1.3.3 English: 899 distinct conversations):

- truncated: chitchat 29 flags (0.7%), 11 truly unfinished (38%): dangling word or comma
  11 of 15 ("a machine's capability to", "linking park,"), open bracket/quote 1 of 5 (people
  leave parentheses open), 30+ unpunctuated words 0 of 9 (people write run-on sentences; kept
  because the issue asks for it and it is the signal of a cut LLM answer). chatterbot 0 flags;
  the sample: 2 flags, both planted cuts. Before (every turn, any turn without final
  punctuation) it flagged 1,570 chitchat chats (39%), nearly all false.
- too_short: chitchat 70 flags, 15 of 15 read are greeting-only exchanges ("hi" / "Hello?");
  chatterbot 5 ("Hi" / "Hello", "Robots rule."). Assistant-only counting flagged 265 chatterbot
  trivia answers ("Pakistan", "Mary Shelley.") that are good data.
- placeholder: chitchat 1 ("?\n?\n??" as the only answer), chatterbot 1 (a lone "'" turn): both
  true. Punctuation-only turns in multi-turn chat (":)", "?") had caused 32 false chitchat flags.
- ends_on_user (trim): 1,882 chitchat and 43 chatterbot conversations kept, trimmed of a trailing
  user turn, that ``reject`` would have dropped.
"""
from __future__ import annotations

import re
from typing import Annotated, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from curate.frame import contents
from curate.step import StepResult, partition
from curate.filter import Check, fail_stats, judge, rules

STEP = "quality"
CHECK_ORDER: tuple[str, ...] = (
    "ends_on_user", "placeholder", "refusal", "too_short", "too_long",
    "low_alpha", "repetition", "wrong_language", "truncated",
)
REASONS: tuple[str, ...] = tuple(f"{STEP}.{c}" for c in CHECK_ORDER)
ANNOTATION_COLUMNS: tuple[str, ...] = ("q_words", "q_alpha", "q_dup_ngram", "q_top_ngram", "q_lang")

Language = Literal["en", "es", "de", "fr", "it", "pt", "nl"]
Ratio = Annotated[float, Field(ge=0.0, le=1.0)]

# --------------------------------------------------------------------------- defaults

# Full-match patterns (Rust regex syntax, matched against the stripped, lower-cased turn).
DEFAULT_PLACEHOLDERS: tuple[str, ...] = (
    r"(?:todo|tbd|tba|fixme|xxx)(?:\s*[:\-].*)?",      # "TODO", "TODO: write this"
    r"n/?a\.?|null|undefined|nan|placeholder\.?",
    r"\[[^\]]*\]",                                     # "[insert answer]", "[your response here]"
    r"<[^<>]*>",                                       # "<answer>"
    r"\{\{?[^{}]*\}\}?",                               # "{answer}", "{{response}}"
    r"(?:(?:insert|your|add|write|put) )?(?:the |your )?"      # "insert answer here", "your response here"
    r"(?:answer|response|reply|text|content|output) (?:goes )?here\.?",
    r"(?s).*lorem ipsum.*",                            # lorem ipsum anywhere in the turn
)

# Literal phrases, matched case-insensitively anywhere in the assistant text (’ is read as ').
DEFAULT_REFUSALS: tuple[str, ...] = (
    "as an ai language model", "as a language model", "as a large language model", "as an ai model",
    "as an ai assistant, i", "as an artificial intelligence", "i am an ai language model",
    "i'm just an ai", "i am just an ai", "i'm only an ai", "i am only an ai",
    "my knowledge cutoff", "my training data only goes", "against my programming",
    "i don't have personal opinions", "i do not have personal opinions",
    "i don't have personal feelings", "i do not have personal feelings",
    "i'm sorry, but i can't assist", "i'm sorry, but i cannot assist", "i am sorry, but i cannot assist",
    "i can't assist with that", "i cannot assist with that", "i can't help with that request",
    "i cannot help with that request",
    # "fulfill" only with "that/this request": a support agent "cannot fulfill orders placed after 5 pm".
    "i cannot fulfill that request", "i cannot fulfill this request", "i can't fulfill that request",
    "i can't fulfill this request", "i'm unable to fulfill that request", "i am unable to fulfill that request",
    "i cannot comply with that", "i can't comply with that", "i must decline to",
)

# A turn ending here ends a sentence: punctuation, closing quotes/brackets, markdown
# emphasis or a code fence, an emoji, or a bare URL / e-mail address.
DEFAULT_TERMINAL = (
    r"""(?:[.!?…。！？؟;"'”’»)\]}*`>_]|[\p{Extended_Pictographic}\p{Emoji_Modifier}\x{FE0F}\x{20E3}]"""
    r"""|https?://\S+|[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+)\z"""
)
# Words that almost never end an English sentence. Not "with", "for", "of", "but": chat ends on them
# ("fun to do stuff with", "kind of", "...style but"); measured on chitchat-dataset.
DEFAULT_DANGLING_WORDS: tuple[str, ...] = (
    "and", "or", "nor", "the", "a", "an", "to", "because", "than",
)

STOPWORDS: dict[str, frozenset[str]] = {
    "en": frozenset("""the be to of and a in that have i it for not on with he as you do at this but his by
        from they we say her she or an will my one all would there their what so up out if about who get which
        go me when make can like time no just him know take people into year your good some could them see
        other than then now look only come its over think also back after use two how our work first well way
        even new want because any these give day most us is are was were has had been am does did don t s
        re ll ve please thanks thank""".split()),
    "es": frozenset("""de la que el en y a los del se las por un para con no una su al lo como más pero sus
        le ya o este sí porque esta entre cuando muy sin sobre también me hasta hay donde quien desde todo nos
        durante todos uno les ni contra otros ese eso ante ellos e esto mí antes algunos qué unos yo otro otras
        otra él tanto esa estos mucho quienes nada muchos cual poco ella estar estas algunas algo nosotros mi
        mis tú te ti tu tus es son está están puede usted hola gracias""".split()),
    "de": frozenset("""der die und in den von zu das mit sich des auf für ist im dem nicht ein eine als auch
        es an werden aus er hat dass sie nach wird bei einer um am sind noch wie einem über einen so zum war
        haben nur oder aber vor zur bis mehr durch man sein wurde sei ich du wir ihr mich mir dich dir kann
        können ihre unser sehr hier danke bitte""".split()),
    "fr": frozenset("""de la le et les des en un une du est que qui dans pour pas au sur ne se ce il elle
        plus par je vous nous avec sont mais ou on tout comme fait été aux sa son ses mon ma mes y a cette ces
        leur leurs bien peut être avoir l d j n qu c s m t très aussi donc si votre vos merci bonjour""".split()),
    "it": frozenset("""di e il la che a per un in non è una i del le con si da sono lo al della come ma ci ha
        dei nel gli più se mi anche questo alla o ti ne io tu lui lei noi voi loro mio tuo suo essere ho hai
        molto sul nella delle degli fa perché quando ancora c l dell all grazie ciao""".split()),
    "pt": frozenset("""de a o que e do da em um para é com não uma os no se na por mais as dos como mas foi ao
        ele das tem à seu sua ou ser quando muito há nos já está eu também só pelo pela até isso ela entre era
        depois sem mesmo aos ter seus quem nas me esse eles estão você vocês tinha foram essa num nem suas meu
        minha às obrigado olá""".split()),
    "nl": frozenset("""de en van ik te dat die in een hij het niet zijn is was op aan met als voor had er maar
        om hem dan zou of wat mijn men dit zo door over ze zich bij ook tot je mij uit der daar haar naar heb
        hoe heeft hebben deze u want nog zal me zij nu ge geen omdat iets worden toch al waren veel meer doen
        moet wel dank hallo jullie wij onze""".split()),
}
LANGUAGES: tuple[str, ...] = tuple(STOPWORDS)

_CJK = r"\p{Han}\p{Hiragana}\p{Katakana}"
WORD_PATTERN = rf"[{_CJK}]|[^\s{_CJK}]+"
_CODE_FENCE_BLOCK = r"(?s)```.*?(?:```|\z)"


def _check_rust_regex(pattern: str) -> str:
    try:
        pl.select(pl.lit("").str.contains(pattern))
    except Exception as exc:  # polars raises ComputeError; say which pattern, in one line
        raise ValueError(f"not a valid regex: {pattern!r} ({str(exc).splitlines()[0]})") from None
    return pattern


# --------------------------------------------------------------------------- config


class _Check(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=True, description="Run this check (a disabled check rejects nothing "
                                                     "and leaves its annotation column null).")


class EndsOnUserCheck(_Check):
    """quality.ends_on_user: the last turn is a user turn (preference records, whose prompt ends
    on the user by design, are exempt).

    ``mode="trim"`` (default) drops the trailing user turns ("thanks!") and keeps the
    conversation (counted in stats as ``trimmed.ends_on_user``); only a conversation left
    with no assistant turn is rejected. ``mode="reject"`` rejects every such conversation.
    """

    mode: Literal["trim", "reject"] = Field(
        default="trim", description="trim: drop trailing user turns and keep the rest; reject: reject the record.")


class PlaceholderCheck(_Check):
    """quality.placeholder: an assistant turn is empty or a placeholder."""

    punctuation_only: Literal["only_answer", "any_turn", "off"] = Field(
        default="only_answer",
        description="A turn of nothing but punctuation ('...', '???', '-', ':)') is a placeholder when it is the "
                    "record's only assistant turn; in a multi-turn chat it is a normal reply ('?', ':)').")
    patterns: tuple[str, ...] = Field(
        default=DEFAULT_PLACEHOLDERS,
        description="Regexes (Rust syntax) that must match a whole assistant turn, stripped and "
                    "lower-cased, for it to count as a placeholder. Empty turns always count.")

    @field_validator("patterns")
    @classmethod
    def _valid(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_check_rust_regex(p) for p in value)


class RefusalCheck(_Check):
    """quality.refusal: boilerplate refusals and AI disclaimers."""

    phrases: tuple[Annotated[str, Field(min_length=3)], ...] = Field(
        default=DEFAULT_REFUSALS,
        description="Literal phrases matched case-insensitively anywhere in the assistant text "
                    "(a typographic apostrophe ’ matches ').")


class LengthCheck(_Check):
    """quality.too_short / quality.too_long: word count bounds."""

    scope: Literal["assistant", "conversation"] = Field(
        default="conversation",
        description="Count words of every turn, or of the assistant turns only. Every turn by default: a "
                    "one-word answer to a real question ('Which country ...?' 'Pakistan') is good data; a "
                    "'hi' / 'ok' exchange is not.")
    min_words: Annotated[int, Field(ge=0)] = Field(
        default=4, description="Reject with quality.too_short below this many words (0 turns it off).")
    max_words: Annotated[int, Field(ge=1)] | None = Field(
        default=12000, description="Reject with quality.too_long above this many words (null turns it off). "
                                   "A guard against dumps, not a context limit: training drops examples longer "
                                   "than its max sequence length (never truncates); real chats reach ~9,000 "
                                   "words (chitchat-dataset).")

    @model_validator(mode="after")
    def _ordered(self) -> "LengthCheck":
        if self.max_words is not None and self.max_words < self.min_words:
            raise ValueError(f"max_words ({self.max_words}) is below min_words ({self.min_words})")
        return self


class AlphaCheck(_Check):
    """quality.low_alpha: symbol soup, digit dumps, keyboard mash with symbols."""

    min_ratio: Ratio = Field(
        default=0.5, description="Reject when letters / non-whitespace characters of the assistant prose "
                                 "(code blocks removed) is below this.")
    min_chars: Annotated[int, Field(ge=1)] = Field(
        default=10, description="Prose with fewer non-whitespace characters is not judged.")


class RepetitionCheck(_Check):
    """quality.repetition: Gopher-style repeated n-grams ("thank you thank you thank you ...")."""

    dup_ngram: Annotated[int, Field(ge=1, le=10)] = Field(
        default=4, description="n of the word n-grams whose duplicate fraction is measured.")
    max_dup_ngram_frac: Ratio = Field(
        default=0.3, description="Reject when the fraction of word n-grams that repeat an earlier n-gram "
                                 "(1 - unique / total) is above this.")
    top_ngram: Annotated[int, Field(ge=1, le=10)] = Field(
        default=2, description="n of the word n-grams whose most frequent one is measured.")
    max_top_ngram_frac: Ratio = Field(
        default=0.5, description="Reject when the most frequent n-gram's occurrences cover more than this "
                                 "fraction of the words (occurrences * n / words, capped at 1).")
    min_words: Annotated[int, Field(ge=2)] = Field(
        default=10, description="Prose with fewer words is not judged (short texts repeat by chance).")


class LanguageCheck(_Check):
    """quality.wrong_language: a stopword-ratio language guess for en/es/de/fr/it/pt/nl."""

    expected: tuple[Language, ...] = Field(
        default=("en",), min_length=1, description="Languages a record may be in.")
    min_words: Annotated[int, Field(ge=1)] = Field(
        default=10, description="Prose with fewer words is not judged.")
    min_stopword_ratio: Ratio = Field(
        default=0.1, description="Below this best stopword ratio the language is 'unknown'.")
    min_latin_ratio: Ratio = Field(
        default=0.5, description="Below this share of Latin-script letters the language is 'other' "
                                 "(none of the supported languages), which is always wrong.")
    reject_unknown: bool = Field(
        default=False, description="Also reject 'unknown' (Latin script but no stopword signal: lists of "
                                   "names, keyboard mash). Off by default: the perplexity filter is the "
                                   "better judge of those.")


class TruncationCheck(_Check):
    """quality.truncated: an assistant turn that stops mid-sentence.

    Evidence, in order: an unclosed code fence; a turn ending on a dangling word, comma,
    colon or dash; an open bracket or double quote; a last sentence of ``min_words_unpunctuated``
    words without sentence-ending punctuation; a generator that stopped at its token limit.
    Precision on real chat (module docstring): 38% overall on chitchat-dataset (29 flags in
    4,017 chats), 73% for a dangling word or comma, 0 of 9 for the 30+ words rule.
    """

    turns: Literal["all", "last"] = Field(
        default="last", description="Judge only the last assistant turn (a generator or an export cuts the "
                                    "end; a person's earlier turn that trails off was answered) or every one.")
    terminal_pattern: str = Field(
        default=DEFAULT_TERMINAL,
        description="Regex (Rust syntax) that a stripped turn must match to end a sentence. A turn whose "
                    "last line is a list item or table row needs none.")
    dangling_words: tuple[Annotated[str, Field(pattern=r"^[\w']+$")], ...] = Field(
        default=DEFAULT_DANGLING_WORDS,
        description="A turn ending on one of these words (or on , ; : - ( / &) is truncated even as a "
                    "list item.")
    min_words_unpunctuated: Annotated[int, Field(ge=1)] = Field(
        default=30, description="A turn without sentence-ending punctuation is truncated only when its last "
                                "sentence (after the last . ! ? or line break) has this many words: short chat "
                                "replies ('Fine', 'maybe a bionic robot') often have none.")
    unbalanced: bool = Field(
        default=True, description="A turn that leaves a bracket ( [ { or a double quote open (code and "
                                  "emoticons aside) is truncated.")
    finish_reason: bool = Field(
        default=True, description="A record whose meta says the generator stopped at its limit "
                                  "(finish_reason 'length', or completion_tokens >= max_tokens, at the top "
                                  "level or under 'synth') is truncated.")

    @field_validator("terminal_pattern")
    @classmethod
    def _valid(cls, value: str) -> str:
        return _check_rust_regex(value)


class QualityConfig(BaseModel):
    """Configuration of the `filter_quality` step: one sub-config per check, each with ``enabled``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=True, description="Run the step at all; when off every record is kept "
                                                    "with null annotation columns.")
    ends_on_user: EndsOnUserCheck = Field(default_factory=EndsOnUserCheck,
                                          description="quality.ends_on_user (check 1).")
    placeholder: PlaceholderCheck = Field(default_factory=PlaceholderCheck,
                                          description="quality.placeholder (check 2).")
    refusal: RefusalCheck = Field(default_factory=RefusalCheck, description="quality.refusal (check 3).")
    length: LengthCheck = Field(default_factory=LengthCheck,
                                description="quality.too_short / quality.too_long (checks 4, 5).")
    alpha: AlphaCheck = Field(default_factory=AlphaCheck, description="quality.low_alpha (check 6).")
    repetition: RepetitionCheck = Field(default_factory=RepetitionCheck,
                                        description="quality.repetition (check 7).")
    language: LanguageCheck = Field(default_factory=LanguageCheck,
                                    description="quality.wrong_language (check 8).")
    truncated: TruncationCheck = Field(default_factory=TruncationCheck,
                                       description="quality.truncated (check 9).")


# --------------------------------------------------------------------------- measures

_el = pl.element()
_ANNOTATION_DTYPES = {"q_words": pl.Int64, "q_alpha": pl.Float64, "q_dup_ngram": pl.Float64,
                      "q_top_ngram": pl.Float64, "q_lang": pl.String}
# Whitespace for the alpha ratio, counted as literals (memchr-fast, unlike a \s regex).
_SPACES = (" ", "\n", "\t", "\r", "\u00a0")
_NON_LATIN_LETTER = r"[^\P{L}\p{Latin}]"
_TAIL_CHARS = 400  # truncation is judged on the end of a turn; a bounded tail keeps regexes cheap
_HASH_MULT = 0x100000001B3  # FNV-1 64-bit prime: combines word hashes into n-gram hashes (wrapping u64)


def _assistant_turns(frame: pl.DataFrame) -> pl.Expr:
    """Assistant turn contents per record, with ``chosen`` appended as the last turn when set.
    A turn that only calls tools (no text) is not judged as prose."""
    m = _el.struct
    turns = pl.col("messages").list.eval(_el.filter(
        (m.field("role") == "assistant") & ~((m.field("content") == "") & m.field("tool_calls").is_not_null())
    ).struct.field("content"))
    if "chosen" in frame.columns:
        turns = (pl.when(pl.col("chosen").is_not_null())
                 .then(pl.concat_list(turns, pl.col("chosen")))
                 .otherwise(turns))
    return turns


def _first_index(flags: pl.Expr) -> pl.Expr:
    """1-based index of the first true in a list of booleans, null when none is true."""
    return pl.when(flags.list.any()).then(flags.list.arg_max().cast(pl.Int64) + 1)


def _placeholder_flags(config: PlaceholderCheck) -> pl.Expr:
    stripped = _el.str.strip_chars().str.to_lowercase()
    flag = _el.is_null() | (stripped.str.len_chars() == 0)
    if config.punctuation_only != "off":
        punct = stripped.str.contains(r"^[\p{P}\p{S}\s]*\z")
        flag = flag | (punct if config.punctuation_only == "any_turn" else punct & (_el.len() == 1))
    if config.patterns:
        anchored = "^(?:" + "|".join(f"(?:{p})" for p in config.patterns) + r")\z"
        flag = flag | stripped.str.contains(anchored)
    return pl.col("_turns").list.eval(flag)


# Emoticons: ":)" or "dinner:(" end a word, "(:" starts one; "(608)" is no emoticon.
_EMOTICON = r"(?m)[:;=][\-'^o]?[()\[\]{}DPpOo3/|\\](?:\s|$)|(?:^|\s)[()\[\]{}][\-'^]?[:;=]|<3"
_LIST_MARKER = r"(?m)^[ \t]*(?:\d{1,3}|[A-Za-z]|[ivxIVX]{1,4})\)"


def _truncation_codes(config: TruncationCheck) -> pl.Expr:
    """Per assistant turn: 0 fine, 1 unclosed code fence, 2 dangling word/comma/colon,
    3 open bracket or quote, 4 a long turn with no terminal character."""
    full = _el.fill_null("")
    text = full.str.slice(-_TAIL_CHARS).str.strip_chars()
    fence_open = (full.str.count_matches("```", literal=True) % 2) == 1
    dangling_words = "|".join(re.escape(w) for w in config.dangling_words)
    # (?:^|\W) rather than \b: a Unicode word boundary keeps the regex off its fast DFA path.
    # An opening bracket at the end dangles, unless it is a frowning emoticon ":(".
    # Words match in lower case only: "Vitamin A" ends a sentence, "... which is a" does not.
    dangling_re = (r"(?:[,;:\-–—/&]|(?:^|[^:;=8\-'^])\("
                   + (rf"|(?:^|\W)(?:{dangling_words})" if dangling_words else "") + r")\z")
    dangling = text.str.contains(dangling_re)
    list_line = text.str.contains(r"(?m)^[ \t]*(?:[-*+•][ \t]|\d+[.)][ \t]|\|)[^\n]*\z")
    # Only the last sentence counts: in chat, several short messages without full stops make one turn.
    last_sentence = text.str.replace(r"(?s)^.*(?:[.!?…。！？][\"'”’)\]]*\s+|\n)", "")
    long_turn = last_sentence.str.count_matches(r"\S+") >= config.min_words_unpunctuated
    unfinished = ~text.str.contains(config.terminal_pattern) & ~list_line & long_turn
    # A turn that ends on an emoticon (":/", "D:", "(;", "xD") has ended, whatever its last character.
    emoticon_end = text.str.contains(r"(?:^|\s)(?:[:;=xX8][\-'^o]?[()\[\]{}DPpOo3/\\|*@$]|[()\[\]{}D][\-'^]?[:;=]"
                                     r"|<3|\^\^|[xX]D+)\z")
    code = pl.when(fence_open).then(1).when(emoticon_end).then(0).when(dangling).then(2)
    if config.unbalanced:
        # Code, emoticons ":)" and list markers "1)" / "a)" carry brackets that open or close nothing.
        prose = (full.str.replace_all(_CODE_FENCE_BLOCK, " ").str.replace_all(r"`[^`\n]*`", " ")
                 .str.replace_all(_EMOTICON, " ").str.replace_all(_LIST_MARKER, " "))

        def more(a: str, b: str) -> pl.Expr:
            return prose.str.count_matches(a, literal=True) > prose.str.count_matches(b, literal=True)

        unbalanced = (more("(", ")") | more("[", "]") | more("{", "}") | more("“", "”")
                      | ((prose.str.count_matches('"', literal=True) % 2) == 1))
        code = code.when(unbalanced).then(3)
    code = code.when(unfinished).then(4).otherwise(0)
    turns = pl.col("_turns")
    if config.turns == "last":
        turns = turns.list.tail(1)
    return turns.list.eval(code.cast(pl.Int8))


def _generator_cut() -> pl.Expr:
    """The record's meta says its generator stopped at the token limit."""
    meta = pl.col("meta")

    def field(name: str) -> pl.Expr:
        return pl.coalesce(meta.str.json_path_match(f"$.{name}"), meta.str.json_path_match(f"$.synth.{name}"))

    tokens = field("completion_tokens").cast(pl.Int64, strict=False)
    limit = field("max_tokens").cast(pl.Int64, strict=False)
    return ((field("finish_reason") == "length") | (tokens >= limit)).fill_null(False)


def _measure(frame: pl.DataFrame, config: QualityConfig) -> pl.DataFrame:
    """Add the measure columns (``_``-prefixed scratch and ``q_*`` annotations) of enabled checks.

    Each text is scanned by as few regexes as possible: one extraction of
    letter runs from the lower-cased prose feeds the alpha ratio, repetition and
    language; whitespace is counted with literal searches; the costly script
    check runs only on the rows that contain a non-Latin letter at all.
    """
    f = frame.with_columns(_assistant_turns(frame).alias("_turns"),
                           pl.int_range(pl.len(), dtype=pl.UInt32).alias("_row"))
    f = f.with_columns(
        pl.col("_turns").list.len().alias("_n_turns"),
        pl.col("_turns").list.join("\n", ignore_nulls=True).fill_null("").alias("_text"),
    ).with_columns(pl.col("_text").str.replace_all(_CODE_FENCE_BLOCK, " ").alias("_prose"))

    cols: list[pl.Expr] = []
    if config.ends_on_user.enabled:
        last_role = pl.col("messages").list.last().struct.field("role")
        on_user = last_role == "user"
        if "chosen" in f.columns:
            on_user = on_user & pl.col("chosen").is_null()
        cols.append(on_user.fill_null(False).alias("_on_user"))
    if config.placeholder.enabled:
        flags = _placeholder_flags(config.placeholder)
        cols.append((pl.when(pl.col("_n_turns") == 0).then(0).otherwise(_first_index(flags))).alias("_ph_turn"))
    if config.refusal.enabled and config.refusal.phrases:
        phrases = sorted({p.lower().replace("’", "'") for p in config.refusal.phrases})
        hay = pl.col("_text").str.replace_all("’", "'", literal=True).str.to_lowercase()
        cols.append(hay.str.extract_many(phrases, ascii_case_insensitive=True).list.first().alias("_refusal"))
    if config.length.enabled:
        scope_text = pl.col("_text") if config.length.scope == "assistant" else \
            contents().list.join("\n", ignore_nulls=True).fill_null("")
        cols.append(scope_text.str.count_matches(WORD_PATTERN).cast(pl.Int64).alias("q_words"))
    if config.alpha.enabled:
        spaces = pl.sum_horizontal([pl.col("_prose").str.count_matches(c, literal=True) for c in _SPACES])
        cols.append((pl.col("_prose").str.len_chars() - spaces).alias("_nonspace"))
    if config.alpha.enabled or config.repetition.enabled or config.language.enabled:
        # Letter runs: apostrophes split ("don't" -> don, t; French "l'eau" -> l, eau), digits drop out.
        cols.append(pl.col("_prose").str.to_lowercase().str.extract_all(r"\p{L}+").alias("_words"))
    f = f.with_columns(cols)

    cols = []
    if config.alpha.enabled:
        letters = pl.col("_words").list.eval(_el.str.len_chars()).list.sum()
        cols.append(letters.alias("_letters"))
    if config.language.enabled:
        cols += _language_ratios()
    f = f.with_columns(cols)
    if config.language.enabled:
        f = f.with_columns([(pl.col("_lcounts").list.get(bit) / pl.col("_nlw")).alias(f"_lr_{lang}")
                            for bit, lang in enumerate(LANGUAGES)])

    if config.alpha.enabled:
        nonspace = pl.col("_nonspace")
        f = f.with_columns(pl.when(nonspace >= config.alpha.min_chars)
                           .then(pl.col("_letters") / nonspace).alias("q_alpha"))
    if config.repetition.enabled:
        f = _repetition(f, config.repetition)
    if config.language.enabled:
        f = _script(f, config.language).with_columns(_language(config.language))
    return f


def _ngram_hash(h: pl.Expr, n: int) -> pl.Expr:
    out = h
    for k in range(1, n):
        out = out * _HASH_MULT + h.shift(-k)
    return out


def _repetition(f: pl.DataFrame, rc: RepetitionCheck) -> pl.DataFrame:
    """``q_dup_ngram`` and ``q_top_ngram`` from word hashes, one row per word (explode + group_by).

    Hashing words and combining the hashes of n neighbours avoids building
    n-gram strings; a 64-bit collision would only lower a score slightly.
    """
    ex = (f.select("_row", pl.col("_words").list.eval(_el.hash(seed=0)).alias("_h"))
          .explode("_h").drop_nulls("_h"))
    row = pl.col("_row")
    ex = ex.with_columns(
        _ngram_hash(pl.col("_h"), rc.dup_ngram).alias("_gd"),
        (row.shift(-(rc.dup_ngram - 1)) == row).fill_null(False).alias("_okd"),
        _ngram_hash(pl.col("_h"), rc.top_ngram).alias("_gt"),
        (row.shift(-(rc.top_ngram - 1)) == row).fill_null(False).alias("_okt"),
    )
    gd, gt = pl.col("_gd").filter(pl.col("_okd")), pl.col("_gt").filter(pl.col("_okt"))
    per_row = ex.group_by("_row").agg(
        pl.len().alias("_nw"),
        (1.0 - gd.n_unique() / gd.len()).alias("_dup"),
        (gt.unique_counts().max() * rc.top_ngram / pl.len()).clip(upper_bound=1.0).alias("_top"),
    )
    judged = pl.col("_nw") >= max(rc.min_words, rc.dup_ngram, rc.top_ngram)
    per_row = per_row.select(
        "_row",
        pl.when(judged).then(pl.col("_dup").fill_null(0.0)).alias("q_dup_ngram"),
        pl.when(judged).then(pl.col("_top").fill_null(0.0)).alias("q_top_ngram"),
    )
    return f.join(per_row, on="_row", how="left", maintain_order="left")


def _language_ratios() -> list[pl.Expr]:
    """``_lr_<lang>``: the share of the prose's words that are stopwords of each language.

    One hash lookup per word gives a bitmask of the languages it is a stopword of.
    """
    masks: dict[str, int] = {}
    for bit, lang in enumerate(LANGUAGES):
        for word in STOPWORDS[lang]:
            masks[word] = masks.get(word, 0) | (1 << bit)
    bits = pl.col("_words").list.eval(_el.replace_strict(masks, default=0, return_dtype=pl.UInt8))
    n = pl.col("_words").list.len()
    # One list of per-language counts, so the lookup runs once (eager polars does not share subexpressions).
    counts = bits.list.eval(pl.concat_list([((_el & (1 << bit)) > 0).sum() for bit in range(len(LANGUAGES))]))
    return [counts.list.first().alias("_lcounts"), n.alias("_nlw")]


def _script(f: pl.DataFrame, lc: LanguageCheck) -> pl.DataFrame:
    """``_other``: the prose is long enough to judge and mostly letters of scripts other than Latin.

    Computed only on the rows holding a non-Latin letter (usually few), then joined back.
    """
    has_other = f.select("_row", pl.col("_prose").str.contains(_NON_LATIN_LETTER).alias("_x")).filter("_x")
    sub = f.join(has_other.select("_row"), on="_row", how="semi")
    prose = pl.col("_prose")
    letters = prose.str.replace_all(r"\P{L}+", "").str.len_chars()
    latin = prose.str.replace_all(r"\P{Latin}+", "").str.len_chars()
    sub = sub.select("_row", ((prose.str.count_matches(WORD_PATTERN) >= lc.min_words)
                              & (latin < lc.min_latin_ratio * letters)).alias("_other"))
    return (f.join(sub, on="_row", how="left", maintain_order="left")
            .with_columns(pl.col("_other").fill_null(False)))


def _language(lc: LanguageCheck) -> pl.Expr:
    """``q_lang``: the best stopword-ratio language, ties going to an expected one; 'unknown' below
    ``min_stopword_ratio``; 'other' for mostly non-Latin letters; null when too short to judge."""
    n = pl.col("_words").list.len()
    # Expected languages first, so that arg_max ties resolve towards an expected language.
    order = list(lc.expected) + [lang for lang in LANGUAGES if lang not in lc.expected]
    stacked = pl.concat_list([pl.col(f"_lr_{lang}") for lang in order])
    best = stacked.list.max()
    best_lang = pl.lit(order).list.get(stacked.list.arg_max().cast(pl.Int64))
    return (pl.when(pl.col("_other")).then(pl.lit("other"))
            .when(n < lc.min_words).then(None)
            .when(best < lc.min_stopword_ratio).then(pl.lit("unknown"))
            .otherwise(best_lang)
            .alias("q_lang"))


def _fmt(x: pl.Expr, digits: int = 3) -> pl.Expr:
    return x.round(digits).cast(pl.String)


# --------------------------------------------------------------------------- step


def filter_quality(frame: pl.DataFrame, config: QualityConfig) -> StepResult:
    """Reject records that fail a heuristic quality check; annotate the kept ones.

    The reason of a reject is the first failing check in `CHECK_ORDER`; its
    ``detail`` names the measure and the threshold. Kept rows gain the
    `ANNOTATION_COLUMNS` (see the module docstring); reject rows follow the
    step contract. ``stats`` (additive): ``words_sum``, ``letters_sum`` and
    ``nonspace_sum`` (their ratio is the corpus alpha ratio), ``lang.<code>``
    counts of the language guess, and ``fails.<check>`` counts of every check
    a record fails (not only the first), which show what a re-ordered or
    disabled check would have caught.
    """
    base = frame.drop([c for c in ANNOTATION_COLUMNS if c in frame.columns])
    if not config.enabled:
        annotated = base.with_columns([pl.lit(None, dtype=d).alias(c) for c, d in _ANNOTATION_DTYPES.items()])
        return partition(STEP, annotated.with_columns(pl.lit(None, dtype=pl.String).alias("_reason")), {})

    trimmed = 0
    if config.ends_on_user.enabled and config.ends_on_user.mode == "trim" and base.height:
        base, trimmed = _trim_trailing_user(base)
    measured = _measure(base, config)
    checks = rules(CHECKS, config, measured)
    judged = judge(STEP, measured, checks)
    stats = _stats(judged, [name for name, _, _ in checks], config)
    if config.ends_on_user.enabled and config.ends_on_user.mode == "trim":
        stats["trimmed.ends_on_user"] = float(trimmed)
    for c, d in _ANNOTATION_DTYPES.items():
        if c not in judged.columns:
            judged = judged.with_columns(pl.lit(None, dtype=d).alias(c))
        else:
            judged = judged.with_columns(pl.col(c).cast(d))
    scratch = [c for c in judged.columns if c.startswith("_") and c not in ("_reason", "_detail")]
    out = judged.drop(scratch).select([*base.columns, *ANNOTATION_COLUMNS, "_reason", "_detail"])
    return partition(STEP, out, stats)


def _trim_trailing_user(frame: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """Drop trailing user turns (a closing "thanks!") from conversations that have another turn
    before them; preference records (``chosen`` set) are left alone. Returns (frame, trimmed count)."""
    msgs = pl.col("messages")
    not_user = msgs.list.eval(_el.struct.field("role") != "user")
    n = msgs.list.len()
    keep = pl.when(not_user.list.any()).then(n - not_user.list.reverse().list.arg_max().cast(pl.UInt32)).otherwise(n)
    if "chosen" in frame.columns:
        keep = pl.when(pl.col("chosen").is_not_null()).then(n).otherwise(keep)
    f = frame.with_columns(keep.alias("_keep"), n.alias("_n"))
    trimmed = int((f["_keep"] < f["_n"]).sum())
    if trimmed:
        f = f.with_columns(msgs.list.head(pl.col("_keep")))
    return f.drop("_keep", "_n"), trimmed


# --------------------------------------------------------------------------- the nine checks
# Each check is one unit: its reason name, the config section it reads, and its vectorised rule
# (fails, detail) over the measured frame. Order matters: a record is rejected for its first failure.

_N_TURNS = pl.col("_n_turns").cast(pl.String)


class EndsOnUser(Check):
    name, section = "ends_on_user", "ends_on_user"

    def rule(self, c: EndsOnUserCheck, config, f):
        why = "last turn is a user turn" if c.mode == "reject" else "no assistant turn before the trailing user turns"
        return pl.col("_on_user"), pl.lit(why)


class Placeholder(Check):
    name, section = "placeholder", "placeholder"

    def rule(self, c: PlaceholderCheck, config, f):
        ph = pl.col("_ph_turn")
        return ph.is_not_null(), (pl.when(ph == 0).then(pl.lit("no assistant text"))
                                  .otherwise(pl.format("assistant turn {} of {} is empty or a placeholder",
                                                       ph.cast(pl.String), _N_TURNS)))


class Refusal(Check):
    name, section = "refusal", "refusal"

    def active(self, config) -> bool:
        return config.refusal.enabled and bool(config.refusal.phrases)

    def rule(self, c: RefusalCheck, config, f):
        return pl.col("_refusal").is_not_null(), pl.format("matches refusal phrase '{}'", pl.col("_refusal"))


class TooShort(Check):
    name, section = "too_short", "length"

    def rule(self, c: LengthCheck, config, f):
        words = pl.col("q_words")
        return words < c.min_words, pl.format(f"{c.scope} words {{}} < min_words {c.min_words}", words.cast(pl.String))


class TooLong(Check):
    name, section = "too_long", "length"

    def active(self, config) -> bool:
        return config.length.enabled and config.length.max_words is not None

    def rule(self, c: LengthCheck, config, f):
        words = pl.col("q_words")
        return words > c.max_words, pl.format(f"{c.scope} words {{}} > max_words {c.max_words}", words.cast(pl.String))


class LowAlpha(Check):
    name, section = "low_alpha", "alpha"

    def rule(self, c: AlphaCheck, config, f):
        a = pl.col("q_alpha")
        return a < c.min_ratio, pl.format(f"alpha ratio {{}} < min_ratio {c.min_ratio}", _fmt(a))


class Repetition(Check):
    name, section = "repetition", "repetition"

    def rule(self, rc: RepetitionCheck, config, f):
        d, t = pl.col("q_dup_ngram"), pl.col("q_top_ngram")
        return ((d > rc.max_dup_ngram_frac) | (t > rc.max_top_ngram_frac),
                pl.when(d > rc.max_dup_ngram_frac)
                .then(pl.format(f"duplicate {rc.dup_ngram}-gram fraction {{}} > {rc.max_dup_ngram_frac}", _fmt(d)))
                .otherwise(pl.format(f"top {rc.top_ngram}-gram covers {{}} of words > {rc.max_top_ngram_frac}",
                                     _fmt(t))))


class WrongLanguage(Check):
    name, section = "wrong_language", "language"

    def rule(self, lc: LanguageCheck, config, f):
        lang = pl.col("q_lang")
        wrong = lang.is_not_null() & ~lang.is_in(list(lc.expected))
        if not lc.reject_unknown:
            wrong = wrong & (lang != "unknown")
        best_expected = pl.max_horizontal([pl.col(f"_lr_{x}") for x in lc.expected])
        own = pl.coalesce([pl.when(lang == x).then(pl.col(f"_lr_{x}")) for x in LANGUAGES])
        expected = ",".join(lc.expected)
        return wrong, (pl.when(lang == "other")
                       .then(pl.lit(f"language other (Latin-script letters below {lc.min_latin_ratio}), "
                                    f"expected {expected}"))
                       .when(lang == "unknown")
                       .then(pl.format(f"language unknown (best stopword ratio {{}} < {lc.min_stopword_ratio}), "
                                       f"expected {expected}", _fmt(pl.max_horizontal(
                                           [pl.col(f"_lr_{x}") for x in LANGUAGES]))))
                       .otherwise(pl.format(f"language {{}} (stopword ratio {{}}) not in expected {expected} "
                                            f"(best expected ratio {{}})", lang, _fmt(own), _fmt(best_expected))))


class Truncated(Check):
    name, section = "truncated", "truncated"

    def rule(self, tc: TruncationCheck, config, f):
        codes = _truncation_codes(tc)
        idx = _first_index(codes.list.eval(_el > 0))
        if tc.turns == "last":
            idx = pl.when(idx.is_not_null()).then(pl.col("_n_turns").cast(pl.Int64))
        kind = codes.list.eval(_el.filter(_el > 0).first()).list.first()
        why = (pl.when(kind == 1).then(pl.lit("an unclosed code fence"))
               .when(kind == 2).then(pl.lit("a dangling connector word or comma"))
               .when(kind == 3).then(pl.lit("an open bracket or quote"))
               .otherwise(pl.lit(f"no sentence-ending punctuation after {tc.min_words_unpunctuated}+ words")))
        cut = _generator_cut() if tc.finish_reason and "meta" in f.columns else pl.lit(False)
        return (idx.is_not_null() | cut,
                pl.when(idx.is_not_null()).then(pl.format("assistant turn {} of {} ends mid-sentence: {}",
                                                          idx.cast(pl.String), _N_TURNS, why))
                .otherwise(pl.lit("the generator stopped at its token limit (finish_reason length)")))


CHECKS: tuple[Check, ...] = (EndsOnUser(), Placeholder(), Refusal(), TooShort(), TooLong(), LowAlpha(),
                             Repetition(), WrongLanguage(), Truncated())
assert tuple(c.name for c in CHECKS) == CHECK_ORDER


def _stats(f: pl.DataFrame, names: list[str], config: QualityConfig) -> dict[str, float]:
    aggs: list[pl.Expr] = fail_stats(f, names)
    if config.length.enabled:
        aggs.append(pl.col("q_words").sum().alias("words_sum"))
    if config.alpha.enabled:
        aggs += [pl.col("_letters").sum().alias("letters_sum"), pl.col("_nonspace").sum().alias("nonspace_sum")]
    row = f.select(aggs).row(0, named=True) if aggs else {}
    stats = {k: float(v or 0) for k, v in row.items()}
    if config.language.enabled:
        for lang, count in f.get_column("q_lang").drop_nulls().value_counts().iter_rows():
            stats[f"lang.{lang}"] = float(count)
    return stats
