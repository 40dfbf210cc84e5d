"""Broken notebook cells, each raising a real exception, explained from its own facts.

A family draws a cell that fails the way notebook cells fail (a misspelt column, a method from
another language, a string where a number was meant, an index one past the end, ...), with the
earlier cells it depends on (`setup`), the corrected cell, and a check the corrected cell must
pass. `run_cells` runs them in a subprocess: each cell must raise what its family says, the
error's facts (`coassist.prompt.cell_errors`) must hold the name the fix uses, and the fixed
cell must run and pass its check. Only then is the explanation kept: the cause in a sentence
or two, then the fixed cell.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass

from coassist.prompt import CellError, error_question, first_turn
from coassist.train.curriculum.example import Example, chat_example
from coassist.train.curriculum.vocabulary import DOMAINS, GENERIC_VARIABLES, ColumnSpec


@dataclass(frozen=True)
class ErrorCase:
    """One broken cell and everything needed to check and explain it."""

    family: str
    setup: str
    """Earlier cells the failing one depends on (imports, data); run first, never shown."""
    cell: str
    raises: str
    """The exception's class name."""
    fixed: str
    check: str
    """A Python expression that must be true after `setup` and `fixed` have run."""
    cause: str
    """The explanation's first sentences: what went wrong, in the cell's own names."""
    fix_intro: str
    """The sentence before the fixed cell."""
    expect_fact: str = ""
    """Text that one of the error's facts must contain (the name the fix uses), or empty."""

    def answer(self) -> str:
        return f"{self.cause} {self.fix_intro}\n```python\n{self.fixed}\n```"


Family = Callable[[random.Random], "ErrorCase | None"]

REQUESTS = (
    "",
    "",
    "",
    "What went wrong?",
    "why does this fail?",
    "How do I fix this?",
    "Explain the error briefly and give the corrected cell.",
    "what's the problem here",
)
"""What a user adds after `%assist error` (empty: the default request)."""


# --- names ---------------------------------------------------------------------------------

_VARIABLES = (
    "result", "summary", "best", "cleaned", "share", "ratio", "level", "spread", "peak", "subtotal",
    "tally", "avg_value", "median_value", "top_row", "n_rows", "label", "message", "report", "picked",
)
"""Names a cell assigns its result to."""


def _table(rng: random.Random, rows: int = 5) -> tuple[str, list[ColumnSpec], str]:
    """A small table: its variable name, its columns, and the setup code that builds it."""
    domain = DOMAINS[rng.choice(sorted(DOMAINS))]
    name = rng.choice(domain.variables + GENERIC_VARIABLES)
    specs = [spec for spec in domain.columns if spec.kind in ("int", "float", "category")]
    specs = rng.sample(specs, min(len(specs), rng.randint(3, 5)))
    columns = {spec.name: _literal_values(rng, spec, rows) for spec in specs}
    return name, specs, f"import pandas as pd\n{name} = pd.DataFrame({columns!r})"


def _literal_values(rng: random.Random, spec: ColumnSpec, rows: int) -> list[object]:
    if spec.kind == "category":
        return [rng.choice(spec.labels) for _ in range(rows)]
    if spec.kind == "int":
        return [rng.randint(int(spec.low), int(spec.high)) for _ in range(rows)]
    return [round(rng.uniform(spec.low, spec.high), min(spec.decimals, 2)) for _ in range(rows)]


def _numeric(specs: list[ColumnSpec]) -> list[ColumnSpec]:
    return [spec for spec in specs if spec.kind in ("int", "float")]


def _typo(rng: random.Random, word: str) -> str:
    """A misspelling people make: a letter dropped, doubled or swapped, a plural, a case slip,
    an underscore lost or turned into a space."""
    edits: list[Callable[[str], str]] = [
        lambda w: w[:-1] if len(w) > 4 else w + "s",
        lambda w: w + "s" if not w.endswith("s") else w[:-1],
        lambda w: w[0].upper() + w[1:],
        lambda w: w.replace("_", "", 1) if "_" in w else w.upper(),
        lambda w: w.replace("_", " ", 1) if "_" in w else w[:2] + w[1:],
    ]
    if len(word) > 4:
        i = rng.randrange(1, len(word) - 2)
        swapped, dropped = word[:i] + word[i + 1] + word[i] + word[i + 2 :], word[:i] + word[i + 1 :]
        edits += [lambda w: swapped, lambda w: dropped]
    for _ in range(10):
        typo = rng.choice(edits)(word)
        if typo != word:
            return typo
    return word + "x"


# --- KeyError ------------------------------------------------------------------------------


