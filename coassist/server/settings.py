"""The server extension's settings, as traitlets so `jupyter_server_config.py` can set them.

c.CoassistServer.model = "coassist"           # inline completion model
c.CoassistServer.db_url = "sqlite:///team.db"  # review queue and current plan
c.CoassistServer.agent_worker = "gpu0"          # also run the scheduling agent of AI worker gpu0
"""

from __future__ import annotations

from traitlets import Float, Int, Unicode
from traitlets.config import Configurable

from coassist.llm.spec import DEFAULT_SPEC
from coassist.prompt.completion import COMPLETION_MAX_NEW_TOKENS
from coassist.server.completion import DEADLINE_SECONDS, LOAD_RETRY_SECONDS


class CoassistServer(Configurable):
    """Settings of coassist's Jupyter Server extension (the REST API behind the labextension)."""

    model = Unicode(
        DEFAULT_SPEC,
        help="Model spec for inline completion (see Assist.model). A small model keeps ghost text fast.",
    ).tag(config=True)
    device = Unicode("auto", help="Device for the completion model: 'auto', 'cpu', 'cuda' or 'cuda:N'.").tag(
        config=True
    )
    completion_max_new_tokens = Int(
        COMPLETION_MAX_NEW_TOKENS, min=1, help="Longest inline completion, in tokens: ghost text is a line or two, not an essay."
    ).tag(config=True)
    completion_context_chars = Int(
        2000, min=100, help="Characters before the cursor sent to the model; older code is cut off."
    ).tag(config=True)
    completion_deadline_seconds = Float(
        DEADLINE_SECONDS,
        min=0.1,
        help="Longest a completion request takes, queue and model load included, before it answers with "
        "what it has (JupyterLab drops inline replies after 20 s).",
    ).tag(config=True)
    model_retry_seconds = Float(
        LOAD_RETRY_SECONDS,
        min=0.0,
        help="After the completion model fails to load, answer 503 for this long before trying again "
        "(a model directory that changes is tried at once).",
    ).tag(config=True)
    reviewer_name = Unicode(
        "",
        help="On a server that serves one person (a token-only JupyterLab), the name their review "
        "decisions are recorded under, as the plans name them ('ana'). Empty: the signed-in Jupyter "
        "user's username under JupyterHub; on a token-only server, whose users are anonymous ids, "
        "the name each person gives the sidebar (Settings > coassist > Reviewer name).",
    ).tag(config=True)
    db_url = Unicode(
        "",
        help="Review database URL or SQLite path the sidebar reads, unless the current notebook showed "
        "its own with show_in_sidebar(store); empty means $COASSIST_DB, else the per-user default.",
    ).tag(config=True)
    agent_worker = Unicode(
        "",
        help="Run the scheduling agent of this AI worker of the plan (e.g. 'gpu0') as a background "
        "thread of the server, drafting with `agent_model` on `db_url`. Empty (the default): no agent; "
        "run `coassist agent` instead where the GPU is.",
    ).tag(config=True)
    agent_model = Unicode(DEFAULT_SPEC, help="Model spec the server's agent drafts with (see agent_worker).").tag(
        config=True
    )
    agent_plan = Int(0, min=0, help="Plan id the server's agent serves; 0: the newest plan with agent_worker.").tag(
        config=True
    )
