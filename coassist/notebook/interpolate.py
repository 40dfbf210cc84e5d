"""Fill `{name}` placeholders in a prompt from the user's namespace, in exactly one pass.

`In[3]` may itself contain braces (a dict literal, an f-string); its text is inserted as is
and never formatted again. `{{` and `}}` stand for literal braces. Field syntax is
`str.format`'s: `{df}`, `{In[3]}`, `{Out[2]}`, `{obj.attr}`, `{d[key]}`.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping
from typing import Any

from coassist.errors import PromptTemplateError

_formatter = string.Formatter()


def interpolate(template: str, namespace: Mapping[str, Any], render: Callable[[Any], str]) -> str:
    """Replace each `{field}` with `render(value)`; literal text passes through untouched.

    >>> interpolate("x is {x}, braces {{ok}}", {"x": 3}, str)
    'x is 3, braces {ok}'
    >>> interpolate("{In[1]}", {"In": ["", "d = {'a': 1}"]}, str)
    "d = {'a': 1}"
    """
    try:
        parsed = list(_formatter.parse(template))
    except ValueError as error:
        raise PromptTemplateError(
            f"the prompt has unbalanced braces ({error}). Write {{{{ and }}}} for literal braces, "
            f"or use --no-interpolate."
        ) from error
    pieces: list[str] = []
    for literal, field, spec, conversion in parsed:
        pieces.append(literal)
        if field is None:
            continue
        if field == "":
            raise PromptTemplateError(
                "the prompt has an empty {} placeholder. Name a variable inside the braces, "
                "write {{}} for literal braces, or use --no-interpolate."
            )
        value = _lookup(field, namespace)
        if conversion == "r":
            value = repr(value)
        elif conversion == "s":
            value = str(value)
        pieces.append(format(value, spec) if spec else render(value))
    return "".join(pieces)


def _lookup(field: str, namespace: Mapping[str, Any]) -> Any:
    root = _root_name(field)
    if root not in namespace:
        raise PromptTemplateError(
            f"the prompt refers to {{{field}}} but there is no variable {root!r} in the notebook. "
            f"Define it, write {{{{{field}}}}} for literal braces, or use --no-interpolate.",
            name=root,
        )
    try:
        value, _ = _formatter.get_field(field, (), namespace)
    except (LookupError, AttributeError, TypeError) as error:
        raise PromptTemplateError(
            f"the prompt's {{{field}}} cannot be looked up: {type(error).__name__}: {error}", name=root
        ) from error
    return value


def _root_name(field: str) -> str:
    for index, char in enumerate(field):
        if char in ".[":
            return field[:index]
    return field
