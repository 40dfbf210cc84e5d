"""Reading task and worker tables (DataFrame, CSV, YAML) and writing plans as CSV.

Tables arrive from people, so parsing is strict and every complaint names the file, the line
and the column: a typo in a header must not silently become "the AI cannot do anything", and a
row with one field too many must not be shifted into the wrong columns. This module is the one
reader of these tables: the allocator, its CLI, the board and the review store's `import_plan`
all come through `load_tasks` and `load_workers`.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeAlias, TypeGuard, TypeVar, cast

import pandas as pd
import yaml

from coassist.errors import InvalidTaskTable
from coassist.plan.model import Plan, Subtask, Worker, WorkerKind
from coassist.plan.validate import check_subtasks, check_workers

TableSource: TypeAlias = "str | Path | pd.DataFrame | Sequence[Mapping[str, Any]]"
TableKind = Literal["tasks", "workers"]

TASK_COLUMNS = (
    "id", "skill", "human_hours", "ai_hours", "review_hours", "p_pass", "depends_on", "title", "description",
)  # fmt: skip
TASK_REQUIRED = ("id", "skill", "human_hours")
WORKER_COLUMNS = ("id", "kind", "skills", "capacity_hours", "cost_per_hour")
WORKER_REQUIRED = WORKER_COLUMNS
PLAN_COLUMNS = ("subtask", "worker", "role", "start", "end", "share", "hours", "cost")

T = TypeVar("T")

Record: TypeAlias = "tuple[str, dict[str, Any]]"
"""A row as (where it came from, for messages: "tasks.csv line 4"; its fields by column)."""
Table: TypeAlias = "tuple[list[str], list[Record]]"
"""A table's column names and its rows."""


def _read_table(source: TableSource, kind: TableKind) -> Table:
    """Columns and located rows from any accepted source; no field is interpreted yet."""
    if isinstance(source, pd.DataFrame):
        records = [(f"position {n}", rec) for n, rec in enumerate(source.to_dict("records"), start=1)]
        return [str(c) for c in source.columns], records
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.exists():
            raise InvalidTaskTable(f"no such file: {str(path)!r}")
        if path.is_dir():
            raise InvalidTaskTable(f"{str(path)!r} is a directory; give the {kind} table's .csv or .yaml file.")
        text = _decode(path)
        if path.suffix.lower() in (".yaml", ".yml"):
            return _yaml_records(text, path.name, kind)
        return _csv_records(text, path.name)
    rows = list(source)
    for n, row in enumerate(rows, start=1):
        if not isinstance(row, Mapping):
            raise InvalidTaskTable(f"row {n} of the {kind} is a {type(row).__name__}; each row is a mapping.")
    records = [(f"position {n}", {str(k): v for k, v in row.items()}) for n, row in enumerate(rows, start=1)]
    return _columns_of(records), records


def _decode(path: Path) -> str:
    """The file as text: UTF-8 (a BOM is fine); anything else is named, not guessed."""
    raw = path.read_bytes()
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InvalidTaskTable(f"{path.name} is UTF-16; save it as UTF-8 (CSV UTF-8 in a spreadsheet).")
    if b"\x00" in raw:
        raise InvalidTaskTable(f"{path.name} is not a text table (it holds NUL bytes); give a .csv or .yaml file.")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise InvalidTaskTable(
            f"{path.name} line {line}: byte 0x{raw[err.start]:02x} is not UTF-8; save the file as UTF-8 "
            f"(CSV UTF-8 in a spreadsheet)."
        ) from None


