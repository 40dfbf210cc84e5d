"""Turn a Python value into prompt text that fits a token budget.

A DataFrame pasted whole would swamp a 135M model's context and leak data nobody asked to
share, so tables are described by their schema (shape, dtypes, missing values); sample rows
are added only when asked for.

The schema is written as plain sentences and a list, not as a table: a small model asked
"which columns have missing values?" cannot infer "none" from a row that ends in `| 0`, so
the description says outright which columns have missing values and which have none. For the
same reason it gives the facts a model cannot compute but can read: each column's range and
mean or distinct count, and the duplicate rows (`ContextOptions.statistics`).
"""

from __future__ import annotations

from typing import Any

# Prompt budgets are in tokens but we cut text before tokenising; four characters a token
# is a safe average for English, code and numbers with these tokenizers.
CHARS_PER_TOKEN = 4


def describe_value(value: Any, budget_tokens: int, sample_rows: int = 0, statistics: bool = True) -> str:
    """Prompt text for `value`: a description for pandas objects, `str()` otherwise, cut to budget.

    `statistics` adds each column's range and mean, or distinct count, and the duplicate rows.

    >>> describe_value("x" * 10, budget_tokens=100)
    'xxxxxxxxxx'
    >>> describe_value("y" * 50, budget_tokens=2)
    'yyyyyyyy… [truncated 42 characters]'
    """
    text = _describe(value, sample_rows, statistics)
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


def _describe(value: Any, sample_rows: int, statistics: bool) -> str:
    if not is_pandas(value):
        return str(value)
    import pandas as pd

    if isinstance(value, pd.DataFrame):
        return _describe_frame(value, sample_rows, statistics)
    return _describe_series(value, sample_rows, statistics)


def _describe_frame(frame: Any, sample_rows: int, statistics: bool) -> str:
    """Shape and the summary lines first, then each column's facts.

    The summary lines answer the commonest questions outright (which columns have missing
    values, most first, and which have none; which are numeric; how many rows are duplicates),
    and come before the per-column list so that budget truncation of a wide table cuts the
    list, not them.

    >>> import pandas as pd
    >>> print(_describe_frame(pd.DataFrame({"a": [1, 2, 2], "b": ["x", None, None]}), 0, True))
    pandas DataFrame with 3 rows and 2 columns.
    Columns with missing values (most first): b (2).
    Columns with no missing values: a.
    Numeric columns: a.
    Duplicate rows: 1.
    Columns (dtype, missing values, values):
    - a: int64, no missing values, min 1, max 2, mean 1.67
    - b: str, 2 missing values, 1 distinct value
    """
    import pandas as pd

    rows, columns = frame.shape
    nulls = {str(name): int(count) for name, count in frame.isna().sum().items()}
    missing = sorted((name for name, count in nulls.items() if count), key=lambda name: -nulls[name])
    complete = [name for name, count in nulls.items() if not count]
    numeric = [str(name) for name, column in frame.items() if _is_number(column)]
    lines = [
        f"pandas DataFrame with {plural(rows, 'row')} and {plural(columns, 'column')}.",
        "Columns with missing values (most first): "
        + (", ".join(f"{name} ({nulls[name]})" for name in missing) if missing else "none")
        + ".",
        f"Columns with no missing values: {', '.join(complete) if complete else 'none'}.",
        f"Numeric columns: {', '.join(numeric) if numeric else 'none'}.",
    ]
    if statistics:
        try:
            duplicates = int(frame.duplicated().sum())
        except TypeError:  # unhashable cells (lists, dicts) have no duplicates to count
            duplicates = None
        if duplicates is not None:
            lines.append(f"Duplicate rows: {duplicates}.")
    lines.append("Columns (dtype, missing values, values):" if statistics else "Columns (dtype, missing values):")
    for name, column in frame.items():
        facts = [str(column.dtype), _missing(nulls[str(name)])]
        if statistics:
            facts += _column_statistics(column)
        lines.append(f"- {name}: {', '.join(facts)}")
    if sample_rows > 0:
        with pd.option_context("display.width", 200):
            lines += [f"First {min(sample_rows, rows)} rows:", frame.head(sample_rows).to_string()]
    return "\n".join(lines)


def _describe_series(series: Any, sample_rows: int, statistics: bool) -> str:
    name = series.name if series.name is not None else "(unnamed)"
    facts = [f"dtype {series.dtype}", _missing(int(series.isna().sum()))]
    if statistics:
        facts += _column_statistics(series)
    lines = [f"pandas Series {name!s} with {plural(len(series), 'value')}, {', '.join(facts)}."]
    if sample_rows > 0:
        lines += [f"First {min(sample_rows, len(series))} values:", series.head(sample_rows).to_string()]
    return "\n".join(lines)


def _is_number(column: Any) -> bool:
    """Numbers a mean means something for: not booleans, which pandas also calls numeric."""
    from pandas.api import types

    return types.is_numeric_dtype(column.dtype) and not types.is_bool_dtype(column.dtype)


def _column_statistics(column: Any) -> list[str]:
    """The column's range and mean (numbers), its range (dates) or its distinct values (anything
    else); nothing for an empty column or one whose values cannot be compared."""
    from pandas.api import types

    values = column.dropna()
    if values.empty:
        return []
    if _is_number(column):
        return [f"min {format_number(values.min())}", f"max {format_number(values.max())}", f"mean {format_number(values.mean())}"]
    if types.is_datetime64_any_dtype(column.dtype):
        return [f"from {_moment(values.min())} to {_moment(values.max())}"]
    try:
        distinct = int(values.nunique())
    except TypeError:  # unhashable values (lists, dicts)
        return []
    return [plural(distinct, "distinct value")]


def _moment(timestamp: Any) -> str:
    """A timestamp as a date when it falls on midnight (dates stored as datetimes), else whole."""
    return str(timestamp.date()) if timestamp == timestamp.normalize() else str(timestamp)


def format_number(value: Any) -> str:
    """A number as a person writes it: whole numbers without a point, others to 2 decimals
    (3 significant digits below 1), never in exponent notation above 1.

    >>> [format_number(v) for v in (7, 7.0, 1006.5, 2.0857, 0.03333, -12.345, 1e9)]
    ['7', '7', '1006.5', '2.09', '0.0333', '-12.35', '1000000000']
    """
    number = float(value)
    if number.is_integer():
        return str(int(number))
    if abs(number) >= 1:
        return f"{number:.2f}".rstrip("0").rstrip(".")
    return f"{number:.3g}"


def plural(count: int, noun: str) -> str:
    """``1 row``, ``12 rows``.

    >>> plural(1, "row"), plural(0, "column")
    ('1 row', '0 columns')
    """
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _missing(count: int) -> str:
    return "no missing values" if count == 0 else plural(count, "missing value")
