"""Why-not: the explanation names the short skill, the hours, and a fix that works."""

from __future__ import annotations

import pytest

from coassist.errors import InfeasiblePlan
from coassist.plan import AllocateOptions, Subtask, Worker, allocate, explain_infeasibility

TASKS = [
    Subtask("a", "sql", 10, ai_hours=2, review_hours=1, p_pass=0.5),
    Subtask("c", "sql", 8, ai_hours=1, review_hours=1, p_pass=0.9),
    Subtask("d", "viz", 3),
]
TEAM = [
    Worker("ann", "human", ("sql",), 3, 50),
    Worker("eve", "human", ("viz",), 5, 40),
    Worker("gpu", "ai", ("*",), 1, 3),
]


def test_short_skill_gpu_hours_and_smallest_additions():
    why = explain_infeasibility(TASKS, TEAM)
    assert why.unassignable.empty
    sql = why.skills.set_index("skill").loc["sql"]
    # people's least share: reviews of a (1 + 0.5 * 10) and c (1 + 0.1 * 8)
    assert (sql.needed_hours, sql.available_hours, sql.short_hours) == pytest.approx((7.8, 3, 4.8))
    assert why.skills.set_index("skill").loc["viz"].short_hours == 0
    assert why.gpu_hours_short == pytest.approx(2.0)
    assert dict(zip(why.additions["worker"], why.additions["add_hours"], strict=False)) == pytest.approx(
        {"ann": 4.8, "gpu": 2.0}
    )
    assert why.additions_minimal
    assert (
        "skill 'sql': the subtasks need at least 7.8 h of people's time, people with the skill have 3 h (4.8 h short)"
        in why.message
    )
    assert "GPUs: 2 GPU-hours short" in why.message


def test_the_suggested_additions_make_a_plan_exist():
    why = explain_infeasibility(TASKS, TEAM)
    extra = dict(zip(why.additions["worker"], why.additions["add_hours"], strict=False))
    bigger = [
        Worker(w.id, w.kind, w.skills, w.capacity_hours + extra.get(w.id, 0), w.cost_per_hour) for w in TEAM
    ]
    plan = allocate(TASKS, bigger, AllocateOptions(time_limit=10))
    assert len(plan.assignments.query("role == 'do'")) == 3


def test_allocate_raises_with_the_explanation_attached():
    with pytest.raises(InfeasiblePlan) as err:
        allocate(TASKS, TEAM)
    assert err.value.explanation.gpu_hours_short == pytest.approx(2.0)
    assert str(err.value) == err.value.explanation.message


def test_unassignable_subtasks_are_named_with_the_reason():
    tasks = [
        Subtask("x", "legal", 2),
        Subtask("y", "legal", 2, ai_hours=1, review_hours=1, p_pass=0.9),
        Subtask("z", "sql", 1),
    ]
    why = explain_infeasibility(tasks, TEAM)
    assert why.unassignable.to_dict("records") == [
        {"subtask": "x", "skill": "legal", "reason": "no person has skill 'legal' and the AI cannot do it"},
        {
            "subtask": "y",
            "skill": "legal",
            "reason": "no person has skill 'legal', so nobody can do it or review the AI's draft",
        },
    ]
    assert why.additions.empty
    assert "Add a person (or an AI worker) with the missing skill(s)" in why.message