def _csv_records(text: str, name: str) -> Table:
    """Rows of a CSV, each with exactly the header's number of fields, keyed by the stripped header."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True, skipinitialspace=True)
    header: list[str] | None = None
    records: list[Record] = []
    try:
        for row in reader:
            if not any(field.strip() for field in row):
                continue  # blank lines carry nothing
            if header is None:
                header = [field.strip() for field in row]
                continue
            if len(row) != len(header):
                raise InvalidTaskTable(
                    f"{name} line {reader.line_num}: {len(row)} fields, but the header has {len(header)}; "
                    f"remove the stray or missing comma, or quote a value that contains a comma.",
                    row=f"line {reader.line_num}",
                )
            records.append((f"{name} line {reader.line_num}", dict(zip(header, row, strict=True))))
    except csv.Error as err:
        raise InvalidTaskTable(
            f"{name} line {reader.line_num}: {err}; close the quote or remove the stray quote character."
        ) from None
    if header is None:
        raise InvalidTaskTable(f"{name} is empty; it needs a header line and at least one row.")
    return header, records


def _yaml_records(text: str, name: str, kind: TableKind) -> Table:
    """A YAML list of mappings (or the list under `kind`), each row located by its line."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise InvalidTaskTable(f"{name}{where}: malformed YAML: {problem}.") from None
    if isinstance(data, Mapping):
        if kind not in data:
            raise InvalidTaskTable(
                f"{name!r} is a mapping without a {kind!r} key; give a list of rows, or put the rows under {kind!r}."
            )
        data = data[kind]
        node = next(value for key, value in node.value if key.value == kind)
    if data is None:
        raise InvalidTaskTable(f"{name} is empty; it needs a list of {kind} rows.")
    if not isinstance(data, list):
        raise InvalidTaskTable(f"{name!r} must hold a list of rows (mappings).")
    records: list[Record] = []
    for item, row in zip(node.value, data, strict=True):
        where = f"{name} line {item.start_mark.line + 1}"
        if not isinstance(row, Mapping):
            raise InvalidTaskTable(f"{where}: the row is a {type(row).__name__}; each row is a mapping of column: value.")
        records.append((where, {str(key): value for key, value in row.items()}))
    return _columns_of(records), records


def _columns_of(records: list[Record]) -> list[str]:
    """Every key any row uses, in first-seen order (rows of a list may differ in their keys)."""
    return list(dict.fromkeys(key for _, rec in records for key in rec))


def _check_columns(columns: Sequence[str], allowed: Sequence[str], required: Sequence[str], kind: TableKind) -> None:
    unknown = [c for c in columns if c not in allowed]
    missing = [c for c in required if c not in columns]
    if unknown or missing:
        problems = []
        if missing:
            problems.append(f"missing column(s) {', '.join(map(repr, missing))}")
        if unknown:
            problems.append(f"unknown column(s) {', '.join(map(repr, unknown))}")
        raise InvalidTaskTable(
            f"the {kind.removesuffix('s')} table has {' and '.join(problems)}; expected columns: "
            f"{', '.join(allowed)} (required: {', '.join(required)}).",
            column=(missing or unknown)[0],
        )


def _blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _number(value: Any, where: str, rec: Mapping[str, Any], column: str, default: float | None) -> float | None:
    """A cell as a float; range rules (finite, >= 0, upper bounds) are `validate`'s job."""
    if _blank(value):
        return default
    # YAML reads `true` as a bool, and bool is an int: refuse it rather than plan 1 hour.
    if not isinstance(value, bool) and isinstance(value, (str, int, float)):
        try:
            return float(value)
        except ValueError:
            pass
    ident = _text(rec.get("id"))
    raise InvalidTaskTable(
        f"{where}, row {ident!r}: {column} is {value!r}, which is not a number.", row=ident, column=column
    )


def _ids(value: Any) -> tuple[str, ...]:
    """A `;`-separated string (CSV) or a list (YAML) of ids."""
    if _blank(value):
        return ()
    items = value if isinstance(value, (list, tuple)) else str(value).split(";")
    return tuple(str(v).strip() for v in items if str(v).strip())


def _text(value: Any) -> str:
    return "" if _blank(value) else str(value).strip()


def _task(where: str, rec: Mapping[str, Any]) -> Subtask:
    human = _number(rec.get("human_hours"), where, rec, "human_hours", None)
    ident = _text(rec.get("id"))
    if human is None:
        raise InvalidTaskTable(
            f"{where}: subtask {ident!r} has no human_hours; say how long a person needs.", ident, "human_hours"
        )
    return Subtask(
        id=ident,
        skill=_text(rec.get("skill")),
        human_hours=human,
        ai_hours=_number(rec.get("ai_hours"), where, rec, "ai_hours", None),
        review_hours=_number(rec.get("review_hours"), where, rec, "review_hours", 0.0) or 0.0,
        p_pass=_number(rec.get("p_pass"), where, rec, "p_pass", None),
        depends_on=_ids(rec.get("depends_on")),
        title=_text(rec.get("title")),
        description=_text(rec.get("description")),
    )


