"""Prompts and the pydantic models of what each prompt must return.

Written so that even the 135M embedded model has a fair chance: a short
system line, one worked example as a previous turn (small models copy format
far better than they follow instructions), a JSON template at the end of the
request, and a plain ``FIELD: value`` form that the parser also accepts.
Every request that asks for JSON ends its last user turn with the template,
so a repair turn can repeat it.
"""
from __future__ import annotations

from typing import Annotated

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, StringConstraints, field_validator

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class _Out(BaseModel):
    model_config = ConfigDict(extra="ignore")


class QuestionOut(_Out):
    # Small models often name the field after the task ("problem", "message"); the content is what counts.
    question: Annotated[str, StringConstraints(strip_whitespace=True, min_length=10, max_length=4000)] = Field(
        validation_alias=AliasChoices("question", "message", "problem", "customer_message"))


class AnswerOut(_Out):
    answer: Annotated[str, StringConstraints(strip_whitespace=True, min_length=10, max_length=20000)]


class RubricOut(_Out):
    correctness: float = Field(ge=1, le=5)
    helpfulness: float = Field(ge=1, le=5)
    format: float = Field(ge=1, le=5)
    rationale: str = ""

    @field_validator("rationale", mode="before")
    @classmethod
    def _str(cls, v: object) -> str:
        return "" if v is None else str(v)

    @property
    def score(self) -> float:
        return round((self.correctness + self.helpfulness + self.format) / 3, 4)


class PairOut(_Out):
    score_a: float = Field(ge=1, le=10)
    score_b: float = Field(ge=1, le=10)
    rationale: str = ""

    @field_validator("rationale", mode="before")
    @classmethod
    def _str(cls, v: object) -> str:
        return "" if v is None else str(v)


QUESTION_TEMPLATE = '{"question": "..."}'
ANSWER_TEMPLATE = '{"answer": "..."}'
RUBRIC_TEMPLATE = '{"correctness": n, "helpfulness": n, "format": n, "rationale": "..."}'
PAIR_TEMPLATE = '{"score_a": n, "score_b": n, "rationale": "..."}'

JSON_ONLY = "Reply with one JSON object and nothing else."


