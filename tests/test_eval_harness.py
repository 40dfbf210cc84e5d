"""`coassist eval`: HumanEval scoring, the runner, the report's statistics, team data and the CLI."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from coassist.cli import main
from coassist.errors import InvalidOption
from coassist.eval import load_tasks, product_defaults
from coassist.eval.humaneval import PROBLEM_COUNT, load_humaneval_tasks
from coassist.eval.report import EvalReport, wilson_interval
from coassist.eval.runner import TaskResult, run_tasks
from coassist.eval.tasks import Category, Score
from coassist.eval.team import CHRF_PASS, load_team_tasks
from coassist.llm.chat import GenerationSettings, Message
from coassist.review.prompts import DependencyResult, draft_messages
from tests.scripted_model import ScriptedModel

# --- HumanEval ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def humaneval():
    return load_humaneval_tasks()


def test_humaneval_has_its_164_problems_in_order(humaneval) -> None:
    assert len(humaneval) == PROBLEM_COUNT == 164
    assert [task.id for task in humaneval[:3]] == ["HumanEval/0", "HumanEval/1", "HumanEval/2"]
    assert {task.category for task in humaneval} == {"humaneval"}


@pytest.mark.parametrize("index", [0, 10, 32])
def test_canonical_solutions_pass_as_a_fenced_function_and_as_a_bare_body(humaneval, index: int) -> None:
    task = humaneval[index]
    full_function = task.problem_prompt + task.canonical_solution
    fenced = f"Here is the function:\n```python\n{full_function}```\nIt works."
    assert task.score(fenced).passed, task.score(fenced).detail
    assert task.score(task.canonical_solution).passed  # the original completion format


def test_a_wrong_answer_fails_with_the_reason(humaneval) -> None:
    task = humaneval[0]
    result = task.score(f"```python\ndef {task.entry_point}(numbers, threshold):\n    return False\n```")
    assert not result.passed
    assert "AssertionError" in result.detail


def test_the_humaneval_prompt_shows_the_problem_and_asks_for_one_block(humaneval) -> None:
    task = humaneval[0]
    messages = task.prompt(ScriptedModel(""), task.settings(product_defaults()))
    assert [m["role"] for m in messages] == ["user"]
    assert f"```python\n{task.problem_prompt.strip()}\n```" in messages[0]["content"]
    settings = task.settings(GenerationSettings(max_new_tokens=16, temperature=0.7))
    assert settings.temperature == 0.0 and settings.max_new_tokens >= 300


# --- runner and report -------------------------------------------------------------


@dataclass
class ExpectTask:
    """A task that passes when the answer contains `expected`; Ctrl-C while scoring when `interrupt`."""

    id: str
    category: Category
    expected: str
    interrupt: bool = False

    def prompt(self, model: object, settings: GenerationSettings) -> list[Message]:
        return [{"role": "user", "content": f"Say {self.expected}"}]

    def settings(self, defaults: GenerationSettings) -> GenerationSettings:
        return defaults

    def score(self, answer: str) -> Score:
        if self.interrupt:
            raise KeyboardInterrupt
        return Score(passed=self.expected in answer, detail="" if self.expected in answer else "missing")


def test_the_runner_scores_each_answer_and_keeps_finished_results_on_ctrl_c() -> None:
    model = ScriptedModel("the answer is 42 and the answer is 42 again")
    tasks = [ExpectTask("a", "code", "42"), ExpectTask("b", "error", "17"), ExpectTask("c", "code", "42", interrupt=True)]
    run = run_tasks(model, tasks, product_defaults())
    assert run.interrupted
    assert [(r.task_id, r.category, r.passed, r.detail) for r in run.results] == [
        ("a", "code", True, ""),
        ("b", "error", False, "missing"),
    ]
    assert run.results[0].answer == model.answer and run.results[0].finish == "stop"
    assert run.results[0].new_tokens == len(model.answer.split())


@pytest.mark.parametrize(
    ("passed", "n", "low", "high"),
    [(0, 10, 0.0, 0.27754), (5, 10, 0.23659, 0.76341), (1, 20, 0.00888, 0.23613), (20, 20, 0.83887, 1.0)],
)
def test_wilson_interval_matches_hand_computed_values(passed: int, n: int, low: float, high: float) -> None:
    assert wilson_interval(passed, n) == pytest.approx((low, high), abs=5e-5)


def _result(model: str, category: Category, passed: bool, **changes: object) -> TaskResult:
    base = TaskResult(
        model=model, task_id="t", category=category, passed=passed, value=None, detail="", degenerate=False,
        finish="stop", new_tokens=11, first_token_seconds=0.5, seconds=1.5, tokens_per_second=10.0, answer="x",
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_the_report_aggregates_per_model_and_category() -> None:
    results = [
        _result("m1", "humaneval", True),
        _result("m1", "humaneval", False, degenerate=True, finish="length", new_tokens=21, first_token_seconds=1.0, seconds=3.0),
        _result("m1", "humaneval", False, first_token_seconds=2.0, seconds=2.0, new_tokens=1),
        _result("m1", "team", True, value=80.0),
        _result("m1", "team", False, value=20.0),
        _result("m2", "humaneval", False, finish="prompt too long", new_tokens=0, first_token_seconds=None, seconds=0.0),
    ]
    summaries = {(s.model, s.category): s for s in EvalReport(results).summaries()}
    assert list(summaries) == [("m1", "humaneval"), ("m1", "team"), ("m1", "all"), ("m2", "humaneval"), ("m2", "all")]
    humaneval = summaries["m1", "humaneval"]
    assert (humaneval.n, humaneval.passed) == (3, 1)
    assert humaneval.pass_rate == pytest.approx(1 / 3)
    assert humaneval.degenerate_rate == pytest.approx(1 / 3) and humaneval.cutoff_rate == pytest.approx(1 / 3)
    assert humaneval.median_first_token_s == 1.0
    assert humaneval.decode_tokens_per_second == pytest.approx((10 + 20) / (1.0 + 2.0))  # the 1-token answer adds none
    assert humaneval.mean_value is None
    assert summaries["m1", "team"].mean_value == 50.0
    assert summaries["m1", "all"].n == 5 and summaries["m1", "all"].passed == 2
    absent = summaries["m2", "humaneval"]
    assert absent.median_first_token_s is None and absent.decode_tokens_per_second is None


def test_the_report_renders_a_table_markdown_and_json(tmp_path: Path) -> None:
    report = EvalReport([_result("m1", "code", True), _result("m1", "code", False)], interrupted=True, notes={"router p_pass": "mean 0.61"})
    lines = str(report).splitlines()
    assert lines[0].split() == ["model", "set", "n", "passed", "rate", "95%", "CI", "degenerate", "loop", "stopped", "cut", "off", "ttft", "s", "tok/s", "chrF"]
    assert lines[1].split() == ["m1", "code", "2", "1", "50.0%", "9-91%", "0.0%", "0.0%", "0.0%", "0.50", "10.0", "-"]
    assert lines[2].split()[:2] == ["m1", "all"]
    assert "router p_pass: mean 0.61" in lines and any(line.startswith("interrupted") for line in lines)
    markdown = report.markdown().splitlines()
    assert markdown[0].startswith("| model | set |") and markdown[1].startswith("|---|---|---:")
    assert markdown[2] == "| m1 | code | 2 | 1 | 50.0% | 9-91% | 0.0% | 0.0% | 0.0% | 0.50 | 10.0 | - |"
    report.write_json(tmp_path / "r.json")
    written = json.loads((tmp_path / "r.json").read_text())
    assert written["interrupted"] is True and len(written["results"]) == 2
    assert written["summaries"][0]["ci_low"] == pytest.approx(wilson_interval(1, 2)[0])


# --- sets ----------------------------------------------------------------------------


def test_limit_takes_the_first_tasks_of_each_set(tmp_path: Path) -> None:
    team = tmp_path / "team.jsonl"
    rows = [{"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]} for i in range(3)]
    team.write_text("".join(json.dumps(row) + "\n" for row in rows))
    tasks = load_tasks(["humaneval", "team"], limit=2, team_data=team)
    assert [task.id for task in tasks] == ["HumanEval/0", "HumanEval/1", "team/1", "team/2"]


def test_team_drafts_are_scored_by_chrf_against_the_reviewers_text(tmp_path: Path) -> None:
    reference = "Join the orders and customers tables on customer_id, then sum revenue per region."
    path = tmp_path / "team.jsonl"
    prompt = draft_messages("Revenue", "Sum revenue by region.\n\nUse SQL.", "sql", [DependencyResult("k", "Load", "done")], 100)
    row = {"messages": [*prompt, {"role": "assistant", "content": reference}]}
    path.write_text(json.dumps(row) + "\n\n")
    [task] = load_team_tasks(path)
    assert task.prompt(ScriptedModel(""), product_defaults()) == row["messages"][:1]
    assert task.subtask() == ("Revenue", "sql", "Sum revenue by region.\n\nUse SQL.")
    bare = dataclasses.replace(task, messages=tuple(draft_messages("Revenue", "", "sql", [], 100)))
    assert bare.subtask() == ("Revenue", "sql", "")
    exact = task.score(reference)
    assert exact.passed and exact.value == pytest.approx(100.0)
    unrelated = task.score("Plot a histogram of the ages.")
    assert not unrelated.passed and unrelated.value is not None and unrelated.value < CHRF_PASS


@pytest.mark.parametrize(
    ("content", "message"),
    [("not json\n", "line 1 is not JSON"), ('{"messages": [{"role": "user", "content": "q"}]}\n', "line 1: expected"), ("\n", "holds no rows")],
)
def test_malformed_team_data_names_the_flag_and_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "team.jsonl"
    path.write_text(content)
    with pytest.raises(InvalidOption, match=message) as raised:
        load_team_tasks(path)
    assert raised.value.option == "--team-data"


# --- CLI -----------------------------------------------------------------------------


def test_cli_runs_humaneval_end_to_end(tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The tiny model's 256-token context cannot hold the prompt and a 384-token answer: the task
    # is recorded as failed, not answered, and the run goes on (the slow test below generates).
    out = tmp_path / "eval.json"
    assert main(["eval", "--model", str(tiny_model_dir), "--sets", "humaneval", "--limit", "1", "--json", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:5] == ["model", "set", "n", "passed", "rate"]
    assert lines[1].split()[1:6] == ["humaneval", "1", "0", "0.0%", "0-79%"]
    assert lines[2].split()[1:3] == ["all", "1"]
    written = json.loads(out.read_text())
    [result] = written["results"]
    assert result["task_id"] == "HumanEval/0" and result["passed"] is False
    assert result["finish"] == "prompt too long" and "context holds 256 tokens" in result["detail"]


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--limit", "0"], "--limit"),
        (["--limit", "ten"], "--limit"),
        (["--sets", "humaneval,mmlu"], "--sets"),
        (["--sets", "team"], "--team-data"),
        (["--team-data", "x.jsonl"], "--team-data"),
        (["--router", "r"], "--router"),
        (["--json", "/nonexistent-dir/eval.json"], "--json"),
        (["--device", "tpu"], "--device"),
        (["--dtype", "float64"], "--dtype"),
    ],
)
def test_cli_bad_flags_exit_1_naming_the_flag_before_any_model_loads(
    argv: list[str], flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # The model spec names nothing loadable: a message about the flag proves it was checked first.
    assert main(["eval", "--model", "no-such-model-dir", *argv]) == 1
    error = capsys.readouterr().err
    assert error.startswith(f"coassist eval: {flag}:"), error
    assert len(error.strip().splitlines()) == 1


@pytest.mark.slow
def test_smollm2_on_two_humaneval_problems(smollm2_cache: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("COASSIST_CACHE", str(smollm2_cache))
    out = tmp_path / "eval.json"
    assert main(["eval", "--model", "smollm2", "--sets", "humaneval", "--limit", "2", "--json", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    row = lines[1].split()
    assert row[:3] == ["smollm2", "humaneval", "2"]
    assert row[4].endswith("%") and float(row[9]) > 0  # a pass rate, and a decode rate in tok/s
    results = json.loads(out.read_text())["results"]
    assert all(r["new_tokens"] > 1 and r["tokens_per_second"] > 0 for r in results)


def test_the_router_note_gives_its_mean_p_pass_over_the_team_subtasks(tmp_path: Path) -> None:
    from coassist.eval.team import router_note
    from coassist.train.router import Router
    from coassist.train.skill_prior import SkillPrior

    router_dir = Router(SkillPrior(0.5, {"sql": 0.9, "ml": 0.3})).save(tmp_path / "router")
    path = tmp_path / "team.jsonl"
    rows = [
        [*draft_messages("Revenue", "", "sql", [], 100), {"role": "assistant", "content": "SELECT 1"}],
        [*draft_messages("Model", "Fit it.", "ml", [], 100), {"role": "assistant", "content": "fit()"}],
        [{"role": "user", "content": "free-form question"}, {"role": "assistant", "content": "answer"}],
    ]
    path.write_text("".join(json.dumps({"messages": messages}) + "\n" for messages in rows))
    note = router_note(load_team_tasks(path), router_dir)
    assert note.startswith("mean 0.60 over 2 of 3 team subtasks")
    with pytest.raises(InvalidOption, match="holds no router.json") as raised:
        router_note(load_team_tasks(path), tmp_path)
    assert raised.value.option == "--router"
