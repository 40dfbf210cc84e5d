"""What one evaluation task is: a prompt for a model, and a check of the answer.

Every set (HumanEval, the notebook tasks, the team's held-out drafts) yields `EvalTask`s;
the runner (`coassist.eval.runner`) generates each answer once per model, times it, checks
it with `score`, and the report aggregates by `category`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from coassist.llm.chat import ChatModel, GenerationSettings, Message

Category = Literal["humaneval", "dataframe", "code", "error", "completion", "team"]
"""The rows of the report: one pass rate each."""

CATEGORIES: tuple[Category, ...] = ("humaneval", "dataframe", "code", "error", "completion", "team")


@dataclass(frozen=True)
class Score:
    """How one answer did.

    `passed` is what the pass rate counts; `detail` says why not (shown per task with
    ``--verbose`` and kept in the JSON output); `value` is a graded score where the set has
    one (chrF for team drafts), else None.
    """

    passed: bool
    detail: str = ""
    value: float | None = None


class EvalTask(Protocol):
    """One question with a known right answer (or a reference to compare with)."""

    id: str
    category: Category

    def prompt(self, model: ChatModel, settings: GenerationSettings) -> list[Message] | str:
        """What the model sees, built the way the product builds it for this kind of question:
        chat messages, or text to continue plainly (`ChatModel.continue_text`, inline completion)."""
        ...

    def settings(self, defaults: GenerationSettings) -> GenerationSettings:
        """The generation settings for this task: `defaults` (the product's), or what the task needs."""
        ...

    def score(self, answer: str) -> Score:
        """Check the model's answer. Never runs the answer in this process."""
        ...