def _missing_column(rng: random.Random) -> ErrorCase | None:
    name, specs, setup = _table(rng)
    numeric = _numeric(specs)
    if not numeric:
        return None
    target = rng.choice(numeric)
    good = target.name
    bad = _typo(rng, good)
    if bad in [spec.name for spec in specs]:
        return None
    variable = rng.choice(_VARIABLES)
    cells = [
        f'{variable} = {name}["{bad}"].{rng.choice(["mean", "sum", "max", "median"])}()',
        f'{name}.sort_values("{bad}")',
    ]
    others = [spec.name for spec in numeric if spec.name != good]
    if others:
        other = rng.choice(others)
        operator = rng.choice(["/", "*", "-"])
        new = f"{other}_{dict([('/', 'per'), ('*', 'times'), ('-', 'minus')])[operator]}_{good}"
        cells.append(f'{name}["{new}"] = {name}["{other}"] {operator} {name}["{bad}"]')
    cell = rng.choice(cells)
    fixed = cell.replace(f'"{bad}"', f'"{good}"')
    cause = rng.choice(
        [
            f"`{name}` has no column `{bad}`, so looking it up raises a KeyError.",
            f"The KeyError says the column `{bad}` does not exist in `{name}`.",
            f"`{bad}` is not one of `{name}`'s columns; the nearest one is `{good}`.",
        ]
    )
    intro = rng.choice([f"Use `{good}`:", f"The column is called `{good}`:", f"Spell it `{good}`:"])
    return ErrorCase("KeyError/column", setup, cell, "KeyError", fixed, "True", cause, intro, f"nearest first: {good}")


def _missing_group_key(rng: random.Random) -> ErrorCase | None:
    name, specs, setup = _table(rng)
    labels = [spec for spec in specs if spec.kind == "category"]
    numeric = _numeric(specs)
    if not labels or not numeric:
        return None
    good, value = rng.choice(labels).name, rng.choice(numeric).name
    bad = _typo(rng, good)
    how = rng.choice(["sum", "mean", "count", "max"])
    cell = f'{name}.groupby("{bad}")["{value}"].{how}()'
    fixed = f'{name}.groupby("{good}")["{value}"].{how}()'
    cause = f"`groupby` looks up the column `{bad}`, which `{name}` does not have, hence the KeyError."
    return ErrorCase("KeyError/groupby", setup, cell, "KeyError", fixed, "True", cause, f"Group by `{good}`:", f"nearest first: {good}")


_SETTINGS = (
    ("settings", {"batch_size": 32, "learning_rate": 0.01, "epochs": 5, "dropout": 0.2}),
    ("params", {"max_depth": 6, "n_estimators": 200, "min_samples": 4}),
    ("rates", {"EUR": 1.0, "USD": 1.08, "GBP": 0.86, "JPY": 161.2}),
    ("thresholds", {"warning": 70, "critical": 90, "minimum": 5}),
    ("capitals", {"Norway": "Oslo", "Kenya": "Nairobi", "Peru": "Lima", "Japan": "Tokyo"}),
    ("lookup", {"alpha": 1, "beta": 2, "gamma": 3, "delta": 4}),
    ("colours", {"background": "#ffffff", "accent": "#ff6600", "text_main": "#222222"}),
)


def _missing_dict_key(rng: random.Random) -> ErrorCase | None:
    name, mapping = rng.choice(_SETTINGS)
    good = rng.choice(sorted(mapping))
    bad = rng.choice([_typo(rng, good), good.lower() if good != good.lower() else good.capitalize()])
    if bad in mapping:
        return None
    variable = rng.choice(_VARIABLES)
    cell = f'{variable} = {name}["{bad}"]'
    fixed = f'{variable} = {name}["{good}"]'
    cause = rng.choice(
        [
            f"`{name}` has no key `{bad!r}`; dictionary keys must match exactly, case included.",
            f"The KeyError means `{name}` holds no key `{bad!r}`. Its nearest key is `{good!r}`.",
        ]
    )
    intro = rng.choice([f"Use the key `{good!r}`:", "Look up the existing key:"])
    return ErrorCase("KeyError/dict", f"{name} = {mapping!r}", cell, "KeyError", fixed, "True", cause, intro, f"nearest first: {good}")


# --- AttributeError ------------------------------------------------------------------------

_FRAME_METHODS = (
    ("sortvalues", "sort_values", '("{c}")'),
    ("sort_value", "sort_values", '("{c}")'),
    ("drop_duplicate", "drop_duplicates", "()"),
    ("fill_na", "fillna", "(0)"),
    ("isnul", "isnull", "()"),
    ("describ", "describe", "()"),
    ("haed", "head", "(3)"),
    ("groupBy", "groupby", '("{c}").size()'),
    ("reset_indx", "reset_index", "()"),
    ("todict", "to_dict", "()"),
    ("dropNa", "dropna", "()"),
    ("nuniqe", "nunique", "()"),
)
_SERIES_METHODS = (
    ("medain", "median", "()"),
    ("uniqe", "unique", "()"),
    ("value_count", "value_counts", "()"),
    ("idxmx", "idxmax", "()"),
    ("cumsumm", "cumsum", "()"),
    ("stdev", "std", "()"),
    ("astyp", "astype", "(float)"),
    ("round_", "round", "(1)"),
    ("isnulll", "isnull", "()"),
)


