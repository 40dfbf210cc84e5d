"""Read a JSONL file of objects, naming the file and line of anything malformed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from coassist.errors import InvalidTrainingData


def read_jsonl(path: str | Path) -> list[tuple[int, dict[str, Any]]]:
    """Every record of a JSONL file with its 1-based line number (for later error messages).

    Trailing blank lines are ignored (editors add them); a blank line between records is an
    error, because it usually means a record was lost when the file was edited by hand.

    Raises
    ------
    InvalidTrainingData
        The file is missing or empty, a line is blank or not JSON, or a line is not an object.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidTrainingData(f"no training file at {path}; pass the path of a .jsonl file", str(path))
    lines = path.read_text(encoding="utf-8").rstrip().splitlines()
    if not lines:
        raise InvalidTrainingData(f"{path} is empty; it needs one JSON object per line", str(path))
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            raise InvalidTrainingData(
                f"{path} line {number} is empty; remove it or put a JSON object there", str(path), number
            )
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise InvalidTrainingData(
                f"{path} line {number} is not valid JSON ({error.msg} at column {error.colno}): {line[:80]!r}",
                str(path),
                number,
            ) from None
        if not isinstance(record, dict):
            raise InvalidTrainingData(
                f"{path} line {number} is a JSON {type(record).__name__}, not an object {{...}}",
                str(path),
                number,
            )
        records.append((number, record))
    return records