def _u(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def _a(text: str) -> dict[str, str]:
    return {"role": "assistant", "content": text}


def _s(text: str) -> dict[str, str]:
    return {"role": "system", "content": text}


# ---------------------------------------------------------------- questions


def _question_request(topic: str, persona: str, task: str, difficulty: str) -> str:
    return (f"Topic: {topic}. Customer: {persona}. Task type: {task}. Difficulty: {difficulty}.\n"
            f"Write the customer's message as JSON: {QUESTION_TEMPLATE}")


def question_messages(topic: str, persona: str, task: str, difficulty: str, context: str = "") -> list[dict]:
    """Ask for one realistic customer message about ``topic``."""
    system = ("You write realistic messages that customers send to a support team. "
              f"{JSON_ONLY} (A line starting with QUESTION: is also accepted.)")
    if context:
        system += f"\nThe support team works for: {context}"
    return [
        _s(system),
        _u(_question_request("password reset", "a busy small-business owner", "troubleshooting", "easy")),
        _a('{"question": "I clicked \'Forgot password\' twice but no reset email arrived. What should I do?"}'),
        _u(_question_request(topic, persona, task, difficulty)),
    ]


EVOLVE_OPERATIONS = {
    "deepen": "Make the message ask about the problem in more depth: add a follow-up detail or ask why it happens.",
    "add_constraints": "Add one realistic constraint to the message: a deadline, a device, a plan limit or a budget.",
    "concretise": "Replace general words with concrete details: a product name, a number, an exact error message.",
}


def _evolve_request(question: str, op: str) -> str:
    return (f"Customer message: {question}\nRewrite: {EVOLVE_OPERATIONS[op]} Keep it one customer message.\n"
            f"Write the new message as JSON: {QUESTION_TEMPLATE}")


def evolve_messages(question: str, op: str) -> list[dict]:
    """Evol-Instruct style rewrite of a customer message with operation ``op``."""
    return [
        _s(f"You rewrite customer-support messages to make them harder and more specific. {JSON_ONLY}"),
        _u(_evolve_request("How do I change my email?", "add_constraints")),
        _a('{"question": "How do I change the email on my account today? I no longer have access to the old '
           'address, so I cannot click a confirmation link there."}'),
        _u(_evolve_request(question, op)),
    ]


# ---------------------------------------------------------------- answers


def _answer_request(question: str) -> str:
    return f"Customer message: {question}\nWrite the support agent's reply as JSON: {ANSWER_TEMPLATE}"


def answer_messages(question: str, system_prompt: str = "") -> list[dict]:
    """Ask for an expert support answer to ``question``."""
    system = (system_prompt.strip() + "\n" if system_prompt.strip() else "") + (
        f"You are an expert customer-support agent: accurate, kind, concrete. {JSON_ONLY} "
        "(A line starting with ANSWER: is also accepted.)")
    return [
        _s(system),
        _u(_answer_request("I clicked 'Forgot password' twice but no reset email arrived. What should I do?")),
        _a('{"answer": "Sorry about that! Please check your spam folder first. If the email is not there, make '
           'sure you used the address on your account, wait five minutes and request one more reset link."}'),
        _u(_answer_request(question)),
    ]


# ---------------------------------------------------------------- judges


def _rubric_request(question: str, answer: str) -> str:
    return (f"Question: {question}\nAnswer: {answer}\n"
            "Rate the answer from 1 (bad) to 5 (excellent) on correctness, helpfulness and format.\n"
            f"Reply as JSON: {RUBRIC_TEMPLATE}")


def rubric_messages(question: str, answer: str) -> list[dict]:
    """Rubric judge of one SFT example."""
    return [
        _s(f"You grade the answers of a customer-support agent strictly. {JSON_ONLY}"),
        _u(_rubric_request("My parcel is late. Where is it?", "Parcels are things that are sent by post.")),
        _a('{"correctness": 2, "helpfulness": 1, "format": 3, "rationale": "Does not help find the parcel."}'),
        _u(_rubric_request("How do I change my email?", "Go to Settings, then Account, and type the new address.")),
        _a('{"correctness": 5, "helpfulness": 4, "format": 5, "rationale": "Correct steps, short and clear."}'),
        _u(_rubric_request(question, answer)),
    ]


def render_prompt(messages: list[dict]) -> str:
    """A conversation prompt as text for a judge: the last user turn alone when it is single-turn."""
    turns = [m for m in messages if m["role"] != "system"]
    if len(turns) == 1:
        return str(turns[0]["content"])
    return "\n".join(f"{m['role']}: {m['content']}" for m in turns)


def _pair_request(question: str, a: str, b: str) -> str:
    return (f"Question:\n{question}\n\nAnswer A:\n{a}\n\nAnswer B:\n{b}\n\n"
            "Score each answer from 1 (bad) to 10 (excellent) for correctness and helpfulness.\n"
            f"Reply as JSON: {PAIR_TEMPLATE}")


def pair_messages(question: str, a: str, b: str) -> list[dict]:
    """Pairwise judge; synth asks it in both orders (A,B) and (B,A) to cancel position bias."""
    return [
        _s(f"You compare two answers to the same customer question, fairly and strictly. {JSON_ONLY}"),
        _u(_pair_request("How do I change my email?", "You cannot.",
                         "Go to Settings > Account, type the new address and confirm the link we send you.")),
        _a('{"score_a": 2, "score_b": 9, "rationale": "B gives the right steps; A is wrong and unhelpful."}'),
        _u(_pair_request("Can I get an invoice for May?", "Yes: open Billing > Invoices and click Download next "
                         "to May.", "Invoices are documents.")),
        _a('{"score_a": 8, "score_b": 3, "rationale": "A says where to find it; B does not answer."}'),
        _u(_pair_request(question, a, b)),
    ]


# ---------------------------------------------------------------- repair


def repair_messages(messages: list[dict], bad_reply: str, problem: str, template: str) -> list[dict]:
    """The one repair attempt: show the model its reply and what was wrong with it."""
    return messages + [
        _a(bad_reply if bad_reply.strip() else "(empty)"),
        _u(f"That reply could not be used: {problem}. Reply again with only one JSON object, like {template}"),
    ]
