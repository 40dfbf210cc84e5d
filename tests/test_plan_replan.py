"""Re-planning: committed work stays put, the rest is re-solved to the same optimum, the diff says what moved."""

from __future__ import annotations

import dataclasses
import json

import pytest

from coassist.errors import InvalidOption
from coassist.plan import AllocateOptions, Subtask, Worker, allocate, generate_instance, replan

EXACT = AllocateOptions(method="exact", gap=0, time_limit=20)

# a -> b -> c -> e is a chain; d stands alone. Everything sql fits ann (14 of 16 h), the cheapest.
CHAIN = [
    Subtask("a", "sql", 4),
    Subtask("b", "sql", 3, depends_on=("a",)),
    Subtask("c", "sql", 2, depends_on=("b",)),
    Subtask("d", "sql", 5),
    Subtask("e", "viz", 2, depends_on=("c",)),
]
TEAM = [
    Worker("ann", "human", ("sql",), 16, 30),
    Worker("bob", "human", ("sql",), 16, 50),
    Worker("eve", "human", ("viz",), 8, 40),
]


def with_capacity(team, **capacity):
    return [dataclasses.replace(w, capacity_hours=capacity.get(w.id, w.capacity_hours)) for w in team]


def pieces(plan, subtasks):
    rows = plan.assignments[plan.assignments["subtask"].isin(subtasks)]
    return sorted(rows[["subtask", "worker", "role", "start", "end"]].itertuples(index=False, name=None))


def test_capacity_drop_moves_not_started_work_and_keeps_committed_work():
    before = allocate(CHAIN, TEAM, EXACT)
    # ann a 0-4, b 4-7 (longer chain than d), d 7-12, c 12-14; eve e 14-16
    assert before.cost == pytest.approx(14 * 30 + 2 * 40) and before.makespan == pytest.approx(16)
    result = replan(CHAIN, with_capacity(TEAM, ann=8), before, {"a": "done", "b": "in_progress"}, options=EXACT)
    # ann has 8 - 7 committed = 1 h left: c (2 h) and d (5 h) go to bob
    assert [str(m) for m in result.diff.moves] == ["c: ann -> bob", "d: ann -> bob"]
    assert [(c.worker, c.gained, c.lost) for c in result.diff.workers] == [
        ("ann", (), ("c", "d")),
        ("bob", ("c", "d"), ()),
    ]
    plan = result.plan
    assert pieces(plan, ["a", "b"]) == pieces(before, ["a", "b"])  # committed: same worker, same times
    # bob does d at once; c waits for b (committed, ends at 7); e for c
    assert pieces(plan, ["c", "d", "e"]) == [
        ("c", "bob", "do", 7.0, 9.0),
        ("d", "bob", "do", 0.0, 5.0),
        ("e", "eve", "do", 9.0, 11.0),
    ]
    assert plan.cost == pytest.approx(7 * 30 + 7 * 50 + 2 * 40) and plan.status == "optimal"
    diff = result.diff
    assert (diff.cost_before, diff.cost_after) == pytest.approx((500, 640))
    assert (diff.makespan_before, diff.makespan_after) == pytest.approx((16, 11))
    assert (diff.replanned, diff.held, result.explanation) == (3, 2, None)
    assert "c: ann -> bob" in diff.summary() and "Cost 500.00 -> 640.00 (+28.00%)" in diff.summary()
    assert json.loads(json.dumps(diff.as_dict()))["workers"] == {
        "ann": {"gained": [], "lost": ["c", "d"]},
        "bob": {"gained": ["c", "d"], "lost": []},
    }


AI_TASKS = [
    Subtask("r1", "sql", 4, ai_hours=1, review_hours=1, p_pass=0.5),
    Subtask("r2", "sql", 4, ai_hours=1, review_hours=1, p_pass=0.5),
    Subtask("x", "sql", 2),
]
AI_TEAM = [
    Worker("ann", "human", ("sql",), 10, 30),
    Worker("bob", "human", ("sql",), 10, 60),
    Worker("gpu", "ai", ("*",), 2, 2),
]


