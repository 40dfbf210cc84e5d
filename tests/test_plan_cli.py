"""`coassist allocate`: the command-line contract (files, columns, exit codes)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import pytest

from coassist.plan.cli import add_allocate_command

DATA = Path(__file__).resolve().parents[1] / "examples" / "data"


def run(argv):
    parser = argparse.ArgumentParser(prog="coassist")
    add_allocate_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["allocate", *argv])
    return args.run(args)


def write(path, rows):
    pd.DataFrame(rows).to_csv(path, index=False)
    return str(path)


@pytest.fixture
def small(tmp_path):
    tasks = write(
        tmp_path / "tasks.csv",
        [
            {
                "id": "a",
                "skill": "sql",
                "human_hours": 4,
                "ai_hours": 1,
                "review_hours": 1,
                "p_pass": 0.5,
                "depends_on": "",
            },
            {
                "id": "b",
                "skill": "viz",
                "human_hours": 2,
                "ai_hours": "",
                "review_hours": "",
                "p_pass": "",
                "depends_on": "a",
            },
        ],
    )
    workers = write(
        tmp_path / "workers.csv",
        [
            {"id": "ann", "kind": "human", "skills": "sql;viz", "capacity_hours": 8, "cost_per_hour": 50},
            {"id": "gpu", "kind": "ai", "skills": "*", "capacity_hours": 8, "cost_per_hour": 2},
        ],
    )
    return tasks, workers


def test_plan_csv_and_summary(small, tmp_path, capsys):
    tasks, workers = small
    out = tmp_path / "plan.csv"
    assert (
        run(["--tasks", tasks, "--workers", workers, "--out", str(out), "--gantt", str(tmp_path / "g.png")])
        == 0
    )
    plan = pd.read_csv(out)
    assert list(plan.columns[:5]) == ["subtask", "worker", "role", "start", "end"]
    assert plan[["subtask", "worker", "role", "start", "end"]].values.tolist() == [
        ["a", "gpu", "do", 0.0, 1.0],
        ["a", "ann", "review", 1.0, 4.0],
        ["b", "ann", "do", 4.0, 6.0],
    ]
    printed = capsys.readouterr().out
    assert "cost 252.00 (optimal" in printed and "gap 0.00%" in printed
    assert "makespan 6.00 h" in printed
    assert "ann     human    5.00        8.00          62%" in printed
    assert (tmp_path / "g.png").exists()


def test_relax_prints_shadow_prices(small, tmp_path, capsys):
    tasks, workers = small
    low = write(
        tmp_path / "low.csv",
        [
            {"id": "ann", "kind": "human", "skills": "sql;viz", "capacity_hours": 8, "cost_per_hour": 50},
            {"id": "gpu", "kind": "ai", "skills": "*", "capacity_hours": 0.5, "cost_per_hour": 2},
        ],
    )
    assert run(["--tasks", tasks, "--workers", low, "--out", str(tmp_path / "p.csv"), "--relax"]) == 0
    printed = capsys.readouterr().out
    # half of a by the GPU: one more GPU-hour saves 200 - (2 + 150) = 48
    assert "relaxed" in printed and "gpu     48.00 per GPU-hour" in printed
    plan = pd.read_csv(tmp_path / "p.csv")
    shares = sorted(zip(plan["subtask"], plan["worker"], plan["role"], plan["share"], strict=False))
    assert shares == [
        ("a", "ann", "do", 0.5),
        ("a", "ann", "review", 0.5),
        ("a", "gpu", "do", 0.5),
        ("b", "ann", "do", 1.0),
    ]


def test_infeasible_exits_2_with_the_explanation_on_stderr(small, tmp_path, capsys):
    tasks, _ = small
    workers = write(
        tmp_path / "w.csv",
        [
            {"id": "ann", "kind": "human", "skills": "sql", "capacity_hours": 1, "cost_per_hour": 50},
            {"id": "gpu", "kind": "ai", "skills": "*", "capacity_hours": 8, "cost_per_hour": 2},
        ],
    )
    out = tmp_path / "plan.csv"
    assert run(["--tasks", tasks, "--workers", workers, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "nobody can take subtask 'b'" in err and "skill 'sql'" in err
    assert not out.exists()


def test_invalid_input_exits_1_naming_the_row(small, tmp_path, capsys):
    _, workers = small
    tasks = write(tmp_path / "t.csv", [{"id": "a", "skill": "sql", "human_hours": 1, "depends_on": "zz"}])
    assert run(["--tasks", tasks, "--workers", workers, "--out", str(tmp_path / "p.csv")]) == 1
    assert "subtask 'a' depends on 'zz', which is not in the table" in capsys.readouterr().err


def test_example_data_allocates(tmp_path):
    out = tmp_path / "plan.csv"
    assert (
        run(
            [
                "--tasks",
                str(DATA / "tasks.csv"),
                "--workers",
                str(DATA / "workers.yaml"),
                "--out",
                str(out),
                "--gap",
                "0.01",
                "--time-limit",
                "10",
            ]
        )
        == 0
    )
    plan = pd.read_csv(out)
    assert set(plan.loc[plan["role"] == "do", "subtask"]) == set(pd.read_csv(DATA / "tasks.csv")["id"])
