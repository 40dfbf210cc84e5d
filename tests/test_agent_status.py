"""The team's status: the forecast (pure, on hand-made plan states), `team_status` on a real store
(SQLite and PostgreSQL), `coassist status`, ``GET /coassist/team`` and the notebook widget."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jsonschema
import pandas as pd
import pytest

from coassist.agent.forecast import forecast
from coassist.agent.replanning import replan_stored
from coassist.agent.state import AgentView, PlanState, SubtaskView
from coassist.agent.status import SUBTASK_STATES, PlanChange, status_of, team_status
from coassist.cli import main
from coassist.errors import InvalidOption, NotInStore
from coassist.notebook.widgets.team_status import TeamStatusWidget
from coassist.plan.replanning import Move, PlanDiff, WorkerChange
from coassist.review import (
    DraftingConfig,
    ReviewStore,
    decide,
    draft_ai_subtasks,
    import_plan,
    open_store,
    review_queue,
)
from coassist.server.contract import schema_for
from tests.test_review_support import ScriptedModel, small_plan
from tests.test_server_handlers import expect_error, fetch_json

pytest_plugins = ["pytest_jupyter.jupyter_server"]

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def view(
    key: str,
    start: float,
    end: float,
    state: str = "waiting",
    deps: tuple[str, ...] = (),
    actual: tuple[float | None, float | None] = (None, None),
    doer: str = "ana",
) -> SubtaskView:
    return SubtaskView(
        key=key,
        title=f"Task {key}",
        skill="sql",
        state=state,  # type: ignore[arg-type]
        doer=doer,
        reviewer=None,
        planned_start=start,
        planned_end=end,
        actual_start=None if actual[0] is None else at(actual[0]),
        actual_end=None if actual[1] is None else at(actual[1]),
        started=False,
        depends_on=deps,
    )


def plan_state(
    views: list[SubtaskView],
    now: float = 0.0,
    agents: tuple[AgentView, ...] = (),
    ai: frozenset[str] = frozenset(),
    pending: dict[str, int] | None = None,
) -> PlanState:
    return PlanState(
        plan_id=4,
        project="sales",
        name="week 1",
        created_at=T0,
        version=1,
        replanned_through=0,
        subtasks={v.key: v for v in views},
        tasks=[],
        team=None,
        ai_workers=ai,
        agents=agents,
        pending_reviews=pending or {},
        read_at=at(now),
        pieces=pd.DataFrame(columns=["subtask", "worker", "role", "start", "end"]),
    )


def agent(worker: str, liveness: str, heartbeat_hours_ago: float, model: str = "smollm2") -> AgentView:
    """An agent as seen at hour 1 (`team_state`'s now)."""
    beat = at(1.0 - heartbeat_hours_ago)
    return AgentView(f"host:1:{worker}", worker, model, liveness, beat, beat, 3)  # type: ignore[arg-type]


# --- the forecast: planned vs actual ---------------------------------------------------------------


def test_a_plan_on_schedule_finishes_as_planned() -> None:
    state = plan_state([view("a", 0, 2), view("c", 0, 1), view("b", 2, 5, deps=("a",))])
    f = forecast(state)
    assert (f.finish_hour, f.planned_makespan, f.behind_hours) == (5.0, 5.0, 0.0)
    assert f.finish_at == at(5)
    assert f.critical_path == ("a", "b")
    assert {k: s.slack_hours for k, s in f.subtasks.items()} == {"a": 0.0, "c": 4.0, "b": 0.0}


def test_late_done_work_pushes_its_dependants_and_eats_the_others_slack() -> None:
    state = plan_state(
        [
            view("a", 0, 2, "done", actual=(0.0, 3.0)),
            view("c", 0, 1, "ready"),
            view("b", 2, 5, deps=("a",)),
        ],
        now=3.0,
    )
    f = forecast(state)
    assert (f.subtasks["b"].expected_start, f.subtasks["b"].expected_end) == pytest.approx((3.0, 6.0))
    assert f.subtasks["c"].expected_end == pytest.approx(4.0)  # not started, so not before now
    assert (f.finish_hour, f.behind_hours) == pytest.approx((6.0, 1.0))
    assert f.critical_path == ("a", "b")
    assert f.subtasks["a"].slack_hours is None  # done work has no slack
    assert f.subtasks["c"].slack_hours == pytest.approx(2.0)


def test_work_not_started_starts_no_earlier_than_now() -> None:
    state = plan_state([view("a", 0, 2, "ready"), view("b", 2, 5, deps=("a",))], now=4.0)
    f = forecast(state)
    assert (f.subtasks["a"].expected_start, f.subtasks["b"].expected_end) == pytest.approx((4.0, 9.0))
    assert f.behind_hours == pytest.approx(4.0)


@pytest.mark.parametrize("now,end", [(2.0, 3.0), (5.0, 5.0)])
def test_work_in_progress_runs_its_length_from_its_actual_start_and_not_past_now(
    now: float, end: float
) -> None:
    state = plan_state([view("a", 0, 2, "in_review", actual=(1.0, None))], now=now)
    f = forecast(state)
    assert (f.subtasks["a"].expected_start, f.subtasks["a"].expected_end) == pytest.approx((1.0, end))


def test_slack_is_the_backward_pass_from_the_finish() -> None:
    """a -> (b 3 h | c 1 h) -> d: c could end 2 h later without moving the finish."""
    state = plan_state(
        [
            view("a", 0, 1),
            view("b", 1, 4, deps=("a",)),
            view("c", 1, 2, deps=("a",)),
            view("d", 4, 5, deps=("b", "c")),
        ]
    )
    f = forecast(state)
    assert {k: s.slack_hours for k, s in f.subtasks.items()} == pytest.approx(
        {"a": 0, "b": 0, "c": 2, "d": 0}
    )
    assert f.critical_path == ("a", "b", "d")


def test_dependency_order_wins_over_planned_order_and_outside_dependencies_are_ignored() -> None:
    # b is listed first (a stale planned start) and also waits for x, which is not in this plan.
    state = plan_state([view("b", 0, 1, deps=("a", "x")), view("a", 0, 2)])
    f = forecast(state)
    assert list(f.subtasks) == ["a", "b"]
    assert f.subtasks["b"].expected_start == 2.0 and f.critical_path == ("a", "b")


def test_done_work_without_recorded_times_ends_by_now_at_the_latest() -> None:
    state = plan_state([view("a", 0, 4, "done"), view("b", 4, 5, deps=("a",))], now=1.0)
    f = forecast(state)
    assert (f.subtasks["a"].expected_end, f.subtasks["b"].expected_start) == pytest.approx((1.0, 4.0))


def test_an_empty_plan_finishes_at_hour_zero() -> None:
    f = forecast(plan_state([]))
    assert (f.finish_hour, f.critical_path, f.subtasks) == (0.0, (), {})


# --- the status: counts, warnings, text, JSON ---------------------------------------------------------


DIFF = PlanDiff(
    moves=(Move("b", "gpu", "bo"), Move("d", "gpu", "gpu", "ana", "bo")),
    workers=(WorkerChange("bo", ("b", "d"), ()), WorkerChange("gpu", (), ("b",))),
    cost_before=120.0,
    cost_after=150.0,
    makespan_before=6.3,
    makespan_after=7.0,
    replanned=3,
    held=2,
)
INFEASIBLE = PlanDiff(
    (), (), 120.0, None, 6.3, None, replanned=3, held=2, why_not="- bo has 0 h left\n- nobody else can"
)


def team_state(agents: tuple[AgentView, ...] = (), now: float = 1.0) -> PlanState:
    return plan_state(
        [
            view("a", 0, 0.1, "done", actual=(0.0, 0.2), doer="gpu"),
            view("e", 0.1, 0.2, "ready", doer="gpu"),
            view("b", 0.6, 0.7, "in_review", deps=("a",), actual=(0.5, None), doer="gpu"),
            view("c", 0.6, 5.6, "with_person", doer="ana"),
        ],
        now=now,
        agents=agents,
        ai=frozenset({"gpu"}),
        pending={"bo": 1},
    )


def test_counts_name_every_state_with_zeros() -> None:
    status = status_of(team_state(), None)
    assert list(status.counts) == list(SUBTASK_STATES)
    assert status.counts == {
        "waiting": 0, "ready": 1, "drafting": 0, "in_review": 1, "rework": 0, "with_person": 1, "done": 1,
    }  # fmt: skip
    assert status.total == 4 and status.review_queue == {"bo": 1}


def test_ready_ai_work_without_a_live_agent_is_a_warning() -> None:
    alone = status_of(team_state(), None).warnings
    assert len(alone) == 1 and alone[0].startswith("gpu has 1 subtask(s) ready to draft and no live agent")
    assert status_of(team_state((agent("gpu", "live", 0.001),)), None).warnings == ()
    stopped = status_of(team_state((agent("gpu", "stopped", 0.5),)), None).warnings
    assert [w.split(":")[0] for w in stopped] == ["gpu has 1 subtask(s) ready to draft and no live agent"]


def test_a_lost_agent_is_a_warning_with_its_heartbeat_age() -> None:
    status = status_of(team_state((agent("gpu", "live", 0.001), agent("gpu", "lost", 0.25))), None)
    assert status.warnings == (
        "agent host:1:gpu (gpu) is lost: no heartbeat for 15 min; "
        "another agent takes over its claims when their lease runs out",
    )
    assert [round(a.heartbeat_seconds) for a in status.agents] == [4, 900]


def test_render_is_plain_text_without_control_characters() -> None:
    hostile = agent("gpu", "live", 0.0, model="evil\x1b[2J\x1b]0;owned\x07\rmodel")
    change = PlanChange(2, at(0.5), "agent\x1b[31m", "draft.rejected", DIFF)
    text = status_of(team_state((hostile,)), change).render()
    assert not any(ch in text for ch in "\x1b\x07\r")
    assert "evil [2J ]0;owned  model" in text
    lines = text.splitlines()
    assert lines[0] == "sales / week 1 (plan 4, version 1)"
    assert lines[1] == (
        "Subtasks: 4 — waiting 0, ready 1, drafting 0, in_review 1, rework 0, with_person 1, done 1"
    )
    assert "Review queue: bo 1" in lines
    # c, a person's 5 h planned from hour 0.6, has not started by hour 1.
    assert "Forecast: finish at hour 6.0 (2026-03-02 15:00 UTC); planned 5.6 h: 0.4 h behind" in lines
    assert "Critical path: c" in lines and "Least slack: c 0.0 h (ana), e 4.9 h (gpu), b 5.0 h (gpu)" in lines
    assert lines[-1].startswith(
        "Latest re-plan: version 2, 2026-03-02 09:30 UTC, by agent [31m (draft.rejected): Re-planned 3"
    )


@pytest.mark.parametrize("change", [None, DIFF, INFEASIBLE], ids=["never-replanned", "replanned", "why-not"])
def test_as_dict_follows_the_rest_contract(change: PlanDiff | None) -> None:
    latest = None if change is None else PlanChange(2, at(0.5), "agent", "draft.rejected", change)
    body = status_of(team_state((agent("gpu", "lost", 0.3),)), latest).as_dict()
    jsonschema.Draft202012Validator(schema_for("TeamStatus")).validate(body)
    assert json.loads(json.dumps(body)) == body
    assert body["counts"]["total"] == 4
    assert [s["subtask"] for s in body["forecast"]["critical_path"]] == ["c"]
    assert body["forecast"]["least_slack"][0]["subtask"] == "c"
    if change is INFEASIBLE:
        assert body["latest_change"]["why_not"] == "- bo has 0 h left\n- nobody else can"
        assert "no plan fits, so the current plan stands" in body["latest_change"]["summary"]


@pytest.mark.parametrize("diff", [DIFF, INFEASIBLE], ids=["replanned", "why-not"])
def test_a_stored_diff_reads_back_as_the_plan_diff_it_was(diff: PlanDiff) -> None:
    assert PlanDiff.from_dict(json.loads(json.dumps(diff.as_dict()))) == diff


# --- team_status on a real store --------------------------------------------------------------------


def team_plan(reviewer: str = "bo") -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """small_plan with the full worker table an agent needs to re-plan, `reviewer` for bo."""
    subtasks, _workers, plan = small_plan()
    workers = pd.DataFrame(
        {
            "id": ["ana", reviewer, "gpu"],
            "kind": ["human", "human", "ai"],
            "skills": ["*", "*", "sql;python;writing"],
            "capacity_hours": [40.0, 40.0, 8.0],
            "cost_per_hour": [50.0, 40.0, 1.0],
        }
    )
    plan["worker"] = plan["worker"].replace({"bo": reviewer})
    return subtasks, workers, plan


def seeded(store: ReviewStore, reviewer: str = "bo") -> int:
    plan_id = import_plan(store, *team_plan(reviewer), project="sales", name="week 1", actor="lead")
    draft_ai_subtasks(store, plan_id, ScriptedModel(), DraftingConfig(progress=False))
    return plan_id


def test_team_status_reads_the_newest_plan_and_its_latest_replan(db_url: str) -> None:
    with open_store(db_url) as store:
        plan_id = seeded(store)
        before = team_status(store)
        assert (before.plan.id, before.plan.version, before.latest_change) == (plan_id, 1, None)
        counts = before.counts
        assert (counts["in_review"], counts["with_person"], counts["waiting"]) == (2, 1, 2)
        assert before.review_queue == {"ana": 1, "bo": 1}
        assert before.forecast.planned_makespan == pytest.approx(6.3)
        a = next(item for item in review_queue(store) if item.subtask == "a")
        decide(store, a.draft_id, "ana", "reject", expected_version=a.version)
        stored = replan_stored(store, plan_id, actor="agent:test")
        assert stored is not None
        after = team_status(store, plan_id)
    assert after.plan.version == 2 and after.counts["rework"] == 1
    change = after.latest_change
    assert change is not None and change.version == 2 and change.actor == "agent:test"
    assert change.summary.startswith("Re-planned ") and change.diff.held >= 2
    jsonschema.Draft202012Validator(schema_for("TeamStatus")).validate(after.as_dict())


def test_an_unknown_plan_or_an_empty_store_names_the_known_plans(tmp_path: Path) -> None:
    with open_store(tmp_path / "review.db") as store:
        with pytest.raises(NotInStore, match="holds no plan yet"):
            team_status(store)
        plan_id = seeded(store)
        with pytest.raises(NotInStore, match=rf"Known plans: \[{plan_id}\]"):
            team_status(store, plan_id + 1)


# --- coassist status ----------------------------------------------------------------------------------


@pytest.fixture
def seeded_db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'review.db'}"
    with open_store(url) as store:
        seeded(store)
    return url


