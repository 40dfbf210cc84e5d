"""The server extension runs the scheduling agent when `CoassistServer.agent_worker` names an AI
worker (off by default), and logs instead of failing when the plan has no such worker."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from coassist.agent import read_plan_state
from coassist.review import open_store
from tests.test_agent import TASKS, TEAM, _store_plan
from tests.tiny_models import build_tiny_causal_lm

pytest_plugins = ["pytest_jupyter.jupyter_server"]


@pytest.fixture
def team_db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'team.db'}"
    with open_store(url) as store:
        _store_plan(store, TASKS, TEAM)
    return url


@pytest.fixture(scope="module")
def team_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_causal_lm(tmp_path_factory.mktemp("team-model"), context_length=2048)


@pytest.fixture
def agent_worker() -> str:
    return "gpu0"


@pytest.fixture
def jp_server_config(team_model_dir: Path, team_db: str, agent_worker: str) -> dict[str, Any]:
    return {
        "ServerApp": {"jpserver_extensions": {"coassist": True}},
        "CoassistServer": {
            "model": str(team_model_dir),
            "db_url": team_db,
            "agent_worker": agent_worker,
            "agent_model": str(team_model_dir),
        },
    }


async def test_the_servers_agent_drafts_the_ready_subtask(jp_serverapp: Any, team_db: str) -> None:
    agent = jp_serverapp.web_app.settings["coassist_agent"]
    deadline = time.monotonic() + 60
    try:
        with open_store(team_db) as store:
            while read_plan_state(store, 1).subtasks["load"].state != "in_review":
                assert time.monotonic() < deadline, "the server's agent drafted nothing"
                await asyncio.sleep(0.2)
            (seen,) = read_plan_state(store, 1).agents
            assert (seen.worker, seen.liveness) == ("gpu0", "live")
    finally:
        agent.stop(timeout=30)
    assert not agent.running


@pytest.mark.parametrize("agent_worker", ["gpu9"])
async def test_an_unknown_worker_is_logged_and_the_server_serves_on(
    agent_worker: str, jp_serverapp: Any, jp_fetch: Any, team_db: str
) -> None:
    response = await jp_fetch("coassist", "plan")
    assert response.code == 200
    assert "coassist_agent" not in jp_serverapp.web_app.settings
    with open_store(team_db) as store:
        assert read_plan_state(store, 1).agents == ()
