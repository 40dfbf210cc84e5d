"""Loading task and worker tables, and every validation error naming its input."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from coassist.errors import CyclicPlan, InvalidTaskTable
from coassist.plan import Subtask, Worker, allocate, load_tasks, load_workers

DATA = Path(__file__).resolve().parents[1] / "examples" / "data"

TASK = {
    "id": "t1",
    "skill": "sql",
    "human_hours": 2,
    "ai_hours": 0.5,
    "review_hours": 1,
    "p_pass": 0.8,
    "depends_on": "",
}
WORKER = {"id": "ann", "kind": "human", "skills": "sql;python", "capacity_hours": 8, "cost_per_hour": 50}


def tasks_with(**changes):
    return [TASK, {**TASK, "id": "t2", "depends_on": "t1", **changes}]


def test_example_csv_and_yaml_agree():
    tasks = load_tasks(DATA / "tasks.csv")
    assert len(tasks) == 57
    assert tasks[1] == Subtask(
        "reqs", "writing", 4.0, 0.3, 1.0, 0.7, ("kickoff",), "Write requirements and success metrics"
    )
    assert tasks[0].ai_hours is None and tasks[0].p_pass is None
    assert load_workers(DATA / "workers.csv") == load_workers(DATA / "workers.yaml")
    assert load_workers(DATA / "workers.yaml")[-1] == Worker(
        "gpu-b", "ai", ("python", "sql", "writing", "viz"), 8, 3
    )


def test_yaml_tasks_take_lists(tmp_path):
    path = tmp_path / "tasks.yaml"
    path.write_text(
        "tasks:\n- {id: a, skill: sql, human_hours: 1}\n- {id: b, skill: sql, human_hours: 2, depends_on: [a]}\n"
    )
    assert [t.depends_on for t in load_tasks(path)] == [(), ("a",)]


def test_dataframe_input():
    frame = pd.DataFrame([WORKER, {**WORKER, "id": "gpu", "kind": "AI", "skills": "*"}])
    assert [w.kind for w in load_workers(frame)] == ["human", "ai"]


@pytest.mark.parametrize(
    ("changes", "column", "words"),
    [
        ({"depends_on": "t99"}, "depends_on", "subtask 't2' depends on 't99', which is not in the table"),
        ({"id": "t1"}, "id", "subtask id 't1' appears more than once"),
        ({"human_hours": -1}, "human_hours", "subtask 't2': human_hours is -1.0"),
        ({"review_hours": -0.5}, "review_hours", "review_hours is -0.5"),
        ({"ai_hours": "lots"}, "ai_hours", "row 't2': ai_hours is 'lots', which is not a number"),
        ({"p_pass": 1.5}, "p_pass", "p_pass is 1.5, but it is a probability"),
        ({"skill": ""}, "skill", "subtask 't2' has no skill"),
        ({"human_hours": ""}, "human_hours", "subtask 't2' has no human_hours"),
    ],
)
def test_task_errors_name_row_and_column(changes, column, words):
    with pytest.raises(InvalidTaskTable, match=words) as err:
        load_tasks(tasks_with(**changes))
    assert err.value.column == column
    assert err.value.row in ("t1", "t2")


def test_malformed_task_columns_are_named():
    with pytest.raises(InvalidTaskTable, match="missing column.*'human_hours'.*unknown column.*'human_hour'"):
        load_tasks([{"id": "a", "skill": "x", "human_hour": 1}])


def test_cycle_names_the_cycle():
    rows = [
        {**TASK, "id": "a", "depends_on": "c"},
        {**TASK, "id": "b", "depends_on": "a"},
        {**TASK, "id": "c", "depends_on": "b"},
    ]
    with pytest.raises(CyclicPlan) as err:
        load_tasks(rows)
    assert sorted(err.value.cycle) == ["a", "b", "c"]
    assert "form a cycle" in str(err.value) and "->" in str(err.value)


@pytest.mark.parametrize(
    ("changes", "column", "words"),
    [
        ({"kind": "robot"}, "kind", "worker 'bob' has kind 'robot'; kind must be one of human, ai"),
        ({"capacity_hours": -8}, "capacity_hours", "worker 'bob': capacity_hours is -8.0"),
        ({"cost_per_hour": "cheap"}, "cost_per_hour", "row 'bob': cost_per_hour is 'cheap'"),
        ({"id": "ann"}, "id", "worker id 'ann' appears more than once"),
        ({"skills": ""}, "skills", "worker 'bob' has no skills"),
    ],
)
def test_worker_errors_name_row_and_column(changes, column, words):
    with pytest.raises(InvalidTaskTable, match=words) as err:
        load_workers([WORKER, {**WORKER, "id": "bob", **changes}])
    assert err.value.column == column


def test_no_workers_and_no_tasks():
    with pytest.raises(InvalidTaskTable, match="there are no workers"):
        allocate([Subtask("a", "x", 1)], [])
    with pytest.raises(InvalidTaskTable, match="no subtasks"):
        load_tasks(pd.DataFrame(columns=["id", "skill", "human_hours"]))


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(InvalidTaskTable, match="no such file"):
        load_tasks(tmp_path / "nope.csv")
    path = tmp_path / "w.yaml"
    path.write_text("people: []\n")
    with pytest.raises(InvalidTaskTable, match="without a 'workers' key"):
        load_workers(path)


def test_ai_subtask_needs_p_pass_unless_a_router_gives_it():
    tasks = [Subtask("a", "sql", 2, ai_hours=0.5, review_hours=1)]
    team = [Worker("ann", "human", ("sql",), 8, 50), Worker("gpu", "ai", ("*",), 8, 2)]
    with pytest.raises(InvalidTaskTable, match="subtask 'a' has ai_hours but no p_pass"):
        allocate(tasks, team)
    with pytest.raises(InvalidTaskTable, match="router gave 2.0 for subtask 'a'"):
        allocate(tasks, team, p_pass=lambda subtasks: [2.0])


def test_description_column_reaches_the_subtask_for_a_router() -> None:
    from coassist.plan import load_tasks

    [task] = load_tasks([{"id": "a", "skill": "sql", "human_hours": 2, "title": "T", "description": "what done is"}])
    assert (task.title, task.description) == ("T", "what done is")
