"""`coassist eval` answering tasks in batches: same answers as one by one, batches that only
join tasks that can share one, a long prompt that spoils no other task, and batch timings."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import pytest

from coassist.cli import main
from coassist.eval import product_defaults
from coassist.eval.report import EvalReport
from coassist.eval.runner import TaskResult, run_task, run_tasks
from coassist.eval.tasks import Category, Score
from coassist.llm import load_chat_model
from coassist.llm.chat import GenerationSettings, Message

SHORT = GenerationSettings(max_new_tokens=6)


@dataclass
class EchoTask:
    """Passes when the answer contains a letter of `text` (the tiny model's answers are noise:
    the point is that batched and single runs score the same answers the same way)."""

    id: str
    category: Category
    text: str
    plain: bool = False
    max_new_tokens: int = 6

    def prompt(self, model: object, settings: GenerationSettings) -> list[Message] | str:
        return self.text if self.plain else [{"role": "user", "content": self.text}]

    def settings(self, defaults: GenerationSettings) -> GenerationSettings:
        return dataclasses.replace(SHORT, max_new_tokens=self.max_new_tokens)

    def score(self, answer: str) -> Score:
        return Score(passed=any(letter in answer for letter in self.text[:3]))


def _tasks() -> list[EchoTask]:
    return [
        EchoTask("q1", "error", "hi"),
        EchoTask("q2", "error", "Explain the error and fix the code in this function please."),
        EchoTask("q3", "error", "Sort a list."),
        EchoTask("q4", "error", "Why?", max_new_tokens=4),  # other settings: a batch of its own
        EchoTask("c1", "completion", "def add(a, b):\n", plain=True),
        EchoTask("c2", "completion", "import pandas as pd\ndf = pd.read_csv('data.csv')\n", plain=True),
        EchoTask("c3", "code", "Write a function that sorts a list."),  # another category
    ]


def _outcomes(results: list[TaskResult]) -> list[tuple[object, ...]]:
    return [(r.task_id, r.answer, r.finish, r.new_tokens, r.passed, r.degenerate) for r in results]


def test_batches_answer_as_one_by_one_and_join_only_tasks_that_can_share_one(tiny_model_dir: Path) -> None:
    model = load_chat_model(str(tiny_model_dir))
    alone = run_tasks(model, _tasks(), product_defaults(), batch_size=1)
    batched = run_tasks(model, _tasks(), product_defaults(), batch_size=2)
    assert not alone.interrupted and not batched.interrupted
    assert _outcomes(batched.results) == _outcomes(alone.results)
    assert [r.batch for r in alone.results] == [None] * 7
    # q1-q3, q4 (other settings), c1+c2 (plain text), c3 (another category).
    assert [r.batch for r in batched.results] == [0, 0, 0, 1, 2, 2, 3]
    # A task answered alone by run_task gets the same answer, outside any batch.
    single = run_task(model, _tasks()[1], product_defaults())
    assert _outcomes([single]) == _outcomes(alone.results[1:2]) and single.batch is None


def test_a_prompt_too_long_for_the_context_fails_alone(tiny_model_dir: Path) -> None:
    model = load_chat_model(str(tiny_model_dir))
    tasks = [EchoTask("short", "error", "hi"), EchoTask("long", "error", "def add(a, b): return a + b\n" * 60)]
    run = run_tasks(model, [*tasks, EchoTask("after", "error", "Sort a list.")], product_defaults(), batch_size=4)
    assert [(r.task_id, r.finish == "prompt too long") for r in run.results] == [
        ("short", False),
        ("long", True),
        ("after", False),
    ]
    assert "context holds 256 tokens" in run.results[1].detail
    assert run.results[0].answer == run_task(model, tasks[0], product_defaults()).answer


def _batch_row(task_id: str, new_tokens: int, batch: int | None) -> TaskResult:
    return TaskResult(
        model="m", task_id=task_id, category="code", passed=True, value=None, detail="", degenerate=False,
        finish="stop", new_tokens=new_tokens, first_token_seconds=1.0, seconds=3.0, tokens_per_second=None,
        answer="x", batch=batch,
    )


def test_each_answer_counts_its_own_decoding_and_the_table_says_it_was_batched() -> None:
    batched = EvalReport([_batch_row("a", 11, 0), _batch_row("b", 31, 0), _batch_row("c", 5, 1)])
    [code, _] = batched.summaries()
    # Each answer decoded its tokens after the first in its own 2 s (while sharing the steps).
    assert code.decode_tokens_per_second == pytest.approx((10 + 30 + 4) / (2.0 + 2.0 + 2.0))
    assert code.median_first_token_s == 1.0
    assert "batched: answers decoded --batch-size at a time" in str(batched)
    alone = EvalReport([_batch_row("a", 11, None), _batch_row("b", 31, None)])
    assert alone.summaries()[0].decode_tokens_per_second == pytest.approx((10 + 30) / (2.0 + 2.0))
    assert "batched" not in str(alone)


@pytest.mark.parametrize("value", ["0", "eight"])
def test_a_bad_batch_size_exits_1_naming_the_flag(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--model", "no-such-model-dir", "--batch-size", value]) == 1
    assert capsys.readouterr().err.startswith("coassist eval: --batch-size: must be a whole number >= 1")


@pytest.mark.parametrize("value", [0, -2, 1.5, True])
def test_evaluate_refuses_a_batch_size_that_decodes_nothing_before_loading(value: object) -> None:
    from coassist.errors import InvalidOption
    from coassist.eval import evaluate

    with pytest.raises(InvalidOption, match=r"^--batch-size: must be a whole number >= 1"):
        evaluate(["no-such-model-dir"], batch_size=value)  # type: ignore[arg-type]
