"""Questions about random DataFrames, answered with facts pandas computes.

Each example is a table drawn from `vocabulary` (shapes, dtypes, missing values, duplicates and
value ranges vary), a question in a `%%assist` cell that interpolates it, built into messages by
the product's own prompt builder, and a short answer whose every number and name was computed
from the frame: the answer the description in the prompt supports, and nothing else.
How-to questions are answered with code that is run on the frame before it is kept.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from coassist.prompt import ContextOptions, Conversation, build_question, first_turn
from coassist.prompt.describe import format_number, plural
from coassist.train.curriculum.example import Example, chat_example
from coassist.train.curriculum.vocabulary import DOMAINS, GENERIC_VARIABLES, ColumnSpec


@dataclass
class Table:
    """A drawn table and the name the notebook gives it."""

    name: str
    frame: pd.DataFrame


def draw_table(rng: random.Random) -> Table:
    """A table of 3 to 7 columns of one domain and 4 to 30 rows, with missing values in up to
    three columns and, one time in four, duplicated rows."""
    domain = DOMAINS[rng.choice(sorted(DOMAINS))]
    name = rng.choice(domain.variables + GENERIC_VARIABLES)
    count = rng.randint(3, min(7, len(domain.columns)))
    chosen = rng.sample(domain.columns, count)
    specs = [spec for spec in domain.columns if spec in chosen]  # in the domain's order
    if not any(spec.kind in ("int", "float") for spec in specs):
        specs.append(next(spec for spec in domain.columns if spec.kind in ("int", "float")))
    rows = rng.randint(4, 30)
    seed = rng.randrange(2**32)
    columns = {spec.name: pd.Series(_values(spec, rows, np.random.default_rng(seed + i))) for i, spec in enumerate(specs)}
    for column in rng.sample(sorted(columns), min(len(columns), rng.choice([0, 1, 1, 2, 2, 3]))):
        holes = np.zeros(rows, dtype=bool)
        holes[rng.sample(range(rows), rng.randint(1, max(1, rows // 3)))] = True
        columns[column] = columns[column].where(~holes)  # upcasts as pandas does: ints to floats
    frame = pd.DataFrame(columns)
    if rng.random() < 0.25:
        extra = frame.iloc[rng.sample(range(rows), rng.randint(1, 3))]
        frame = pd.concat([frame, extra]).sample(frac=1.0, random_state=seed % 1000).reset_index(drop=True)
    return Table(name, frame)


def _values(spec: ColumnSpec, rows: int, rng: np.random.Generator) -> list | pd.Series:
    if spec.kind == "code":
        numbers = rng.choice(np.arange(1, 10_000), size=rows, replace=False)
        return [f"{spec.prefix}{number:04d}" for number in numbers]
    if spec.kind == "category":
        return [str(label) for label in rng.choice(spec.labels, size=rows)]
    if spec.kind == "int":
        return rng.integers(int(spec.low), int(spec.high) + 1, size=rows).tolist()
    if spec.kind == "float":
        return np.round(rng.uniform(spec.low, spec.high, size=rows), spec.decimals).tolist()
    if spec.kind == "bool":
        return rng.random(rows) < 0.4
    days = np.sort(rng.choice(np.arange(0, 400), size=rows, replace=rows > 400))
    return pd.to_datetime(spec.start) + pd.to_timedelta(days, unit="D")


# --- facts ----------------------------------------------------------------------------------


def _names(columns: list[str]) -> str:
    quoted = [f"`{name}`" for name in columns]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def _missing(frame: pd.DataFrame) -> dict[str, int]:
    """Columns with missing values and how many, most first (as the description lists them)."""
    counts = {str(name): int(count) for name, count in frame.isna().sum().items() if count}
    return dict(sorted(counts.items(), key=lambda item: -item[1]))


def _numeric(frame: pd.DataFrame) -> list[str]:
    return [
        str(name)
        for name, column in frame.items()
        if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype)
    ]


def _with_counts(missing: dict[str, int]) -> str:
    """```a` (3) and `b` (1)``: each column with its count."""
    parts = [f"`{name}` ({count})" for name, count in missing.items()]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


Question = tuple[str, str]
"""A question template (``{t}`` is the table) and its answer (``{t}`` likewise)."""


def _missing_columns(rng: random.Random, table: Table) -> Question:
    missing = _missing(table.frame)
    template = rng.choice(
        [
            "Which columns in {t} contain gaps?",
            "{t}\nwhere are the NaNs? which fields",
            "does {t} have nulls anywhere? name the columns",
            "Looking at {t}, which variables have empty entries?",
            "List every column of {t} that has at least one null.",
            "Which fields of {t} are incomplete?",
            "I loaded {t}. Are any values missing, and in which columns?",
            "{t} -- which columns have NaN values and how many in each?",
            "Check {t} for missing data: which columns are affected, with counts?",
        ]
    )
    if not missing:
        return template, rng.choice(["No column of `{t}` has missing values.", "None: `{t}` has no missing values."])
    verb = "has" if len(missing) == 1 else "have"
    return template, rng.choice(
        [
            f"{_with_counts(missing)} {verb} missing values.",
            f"Missing values are in {_with_counts(missing)}.",
            f"{plural(len(missing), 'column')} {verb} missing values: {_with_counts(missing)}.",
        ]
    )


def _complete_columns(rng: random.Random, table: Table) -> Question | None:
    missing = _missing(table.frame)
    complete = [str(name) for name in table.frame.columns if str(name) not in missing]
    if not complete:
        return None
    template = rng.choice(
        [
            "Which columns of {t} are fully filled in?",
            "{t}\nwhich fields have no nulls at all?",
            "In {t}, which columns can I use without handling NaNs?",
        ]
    )
    return template, f"{_names(complete)} {'has' if len(complete) == 1 else 'have'} no missing values."


def _missing_in_column(rng: random.Random, table: Table) -> Question:
    column = rng.choice([str(name) for name in table.frame.columns])
    count = int(table.frame[column].isna().sum())
    template = rng.choice(
        [
            f"How many NaNs are in the {column} column of {{t}}?",
            f"{{t}}\nhow many {column} values are missing?",
            f"Count the empty {column} entries in {{t}}.",
            f"In {{t}}, how many rows lack a {column}?",
        ]
    )
    return template, rng.choice(
        [f"`{column}` has {plural(count, 'missing value')}.", f"{count} of the `{column}` values are missing."]
    )


def _most_missing(rng: random.Random, table: Table) -> Question | None:
    missing = _missing(table.frame)
    counts = list(missing.values())
    if not counts or (len(counts) > 1 and counts[0] == counts[1]):
        return None  # no gaps, or a tie: the question has no one answer
    column, count = next(iter(missing.items()))
    template = rng.choice(
        [
            "In {t}, which column has the largest number of NaNs?",
            "{t}\nwhich field is the least complete?",
            "Which column of {t} is missing the most values?",
        ]
    )
    return template, f"`{column}` has the most missing values ({count})."


def _row_count(rng: random.Random, table: Table) -> Question:
    rows = len(table.frame)
    template = rng.choice(
        [
            "How many records are in {t}?",
            "{t}\nhow long is this table?",
            "What is the number of rows of {t}?",
            "how many entries does {t} hold",
        ]
    )
    return template, rng.choice([f"`{{t}}` has {plural(rows, 'row')}.", f"There are {plural(rows, 'row')} in `{{t}}`."])


def _column_count(rng: random.Random, table: Table) -> Question:
    columns = table.frame.shape[1]
    template = rng.choice(["How many fields does {t} have?", "{t}\nnumber of columns?", "How wide is {t}, in columns?"])
    return template, f"`{{t}}` has {plural(columns, 'column')}."


def _shape(rng: random.Random, table: Table) -> Question:
    rows, columns = table.frame.shape
    template = rng.choice(["What shape is {t}?", "{t}\nrows and columns?", "Give me the dimensions of {t}."])
    return template, f"`{{t}}` has {plural(rows, 'row')} and {plural(columns, 'column')}."


def _dtype(rng: random.Random, table: Table) -> Question:
    column = rng.choice([str(name) for name in table.frame.columns])
    dtype = str(table.frame[column].dtype)
    template = rng.choice(
        [
            f"What dtype does {column} have in {{t}}?",
            f"{{t}}\nwhat type is stored in {column}?",
            f"Is {column} in {{t}} numeric or text? What is its dtype?",
        ]
    )
    return template, f"`{column}` has dtype `{dtype}`."


def _numeric_columns(rng: random.Random, table: Table) -> Question:
    numeric = _numeric(table.frame)
    template = rng.choice(
        [
            "Which columns of {t} hold numbers?",
            "{t}\nwhich fields could I average?",
            "List the numeric fields in {t}.",
        ]
    )
    if not numeric:
        return template, "`{t}` has no numeric columns."
    return template, f"The numeric columns are {_names(numeric)}." if len(numeric) > 1 else f"Only {_names(numeric)} is numeric."


def _extreme(rng: random.Random, table: Table) -> Question | None:
    numeric = [name for name in _numeric(table.frame) if table.frame[name].notna().any()]
    if not numeric:
        return None
    column = rng.choice(numeric)
    values = table.frame[column].dropna()
    which = rng.choice(["max", "min", "mean"])
    value = format_number({"max": values.max, "min": values.min, "mean": values.mean}[which]())
    templates = {
        "max": [f"What is the highest {column} in {{t}}?", f"{{t}}\nlargest {column}?", f"What's the maximum of {column} in {{t}}?"],
        "min": [f"What is the lowest {column} in {{t}}?", f"{{t}}\nsmallest {column} value?", f"Minimum {column} in {{t}}?"],
        "mean": [f"What is the average {column} in {{t}}?", f"{{t}}\nmean of {column}?", f"On average, what is {column} in {{t}}?"],
    }
    answers = {"max": f"The highest `{column}` is {value}.", "min": f"The lowest `{column}` is {value}.", "mean": f"The mean `{column}` is {value}."}
    return rng.choice(templates[which]), answers[which]


def _duplicates(rng: random.Random, table: Table) -> Question:
    count = int(table.frame.duplicated().sum())
    template = rng.choice(
        [
            "Does {t} contain repeated rows? How many?",
            "{t}\nany duplicated records?",
            "How many exact duplicate rows are in {t}?",
        ]
    )
    if count == 0:
        return template, "`{t}` has 0 duplicate rows."
    return template, f"`{{t}}` has {plural(count, 'duplicate row')}."


def _distinct(rng: random.Random, table: Table) -> Question | None:
    text = [str(name) for name, column in table.frame.items() if not pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_datetime64_any_dtype(column.dtype)]
    if not text:
        return None
    column = rng.choice(text)
    count = int(table.frame[column].nunique())
    template = rng.choice(
        [f"How many different {column} values appear in {{t}}?", f"{{t}}\nnumber of unique {column}?", f"How many distinct {column}s are in {{t}}?"]
    )
    return template, f"`{column}` has {plural(count, 'distinct value')}."


def _columns(rng: random.Random, table: Table) -> Question:
    columns = [str(name) for name in table.frame.columns]
    template = rng.choice(["What columns does {t} have?", "{t}\nlist the fields", "Name the columns in {t}."])
    return template, f"`{{t}}` has {plural(len(columns), 'column')}: {_names(columns)}."


FACT_QUESTIONS: dict[str, Callable[[random.Random, Table], Question | None]] = {
    "missing_columns": _missing_columns,
    "complete_columns": _complete_columns,
    "missing_in_column": _missing_in_column,
    "most_missing": _most_missing,
    "row_count": _row_count,
    "column_count": _column_count,
    "shape": _shape,
    "dtype": _dtype,
    "numeric_columns": _numeric_columns,
    "extreme": _extreme,
    "duplicates": _duplicates,
    "distinct": _distinct,
    "columns": _columns,
}
"""Each kind of fact question, by the name its examples are counted under."""


# --- how-to questions, answered with code that runs ----------------------------------------


HowTo = tuple[str, str, str]
"""A question template, the sentence that answers it, and the code (``{t}`` is the table)."""


def _how_to(rng: random.Random, table: Table) -> HowTo | None:
    frame = table.frame
    numeric = [name for name in _numeric(frame) if frame[name].notna().any()]
    # Labels to group or count by: text columns with few distinct values (not ids).
    text = [
        str(name)
        for name, column in frame.items()
        if (column.dtype == object or pd.api.types.is_string_dtype(column.dtype)) and column.nunique() <= max(2, len(frame) // 2)
    ]
    missing = list(_missing(frame))
    options: list[HowTo] = []
    if missing:
        column = rng.choice(missing)
        options.append(
            (
                f"How do I drop the rows of {{t}} where {column} is empty?",
                f"Drop the rows whose `{column}` is missing with `dropna`:",
                f'{{t}} = {{t}}.dropna(subset=["{column}"])',
            )
        )
        if column in numeric:
            how = rng.choice(["median", "mean"])
            options.append(
                (
                    f"{{t}}\nfill the gaps in {column} with its {how}",
                    f"Fill the missing `{column}` values with the column's {how}:",
                    f'{{t}}["{column}"] = {{t}}["{column}"].fillna({{t}}["{column}"].{how}())',
                )
            )
    if numeric:
        column = rng.choice(numeric)
        cut = format_number(frame[column].median())
        options += [
            (
                f"Show me the rows of {{t}} with {column} above {cut}.",
                f"Filter with a condition on `{column}`:",
                f'{{t}}[{{t}}["{column}"] > {cut}]',
            ),
            (
                f"How can I sort {{t}} by {column}, largest first?",
                f"Sort by `{column}` in descending order:",
                f'{{t}}.sort_values("{column}", ascending=False)',
            ),
        ]
        if text:
            key = rng.choice(text)
            how = rng.choice(["sum", "mean", "max"])
            options.append(
                (
                    f"What is the {dict(sum='total', mean='average', max='largest')[how]} {column} for each {key} in {{t}}?",
                    f"Group by `{key}` and take the {how} of `{column}`:",
                    f'{{t}}.groupby("{key}")["{column}"].{how}()',
                )
            )
    if text:
        key = rng.choice(text)
        options.append(
            (
                f"How many rows of {{t}} are there per {key}?",
                f"Count the rows per `{key}` with `value_counts`:",
                f'{{t}}["{key}"].value_counts()',
            )
        )
    if len(frame.columns) >= 3:
        kept = rng.sample([str(name) for name in frame.columns], 2)
        options.append(
            (
                f"{{t}}\nkeep only the {kept[0]} and {kept[1]} columns",
                "Select the two columns with a list:",
                f'{{t}}[["{kept[0]}", "{kept[1]}"]]',
            )
        )
    if int(frame.duplicated().sum()):
        options.append(("Remove the repeated rows from {t}.", "Drop the exact duplicates:", "{t} = {t}.drop_duplicates()"))
    return rng.choice(options) if options else None


def _runs(code: str, table: Table) -> bool:
    """Whether the answer's code runs on (a copy of) the table: checked before it is kept."""
    namespace = {"pd": pd, table.name: table.frame.copy()}
    try:
        exec(compile(code.replace("{t}", table.name), "<curriculum>", "exec"), namespace)  # noqa: S102 - our own code
    except Exception:
        return False
    return True


