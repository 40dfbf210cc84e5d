"""The curriculum the shipped adapter is trained on: notebook conversations whose answers are computed.

Four kinds of example, each built with the product's own prompt builder (`coassist.prompt`), so
the model learns from exactly what `%%assist` sends:

- `tables`: questions about random DataFrames, answered with the facts pandas computes, and
  how-to questions answered with code that runs on the frame;
- `errors`: broken cells run in a subprocess to raise real exceptions, explained from the
  error's own facts, with a fix that is run and checked;
- `code`: small function requests, answered with a reference that passes generated tests;
- `completions`: inline completions cut from that checked code and from the standard library.

Every example that can be checked by running it is checked; the ones that fail are dropped and
counted. Nothing comes from `coassist.eval`'s tasks or HumanEval: the curriculum has its own
generators, names and wording (`tests/test_curriculum.py` checks that no evaluation prompt, or a
near copy of one, is in it). The same seed gives the same curriculum, line for line.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from coassist.errors import InvalidTrainingConfig
from coassist.prompt import SYSTEM_PROMPT
from coassist.train import _checks as checks
from coassist.train.curriculum.code import code_examples
from coassist.train.curriculum.completions import completion_examples, stdlib_functions
from coassist.train.curriculum.errors import check_error_cases, draw_error_cases, error_example
from coassist.train.curriculum.example import Example
from coassist.train.curriculum.tables import table_examples


@dataclass(frozen=True)
class CurriculumConfig:
    """Where to write the curriculum, its seed, and how many examples of each kind (the defaults
    are the shipped adapter's). Validated when built; `coassist curriculum` takes the fields as
    options."""

    output: Path = field(metadata={"flag": "--out", "help": "the JSONL file to write (coassist finetune --data)"})
    seed: int = field(default=0, metadata={"help": "seeds every generator: the same seed gives the same file"})
    tables: int = field(default=1500, metadata={"help": "questions about DataFrames"})
    errors: int = field(default=1100, metadata={"help": "explained errors"})
    code: int = field(default=600, metadata={"help": "code requests"})
    completions: int = field(default=600, metadata={"help": "inline completions"})

    def __post_init__(self) -> None:
        object.__setattr__(self, "output", Path(self.output))
        checks.output_file("output", self.output)
        for name in ("seed", "tables", "errors", "code", "completions"):
            checks.whole(name, getattr(self, name), minimum=0)
        if not (self.tables or self.errors or self.code or self.completions):
            raise InvalidTrainingConfig("every kind has 0 examples; ask for at least one", "tables")


@dataclass
class Curriculum:
    """The examples, in a seeded order, and what was drawn but failed its check."""

    examples: list[Example]
    dropped: list[str]

    def counts(self) -> Counter[str]:
        """Examples per kind (``table``, ``error``, ``code``, ``completion``) and per family."""
        counts: Counter[str] = Counter()
        for example in self.examples:
            kind, _, family = example.kind.partition("/")
            counts[kind] += 1
            counts[example.kind] += 1
        return counts

    def write(self, path: Path) -> None:
        """One JSON object per line: what `coassist finetune --data` reads, plus each example's
        kind and the user's own text (the trainer ignores both)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as file:
            for example in self.examples:
                file.write(json.dumps(example.as_json(), ensure_ascii=False) + "\n")


def build_curriculum(size: CurriculumConfig, system_prompt: str = SYSTEM_PROMPT) -> Curriculum:
    """Draw, check and order the curriculum. Each kind has a generator of its own, seeded from
    the seed and its name, so resizing one kind leaves the others' examples as they were."""

    def rng(kind: str) -> random.Random:
        return random.Random(f"coassist-curriculum/{size.seed}/{kind}")

    tables = table_examples(rng("tables"), size.tables, system_prompt)
    cases = draw_error_cases(rng("errors"), round(size.errors * 1.1))  # some fail their check
    checked, dropped = check_error_cases(rng("error-names"), cases)
    errors_rng = rng("error-questions")
    errors = [error_example(errors_rng, case, error, system_prompt) for case, error in checked[: size.errors]]
    code, code_dropped = code_examples(rng("code"), size.code, system_prompt)
    checked_code = [_code_of(example) for example in [*code, *tables] if "```python" in _answer(example)]
    checked_code += [case.fixed for case, _ in checked[: size.errors]]
    completions = completion_examples(rng("completions"), checked_code + stdlib_functions(), size.completions)
    examples = [*tables, *errors, *code, *completions]
    rng("order").shuffle(examples)
    return Curriculum(examples, dropped + code_dropped)


def _answer(example: Example) -> str:
    messages = example.record.get("messages", [])
    return messages[-1]["content"] if messages else ""


def _code_of(example: Example) -> str:
    return _answer(example).split("```python\n", 1)[1].split("\n```", 1)[0]


__all__ = ["Curriculum", "CurriculumConfig", "Example", "build_curriculum"]
