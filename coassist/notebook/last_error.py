"""Remember the last exception a notebook cell raised, with the cell that raised it.

IPython keeps the last traceback but not which cell's source produced it, so we listen to
`post_run_cell` and keep both. `%assist` cells are skipped: asking about an error must not
replace it with the assistant's own failure.
"""

from __future__ import annotations

import linecache
import sys
import traceback
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CellError:
    """An exception as the assistant should see it."""

    cell_source: str
    execution_count: int | None
    exception_type: str
    message: str
    traceback_text: str

    def as_prompt_text(self) -> str:
        return (
            f"This notebook cell (In[{self.execution_count}]) raised {self.exception_type}: {self.message}\n\n"
            f"Cell source:\n```python\n{self.cell_source}\n```\n\n"
            f"Traceback:\n```\n{self.traceback_text}\n```"
        )


DEFAULT_ERROR_REQUEST = "Explain this error and show how to fix the code."


def error_question(error: CellError, request: str = "") -> str:
    """The question `%assist error [request]` asks: the error first, then the request.

    The request comes last, as in every question (see `question_layout`): a small model answers
    what it read last, so the traceback must not be the end of the prompt. One builder for the
    magic, the palette commands and the evaluation harness, so what is measured is what users
    send.
    """
    return f"{error.as_prompt_text()}\n\nQuestion: {request or DEFAULT_ERROR_REQUEST}"


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


def cell_error(exception: BaseException, source: str, execution_count: int | None) -> CellError:
    """`exception`, raised by the cell `source`, as the assistant should see it."""
    return CellError(
        cell_source=source.strip(),
        execution_count=execution_count,
        exception_type=type(exception).__name__,
        message=str(exception),
        traceback_text=_format_traceback(exception),
    )


def _is_assist_cell(source: str) -> bool:
    first = source.lstrip().split("\n", 1)[0]
    return first.startswith(("%%assist", "%assist", "%%coassist", "%coassist"))


def _format_traceback(exception: BaseException) -> str:
    """Frames inside the cell and the libraries it called, without IPython's own machinery."""
    frames = traceback.extract_tb(exception.__traceback__)
    own = [f for f in frames if "IPython/core/interactiveshell.py" not in f.filename]
    lines = traceback.format_list(own) + traceback.format_exception_only(type(exception), exception)
    return "".join(lines).rstrip()
