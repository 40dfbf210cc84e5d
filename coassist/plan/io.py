"""Reading task and worker tables (DataFrame, CSV, YAML) and writing plans as CSV.

Tables arrive from people, so parsing is strict and every complaint names the row and the
column: a typo in a header must not silently become "the AI cannot do anything".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeAlias

import pandas as pd
import yaml

from coassist.errors import InvalidTaskTable
from coassist.plan.model import Plan, Subtask, Worker
from coassist.plan.validate import check_subtasks, check_workers

TableSource: TypeAlias = "str | Path | pd.DataFrame | Sequence[Mapping[str, Any]]"

TASK_COLUMNS = (
    "id", "skill", "human_hours", "ai_hours", "review_hours", "p_pass", "depends_on", "title", "description",
)  # fmt: skip
TASK_REQUIRED = ("id", "skill", "human_hours")
WORKER_COLUMNS = ("id", "kind", "skills", "capacity_hours", "cost_per_hour")
WORKER_REQUIRED = WORKER_COLUMNS
PLAN_COLUMNS = ("subtask", "worker", "role", "start", "end", "share", "hours", "cost")


def _read_table(source: TableSource, yaml_key: str) -> pd.DataFrame:
    if isinstance(source, pd.DataFrame):
        return source
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.exists():
            raise InvalidTaskTable(f"no such file: {str(path)!r}")
        if path.suffix.lower() in (".yaml", ".yml"):
            data = yaml.safe_load(path.read_text())
            if isinstance(data, Mapping):
                if yaml_key not in data:
                    raise InvalidTaskTable(
                        f"{str(path)!r} is a mapping without a {yaml_key!r} key; give a list of rows, "
                        f"or put the rows under {yaml_key!r}."
                    )
                data = data[yaml_key]
            if not isinstance(data, list):
                raise InvalidTaskTable(f"{str(path)!r} must hold a list of rows (mappings).")
            return pd.DataFrame(data)
        return pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    return pd.DataFrame(list(source))


def _rows(
    source: TableSource,
    yaml_key: str,
    allowed: Sequence[str],
    required: Sequence[str],
    check_empty: Callable[[list[Any]], None],
) -> list[tuple[str, dict[str, Any]]]:
    """The table's rows as (id for messages, record), after the column checks.

    An empty table goes to `check_empty`, whose error says what a table of that kind needs.
    """
    frame = _read_table(source, yaml_key)
    if frame.empty:
        check_empty([])
    frame = frame.rename(columns=lambda c: str(c).strip())
    _check_columns(frame, allowed, required, yaml_key.removesuffix("s"))
    return [
        (_text(rec.get("id")) or f"<row {n}>", rec) for n, rec in enumerate(frame.to_dict("records"), start=1)
    ]


def _check_columns(frame: pd.DataFrame, allowed: Sequence[str], required: Sequence[str], what: str) -> None:
    columns = [str(c).strip() for c in frame.columns]
    unknown = [c for c in columns if c not in allowed]
    missing = [c for c in required if c not in columns]
    if unknown or missing:
        problems = []
        if missing:
            problems.append(f"missing column(s) {', '.join(map(repr, missing))}")
        if unknown:
            problems.append(f"unknown column(s) {', '.join(map(repr, unknown))}")
        raise InvalidTaskTable(
            f"the {what} table has {' and '.join(problems)}; expected columns: {', '.join(allowed)} "
            f"(required: {', '.join(required)}).",
            column=(missing or unknown)[0],
        )


def _blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _number(value: Any, row: str, column: str, default: float | None) -> float | None:
    if _blank(value):
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InvalidTaskTable(
            f"row {row!r}: {column} is {value!r}, which is not a number.", row=row, column=column
        ) from None


def _ids(value: Any) -> tuple[str, ...]:
    """A `;`-separated string (CSV) or a list (YAML) of ids."""
    if _blank(value):
        return ()
    items = value if isinstance(value, (list, tuple)) else str(value).split(";")
    return tuple(str(v).strip() for v in items if str(v).strip())


def _text(value: Any) -> str:
    return "" if _blank(value) else str(value).strip()


def load_tasks(source: TableSource) -> list[Subtask]:
    """Subtasks from a DataFrame, a CSV or YAML path, or a list of mappings; validated.

    Columns: `id, skill, human_hours` (required), `ai_hours` (blank: the AI cannot do it),
    `review_hours`, `p_pass` (blank when a router supplies it), `depends_on`
    (`;`-separated ids), `title`, `description`.

    >>> [t.depends_on for t in load_tasks([{"id": "a", "skill": "sql", "human_hours": 2},
    ...                                     {"id": "b", "skill": "sql", "human_hours": 1, "depends_on": "a"}])]
    [(), ('a',)]
    """
    subtasks = []
    for ident, rec in _rows(source, "tasks", TASK_COLUMNS, TASK_REQUIRED, check_subtasks):
        human = _number(rec.get("human_hours"), ident, "human_hours", None)
        if human is None:
            raise InvalidTaskTable(
                f"subtask {ident!r} has no human_hours; say how long a person needs.", ident, "human_hours"
            )
        subtasks.append(
            Subtask(
                id=_text(rec.get("id")),
                skill=_text(rec.get("skill")),
                human_hours=human,
                ai_hours=_number(rec.get("ai_hours"), ident, "ai_hours", None),
                review_hours=_number(rec.get("review_hours"), ident, "review_hours", 0.0) or 0.0,
                p_pass=_number(rec.get("p_pass"), ident, "p_pass", None),
                depends_on=_ids(rec.get("depends_on")),
                title=_text(rec.get("title")),
                description=_text(rec.get("description")),
            )
        )
    check_subtasks(subtasks)
    return subtasks


def load_workers(source: TableSource) -> list[Worker]:
    """Workers from a DataFrame, a CSV or YAML path, or a list of mappings; validated.

    Columns: `id, kind` (`human` or `ai`), `skills` (`;`-separated, `*` = any),
    `capacity_hours`, `cost_per_hour`.

    >>> load_workers([{"id": "gpu", "kind": "ai", "skills": "*", "capacity_hours": 8,
    ...                "cost_per_hour": 2}])[0].skills
    ('*',)
    """
    workers = []
    for ident, rec in _rows(source, "workers", WORKER_COLUMNS, WORKER_REQUIRED, check_workers):
        workers.append(
            Worker(
                id=_text(rec.get("id")),
                kind=_text(rec.get("kind")).lower(),
                skills=_ids(rec.get("skills")),
                capacity_hours=_number(rec.get("capacity_hours"), ident, "capacity_hours", 0.0) or 0.0,
                cost_per_hour=_number(rec.get("cost_per_hour"), ident, "cost_per_hour", 0.0) or 0.0,
            )
        )
    check_workers(workers)
    return workers


def write_plan_csv(plan: Plan, path: str | Path) -> Path:
    """Write `plan.assignments` as CSV: `subtask, worker, role, start, end, share, hours, cost`."""
    path = Path(path)
    plan.assignments.loc[:, list(PLAN_COLUMNS)].to_csv(path, index=False, float_format="%.6g")
    return path