def _frame_method_typo(rng: random.Random) -> ErrorCase | None:
    name, specs, setup = _table(rng)
    column = rng.choice(specs).name
    on_series = rng.random() < 0.5
    bad, good, arguments = rng.choice(_SERIES_METHODS if on_series else _FRAME_METHODS)
    arguments = arguments.replace("{c}", column)
    owner = f'{name}["{column}"]' if on_series else name
    cell = f"{owner}.{bad}{arguments}"
    fixed = f"{owner}.{good}{arguments}"
    kind = "Series" if on_series else "DataFrame"
    cause = rng.choice(
        [
            f"A pandas {kind} has no method `{bad}`, so Python raises AttributeError.",
            f"`{bad}` is not a {kind} method; the one you want is `{good}`.",
        ]
    )
    intro = rng.choice([f"Call `{good}`:", f"Use `.{good}`:"])
    return ErrorCase("AttributeError/pandas", setup, cell, "AttributeError", fixed, "True", cause, intro, good)


_BUILTIN_METHODS = (
    ("str", '"{w}"', (("lowercase", "lower", "()"), ("startwith", "startswith", '("a")'), ("endwith", "endswith", '(".csv")'), ("replce", "replace", '("a", "b")'), ("splitt", "split", '(",")'), ("capitalise", "capitalize", "()"), ("titel", "title", "()"), ("isnumber", "isnumeric", "()"), ("fnd", "find", '("a")'), ("trim", "strip", "()"), ("rjustify", "rjust", "(8)"))),
    ("list", "{l}", (("apend", "append", "(7)"), ("extned", "extend", "([1, 2])"), ("insrt", "insert", "(0, 5)"), ("sorted", "sort", "()"), ("cont", "count", "(3)"), ("indx", "index", "({first})"), ("popp", "pop", "()"), ("revers", "reverse", "()"), ("coppy", "copy", "()"))),
    ("dict", "{d}", (("iteritems", "items", "()"), ("key", "keys", "()"), ("value", "values", "()"), ("itmes", "items", "()"), ("gett", "get", '("{k}")'), ("updat", "update", '({{"extra": 1}})'), ("setdefalt", "setdefault", '("new", 0)'))),
)
_WORDS = ("bergen harbour", "data.csv", "annual report", "stock level", "orbit", "quarterly_totals")
_LISTS = ("[3, 8, 1]", "[12, 5, 7, 3]", "[0.5, 2.5]", "[4, 4, 9, 1, 6]")
_DICTS = ('{"north": 3, "south": 5}', '{"small": 1, "large": 4, "medium": 2}', '{"tea": 2.5, "coffee": 3.1}')
_HOLDERS = {"str": ("title_text", "file_name", "heading", "label_text", "word"), "list": ("values", "counts", "sizes", "ranks", "items"), "dict": ("stock", "sizes_by_name", "menu", "tally_by_site")}


def _builtin_method_typo(rng: random.Random) -> ErrorCase | None:
    kind, literal, methods = rng.choice(_BUILTIN_METHODS)
    bad, good, arguments = rng.choice(methods)
    holder = rng.choice(_HOLDERS[kind])
    value = literal.format(w=rng.choice(_WORDS), l=rng.choice(_LISTS), d=rng.choice(_DICTS))
    if kind == "list":
        arguments = arguments.replace("{first}", value.strip("[]").split(",")[0])
    if kind == "dict":
        arguments = arguments.replace("{k}", value.split('"')[1]).replace("{{", "{").replace("}}", "}")
    variable = rng.choice(_VARIABLES)
    call = f"{holder}.{bad}{arguments}"
    mutates = kind in ("list", "dict") and good in ("append", "extend", "insert", "sort", "reverse", "update", "pop")
    cell = call if mutates else f"{variable} = {call}"
    fixed = cell.replace(f".{bad}(", f".{good}(")
    cause = rng.choice(
        [
            f"Python's `{kind}` has no method `{bad}`, hence the AttributeError.",
            f"`{bad}` is not a `{kind}` method; `{kind}` calls it `{good}`.",
        ]
    )
    intro = rng.choice([f"Use `{good}`:", f"Call `.{good}` instead:"])
    return ErrorCase(f"AttributeError/{kind}", f"{holder} = {value}", cell, "AttributeError", fixed, "True", cause, intro, good)


_MODULE_TYPOS = (
    ("random", "randInt", "randint", "(1, 6)"),
    ("random", "choise", "choice", '(["a", "b"])'),
    ("statistics", "mediann", "median", "([3, 1, 2])"),
    ("statistics", "stdev_", "stdev", "([3, 1, 2])"),
    ("math", "sqroot", "sqrt", "(16)"),
    ("math", "flor", "floor", "(2.7)"),
    ("math", "celi", "ceil", "(2.1)"),
    ("json", "dump_s", "dumps", '({"a": 1})'),
    ("json", "load_s", "loads", '("[1, 2]")'),
    ("os.path", "joinpath", "join", '("data", "file.csv")'),
    ("datetime.date", "form_isoformat", "fromisoformat", '("2024-05-17")'),
)


