"""The notebook tasks: questions users ask coassist in Jupyter, each with a checkable answer.

Four kinds, from `data/notebook_tasks.yaml`:

- dataframe: a question about an interpolated DataFrame; the expected fact is computed from
  the frame (`coassist.eval.frames`) when the tasks load, never written down by hand.
- code: a `-f code` request; the answer's code runs with the task's asserts in a sandbox.
- error: "explain this error"; the cell really raises, and the explanation must name the
  cause and the fix.
- completion: inline completion of a cell; the first completed line must be the expected one.

Every prompt is built by the product's own code (`coassist.prompt`: `build_question`,
`error_question`, and the completion service's plain continuation), so the harness measures
what users get.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd
import yaml

from coassist.config import Assist
from coassist.errors import InvalidEvalTask
from coassist.eval.frames import build_frames
from coassist.eval.sandbox import run_python
from coassist.eval.tasks import Category, EvalTask, Score
from coassist.llm.chat import ChatModel, GenerationSettings, Message
from coassist.prompt import build_question, first_turn
from coassist.prompt.cell_errors import cell_error, error_question, run_as_cell
from coassist.prompt.code_blocks import extract_code
from coassist.prompt.completion import (
    clean_completion,
    compiles_so_far,
    completion_prompt,
    completion_settings,
)

TASK_FILE = "notebook_tasks.yaml"

FactKind = Literal[
    "null_columns",
    "null_count",
    "row_count",
    "column_count",
    "dtype",
    "numeric_columns",
    "most_nulls",
    "max",
    "min",
    "mean",
    "duplicate_rows",
    "unique_count",
]
"""What a DataFrame question asks for; each has one computation and one check."""

_NEEDS_COLUMN: frozenset[str] = frozenset({"null_count", "dtype", "max", "min", "mean", "unique_count"})

MIN_PREFIX_SHARE = 0.5
"""A completion cut short (max tokens, a deadline) still passes when it is a valid start of
the expected line covering at least this share of it: ghost text the user would accept."""


# --- checks -------------------------------------------------------------------------

_NUMBER = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?(?![\w])")


def numbers_in(text: str) -> list[str]:
    """The numbers written in `text`, as written (``1,200`` and ``3.5``; not the 2 in ``col2``)."""
    return [match.rstrip(",") for match in _NUMBER.findall(text)]


def states_number(answer: str, expected: float) -> bool:
    """Whether `answer` writes `expected` as a number, to the precision the answer uses.

    A non-integer must be given with at least one decimal (mean 41.5 is not "about 42").
    """
    for written in numbers_in(answer):
        try:
            value = float(written.replace(",", ""))
        except ValueError:
            continue
        decimals = len(written.partition(".")[2])
        if not float(expected).is_integer():
            decimals = max(decimals, 1)
        if math.isclose(value, expected) or abs(value - expected) <= 0.5 * 10**-decimals + 1e-9:
            return True
    return False


def _find_name(answer: str, name: str) -> re.Match[str] | None:
    return re.search(rf"(?<!\w){re.escape(name)}(?!\w)", answer, re.IGNORECASE)


def mentions(answer: str, name: str) -> bool:
    """Whether `answer` names `name` as a whole word (``price`` is not in ``unit_price``)."""
    return _find_name(answer, name) is not None


def _first_mentioned(answer: str, names: list[str]) -> str | None:
    found = [(match.start(), name) for name in names if (match := _find_name(answer, name))]
    return min(found)[1] if found else None


def _normalise_code(line: str) -> str:
    """`line` with insignificant whitespace gone: ``a+b`` and ``a + b`` compare equal."""
    line = re.sub(r"\s+", " ", line.strip())
    return re.sub(r" ?([^\w\s]) ?", r"\1", line)


# --- dataframe -----------------------------------------------------------------------


@dataclass(frozen=True)
class Fact:
    """The right answer to a DataFrame question, computed from the frame."""

    kind: FactKind
    number: float | None = None
    columns: tuple[str, ...] = ()
    text: str = ""
    column: str | None = None
    """The column asked about, for per-column facts."""

    def describe(self) -> str:
        if self.number is not None:
            return f"{self.number:g}"
        return self.text or ", ".join(self.columns)


def compute_fact(frame: pd.DataFrame, kind: FactKind, column: str | None) -> Fact:
    """The answer to question `kind` about `frame` (and `column`, for per-column kinds)."""
    nulls = frame.isna().sum()
    if kind == "null_columns":
        return Fact(kind, columns=tuple(str(name) for name in nulls.index if nulls[name] > 0))
    if kind == "numeric_columns":
        return Fact(kind, columns=tuple(str(name) for name in frame.select_dtypes(include="number").columns))
    if kind == "most_nulls":
        return Fact(kind, columns=(str(nulls.idxmax()),))
    if kind == "row_count":
        return Fact(kind, number=len(frame))
    if kind == "column_count":
        return Fact(kind, number=frame.shape[1])
    if kind == "duplicate_rows":
        return Fact(kind, number=int(frame.duplicated().sum()))
    assert column is not None  # checked by the loader: these kinds need a column
    series = frame[column]
    if kind == "null_count":
        return Fact(kind, number=int(series.isna().sum()), column=column)
    if kind == "dtype":
        return Fact(kind, text=str(series.dtype), column=column)
    if kind == "unique_count":
        return Fact(kind, number=int(series.nunique()), column=column)
    statistic = {"max": series.max, "min": series.min, "mean": series.mean}[kind]()
    return Fact(kind, number=float(statistic), column=column)


def check_fact(answer: str, fact: Fact, all_columns: list[str]) -> Score:
    """Numbers must be written as numbers; a column set must name every expected column and
    no other column of the frame; "the column with most nulls" must be the first one named.
    A per-column fact must not be stated about another column: the first column named, if
    any, must be the one asked about."""
    if fact.column is not None:
        first = _first_mentioned(answer, all_columns)
        if first not in (None, fact.column):
            return Score(False, f"the answer is about {first}, not {fact.column}")
    if fact.number is not None:
        if states_number(answer, fact.number):
            return Score(True)
        return Score(False, f"expected the number {fact.describe()}; the answer has {numbers_in(answer)[:8]}")
    if fact.kind == "dtype":
        if mentions(answer, fact.text):
            return Score(True)
        return Score(False, f"expected the dtype {fact.text}")
    if fact.kind == "most_nulls":
        first = _first_mentioned(answer, all_columns)
        if first == fact.columns[0]:
            return Score(True)
        return Score(False, f"expected {fact.columns[0]} first; the first column named is {first}")
    missing = [name for name in fact.columns if not mentions(answer, name)]
    extra = [name for name in all_columns if name not in fact.columns and mentions(answer, name)]
    if missing or extra:
        return Score(False, f"expected exactly {list(fact.columns)}; missing {missing}, wrongly named {extra}")
    return Score(True)


@dataclass
class DataFrameTask:
    """A question about a DataFrame interpolated into the prompt, as `%%assist` sends it."""

    id: str
    template: str
    frame_name: str
    fact: Fact
    sample_rows: int | None
    frames: Mapping[str, pd.DataFrame]
    assist: Assist = field(default_factory=Assist)
    category: Category = "dataframe"

    def prompt(self, model: ChatModel, settings: GenerationSettings) -> list[Message]:
        question = build_question(self.template, self.frames, self.assist.context_options(self.sample_rows))
        return first_turn(question, self.assist.system_prompt)

    def settings(self, defaults: GenerationSettings) -> GenerationSettings:
        return defaults

    def score(self, answer: str) -> Score:
        columns = [str(name) for name in self.frames[self.frame_name].columns]
        return check_fact(answer, self.fact, columns)


# --- code ------------------------------------------------------------------------------


@dataclass
class CodeTask:
    """A `-f code` request: the answer's code, then the task's asserts, must run cleanly."""

    id: str
    template: str
    tests: str
    frames: Mapping[str, pd.DataFrame]
    timeout_s: float = 10.0
    assist: Assist = field(default_factory=Assist)
    category: Category = "code"

    def prompt(self, model: ChatModel, settings: GenerationSettings) -> list[Message]:
        question = build_question(self.template, self.frames, self.assist.context_options())
        return first_turn(question, self.assist.system_prompt)

    def settings(self, defaults: GenerationSettings) -> GenerationSettings:
        return defaults

    def score(self, answer: str) -> Score:
        result = run_python(f"{extract_code(answer)}\n\n\n{self.tests}\n", timeout_s=self.timeout_s)
        if result.ok:
            return Score(True)
        return Score(False, "timed out" if result.timed_out else result.detail)


# --- error -----------------------------------------------------------------------------


@dataclass
class ErrorTask:
    """`%assist error` after a cell raised: the explanation must give the cause and the fix."""

    id: str
    source: str
    groups: tuple[tuple[str, tuple[str, ...]], ...]
    question: str
    assist: Assist = field(default_factory=Assist)
    category: Category = "error"

    def prompt(self, model: ChatModel, settings: GenerationSettings) -> list[Message]:
        return first_turn(self.question, self.assist.system_prompt)

    def settings(self, defaults: GenerationSettings) -> GenerationSettings:
        return defaults

    def score(self, answer: str) -> Score:
        unmatched = [name for name, patterns in self.groups if not _any_matches(patterns, answer)]
        if unmatched:
            return Score(False, f"the answer does not give the {' or the '.join(unmatched)}")
        return Score(True)


def _any_matches(patterns: tuple[str, ...], text: str) -> bool:
    return any(re.search(pattern, text, re.IGNORECASE) for pattern in patterns)


def raise_in_cell(task_id: str, source: str, namespace: dict[str, Any]) -> BaseException:
    """Run the task's own cell (trusted code from the task file) as a notebook cell
    (`coassist.prompt.cell_errors.run_as_cell`) and return what it raised."""
    exception = run_as_cell(source, namespace)
    if exception is None:
        raise InvalidEvalTask(task_id, "source", "the cell ran without raising; an error task needs an error")
    return exception


# --- completion --------------------------------------------------------------------------


@dataclass
class CompletionTask:
    """Inline completion at the end of `prefix`: the first completed line must be `expected`."""

    id: str
    prefix: str
    expected: tuple[str, ...]
    category: Category = "completion"

    def prompt(self, model: ChatModel, settings: GenerationSettings) -> str:
        return completion_prompt(self.prefix)  # continued as plain text, as the completion service does

    def settings(self, defaults: GenerationSettings) -> GenerationSettings:
        return completion_settings()

    def score(self, answer: str) -> Score:
        completion = clean_completion(answer, self.prefix)
        # Ghost text at the end of a line may begin with its line break: the next line follows it.
        line_break = completion[: len(completion) - len(completion.lstrip("\n"))]
        first = completion[len(line_break) :].split("\n", 1)[0]
        got = _normalise_code(first)
        if not got:
            return Score(False, "empty completion")
        if not compiles_so_far(self.prefix + line_break + first):
            return Score(False, f"the code does not parse with {first!r}")
        for expected in (_normalise_code(line) for line in self.expected):
            # Only a comment may follow: `len(values) * 2` extends `len(values)` but changes it.
            extends = got.startswith(expected) and got[len(expected) :].startswith("#")
            starts = expected.startswith(got) and len(got) >= MIN_PREFIX_SHARE * len(expected)
            if got == expected or extends or starts:
                return Score(True)
        return Score(False, f"expected {self.expected[0]!r}, got {first!r}")


# --- loading -----------------------------------------------------------------------------


def load_notebook_tasks(assist: Assist | None = None) -> list[EvalTask]:
    """Every notebook task, in file order (dataframe, code, error, completion).

    `assist` is the configuration the prompts are built with (the product's defaults when
    None), so a configuration can be measured before it becomes the default.

    Raises
    ------
    InvalidEvalTask
        A task is malformed (names the task id and field), or a stated fact is false: an
        error cell that does not raise what it says, or a completion prefix that does not parse.
    """
    text = resources.files("coassist.eval").joinpath("data", TASK_FILE).read_text(encoding="utf-8")
    return parse_notebook_tasks(text, assist)


def parse_notebook_tasks(text: str, assist: Assist | None = None) -> list[EvalTask]:
    """The tasks in a task file's YAML text (see `load_notebook_tasks`)."""
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise InvalidEvalTask("(file)", "(top level)", "expected a mapping with dataframe, code, error, completion")
    frames = build_frames()
    builders: dict[str, Callable[[dict[str, Any], Mapping[str, pd.DataFrame]], EvalTask]] = {
        "dataframe": _dataframe_task,
        "code": _code_task,
        "error": _error_task,
        "completion": _completion_task,
    }
    tasks: list[EvalTask] = []
    seen: set[str] = set()
    for section, build in builders.items():
        entries = data.get(section)
        if not isinstance(entries, list):
            raise InvalidEvalTask("(file)", section, "expected a list of tasks")
        for entry in entries:
            task_id = _field(entry, "(unnamed)", "id", str)
            if task_id in seen:
                raise InvalidEvalTask(task_id, "id", "this id is used twice; ids must be unique")
            seen.add(task_id)
            task = build(entry, frames)
            if assist is not None and isinstance(task, (DataFrameTask, CodeTask, ErrorTask)):
                task = replace(task, assist=assist)
            tasks.append(task)
    return tasks


