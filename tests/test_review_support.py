"""Builders shared by the review tests (named test_review_* so the review owner keeps them;
it holds no tests itself): a small plan with dependencies, and a scripted ChatModel."""

from __future__ import annotations

from typing import Any

import pandas as pd

from coassist.llm.chat import Generation, GenerationSettings, Message


def small_plan() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Five subtasks: a, e (AI, ready), b (AI, after AI a), d (AI, after human c), c (ana's own).

    Reviews: ana reviews a and d, bo reviews b and e.
    """
    subtasks = pd.DataFrame(
        {
            "id": ["a", "b", "c", "d", "e"],
            "title": ["Load sales", "Clean sales", "Interview users", "Write summary", "Count rows"],
            "description": ["Read sales.csv", "Drop duplicate rows", "", "Summarise the interviews", ""],
            "skill": ["sql", "python", "research", "writing", "sql"],
            "human_hours": [2.0, 3.0, 5.0, 2.0, 1.0],
            "ai_hours": [0.1, 0.1, None, 0.2, 0.1],
            "review_hours": [0.5, 0.5, 0.0, 0.5, 0.2],
            "p_pass": [0.9, 0.3, 0.5, 0.6, 0.45],
            "depends_on": ["", "a", "", ["c"], None],
        }
    )
    workers = pd.DataFrame({"id": ["ana", "bo", "gpu"], "kind": ["human", "human", "ai"]})
    plan = pd.DataFrame(
        [
            ("a", "gpu", "do", 0.0, 0.1),
            ("a", "ana", "review", 0.1, 0.6),
            ("e", "gpu", "do", 0.1, 0.2),
            ("e", "bo", "review", 0.2, 0.4),
            ("b", "gpu", "do", 0.6, 0.7),
            ("b", "bo", "review", 0.7, 1.2),
            ("c", "ana", "do", 0.6, 5.6),
            ("d", "gpu", "do", 5.6, 5.8),
            ("d", "ana", "review", 5.8, 6.3),
        ],
        columns=["subtask", "worker", "role", "start", "end"],
    )
    return subtasks, workers, plan


def independent_plan(n: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """`n` AI subtasks with no dependencies (t0..t{n-1}), all reviewed by ana."""
    keys = [f"t{i}" for i in range(n)]
    subtasks = pd.DataFrame(
        {
            "id": keys,
            "title": [f"Task {i}" for i in range(n)],
            "skill": ["python"] * n,
            "human_hours": [1.0] * n,
            "ai_hours": [0.1] * n,
            "review_hours": [0.2] * n,
            "p_pass": [0.5] * n,
            "depends_on": [""] * n,
        }
    )
    workers = pd.DataFrame({"id": ["ana", "gpu"], "kind": ["human", "ai"]})
    rows = [(k, "gpu", "do", 0.1 * i, 0.1 * i + 0.1) for i, k in enumerate(keys)]
    rows += [(k, "ana", "review", 0.1 * i + 0.1, 0.1 * i + 0.3) for i, k in enumerate(keys)]
    return subtasks, workers, pd.DataFrame(rows, columns=["subtask", "worker", "role", "start", "end"])


class ScriptedModel:
    """A ChatModel that answers "draft of <title>" and records every batch it was given."""

    spec = "scripted"
    context_length = 4096

    def __init__(self) -> None:
        self.batches: list[list[list[Message]]] = []

    def render_prompt(self, messages: list[Message]) -> str:
        return "".join(f"<{m['role']}>{m['content']}" for m in messages)

    def count_tokens(self, messages: list[Message]) -> int:
        return len(self.render_prompt(messages).split())

    def generate(
        self, messages: list[Message], settings: GenerationSettings, on_text: Any = None, stop: Any = None
    ) -> Generation:
        return self.generate_batch([messages], settings)[0]

    def generate_batch(self, conversations: list[list[Message]], settings: GenerationSettings) -> list[Generation]:
        self.batches.append(conversations)
        return [Generation(f"draft of {_title(c)}", "stop", 1, 0.0, 0.0) for c in conversations]

    def describe(self) -> dict[str, Any]:
        return {"model": self.spec, "kind": "scripted", "adapter": "adapters/v1", "device": "cpu"}


def _title(conversation: list[Message]) -> str:
    line = next(x for x in conversation[-1]["content"].splitlines() if x.startswith("Subtask: "))
    return line.removeprefix("Subtask: ")