def _module_attribute_typo(rng: random.Random) -> ErrorCase | None:
    module, bad, good, arguments = rng.choice(_MODULE_TYPOS)
    top = module.split(".")[0]
    variable = rng.choice(_VARIABLES)
    cell = f"{variable} = {module}.{bad}{arguments}"
    fixed = f"{variable} = {module}.{good}{arguments}"
    cause = f"`{module}` has no function `{bad}`; the AttributeError names the misspelt attribute."
    return ErrorCase("AttributeError/module", f"import {top}", cell, "AttributeError", fixed, "True", cause, f"It is `{module}.{good}`:", good)


def _inplace_none(rng: random.Random) -> ErrorCase | None:
    name, specs, setup = _table(rng)
    column = rng.choice(specs).name
    method, arguments = rng.choice([("dropna", ""), ("sort_values", f'"{column}"'), ("reset_index", "drop=True"), ("drop_duplicates", "")])
    joined = f"{arguments}, inplace=True" if arguments else "inplace=True"
    after = rng.choice(["head()", "shape", f'["{column}"].mean()' if column in [s.name for s in _numeric(specs)] else "columns"])
    cell = f"{name} = {name}.{method}({joined})\n{name}.{after}"
    fixed = f"{name} = {name}.{method}({arguments})\n{name}.{after}"
    cause = f"With `inplace=True`, `{method}` changes `{name}` in place and returns `None`, so `{name}` became `None`."
    intro = "Drop `inplace=True` and keep the assignment:"
    return ErrorCase("AttributeError/inplace", setup, cell, "AttributeError", fixed, f"{name} is not None", cause, intro, "NoneType")


def _series_string_method(rng: random.Random) -> ErrorCase | None:
    name, specs, setup = _table(rng)
    labels = [spec for spec in specs if spec.kind == "category"]
    if not labels:
        return None
    column = rng.choice(labels).name
    method, arguments = rng.choice([("lower", "()"), ("upper", "()"), ("strip", "()"), ("startswith", '("a")'), ("contains", '("o")'), ("len", "()")])
    cell = f'{name}["{column}"].{method}{arguments}'
    fixed = f'{name}["{column}"].str.{method}{arguments}'
    cause = f"A Series has no `{method}` method: pandas puts the string methods of a column under `.str`."
    return ErrorCase("AttributeError/str-accessor", setup, cell, "AttributeError", fixed, "True", cause, "Go through `.str`:")


def _column_attribute_typo(rng: random.Random) -> ErrorCase | None:
    name, specs, setup = _table(rng)
    numeric = _numeric(specs)
    if not numeric:
        return None
    good = rng.choice(numeric).name
    bad = _typo(rng, good)
    if not bad.isidentifier() or bad in [spec.name for spec in specs]:
        return None
    how = rng.choice(["mean", "max", "sum"])
    cell = f"{name}.{bad}.{how}()"
    fixed = f'{name}["{good}"].{how}()'
    cause = f"`{name}` has no column `{bad}`, so the attribute `{name}.{bad}` does not exist."
    return ErrorCase("AttributeError/column", setup, cell, "AttributeError", fixed, "True", cause, f"The column is `{good}`; index it by name:", good)


# --- NameError -----------------------------------------------------------------------------

_DEFINED = (
    ("total_cost", "sum([12.5, 7.25, 3.0])"),
    ("mean_delay", "sum([4, 9, 15]) / 3"),
    ("row_total", "40 + 2"),
    ("threshold", "0.75"),
    ("best_score", "max([71, 88, 64])"),
    ("monthly_kwh", "[310.5, 298.0, 344.2]"),
    ("file_path", '"data/raw.csv"'),
    ("cleaned_rows", "[1, 2, 3, 5, 8]"),
    ("start_date", '"2024-02-01"'),
    ("word_list", '["north", "east"]'),
)


def _undefined_variable(rng: random.Random) -> ErrorCase | None:
    good, value = rng.choice(_DEFINED)
    bad = _typo(rng, good)
    if not bad.isidentifier() or bad == good:
        return None
    use = rng.choice(["print({v})", f"{rng.choice(_VARIABLES)} = {{v}}", "len(str({v}))"])
    cell = use.format(v=bad)
    fixed = use.format(v=good)
    cause = rng.choice(
        [
            f"`{bad}` was never defined; the variable you defined is `{good}`.",
            f"The NameError means no variable `{bad}` exists. It is a typo for `{good}`.",
        ]
    )
    return ErrorCase("NameError/typo", f"{good} = {value}", cell, "NameError", fixed, "True", cause, f"Use `{good}`:", good)


_BUILTIN_TYPOS = (("lenght", "len", "([4, 5, 6])"), ("pirnt", "print", '("done")'), ("sorte", "sorted", "([3, 1, 2])"), ("rnage", "range", "(5)"), ("maxx", "max", "([2, 9])"), ("roud", "round", "(3.14159, 2)"), ("enumarate", "enumerate", '(["a"])'), ("isinstnace", "isinstance", "(3, int)"), ("flaot", "float", '("2.5")'), ("sumn", "sum", "([1, 2])"), ("lsit", "list", '("abc")'))


