"""coassist: a local, fine-tunable transformer assistant and a human-AI task allocator for Jupyter.

One import line is all a notebook needs::

    %load_ext coassist          # the %%assist magics
    import coassist             # the Python API: coassist.allocate, coassist.ChatWidget, ...
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# The public API, imported on first use: `import coassist` stays light (the Jupyter server
# imports it to find its extensions, and torch alone takes seconds to import).
_PUBLIC = {
    "coassist.llm": ("GenerationSettings", "load_chat_model", "parse_model_spec"),
    "coassist.plan": (
        "AllocateOptions", "Plan", "Subtask", "Worker", "allocate", "explain_infeasibility",
        "load_tasks", "load_workers", "plot_gantt", "seed_lp",
    ),
    "coassist.review": ("decide", "draft_ai_subtasks", "import_plan", "open_store", "review_queue"),
    "coassist.train": ("LoraTrainingConfig", "RouterTrainingConfig", "fill_p_pass", "finetune_lora", "train_router"),
    "coassist.notebook.widgets": ("AllocationBoard", "ChatWidget", "ReviewQueueWidget"),
    "coassist.notebook.widgets.team_status": ("TeamStatusWidget",),
}  # fmt: skip
_HOME = {name: module for module, names in _PUBLIC.items() for name in names}

__all__ = ["__version__", "load_ipython_extension", "unload_ipython_extension", *sorted(_HOME)]


def __getattr__(name: str) -> Any:
    if name in _HOME:
        value = getattr(importlib.import_module(_HOME[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'coassist' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOME))


def load_ipython_extension(ipython: Any) -> None:
    """Register the `%%assist` / `%assist` magics (and `%%coassist`) in IPython."""
    from coassist.notebook.magics import register_magics

    register_magics(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """Nothing to tear down: the loaded model is released with the magics object."""


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where `jupyter labextension develop` finds the built front end (see labextension/)."""
    return [{"src": "labextension", "dest": "coassist"}]


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """The Jupyter Server extension that serves the labextension's REST API (coassist.server)."""
    return [{"module": "coassist.server"}]
