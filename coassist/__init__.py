"""coassist: a local, fine-tunable transformer assistant and a human-AI task allocator for Jupyter.

One import line is all a notebook needs::

    %load_ext coassist          # the %%assist magics
    import coassist             # the Python API
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "load_ipython_extension", "unload_ipython_extension"]


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
