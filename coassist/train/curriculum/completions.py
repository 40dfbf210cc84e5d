"""Inline completions cut from real code: the code before a cursor, and the rest of its line.

The code is the curriculum's own checked code (reference functions, corrected cells, how-to
answers) and functions of Python's standard library, the real code on every machine. Each
example is cut where a person pauses: at the start of a line (after the editor has indented
it) or after an operator, a bracket or a keyword inside one. The prompt is what the completion
service sends (`completion_prompt`: the code before the cursor without its trailing
whitespace), and the completion is what the model must write from there to the end of the
line, and no further: ghost text is a line.
"""

from __future__ import annotations

import ast
import importlib.util
import random
import re
from pathlib import Path

from coassist.prompt.completion import completion_prompt
from coassist.train.curriculum.example import Example, completion_example

STDLIB_MODULES = (
    "statistics", "textwrap", "fractions", "colorsys", "calendar", "heapq", "bisect", "shlex", "difflib",
    "string", "posixpath", "genericpath", "fnmatch", "html", "base64", "glob", "random", "shutil", "tempfile",
    "gettext", "quopri", "uu", "csv", "json.encoder", "urllib.parse", "email.utils", "ipaddress", "operator",
)
"""Modules whose small functions are cut into completions."""

_PAUSE = re.compile(r"(=\s|\(|\[|(?<![\d.])\.(?!\d)|return\s|,\s|\+\s|\*\s|-\s|/\s|\bin\s|\bas\s|import\s)")
"""Where, inside a line, a person pauses and ghost text may appear: after these."""


def stdlib_functions(max_lines: int = 14) -> list[str]:
    """The source of every top-level function of `STDLIB_MODULES` up to `max_lines` lines, without docstrings."""
    sources = []
    for module in STDLIB_MODULES:
        spec = importlib.util.find_spec(module)
        if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
            continue
        tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
                if node.body and isinstance(node.body[0], ast.Expr) and isinstance(getattr(node.body[0], "value", None), ast.Constant):
                    node.body = node.body[1:] or [ast.Pass()]
                source = ast.unparse(node)
                if 3 <= source.count("\n") + 1 <= max_lines:
                    sources.append(source)
    return sources


def completion_examples(rng: random.Random, sources: list[str], count: int) -> list[Example]:
    """`count` completions cut from `sources` (code known to run, or standard library code)."""
    examples: list[Example] = []
    while len(examples) < count:
        cut = _cut(rng, rng.choice(sources))
        if cut is not None:
            typed, rest = cut
            prompt = completion_prompt(typed)
            examples.append(completion_example("completion/line", prompt, typed[len(prompt) :] + rest, typed))
    return examples


def _cut(rng: random.Random, source: str) -> tuple[str, str] | None:
    """The code up to a cursor (as typed: a new line's indentation included) and the rest of
    the cursor's line; None when the chosen line has nothing to complete."""
    lines = source.rstrip().split("\n")
    if len(lines) < 2:
        return None
    index = rng.randrange(1, len(lines))
    line = lines[index]
    if not line.strip() or line.strip().startswith("#"):
        return None
    indent = line[: len(line) - len(line.lstrip())]
    before = "\n".join(lines[:index]) + "\n" + indent
    body = line[len(indent) :]
    pauses = [match.end() for match in _PAUSE.finditer(body) if match.end() < len(body)]
    if pauses and rng.random() < 0.5:
        at = rng.choice(pauses)
        return before + body[:at], body[at:]
    return before, body
