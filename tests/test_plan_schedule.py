"""List scheduling: precedence, review after draft, one thing at a time, critical path."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pandas as pd
import pytest

from coassist.errors import CyclicPlan
from coassist.plan import AllocateOptions, Subtask, allocate, generate_instance, plot_gantt, schedule


def work(*rows):
    return pd.DataFrame(rows, columns=["subtask", "worker", "role", "hours"])


def times(result):
    return {(r.subtask, r.role): (r.start, r.end) for r in result.pieces.itertuples()}


def test_chain_and_parallel_branches():
    tasks = [
        Subtask("a", "x", 2),
        Subtask("b", "x", 3, depends_on=("a",)),
        Subtask("c", "x", 1, depends_on=("a",)),
        Subtask("d", "x", 1, depends_on=("b", "c")),
    ]
    result = schedule(
        tasks,
        work(("a", "ann", "do", 2), ("b", "ann", "do", 3), ("c", "bob", "do", 1), ("d", "bob", "do", 1)),
    )
    assert times(result) == {
        ("a", "do"): (0, 2),
        ("b", "do"): (2, 5),
        ("c", "do"): (2, 3),
        ("d", "do"): (5, 6),
    }
    assert result.makespan == 6
    assert result.critical_path == ("a", "b", "d")
    assert result.critical_path_hours == 6


def test_ai_subtask_is_done_when_its_review_ends():
    tasks = [
        Subtask("draft", "x", 5, ai_hours=1, review_hours=1, p_pass=0.5),
        Subtask("next", "x", 1, depends_on=("draft",)),
    ]
    result = schedule(
        tasks, work(("draft", "gpu", "do", 1), ("draft", "ann", "review", 3.5), ("next", "gpu", "do", 1))
    )
    assert times(result) == {
        ("draft", "do"): (0, 1),
        ("draft", "review"): (1, 4.5),
        ("next", "do"): (4.5, 5.5),
    }
    assert result.critical_path_hours == 5.5


def test_one_thing_at_a_time_and_longest_chain_first():
    tasks = [
        Subtask("short", "x", 1),
        Subtask("long", "x", 1),
        Subtask("after", "x", 4, depends_on=("long",)),
    ]
    result = schedule(
        tasks, work(("short", "ann", "do", 1), ("long", "ann", "do", 1), ("after", "bob", "do", 4))
    )
    # both are ready at 0 on ann; the one heading the longer chain goes first
    assert times(result) == {("long", "do"): (0, 1), ("short", "do"): (1, 2), ("after", "do"): (1, 5)}


def test_cycle_is_named():
    tasks = [Subtask("a", "x", 1, depends_on=("b",)), Subtask("b", "x", 1, depends_on=("a",))]
    with pytest.raises(CyclicPlan, match="a -> b -> a|b -> a -> b"):
        schedule(tasks, work(("a", "ann", "do", 1), ("b", "ann", "do", 1)))


def test_plan_schedule_respects_precedence_and_never_overlaps():
    tasks, team = generate_instance(150, 12, seed=4, dependency_rate=0.5)
    plan = allocate(tasks, team, AllocateOptions(gap=0.02, time_limit=10))
    a = plan.assignments
    done = a.groupby("subtask")["end"].max()
    first = a.groupby("subtask")["start"].min()
    for t in tasks:
        for d in t.depends_on:
            assert first[t.id] >= done[d] - 1e-9
    for _sid, group in a.groupby("subtask"):
        drafts = group[group["role"] == "do"]
        for r in group[group["role"] == "review"].itertuples():
            assert r.start >= drafts["end"].max() - 1e-9
    for _, pieces in a.sort_values("start").groupby("worker"):
        assert (pieces["start"].to_numpy()[1:] >= pieces["end"].to_numpy()[:-1] - 1e-9).all()
    assert plan.makespan == pytest.approx(a["end"].max())
    assert plan.critical_path_hours <= plan.makespan + 1e-9
    assert all(t in done.index for t in plan.critical_path)


def test_relaxed_shares_are_scheduled_too():
    from coassist.plan import Worker

    plan = allocate(
        [Subtask("t1", "s", 10)],
        [Worker("alice", "human", ("s",), 6, 10), Worker("bob", "human", ("s",), 100, 20)],
        AllocateOptions(relax=True),
    )
    ends = dict(zip(plan.assignments["worker"], plan.assignments["end"], strict=False))
    assert ends == pytest.approx({"alice": 6.0, "bob": 4.0})
    assert plan.makespan == pytest.approx(6.0)


def test_gantt_draws_every_piece(tmp_path):
    tasks, team = generate_instance(30, 10, seed=1)
    plan = allocate(tasks, team, AllocateOptions(gap=0.05, time_limit=5))
    fig = plot_gantt(plan, tmp_path / "g.png")
    assert len(fig.axes[0].patches) == len(plan.assignments)
    assert (tmp_path / "g.png").stat().st_size > 5_000
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == [w.id for w in team]