# --- examples -------------------------------------------------------------------------------


def table_examples(rng: random.Random, count: int, system_prompt: str) -> list[Example]:
    """`count` examples: fact questions, how-to questions (a fifth), and follow-ups that ask a
    second fact about the table of the exchange before (a tenth)."""
    examples: list[Example] = []
    while len(examples) < count:
        table = draw_table(rng)
        roll = rng.random()
        if roll < 0.2:
            example = _how_to_example(rng, table, system_prompt)
        elif roll < 0.3:
            example = _follow_up_example(rng, table, system_prompt)
        else:
            example = _fact_example(rng, table, system_prompt)
        if example is not None:
            examples.append(example)
    return examples


def _ask(rng: random.Random, table: Table, template: str) -> str:
    """The question as `%%assist` builds it, now and then with sample rows (`--sample-rows`)."""
    rows = rng.choice([0, 0, 0, 0, 3, 5]) if len(table.frame) > 5 else 0
    template = template.replace("{t}", "{" + table.name + "}")
    return build_question(template, {table.name: table.frame}, ContextOptions(sample_rows=rows))


def _fact_example(rng: random.Random, table: Table, system_prompt: str) -> Example | None:
    kind = rng.choice(sorted(FACT_QUESTIONS))
    question = FACT_QUESTIONS[kind](rng, table)
    if question is None:
        return None
    template, answer = question
    return chat_example(
        f"table/{kind}",
        first_turn(_ask(rng, table, template), system_prompt),
        answer.replace("{t}", table.name),
        template.replace("{t}", table.name),
    )


