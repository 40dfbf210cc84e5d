"""Turn a Python value into prompt text that fits a token budget.

A DataFrame pasted whole would swamp a 135M model's context and leak data nobody asked to
share, so tables are described by their schema (shape, dtypes, null counts); sample rows
are added only when asked for.
"""

from __future__ import annotations

from typing import Any

# Prompt budgets are in tokens but we cut text before tokenising; four characters a token
# is a safe average for English, code and numbers with these tokenizers.
CHARS_PER_TOKEN = 4


def describe_value(value: Any, budget_tokens: int, sample_rows: int = 0) -> str:
    """Prompt text for `value`: a schema for pandas objects, `str()` otherwise, cut to budget.

    >>> describe_value("x" * 10, budget_tokens=100)
    'xxxxxxxxxx'
    >>> describe_value("y" * 50, budget_tokens=2)
    'yyyyyyyy… [truncated 42 characters]'
    """
    text = _describe(value, sample_rows)
    return truncate(text, budget_tokens * CHARS_PER_TOKEN)


def truncate(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    return f"{text[:max_chars]}… [truncated {len(text) - max_chars} characters]"


def _describe(value: Any, sample_rows: int) -> str:
    try:
        import pandas as pd
    except ImportError:  # pandas is a dependency, but the notebook may run without it
        return str(value)
    if isinstance(value, pd.DataFrame):
        return _describe_frame(value, sample_rows)
    if isinstance(value, pd.Series):
        return _describe_series(value, sample_rows)
    return str(value)


def _describe_frame(frame: Any, sample_rows: int) -> str:
    rows, columns = frame.shape
    lines = [f"pandas DataFrame with {rows} rows and {columns} columns.", "column | dtype | nulls"]
    nulls = frame.isna().sum()
    lines += [f"{name} | {dtype} | {int(nulls[name])}" for name, dtype in frame.dtypes.items()]
    if sample_rows > 0:
        lines += [f"First {min(sample_rows, rows)} rows:", frame.head(sample_rows).to_string()]
    return "\n".join(lines)


def _describe_series(series: Any, sample_rows: int) -> str:
    name = series.name if series.name is not None else "(unnamed)"
    lines = [
        f"pandas Series {name!s} with {len(series)} values, dtype {series.dtype}, "
        f"{int(series.isna().sum())} nulls."
    ]
    if sample_rows > 0:
        lines += [f"First {min(sample_rows, len(series))} values:", series.head(sample_rows).to_string()]
    return "\n".join(lines)
