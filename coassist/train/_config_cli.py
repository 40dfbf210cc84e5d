"""Command-line options generated from a config dataclass's fields, so each option is written once.

Every field becomes one option (peft's pattern: the help lives beside the field, in
``field(default=..., metadata={"help": ...})``):

* the flag is ``--`` + the field name with dashes, or ``metadata["flag"]`` (``--lr``);
  a bool that defaults to True is turned off by ``--no-`` + the name;
* the default is the field's; a field without one is a required option, and so is one whose
  ``metadata["required"]`` is true (a Python default that makes no sense on a command line);
* the type comes from the annotation: ``int``, ``float``, ``str``; a `Path` stays the string
  typed (the config's ``__post_init__`` normalises it, and refuses what it must); a
  ``tuple[str, ...]`` is typed comma-separated. ``X | None`` is read as ``X``.

Values are checked by the config itself, so the CLI and the Python API refuse the same input
with the same message; `flags` gives the option each field is typed as, to name it in errors.

>>> from dataclasses import dataclass, field
>>> @dataclass
... class Demo:
...     data: Path = field(metadata={"help": "input file"})
...     learning_rate: float = field(default=1e-3, metadata={"flag": "--lr", "help": "step size"})
...     layers: tuple[str, ...] = field(default=("q", "v"), metadata={"help": "layer names"})
...     progress: bool = field(default=True, metadata={"help": "show a progress bar"})
>>> parser = argparse.ArgumentParser()
>>> add_options(parser, Demo)
>>> config_from(Demo, parser.parse_args(["--data", "x.jsonl", "--layers", "a, b", "--no-progress"]))
Demo(data='x.jsonl', learning_rate=0.001, layers=('a', 'b'), progress=False)
>>> flags(Demo)
{'data': '--data', 'learning_rate': '--lr', 'layers': '--layers', 'progress': '--no-progress'}
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any


def add_options(parser: argparse.ArgumentParser, config_class: type) -> None:
    """Add one option per field of the dataclass `config_class` to `parser` (``dest``: the field name).

    Raises
    ------
    TypeError
        A field has no ``metadata["help"]``, or a type with no command-line form.
    """
    hints = typing.get_type_hints(config_class)
    for spec in dataclasses.fields(config_class):
        parser.add_argument(_flag(spec), dest=spec.name, **_settings(spec, hints[spec.name]))


def config_from(config_class: type, args: argparse.Namespace) -> Any:
    """Build `config_class` from parsed options (its ``__post_init__`` validates them)."""
    return config_class(**{spec.name: getattr(args, spec.name) for spec in dataclasses.fields(config_class)})


def flags(config_class: type) -> dict[str, str]:
    """Each field's option as typed on the command line (``learning_rate`` -> ``--lr``)."""
    return {spec.name: _flag(spec) for spec in dataclasses.fields(config_class)}


def _flag(spec: dataclasses.Field[Any]) -> str:
    if "flag" in spec.metadata:
        return str(spec.metadata["flag"])
    prefix = "--no-" if spec.default is True else "--"
    return prefix + spec.name.replace("_", "-")


def _settings(spec: dataclasses.Field[Any], hint: Any) -> dict[str, Any]:
    """`add_argument`'s keywords for one field."""
    if "help" not in spec.metadata:
        raise TypeError(f"field {spec.name!r} has no metadata['help'] to show on the command line")
    text = str(spec.metadata["help"]).replace("%", "%%")  # argparse %-formats help strings
    if hint is bool:
        if spec.default is True:
            return {"action": "store_false", "help": "do not " + text}
        return {"action": "store_true", "help": text}
    settings: dict[str, Any] = {
        "type": _parse_as(spec.name, hint),
        "metavar": _flag(spec).removeprefix("--").upper().replace("-", "_"),
        "help": text,
    }
    if spec.default is dataclasses.MISSING or spec.metadata.get("required", False):
        settings["required"] = True
    else:
        # A tuple is shown and parsed as typed; argparse runs `type` on a string default.
        settings["default"] = ",".join(spec.default) if isinstance(spec.default, tuple) else spec.default
        if spec.default is not None:
            settings["help"] += " (default: %(default)s)"
    return settings


def _parse_as(name: str, hint: Any) -> Callable[[str], Any]:
    """How to read the option's string for a field annotated `hint`."""
    members = [arg for arg in typing.get_args(hint) if arg is not type(None)] if _is_union(hint) else [hint]
    if Path in members:
        return str  # the config turns it into a Path, after checking it
    if len(members) == 1 and members[0] in (int, float, str):
        return typing.cast(Callable[[str], Any], members[0])
    if len(members) == 1 and typing.get_origin(members[0]) is tuple and typing.get_args(members[0])[0] is str:
        return _names
    raise TypeError(f"field {name!r} has type {hint}, which has no command-line form")


def _is_union(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType)


def _names(text: str) -> tuple[str, ...]:
    """``"q_proj, v_proj"`` -> ``("q_proj", "v_proj")``; blanks between commas are dropped."""
    return tuple(name.strip() for name in text.split(",") if name.strip())