def _builtin_typo(rng: random.Random) -> ErrorCase | None:
    bad, good, arguments = rng.choice(_BUILTIN_TYPOS)
    variable = rng.choice(_VARIABLES)
    cell = f"{variable} = {bad}{arguments}"
    fixed = f"{variable} = {good}{arguments}"
    cause = f"`{bad}` is not defined: it is a misspelling of the built-in `{good}`."
    return ErrorCase("NameError/builtin", "", cell, "NameError", fixed, "True", cause, f"Call `{good}`:", good)


_MODULE_USES = (
    ("math", "math.sqrt(81)"),
    ("math", "math.pi * 2"),
    ("json", 'json.dumps({"ok": True})'),
    ("json", 'json.loads("[1, 2, 3]")'),
    ("os", 'os.path.join("data", "raw.csv")'),
    ("re", 're.findall(r"\\d+", "a1b22")'),
    ("random", "random.randint(1, 10)"),
    ("statistics", "statistics.median([5, 1, 3])"),
    ("datetime", "datetime.date(2024, 5, 17)"),
    ("itertools", "list(itertools.chain([1], [2]))"),
    ("string", "string.ascii_lowercase[:3]"),
    ("collections", 'collections.Counter("banana")'),
    ("decimal", 'decimal.Decimal("1.10")'),
    ("textwrap", 'textwrap.shorten("a long line of text", 10)'),
)


def _missing_import(rng: random.Random) -> ErrorCase | None:
    module, use = rng.choice(_MODULE_USES)
    variable = rng.choice(_VARIABLES)
    cell = f"{variable} = {use}"
    fixed = f"import {module}\n\n{cell}"
    cause = rng.choice(
        [
            f"`{module}` is a standard library module that this kernel has not imported yet.",
            f"The NameError says `{module}` is not defined: nothing imported it.",
        ]
    )
    return ErrorCase("NameError/import", "", cell, "NameError", fixed, "True", cause, "Import it first:", f"import {module}")


# --- TypeError -----------------------------------------------------------------------------


def _text_plus_number(rng: random.Random) -> ErrorCase | None:
    holder, value = rng.choice([("n_files", 12), ("rows_done", 340), ("version", 3), ("speed", 42.5), ("errors_found", 7)])
    text = rng.choice(["Processed: ", "Total: ", "Result = ", "Found "])
    variable = rng.choice(["message", "label", "report"])
    cell = f'{variable} = "{text}" + {holder}'
    fixed = f'{variable} = "{text}" + str({holder})'
    cause = f"`{holder}` is a number ({type(value).__name__}) and `+` cannot join text and a number."
    intro = rng.choice(["Turn the number into text first:", "Convert it with `str()`:"])
    return ErrorCase("TypeError/str-plus-number", f"{holder} = {value!r}", cell, "TypeError", fixed, "True", cause, intro)


def _numeric_text(rng: random.Random) -> ErrorCase | None:
    holder, text, convert = rng.choice(
        [("qty_text", "12", "int"), ("weight_input", "7", "int"), ("ratio_text", "0.25", "float"), ("pages_str", "310", "int"), ("temp_reading", "21.5", "float")]
    )
    variable = rng.choice(_VARIABLES)
    operation = rng.choice(["+ 1", "- 2", "/ 4"])
    cell = f"{variable} = {holder} {operation}"
    fixed = f"{variable} = {convert}({holder}) {operation}"
    cause = f"`{holder}` holds the text `{text!r}`, not a number, so Python cannot do arithmetic with it."
    return ErrorCase("TypeError/numeric-text", f"{holder} = {text!r}", cell, "TypeError", fixed, "True", cause, f"Convert it with `{convert}()`:")


_NO_RETURN = (
    ("add_fee", "amount", "amount + 2.5", 40),
    ("to_celsius", "fahrenheit", "(fahrenheit - 32) * 5 / 9", 212),
    ("half", "value", "value / 2", 9),
    ("with_vat", "net", "net * 1.25", 80),
    ("km_to_miles", "km", "km * 0.621371", 10),
)


def _missing_return(rng: random.Random) -> ErrorCase | None:
    function, parameter, body, argument = rng.choice(_NO_RETURN)
    variable = rng.choice(_VARIABLES)
    use = rng.choice([f"{variable} = {function}({argument}) + 1", f"{variable} = round({function}({argument}), 2)"])
    cell = f"def {function}({parameter}):\n    {body}\n\n{use}"
    fixed = f"def {function}({parameter}):\n    return {body}\n\n{use}"
    cause = f"`{function}` computes `{body}` but never returns it, so the call gives `None`."
    return ErrorCase("TypeError/no-return", "", cell, "TypeError", fixed, "True", cause, "Add `return`:")