def test_person_marked_away_keeps_in_progress_review_and_loses_the_rest():
    before = allocate(AI_TASKS, AI_TEAM, EXACT)
    # drafts are cheap: gpu drafts r1 and r2, ann reviews both (1 + 0.5 * 4 h each) and does x
    assert [row[:3] for row in pieces(before, ["r1"])] == [("r1", "ann", "review"), ("r1", "gpu", "do")]
    result = replan(AI_TASKS, with_capacity(AI_TEAM, ann=0), before, {"r1": "in_progress"}, options=EXACT)
    assert pieces(result.plan, ["r1"]) == pieces(before, ["r1"])
    # gpu has 1 h left for r2's draft; bob reviews it (3 h * 60 + 2 < 4 h * 60) and does x
    assert [str(m) for m in result.diff.moves] == ["r2: gpu (review ann) -> gpu (review bob)", "x: ann -> bob"]
    assert result.plan.cost == pytest.approx((2 + 90) + (2 + 180) + 120)
    used = dict(zip(result.plan.utilisation["worker"], result.plan.utilisation["used_hours"], strict=True))
    assert used == pytest.approx({"ann": 3.0, "bob": 5.0, "gpu": 2.0})  # ann's 3 h: the in-progress review


def test_hours_spent_replaces_the_planned_hours():
    before = allocate(CHAIN, TEAM, EXACT)
    # ann really spent 15 h on a and b: 1 h left, so c and d go to bob although she has 16
    result = replan(CHAIN, TEAM, before, {"a": "done", "b": "done"}, hours_spent={"ann": 15}, options=EXACT)
    assert [str(m) for m in result.diff.moves] == ["c: ann -> bob", "d: ann -> bob"]


def test_added_subtask_is_assigned_and_nothing_else_moves():
    before = allocate(CHAIN, TEAM, EXACT)
    grown = [*CHAIN, Subtask("f", "viz", 1, depends_on=("d",))]
    result = replan(grown, TEAM, before, {"a": "done"}, options=EXACT)
    assert [str(m) for m in result.diff.moves] == ["f: new -> eve"]
    assert [(c.worker, c.gained, c.lost) for c in result.diff.workers] == [("eve", ("f",), ())]
    assert result.plan.cost == pytest.approx(before.cost + 40)
    f_start = pieces(result.plan, ["f"])[0][3]
    d_end = pieces(result.plan, ["d"])[0][4]
    assert f_start >= d_end


def test_infeasible_remainder_explains_the_short_skill_and_keeps_the_plan():
    before = allocate(CHAIN, TEAM, EXACT)
    progress = {"a": "done", "b": "in_progress"}
    # c and d need 7 h of sql; ann has 8 - 7 = 1 h left and bob 3 h
    result = replan(CHAIN, with_capacity(TEAM, ann=8, bob=3), before, progress, options=EXACT)
    assert result.plan is None
    why = result.explanation
    sql = why.skills.set_index("skill").loc["sql"]
    # only the not-started work counts: a and b are committed and out of the question
    assert (sql.needed_hours, sql.available_hours, sql.short_hours) == pytest.approx((7, 4, 3))
    assert why.additions["add_hours"].sum() == pytest.approx(3)
    assert set(why.additions["worker"]) <= {"ann", "bob"}
    diff = result.diff
    assert diff.moves == () and diff.workers == () and diff.cost_after is None and diff.makespan_after is None
    assert "skill 'sql'" in diff.why_not and "3 h short" in diff.why_not
    assert "the current plan stands" in diff.summary() and "3 h short" in diff.summary()
    assert json.loads(json.dumps(diff.as_dict()))["why_not"] == why.message


