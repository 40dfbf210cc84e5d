"""Jupyter Server extension: the authenticated REST API behind coassist's JupyterLab extension.

Enabled by `jupyter-config/server-config/coassist.json` on install; configured through
`CoassistServer` traitlets (``--CoassistServer.model=...`` or ``jupyter_server_config.py``).
Endpoints (all under the server's base URL):

- ``POST /coassist/complete``: inline completion at the cursor;
- ``GET /coassist/plan``: the newest plan in the review store, summarised;
- ``GET /coassist/reviews`` and ``POST /coassist/reviews``: the review queue and decisions
  (409 when someone else decided first);
- ``GET /coassist/team[?plan=ID]``: where a plan stands (states, queue, agents, forecast, re-plans).

Each reads the server's review database, or the one the current notebook showed with
`show_in_sidebar(store)` (run in the notebook's kernel; see `coassist.server.sidebar_link`).
Imports are lazy: a kernel calling `show_in_sidebar` loads none of the server's machinery.
"""

from __future__ import annotations

import atexit
from typing import TYPE_CHECKING, Any

from coassist.server.sidebar_link import show_in_sidebar

if TYPE_CHECKING:
    from coassist.server.settings import CoassistServer

__all__ = ["CoassistServer", "show_in_sidebar"]

SUBSHELL_MESSAGE_TYPES = (
    "create_subshell_request",
    "create_subshell_reply",
    "delete_subshell_request",
    "delete_subshell_reply",
    "list_subshell_request",
    "list_subshell_reply",
)
"""Control messages that make and end kernel subshells (JEP 91). JupyterLab 4.6 opens a subshell
for the first widget a cell shows (a tqdm bar while drafting, say) and showed the kernel's
"idle" for that request as the kernel's state, on the status bar and for `[*]`, while the cell
still ran. They are no user activity either (what the server's list is also for), so they join
`untracked_message_types`, whose statuses JupyterLab does not show."""


def __getattr__(name: str) -> Any:
    if name == "CoassistServer":
        from coassist.server.settings import CoassistServer

        return CoassistServer
    raise AttributeError(f"module 'coassist.server' has no attribute {name!r}")


def _load_jupyter_server_extension(serverapp: Any) -> None:
    from coassist.llm import load_chat_model
    from coassist.review import open_store
    from coassist.review.store import as_db_url, default_db_url
    from coassist.server.completion import CompletionService
    from coassist.server.handlers import setup_handlers
    from coassist.server.settings import CoassistServer
    from coassist.server.store_access import LinkedStores, StoreAccess, shown_url

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
    db_url = as_db_url(config.db_url) if config.db_url else default_db_url()
    serverapp.web_app.settings["coassist_db_url"] = shown_url(db_url)
    serverapp.web_app.settings["coassist_store"] = StoreAccess(lambda: open_store(db_url))
    linked = LinkedStores()
    serverapp.web_app.settings["coassist_linked_stores"] = linked
    atexit.register(linked.close)
    _untrack_subshell_messages(serverapp)
    setup_handlers(serverapp.web_app)
    serverapp.log.info("coassist server extension loaded (completion model %r)", config.model)
    if config.agent_worker:
        _start_agent(serverapp, config, db_url)


def _untrack_subshell_messages(serverapp: Any) -> None:
    """Add `SUBSHELL_MESSAGE_TYPES` to the kernel manager's list and to the page config that
    JupyterLab reads it from (copied from the list when the lab extension loads, which may
    already have happened)."""
    untracked = getattr(serverapp.kernel_manager, "untracked_message_types", None)
    if untracked is None:
        return
    missing = [kind for kind in SUBSHELL_MESSAGE_TYPES if kind not in untracked]
    serverapp.kernel_manager.untracked_message_types = [*untracked, *missing]
    page_config = serverapp.web_app.settings.get("page_config_data", {})
    if "untracked_message_types" in page_config:
        shown = page_config["untracked_message_types"]
        page_config["untracked_message_types"] = [*shown, *(kind for kind in missing if kind not in shown)]


def _start_agent(serverapp: Any, config: CoassistServer, db_url: str) -> None:
    """The scheduling agent as a daemon thread of the server; it stops (its batch committed) at exit.

    A plan or worker the database lacks is logged, not raised: the server still serves the rest."""
    from coassist.agent import Agent
    from coassist.errors import CoassistError
    from coassist.review import open_store

    try:
        agent = Agent(open_store(db_url), config.agent_worker, config.agent_model, config.agent_plan or None)
    except CoassistError as error:
        serverapp.log.error("coassist agent not started: %s", error)
        return
    agent.start()
    serverapp.web_app.settings["coassist_agent"] = agent
    atexit.register(agent.stop, 60.0)
    serverapp.log.info("coassist agent %s drafting for %r on plan %d", agent.id, agent.worker, agent.plan_id)