def _field(entry: Any, task_id: str, name: str, kind: type, default: Any = ...) -> Any:
    if not isinstance(entry, dict):
        raise InvalidEvalTask(task_id, name, "the task is not a mapping of fields")
    if name not in entry:
        if default is not ...:
            return default
        raise InvalidEvalTask(task_id, name, "this field is missing")
    value = entry[name]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise InvalidEvalTask(task_id, name, f"expected {kind.__name__}, got {type(value).__name__}")
    return value


def _dataframe_task(entry: dict[str, Any], frames: Mapping[str, pd.DataFrame]) -> DataFrameTask:
    task_id = entry["id"]
    kind = _field(entry, task_id, "fact", str)
    if kind not in get_args(FactKind):
        raise InvalidEvalTask(task_id, "fact", f"unknown fact {kind!r}; use one of {', '.join(get_args(FactKind))}")
    frame_name = _field(entry, task_id, "frame", str)
    if frame_name not in frames:
        raise InvalidEvalTask(task_id, "frame", f"no frame {frame_name!r}; use one of {', '.join(frames)}")
    frame = frames[frame_name]
    column = _field(entry, task_id, "column", str, None)
    if (column is None) == (kind in _NEEDS_COLUMN):
        need = "needs" if kind in _NEEDS_COLUMN else "takes no"
        raise InvalidEvalTask(task_id, "column", f"the fact {kind!r} {need} column")
    if column is not None and column not in frame.columns:
        raise InvalidEvalTask(task_id, "column", f"{frame_name} has no column {column!r}")
    template = _field(entry, task_id, "template", str)
    if f"{{{frame_name}}}" not in template:
        raise InvalidEvalTask(task_id, "template", f"the question must interpolate {{{frame_name}}}")
    sample_rows = _field(entry, task_id, "sample_rows", int, None)
    fact = compute_fact(frame, kind, column)  # type: ignore[arg-type]  # checked against FactKind above
    if kind == "most_nulls" and (frame.isna().sum() == frame.isna().sum().max()).sum() > 1:
        raise InvalidEvalTask(task_id, "fact", f"{frame_name} has a tie for most nulls; the question has no one answer")
    return DataFrameTask(task_id, template, frame_name, fact, sample_rows, frames)


