"""The team assignment model: exact small optima, an independent solve, gaps, shadow prices."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from coassist.errors import InfeasiblePlan
from coassist.plan import AllocateOptions, Subtask, Worker, allocate, generate_instance
from coassist.plan.formulation import build
from coassist.plan.highs import solve_highs
from coassist.plan.repair import fractional_subtasks, repair

TASKS = [
    Subtask("a", "sql", human_hours=4, ai_hours=1, review_hours=1, p_pass=0.5),
    Subtask("b", "viz", human_hours=2),
]
TEAM = [
    Worker("ann", "human", ("sql",), capacity_hours=8, cost_per_hour=50),
    Worker("bob", "human", ("viz",), capacity_hours=2, cost_per_hour=30),
    Worker("gpu", "ai", ("*",), capacity_hours=8, cost_per_hour=2),
]


def rows(plan):
    return sorted(plan.assignments[["subtask", "worker", "role"]].itertuples(index=False, name=None))


def test_hand_computed_optimum_drafts_with_ai_and_counts_rework():
    plan = allocate(TASKS, TEAM)
    # a: GPU 1 h * 2 + ann reviews 1 h + (1 - 0.5) * 4 h rework = 3 h * 50; b: bob 2 h * 30
    assert plan.cost == pytest.approx(2 + 150 + 60)
    assert rows(plan) == [("a", "ann", "review"), ("a", "gpu", "do"), ("b", "bob", "do")]
    used = dict(zip(plan.utilisation["worker"], plan.utilisation["used_hours"], strict=False))
    assert used == pytest.approx({"ann": 3.0, "bob": 2.0, "gpu": 1.0})
    assert plan.status == "optimal" and plan.gap == pytest.approx(0.0, abs=1e-9)
    assert plan.makespan == pytest.approx(4.0)  # draft 0-1, review 1-4; b 0-2 in parallel


def test_router_supplies_p_pass_and_changes_the_choice():
    seen = []

    def router(subtasks):
        seen.append([s.id for s in subtasks])
        return [0.0, 1.0]

    plan = allocate(TASKS, TEAM, p_pass=router)
    assert seen == [["a", "b"]]
    # a draft that always fails costs ann 1 + 4 h: doing it herself (4 h) is cheaper
    assert rows(plan) == [("a", "ann", "do"), ("b", "bob", "do")]
    assert plan.cost == pytest.approx(200 + 60)


def test_review_needs_an_eligible_person():
    team = [
        Worker("bob", "human", ("sql",), 8, 30),
        Worker("eve", "human", ("viz",), 8, 10),
        Worker("gpu", "ai", ("*",), 8, 2),
    ]
    plan = allocate(TASKS, team)
    reviewers = plan.assignments.loc[plan.assignments["role"] == "review", "worker"].tolist()
    assert reviewers == ["bob"]  # eve is cheaper but cannot review sql


def brute_force(tasks, workers):
    """Cheapest plan by enumeration: each subtask to a person, or to an AI plus a reviewer."""
    humans = [w for w in workers if w.kind == "human"]
    ais = [w for w in workers if w.kind == "ai"]
    options = []
    for t in tasks:
        opts = [((h.id, t.human_hours),) for h in humans if t.skill in h.skills]
        if t.ai_hours is not None:
            rework = t.review_hours + (1 - t.p_pass) * t.human_hours
            opts += [
                ((a.id, t.ai_hours), (h.id, rework))
                for a in ais
                for h in humans
                if t.skill in h.skills and ("*" in a.skills or t.skill in a.skills)
            ]
        options.append(opts)
    rate = {w.id: w.cost_per_hour for w in workers}
    cap = {w.id: w.capacity_hours for w in workers}
    best = np.inf
    for choice in itertools.product(*options):
        load: dict[str, float] = {}
        for parts in choice:
            for w, hours in parts:
                load[w] = load.get(w, 0.0) + hours
        if all(load[w] <= cap[w] + 1e-9 for w in load):
            best = min(best, sum(rate[w] * h for parts in choice for w, h in parts))
    return best


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("solver", ["highs", "cbc"])
def test_optimum_matches_enumeration(seed, solver):
    rng = np.random.default_rng(seed)
    tasks = [
        Subtask(
            f"t{i}",
            str(rng.choice(["s", "v"])),
            float(rng.integers(1, 6)),
            ai_hours=float(rng.integers(1, 3)) if rng.random() < 0.7 else None,
            review_hours=float(rng.integers(0, 2)),
            p_pass=float(rng.choice([0.5, 0.8, 1.0])),
        )
        for i in range(6)
    ]
    team = [
        Worker("p0", "human", ("s", "v"), 9, 40),
        Worker("p1", "human", ("s",), 7, 25),
        Worker("p2", "human", ("v",), 6, 30),
        Worker("gpu", "ai", ("*",), 3, 5),
    ]
    expected = brute_force(tasks, team)
    plan = allocate(tasks, team, AllocateOptions(gap=0, solver=solver, time_limit=20))
    assert plan.cost == pytest.approx(expected)
    assert plan.status == "optimal"


def test_relax_reports_shares_and_shadow_prices():
    tasks = [Subtask("t1", "s", human_hours=10)]
    team = [Worker("alice", "human", ("s",), 6, 10), Worker("bob", "human", ("s",), 100, 20)]
    for solver in ("highs", "cbc"):
        plan = allocate(tasks, team, AllocateOptions(relax=True, solver=solver))
        assert plan.status == "relaxed"
        shares = dict(zip(plan.assignments["worker"], plan.assignments["share"], strict=False))
        assert shares == pytest.approx({"alice": 0.6, "bob": 0.4})
        assert plan.cost == pytest.approx(60 + 80)
        # one more hour of alice moves an hour from bob (20) to her (10): saves 10
        prices = dict(zip(plan.shadow_prices["worker"], plan.shadow_prices["value_per_hour"], strict=False))
        assert prices == pytest.approx({"alice": 10.0, "bob": 0.0})
    # the integral plan cannot split: bob does it all, and the bound is the MILP's own
    plan = allocate(tasks, team)
    assert plan.cost == pytest.approx(200) and plan.shadow_prices is None
    assert plan.bound == pytest.approx(200) and plan.gap == pytest.approx(0)


@pytest.mark.parametrize("solver", ["highs", "cbc"])
def test_time_limited_solve_reports_its_gap_honestly(solver):
    tasks, team = generate_instance(120, 20, seed=3)
    plan = allocate(tasks, team, AllocateOptions(method="exact", solver=solver, time_limit=1.5))
    assert plan.bound <= plan.cost
    assert plan.gap == pytest.approx((plan.cost - plan.bound) / plan.cost)
    # PuLP says "Optimal" after CBC's time limit; the plan must not
    assert plan.status == ("optimal" if plan.gap <= 1e-4 else "feasible")
    assert plan.gap > 1e-4


def test_repair_on_a_medium_instance_is_close_to_the_exact_milp():
    tasks, team = generate_instance(300, 20, seed=5)
    form = build(tasks, team)
    lp = solve_highs(form, integer=False, time_limit=30)
    # a vertex of the LP leaves few subtasks fractional: about one per tight worker
    assert 0 < fractional_subtasks(form, lp.values).sum() <= 2 * len(team)
    import time

    repaired = repair(form, lp, deadline=time.perf_counter() + 20)
    exact = solve_highs(form, integer=True, time_limit=20, gap=1e-3)
    assert lp.bound <= exact.objective + 1e-6
    assert exact.objective <= repaired.objective + 1e-6 or exact.status == "feasible"
    assert (repaired.objective - lp.bound) / repaired.objective < 0.02
    assert (repaired.objective - exact.objective) / exact.objective < 0.02
    # the repaired plan is a real plan: each subtask once, within every capacity
    x = repaired.values
    np.testing.assert_allclose(np.bincount(form.col_task[~form.col_review], x[~form.col_review]), 1)
    load = np.bincount(form.col_worker, x * form.col_hours, minlength=len(team))
    assert (load <= form.capacity + 1e-6).all()


def test_auto_mode_on_a_medium_instance_reaches_a_small_proven_gap():
    tasks, team = generate_instance(400, 20, seed=2)
    plan = allocate(tasks, team, AllocateOptions(gap=0.01, time_limit=15))
    assert plan.gap <= 0.01 and plan.status == "optimal"
    assert plan.method.startswith("lp+repair") or plan.method == "highs-milp"
    assert len(plan.assignments.query("role == 'do'")) == 400


def test_infeasible_allocation_raises_with_explanation():
    team = [Worker("ann", "human", ("sql",), 2, 50), Worker("gpu", "ai", ("*",), 8, 2)]
    with pytest.raises(InfeasiblePlan) as err:
        allocate(TASKS, team)
    why = err.value.explanation
    assert why.unassignable["subtask"].tolist() == ["b"]
    assert "no person has skill 'viz'" in str(err.value)
    assert "Infeasible" not in str(err.value)