def _how_to_example(rng: random.Random, table: Table, system_prompt: str) -> Example | None:
    how_to = _how_to(rng, table)
    if how_to is None or not _runs(how_to[2], table):
        return None
    template, sentence, code = how_to
    answer = f"{sentence}\n```python\n{code}\n```".replace("{t}", table.name)
    return chat_example(
        "table/how_to",
        first_turn(_ask(rng, table, template), system_prompt),
        answer,
        template.replace("{t}", table.name),
    )


def _follow_up_example(rng: random.Random, table: Table, system_prompt: str) -> Example | None:
    """A fact question, its answer in the history, then a second question that names the table
    without interpolating it again: the facts are in the history."""
    first, second = rng.sample(sorted(FACT_QUESTIONS), 2)
    asked = FACT_QUESTIONS[first](rng, table)
    follow = FACT_QUESTIONS[second](rng, table)
    if asked is None or follow is None:
        return None
    history = Conversation(system_prompt)
    history.record(_ask(rng, table, asked[0]), asked[1].replace("{t}", table.name), "curriculum")
    wording = follow[0].removeprefix("{t}\n").replace("{t}", "`" + table.name + "`")
    lead = rng.choice(["And ", "Also, ", "Next, ", ""])
    follow_up = lead + (wording[0].lower() + wording[1:] if lead else wording)
    messages = history.messages_for(follow_up, 10**6, lambda messages: 0, with_history=True)
    return chat_example("table/follow_up", messages, follow[1].replace("{t}", table.name), follow_up)
