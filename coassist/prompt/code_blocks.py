"""Pull the code out of an answer (for `-f code`), and close the fence a cut-off answer left open.

>>> extract_code("Here:\\n```python\\nx = 1\\n```\\nand\\n```\\ny = 2\\n```")
'x = 1\\n\\ny = 2'
>>> extract_code("print('no fences')")
"print('no fences')"
"""

from __future__ import annotations

import re

# A CommonMark fence line: up to three spaces, then three or more backticks or tildes.
_FENCE_LINE = re.compile(r" {0,3}(`{3,}|~{3,})")
_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_NOT_PYTHON = {"text", "console", "output", "bash", "sh", "shell"}


def extract_code(answer: str) -> str:
    """The fenced code blocks joined by a blank line; the whole answer when it has none.

    Blocks tagged as shell or output are left out: the next cell is a Python cell. An
    unclosed final fence (the answer hit max_new_tokens) still counts as code.
    """
    blocks = [
        body.strip("\n") for language, body in _FENCE.findall(answer) if language.lower() not in _NOT_PYTHON
    ]
    blocks = [block for block in blocks if block.strip()]
    return "\n\n".join(blocks) if blocks else answer.strip()


def close_open_fence(text: str) -> str:
    """`text` with a closing fence added when it ends inside a code block.

    An answer cut off at `max_new_tokens` (or interrupted) often stops mid-code: left open,
    the notice after it would render as code, and so would everything a notebook shows after.

    >>> close_open_fence("Try:\\n```python\\nx = 1")
    'Try:\\n```python\\nx = 1\\n```'
    >>> close_open_fence("```\\ndone\\n```")
    '```\\ndone\\n```'
    """
    opener: str | None = None
    for line in text.splitlines():
        match = _FENCE_LINE.match(line)
        if match is None:
            continue
        fence = match.group(1)
        if opener is None:
            opener = fence
        elif fence[0] == opener[0] and len(fence) >= len(opener) and not line[match.end() :].strip():
            opener = None  # a closing fence: same character, at least as long, nothing after it
    if opener is None:
        return text
    separator = "" if text.endswith("\n") else "\n"
    return f"{text}{separator}{opener}"
