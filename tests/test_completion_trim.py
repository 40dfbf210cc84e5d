"""Ghost text is only the rest of the line or block, never an echo of the prefix or prose."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from coassist.llm.chat import Generation
from coassist.prompt.completion import clean_completion
from coassist.server.completion import CompletionService

FUNCTION = "def add(a, b):\n    "


@pytest.mark.parametrize(
    "raw,prefix,expected",
    [
        # The whole function echoed: only what follows the cursor is left.
        ("def add(a, b):\n    return a + b", FUNCTION, "return a + b"),
        ("def add(a, b):\n    return a + b", "def add(a, b):", "\n    return a + b"),
        # The current line repeated without its indentation.
        ("    return a", FUNCTION, "return a"),
        # A blank line ends the block.
        ("return a + b\n\nprint(add(1, 2))", FUNCTION, "return a + b"),
        # A dedent out of the cursor line's block ends it.
        ("return a + b\nprint(add(1, 2))", FUNCTION, "return a + b"),
        (
            "\n    total = a + b\n    return total\nadd(1, 2)",
            "def add(a, b):",
            "\n    total = a + b\n    return total",
        ),
        # A line that opens a block keeps its body, and stops at its own level.
        (":\n        return a\nelse_branch()", "def f(a):\n    if a", ":\n        return a"),
        # At top level nothing is a dedent: the blank line and the line cap do the cutting.
        ("y = 2\nz = 3", "x = 1\n", "y = 2\nz = 3"),
        ("a\nb\nc\nd\ne\nf", "", "a\nb\nc\nd"),
    ],
)
def test_only_the_rest_of_the_line_or_block(raw: str, prefix: str, expected: str) -> None:
    assert clean_completion(raw, prefix) == expected


@pytest.mark.parametrize(
    "raw,prefix,expected",
    [
        ("return a + b\nThis function returns the sum of a and b.", FUNCTION, "return a + b"),
        ("Here is the code:\nreturn a + b", FUNCTION, ""),
        ("ute the mean of the values", "x = comp", ""),
        # Code that starts with two words is not prose: it parses where it stands.
        ("import os\nimport sys", "", "import os\nimport sys"),
        ("if a is not None:\n        return a", FUNCTION, "if a is not None:\n        return a"),
        ("not None:", "if a is ", "not None:"),
        # Magics are not Python, but the code around them still is.
        ("df.head()", "%matplotlib inline\nimport pandas as pd\ndf = pd.DataFrame()\n", "df.head()"),
        # A model's odd tokens are not sentences: shown as they are, not silently lost.
        ("\x1dlis\x1dlis", "def add(a, b", "\x1dlis\x1dlis"),
    ],
)
def test_prose_is_never_returned(raw: str, prefix: str, expected: str) -> None:
    assert clean_completion(raw, prefix) == expected


def test_a_cell_magic_body_is_not_checked_as_python() -> None:
    assert clean_completion("the error in this cell", "%%assist\nExplain ") == "the error in this cell"


class SlowModel:
    """Streams a piece every 50 ms until stopped, like a model that would run past the deadline."""

    spec = "slow"

    def continue_text(self, text: str, settings: Any, stop: Any = None) -> Generation:
        pieces = []
        while not (stop is not None and stop.is_set()) and len(pieces) < 400:
            pieces.append("x")
            time.sleep(0.05)
        return Generation("result = " + "".join(pieces), "interrupted", len(pieces), 0.0, 0.0)


def test_the_deadline_answers_with_what_was_made() -> None:
    service = CompletionService("slow", SlowModel, max_new_tokens=8, context_chars=100, deadline_s=0.3)
    started = time.monotonic()
    completion = asyncio.run(service.complete("value = 1\n", threading.Event()))
    assert time.monotonic() - started < 3
    assert not completion.cancelled
    assert completion.text.startswith("result = x")
