"""The allocator as a board: plan table, Gantt chart, and sliders that re-solve as you move them.

    from coassist.notebook.widgets import AllocationBoard
    board = AllocationBoard("tasks.csv", "team.yaml")
    board.observe(lambda change: print(change["new"]), names="shadow_prices")

Each change solves twice: the plan itself (whole assignments), and its LP relaxation for the
shadow prices, i.e. what one more hour of each worker would save. When no plan fits, the board
shows the allocator's why-not explanation and the smallest capacity additions that would fix it.

The results are data first: `plan`, `shadow_prices`, `explanation` and `no_plan_reason` are
traits a notebook reads, observes or `dlink`s from; the HTML and the chart are drawn from them.

The view stays about one screen tall whatever the plan's size: the controls and the plan table
scroll inside boxes of bounded height, and the results sit in tabs (Plan, Gantt, Shadow prices,
Why not). With no plan there is no chart, so the Gantt tab holds a line of text, not an empty
image, and the Why-not tab is opened.
"""

from __future__ import annotations

import html
import io
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import ipywidgets as widgets
import pandas as pd
import traitlets

from coassist.errors import InfeasiblePlan
from coassist.notebook.widgets._status import status_html
from coassist.plan import (
    AllocateOptions,
    Explanation,
    Plan,
    Subtask,
    Worker,
    allocate,
    plot_gantt,
)
from coassist.plan.io import TableSource, as_subtasks, as_workers

PLAN_COLUMNS = ["subtask", "worker", "role", "start", "end", "hours", "cost"]
"""The columns of `Plan.assignments` the board's table shows."""

TAB_TITLES = ("Plan", "Gantt", "Shadow prices", "Why not")
"""The result tabs, in order."""

SCROLL_HEIGHT = "320px"
"""The most the plan table (and, separately, the controls) take before they scroll."""

CONTROL_HEADINGS = ("worker", "hours available", "cost / hour")
"""The columns of the controls: one row per worker, its name, its hours slider, its cost box."""


class AllocationBoard(widgets.VBox):
    """Sliders for each worker's hours (GPU-hours for AI workers) and cost; the plan follows them.

    The results are read-only traits, set together by `solve()` (so an observer of one sees the
    others already updated): `plan` (None when nothing fits), `shadow_prices` (records `worker,
    kind, value_per_hour`; empty when nothing fits), `explanation` (the why-not; None when a
    plan exists or the solver ran out of time) and `no_plan_reason` ('' when a plan exists).
    `max_hours` bounds the sliders.
    """

    plan = traitlets.Instance(Plan, allow_none=True, read_only=True, help="The current plan.")
    shadow_prices = traitlets.List(
        traitlets.Dict(),
        read_only=True,
        help="What one more hour of each worker would save: records worker, kind, value_per_hour.",
    )
    explanation = traitlets.Instance(
        Explanation, allow_none=True, read_only=True, help="Why no plan fits, as data."
    )
    no_plan_reason = traitlets.Unicode("", read_only=True, help="Why no plan fits, in words.")

    def __init__(
        self,
        tasks: TableSource | Sequence[Subtask],
        workers: TableSource | Sequence[Worker],
        options: AllocateOptions | None = None,
        max_hours: float = 80.0,
    ) -> None:
        self.tasks = as_subtasks(tasks)
        self.team = as_workers(workers)
        self.options = options or AllocateOptions(time_limit=10.0)
        self.labels = {
            w.id: widgets.Label(f"{w.id} {_unit(w)}", tooltip=f"{w.id} ({w.kind}): {_unit(w)} available")
            for w in self.team
        }
        self.hours = {
            w.id: widgets.FloatSlider(
                value=w.capacity_hours, min=0.0, max=max(max_hours, w.capacity_hours), step=0.5,
                continuous_update=False, tooltip=f"{w.id}: {_unit(w)} available",
                layout=widgets.Layout(width="auto"),
            )
            for w in self.team
        }  # fmt: skip
        self.costs = {
            w.id: widgets.BoundedFloatText(
                value=w.cost_per_hour, min=0.0, max=1e6, tooltip=f"{w.id}: cost per hour",
                layout=widgets.Layout(width="auto"),
            )
            for w in self.team
        }  # fmt: skip
        for control in [*self.hours.values(), *self.costs.values()]:
            control.observe(lambda _change: self.solve(), names="value")
        headings = [widgets.HTML(f"<b>{title}</b>") for title in CONTROL_HEADINGS]
        rows = [[self.labels[w.id], self.hours[w.id], self.costs[w.id]] for w in self.team]
        controls = widgets.GridBox(
            headings + [control for row in rows for control in row], layout=_control_grid()
        )
        self.status = widgets.HTML()
        self.why_not = widgets.HTML()
        self.table = widgets.HTML()
        self.prices_table = widgets.HTML()
        self.gantt = widgets.Image(format="png", layout=widgets.Layout(max_width="100%", height="auto"))
        self.no_gantt = widgets.HTML("<i>No plan fits the team, so there is no chart: see Why not.</i>")
        # Holds the chart, or the line above when there is none (never an empty image).
        self.gantt_box = widgets.Box([self.gantt])
        self.tabs = widgets.Tab(
            [widgets.Box([self.table], layout=_scrolling()), self.gantt_box, self.prices_table, self.why_not],
            titles=TAB_TITLES,
        )
        super().__init__([controls, self.status, self.tabs], layout=widgets.Layout(width="100%"))
        self.add_class("coassist-allocation-board")
        self.solve()

    def workers(self) -> list[Worker]:
        """The team as the controls set it now."""
        return [
            replace(w, capacity_hours=self.hours[w.id].value, cost_per_hour=self.costs[w.id].value)
            for w in self.team
        ]

    def solve(self) -> None:
        """Re-allocate with the current controls, then redraw from the new results."""
        team = self.workers()
        try:
            plan = allocate(self.tasks, team, self.options)
        except InfeasiblePlan as error:
            self._set_results(None, [], error.explanation, str(error))
            return
        relaxed = allocate(self.tasks, team, replace(self.options, relax=True))
        self._set_results(plan, price_records(relaxed.shadow_prices), None, "")

    def _set_results(
        self, plan: Plan | None, prices: list[dict[str, Any]], explanation: Explanation | None, reason: str
    ) -> None:
        # Held, so observers are told once all four are set and the view is drawn from them.
        with self.hold_trait_notifications():
            self.set_trait("plan", plan)
            self.set_trait("shadow_prices", prices)
            self.set_trait("explanation", explanation)
            self.set_trait("no_plan_reason", reason)
            self._draw()

    def _draw(self) -> None:
        """The view: every widget below the controls, drawn from the result traits alone."""
        plan = self.plan
        self.status.value = plan_status_html(plan)
        self.why_not.value = why_not_html(self.no_plan_reason, self.explanation)
        self.table.value = "" if plan is None else _frame_html(plan.assignments[PLAN_COLUMNS])
        self.prices_table.value = prices_html(self.shadow_prices)
        self.gantt.value = b"" if plan is None else _png(plan)
        self.gantt_box.children = (self.no_gantt,) if plan is None else (self.gantt,)
        why_not_tab = TAB_TITLES.index("Why not")
        if plan is None:
            self.tabs.selected_index = why_not_tab
        elif self.tabs.selected_index == why_not_tab:
            self.tabs.selected_index = TAB_TITLES.index("Plan")


