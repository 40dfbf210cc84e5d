"""Small code requests, answered with a function that passes generated tests.

A family is one behaviour (a running total, the rows above a limit, ...) with the names and
wordings a request may use, a reference implementation, and an oracle written separately in
plain Python. Tests are drawn inputs with the oracle's outputs; the reference must pass them in
the evaluation's sandbox (`coassist.eval.sandbox.run_python`) before the example is kept.

No family asks for the behaviour of an evaluation task (`tests/test_curriculum.py` runs each
evaluation task's tests against every reference to check it), and none asks for a mean: the
quickstart's own request is for `mean(values)`, and the demo should show a model that writes
it from what it learnt, not recalls it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from coassist.eval.sandbox import run_python
from coassist.prompt import build_question, first_turn
from coassist.train.curriculum.example import Example, chat_example
from coassist.train.curriculum.tables import draw_table


@dataclass(frozen=True)
class CodeFamily:
    """One behaviour to ask for.

    `signature` is the parameter list; `does` completes "a function `name(...)` that ...";
    `body` is the reference's body (indented four spaces, may use `{name}`); `oracle` computes
    the expected result from the arguments; `inputs` draws one argument tuple.
    """

    names: tuple[str, ...]
    signature: str
    does: tuple[str, ...]
    body: str
    oracle: Callable[..., Any]
    inputs: Callable[[random.Random], tuple[Any, ...]]
    pandas: bool = False
    """The first argument is a DataFrame, given to the oracle as the dict of lists it is built from."""
    check: str = "assert {call} == {expected}"
    """The test of one call against the oracle's answer."""


def _ints(rng: random.Random, low: int = -20, high: int = 50, length: tuple[int, int] = (0, 8)) -> list[int]:
    return [rng.randint(low, high) for _ in range(rng.randint(*length))]


def _words(rng: random.Random) -> list[str]:
    pool = ["ash", "birch", "cedar", "elm", "fir", "oak", "pine", "yew", "Oak", "Elm"]
    return [rng.choice(pool) for _ in range(rng.randint(0, 7))]


def _sentence(rng: random.Random) -> str:
    pool = ["the", "quick", "river", "runs", "under", "old", "stone", "bridges", "at", "dawn"]
    return " ".join(rng.choice(pool) for _ in range(rng.randint(1, 6)))


def _frame(rng: random.Random) -> dict[str, list[Any]]:
    rows = rng.randint(1, 6)
    return {
        "team": [rng.choice(["red", "blue", "green"]) for _ in range(rows)],
        "points": [rng.choice([None, *range(0, 30)]) if rng.random() < 0.2 else rng.randint(0, 30) for _ in range(rows)],
        "minutes": [rng.randint(1, 90) for _ in range(rows)],
    }


def _mode(items: list[Any]) -> Any:
    counts: dict[Any, int] = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    best = None
    for item in items:
        if best is None or counts[item] > counts[best]:
            best = item
    return best


def _second_largest(values: list[int]) -> int | None:
    distinct = sorted(set(values))
    return distinct[-2] if len(distinct) >= 2 else None


def _prime(n: int) -> bool:
    return n > 1 and all(n % d for d in range(2, int(n**0.5) + 1))


def _fib(n: int) -> list[int]:
    out: list[int] = []
    a, b = 0, 1
    for _ in range(n):
        out.append(a)
        a, b = b, a + b
    return out


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _drop_missing(frame: dict[str, list[Any]], column: str) -> list[int]:
    return [i for i, value in enumerate(frame[column]) if value is not None]


