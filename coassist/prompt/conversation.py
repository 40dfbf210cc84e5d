"""The running conversation that `%%assist` cells and the chat widget share.

The model sees the system prompt, as many of the most recent exchanges as fit both its
context window (leaving room for the answer) and the history budget, and the new question.
Older turns are kept here (so `%assist history` shows them) but are not sent. What gets
recorded at all is the session's decision: answers that were cut off, interrupted or loop
are left out, because small models repeat what they see earlier in the prompt.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from coassist.llm.chat import Message

SYSTEM_PROMPT = (
    "You are coassist, an assistant for data scientists in Jupyter notebooks. Answer the question "
    "directly and briefly, using only the facts given. Put code in one ```python block."
)
"""Chosen by measurement (docs/evaluation.md): asking for a direct, brief answer from the facts
given beat the earlier "concise assistant ... answer in Markdown" prompt on the notebook tasks."""


def first_turn(question: str, system_prompt: str = SYSTEM_PROMPT) -> list[Message]:
    """The messages of a question asked without history: the system prompt, then the question.

    >>> [message["role"] for message in first_turn("Hi?")]
    ['system', 'user']
    """
    return [{"role": "system", "content": system_prompt}, {"role": "user", "content": question}]


@dataclass(frozen=True)
class Exchange:
    """One question and its answer, with the model that gave it, and what the person typed
    (before `{braces}` were filled and data described; empty when it is the question itself),
    which is what a transcript shows as theirs."""

    question: str
    answer: str
    model: str
    typed: str = ""


@dataclass
class Conversation:
    """The exchanges so far; `messages_for` decides what the model gets to see."""

    system_prompt: str = SYSTEM_PROMPT
    exchanges: list[Exchange] = field(default_factory=list)

    def messages_for(
        self,
        question: str,
        token_budget: int,
        count_tokens: Callable[[list[Message]], int],
        with_history: bool = True,
        history_budget: int | None = None,
    ) -> list[Message]:
        """System prompt, the most recent exchanges that fit, then `question`.

        Exchanges must fit `token_budget` (the whole prompt) and, when given, `history_budget`
        (the tokens the exchanges add). They are dropped whole, oldest first: a half-kept
        exchange confuses small models more than a missing one. The question itself is never
        trimmed; if it alone does not fit, the caller's length check reports it.
        """
        first = first_turn(question, self.system_prompt)
        head, tail = first[:1], first[1:]
        if not with_history:
            return head + tail
        kept: list[Message] = []
        without_history = count_tokens(head + tail)
        for exchange in reversed(self.exchanges):
            candidate = [
                {"role": "user", "content": exchange.question},
                {"role": "assistant", "content": exchange.answer},
                *kept,
            ]
            tokens = count_tokens(head + candidate + tail)
            if tokens > token_budget or (history_budget is not None and tokens - without_history > history_budget):
                break
            kept = candidate
        return head + kept + tail

    def record(self, question: str, answer: str, model: str, typed: str = "") -> None:
        self.exchanges.append(Exchange(question, answer, model, typed))

    def reset(self) -> None:
        self.exchanges.clear()