def _not_callable(rng: random.Random) -> ErrorCase | None:
    name, _, setup = _table(rng)
    attribute = rng.choice(["shape", "columns", "dtypes", "size", "index"])
    variable = rng.choice(_VARIABLES)
    cell = f"{variable} = {name}.{attribute}()"
    fixed = f"{variable} = {name}.{attribute}"
    cause = f"`{name}.{attribute}` is an attribute, not a method: calling it with `()` raises TypeError."
    return ErrorCase("TypeError/not-callable", setup, cell, "TypeError", fixed, "True", cause, "Drop the parentheses:")


def _list_arithmetic(rng: random.Random) -> ErrorCase | None:
    holder, values = rng.choice([("prices_eur", "[4.5, 12.0, 7.25]"), ("heights", "[172, 180, 165]"), ("marks", "[55, 71, 90]")])
    operator, operand = rng.choice([("*", "1.1"), ("+", "5"), ("/", "2"), ("-", "1")])
    variable = rng.choice(_VARIABLES)
    cell = f"{variable} = {holder} {operator} {operand}"
    fixed = f"{variable} = [v {operator} {operand} for v in {holder}]"
    cause = f"`{holder}` is a list, and `{operator}` does not apply to each item of a list."
    return ErrorCase("TypeError/list-arithmetic", f"{holder} = {values}", cell, "TypeError", fixed, "True", cause, "Apply it item by item:")


def _unhashable_key(rng: random.Random) -> ErrorCase | None:
    holder = rng.choice(["lookup_table", "seen", "pairs"])
    key = rng.choice(['["x", "y"]', "[1, 2]", '["north", 3]'])
    cell = f"{holder} = {{{key}: 1}}"
    fixed = f"{holder} = {{({key[1:-1]}): 1}}"
    cause = "A list cannot be a dictionary key: keys must be hashable, and lists can change."
    return ErrorCase("TypeError/unhashable", "", cell, "TypeError", fixed, "True", cause, "Use a tuple instead:")


def _sort_returns_none(rng: random.Random) -> ErrorCase | None:
    holder, values = rng.choice([("times", "[9.1, 3.4, 7.7]"), ("ids", "[44, 12, 30]"), ("names", '["kim", "ada", "lee"]')])
    variable = rng.choice(["ordered", "ranked", "in_order"])
    cell = f"{variable} = {holder}.sort()\nfirst = {variable}[0]"
    fixed = f"{variable} = sorted({holder})\nfirst = {variable}[0]"
    cause = f"`list.sort()` sorts `{holder}` in place and returns `None`, so `{variable}` is `None`."
    return ErrorCase("TypeError/sort-none", f"{holder} = {values}", cell, "TypeError", fixed, "True", cause, "Use `sorted()`, which returns a new list:")


def _missing_argument(rng: random.Random) -> ErrorCase | None:
    function, parameters, call, fixed_call = rng.choice(
        [
            ("area", "width, height", "area(3)", "area(3, 4)"),
            ("scale", "value, factor", "scale(10)", "scale(10, 2)"),
            ("clip", "value, low, high", "clip(15, 0)", "clip(15, 0, 10)"),
        ]
    )
    body = {"area": "width * height", "scale": "value * factor", "clip": "max(low, min(value, high))"}[function]
    variable = rng.choice(_VARIABLES)
    cell = f"{variable} = {call}"
    fixed = f"{variable} = {fixed_call}"
    cause = f"`{function}` takes `{parameters}`, and the call leaves one out."
    return ErrorCase("TypeError/argument", f"def {function}({parameters}):\n    return {body}", cell, "TypeError", fixed, "True", cause, "Pass every argument:")


# --- IndexError ----------------------------------------------------------------------------


def _list_past_end(rng: random.Random) -> ErrorCase | None:
    choices: list[tuple[str, list[object]]] = [
        ("laps", [61.2, 59.8, 60.4]),
        ("steps", [120, 340, 90, 410]),
        ("codes", ["a1", "b2"]),
        ("tiers", [1, 2, 3, 4, 5]),
    ]
    holder, values = rng.choice(choices)
    variable = rng.choice(["last", "final", "latest"])
    cell = f"{variable} = {holder}[{len(values)}]"
    fixed = f"{variable} = {holder}[-1]"
    cause = f"`{holder}` has {len(values)} items, at positions 0 to {len(values) - 1}: position {len(values)} is past the end."
    return ErrorCase("IndexError/list", f"{holder} = {values!r}", cell, "IndexError", fixed, f"{variable} == {values[-1]!r}", cause, "For the last item use `-1`:", "positions 0 to")


def _iloc_past_end(rng: random.Random) -> ErrorCase | None:
    rows = rng.randint(3, 8)
    name, _, setup = _table(rng, rows)
    variable = rng.choice(["last", "final_row", "latest"])
    cell = f"{variable} = {name}.iloc[{rows}]"
    fixed = f"{variable} = {name}.iloc[-1]"
    cause = f"`{name}` has {rows} rows, at positions 0 to {rows - 1}, so `iloc[{rows}]` is out of bounds."
    return ErrorCase("IndexError/iloc", setup, cell, "IndexError", fixed, "True", cause, "For the last row:", "positions 0 to")


