"""A Gantt chart of a plan: one row per worker, AI drafts and reviews told apart.

Built on `matplotlib.figure.Figure` rather than pyplot, so it needs no display and works
under the Agg backend (CI, the CLI, a server) as well as inline in a notebook.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.patches import Patch

from coassist.plan.model import Plan

_COLOURS = {("human", "do"): "#4c72b0", ("ai", "do"): "#dd8452", ("human", "review"): "#55a868"}


def plot_gantt(plan: Plan, path: str | Path | None = None, title: str | None = None) -> Figure:
    """Draw `plan` as a Gantt chart; subtasks on the critical path get a dark outline.

    Saves to `path` when given (format from its suffix) and returns the figure.

    >>> from coassist.plan import Subtask, Worker, allocate
    >>> plan = allocate([Subtask("a", "x", 2)], [Worker("ann", "human", ("x",), 8, 10)])
    >>> len(plot_gantt(plan).axes[0].patches)
    1
    """
    a = plan.assignments
    kinds = dict(zip(plan.utilisation["worker"], plan.utilisation["kind"], strict=False))
    workers = list(plan.utilisation["worker"])
    fig = Figure(figsize=(10, max(2.5, 0.35 * len(workers) + 1.2)))
    ax = fig.add_subplot()
    row = {w: k for k, w in enumerate(workers)}
    critical = set(plan.critical_path)
    for r in a.itertuples():
        on_path = r.subtask in critical
        ax.barh(
            row[r.worker],
            r.end - r.start,
            left=r.start,
            height=0.7,
            color=_COLOURS.get((kinds[r.worker], r.role), "#8172b3"),
            edgecolor="black" if on_path else "white",
            linewidth=1.5 if on_path else 0.5,
        )
        if len(a) <= 80 and r.end - r.start > 0.04 * max(plan.makespan, 1e-9):
            ax.text(
                r.start + (r.end - r.start) / 2,
                row[r.worker],
                r.subtask,
                ha="center",
                va="center",
                fontsize=7,
            )
    ax.set_yticks(range(len(workers)), workers)
    ax.invert_yaxis()
    ax.set_xlabel("hours from start")
    ax.axvline(plan.makespan, color="grey", linestyle="--", linewidth=1)
    ax.legend(
        handles=[
            Patch(color=_COLOURS["human", "do"], label="person does"),
            Patch(color=_COLOURS["ai", "do"], label="AI drafts"),
            Patch(color=_COLOURS["human", "review"], label="person reviews draft"),
            Patch(facecolor="white", edgecolor="black", label="critical path"),
        ],
        loc="lower right",
        fontsize=7,
    )
    ax.set_title(
        title
        or f"cost {plan.cost:,.0f}, makespan {plan.makespan:.1f} h "
        f"(critical path {plan.critical_path_hours:.1f} h)"
    )
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig
