"""Answer every task with one model, in batches, and check each answer.

One answer per task (pass@1): each task picks its settings from the product's defaults, and
the model answers tasks in batches (`ChatModel.generate_batch`): on a CPU as on a GPU, a
decoding step for eight answers costs little more than for one, since the weights are read
once a step. Each answer is still scored alone. The runner keeps the timings the report
needs (time to first token, decode rate, per batch) and whether the answer looped or was
cut off.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from tqdm import tqdm

from coassist.errors import PromptTooLong
from coassist.eval.tasks import Category, EvalTask
from coassist.llm.chat import ChatModel, FinishReason, Generation, GenerationSettings, Message
from coassist.llm.degenerate import is_degenerate

Finish = FinishReason | Literal["prompt too long"]
"""How an answer ended; "prompt too long" when the task did not fit the model's context, so
no answer was generated (the task counts as failed, like a wrong answer)."""

BATCH_SIZE = 8
"""Tasks answered together by default. On the 2-core development CPU (SmolLM2-135M, fp32,
quiet) a step for 8 answers took 1.6x one for a single answer: 5x the tokens a second
(docs/evaluation.md). 12 did better in that one measurement, but a batch lasts as long as its
longest answer, and the more rows, the more of them sit finished while it runs."""


@dataclass(frozen=True)
class TaskResult:
    """One model's answer to one task, its check and its timings (one row of the JSON report).

    `batch` numbers the batch of the run that answered the task (None: not answered, or
    answered alone by `run_task`). The rows of a local model's batch share its timings:
    `first_token_seconds` is the batch's first step and `seconds` its wall time.
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
    model: ChatModel, tasks: Sequence[EvalTask], defaults: GenerationSettings, batch_size: int = BATCH_SIZE
) -> Run:
    """Answer `tasks` in order, up to `batch_size` at a time, and score each answer.

    A batch holds consecutive tasks that `_Asked.batches_with` each other; `batch_size` 1
    answers each task alone. Ctrl-C stops the run and keeps the results finished so far
    (the batch being generated is lost). Progress goes to stderr, so the table on stdout
    stays clean for pipes.
    """
    results: list[TaskResult] = []
    numbers = itertools.count()
    progress = tqdm(total=len(tasks), desc=f"eval {model.spec}", unit="task", file=sys.stderr, dynamic_ncols=True)
    try:
        for batch in _batches(model, tasks, defaults, batch_size):
            for result in _answer(model, batch, numbers) if isinstance(batch, list) else [batch]:
                results.append(result)
                progress.update()
            progress.set_postfix(passed=sum(result.passed for result in results))
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
    [result] = _answer(model, [asked], itertools.repeat(None))
    return result


def _batches(
    model: ChatModel, tasks: Sequence[EvalTask], defaults: GenerationSettings, batch_size: int
) -> Iterator[list[_Asked] | TaskResult]:
    """The tasks in order, as batches to answer, or as the result of a task whose prompt
    could not be built (too long for the context: answered by nobody)."""
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
        if pending and (len(pending) == batch_size or not pending[0].batches_with(asked)):
            yield pending
            pending = []
        pending.append(asked)
    if pending:
        yield pending


def _answer(model: ChatModel, batch: list[_Asked], numbers: Iterator[int | None]) -> Iterator[TaskResult]:
    """Generate the batch's answers together, then score them one by one, in order.

    A prompt too long for the context refuses the whole batch; then each task is answered
    alone, so only the long one goes unanswered.
    """
    try:
        generations = _generate(model, batch)
    except PromptTooLong as error:
        if len(batch) == 1:
            yield _not_answered(model, batch[0].task, error)
            return
        for asked in batch:
            yield from _answer(model, [asked], numbers)
        return
    number = next(numbers)
    for asked, generation in zip(batch, generations, strict=True):
        yield _scored(model, asked.task, generation, number)


def _generate(model: ChatModel, batch: list[_Asked]) -> list[Generation]:
    settings = batch[0].settings  # one batch, one kind of prompt and one settings (`_Asked.batches_with`)
    texts = [asked.prompt for asked in batch if isinstance(asked.prompt, str)]
    if texts:
        return model.continue_text_batch(texts, settings)
    return model.generate_batch([asked.prompt for asked in batch if not isinstance(asked.prompt, str)], settings)


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
