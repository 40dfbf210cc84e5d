"""The shipped adapter's curriculum: built with the product's prompt builder, every answer
checked, the same for the same seed, and disjoint from the evaluation."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from coassist.eval.frames import build_frames
from coassist.prompt import SYSTEM_PROMPT
from coassist.prompt.completion import clean_completion
from coassist.train.curriculum import CurriculumConfig, build_curriculum
from coassist.train.curriculum.disjoint import (
    SHIPPED_HUMANEVAL_TWINS,
    copies,
    evaluation_question_texts,
    failing_name,
    humaneval_twins,
    passing_families,
    shared_failures,
    twin_behaviours,
    twin_program,
)
from coassist.train.curriculum.example import Example, chat_example
from coassist.train.curriculum.tables import table_examples
from coassist.train.curriculum.vocabulary import DOMAINS, GENERIC_VARIABLES

QUICKSTART = Path(__file__).resolve().parent.parent / "examples" / "quickstart.ipynb"


@pytest.fixture(scope="module")
def curriculum(tmp_path_factory: pytest.TempPathFactory) -> list[Example]:
    """A twentieth of the shipped curriculum's size, same seed: drawn from the shipped one's
    generators, templates and names (every error family twice, every code family once)."""
    config = CurriculumConfig(tmp_path_factory.mktemp("curriculum") / "c.jsonl", tables=80, errors=62, code=40, completions=30)
    return build_curriculum(config).examples


def test_no_evaluation_prompt_or_near_copy_is_in_the_curriculum(curriculum: list[Example]) -> None:
    assert copies(curriculum, evaluation_question_texts()) == []
    assert shared_failures(curriculum) == []


def test_no_code_family_behaves_like_an_evaluation_code_task() -> None:
    assert twin_behaviours() == ()


def test_no_code_family_behaves_like_a_humaneval_problem_but_the_three_the_shipped_adapter_has() -> None:
    assert set(humaneval_twins()) == SHIPPED_HUMANEVAL_TWINS


def test_the_twin_check_names_a_family_that_passes_the_tests() -> None:
    tests = "assert how_many([3, 9, 12], 8) == 2\nassert how_many([], 0) == 0\n"
    assert passing_families("planted/0", twin_program("how_many", tests=tests, pandas=False)) == ["count_above passes planted/0"]


def test_the_overlap_checks_find_a_planted_copy() -> None:
    texts = evaluation_question_texts()
    question = "Which column in patients has the most missing values?"  # df-mostnulls-patients, near copy
    planted = chat_example("table/planted", [{"role": "user", "content": question}], "x", question)
    assert any("df-mostnulls-patients" in found for found in copies([planted], texts))
    humaneval = texts["HumanEval/0"]
    assert copies([chat_example("code/planted", [{"role": "user", "content": humaneval}], "x", humaneval)], texts)
    error = "This notebook cell (In[3]) raised AttributeError: 'Series' object has no attribute 'summ'"
    assert shared_failures([chat_example("error/planted", [{"role": "user", "content": error}], "x", "")]) == [
        "'summ' in error/planted"
    ]


def test_the_curriculum_names_no_table_or_column_of_the_evaluation_or_the_quickstart() -> None:
    evaluated = {name for frame in build_frames().values() for name in frame.columns} | set(build_frames())
    notebook = json.loads(QUICKSTART.read_text())
    quickstart = set(re.findall(r'"(\w+)":', "".join("".join(cell["source"]) for cell in notebook["cells"])))
    ours = {spec.name for domain in DOMAINS.values() for spec in domain.columns}
    ours |= {name for domain in DOMAINS.values() for name in domain.variables} | set(GENERIC_VARIABLES)
    assert not ours & (evaluated | quickstart | {"sales"})


def test_the_same_seed_gives_the_same_examples() -> None:
    first = table_examples(random.Random("same"), 20, SYSTEM_PROMPT)
    again = table_examples(random.Random("same"), 20, SYSTEM_PROMPT)
    assert [example.as_json() for example in first] == [example.as_json() for example in again]


def test_answers_use_the_facts_in_their_prompts(curriculum: list[Example]) -> None:
    kinds = {example.kind.split("/")[0] for example in curriculum}
    assert kinds == {"table", "error", "code", "completion"}
    for example in curriculum:
        if example.kind == "error/KeyError/column":
            question, answer = (message["content"] for message in example.record["messages"][-2:])
            nearest = re.search(r"nearest first: (\w+)", question)
            assert nearest is not None and f'"{nearest.group(1)}"' in answer, example.as_json()
            assert f'"{failing_name(question)}"' not in answer.split("```python")[1]
        if example.kind == "table/missing_columns":
            question, answer = (message["content"] for message in example.record["messages"][-2:])
            stated = re.search(r"Columns with missing values \(most first\): (.*)\.", question)
            assert stated is not None
            for column, count in re.findall(r"(\w+) \((\d+)\)", stated.group(1)):
                assert f"`{column}` ({count})" in answer, example.as_json()


def test_completions_are_what_the_completion_service_would_keep(curriculum: list[Example]) -> None:
    completions = [example for example in curriculum if example.kind.startswith("completion/")]
    assert completions
    for example in completions:
        prompt, completion = example.record["prompt"], example.record["completion"]
        assert prompt == prompt.rstrip() and completion.strip() and "\n" not in completion.strip()
        # what the product shows for it: the rest of the line, after what the user typed
        assert clean_completion(completion, example.source_text) == completion.strip()


def test_the_command_writes_jsonl_finetune_reads_and_refuses_a_directory(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "coassist", "curriculum", "--tables", "4", "--errors", "0", "--code", "0"]
    written = subprocess.run([*command, "--completions", "0", "--out", str(tmp_path / "c.jsonl")], capture_output=True, text=True)
    assert written.returncode == 0, written.stderr
    assert "4 examples (table 4, error 0, code 0, completion 0)" in written.stdout
    from coassist.train.sft_data import read_sft_jsonl

    assert len(read_sft_jsonl(tmp_path / "c.jsonl")) == 4
    refused = subprocess.run([*command, "--out", str(tmp_path)], capture_output=True, text=True)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert f"--out {tmp_path} is a directory" in refused.stderr
