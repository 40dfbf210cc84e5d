"""The one way a widget shows a coloured status: escaped text in a JupyterLab theme colour.

The colours are JupyterLab's theme variables, so they follow light and dark themes; the fallback
after each is for front ends without them (classic Notebook, VS Code), where the text would
otherwise lose its colour and with it the difference between an error and a success.
"""

from __future__ import annotations

import html
from typing import Literal

StatusKind = Literal["error", "warn", "success", "info"]

_FALLBACK: dict[StatusKind, str] = {
    "error": "#d32f2f",
    "warn": "#f57c00",
    "success": "#388e3c",
    "info": "#0288d1",
}


def status_html(message: str, kind: StatusKind, *, bold: bool = False) -> str:
    """`message` as inert text (model output and names included) in the theme's colour for `kind`.

    Examples
    --------
    >>> status_html("x < 1 failed", "error")
    '<span style="color: var(--jp-error-color1, #d32f2f)">x &lt; 1 failed</span>'
    >>> status_html("No plan fits the team.", "error", bold=True)
    '<span style="color: var(--jp-error-color1, #d32f2f)"><b>No plan fits the team.</b></span>'
    """
    text = html.escape(message, quote=False)
    if bold:
        text = f"<b>{text}</b>"
    return f'<span style="color: var(--jp-{kind}-color1, {_FALLBACK[kind]})">{text}</span>'
