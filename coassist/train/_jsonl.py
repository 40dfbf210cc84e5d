"""Read a JSONL file of objects, naming the file and line of anything malformed."""

from __future__ import annotations

import codecs
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
        The file is missing, empty or not UTF-8 text, a line is blank or not JSON, or a line is
        not an object.
    """
    path = Path(path)
    if path.is_dir():
        raise InvalidTrainingData(
            f"{path} is a directory, not a training file; pass the path of a .jsonl file", str(path)
        )
    if not path.is_file():
        raise InvalidTrainingData(f"no training file at {path}; pass the path of a .jsonl file", str(path))
    data = path.read_bytes().removeprefix(codecs.BOM_UTF8)  # a Windows editor's mark, not content
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        bad_line = data[: error.start].count(b"\n") + 1
        raise InvalidTrainingData(
            f"{path} line {bad_line} is not UTF-8 text (byte {data[error.start]:#04x}); save the file as UTF-8 JSONL",
            str(path),
            bad_line,
        ) from None
    # Only "\n" ends a record: splitlines() would also split at U+2028 or \x0c, which JSON
    # strings may hold raw.
    lines = [line.removesuffix("\r") for line in text.rstrip().split("\n")] if text.strip() else []
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
