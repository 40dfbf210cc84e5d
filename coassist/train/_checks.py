"""The rules for training settings: one function per kind of value, shared by both configs.

Each raises `InvalidTrainingConfig` naming the config field; the CLI turns the field into its
flag (``learning_rate`` -> ``--lr``), so a rule and its message are written once.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from coassist.errors import InvalidTrainingConfig


def whole(name: str, value: Any, minimum: int) -> None:
    """An int (not a bool, not 2.0) of at least `minimum`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidTrainingConfig(f"{name} must be a whole number, got {value!r}", name)
    if value < minimum:
        wanted = {0: "zero or more", 1: "positive"}.get(minimum, f"at least {minimum}")
        raise InvalidTrainingConfig(f"{name} must be {wanted}, got {value!r}", name)


def positive_number(name: str, value: Any) -> None:
    """A finite number above zero (NaN and infinity are refused: they train nothing)."""
    if not _finite(value) or value <= 0:
        raise InvalidTrainingConfig(f"{name} must be a positive, finite number, got {value!r}", name)


def non_negative_number(name: str, value: Any) -> None:
    if not _finite(value) or value < 0:
        raise InvalidTrainingConfig(f"{name} must be zero or more (and finite), got {value!r}", name)


def fraction(name: str, value: Any, zero_allowed: bool = False) -> None:
    """A share strictly below 1: in (0, 1), or [0, 1) when `zero_allowed`."""
    low_ok = _finite(value) and (value >= 0 if zero_allowed else value > 0)
    if not (low_ok and value < 1):
        interval = "[0, 1)" if zero_allowed else "(0, 1)"
        raise InvalidTrainingConfig(f"{name} must be in {interval}, got {value!r}", name)


def non_blank(name: str, value: Any, wanted: str) -> None:
    """A string with something in it (a name, a spec, a path); `wanted` says which, for the message."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidTrainingConfig(f"{name} must be {wanted}, got {value!r}", name)


def output_dir(name: str, path: Path) -> None:
    """A directory to write into: absent (it is created) or a directory, never a file, and not
    the current directory or one above it (the finished output replaces the whole directory)."""
    if path.exists() and not path.is_dir():
        raise InvalidTrainingConfig(
            f"{name} {path} is a file, not a directory; pass a directory path (a new one is created)", name
        )
    here = Path.cwd().resolve()
    if path.resolve() in (here, *here.parents):
        raise InvalidTrainingConfig(
            f"{name} {path} is the current directory or holds it, and the output replaces the whole "
            "directory; pass a subdirectory such as adapters/team-v1",
            name,
        )


def output_file(name: str, path: Path) -> None:
    """A file to write: absent or a file, never a directory (its folder is created)."""
    if path.is_dir():
        raise InvalidTrainingConfig(f"{name} {path} is a directory; pass a file path such as data/curriculum.jsonl", name)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
