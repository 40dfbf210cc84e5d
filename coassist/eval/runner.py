"""Answer every task with one model, in batches, and check each answer.

One answer per task (pass@1): each task picks its settings from the product's defaults, and
the model answers tasks in batches (`ChatModel.generate_batch`): on a CPU as on a GPU, a
decoding step for eight answers costs little more than for one, since the weights are read
once a step. A run of consecutive tasks that can share a batch goes to the model at once, to
be decoded `batch_size` at a time, a finished answer making room for the next task (the
local model's continuous batching); each answer is scored as it comes. The runner keeps the
timings the report needs (time to first token, decode rate) and whether the answer looped
or was cut off.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from tqdm import tqdm

from coassist.errors import PromptTooLong
from coassist.eval.tasks import Category, EvalTask
from coassist.llm.chat import (
    BATCH_WIDTH,
    AnswerCallback,
    ChatModel,
    FinishReason,
    Generation,
    GenerationSettings,
    Message,
)
from coassist.llm.degenerate import is_degenerate

Finish = FinishReason | Literal["prompt too long"]
"""How an answer ended; "prompt too long" when the task did not fit the model's context, so
no answer was generated (the task counts as failed, like a wrong answer)."""


@dataclass(frozen=True)
class TaskResult:
    """One model's answer to one task, its check and its timings (one row of the JSON report).

    `batch` numbers the run of tasks given to the model together (None: not answered, or
    answered alone: `run_task`, or a batch size of 1). A batched answer's timings are its
    own, from when its prompt began to be read, while it shared each step with other rows.
    """

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
    batch: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Run:
    """The results of one model's pass over the tasks; `interrupted` when Ctrl-C ended it early."""

    results: list[TaskResult]
    interrupted: bool


@dataclass(frozen=True)
class _Asked:
    """A task with its settings and the prompt built for this model."""

    task: EvalTask
    settings: GenerationSettings
    prompt: list[Message] | str

    def batches_with(self, other: _Asked) -> bool:
        """Whether the two can share a batch: one category (so a batch's timings belong to one
        report row), the same settings, and the same kind of prompt (chat or plain text)."""
        return (
            self.task.category == other.task.category
            and self.settings == other.settings
            and isinstance(self.prompt, str) == isinstance(other.prompt, str)
        )


def run_tasks(
    model: ChatModel, tasks: Sequence[EvalTask], defaults: GenerationSettings, batch_size: int = BATCH_WIDTH
) -> Run:
    """Answer `tasks`, up to `batch_size` at a time, and score each answer; results in task order.

    Consecutive tasks that `_Asked.batches_with` each other go to the model together;
    `batch_size` 1 answers each task alone. Ctrl-C stops the run and keeps the results
    finished so far. Progress goes to stderr, so the table on stdout stays clean for pipes.
    """
    results: list[TaskResult] = []
    passed = 0
    progress = tqdm(total=len(tasks), desc=f"eval {model.spec}", unit="task", file=sys.stderr, dynamic_ncols=True)

    def keep(result: TaskResult) -> None:
        nonlocal passed
        passed += result.passed
        progress.update()
        progress.set_postfix(passed=passed)

    try:
        for number, group in enumerate(_groups(model, tasks, defaults)):
            if isinstance(group, TaskResult):
                results.append(group)
                keep(group)
                continue
            answered: dict[str, TaskResult] = {}
            try:
                _answer(model, group, batch_size, number if batch_size > 1 else None, answered, keep)
            finally:  # also on Ctrl-C: the answers scored so far are kept
                results.extend(answered[asked.task.id] for asked in group if asked.task.id in answered)
    except KeyboardInterrupt:
        return Run(results, interrupted=True)
    finally:
        progress.close()
    return Run(results, interrupted=False)


def run_task(model: ChatModel, task: EvalTask, defaults: GenerationSettings) -> TaskResult:
    """One task answered alone and scored (`batch` None: its timings are its own)."""
    settings = task.settings(defaults)
    try:
        asked = _Asked(task, settings, task.prompt(model, settings))
    except PromptTooLong as error:
        return _not_answered(model, task, error)
    answered: dict[str, TaskResult] = {}
    _answer(model, [asked], 1, None, answered, lambda result: None)
    return answered[task.id]


def _groups(model: ChatModel, tasks: Sequence[EvalTask], defaults: GenerationSettings) -> Iterator[list[_Asked] | TaskResult]:
    """The tasks in order, as runs of tasks that can share a batch, or as the result of a
    task whose prompt could not be built (too long for the context: answered by nobody)."""
    pending: list[_Asked] = []
    for task in tasks:
        settings = task.settings(defaults)
        try:
            asked = _Asked(task, settings, task.prompt(model, settings))
        except PromptTooLong as error:
            if pending:
                yield pending
                pending = []
            yield _not_answered(model, task, error)
            continue
        if pending and not pending[0].batches_with(asked):
            yield pending
            pending = []
        pending.append(asked)
    if pending:
        yield pending


def _answer(
    model: ChatModel,
    group: list[_Asked],
    width: int,
    number: int | None,
    answered: dict[str, TaskResult],
    keep: Callable[[TaskResult], None],
) -> None:
    """Answer the group `width` at a time, scoring each answer into `answered` (by task id) as
    it comes and passing it to `keep`.

    A prompt too long for the context refuses the whole call before any answer; then the
    group is answered again in halves, so only the long one goes unanswered.
    """

    def scored(index: int, generation: Generation) -> None:
        result = _scored(model, group[index].task, generation, number)
        answered[result.task_id] = result
        keep(result)

    try:
        _generate(model, group, width, scored)
    except PromptTooLong as error:
        left = [asked for asked in group if asked.task.id not in answered]
        if len(left) == 1:
            answered[left[0].task.id] = result = _not_answered(model, left[0].task, error)
            keep(result)
            return
        half = len(left) // 2
        for part in (left[:half], left[half:]):
            _answer(model, part, width, number, answered, keep)


def _generate(model: ChatModel, group: list[_Asked], width: int, on_answer: AnswerCallback) -> list[Generation]:
    settings = group[0].settings  # one group, one kind of prompt and one settings (`_Asked.batches_with`)
    texts = [asked.prompt for asked in group if isinstance(asked.prompt, str)]
    if texts:
        return model.continue_text_batch(texts, settings, width, on_answer)
    conversations = [asked.prompt for asked in group if not isinstance(asked.prompt, str)]
    return model.generate_batch(conversations, settings, width, on_answer)


def _scored(model: ChatModel, task: EvalTask, generation: Generation, batch: int | None) -> TaskResult:
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
        batch=batch,
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
