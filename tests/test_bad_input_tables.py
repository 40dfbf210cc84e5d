"""Every reader of task and worker tables refuses bad input with one line naming where to look.

Driven through `coassist allocate` (exit 1 for bad input, 2 when no plan exists, nothing
written), and through `import_plan`, which reads the tables with the same reader and validator.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from coassist.cli import main
from coassist.errors import InvalidTaskTable

TASKS = "id,skill,human_hours,ai_hours,review_hours,p_pass,depends_on\na,sql,4,1,1,0.5,\nb,viz,2,,,,a\n"
WORKERS = "id,kind,skills,capacity_hours,cost_per_hour\nann,human,sql;viz,40,50\ngpu,ai,*,8,2\n"


def allocate_cli(tmp_path: Path, capsys, tasks: str | bytes, workers: str | bytes = WORKERS,
                 suffix: str = ".csv", extra: tuple[str, ...] = ()) -> tuple[int, str]:  # fmt: skip
    """Run `coassist allocate` on the given file contents; the exit code and stderr."""
    task_file, worker_file = tmp_path / f"tasks{suffix}", tmp_path / "workers.csv"
    for path, content in ((task_file, tasks), (worker_file, workers)):
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    out = tmp_path / "plan.csv"
    try:
        code = main(["allocate", "--tasks", str(task_file), "--workers", str(worker_file), "--out", str(out), *extra])
    except SystemExit as exit_:  # argparse's own refusals
        code = int(exit_.code or 0)
    err = capsys.readouterr().err
    if code != 0:
        assert not out.exists(), "a refused run wrote a plan"
        assert "Traceback" not in err, err
    if code == 1:
        assert err.count("\n") <= 4, err  # one line (argparse adds its usage lines)
    return code, err


def test_the_good_tables_plan(tmp_path: Path, capsys) -> None:
    assert allocate_cli(tmp_path, capsys, TASKS) == (0, "")


TASK_CASES = {
    # rows that do not fit the header: never shifted into other columns
    "extra-field": (TASKS + "c,sql,1,,,,,surplus\n", "tasks.csv line 4: 8 fields, but the header has 7"),
    "trailing-comma": (TASKS.replace("a,sql,4,1,1,0.5,\n", "a,sql,4,1,1,0.5,,\n"), "line 2: 8 fields, but the header has 7"),
    "missing-field": (TASKS + "c,sql,1\n", "line 4: 3 fields, but the header has 7"),
    "unquoted-comma-in-title": ("id,skill,human_hours,title\na,sql,1,Load, clean\n", "line 2: 5 fields, but the header has 4"),
    # files that are not a UTF-8 table
    "empty-file": ("", "tasks.csv is empty"),
    "only-blank-lines": ("\n\n  \n", "tasks.csv is empty"),
    "utf-16": (TASKS.encode("utf-16"), "is UTF-16; save it as UTF-8"),
    "latin-1": ("id,skill,human_hours,title\na,sql,1,Café\n".encode("latin-1"), "line 2: byte 0xe9 is not UTF-8"),
    "binary-garbage": (bytes(range(256)) * 4, "NUL bytes"),
    "unterminated-quote": ('id,skill,human_hours,title\na,sql,1,"never closed\nb,sql,2,x\n', "quote"),
    "header-only": ("id,skill,human_hours\n", "no subtasks"),
    # columns
    "unknown-column": ("id,skill,human_hour\na,sql,1\n", "unknown column(s) 'human_hour'"),
    "missing-required-column": ("id,human_hours\na,1\n", "missing column(s) 'skill'"),
    # numbers
    "huge-hours": (TASKS.replace("a,sql,4,", "a,sql,1e300,"), "human_hours is 1e+300, but it must be a finite number from 0 to 10,000"),
    "nan-hours": (TASKS.replace("a,sql,4,", "a,sql,nan,"), "human_hours is nan, but it must be a finite number"),
    "inf-hours": (TASKS.replace("a,sql,4,", "a,sql,inf,"), "human_hours is inf"),
    "negative-hours": (TASKS.replace("a,sql,4,", "a,sql,-4,"), "tasks.csv line 2: subtask 'a': human_hours is -4.0"),
    "text-hours": (TASKS.replace("a,sql,4,", "a,sql,four,"), "tasks.csv line 2, row 'a': human_hours is 'four', which is not a number"),
    "blank-human-hours": (TASKS.replace("a,sql,4,", "a,sql,,"), "line 2: subtask 'a' has no human_hours"),
    "huge-ai-hours": (TASKS.replace("a,sql,4,1,", "a,sql,4,20000,"), "ai_hours is 20000.0"),
    "p-pass-above-one": (TASKS.replace(",0.5,", ",1.5,"), "line 2: subtask 'a': p_pass is 1.5, but it is a probability"),
    "p-pass-negative": (TASKS.replace(",0.5,", ",-0.1,"), "p_pass is -0.1"),
    # ids and dependencies
    "empty-id": (TASKS + ",sql,1,,,,\n", "tasks.csv line 4: a subtask has an empty id"),
    "duplicate-id": (TASKS + "a,sql,1,,,,\n", "line 4: subtask id 'a' appears more than once (also at tasks.csv line 2)"),
    "empty-skill": (TASKS.replace("b,viz,", "b,,"), "line 3: subtask 'b' has no skill"),
    "unknown-dependency": (TASKS.replace(",,,,a\n", ",,,,zz\n"), "line 3: subtask 'b' depends on 'zz', which is not in the table"),
    "cycle": (TASKS.replace("0.5,\n", "0.5,b\n"), "form a cycle"),
}  # fmt: skip


@pytest.mark.parametrize(("tasks", "words"), TASK_CASES.values(), ids=TASK_CASES.keys())
def test_bad_task_csv(tmp_path: Path, capsys, tasks: str | bytes, words: str) -> None:
    code, err = allocate_cli(tmp_path, capsys, tasks)
    assert code == 1 and words in err, err


WORKER_CASES = {
    "kind": (WORKERS.replace("gpu,ai", "gpu,robot"), "workers.csv line 3: worker 'gpu' has kind 'robot'"),
    "no-skills": (WORKERS.replace("sql;viz", ""), "line 2: worker 'ann' has no skills"),
    "huge-cost": (WORKERS.replace(",40,50", ",40,1e300"), "cost_per_hour is 1e+300, but it must be a finite number from 0 to 1,000,000"),
    "huge-capacity": (WORKERS.replace(",40,50", ",1e12,50"), "capacity_hours is 1000000000000.0"),
    "negative-capacity": (WORKERS.replace(",40,50", ",-1,50"), "capacity_hours is -1.0"),
    "duplicate-id": (WORKERS + "ann,human,sql,1,1\n", "worker id 'ann' appears more than once (also at workers.csv line 2)"),
    "empty-id": (WORKERS + ",human,sql,1,1\n", "workers.csv line 4: a worker has an empty id"),
    "extra-field": (WORKERS + "bo,human,sql,1,1,oops\n", "workers.csv line 4: 6 fields, but the header has 5"),
    "missing-cost-column": ("id,kind,skills,capacity_hours\nann,human,sql,4\n", "missing column(s) 'cost_per_hour'"),
}  # fmt: skip


@pytest.mark.parametrize(("workers", "words"), WORKER_CASES.values(), ids=WORKER_CASES.keys())
def test_bad_worker_csv(tmp_path: Path, capsys, workers: str, words: str) -> None:
    code, err = allocate_cli(tmp_path, capsys, TASKS, workers)
    assert code == 1 and words in err, err


YAML_CASES = {
    "malformed": ("tasks:\n  - {id: a, skill: sql\n", "tasks.yaml line 3, column 1: malformed YAML"),
    "bool-hours": ("- {id: a, skill: sql, human_hours: true}\n", "tasks.yaml line 1, row 'a': human_hours is True, which is not a number"),
    "list-hours": ("- {id: a, skill: sql, human_hours: [1, 2]}\n", "human_hours is [1, 2], which is not a number"),
    "row-not-mapping": ("- {id: a, skill: sql, human_hours: 1}\n- just text\n", "tasks.yaml line 2: the row is a str"),
    "not-a-list": ("tasks: 3\n", "must hold a list of rows"),
    "wrong-key": ("jobs: []\n", "without a 'tasks' key"),
    "empty": ("", "tasks.yaml is empty"),
    "second-row-line": ("tasks:\n- {id: a, skill: sql, human_hours: 1}\n- {id: b, skill: sql, human_hours: -2}\n", "tasks.yaml line 3: subtask 'b': human_hours is -2.0"),
}  # fmt: skip


@pytest.mark.parametrize(("tasks", "words"), YAML_CASES.values(), ids=YAML_CASES.keys())
def test_bad_task_yaml(tmp_path: Path, capsys, tasks: str, words: str) -> None:
    code, err = allocate_cli(tmp_path, capsys, tasks, suffix=".yaml")
    assert code == 1 and words in err, err


OPTION_CASES = {
    "time-limit-nan": (("--time-limit", "nan"), "time_limit: must be seconds in (0, 86400], got nan"),
    "time-limit-inf": (("--time-limit", "inf"), "got inf"),
    "time-limit-zero": (("--time-limit", "0"), "got 0.0"),
    "time-limit-negative": (("--time-limit", "-5"), "got -5.0"),
    "gap-one": (("--gap", "1"), "gap: must be a number in [0, 1)"),
    "gap-nan": (("--gap", "nan"), "got nan"),
    "gantt-suffix": (("--gantt", "chart.xyz"), "--gantt: 'chart.xyz' has no image suffix matplotlib can write"),
    "gantt-missing-folder": (("--gantt", "/no/such/folder/g.png"), "--gantt: the folder '/no/such/folder' does not exist"),
    "unknown-flag": (("--bogus",), "unrecognized arguments: --bogus"),
    "time-limit-text": (("--time-limit", "soon"), "invalid float value: 'soon'"),
}  # fmt: skip


@pytest.mark.parametrize(("extra", "words"), OPTION_CASES.values(), ids=OPTION_CASES.keys())
def test_bad_options_are_refused_before_solving(tmp_path: Path, capsys, extra: tuple[str, ...], words: str) -> None:
    if extra[0] == "--gantt" and not extra[1].startswith("/"):
        extra = (extra[0], str(tmp_path / extra[1]))
        words = words.replace("'chart.xyz'", repr(extra[1]))
    code, err = allocate_cli(tmp_path, capsys, TASKS, extra=extra)
    assert code == 1 and words in err, err


@pytest.mark.parametrize("kind", ["missing-folder", "directory"])
def test_out_is_checked_before_solving(tmp_path: Path, capsys, kind: str) -> None:
    (tmp_path / "tasks.csv").write_text(TASKS)
    (tmp_path / "workers.csv").write_text(WORKERS)
    out = tmp_path / "nope" / "plan.csv" if kind == "missing-folder" else tmp_path
    code = main(["allocate", "--tasks", str(tmp_path / "tasks.csv"), "--workers", str(tmp_path / "workers.csv"),
                 "--out", str(out)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1
    assert ("does not exist; create it first" if kind == "missing-folder" else "is a directory; give a file name") in err


@pytest.mark.parametrize("which", ["--tasks", "--workers"])
def test_a_directory_or_missing_file_as_a_table(tmp_path: Path, capsys, which: str) -> None:
    (tmp_path / "tasks.csv").write_text(TASKS)
    (tmp_path / "workers.csv").write_text(WORKERS)
    args = {"--tasks": str(tmp_path / "tasks.csv"), "--workers": str(tmp_path / "workers.csv")}
    for bad, words in ((str(tmp_path), "is a directory"), (str(tmp_path / "gone.csv"), "no such file")):
        argv = ["allocate", *[x for k, v in {**args, which: bad}.items() for x in (k, v)], "--out", str(tmp_path / "p.csv")]
        assert main(argv) == 1
        assert words in capsys.readouterr().err


def test_no_plan_exists_exits_2(tmp_path: Path, capsys) -> None:
    code, err = allocate_cli(tmp_path, capsys, TASKS, WORKERS.replace(",40,50", ",1,50").replace(",8,2", ",0,2"))
    assert code == 2 and "no plan" in err.lower()


def test_a_bom_and_blank_lines_are_fine(tmp_path: Path, capsys) -> None:
    assert allocate_cli(tmp_path, capsys, b"\xef\xbb\xbf" + TASKS.replace("\nb,", "\n\nb,").encode())[0] == 0


# --- the review store reads the same tables with the same rules -------------------------------


def _review_tables() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    from tests.test_review_support import small_plan

    return small_plan()


REVIEW_CASES = {
    "empty-id": (0, "id", "", "a subtask has an empty id"),
    "negative-hours": (0, "human_hours", -2.0, "human_hours is -2.0"),
    "huge-hours": (0, "review_hours", 1e300, "must be a finite number from 0 to 10,000"),
    "empty-skill": (0, "skill", "", "has no skill"),
    "text-hours": (0, "human_hours", "two", "human_hours is 'two', which is not a number"),
    "worker-empty-id": (1, "id", "", "a worker has an empty id"),
    "worker-kind": (1, "kind", "robot", "has kind 'robot'"),
}


@pytest.mark.parametrize(("which", "column", "value", "words"), REVIEW_CASES.values(), ids=REVIEW_CASES.keys())
def test_import_plan_uses_the_allocators_rules(tmp_path: Path, which: int, column: str, value: object, words: str) -> None:
    from coassist.review import import_plan, open_store

    frames = list(_review_tables())
    frames[which] = frames[which].astype({column: object})
    frames[which].at[0, column] = value
    with open_store(f"sqlite:///{tmp_path / 'r.db'}") as store:
        with pytest.raises(InvalidTaskTable, match=words.replace("(", r"\(").replace(")", r"\)")) as caught:
            import_plan(store, *frames)
        assert "position 1" in str(caught.value)
        with store.engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT count(*) FROM plans").scalar() == 0


def test_import_plan_accepts_what_the_allocator_accepts(tmp_path: Path) -> None:
    """No review_hours or p_pass columns for a person-only plan: the allocator takes it, so does the store."""
    from coassist.plan import allocate
    from coassist.review import import_plan, open_store

    tasks = pd.DataFrame({"id": ["a"], "skill": ["sql"], "human_hours": [2.0]})
    workers = pd.DataFrame({"id": ["ann"], "kind": ["human"], "skills": ["sql"], "capacity_hours": [8.0],
                            "cost_per_hour": [10.0]})  # fmt: skip
    with open_store(f"sqlite:///{tmp_path / 'r.db'}") as store:
        assert import_plan(store, tasks, workers, allocate(tasks, workers)) == 1


def test_import_plan_refuses_a_bad_start_hour(tmp_path: Path) -> None:
    from coassist.review import import_plan, open_store

    subtasks, workers, plan = _review_tables()
    plan = plan.astype({"start": object})
    plan.at[0, "start"] = "soon"
    with open_store(f"sqlite:///{tmp_path / 'r.db'}") as store:
        with pytest.raises(InvalidTaskTable, match="plan row 0 has start 'soon'; it must be hours"):
            import_plan(store, subtasks, workers, plan)
