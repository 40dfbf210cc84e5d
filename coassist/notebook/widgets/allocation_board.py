"""The allocator as a board: plan table, Gantt chart, and sliders that re-solve as you move them.

    from coassist.notebook.widgets import AllocationBoard
    AllocationBoard("tasks.csv", "team.yaml")

Each change solves twice: the plan itself (whole assignments), and its LP relaxation for the
shadow prices, i.e. what one more hour of each worker would save. When no plan fits, the board
shows the allocator's why-not explanation and the smallest capacity additions that would fix it.
"""

from __future__ import annotations

import html
import io
from collections.abc import Sequence
from dataclasses import replace

import ipywidgets as widgets
import pandas as pd

from coassist.errors import InfeasiblePlan
from coassist.plan import (
    AllocateOptions,
    Explanation,
    Plan,
    Subtask,
    Worker,
    allocate,
    load_tasks,
    load_workers,
    plot_gantt,
)
from coassist.plan.io import TableSource


class AllocationBoard(widgets.VBox):
    """Sliders for each worker's hours (GPU-hours for AI workers) and cost; the plan follows them.

    `plan` is the current plan (None when infeasible), `explanation` the why-not (None when a plan
    exists). `max_hours` bounds the sliders.
    """

    def __init__(
        self,
        tasks: TableSource | Sequence[Subtask],
        workers: TableSource | Sequence[Worker],
        options: AllocateOptions | None = None,
        max_hours: float = 80.0,
    ) -> None:
        self.tasks = list(tasks) if _is_dataclass_list(tasks, Subtask) else load_tasks(tasks)  # type: ignore[arg-type]
        self.team = list(workers) if _is_dataclass_list(workers, Worker) else load_workers(workers)  # type: ignore[arg-type]
        self.options = options or AllocateOptions(time_limit=10.0)
        self.plan: Plan | None = None
        self.explanation: Explanation | None = None
        self.hours = {
            w.id: widgets.FloatSlider(
                value=w.capacity_hours, min=0.0, max=max(max_hours, w.capacity_hours), step=0.5,
                description=f"{w.id} {'GPU-h' if w.kind == 'ai' else 'h'}", continuous_update=False,
            )
            for w in self.team
        }  # fmt: skip
        self.costs = {
            w.id: widgets.BoundedFloatText(value=w.cost_per_hour, min=0.0, max=1e6, description="cost/h")
            for w in self.team
        }
        for control in [*self.hours.values(), *self.costs.values()]:
            control.observe(lambda _change: self.solve(), names="value")
        controls = widgets.VBox([widgets.HBox([self.hours[w.id], self.costs[w.id]]) for w in self.team])
        self.status = widgets.HTML()
        self.why_not = widgets.HTML()
        self.table = widgets.HTML()
        self.shadow_prices = widgets.HTML()
        self.gantt = widgets.Image(format="png")
        super().__init__([controls, self.status, self.why_not, self.gantt, self.table, self.shadow_prices])
        self.add_class("coassist-allocation-board")
        self.solve()

    def workers(self) -> list[Worker]:
        """The team as the controls set it now."""
        return [
            replace(w, capacity_hours=self.hours[w.id].value, cost_per_hour=self.costs[w.id].value)
            for w in self.team
        ]

    def solve(self) -> None:
        """Re-allocate with the current controls and redraw everything."""
        team = self.workers()
        try:
            plan = allocate(self.tasks, team, self.options)
        except InfeasiblePlan as error:
            self._show_infeasible(error)
            return
        relaxed = allocate(self.tasks, team, replace(self.options, relax=True))
        self.plan, self.explanation = plan, None
        self.status.value = (
            f"<b>cost {plan.cost:,.2f}</b> · makespan {plan.makespan:.2f} h · {plan.status} "
            f"(gap {100 * plan.gap:.2f}%) · critical path {html.escape(' → '.join(plan.critical_path))}"
        )
        self.why_not.value = ""
        self.table.value = _frame_html(
            plan.assignments[["subtask", "worker", "role", "start", "end", "hours", "cost"]]
        )
        prices = relaxed.shadow_prices
        self.shadow_prices.value = (
            "<b>Value of one more hour</b> (shadow prices of the LP relaxation)" + _frame_html(prices)
            if prices is not None
            else ""
        )
        self.gantt.value = _png(plan)

    def _show_infeasible(self, error: InfeasiblePlan) -> None:
        self.plan, self.explanation = None, error.explanation
        self.status.value = '<b style="color: var(--jp-error-color1)">No plan fits the team.</b>'
        details = _frame_html(error.explanation.additions) if error.explanation is not None else ""
        self.why_not.value = f"<pre>{html.escape(str(error), quote=False)}</pre>{details}"
        self.table.value = self.shadow_prices.value = ""
        self.gantt.value = b""


def _is_dataclass_list(value: object, kind: type) -> bool:
    return (
        isinstance(value, Sequence) and not isinstance(value, str) and all(isinstance(v, kind) for v in value)
    )


def _frame_html(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, float_format=lambda x: f"{x:,.2f}", border=0)


def _png(plan: Plan) -> bytes:
    buffer = io.BytesIO()
    plot_gantt(plan).savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    return buffer.getvalue()
