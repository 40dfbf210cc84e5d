"""Pull the code out of an answer, for `-f code`.

>>> extract_code("Here:\\n```python\\nx = 1\\n```\\nand\\n```\\ny = 2\\n```")
'x = 1\\n\\ny = 2'
>>> extract_code("print('no fences')")
"print('no fences')"
"""

from __future__ import annotations

import re

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
