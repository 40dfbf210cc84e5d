"""The allocation board: controls re-solve the plan; shadow prices and why-not follow them."""

from __future__ import annotations

import pytest

from coassist.notebook.widgets import AllocationBoard
from coassist.plan import Subtask, Worker

TASKS = [
    Subtask("etl", "sql", human_hours=4, ai_hours=1, review_hours=1, p_pass=0.5),
    Subtask("report", "writing", human_hours=3, depends_on=("etl",)),
]
TEAM = [
    Worker("ann", "human", ("sql", "writing"), capacity_hours=8, cost_per_hour=50),
    Worker("gpu", "ai", ("*",), capacity_hours=8, cost_per_hour=2),
]


def rows(board: AllocationBoard) -> list[list[str]]:
    assert board.plan is not None
    return board.plan.assignments[["subtask", "worker", "role"]].values.tolist()


def shadow(board: AllocationBoard) -> dict[str, float]:
    html = board.shadow_prices.value
    return {
        w: float(html.split(f"<td>{w}</td>")[1].split("<td>")[2].split("</td>")[0]) for w in ("ann", "gpu")
    }


@pytest.fixture
def board() -> AllocationBoard:
    return AllocationBoard(TASKS, TEAM)


def test_first_plan_is_shown_as_table_gantt_and_summary(board: AllocationBoard) -> None:
    assert rows(board) == [["etl", "gpu", "do"], ["etl", "ann", "review"], ["report", "ann", "do"]]
    assert "<b>cost 302.00</b> · makespan 7.00 h · optimal" in board.status.value
    assert "critical path etl → report" in board.status.value
    assert board.table.value.count("<tr>") == 3  # one per assignment (the header row is styled)
    assert board.gantt.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert shadow(board) == {"ann": 0.0, "gpu": 0.0}
    assert board.why_not.value == "" and board.explanation is None


def test_costs_re_solve_and_shadow_prices_show_what_an_hour_is_worth(board: AllocationBoard) -> None:
    board.costs["gpu"].value = 200
    assert board.plan is not None and board.plan.cost == 350.0
    assert rows(board) == [["etl", "ann", "do"], ["report", "ann", "do"]]  # the GPU is too dear now
    board.hours["ann"].value = 6  # too few hours to do etl herself: back to the AI, at a price
    assert board.plan.cost == 500.0
    assert rows(board) == [["etl", "gpu", "do"], ["etl", "ann", "review"], ["report", "ann", "do"]]
    assert shadow(board) == {"ann": 150.0, "gpu": 0.0}


def test_infeasible_shows_why_not_and_the_smallest_fix(board: AllocationBoard) -> None:
    board.hours["ann"].value = 4
    assert board.plan is None and board.explanation is not None
    assert board.explanation.additions.to_dict("records") == [
        {"worker": "ann", "kind": "human", "add_hours": 2.0}
    ]
    assert "No plan fits the team" in board.status.value
    assert "+ ann (human): 2 h" in board.why_not.value
    assert (board.table.value, board.gantt.value, board.shadow_prices.value) == ("", b"", "")
    board.hours["ann"].value = 6
    assert board.plan is not None and board.why_not.value == ""


def test_controls_start_at_the_team_table_and_label_gpu_hours(board: AllocationBoard) -> None:
    assert [(s.description, s.value) for s in board.hours.values()] == [("ann h", 8.0), ("gpu GPU-h", 8.0)]
    assert [c.value for c in board.costs.values()] == [50.0, 2.0]
    assert [w.capacity_hours for w in board.workers()] == [8.0, 8.0]


def test_tables_are_accepted_as_well_as_dataclasses() -> None:
    tasks = [{"id": "a", "skill": "x", "human_hours": 2}]
    team = [{"id": "ann", "kind": "human", "skills": "x", "capacity_hours": 8, "cost_per_hour": 10}]
    board = AllocationBoard(tasks, team)
    assert rows(board) == [["a", "ann", "do"]]
    assert "<b>cost 20.00</b>" in board.status.value