def _empty_list_first(rng: random.Random) -> ErrorCase | None:
    holder, source = rng.choice([("matches", "[w for w in ['ash', 'elm'] if w.startswith('z')]"), ("hits", "[n for n in [1, 3, 5] if n > 10]")])
    cell = f"first = {holder}[0]"
    fixed = f"first = {holder}[0] if {holder} else None"
    cause = f"`{holder}` is empty, so it has no item at position 0."
    return ErrorCase("IndexError/empty", f"{holder} = {source}", cell, "IndexError", fixed, "first is None", cause, "Check that it is not empty first:", "0 items")


# --- ValueError, ZeroDivisionError ---------------------------------------------------------


def _int_of_decimal(rng: random.Random) -> ErrorCase | None:
    holder, text = rng.choice([("amount_text", "12.75"), ("mass_str", "0.5"), ("level_input", "3.0"), ("reading_text", "98.6")])
    variable = rng.choice(_VARIABLES)
    cell = f"{variable} = int({holder})"
    fixed = f"{variable} = int(float({holder}))"
    cause = f"`int()` parses only whole-number text, and `{text!r}` has a decimal point."
    return ErrorCase("ValueError/int-decimal", f"{holder} = {text!r}", cell, "ValueError", fixed, "True", cause, "Parse it as a float first (or keep the float):")


def _int_with_separator(rng: random.Random) -> ErrorCase | None:
    holder, text = rng.choice([("population_text", "1,250"), ("views_str", "45,010"), ("budget_input", "2,000,000")])
    variable = rng.choice(_VARIABLES)
    cell = f"{variable} = int({holder})"
    fixed = f'{variable} = int({holder}.replace(",", ""))'
    cause = f"`{text!r}` contains thousands separators, which `int()` does not accept."
    return ErrorCase("ValueError/int-separator", f"{holder} = {text!r}", cell, "ValueError", fixed, "True", cause, "Remove the commas first:")


def _length_mismatch(rng: random.Random) -> ErrorCase | None:
    rows = rng.randint(4, 8)
    name, _, setup = _table(rng, rows)
    column = rng.choice(["flag", "batch", "source", "checked"])
    values = rng.choice(["[True, False]", "[1, 2, 3]", '["a", "b"]'])
    scalar = {"[True, False]": "False", "[1, 2, 3]": "1", '["a", "b"]': '"a"'}[values]
    cell = f'{name}["{column}"] = {values}'
    fixed = f'{name}["{column}"] = {scalar}'
    count = values.count(",") + 1
    cause = f"`{name}` has {rows} rows but the list has {count} values; a new column needs one value per row."
    return ErrorCase("ValueError/length", setup, cell, "ValueError", fixed, "True", cause, f"Give one value for every row, or {rows} values:", f"{rows} rows")


def _broadcast(rng: random.Random) -> ErrorCase | None:
    rows, columns = rng.choice([(3, 2), (4, 3), (2, 5), (5, 4)])
    grid, offsets = rng.choice([("grid", "offsets"), ("image", "bias"), ("scores_2d", "weights")])
    setup = f"import numpy as np\n{grid} = np.ones(({rows}, {columns}))\n{offsets} = np.arange({rows})"
    variable = rng.choice(_VARIABLES)
    cell = f"{variable} = {grid} + {offsets}"
    fixed = f"{variable} = {grid} + {offsets}[:, None]"
    cause = f"`{grid}` has shape ({rows}, {columns}) and `{offsets}` shape ({rows},); NumPy lines up the last dimensions, {columns} and {rows}, which differ."
    return ErrorCase("ValueError/broadcast", setup, cell, "ValueError", fixed, f"{variable}.shape == ({rows}, {columns})", cause, f"Make `{offsets}` a column:")


def _unpack(rng: random.Random) -> ErrorCase | None:
    holder, values = rng.choice([("parts", '"2024-05-17".split("-")'), ("point", "(3, 4, 5)"), ("row", '["ada", 36, "oslo"]')])
    cell = f"first, second = {holder}"
    fixed = f"first, second, third = {holder}"
    cause = f"`{holder}` has three items, but the left side names only two."
    return ErrorCase("ValueError/unpack", f"{holder} = {values}", cell, "ValueError", fixed, "True", cause, "Name all three:")


def _remove_missing(rng: random.Random) -> ErrorCase | None:
    holder, values, item = rng.choice([("queue", '["a", "b"]', '"c"'), ("ids", "[4, 8, 15]", "16"), ("tags", '["red", "blue"]', '"green"')])
    cell = f"{holder}.remove({item})"
    fixed = f"if {item} in {holder}:\n    {holder}.remove({item})"
    cause = f"`list.remove` raises ValueError when the item is not in the list, and {item} is not in `{holder}`."
    return ErrorCase("ValueError/remove", f"{holder} = {values}", cell, "ValueError", fixed, "True", cause, "Check first:")


