"""Turn a Python value into prompt text that fits a token budget.

A DataFrame pasted whole would swamp a 135M model's context and leak data nobody asked to
share, so tables are described by their schema (shape, dtypes, missing values); sample rows
are added only when asked for.

The schema is written as plain sentences and a list, not as a table: a small model asked
"which columns have missing values?" cannot infer "none" from a row that ends in `| 0`, so
the description says outright which columns have missing values and which have none.
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


def is_pandas(value: Any) -> bool:
    """True for a DataFrame or Series, whose prompt text is a description rather than the value."""
    try:
        import pandas as pd
    except ImportError:  # pandas is a dependency, but the notebook may run without it
        return False
    return isinstance(value, (pd.DataFrame, pd.Series))


def _describe(value: Any, sample_rows: int) -> str:
    if not is_pandas(value):
        return str(value)
    import pandas as pd

    if isinstance(value, pd.DataFrame):
        return _describe_frame(value, sample_rows)
    return _describe_series(value, sample_rows)


def _describe_frame(frame: Any, sample_rows: int) -> str:
    """Shape, which columns have missing values and which have none, then each column's facts.

    The two summary lines come before the per-column list so that budget truncation of a wide
    table cuts the list, not the answer to the commonest question.
    """
    rows, columns = frame.shape
    nulls = {str(name): int(count) for name, count in frame.isna().sum().items()}
    missing = [name for name, count in nulls.items() if count]
    complete = [name for name, count in nulls.items() if not count]
    lines = [
        f"pandas DataFrame with {rows} rows and {columns} columns.",
        f"Columns with missing values: {', '.join(missing) if missing else 'none'}.",
        f"Columns with no missing values: {', '.join(complete) if complete else 'none'}.",
        "Columns (dtype, missing values):",
    ]
    lines += [f"- {name}: {dtype}, {_missing(nulls[str(name)])}" for name, dtype in frame.dtypes.items()]
    if sample_rows > 0:
        lines += [f"First {min(sample_rows, rows)} rows:", frame.head(sample_rows).to_string()]
    return "\n".join(lines)


def _describe_series(series: Any, sample_rows: int) -> str:
    name = series.name if series.name is not None else "(unnamed)"
    lines = [
        f"pandas Series {name!s} with {len(series)} values, dtype {series.dtype}, "
        f"{_missing(int(series.isna().sum()))}."
    ]
    if sample_rows > 0:
        lines += [f"First {min(sample_rows, len(series))} values:", series.head(sample_rows).to_string()]
    return "\n".join(lines)


def _missing(count: int) -> str:
    return "no missing values" if count == 0 else f"{count} missing value{'s' if count > 1 else ''}"
