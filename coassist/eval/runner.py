"""Answer every task with one model, time each answer, and check it.

One answer per task (pass@1): each task picks its settings from the product's defaults, the
model answers once, and the task scores the text. The runner keeps the timings the report
needs (time to first token, decode rate) and whether the answer looped or was cut off.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from tqdm import tqdm

from coassist.errors import PromptTooLong
from coassist.eval.tasks import Category, EvalTask
from coassist.llm.chat import ChatModel, FinishReason, GenerationSettings
from coassist.llm.degenerate import is_degenerate

Finish = FinishReason | Literal["prompt too long"]
"""How an answer ended; "prompt too long" when the task did not fit the model's context, so
no answer was generated (the task counts as failed, like a wrong answer)."""


@dataclass(frozen=True)
class TaskResult:
    """One model's answer to one task, its check and its timings (one row of the JSON report)."""

    model: str
    task_id: str
    category: Category
    passed: bool
    value: float | None
    detail: str
    degenerate: bool
    finish: Finish
    new_tokens: int
    first_token_seconds: float | None
    seconds: float
    tokens_per_second: float | None
    answer: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Run:
    """The results of one model's pass over the tasks; `interrupted` when Ctrl-C ended it early."""

    results: list[TaskResult]
    interrupted: bool


def run_tasks(model: ChatModel, tasks: Sequence[EvalTask], defaults: GenerationSettings) -> Run:
    """Answer and score `tasks` in order; Ctrl-C stops and keeps the results finished so far.

    Progress goes to stderr, so the table on stdout stays clean for pipes.
    """
    results: list[TaskResult] = []
    progress = tqdm(tasks, desc=f"eval {model.spec}", unit="task", file=sys.stderr, dynamic_ncols=True)
    try:
        for task in progress:
            results.append(run_task(model, task, defaults))
            progress.set_postfix(passed=sum(result.passed for result in results))
    except KeyboardInterrupt:
        return Run(results, interrupted=True)
    finally:
        progress.close()
    return Run(results, interrupted=False)


def run_task(model: ChatModel, task: EvalTask, defaults: GenerationSettings) -> TaskResult:
    """One answer to one task, scored."""
    settings = task.settings(defaults)
    try:
        prompt = task.prompt(model, settings)
        if isinstance(prompt, str):
            generation = model.continue_text(prompt, settings)
        else:
            generation = model.generate(prompt, settings)
    except PromptTooLong as error:
        return _not_answered(model, task, error)
    score = task.score(generation.text)
    return TaskResult(
        model=model.spec,
        task_id=task.id,
        category=task.category,
        passed=score.passed,
        value=score.value,
        detail=score.detail,
        degenerate=is_degenerate(generation.text),
        finish=generation.finish,
        new_tokens=generation.new_tokens,
        first_token_seconds=generation.first_token_seconds,
        seconds=generation.seconds,
        tokens_per_second=generation.tokens_per_second,
        answer=generation.text,
    )


def _not_answered(model: ChatModel, task: EvalTask, error: PromptTooLong) -> TaskResult:
    return TaskResult(
        model=model.spec,
        task_id=task.id,
        category=task.category,
        passed=False,
        value=None,
        detail=str(error),
        degenerate=False,
        finish="prompt too long",
        new_tokens=0,
        first_token_seconds=None,
        seconds=0.0,
        tokens_per_second=None,
        answer="",
    )
