"""The team's held-out drafts: how close does the model get to what reviewers kept?

The input is SFT JSONL as `coassist.review.export.export_sft_jsonl` writes it: each row is the
exact prompt a draft was made from, then the reviewer's final text (the approved draft or
their edit) as the last, assistant, message. The model answers the prompt afresh and its
answer is compared with that final text by chrF (character n-gram F-score, 0-100: robust to
small wording changes, and meaningful for code and prose alike).

`passed` is chrF >= `CHRF_PASS`. The router cannot decide it: it predicts p_pass from a
subtask's title and description (`coassist.train.router`), not from a draft, so it says the
same for every model. Given a router, the report notes its mean p_pass over these subtasks:
the pass rate the allocator expects, next to the measured one.
"""

from __future__ import annotations

import dataclasses
import json
import re
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coassist.errors import InvalidOption
from coassist.eval.tasks import Category, Score
from coassist.llm.chat import ChatModel, GenerationSettings, Message
from coassist.subtask_text import subtask_text

CHRF_PASS = 50.0
"""chrF at which a fresh draft counts as close to the kept one. An approved draft reproduced
exactly scores 100; unrelated text on the same topic scores about 20-30; a draft that keeps
most of the reviewer's wording and structure scores above 50."""

MAX_NEW_TOKENS = 256
"""What the review loop drafts with (`coassist.review.drafting`)."""

# The subtask as `coassist.review.prompts.draft_messages` writes it into the prompt.
_DRAFT_PROMPT = re.compile(
    r"^Subtask: (?P<title>[^\n]*)\nSkill: (?P<skill>[^\n]*)(?:\n\n(?P<description>.*?))?\n\n"
    r"(?:It builds on these finished subtasks:|Write the complete result of this subtask\.)",
    re.MULTILINE | re.DOTALL,
)


@dataclass
class TeamTask:
    """One held-out draft as an `EvalTask`: its prompt, and the reviewer's final text."""

    id: str
    messages: tuple[Message, ...]
    reference: str
    category: Category = "team"
    max_new_tokens: int = MAX_NEW_TOKENS
    """The answer's bound: the review loop's by default; `finetune_lora` scores held-out
    conversations with a shorter one, to keep its comparison quick."""

    def prompt(self, model: ChatModel, settings: GenerationSettings) -> list[Message]:
        return [dict(message) for message in self.messages]

    def settings(self, defaults: GenerationSettings) -> GenerationSettings:
        return dataclasses.replace(defaults, max_new_tokens=self.max_new_tokens)

    def score(self, answer: str) -> Score:
        from sacrebleu.metrics import CHRF

        chrf = CHRF().sentence_score(answer, [self.reference]).score
        passed = chrf >= CHRF_PASS
        return Score(passed=passed, detail="" if passed else f"chrF {chrf:.1f} < {CHRF_PASS:g}", value=chrf)

    def subtask(self) -> tuple[str, str, str] | None:
        """(title, skill, description) read back from a review-loop prompt; None for another shape."""
        match = _DRAFT_PROMPT.search(self.messages[-1]["content"]) if self.messages else None
        if match is None:
            return None
        return match["title"], match["skill"], match["description"] or ""


def load_team_tasks(path: str | Path) -> list[TeamTask]:
    """The rows of an SFT JSONL file, in file order; bad rows raise `InvalidOption` naming the line."""
    path = Path(path)
    if not path.is_file():
        raise InvalidOption("--team-data", f"{path} is not a file; pass the JSONL that `export_sft_jsonl` writes")
    tasks = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            tasks.append(_task(path, number, line))
    if not tasks:
        raise InvalidOption("--team-data", f"{path} holds no rows")
    return tasks


def _task(path: Path, number: int, line: str) -> TeamTask:
    where = f"{path} line {number}"
    try:
        row: Any = json.loads(line)
    except json.JSONDecodeError as error:
        raise InvalidOption("--team-data", f"{where} is not JSON ({error.msg})") from None
    messages = row.get("messages") if isinstance(row, dict) else None
    if (
        not isinstance(messages, list)
        or len(messages) < 2
        or not all(isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str) for m in messages)
        or messages[-1]["role"] != "assistant"
    ):
        raise InvalidOption(
            "--team-data",
            f'{where}: expected {{"messages": [...prompt..., {{"role": "assistant", "content": ...}}]}} '
            "with string roles and contents",
        )
    prompt = tuple({"role": m["role"], "content": m["content"]} for m in messages[:-1])
    return TeamTask(id=f"team/{number}", messages=prompt, reference=messages[-1]["content"])


def router_note(tasks: list[TeamTask], router_dir: str | Path, device: str = "auto") -> str:
    """The router's mean p_pass over the subtasks behind `tasks`, as one line for the report."""
    from coassist.train.router import ROUTER_FILE, Router

    router_dir = Path(router_dir)
    if not (router_dir / ROUTER_FILE).is_file():
        raise InvalidOption("--router", f"{router_dir} holds no {ROUTER_FILE}; pass a directory written by `coassist train-router --out`")
    subtasks = [subtask for subtask in (task.subtask() for task in tasks) if subtask is not None]
    if not subtasks:
        return "no team prompt is in the review loop's shape, so the router could not score them"
    p_pass = Router.load(router_dir, device).predict_p_pass(
        [subtask_text(title, description) for title, _, description in subtasks], [skill for _, skill, _ in subtasks]
    )
    return f"mean {statistics.fmean(p_pass):.2f} over {len(subtasks)} of {len(tasks)} team subtasks (chrF pass needs >= {CHRF_PASS:g})"
