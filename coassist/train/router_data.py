"""Router labels: which subtasks' AI drafts passed review, from JSONL or a DataFrame.

One example per decided draft: ``{"text": ..., "label": 0 | 1, "skill": ...}`` (`skill`
optional), as `coassist.review.export_router_labels` writes them. Label 1 means the draft was
approved unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from coassist.errors import InvalidTrainingData
from coassist.train._jsonl import read_jsonl


@dataclass(frozen=True)
class RouterExample:
    text: str
    label: int
    """1: the AI's draft passed review; 0: it was edited or rejected."""
    skill: str | None = None


def read_router_labels(source: str | Path | pd.DataFrame) -> list[RouterExample]:
    """Validated examples from a JSONL path or a DataFrame with `text`, `label` (and `skill`).

    >>> [e.label for e in read_router_labels(pd.DataFrame({"text": ["a", "b"], "label": [1, 0]}))]
    [1, 0]

    Raises
    ------
    InvalidTrainingData
        Naming the line (JSONL) or row (DataFrame): missing or empty text, or a label that is
        not 0/1.
    """
    if isinstance(source, pd.DataFrame):
        missing = {"text", "label"} - set(source.columns)
        if missing:
            raise InvalidTrainingData(
                f"the labels table lacks column(s) {sorted(missing)}; it needs 'text' and 'label' (0 or 1)"
            )
        records = [(index, row) for index, row in zip(source.index, source.to_dict("records"), strict=True)]
        return [
            _example(record, f"row {index!r} of the labels table", None, None) for index, record in records
        ]
    return [
        _example(record, f"{source} line {line}", str(source), line) for line, record in read_jsonl(source)
    ]


def _example(record: dict[str, Any], where: str, source: str | None, line: int | None) -> RouterExample:
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        raise InvalidTrainingData(
            f'{where} has no "text"; give the subtask text as a non-empty string', source, line
        )
    label = record.get("label")
    # bool is an int subclass, and True/False are fine labels; 1.0 from a float column too.
    if isinstance(label, (int, float)) and label in (0, 1):
        label = int(label)
    else:
        raise InvalidTrainingData(
            f"{where} has label {label!r}; it must be 1 (the draft passed review) or 0 (edited or rejected)",
            source,
            line,
        )
    skill = record.get("skill")
    skill = skill.strip() if isinstance(skill, str) and skill.strip() else None
    return RouterExample(text, label, skill)
