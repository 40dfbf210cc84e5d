"""Jupyter Server extension: the authenticated REST API behind coassist's JupyterLab extension.

Enabled by `jupyter-config/server-config/coassist.json` on install; configured through
`CoassistServer` traitlets (``--CoassistServer.model=...`` or ``jupyter_server_config.py``).
Endpoints (all under the server's base URL):

- ``POST /coassist/complete``: inline completion at the cursor;
- ``GET /coassist/plan``: the newest plan in the review store, summarised;
- ``GET /coassist/reviews`` and ``POST /coassist/reviews``: the review queue and decisions
  (409 when someone else decided first);
- ``GET /coassist/team[?plan=ID]``: where a plan stands (states, queue, agents, forecast, re-plans).
"""

from __future__ import annotations

import atexit
from typing import Any

from coassist.llm import load_chat_model
from coassist.review import open_store
from coassist.server.completion import CompletionService
from coassist.server.handlers import setup_handlers
from coassist.server.settings import CoassistServer
from coassist.server.store_access import StoreAccess

__all__ = ["CoassistServer"]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    config = CoassistServer(parent=serverapp)
    serverapp.web_app.settings["coassist_completions"] = CompletionService(
        config.model,
        lambda: load_chat_model(config.model, device=config.device),
        config.completion_max_new_tokens,
        config.completion_context_chars,
        retry_after_s=config.model_retry_seconds,
        deadline_s=config.completion_deadline_seconds,
    )
    serverapp.web_app.settings["coassist_reviewer_name"] = config.reviewer_name.strip()
    serverapp.web_app.settings["coassist_store"] = StoreAccess(lambda: open_store(config.db_url or None))
    setup_handlers(serverapp.web_app)
    serverapp.log.info("coassist server extension loaded (completion model %r)", config.model)
    if config.agent_worker:
        _start_agent(serverapp, config)


def _start_agent(serverapp: Any, config: CoassistServer) -> None:
    """The scheduling agent as a daemon thread of the server; it stops (its batch committed) at exit.

    A plan or worker the database lacks is logged, not raised: the server still serves the rest."""
    from coassist.agent import Agent
    from coassist.errors import CoassistError

    try:
        agent = Agent(open_store(config.db_url or None), config.agent_worker, config.agent_model, config.agent_plan or None)
    except CoassistError as error:
        serverapp.log.error("coassist agent not started: %s", error)
        return
    agent.start()
    serverapp.web_app.settings["coassist_agent"] = agent
    atexit.register(agent.stop, 60.0)
    serverapp.log.info("coassist agent %s drafting for %r on plan %d", agent.id, agent.worker, agent.plan_id)
