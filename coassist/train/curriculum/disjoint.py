"""The curriculum holds nothing of the evaluation: no prompt, no near copy, no twin behaviour.

What the evaluation's users typed (its *question texts*) is: a DataFrame or code task's template
with its table named, an error task's cell, a completion task's code before the cursor, and a
HumanEval problem's prompt. The product's own wording that every prompt shares (the system
prompt, the schema sentences, the default error request) is not a question text. Against those:

- `copies`: no question text appears in an example, and no example shares a run of
  `NGRAM` words with one (a near copy);
- `shared_failures`: no explained error fails on a name an evaluation error fails on (the
  missing key, attribute or name: ``summ``, ``price``, ``revenu``), since cells are too short
  for runs of words to tell a copy;
- `twin_behaviours`: no code family's reference passes an evaluation code task's tests;
- `humaneval_twins`: none passes a HumanEval problem's tests either (its question text is
  checked above, but a behaviour can be taught in other words), but for the three the shipped
  adapter was trained with (`SHIPPED_HUMANEVAL_TWINS`).

`coassist curriculum` refuses to write a curriculum that fails any of them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from coassist.eval.sandbox import run_python
from coassist.train.curriculum.code import FAMILIES
from coassist.train.curriculum.example import Example

NGRAM = 8
"""Words in a row that make a near copy."""

SHIPPED_HUMANEVAL_TWINS = frozenset(
    {"prime passes HumanEval/31", "median passes HumanEval/47", "palindrome passes HumanEval/48"}
)
"""Behaviours of the shipped adapter's curriculum that pass HumanEval problems' tests, found after
it shipped (docs/model-card.md says so beside its HumanEval figure). They are let through so that
`make adapter` still rebuilds the shipped adapter; any other twin is refused. Three curricula
without them were trained and measured, and none was shipped (docs/model-card.md, issue 20)."""

_FAILING_NAME = re.compile(
    r"raised (?:KeyError: '(?P<key>[^']+)'|AttributeError: .*?attribute '(?P<attribute>\w+)'|NameError: name '(?P<name>\w+)')"
)


def evaluation_overlaps(examples: list[Example]) -> list[str]:
    """Every way `examples` overlap the evaluation (empty when they are disjoint from it). The
    code families are compared with the evaluation's code tasks when there are code examples."""
    twins: list[str] = []
    if any(example.kind.startswith("code/") for example in examples):
        twins += twin_behaviours()
        twins += [twin for twin in humaneval_twins() if twin not in SHIPPED_HUMANEVAL_TWINS]
    return copies(examples, evaluation_question_texts()) + shared_failures(examples) + twins


def evaluation_question_texts() -> dict[str, str]:
    """Each evaluation task's question text (see the module docstring), by task id."""
    from coassist.eval.humaneval import load_humaneval_tasks
    from coassist.eval.notebook_tasks import (
        CodeTask,
        CompletionTask,
        DataFrameTask,
        ErrorTask,
        load_notebook_tasks,
    )

    texts: dict[str, str] = {}
    for task in load_notebook_tasks():
        if isinstance(task, DataFrameTask):
            texts[task.id] = task.template.replace("{" + task.frame_name + "}", task.frame_name)
        elif isinstance(task, CodeTask):
            texts[task.id] = re.sub(r"\{(\w+)\}", r"\1", task.template)
        elif isinstance(task, ErrorTask):
            texts[task.id] = task.source
        elif isinstance(task, CompletionTask):
            texts[task.id] = task.prefix
    for problem in load_humaneval_tasks():
        texts[problem.id] = problem.problem_prompt
    return texts


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def _ngrams(text: str) -> set[tuple[str, ...]]:
    tokens = words(text)
    return {tuple(tokens[i : i + NGRAM]) for i in range(len(tokens) - NGRAM + 1)}


def _user_text(example: Example) -> str:
    """Everything the example shows the model: every message, or the prompt and completion."""
    if "messages" in example.record:
        return "\n".join(message["content"] for message in example.record["messages"])
    return example.record["prompt"] + example.record["completion"]


