"""The chat template used to build training labels (train) and handed out with a run (curate.handoff).

Assistant-only loss needs a template that marks assistant text with
``{% generation %}...{% endgeneration %}`` (transformers then returns an
``assistant_masks`` that says which tokens are the answer). Most shipped
templates, the embedded SmolLM2 ChatML one included, have no such markers, and
TRL 1.16 refuses them. So:

1. a template that already has the markers is used as is;
2. a ChatML template whose per-message expression is one of the common forms
   gets the markers around each assistant content + ``<|im_end|>``;
3. otherwise TRL's table of known training templates is asked.

A replacement is used only when it renders byte-identically to the model's own
template (probes here, and every training example again in the pre-flight
check): the model must be trained on exactly the text it will see at inference.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

GENERATION_RE = re.compile(r"\{%-?\s*generation\s*-?%\}")


def _chatml_patches() -> tuple[tuple[str, str], ...]:
    """(expression in a shipped ChatML template, its replacement) pairs.

    The replacement wraps an assistant turn's content and ``<|im_end|>`` in
    generation markers and keeps the original expression for every other role.
    Templates write the newline either as a real newline inside the string
    literal or as a ``\\n`` escape; both are covered.
    """
    pairs = []
    for nl in ("\n", "\\n"):
        assistant = ("{% if message['role'] == 'assistant' %}{{'<|im_start|>' + message['role'] + '" + nl + "'}}"
                     "{% generation %}{{message['content'] + '<|im_end|>'}}{% endgeneration %}{{'" + nl + "'}}"
                     "{% else %}")
        for expr in (
            "{{'<|im_start|>' + message['role'] + '" + nl + "' + message['content'] + '<|im_end|>' + '" + nl + "'}}",
            "{{ '<|im_start|>' + message['role'] + '" + nl + "' + message['content'] + '<|im_end|>' + '" + nl + "' }}",
            "{{'<|im_start|>' + message['role'] + '" + nl + "' + message['content'] + '<|im_end|>" + nl + "'}}",
            "{{ '<|im_start|>' + message['role'] + '" + nl + "' + message['content'] + '<|im_end|>" + nl + "' }}",
        ):
            pairs.append((expr, assistant + expr + "{% endif %}"))
    return tuple(pairs)


CHATML_PATCHES = _chatml_patches()

PROBES: tuple[list[dict], ...] = (
    [{"role": "user", "content": "Hi there."}, {"role": "assistant", "content": "Hello! How can I help?"}],
    [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "2+2?"},
     {"role": "assistant", "content": "4"}, {"role": "user", "content": "And 3+3?"},
     {"role": "assistant", "content": "6"}],
)


@dataclass(frozen=True)
class TemplateChoice:
    """The template that renders the model's conversations (``original``) and the one that
    builds labels (``training``: the same text, with generation markers)."""

    original: str
    training: str | None
    source: str
    problem: str | None = None


class TemplateRenderer:
    """Stands in for a tokenizer where only chat templates are rendered (curate's handoff): the model
    folder's template and special tokens, rendered by transformers' own Jinja renderer, so no tokenizer
    or torch is loaded. ``from_folder`` gives None when the folder keeps its template another way."""

    def __init__(self, chat_template: str, special_tokens: dict[str, str]):
        self.chat_template, self.special_tokens = chat_template, special_tokens

    @classmethod
    def from_folder(cls, folder: str | Path) -> "TemplateRenderer | None":
        folder = Path(folder)
        cfg_path = folder / "tokenizer_config.json"
        cfg = json.loads(cfg_path.read_text(encoding="utf-8")) if cfg_path.is_file() else {}
        jinja = folder / "chat_template.jinja"
        template = jinja.read_text(encoding="utf-8") if jinja.is_file() else cfg.get("chat_template")
        if not isinstance(template, str):
            return None
        tokens = {}
        for k in ("bos_token", "eos_token", "unk_token", "pad_token"):
            v = cfg.get(k)
            v = v.get("content") if isinstance(v, dict) else v
            if isinstance(v, str):
                tokens[k] = v
        return cls(template, tokens)

    def apply_chat_template(self, messages: list[dict], tokenize: bool = False, chat_template: str | None = None,
                            add_generation_prompt: bool = False) -> str:
        from transformers.utils.chat_template_utils import render_jinja_template

        rendered, _ = render_jinja_template([messages], chat_template=chat_template or self.chat_template,
                                            add_generation_prompt=add_generation_prompt, **self.special_tokens)
        return rendered[0]


def has_generation_markers(template: str) -> bool:
    return GENERATION_RE.search(template) is not None


def template_text(tokenizer) -> str | None:
    t = getattr(tokenizer, "chat_template", None)
    if isinstance(t, dict):
        t = t.get("default")
    return t


def renders_identically(tokenizer, a: str, b: str, conversations=PROBES) -> bool:
    """True when both templates render every conversation (with and without a generation prompt) the same."""
    for messages in conversations:
        for gen in (False, True):
            msgs = messages[:-1] if gen else messages
            try:
                ra = tokenizer.apply_chat_template(msgs, tokenize=False, chat_template=a, add_generation_prompt=gen)
                rb = tokenizer.apply_chat_template(msgs, tokenize=False, chat_template=b, add_generation_prompt=gen)
            except Exception:  # noqa: BLE001 - a template that cannot render a probe is not identical
                return False
            if ra != rb:
                return False
    return True


def choose_training_template(tokenizer) -> TemplateChoice:
    """Pick the labelling template for `tokenizer`'s chat template (see the module docstring)."""
    original = template_text(tokenizer)
    if not original:
        return TemplateChoice("", None, "none", "the tokenizer has no chat template; pass --chat-template FILE")
    if has_generation_markers(original):
        return TemplateChoice(original, original, "the model's own (has {% generation %} markers)")
    for old, new in CHATML_PATCHES:
        if old in original:
            patched = original.replace(old, new)
            if renders_identically(tokenizer, original, patched):
                return TemplateChoice(original, patched, "ChatML with {% generation %} markers (renders identically)")
    try:
        from trl.chat_template_utils import get_training_chat_template

        trl_template = get_training_chat_template(tokenizer)
    except Exception:  # noqa: BLE001 - TRL raises ValueError for unknown templates
        trl_template = None
    if trl_template and renders_identically(tokenizer, original, trl_template):
        return TemplateChoice(original, trl_template, "TRL's training variant (renders identically)")
    return TemplateChoice(
        original, None, "none",
        "the chat template has no {% generation %} markers and no known training variant renders it identically, "
        "so assistant tokens cannot be told apart; pass --chat-template FILE with "
        "{% generation %}...{% endgeneration %} around each assistant answer and its end-of-turn token")