def test_warm_start_reaches_the_cold_optimum():
    tasks, team = generate_instance(60, 8, seed=4)
    before = allocate(tasks, team, EXACT)
    order = before.assignments.sort_values("start")["subtask"].drop_duplicates().tolist()
    progress = {sid: "done" for sid in order[:10]} | {sid: "in_progress" for sid in order[10:13]}
    busiest = before.utilisation.sort_values("used_hours")["worker"].iloc[-1]
    cut = with_capacity(team, **{busiest: 0.6 * next(w.capacity_hours for w in team if w.id == busiest)})
    warm = replan(tasks, cut, before, progress, options=EXACT)
    assert warm.plan is not None and warm.plan.status == "optimal"
    assert warm.diff.moves  # the busiest worker had to give work away
    # the same free problem solved cold: not-started subtasks, capacity less the committed hours
    committed = before.assignments[before.assignments["subtask"].isin(progress)]
    spent = committed.groupby("worker")["hours"].sum()
    left = [dataclasses.replace(w, capacity_hours=max(w.capacity_hours - spent.get(w.id, 0.0), 0.0)) for w in cut]
    free = [dataclasses.replace(s, depends_on=()) for s in tasks if s.id not in progress]
    cold = allocate(free, left, EXACT)
    assert warm.plan.cost == pytest.approx(cold.cost + committed["cost"].sum(), rel=1e-9)
    auto = replan(tasks, cut, before, progress, options=AllocateOptions(gap=1e-3, time_limit=20))
    assert auto.plan.cost <= warm.plan.cost * (1 + 1e-3) + 1e-6
    assert auto.plan.method.startswith("replan:warm")


def test_nothing_left_to_plan_gives_an_empty_diff():
    before = allocate(CHAIN, TEAM, EXACT)
    result = replan(CHAIN, TEAM, before, dict.fromkeys([s.id for s in CHAIN], "done"))
    diff = result.diff
    assert diff.moves == () and diff.workers == () and (diff.replanned, diff.held) == (0, 5)
    assert diff.cost_after == pytest.approx(diff.cost_before)
    assert diff.makespan_after == pytest.approx(diff.makespan_before)
    assert pieces(result.plan, [s.id for s in CHAIN]) == pieces(before, [s.id for s in CHAIN])
    assert "nothing moved" in diff.summary()


@pytest.mark.parametrize(
    ("progress", "hours_spent", "team", "names"),
    [
        ({"zz": "done"}, None, TEAM, ("progress", "'zz'")),
        ({"a": "started"}, None, TEAM, ("progress", "'started'")),
        ({"a": "done"}, {"ann": -1.0}, TEAM, ("hours_spent", "'ann'", "-1.0")),
        ({"a": "done"}, {"zed": 2.0}, TEAM, ("hours_spent", "'zed'")),
        ({"a": "in_progress"}, None, TEAM[1:], ("progress", "'a'", "'ann'", "not_started")),
    ],
)
def test_bad_input_names_what_to_fix(progress, hours_spent, team, names):
    before = allocate(CHAIN, TEAM, EXACT)
    with pytest.raises(InvalidOption) as err:
        replan(CHAIN, team, before, progress, hours_spent=hours_spent)
    for name in names:
        assert name in str(err.value)


def test_a_subtask_added_after_the_plan_cannot_be_marked_done():
    before = allocate(CHAIN, TEAM, EXACT)
    grown = [*CHAIN, Subtask("f", "viz", 1)]
    with pytest.raises(InvalidOption, match="'f'.*does not assign it"):
        replan(grown, TEAM, before, {"f": "done"})


def test_subtask_taken_out_of_the_table_is_reported_removed():
    before = allocate(CHAIN, TEAM, EXACT)
    shrunk = [s for s in CHAIN if s.id != "d"]
    result = replan(shrunk, TEAM, before, {"a": "done"}, options=EXACT)
    assert [str(m) for m in result.diff.moves] == ["d: ann -> removed"]
    assert result.plan.cost == pytest.approx(before.cost - 5 * 30)
    assert "d" not in set(result.plan.assignments["subtask"])
