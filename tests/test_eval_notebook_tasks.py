"""The notebook evaluation tasks: their facts hold, and each checker separates right from wrong.

Every task in the file carries a reference answer its checker must pass and wrong answers it
must fail, so a checker that accepts anything (or nothing) is caught here, before a model
is ever scored with it.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from coassist.errors import InvalidEvalTask
from coassist.eval.notebook_tasks import (
    DataFrameTask,
    compute_fact,
    load_notebook_tasks,
    parse_notebook_tasks,
)
from coassist.eval.tasks import CATEGORIES, EvalTask
from coassist.llm import GenerationSettings, load_chat_model
from coassist.server.completion import CompletionService

TASKS = load_notebook_tasks()
BY_ID = {task.id: task for task in TASKS}
ENTRIES: list[dict[str, Any]] = [
    entry
    for section in yaml.safe_load(
        resources.files("coassist.eval").joinpath("data", "notebook_tasks.yaml").read_text(encoding="utf-8")
    ).values()
    for entry in section
]


def test_at_least_sixty_tasks_in_every_notebook_category_with_unique_ids() -> None:
    assert len(TASKS) >= 60
    assert len(BY_ID) == len(TASKS)
    counts = {category: sum(task.category == category for task in TASKS) for category in CATEGORIES}
    assert all(counts[category] >= 10 for category in ("dataframe", "code", "error", "completion")), counts
    assert [task.id for task in load_notebook_tasks()] == [task.id for task in TASKS]  # stable order


@pytest.mark.parametrize("entry", ENTRIES, ids=[entry["id"] for entry in ENTRIES])
def test_reference_passes_and_every_wrong_answer_fails(entry: dict[str, Any]) -> None:
    task: EvalTask = BY_ID[entry["id"]]
    reference = task.score(entry["reference"])
    assert reference.passed, reference.detail
    assert entry["wrong"], "each task needs at least one wrong answer"
    for wrong in entry["wrong"]:
        score = task.score(wrong)
        assert not score.passed, f"accepted a wrong answer: {wrong!r}"
        assert score.detail


def test_dataframe_prompt_is_built_by_the_session_with_the_frame_schema(tiny_model_dir: Path) -> None:
    model = load_chat_model(str(tiny_model_dir))
    task = BY_ID["df-nulls-sales"]
    settings = task.settings(GenerationSettings(max_new_tokens=16))
    messages = task.prompt(model, settings)
    question = messages[-1]["content"]
    assert messages[-1]["role"] == "user"
    assert "12 rows and 7 columns" in question and "Which columns have missing values?" in question
    assert all(name in question for name in ("order_id", "unit_price", "discount", "float64", "datetime64"))


def test_sample_rows_reach_the_prompt_only_for_tasks_that_ask(tiny_model_dir: Path) -> None:
    model = load_chat_model(str(tiny_model_dir))
    settings = GenerationSettings(max_new_tokens=16)
    with_rows = BY_ID["df-max-weather-temp"].prompt(model, settings)[-1]["content"]
    schema_only = BY_ID["df-nulls-weather"].prompt(model, settings)[-1]["content"]
    assert "First 14 rows:" in with_rows and "First" not in schema_only
    assert "2024-07-11" in with_rows and "2024-07-11" not in schema_only  # a row's date, not a statistic


def test_error_prompt_holds_the_cell_and_the_exception_it_really_raised(tiny_model_dir: Path) -> None:
    model = load_chat_model(str(tiny_model_dir))
    question = BY_ID["err-keyerror-column"].prompt(model, GenerationSettings(max_new_tokens=16))[-1]["content"]
    assert "Explain this error and show how to fix the code." in question
    assert "raised KeyError: 'price'" in question and 'sales["price"]' in question


def test_completion_tasks_use_the_completion_service_settings() -> None:
    service = CompletionService("unused", lambda: pytest.fail("no model is loaded"), 32, 2000)
    task = BY_ID["comp-return-sum"]
    assert task.settings(GenerationSettings()) == service.settings
    # The cell before the cursor, continued as plain text, as the service does.
    assert task.prompt(None, service.settings) == "def add(a, b):"  # type: ignore[arg-type]


def test_completion_is_cleaned_like_ghost_text_before_it_is_checked() -> None:
    task = BY_ID["comp-return-sum"]
    assert task.score("```python\ndef add(a, b):\n    return a + b\n```").passed  # echo and fences go
    assert task.score("return a +").passed is False  # too short a start, and it does not parse
    assert not task.score("").passed


def test_expected_facts_are_computed_from_the_frame() -> None:
    frame = pd.DataFrame({"a": [1.0, None, None], "b": [1, 2, 2], "c": ["x", None, "y"]})
    assert compute_fact(frame, "null_columns", None).columns == ("a", "c")
    assert compute_fact(frame, "most_nulls", None).columns == ("a",)
    assert compute_fact(frame, "unique_count", "b").number == 2
    assert compute_fact(frame, "mean", "b").number == pytest.approx(5 / 3)
    task = BY_ID["df-mean-weather-rain"]
    assert task.score("about 2.09 mm").passed and task.score("2.1 mm").passed
    assert not task.score("2 mm").passed  # a non-integer mean needs its decimals


MINIMAL = {
    "dataframe": [{"id": "df-x", "fact": "row_count", "frame": "sales", "template": "{sales} rows?"}],
    "code": [{"id": "code-x", "prompt": "Write f.", "tests": "assert f() == 1"}],
    "error": [
        {"id": "err-x", "source": "1 / 0", "raises": "ZeroDivisionError", "cause": ["zero"], "fix": ["if"]}
    ],
    "completion": [{"id": "comp-x", "prefix": "x = ", "expected": ["1"]}],
}


def _with(section: str, **changes: Any) -> str:
    data = {name: [dict(entry) for entry in entries] for name, entries in MINIMAL.items()}
    data[section][0].update(changes)
    data[section][0] = {key: value for key, value in data[section][0].items() if value is not None}
    return yaml.safe_dump(data)


def test_a_minimal_task_file_loads() -> None:
    tasks = parse_notebook_tasks(yaml.safe_dump(MINIMAL))
    assert [task.id for task in tasks] == ["df-x", "code-x", "err-x", "comp-x"]
    assert isinstance(tasks[0], DataFrameTask) and tasks[0].fact.number == 12


@pytest.mark.parametrize(
    ("section", "changes", "task_id", "field", "message"),
    [
        ("dataframe", {"fact": "median"}, "df-x", "fact", "unknown fact"),
        ("dataframe", {"frame": "salez"}, "df-x", "frame", "no frame 'salez'"),
        ("dataframe", {"fact": "null_count"}, "df-x", "column", "needs column"),
        ("dataframe", {"template": "rows?"}, "df-x", "template", "{sales}"),
        ("code", {"tests": None}, "code-x", "tests", "missing"),
        ("code", {"tests": "assert ("}, "code-x", "tests", "not valid Python"),
        ("error", {"source": "x = 1"}, "err-x", "source", "without raising"),
        ("error", {"raises": "KeyError"}, "err-x", "raises", "raised ZeroDivisionError"),
        ("error", {"fix": ["("]}, "err-x", "fix", "not a regular expression"),
        ("completion", {"expected": ["1)"]}, "comp-x", "expected", "not valid Python"),
        ("completion", {"id": "df-x"}, "df-x", "id", "used twice"),
    ],
)
def test_a_malformed_task_names_its_id_and_field(
    section: str, changes: dict[str, Any], task_id: str, field: str, message: str
) -> None:
    with pytest.raises(InvalidEvalTask) as raised:
        parse_notebook_tasks(_with(section, **changes))
    assert (raised.value.task_id, raised.value.field) == (task_id, field)
    assert message in str(raised.value) and task_id in str(raised.value)
