"""A plain-text summary of a plan, for the CLI and for `print` in a notebook."""

from __future__ import annotations

from coassist.plan.model import Plan


def summary(plan: Plan) -> str:
    """Cost, proven gap, makespan against its critical-path bound, and each worker's load.

    >>> from coassist.plan import Subtask, Worker, allocate
    >>> print(summary(allocate([Subtask("a", "x", 2)], [Worker("ann", "human", ("x",), 8, 10)])))
    cost 20.00 (optimal, lp+repair; gap 0.00% to the bound 20.00)
    makespan 2.00 h (critical path 2.00 h: a)
    worker  kind   used h  capacity h  utilisation
    ann     human    2.00        8.00          25%
    """
    critical = " -> ".join(plan.critical_path[:8]) + (" -> ..." if len(plan.critical_path) > 8 else "")
    lines = [
        f"cost {plan.cost:,.2f} ({plan.status}, {plan.method}; gap {100 * plan.gap:.2f}% to the bound {plan.bound:,.2f})",
        f"makespan {plan.makespan:.2f} h (critical path {plan.critical_path_hours:.2f} h: {critical})",
    ]
    width = max(6, *(len(w) for w in plan.utilisation["worker"]))
    lines.append(f"{'worker':<{width}}  kind   used h  capacity h  utilisation")
    for r in plan.utilisation.itertuples():
        util = "-" if r.utilisation != r.utilisation else f"{100 * r.utilisation:.0f}%"
        lines.append(
            f"{r.worker:<{width}}  {r.kind:<5}{r.used_hours:8.2f}  {r.capacity_hours:10.2f}  {util:>11}"
        )
    if plan.shadow_prices is not None:
        lines.append("value of one more hour (shadow prices):")
        for r in plan.shadow_prices.itertuples():
            if r.value_per_hour > 0:
                lines.append(
                    f"  {r.worker:<{width}}  {r.value_per_hour:,.2f} per {'GPU-' if r.kind == 'ai' else ''}hour"
                )
    return "\n".join(lines)
