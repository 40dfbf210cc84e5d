"""The sidebar's Team section in a real JupyterLab + Chromium, following a real scheduling agent:
AI work waiting with no agent is a warning; a started agent drafts it and the section shows its
heartbeat and drafts without a click; a rejection in the sidebar makes the agent re-plan, and the
section shows the new version and what the re-plan changed. Screenshots go to $SHOTS_DIR."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from coassist.agent import Agent, AgentConfig
from coassist.review import import_plan, open_store
from tests.browser.conftest import Lab, run_command
from tests.test_agent_status import team_plan
from tests.test_review_support import ScriptedModel

pytestmark = pytest.mark.browser

HOSTILE = "<img src=x onerror=window.__coassist_pwned=1>"
"""bo's name in this plan: shown in the review queue and the re-plan, it must stay text."""
POLL_WAIT_MS = 15_000
"""Long enough for a few of the Team section's 3 s polls, on a loaded machine."""


@pytest.fixture(scope="module")
def plan_id(lab: Lab) -> int:
    """A second, newest plan in the lab's database, with the full worker table a re-plan needs."""
    with open_store(lab.db_url) as store:
        return import_plan(store, *team_plan(reviewer=HOSTILE), project="sales", name="week 2", actor="lead")


@pytest.fixture(scope="module")
def page(lab: Lab, browser_context: Any, plan_id: int) -> Iterator[Any]:
    page = browser_context.new_page()
    page.goto(lab.page_url("lab"))
    page.wait_for_function(
        "() => !!(window.jupyterapp && window.jupyterapp.commands.hasCommand('coassist:open-review-queue'))",
        timeout=60_000,
    )
    run_command(page, "coassist:open-review-queue")
    yield page
    page.close()


def test_team_section_follows_an_agent_and_shows_the_replan_after_a_rejection(
    page: Any, lab: Lab, plan_id: int, shots_dir: Path
) -> None:
    team = page.locator("#coassist-sidebar .jp-coassist-team")
    team.locator(".jp-coassist-team-plan", has_text="sales / week 2 · version 1").wait_for(
        timeout=POLL_WAIT_MS
    )
    assert "ready 2" in team.locator(".jp-coassist-team-counts").inner_text()
    warnings = team.locator(".jp-coassist-team-warnings")
    assert "gpu has 2 subtask(s) ready to draft and no live agent" in warnings.inner_text()
    assert team.locator(".jp-coassist-team-agents").inner_text() == "Agents: none has run for this plan"
    assert team.locator(".jp-coassist-team-change").inner_text() == "Not re-planned since it was imported."

    config = AgentConfig(replan_debounce_seconds=0.2, max_poll_seconds=0.5)
    agent = Agent(lab.db_url, worker="gpu", model=ScriptedModel(), plan_id=plan_id, config=config).start()
    try:
        # No click: the section polls, and the agent drafts a and e (b waits for a, d for c).
        team.locator(".jp-coassist-team-agents", has_text="2 drafted").wait_for(timeout=POLL_WAIT_MS)
        agents = team.locator(".jp-coassist-team-agents").inner_text()
        assert agents.startswith("gpu: live, heartbeat ") and "(scripted)" in agents
        assert "in review 2" in team.locator(".jp-coassist-team-counts").inner_text()
        assert warnings.count() == 0
        queue = team.locator(".jp-coassist-team-queue").inner_text()
        assert queue == f"Review queue: {HOSTILE} 1, ana 1"  # sorted by name, shown as text
        assert "Forecast finish: hour " in team.locator(".jp-coassist-team-forecast").inner_text()
        page.screenshot(path=shots_dir / "team-01-agent-drafted.png")

        # Approving a unblocks b: the agent drafts it by itself.
        sidebar = page.locator("#coassist-sidebar")
        cards = sidebar.locator(".jp-coassist-card").filter(has_text=f"week 2 (plan {plan_id})")
        cards.filter(has_text="a: Load sales").locator(".jp-coassist-approve").click()
        team.locator(".jp-coassist-team-agents", has_text="3 drafted").wait_for(timeout=POLL_WAIT_MS)

        # Rejecting b (bo's review; the sidebar's user is ana) makes the agent re-plan.
        sidebar.locator(".jp-coassist-refresh").click()
        b = cards.filter(has_text="b: Clean sales")
        b.locator(".jp-coassist-note").fill("wrong columns")
        b.locator(".jp-coassist-reject").click()
        team.locator(".jp-coassist-team-plan", has_text="version 2").wait_for(timeout=POLL_WAIT_MS)
        head = team.locator(".jp-coassist-team-change-head").inner_text()
        assert head.startswith("Re-plan to version 2 (") and head.endswith("draft.rejected)")
        summary = team.locator(".jp-coassist-team-change-summary").inner_text()
        assert summary.startswith("Re-planned ") and "holding " in summary
        assert "rework 1" in team.locator(".jp-coassist-team-counts").inner_text()
        page.screenshot(path=shots_dir / "team-02-replanned-after-rejection.png")
    finally:
        agent.stop(timeout=30)
    assert not agent.running
    assert page.evaluate("() => window.__coassist_pwned === undefined")
    assert team.locator("img").count() == 0
