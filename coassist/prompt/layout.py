"""Lay out a filled question: the data it refers to first, the question itself last.

A DataFrame's schema spliced mid-sentence ("Which columns of pandas DataFrame with ... units |
int64 | 0 have missing values?") leaves a small model continuing the table instead of answering.
So a value that spans lines, is long, is a described pandas object, a cell's source (`{In[3]}`)
or `{last_error}` is named in the question (`sales`) and described in a block before it; a
short one-line value (a number, a file name) stays inline, where it reads naturally:

    `sales` is a pandas DataFrame with 3 rows and 3 columns.
    Columns with missing values: region, revenue.
    ...

    Question: Which columns of `sales` have missing values?
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from coassist.prompt.describe import is_pandas
from coassist.prompt.interpolate import Placeholder

# Longer than this, a value interrupts the sentence it sits in: a path or a short list still
# reads inline, a paragraph does not.
INLINE_MAX_CHARS = 80


def lay_out_question(parts: list[str | Placeholder], render: Callable[[Any], str]) -> str:
    """The question from `fill`'s parts, each value's text from `render`.

    With nothing to move out, the question is the template filled in place. Otherwise each
    moved value is described once, in order of first mention, and the question follows after
    "Question:". Values' text is inserted as is, never parsed as a template again.

    >>> from coassist.prompt.interpolate import fill
    >>> print(lay_out_question(fill("Sum {name} over {rows} rows", {"name": "units", "rows": 3}), str))
    Sum units over 3 rows
    >>> print(lay_out_question(fill("Fix {In[1]}, it takes {t} s", {"In": ["", "a = 1\\nb = {"], "t": 2}), str))
    `In[1]` is this notebook cell:
    ```python
    a = 1
    b = {
    ```
    <BLANKLINE>
    Question: Fix `In[1]`, it takes 2 s
    """
    context: dict[str, str] = {}
    pieces: list[str] = []
    for part in parts:
        if isinstance(part, str):
            pieces.append(part)
            continue
        text = render(part.value)
        if _stays_inline(part.field, part.value, text):
            pieces.append(text)
        else:
            pieces.append(f"`{part.field}`")
            context.setdefault(part.field, _context_entry(part.field, part.value, text))
    question = "".join(pieces)
    if not context:
        return question
    return "\n\n".join([*context.values(), f"Question: {question.strip()}"])


def _stays_inline(field: str, value: Any, text: str) -> bool:
    # Code and errors are context even when short: one line of code mid-sentence reads as prose.
    is_code = field.startswith("In[") or field == "last_error"
    return not (is_code or is_pandas(value)) and "\n" not in text and len(text) <= INLINE_MAX_CHARS


def _context_entry(field: str, value: Any, text: str) -> str:
    if is_pandas(value):  # the description reads "pandas DataFrame with ..."
        return f"`{field}` is a {text}"
    if field.startswith("In["):
        return f"`{field}` is this notebook cell:\n```python\n{text}\n```"
    return f"`{field}`:\n{text}"