def test_coassist_status_prints_the_plan_as_text_and_json(seeded_db: str) -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "coassist.cli", "status", "--db", seeded_db],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[0] == "sales / week 1 (plan 1, version 1)"
    assert "Review queue: ana 1, bo 1" in shown.stdout
    assert "Warning: gpu has" not in shown.stdout  # nothing of gpu's is ready: a and e are drafted


def test_coassist_status_json_is_the_rest_reply(seeded_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--db", seeded_db, "--plan", "1", "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    jsonschema.Draft202012Validator(schema_for("TeamStatus")).validate(body)
    assert body["plan"]["id"] == 1


@pytest.mark.parametrize(
    "db,fragment",
    [
        ("nosuchdb://x", "names a database coassist has no driver for"),
        ("postgresql+psycopg://nobody@127.0.0.1:1/none", "cannot open the review database"),
        ("sqlite://", "in-memory database"),
    ],
)
def test_coassist_status_refuses_a_database_it_cannot_open(
    db: str, fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", "--db", db]) == 1
    error = capsys.readouterr().err
    assert error.startswith("coassist status: --db: ") and fragment in error and error.count("\n") == 1


def test_coassist_status_creates_no_database_at_a_mistyped_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "typo.db"
    assert main(["status", "--db", str(missing)]) == 1
    assert "there is no SQLite file at" in capsys.readouterr().err and not missing.exists()


def test_coassist_status_names_the_known_plans(seeded_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--db", seeded_db, "--plan", "7"]) == 1
    assert "no plan 7 in the review database. Known plans: [1]." in capsys.readouterr().err


# --- GET /coassist/team (the conftest's server on small_plan: ids and kinds only) ---------------------


async def test_get_team_answers_the_newest_plan_as_the_contract_says(jp_fetch: Any) -> None:
    code, reply = await fetch_json(jp_fetch, "team")
    assert code == 200
    jsonschema.Draft202012Validator(schema_for("TeamReply")).validate(reply)
    body = reply["status"]
    assert (body["plan"]["id"], body["counts"]["in_review"], body["latest_change"]) == (1, 2, None)
    _, same = await fetch_json(jp_fetch, "team", params={"plan": "1"})
    assert same["status"]["plan"] == body["plan"]


@pytest.mark.parametrize(
    "plan,code,fragment",
    [
        ("9", 404, "no plan 9 in the review database. Known plans: [1]"),
        ("x", 400, "'plan' must be a plan id"),
    ],
)
async def test_get_team_refuses_an_unknown_or_malformed_plan(
    jp_fetch: Any, plan: str, code: int, fragment: str
) -> None:
    error = await expect_error(jp_fetch, "team", code, params={"plan": plan})
    jsonschema.Draft202012Validator(schema_for("ErrorReply")).validate(error)
    assert fragment in error["message"]


async def test_get_team_needs_the_token(jp_fetch: Any) -> None:
    await expect_error(jp_fetch, "team", 403, headers={"Authorization": ""})


# --- the notebook widget ----------------------------------------------------------------------------


def wait_until(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_widget_escapes_names_and_follows_the_store_until_closed(tmp_path: Path) -> None:
    hostile = "<img src=x onerror=alert(1)>"
    with open_store(tmp_path / "review.db") as store:
        seeded(store, reviewer=hostile)
        widget = TeamStatusWidget(store, refresh_seconds=0.05)
        try:
            shown = widget.view.value
            assert "<img" not in shown
            assert "Review queue: &lt;img src=x onerror=alert(1)&gt; <b>1</b>, ana <b>1</b></div>" in shown
            assert "Not re-planned since it was imported" in shown
            a = next(item for item in review_queue(store) if item.subtask == "a")
            decide(store, a.draft_id, "ana", "approve", expected_version=a.version)
            # No refresh() call: the widget's thread reads the store again by itself.
            only_hostile = "Review queue: &lt;img src=x onerror=alert(1)&gt; <b>1</b></div>"
            assert wait_until(lambda: only_hostile in widget.view.value), widget.view.value
        finally:
            widget.close()
        assert not widget.polling
        frozen = widget.view.value
        e = next(item for item in review_queue(store) if item.subtask == "e")
        decide(store, e.draft_id, hostile, "approve", expected_version=e.version)
        time.sleep(0.2)
        assert widget.view.value == frozen


def test_widget_opens_a_url_and_shows_an_unknown_plan_as_an_error(seeded_db: str) -> None:
    widget = TeamStatusWidget(seeded_db, plan_id=5)
    try:
        assert "var(--jp-error-color1" in widget.view.value and "Known plans: [1]" in widget.view.value
        assert widget.refresh() is None
        widget.plan_id = 1
        status = widget.refresh()
        assert status is not None and "sales / week 1" in widget.view.value
    finally:
        widget.close()
    assert not widget.polling


def test_widget_refuses_a_refresh_interval_that_is_not_positive(seeded_db: str) -> None:
    with pytest.raises(InvalidOption, match="refresh_seconds: must be a positive number"):
        TeamStatusWidget(seeded_db, refresh_seconds=0)
