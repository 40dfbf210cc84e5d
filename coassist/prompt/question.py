"""A question as the model reads it: `{placeholders}` filled, data described, the question last.

The one builder for every place a question is asked from: the `%%assist` magics and the chat
widget (through `AssistSession`), `coassist eval` and the training curriculum. Training on the
exact prompts users send, and measuring them, is the point of having one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from coassist.prompt.describe import describe_value
from coassist.prompt.interpolate import fill
from coassist.prompt.layout import lay_out_question


@dataclass(frozen=True)
class ContextOptions:
    """How much of an interpolated value a prompt carries (`Assist`'s settings of the same names).

    Attributes
    ----------
    budget_tokens:
        Longest description of one value (a DataFrame's schema, a cell, the last error).
    sample_rows:
        Rows of a DataFrame shown besides its schema (0: none; rows are data a user may not
        mean to share).
    statistics:
        Give each column's range and mean (numbers, dates) or distinct count (text), and the
        duplicate rows: a small model cannot compute them from rows, but can read them.
    """

    budget_tokens: int = 1024
    sample_rows: int = 0
    statistics: bool = True


def build_question(template: str, namespace: Mapping[str, Any], options: ContextOptions = ContextOptions()) -> str:
    """`template` with each `{field}` filled from `namespace`, long values described before it.

    >>> print(build_question("What is {x} doubled?", {"x": 21}))
    What is 21 doubled?

    Raises
    ------
    PromptTemplateError
        A placeholder that names nothing in `namespace`, or one that is not allowed.
    """
    return lay_out_question(
        fill(template, namespace),
        lambda value: describe_value(value, options.budget_tokens, options.sample_rows, options.statistics),
    )
