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
- `twin_behaviours`: no code family's reference passes an evaluation code task's tests.

`coassist curriculum` refuses to write a curriculum that fails any of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from coassist.eval.sandbox import run_python
from coassist.train.curriculum.code import FAMILIES
from coassist.train.curriculum.example import Example

NGRAM = 8
"""Words in a row that make a near copy."""

_FAILING_NAME = re.compile(
    r"raised (?:KeyError: '(?P<key>[^']+)'|AttributeError: .*?attribute '(?P<attribute>\w+)'|NameError: name '(?P<name>\w+)')"
)


def evaluation_overlaps(examples: list[Example]) -> list[str]:
    """Every way `examples` overlap the evaluation (empty when they are disjoint from it). The
    code families are compared with the evaluation's code tasks when there are code examples."""
    twins = twin_behaviours() if any(example.kind.startswith("code/") for example in examples) else []
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


def twin_behaviours() -> list[str]:
    """``"<family> passes <task id>"`` for each code family whose reference, named as an
    evaluation code task's function, passes that task's tests (one sandbox run per task)."""
    from coassist.eval.notebook_tasks import CodeTask, load_notebook_tasks

    found = []
    for task in load_notebook_tasks():
        if not isinstance(task, CodeTask):
            continue
        entry = re.search(r"`(\w+)\(", task.template)
        if entry is None:
            continue
        result = run_python(_twin_program(entry.group(1), task.tests), timeout_s=60)
        if not result.ok:  # it exits 1 naming the families that passed, or failed to run
            named = [family for family in result.detail.split() if family in FAMILIES]
            found += [f"{family} passes {task.id}" for family in named] or [f"{task.id}: {result.detail}"]
    return found


def _twin_program(function: str, tests: str) -> str:
    """A program that tries each family's reference as `function` against `tests`; it exits 1
    naming the families that pass (0 when none does)."""
    lines = ["import sys", "import pandas as pd", "passed = []"]
    for name, family in FAMILIES.items():
        reference = f"def {function}({family.signature}):\n{family.body}\n"
        lines += [
            "try:",
            f"    exec({reference!r} + {tests!r}, {{'pd': pd}})",
            f"    passed.append({name!r})",
            "except Exception:",
            "    pass",
        ]
    lines.append("if passed:\n    sys.exit(' '.join(passed))")
    return "\n".join(lines) + "\n"
