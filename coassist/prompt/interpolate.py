"""Fill `{name}` placeholders in a prompt from the user's namespace, in exactly one pass.

`In[3]` may itself contain braces (a dict literal, an f-string); its text is inserted as is
and never formatted again. `{{` and `}}` stand for literal braces.

What a placeholder may be, and nothing else (no calls, no expressions):

- a field: `{df}`, `{obj.attr}`, `{d[key]}`, `{In[3]}`, `{Out[2]}`, chained as in
  `{run.history[0]}`. Attributes starting with ``_`` are refused: `{obj.__class__}` leads
  to module globals, which a prompt has no business reading.
- an optional conversion: `!s`, `!r` or `!a`.
- an optional format spec, for numbers and text only (`{loss:.2f}`, `{name:>12}`), with no
  nested `{}` and widths and precisions up to `MAX_FORMAT_NUMBER`.

Anything else is a `PromptTemplateError` naming the placeholder and saying what is accepted.
"""

from __future__ import annotations

import decimal
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from coassist.errors import PromptTemplateError

_formatter = string.Formatter()

# A width or precision over this pads or expands one value into megabytes before any budget
# check could see it; no prompt needs a field wider than a few dozen characters.
MAX_FORMAT_NUMBER = 200

_FIELD = re.compile(r"[^\W\d]\w*(?:\.[^\W\d]\w*|\[[^\[\]{}]+\])*")
_CONVERSIONS: dict[str, Callable[[Any], str]] = {"s": str, "r": repr, "a": ascii}
# Formatted with the builtin's own __format__, so a subclass's override never runs.
_FORMATTERS: dict[type, Callable[[Any, str], str]] = {
    str: str.__format__,
    int: int.__format__,
    float: float.__format__,
    complex: complex.__format__,
    decimal.Decimal: decimal.Decimal.__format__,
}
_ACCEPTED = "{name}, {obj.attr}, {d[key]}, {In[3]} or {Out[2]}"
_LITERAL = "Write {{ and }} for literal braces, or use --no-interpolate."


@dataclass(frozen=True)
class Placeholder:
    """One filled `{field}`: the field as written (`sales`, `In[3]`) and the value it names,
    after any conversion or format spec (which make it a string)."""

    field: str
    value: Any


def interpolate(template: str, namespace: Mapping[str, Any], render: Callable[[Any], str]) -> str:
    """Replace each `{field}` with `render(value)`; literal text passes through untouched.

    A conversion or format spec is applied first, and its text then goes through `render`
    too (which keeps it within the value budget).

    Raises
    ------
    PromptTemplateError
        For unbalanced braces, an empty or malformed placeholder, a missing variable, a
        failed lookup, or a conversion or format spec that is not accepted.

    >>> interpolate("x is {x}, braces {{ok}}", {"x": 3}, str)
    'x is 3, braces {ok}'
    >>> interpolate("{In[1]}", {"In": ["", "d = {'a': 1}"]}, str)
    "d = {'a': 1}"
    >>> interpolate("loss {loss:.2f}", {"loss": 0.12345}, str)
    'loss 0.12'
    """
    return "".join(part if isinstance(part, str) else render(part.value) for part in fill(template, namespace))


def fill(template: str, namespace: Mapping[str, Any]) -> list[str | Placeholder]:
    """The template as literal text and looked-up `Placeholder`s, in order, parsed once.

    Callers decide where each value's text goes (`interpolate` splices it in place; the
    question layout moves long ones into a context block); none of them parses it again.

    Raises
    ------
    PromptTemplateError
        As `interpolate`.

    >>> fill("Plot {df} by {{month}}", {"df": [1, 2]})
    ['Plot ', Placeholder(field='df', value=[1, 2]), ' by {month}']
    """
    try:
        parsed = list(_formatter.parse(template))
    except ValueError as error:
        raise PromptTemplateError(
            f"the prompt has unbalanced braces or a malformed placeholder ({error}). {_LITERAL}"
        ) from error
    parts: list[str | Placeholder] = []
    for literal, field, spec, conversion in parsed:
        if literal:
            parts.append(literal)
        if field is None:
            continue
        if field == "":
            raise PromptTemplateError(
                "the prompt has an empty {} placeholder. Name a variable inside the braces, "
                "write {{}} for literal braces, or use --no-interpolate."
            )
        # The placeholder as written, for messages: "{x!r:>8}".
        shown = f"{{{field}{'!' + conversion if conversion else ''}{':' + spec if spec else ''}}}"
        _check_field(field, shown)
        value = _lookup(field, namespace)
        if conversion is not None:
            value = _convert(field, shown, value, conversion)
        parts.append(Placeholder(field, _format(field, shown, value, spec) if spec else value))
    return _merge_literals(parts)