def _worker(where: str, rec: Mapping[str, Any]) -> Worker:
    skills = _ids(rec.get("skills")) if "skills" in rec else ("*",)
    return Worker(
        id=_text(rec.get("id")),
        # `check_workers` refuses any other kind, naming the row, before a Worker is used.
        kind=cast(WorkerKind, _text(rec.get("kind")).lower()),
        skills=skills,
        capacity_hours=_number(rec.get("capacity_hours"), where, rec, "capacity_hours", 0.0) or 0.0,
        cost_per_hour=_number(rec.get("cost_per_hour"), where, rec, "cost_per_hour", 0.0) or 0.0,
    )


def load_tasks(source: TableSource) -> list[Subtask]:
    """Subtasks from a DataFrame, a CSV or YAML path, or a list of mappings; validated.

    Columns: `id, skill, human_hours` (required), `ai_hours` (blank: the AI cannot do it),
    `review_hours`, `p_pass` (blank when a router supplies it), `depends_on`
    (`;`-separated ids), `title`, `description`. Every message names the file and line
    (or the row number of a DataFrame or list).

    >>> [t.depends_on for t in load_tasks([{"id": "a", "skill": "sql", "human_hours": 2},
    ...                                     {"id": "b", "skill": "sql", "human_hours": 1, "depends_on": "a"}])]
    [(), ('a',)]
    """
    columns, records = _read_table(source, "tasks")
    _check_columns(columns, TASK_COLUMNS, TASK_REQUIRED, "tasks")
    subtasks = [_task(where, rec) for where, rec in records]
    check_subtasks(subtasks, where=[where for where, _ in records])
    return subtasks


def load_workers(source: TableSource, required: Sequence[str] = WORKER_REQUIRED) -> list[Worker]:
    """Workers from a DataFrame, a CSV or YAML path, or a list of mappings; validated.

    Columns: `id, kind` (`human` or `ai`), `skills` (`;`-separated, `*` = any),
    `capacity_hours`, `cost_per_hour`. The allocator needs them all; the review store, which
    only needs to know who is a person, reads the same table with `required=("id", "kind")`
    (absent skills mean any, absent hours and costs zero).

    >>> load_workers([{"id": "gpu", "kind": "ai", "skills": "*", "capacity_hours": 8,
    ...                "cost_per_hour": 2}])[0].skills
    ('*',)
    """
    columns, records = _read_table(source, "workers")
    _check_columns(columns, WORKER_COLUMNS, required, "workers")
    workers = [_worker(where, rec) for where, rec in records]
    check_workers(workers, where=[where for where, _ in records])
    return workers


def worker_columns(source: TableSource) -> list[str]:
    """The columns a worker table gives: the review store keeps a team's hours, skills and costs
    (what a re-plan needs) only when the table has them all."""
    return list(_read_table(source, "workers")[0])


def as_subtasks(source: TableSource | Sequence[Subtask]) -> list[Subtask]:
    """Subtasks given as `Subtask` objects (checked) or as any table `load_tasks` reads.

    The one place that tells objects from tables, so `allocate` and the board accept the same
    inputs and check them once.

    >>> [t.id for t in as_subtasks([Subtask("a", "sql", 2)])]
    ['a']
    """
    if _all_of(source, Subtask):
        check_subtasks(source)
        return list(source)
    return load_tasks(source)  # type: ignore[arg-type]  # not objects, so a table


def as_workers(source: TableSource | Sequence[Worker]) -> list[Worker]:
    """Workers given as `Worker` objects (checked) or as any table `load_workers` reads."""
    if _all_of(source, Worker):
        check_workers(source)
        return list(source)
    return load_workers(source)  # type: ignore[arg-type]  # not objects, so a table


def _all_of(source: object, kind: type[T]) -> TypeGuard[Sequence[T]]:
    """A list or tuple of `kind` objects (an empty one too: its checker then says what is missing)."""
    return isinstance(source, (list, tuple)) and all(isinstance(item, kind) for item in source)


def write_plan_csv(plan: Plan, path: str | Path) -> Path:
    """Write `plan.assignments` as CSV: `subtask, worker, role, start, end, share, hours, cost`."""
    path = Path(path)
    plan.assignments.loc[:, list(PLAN_COLUMNS)].to_csv(path, index=False, float_format="%.6g")
    return path