def _code_task(entry: dict[str, Any], frames: Mapping[str, pd.DataFrame]) -> CodeTask:
    task_id = entry["id"]
    tests = _field(entry, task_id, "tests", str)
    try:
        ast.parse(tests)
    except SyntaxError as error:
        raise InvalidEvalTask(task_id, "tests", f"the tests are not valid Python: {error}") from error
    return CodeTask(task_id, _field(entry, task_id, "prompt", str), tests, frames)


def _error_task(entry: dict[str, Any], frames: Mapping[str, pd.DataFrame]) -> ErrorTask:
    task_id = entry["id"]
    source = _field(entry, task_id, "source", str)
    raises = _field(entry, task_id, "raises", str)
    imports = _field(entry, task_id, "imports", bool, True)
    namespace: dict[str, Any] = {name: frame.copy() for name, frame in frames.items()}
    if imports:
        namespace.update(pd=pd, np=np)
    exception = raise_in_cell(task_id, source, namespace)
    if type(exception).__name__ != raises:
        raise InvalidEvalTask(task_id, "raises", f"the cell raised {type(exception).__name__}: {exception}, not {raises}")
    groups = []
    for name in ("cause", "fix"):
        patterns = _field(entry, task_id, name, list)
        if not patterns or not all(isinstance(p, str) for p in patterns):
            raise InvalidEvalTask(task_id, name, "expected a non-empty list of regular expressions")
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as error:
                raise InvalidEvalTask(task_id, name, f"{pattern!r} is not a regular expression: {error}") from error
        groups.append((name, tuple(patterns)))
    request = _field(entry, task_id, "request", str, "")
    question = error_question(cell_error(exception, source, 1), request)
    return ErrorTask(task_id, source, tuple(groups), question)


def _completion_task(entry: dict[str, Any], frames: Mapping[str, pd.DataFrame]) -> CompletionTask:
    task_id = entry["id"]
    prefix = _field(entry, task_id, "prefix", str)
    expected = _field(entry, task_id, "expected", list)
    if not expected or not all(isinstance(line, str) and line.strip() for line in expected):
        raise InvalidEvalTask(task_id, "expected", "expected a non-empty list of accepted lines")
    for line in expected:
        if not compiles_so_far(prefix + line):
            raise InvalidEvalTask(task_id, "expected", f"{line!r} after the prefix is not valid Python")
    return CompletionTask(task_id, prefix, tuple(expected))
