"""Remember the last exception a notebook cell raised, with the cell that raised it.

IPython keeps the last traceback but not which cell's source produced it, so we listen to
`post_run_cell` and keep both. `%assist` cells are skipped: asking about an error must not
replace it with the assistant's own failure.
"""

from __future__ import annotations

import linecache
import sys
import traceback
from typing import Any

from coassist.prompt.cell_errors import CellError, cell_error


class LastErrorTracker:
    """A `post_run_cell` listener; `error` is the latest failure outside `%assist` cells."""

    def __init__(self) -> None:
        self.error: CellError | None = None

    def __call__(self, result: Any) -> None:
        exception = getattr(result, "error_in_exec", None) or getattr(result, "error_before_exec", None)
        if exception is None:
            return
        source = getattr(result.info, "raw_cell", "") or ""
        if _is_assist_cell(source):
            return
        self.error = cell_error(exception, source, getattr(result, "execution_count", None))

    def catch_up(self, shell: Any) -> None:
        """Take the error IPython last showed, raised before coassist was loaded in this kernel.

        The tracker only hears cells run after `%load_ext coassist` (or after the palette's
        commands load it quietly), so without this, "explain the error" right after loading
        would find nothing. The raising cell is the outermost traceback frame that IPython
        compiled from a cell.
        """
        exception = getattr(sys, "last_value", None)
        if self.error is not None or not isinstance(exception, BaseException):
            return
        cells: dict[str, int] = getattr(getattr(shell, "compile", None), "_filename_map", {}) or {}
        frames = [f for f in traceback.extract_tb(exception.__traceback__) if f.filename in cells]
        if not frames:
            return
        filename = frames[0].filename
        source = "".join(linecache.getlines(filename))
        if not _is_assist_cell(source):
            self.error = cell_error(exception, source, cells[filename])


def _is_assist_cell(source: str) -> bool:
    first = source.lstrip().split("\n", 1)[0]
    return first.startswith(("%%assist", "%assist", "%%coassist", "%coassist"))
