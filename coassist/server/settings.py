"""The server extension's settings, as traitlets so `jupyter_server_config.py` can set them.

c.CoassistServer.model = "smollm2"            # inline completion model
c.CoassistServer.db_url = "sqlite:///team.db"  # review queue and current plan
"""

from __future__ import annotations

from traitlets import Int, Unicode
from traitlets.config import Configurable


class CoassistServer(Configurable):
    """Settings of coassist's Jupyter Server extension (the REST API behind the labextension)."""

    model = Unicode(
        "smollm2",
        help="Model spec for inline completion (see Assist.model). A small model keeps ghost text fast.",
    ).tag(config=True)
    device = Unicode("auto", help="Device for the completion model: 'auto', 'cpu', 'cuda' or 'cuda:N'.").tag(
        config=True
    )
    completion_max_new_tokens = Int(
        32, min=1, help="Longest inline completion, in tokens: ghost text is a line or two, not an essay."
    ).tag(config=True)
    completion_context_chars = Int(
        2000, min=100, help="Characters before the cursor sent to the model; older code is cut off."
    ).tag(config=True)
    db_url = Unicode(
        "",
        help="Review database URL or SQLite path; empty means $COASSIST_DB, else the per-user default.",
    ).tag(config=True)