def copies(examples: Iterable[Example], texts: dict[str, str]) -> list[str]:
    """``"<task id> in <example kind>: ..."`` for each evaluation question text found in an
    example, whole (spacing aside) or as a shared run of `NGRAM` words."""
    wanted = {task: " ".join(words(text)) for task, text in texts.items() if words(text)}
    grams = {gram: task for task, text in texts.items() for gram in _ngrams(text)}
    found = []
    for example in examples:
        shown = " ".join(words(_user_text(example)))
        for task, text in wanted.items():
            if len(text.split()) >= 3 and f" {text} " in f" {shown} ":
                found.append(f"{task} in {example.kind}: the whole question {text!r}")
        for gram in _ngrams(_user_text(example)) & grams.keys():
            found.append(f"{grams[gram]} in {example.kind}: {' '.join(gram)!r}")
    return sorted(set(found))


def failing_name(question: str) -> str | None:
    """The key, attribute or name an error question's exception is about, if any."""
    match = _FAILING_NAME.search(question)
    return next((value for value in match.groups() if value), None) if match else None


def shared_failures(examples: Iterable[Example]) -> list[str]:
    """``"<name> in <example kind>"`` for each explained error that fails on a name an
    evaluation error task fails on."""
    from coassist.eval.notebook_tasks import ErrorTask, load_notebook_tasks

    evaluated = {failing_name(task.question) for task in load_notebook_tasks() if isinstance(task, ErrorTask)} - {None}
    found = []
    for example in examples:
        if example.kind.startswith("error/"):
            name = failing_name(example.record["messages"][-2]["content"])
            if name in evaluated:
                found.append(f"{name!r} in {example.kind}")
    return sorted(set(found))


@functools.cache
def twin_behaviours() -> tuple[str, ...]:
    """``"<family> passes <task id>"`` for each code family whose reference, named as an
    evaluation code task's function, passes that task's tests (one sandbox run per task)."""
    from coassist.eval.notebook_tasks import CodeTask, load_notebook_tasks

    found: list[str] = []
    for task in load_notebook_tasks():
        if not isinstance(task, CodeTask):
            continue
        entry = re.search(r"`(\w+)\(", task.template)
        if entry is not None:
            found += passing_families(task.id, twin_program(entry.group(1), tests=task.tests, pandas=True))
    return tuple(found)


@functools.cache
def humaneval_twins() -> tuple[str, ...]:
    """``"<family> passes <problem id>"`` for each code family whose reference, named as a
    HumanEval problem's entry point and placed after the problem's prompt (its imports and
    helpers), passes the problem's own `check` (one sandbox run per problem)."""
    from coassist.eval.humaneval import load_humaneval_tasks

    found: list[str] = []
    for problem in load_humaneval_tasks():
        tests = f"\n\n{problem.test}\n\ncheck({problem.entry_point})\n"
        program = twin_program(problem.entry_point, tests=tests, preamble=problem.problem_prompt + "\n\n", pandas=False)
        found += passing_families(problem.id, program)
    return tuple(found)


def passing_families(task_id: str, program: str) -> list[str]:
    """Run a `twin_program`: the families it names as passing `task_id`, or its failure to run
    (counted as an overlap, since it proves nothing)."""
    result = run_python(program, timeout_s=60)
    if result.ok:  # no family passed
        return []
    named = [family for family in result.detail.split() if family in FAMILIES]
    return [f"{family} passes {task_id}" for family in named] or [f"{task_id}: {result.detail}"]


def twin_program(function: str, tests: str, preamble: str = "", *, pandas: bool) -> str:
    """A program that runs `preamble`, each family's reference as `function`, then `tests`; it
    exits 1 naming the families that pass (0 when none does). `pandas` makes ``pd`` available,
    as the notebook tasks' tests expect."""
    lines = ["import sys", "import pandas as pd" if pandas else "pd = None", "passed = []"]
    for name, family in FAMILIES.items():
        reference = f"def {function}({family.signature}):\n{family.body}\n"
        lines += [
            "try:",
            f"    exec({preamble + reference + tests!r}, {{'pd': pd}})",
            f"    passed.append({name!r})",
            "except Exception:",
            "    pass",
        ]
    lines.append("if passed:\n    sys.exit(' '.join(passed))")
    return "\n".join(lines) + "\n"
