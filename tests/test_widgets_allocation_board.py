"""The allocation board: controls re-solve the plan; shadow prices and why-not follow them."""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import pandas as pd
import pytest
import traitlets

from coassist.notebook.widgets import AllocationBoard
from coassist.notebook.widgets._status import status_html
from coassist.notebook.widgets.allocation_board import (
    plan_status_html,
    price_records,
    prices_html,
    why_not_html,
)
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
    return {record["worker"]: record["value_per_hour"] for record in board.shadow_prices}


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
    assert (board.table.value, board.gantt.value, board.prices_table.value) == ("", b"", "")
    assert board.shadow_prices == []
    board.hours["ann"].value = 6
    assert board.plan is not None and board.why_not.value == ""


def test_controls_start_at_the_team_table_and_label_gpu_hours(board: AllocationBoard) -> None:
    assert [label.value for label in board.labels.values()] == ["ann h", "gpu GPU-h"]
    assert [s.value for s in board.hours.values()] == [8.0, 8.0]
    assert [c.value for c in board.costs.values()] == [50.0, 2.0]
    assert [w.capacity_hours for w in board.workers()] == [8.0, 8.0]


def test_tables_are_accepted_as_well_as_dataclasses() -> None:
    tasks = [{"id": "a", "skill": "x", "human_hours": 2}]
    team = [{"id": "ann", "kind": "human", "skills": "x", "capacity_hours": 8, "cost_per_hour": 10}]
    board = AllocationBoard(tasks, team)
    assert rows(board) == [["a", "ann", "do"]]
    assert "<b>cost 20.00</b>" in board.status.value


# --- the results are data: read, observed and linked; the HTML is drawn from them ------------------


def test_results_are_traits_a_notebook_can_observe(board: AllocationBoard) -> None:
    seen: list[tuple[str, Any, list[dict[str, Any]]]] = []
    # An observer of one result already sees the others updated with it.
    board.observe(lambda change: seen.append((change["name"], board.plan, board.shadow_prices)), names="plan")
    board.hours["ann"].value = 4
    assert seen == [("plan", None, [])]
    board.costs["gpu"].value = 200
    board.hours["ann"].value = 6
    assert seen[-1][1] is board.plan and seen[-1][2] == board.shadow_prices
    assert shadow(board) == {"ann": 150.0, "gpu": 0.0}
    assert board.shadow_prices[0] == {"worker": "ann", "kind": "human", "value_per_hour": 150.0}


def test_results_can_be_linked_but_not_overwritten(board: AllocationBoard) -> None:
    cost = widgets.FloatText()
    traitlets.dlink((board, "plan"), (cost, "value"), lambda plan: plan.cost if plan else 0.0)
    assert cost.value == 302.0
    board.costs["gpu"].value = 200
    assert cost.value == 350.0
    reason = widgets.Text()
    traitlets.dlink((board, "no_plan_reason"), (reason, "value"))
    board.hours["ann"].value = 1
    assert cost.value == 0.0 and "+ ann (human)" in reason.value
    with pytest.raises(traitlets.TraitError, match="read-only"):
        board.plan = None


def test_the_why_not_is_data_with_its_words(board: AllocationBoard) -> None:
    board.hours["ann"].value = 4
    assert board.explanation is not None
    assert board.no_plan_reason == board.explanation.message
    assert board.why_not.value == why_not_html(board.no_plan_reason, board.explanation)
    board.hours["ann"].value = 8
    assert (board.explanation, board.no_plan_reason) == (None, "")


def test_prices_html_is_a_view_of_the_records() -> None:
    records = [{"worker": "ann", "kind": "human", "value_per_hour": 1234.5}]
    view = prices_html(records)
    assert view.startswith("<b>Value of one more hour</b>")
    assert "<td>ann</td>" in view and "<td>1,234.50</td>" in view
    assert prices_html([]) == ""


def test_why_not_html_escapes_the_reason_and_adds_the_fix() -> None:
    assert why_not_html("", None) == ""
    assert why_not_html("a < b", None) == "<pre>a &lt; b</pre>"


def test_plan_status_html_without_a_plan_is_the_shared_error_status() -> None:
    assert plan_status_html(None) == status_html("No plan fits the team.", "error", bold=True)


def test_price_records_are_plain_python() -> None:
    frame = pd.DataFrame({"worker": ["ann"], "kind": ["human"], "value_per_hour": [2.5]})
    assert price_records(frame) == [{"worker": "ann", "kind": "human", "value_per_hour": 2.5}]
    assert price_records(None) == []


# --- the view: about a screen tall, nothing cut, no empty chart ------------------------------------


def test_results_sit_in_tabs_and_the_table_scrolls(board: AllocationBoard) -> None:
    assert board.tabs.titles == ("Plan", "Gantt", "Shadow prices", "Why not")
    table_box = board.tabs.children[0]
    assert table_box.children == (board.table,)
    assert (table_box.layout.max_height, table_box.layout.overflow) == ("320px", "auto")
    assert board.tabs.selected_index == 0


def test_controls_are_a_grid_of_name_slider_and_cost_that_name_the_worker_on_hover() -> None:
    team = [Worker("gpu-a100-long-name", "ai", ("*",), capacity_hours=8, cost_per_hour=2)]
    board = AllocationBoard(TASKS[:1], team)
    grid = board.children[0]
    assert [getattr(child, "value", None) for child in grid.children[:3]] == [
        "<b>worker</b>",
        "<b>hours available</b>",
        "<b>cost / hour</b>",
    ]
    label, slider, cost = grid.children[3:]
    assert (label, slider, cost) == tuple(control["gpu-a100-long-name"] for control in (board.labels, board.hours, board.costs))
    assert grid.layout.grid_template_columns.startswith("max-content ")  # the longest name sets the column
    assert label.tooltip == "gpu-a100-long-name (ai): GPU-h available"
    assert slider.tooltip == "gpu-a100-long-name: GPU-h available"
    assert cost.tooltip == "gpu-a100-long-name: cost per hour"


def test_without_a_plan_no_image_is_shown_and_why_not_opens(board: AllocationBoard) -> None:
    assert board.gantt_box.children == (board.gantt,)
    board.hours["ann"].value = 4
    assert board.gantt_box.children == (board.no_gantt,) and "see Why not" in board.no_gantt.value
    assert board.tabs.selected_index == 3
    board.hours["ann"].value = 8
    assert board.gantt_box.children == (board.gantt,) and board.tabs.selected_index == 0