def price_records(prices: pd.DataFrame | None) -> list[dict[str, Any]]:
    """A relaxed plan's shadow prices as plain records (none when the solver gave none)."""
    return [] if prices is None else prices.to_dict("records")


def plan_status_html(plan: Plan | None) -> str:
    """The one-line summary above the board: cost, makespan, solver status and critical path."""
    if plan is None:
        return status_html("No plan fits the team.", "error", bold=True)
    return (
        f"<b>cost {plan.cost:,.2f}</b> · makespan {plan.makespan:.2f} h · {plan.status} "
        f"(gap {100 * plan.gap:.2f}%) · critical path {html.escape(' → '.join(plan.critical_path))}"
    )


def why_not_html(reason: str, explanation: Explanation | None) -> str:
    """Why no plan fits and the smallest capacity additions that would fix it ('' when one fits)."""
    if not reason:
        return ""
    additions = _frame_html(explanation.additions) if explanation is not None else ""
    return f"<pre>{html.escape(reason, quote=False)}</pre>{additions}"


def prices_html(records: list[dict[str, Any]]) -> str:
    """The shadow-price table with its heading ('' when there are none)."""
    if not records:
        return ""
    return "<b>Value of one more hour</b> (shadow prices of the LP relaxation)" + _frame_html(
        pd.DataFrame.from_records(records)
    )


def _unit(worker: Worker) -> str:
    return "GPU-h" if worker.kind == "ai" else "h"


def _scrolling() -> widgets.Layout:
    return widgets.Layout(max_height=SCROLL_HEIGHT, overflow="auto", flex="0 0 auto")


def _control_grid() -> widgets.Layout:
    """One row per worker in three columns: names as wide as the longest, so every slider
    starts at one x and every cost box at another; rows as tall as their tallest control, so
    a long team scrolls in the box rather than squeezing its rows onto each other."""
    return widgets.Layout(
        display="grid",
        grid_template_columns="max-content minmax(220px, 1fr) 8em",
        grid_auto_rows="min-content",
        align_items="center",
        grid_gap="2px 12px",
        max_height=SCROLL_HEIGHT,
        overflow="auto",
        flex="0 0 auto",
    )


def _frame_html(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, float_format=lambda x: f"{x:,.2f}", border=0)


def _png(plan: Plan) -> bytes:
    buffer = io.BytesIO()
    plot_gantt(plan).savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    return buffer.getvalue()