FAMILIES: dict[str, CodeFamily] = {
    "count_above": CodeFamily(
        ("count_above", "how_many_over", "n_greater"),
        "values, limit",
        ("counts how many of the numbers in `values` are greater than `limit`", "returns the number of values strictly above `limit`"),
        "    return sum(1 for value in values if value > limit)",
        lambda values, limit: len([v for v in values if v > limit]),
        lambda rng: (_ints(rng), rng.randint(-5, 30)),
    ),
    "running_total": CodeFamily(
        ("running_total", "cumulative", "prefix_sums"),
        "values",
        ("returns the running totals of `values` (each item is the sum of the values so far)", "returns a list of cumulative sums"),
        "    totals = []\n    current = 0\n    for value in values:\n        current += value\n        totals.append(current)\n    return totals",
        lambda values: [sum(values[: i + 1]) for i in range(len(values))],
        lambda rng: (_ints(rng),),
    ),
    "differences": CodeFamily(
        ("differences", "steps_between", "deltas"),
        "values",
        ("returns the difference between each value and the one before it", "returns a list of consecutive differences (next minus previous)"),
        "    return [b - a for a, b in zip(values, values[1:])]",
        lambda values: [values[i + 1] - values[i] for i in range(len(values) - 1)],
        lambda rng: (_ints(rng),),
    ),
    "unique_in_order": CodeFamily(
        ("unique_in_order", "first_occurrences", "drop_repeats"),
        "items",
        ("returns the items of a list without repeats, keeping the order in which they first appear",),
        "    seen = set()\n    kept = []\n    for item in items:\n        if item not in seen:\n            seen.add(item)\n            kept.append(item)\n    return kept",
        lambda items: [x for i, x in enumerate(items) if x not in items[:i]],
        lambda rng: (_words(rng),),
    ),
    "second_largest": CodeFamily(
        ("second_largest", "runner_up"),
        "values",
        ("returns the second largest distinct number in `values`, or None when there is none",),
        "    distinct = sorted(set(values))\n    return distinct[-2] if len(distinct) >= 2 else None",
        _second_largest,
        lambda rng: (_ints(rng, 0, 9),),
    ),
    "clip": CodeFamily(
        ("clip_values", "clamp_all", "bound"),
        "values, low, high",
        ("returns `values` with every number below `low` raised to `low` and every number above `high` lowered to `high`",),
        "    return [min(max(value, low), high) for value in values]",
        lambda values, low, high: [low if v < low else high if v > high else v for v in values],
        lambda rng: (_ints(rng), rng.randint(-10, 5), rng.randint(10, 40)),
    ),
    "median": CodeFamily(
        ("median", "middle_value", "median_of"),
        "values",
        ("returns the median of a non-empty list of numbers (the mean of the two middle values when the count is even)",),
        "    ordered = sorted(values)\n    middle = len(ordered) // 2\n    if len(ordered) % 2:\n        return ordered[middle]\n    return (ordered[middle - 1] + ordered[middle]) / 2",
        lambda values: sorted(values)[len(values) // 2] if len(values) % 2 else (sorted(values)[len(values) // 2 - 1] + sorted(values)[len(values) // 2]) / 2,
        lambda rng: (_ints(rng, length=(1, 8)),),
    ),
    "spread": CodeFamily(
        ("spread", "value_range", "span"),
        "values",
        ("returns the difference between the largest and the smallest number of a non-empty list",),
        "    return max(values) - min(values)",
        lambda values: sorted(values)[-1] - sorted(values)[0],
        lambda rng: (_ints(rng, length=(1, 8)),),
    ),
    "index_of_max": CodeFamily(
        ("index_of_max", "argmax", "position_of_largest"),
        "values",
        ("returns the position of the largest number in a non-empty list (the first one on a tie)",),
        "    return values.index(max(values))",
        lambda values: min(i for i, v in enumerate(values) if v == max(values)),
        lambda rng: (_ints(rng, 0, 9, (1, 8)),),
    ),
    "product": CodeFamily(
        ("product_of", "multiply_all"),
        "values",
        ("returns the product of all the numbers in `values` (1 for an empty list)",),
        "    result = 1\n    for value in values:\n        result *= value\n    return result",
        lambda values: math.prod(values),
        lambda rng: (_ints(rng, -5, 9),),
    ),
    "evens": CodeFamily(
        ("evens_only", "keep_even", "even_numbers"),
        "values",
        ("returns only the even numbers of `values`, in order",),
        "    return [value for value in values if value % 2 == 0]",
        lambda values: [v for v in values if not v % 2],
        lambda rng: (_ints(rng),),
    ),
    "count_matches": CodeFamily(
        ("count_matches", "occurrences"),
        "items, target",
        ("counts how many items of the list equal `target`",),
        "    return sum(1 for item in items if item == target)",
        lambda items, target: items.count(target),
        lambda rng: (_words(rng), rng.choice(["oak", "elm", "fir"])),
    ),
    "most_common": CodeFamily(
        ("most_common", "mode_of", "most_frequent"),
        "items",
        ("returns the item that appears most often in a non-empty list (on a tie, the one that appears first)",),
        "    counts = {}\n    for item in items:\n        counts[item] = counts.get(item, 0) + 1\n    best = items[0]\n    for item in items:\n        if counts[item] > counts[best]:\n            best = item\n    return best",
        _mode,
        lambda rng: (_words(rng) or ["oak"],),
    ),
    "rotate": CodeFamily(
        ("rotate_left", "shift_items"),
        "items, k",
        ("moves the first `k` items of the list to its end and returns the new list (`k` may exceed the length)",),
        "    if not items:\n        return []\n    k = k % len(items)\n    return items[k:] + items[:k]",
        lambda items, k: [items[(i + k) % len(items)] for i in range(len(items))] if items else [],
        lambda rng: (_ints(rng), rng.randint(0, 10)),
    ),
    "interleave": CodeFamily(
        ("interleave", "zip_alternating"),
        "first, second",
        ("takes two lists and returns their items alternately (first[0], second[0], first[1], ...), with the leftovers of the longer list at the end",),
        "    merged = []\n    for a, b in zip(first, second):\n        merged += [a, b]\n    shorter = min(len(first), len(second))\n    return merged + first[shorter:] + second[shorter:]",
        lambda first, second: [x for pair in zip(first, second, strict=False) for x in pair] + first[len(second):] + second[len(first):],
        lambda rng: (_ints(rng, 0, 9), _ints(rng, 10, 19)),
    ),
    "digit_sum": CodeFamily(
        ("digit_sum", "sum_of_digits"),
        "n",
        ("returns the sum of the decimal digits of a non-negative integer `n`",),
        "    return sum(int(digit) for digit in str(n))",
        lambda n: sum(map(int, str(n))),
        lambda rng: (rng.randint(0, 10**6),),
    ),
    "palindrome": CodeFamily(
        ("is_palindrome", "reads_same_backwards"),
        "text",
        ("tells whether `text` reads the same backwards, ignoring case and spaces",),
        "    letters = text.replace(\" \", \"\").lower()\n    return letters == letters[::-1]",
        lambda text: "".join(c.lower() for c in text if c != " ") == "".join(c.lower() for c in reversed(text) if c != " "),
        lambda rng: (rng.choice(["Never odd or even", "level", "oak tree", "A Santa at NASA", "birch", ""]),),
    ),
    "vowels": CodeFamily(
        ("count_vowels", "vowel_count"),
        "text",
        ("returns how many vowels (a, e, i, o, u, either case) are in `text`",),
        "    return sum(1 for char in text.lower() if char in \"aeiou\")",
        lambda text: len([c for c in text if c in "aeiouAEIOU"]),
        lambda rng: (_sentence(rng),),
    ),
    "reverse_words": CodeFamily(
        ("reverse_words", "backwards_sentence"),
        "sentence",
        ("returns the words of `sentence` in reverse order, joined by single spaces",),
        "    return \" \".join(reversed(sentence.split()))",
        lambda sentence: " ".join(sentence.split()[::-1]),
        lambda rng: (_sentence(rng),),
    ),
    "initials": CodeFamily(
        ("initials", "name_initials"),
        "full_name",
        ('returns the upper-case initials of a name, each followed by a dot ("ada lovelace" gives "A.L.")',),
        "    return \"\".join(part[0].upper() + \".\" for part in full_name.split())",
        lambda full_name: "".join(p[0].upper() + "." for p in full_name.split()),
        lambda rng: (rng.choice(["ada lovelace", "grace brewster hopper", "Alan Turing", "linus"]),),
    ),
    "camel": CodeFamily(
        ("snake_to_camel", "to_camel_case"),
        "name",
        ('turns a snake_case name into camelCase ("unit_cost" gives "unitCost")',),
        "    head, *rest = name.split(\"_\")\n    return head + \"\".join(part.capitalize() for part in rest)",
        _camel,
        lambda rng: (rng.choice(["unit_cost", "stock_level", "a_b_c", "name", "delay_min"]),),
    ),
    "truncate": CodeFamily(
        ("shorten", "truncate_text", "clip_text"),
        "text, limit",
        ('returns `text` unchanged when it has at most `limit` characters, otherwise its first `limit` characters followed by "..."',),
        "    if len(text) <= limit:\n        return text\n    return text[:limit] + \"...\"",
        lambda text, limit: text if len(text) <= limit else text[:limit] + "...",
        lambda rng: (_sentence(rng), rng.randint(3, 20)),
    ),
    "fahrenheit": CodeFamily(
        ("to_fahrenheit", "celsius_to_fahrenheit"),
        "celsius",
        ("converts a temperature from Celsius to Fahrenheit",),
        "    return celsius * 9 / 5 + 32",
        lambda celsius: celsius * 1.8 + 32,
        lambda rng: (rng.choice([0, 100, -40, 37, 21.5]),),
        check="assert abs({call} - {expected}) < 1e-9",
    ),
    "bmi": CodeFamily(
        ("bmi", "body_mass_index"),
        "weight_kg, height_m",
        ("returns the body mass index (weight divided by the square of the height), rounded to one decimal",),
        "    return round(weight_kg / height_m**2, 1)",
        lambda weight_kg, height_m: round(weight_kg / (height_m * height_m), 1),
        lambda rng: (rng.randint(45, 110), rng.choice([1.55, 1.7, 1.82, 1.9])),
    ),
    "compound": CodeFamily(
        ("compound", "grow_savings"),
        "amount, rate, years",
        ("returns `amount` after `years` years of yearly compound interest at `rate` (0.05 for 5%), rounded to 2 decimals",),
        "    return round(amount * (1 + rate) ** years, 2)",
        lambda amount, rate, years: round(amount * math.pow(1 + rate, years), 2),
        lambda rng: (rng.choice([100, 2500, 999]), rng.choice([0.01, 0.05, 0.1]), rng.randint(0, 10)),
    ),
    "prime": CodeFamily(
        ("is_prime", "prime_check"),
        "n",
        ("tells whether the integer `n` is a prime number",),
        "    if n < 2:\n        return False\n    for divisor in range(2, int(n**0.5) + 1):\n        if n % divisor == 0:\n            return False\n    return True",
        _prime,
        lambda rng: (rng.randint(-3, 60),),
    ),
    "factorial": CodeFamily(
        ("factorial", "fact"),
        "n",
        ("returns n! for a non-negative integer `n`",),
        "    result = 1\n    for k in range(2, n + 1):\n        result *= k\n    return result",
        lambda n: math.factorial(n),
        lambda rng: (rng.randint(0, 12),),
    ),
    "fibonacci": CodeFamily(
        ("fibonacci", "first_fibs"),
        "n",
        ("returns a list of the first `n` Fibonacci numbers, starting 0, 1",),
        "    numbers = []\n    a, b = 0, 1\n    for _ in range(n):\n        numbers.append(a)\n        a, b = b, a + b\n    return numbers",
        _fib,
        lambda rng: (rng.randint(0, 12),),
    ),
    "invert": CodeFamily(
        ("invert_dict", "swap_keys_values"),
        "mapping",
        ("returns a new dict with the keys and values of `mapping` swapped (values are unique)",),
        "    return {value: key for key, value in mapping.items()}",
        lambda mapping: dict((v, k) for k, v in mapping.items()),
        lambda rng: ({w: i for i, w in enumerate(dict.fromkeys(_words(rng)))},),
    ),
    "merge_counts": CodeFamily(
        ("merge_counts", "add_tallies"),
        "first, second",
        ("merges two dicts of counts into one, adding the counts of keys present in both",),
        "    merged = dict(first)\n    for key, count in second.items():\n        merged[key] = merged.get(key, 0) + count\n    return merged",
        lambda first, second: {k: first.get(k, 0) + second.get(k, 0) for k in [*first, *[k for k in second if k not in first]]},
        lambda rng: ({w: rng.randint(1, 5) for w in _words(rng)}, {w: rng.randint(1, 5) for w in _words(rng)}),
    ),
    "by_length": CodeFamily(
        ("group_by_length", "words_by_size"),
        "words",
        ("returns a dict from word length to the list of words of that length, in their original order",),
        "    groups = {}\n    for word in words:\n        groups.setdefault(len(word), []).append(word)\n    return groups",
        lambda words: {n: [w for w in words if len(w) == n] for n in dict.fromkeys(len(w) for w in words)},
        lambda rng: (_words(rng),),
    ),
    "keys_above": CodeFamily(
        ("keys_above", "names_over_limit"),
        "scores_by_name, limit",
        ("returns the sorted list of keys whose value is above `limit`",),
        "    return sorted(key for key, value in scores_by_name.items() if value > limit)",
        lambda scores_by_name, limit: sorted(k for k in scores_by_name if scores_by_name[k] > limit),
        lambda rng: ({w: rng.randint(0, 20) for w in _words(rng)}, rng.randint(0, 15)),
    ),
    "years": CodeFamily(
        ("years_of", "extract_years"),
        "dates",
        ("takes dates written 'YYYY-MM-DD' and returns their years as integers",),
        "    return [int(date[:4]) for date in dates]",
        lambda dates: [int(d.split("-")[0]) for d in dates],
        lambda rng: ([f"{rng.randint(1990, 2030)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}" for _ in range(rng.randint(0, 5))],),
    ),
    "drop_missing": CodeFamily(
        ("drop_missing", "complete_rows"),
        "df, column",
        ("returns the rows of the DataFrame `df` whose `column` is not missing",),
        "    return df.dropna(subset=[column])",
        lambda df, column: _drop_missing(df, column),
        lambda rng: (_frame(rng), "points"),
        pandas=True,
        check="assert list({call}.index) == {expected}",
    ),
    "column_total": CodeFamily(
        ("column_total", "sum_column"),
        "df, column",
        ("returns the sum of the numbers in `column` of the DataFrame `df`, ignoring missing values, as a float",),
        "    return float(df[column].sum())",
        lambda df, column: float(sum(v for v in df[column] if v is not None)),
        lambda rng: (_frame(rng), rng.choice(["points", "minutes"])),
        pandas=True,
        check="assert abs({call} - {expected}) < 1e-9",
    ),
    "count_per": CodeFamily(
        ("count_per", "rows_per_value", "tally_column"),
        "df, column",
        ("returns a dict from each value of `column` in the DataFrame `df` to the number of rows that have it",),
        "    return df[column].value_counts().to_dict()",
        lambda df, column: {v: df[column].count(v) for v in df[column]},
        lambda rng: (_frame(rng), "team"),
        pandas=True,
        check="assert {call} == {expected}",
    ),
    "max_per_group": CodeFamily(
        ("max_per_group", "largest_by"),
        "df, key, value",
        ("returns a dict from each value of column `key` to the largest `value` in its rows",),
        "    return df.groupby(key)[value].max().to_dict()",
        lambda df, key, value: {k: max(v for kk, v in zip(df[key], df[value], strict=True) if kk == k) for k in df[key]},
        lambda rng: (_frame(rng), "team", "minutes"),
        pandas=True,
        check="assert {{k: float(v) for k, v in {call}.items()}} == {{k: float(v) for k, v in {expected}.items()}}",
    ),
    "rows_above": CodeFamily(
        ("rows_above", "filter_over"),
        "df, column, limit",
        ("returns the rows of the DataFrame `df` whose `column` is greater than `limit`",),
        "    return df[df[column] > limit]",
        lambda df, column, limit: [i for i, v in enumerate(df[column]) if v > limit],
        lambda rng: (_frame(rng), "minutes", rng.randint(10, 70)),
        pandas=True,
        check="assert list({call}.index) == {expected}",
    ),
    "add_rate": CodeFamily(
        ("add_rate", "with_per_minute"),
        "df",
        ("gives back a new DataFrame: the rows of `df` plus a column `rate` holding `points` over `minutes` (leave `df` as it was)",),
        "    result = df.copy()\n    result[\"rate\"] = result[\"points\"] / result[\"minutes\"]\n    return result",
        lambda df: [None if p is None else p / m for p, m in zip(df["points"], df["minutes"], strict=True)],
        lambda rng: (_frame(rng),),
        pandas=True,
        check="assert [None if v != v else v for v in {call}['rate'].tolist()] == {expected}",
    ),
    "numeric_names": CodeFamily(
        ("numeric_columns", "number_columns"),
        "df",
        ("returns the list of the names of the numeric columns of the DataFrame `df`",),
        "    return df.select_dtypes(include=\"number\").columns.tolist()",
        lambda df: ["points", "minutes"],
        lambda rng: (_frame(rng),),
        pandas=True,
        check="assert list({call}) == {expected}",
    ),
}


@dataclass(frozen=True)
class CodeCase:
    """A drawn request: the function's name and the program that checks its reference."""

    family: str
    name: str
    request: str
    reference: str
    program: str


_REQUESTS = (
    "Write a function `{call}` that {does}.",
    "Write a Python function {call} which {does}.",
    "I need `{call}`: it {does}.",
    "can you write {call}? it {does}",
    "Implement `{call}`, a function that {does}.",
)
_FINISH = (
    "Finish this function:",
    "Write the body of this function.",
    "Complete the code below so the function works:",
    "Fill in this function:",
)


def draw_code_case(rng: random.Random, family_name: str) -> CodeCase:
    family = FAMILIES[family_name]
    name = rng.choice(family.names)
    call = f"{name}({family.signature})"
    reference = f"def {name}({family.signature}):\n{family.body}\n"
    tests = [_test_line(name, family, family.inputs(rng)) for _ in range(4)]
    preamble = "import pandas as pd\n\n" if family.pandas else ""
    program = f"{preamble}{reference}\n\n" + "\n".join(tests) + "\n"
    request = rng.choice(_REQUESTS).format(call=call, does=rng.choice(family.does))
    return CodeCase(family_name, name, request, reference, program)


def _test_line(name: str, family: CodeFamily, arguments: tuple[Any, ...]) -> str:
    expected = family.oracle(*arguments)
    shown = [f"pd.DataFrame({arguments[0]!r})", *map(repr, arguments[1:])] if family.pandas else list(map(repr, arguments))
    return family.check.format(call=f"{name}({', '.join(shown)})", expected=repr(expected))


def code_examples(rng: random.Random, count: int, system_prompt: str) -> tuple[list[Example], list[str]]:
    """`count` checked code examples (a third in the finish-this-function form, half of those
    without a system prompt, as a bare chat client sends them), and why others were dropped."""
    examples: list[Example] = []
    dropped: list[str] = []
    families = sorted(FAMILIES)
    attempt = 0
    while len(examples) < count:
        case = draw_code_case(rng, families[attempt % len(families)])
        attempt += 1
        result = run_python(case.program, timeout_s=20)
        if not result.ok:
            dropped.append(f"{case.family}: {result.detail}")
            continue
        examples.append(_example(rng, case, system_prompt))
    return examples, dropped


def _example(rng: random.Random, case: CodeCase, system_prompt: str) -> Example:
    answer = f"```python\n{case.reference.rstrip()}\n```"
    family = FAMILIES[case.family]
    if rng.random() < 1 / 3:
        stub = f"def {case.name}({family.signature}):\n    \"\"\"{family.does[0][0].upper()}{family.does[0][1:]}.\"\"\"\n"
        question = f"{rng.choice(_FINISH)}\n\n```python\n{stub}```"
        messages = first_turn(question, system_prompt)
        if rng.random() < 0.5:
            messages = messages[1:]  # no system prompt: the chat template's own applies
        return chat_example("code/finish", messages, answer, question)
    question = case.request
    if family.pandas and rng.random() < 0.3:  # "My table is {t}. Write ...", as in a notebook
        table = draw_table(rng)
        question = build_question(f"My data is {{{table.name}}}. {case.request}", {table.name: table.frame})
    return chat_example("code/request", first_turn(question, system_prompt), answer, case.request)