def _merge_literals(parts: list[str | Placeholder]) -> list[str | Placeholder]:
    """Adjacent literal pieces as one (`string.Formatter` splits text at each `{{` and `}}`)."""
    merged: list[str | Placeholder] = []
    for part in parts:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] += part
        else:
            merged.append(part)
    return merged


def _check_field(field: str, shown: str) -> None:
    root = _root_name(field)
    if not _FIELD.fullmatch(field):
        raise PromptTemplateError(
            f"the prompt's {shown} is not a placeholder coassist can fill: use {_ACCEPTED}; "
            f"nothing in braces is evaluated (no calls or expressions). {_LITERAL}",
            name=root,
        )
    if any(part.startswith("_") for part in re.findall(r"\.(\w+)", field)):
        raise PromptTemplateError(
            f"the prompt's {shown} reads an attribute starting with '_', which is not interpolated; "
            f"use a public attribute or put the value in a variable first. {_LITERAL}",
            name=root,
        )


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
    except Exception as error:  # a property or __getitem__ of the user's may raise anything
        raise PromptTemplateError(
            f"the prompt's {{{field}}} cannot be looked up: {type(error).__name__}: {error}", name=root
        ) from error
    return value


def _convert(field: str, shown: str, value: Any, conversion: str) -> str:
    convert = _CONVERSIONS.get(conversion)
    if convert is None:
        raise PromptTemplateError(
            f"the prompt's {shown} has an unknown conversion !{conversion}; "
            f"use !s, !r or !a, or none. {_LITERAL}",
            name=_root_name(field),
        )
    try:
        return convert(value)
    except Exception as error:  # the user's __repr__ or __str__
        raise PromptTemplateError(
            f"the prompt's {shown} failed to convert: {type(error).__name__}: {error}",
            name=_root_name(field),
        ) from error


def _format(field: str, placeholder: str, value: Any, spec: str) -> str:
    root = _root_name(field)
    if "{" in spec or "}" in spec:
        raise PromptTemplateError(
            f"the prompt's {placeholder} nests a placeholder in its format spec, which is not supported; "
            f"write the spec out (such as :.2f or :>8) or drop it. {_LITERAL}",
            name=root,
        )
    if any(int(number) > MAX_FORMAT_NUMBER for number in re.findall(r"\d+", spec)):
        raise PromptTemplateError(
            f"the prompt's {placeholder} asks for a width or precision over {MAX_FORMAT_NUMBER}; "
            f"use a smaller number.",
            name=root,
        )
    value = _plain_number(value)
    formatter = next((f for kind, f in _FORMATTERS.items() if isinstance(value, kind)), None)
    if formatter is None:
        raise PromptTemplateError(
            f"the prompt's {placeholder} applies a format spec to a {type(value).__name__}; format specs "
            f"work on numbers and text only. Drop ':{spec}' and write {{{field}}}.",
            name=root,
        )
    try:
        return formatter(value, spec)
    except (ValueError, TypeError) as error:
        raise PromptTemplateError(
            f"the prompt's {placeholder} has a format spec that {type(value).__name__} values do not accept ({error}); "
            f"use Python's format mini-language, such as :.2f for numbers or :>8 for text.",
            name=root,
        ) from error


def _plain_number(value: Any) -> Any:
    """A numpy scalar as the Python number it holds (numpy's ints are not `int`s)."""
    if type(value).__module__ == "numpy" and hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        return value.item()
    return value


def _root_name(field: str) -> str:
    for index, char in enumerate(field):
        if char in ".[":
            return field[:index]
    return field