def _to_numeric_text(rng: random.Random) -> ErrorCase | None:
    holder, values = rng.choice([("raw_counts", '["4", "9", "n/a"]'), ("weights_txt", '["1.5", "unknown", "2"]'), ("levels", '["high", "3", "4"]')])
    variable = rng.choice(_VARIABLES)
    cell = f"{variable} = pd.to_numeric(pd.Series({holder}))"
    fixed = f'{variable} = pd.to_numeric(pd.Series({holder}), errors="coerce")'
    cause = f"One of the values in `{holder}` is text that is not a number, so `pd.to_numeric` stops."
    return ErrorCase("ValueError/to-numeric", f"import pandas as pd\n{holder} = {values}", cell, "ValueError", fixed, f"{variable}.isna().sum() == 1", cause, "Turn unparseable values into NaN:")


def _divide_by_zero(rng: random.Random) -> ErrorCase | None:
    holder = rng.choice(["visits_today", "samples", "durations"])
    variable = rng.choice(["average", "mean_time", "avg"])
    cell = f"{variable} = sum({holder}) / len({holder})"
    fixed = f"{variable} = sum({holder}) / len({holder}) if {holder} else 0.0"
    cause = f"`{holder}` is empty, so `len({holder})` is 0 and the division fails."
    return ErrorCase("ZeroDivisionError/empty", f"{holder} = []", cell, "ZeroDivisionError", fixed, f"{variable} == 0.0", cause, "Handle the empty case:", "0 items")


FAMILIES: dict[str, Family] = {
    "KeyError/column": _missing_column,
    "KeyError/groupby": _missing_group_key,
    "KeyError/dict": _missing_dict_key,
    "AttributeError/pandas": _frame_method_typo,
    "AttributeError/builtin": _builtin_method_typo,
    "AttributeError/module": _module_attribute_typo,
    "AttributeError/inplace": _inplace_none,
    "AttributeError/str-accessor": _series_string_method,
    "AttributeError/column": _column_attribute_typo,
    "NameError/typo": _undefined_variable,
    "NameError/builtin": _builtin_typo,
    "NameError/import": _missing_import,
    "TypeError/str-plus-number": _text_plus_number,
    "TypeError/numeric-text": _numeric_text,
    "TypeError/no-return": _missing_return,
    "TypeError/not-callable": _not_callable,
    "TypeError/list-arithmetic": _list_arithmetic,
    "TypeError/unhashable": _unhashable_key,
    "TypeError/sort-none": _sort_returns_none,
    "TypeError/argument": _missing_argument,
    "IndexError/list": _list_past_end,
    "IndexError/iloc": _iloc_past_end,
    "IndexError/empty": _empty_list_first,
    "ValueError/int-decimal": _int_of_decimal,
    "ValueError/int-separator": _int_with_separator,
    "ValueError/length": _length_mismatch,
    "ValueError/broadcast": _broadcast,
    "ValueError/unpack": _unpack,
    "ValueError/remove": _remove_missing,
    "ValueError/to-numeric": _to_numeric_text,
    "ZeroDivisionError/empty": _divide_by_zero,
}


def draw_error_cases(rng: random.Random, count: int) -> list[ErrorCase]:
    """`count` cases, the families taking turns so that each is represented."""
    cases: list[ErrorCase] = []
    families = sorted(FAMILIES)
    while len(cases) < count:
        case = FAMILIES[families[len(cases) % len(families)]](rng)
        if case is not None:
            cases.append(case)
    return cases


def check_error_cases(rng: random.Random, cases: list[ErrorCase]) -> tuple[list[tuple[ErrorCase, CellError]], list[str]]:
    """Run every case in a subprocess (`run_cells`): the cases whose cell raised what it should,
    with facts that name the fix, and whose fix ran and passed its check, each with its error;
    and why each other case was dropped.

    Cells are numbered and named as a kernel names them, both ways a traceback may show it.
    """
    payload = [
        {
            **asdict(case),
            "execution_count": (count := rng.randint(1, 60)),
            "filename": rng.choice([f"<ipython-input-{count}>", f"/tmp/ipykernel_{rng.randint(1000, 99999)}/{rng.getrandbits(40)}.py"]),
        }
        for case in cases
    ]
    process = subprocess.run(
        [sys.executable, "-m", "coassist.train.curriculum.run_cells"],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    kept, dropped = [], []
    for case, outcome in zip(cases, json.loads(process.stdout), strict=True):
        if "error" in outcome:
            kept.append((case, CellError(**{**outcome["error"], "facts": tuple(outcome["error"]["facts"])})))
        else:
            dropped.append(f"{case.family}: {outcome['dropped']}")
    return kept, dropped


def error_example(rng: random.Random, case: ErrorCase, error: CellError, system_prompt: str) -> Example:
    """The `%assist error` question for the checked `error`, answered with the case's explanation."""
    question = error_question(error, rng.choice(REQUESTS))
    return chat_example(f"error/{case.family}", first_turn(question, system_prompt), case.answer(), case.cell)
