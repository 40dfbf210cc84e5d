"""Inline completion as the model sees it: the prompt, the settings, and the ghost text kept.

The model continues the cell's text before the cursor as plain text (`ChatModel.continue_text`,
no chat template): asked in a chat to complete code at a cursor marker, SmolLM2 mostly talks
about the code, while continuing the text gives the next line (docs/evaluation.md: 2 → 5 of 13
completion tasks). The Jupyter server's completion service, the evaluation harness and the
training curriculum all use these, so what is measured and trained is what a user typing in a
cell gets. Pure functions: no server, no model loading.

The prompt ends at the last character that is not whitespace (*token healing*). A tokenizer
writes a line's indentation together with the line break before it (``"\\n   "`` then
``" return"``), so a prompt that ends in the four spaces JupyterLab indents with is a split no
model saw in training, and it answers with ``" return"``: five spaces. Backed up to the colon, the
model writes the line break and the indentation itself, and `clean_completion` drops the part
the user has already typed.
"""

from __future__ import annotations

import codeop
import keyword
import re
import textwrap
import warnings

from coassist.llm.chat import GenerationSettings

COMPLETION_MAX_NEW_TOKENS = 32
"""The default longest inline completion, in tokens: ghost text is a line or two, not an essay."""


def completion_settings(max_new_tokens: int = COMPLETION_MAX_NEW_TOKENS) -> GenerationSettings:
    """How a completion is generated: greedy and short. One source for the server and the eval."""
    return GenerationSettings(max_new_tokens=max_new_tokens)


MAX_LINES = 4
"""Ghost text is a line or a short block; longer answers are the model running on."""

_SENTENCE = re.compile(r"^([A-Za-z]+)(?:'[a-z]+)?,? [A-Za-z]+")
"""Two plain words in a row, as an English sentence starts ("Here is", "This function's"),
unless the first is a Python keyword ("return a", "import os")."""


def completion_prompt(prefix: str) -> str:
    """The text the model continues for a cursor after `prefix`: `prefix` without the
    whitespace it ends in (see the module docstring).

    >>> completion_prompt("def add(a, b):\\n    ")
    'def add(a, b):'
    """
    return prefix.rstrip(" \t\n")


def clean_completion(text: str, prefix: str) -> str:
    """Ghost text from the model's continuation `text` of `completion_prompt(prefix)`: only the
    rest of the current line or block, in code.

    In order: the whitespace the user already typed is dropped from the start (`_after_typed`);
    Markdown fences are dropped; an echo of the code before the cursor is cut; the answer ends at
    a blank line, at a line indented less than the cursor line's block, at the first line of
    prose, and after `MAX_LINES` lines.

    >>> clean_completion("```python\\ndef add(a, b):\\n    return a + b\\n```", "def add(a, b):")
    '\\n    return a + b'
    >>> clean_completion("return a + b\\n\\nprint(add(1, 2))", "def add(a, b):\\n    ")
    'return a + b'
    >>> clean_completion("x + 1\\nThis adds one to x.", "y = ")
    'x + 1'
    """
    text = _after_typed(text, prefix)
    # split("\n"), not splitlines(): a model's odd control characters are not line breaks.
    lines = [line for line in text.rstrip().split("\n") if not line.strip().startswith("```")]
    completion = _drop_echo("\n".join(lines).rstrip(), prefix)
    current_line = prefix.rsplit("\n", 1)[-1]
    kept = _rest_of_block(current_line, completion.split("\n"))
    if not prefix.lstrip().startswith("%%"):  # a cell magic's body need not be Python
        kept = _without_prose(_code_region(prefix), kept)
    return "\n".join(kept[:MAX_LINES]).rstrip()


def _after_typed(text: str, prefix: str) -> str:
    """`text` (continuing `completion_prompt(prefix)`) from where the cursor is: without the
    whitespace of `prefix` that the prompt left out. When the model's own whitespace differs
    from the user's (two spaces where the editor put four), the user's stands.

    >>> _after_typed("\\n    return a + b", "def add(a, b):\\n    ")
    'return a + b'
    >>> _after_typed("\\n        x = 1", "if a:\\n    ")
    '    x = 1'
    >>> _after_typed("\\n  x = 1", "if a:\\n    ")
    'x = 1'
    """
    typed = prefix[len(completion_prompt(prefix)) :]
    if not typed:
        return text
    leading = text[: len(text) - len(text.lstrip(" \t\n"))]
    return text[len(typed) :] if leading.startswith(typed) else text[len(leading) :]


def _drop_echo(completion: str, prefix: str) -> str:
    """`completion` without the longest tail of `prefix` (whole lines, or the current line with
    or without its indentation) that it starts by repeating."""
    starts = [0] + [i + 1 for i, char in enumerate(prefix) if char == "\n"]
    current = prefix[starts[-1] :]
    candidates = [prefix[start:] for start in starts] + [current.lstrip()]
    for candidate in candidates:
        if candidate.strip() and completion.startswith(candidate):
            return completion[len(candidate) :]
    if current and not current.strip() and completion.startswith(current):  # the indentation again
        return completion[len(current) :]
    return completion


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _rest_of_block(current_line: str, lines: list[str]) -> list[str]:
    """The lines up to a blank line or a dedent out of the cursor line's block.

    `lines[0]` continues `current_line`. When that line opens a block (ends with ``:``), the
    block is its body, so a line at its own indentation or less ends it.
    """
    first = current_line + lines[0]
    base = _indent(first) if first.strip() else len(current_line)
    opens_block = first.rstrip().endswith(":")
    kept = [lines[0]]
    for line in lines[1:]:
        if not line.strip():
            break
        if _indent(line) < base or (opens_block and _indent(line) <= base):
            break
        kept.append(line)
    return kept


def _code_region(prefix: str) -> str:
    """The prefix from its last top-level line: enough context to parse the cursor's statement.
    IPython magics and shell escapes become ``pass`` so the parser accepts them."""
    lines = prefix.split("\n")
    start = 0
    for number, line in enumerate(lines[:-1]):
        if line.strip() and _indent(line) == 0 and line.lstrip()[0] not in ")]}":
            start = number
    region = lines[start:]
    return "\n".join(
        line[: _indent(line)] + "pass" if line.lstrip().startswith(("%", "!")) else line for line in region
    )


def compiles_so_far(source: str) -> bool:
    """Whether `source` is valid Python or a valid start of it (an open block is fine)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            codeop.compile_command(source, "<completion>", "exec")
        except (SyntaxError, ValueError, OverflowError):
            return False
    return True


def _parses(source: str) -> bool:
    """Whether `source` is Python or the start of it (incomplete is fine, invalid is not).
    It is compiled as a function body, so ``return``, ``yield`` and ``await`` are allowed."""
    return compiles_so_far("async def _coassist_():\n" + textwrap.indent(source, " ", lambda line: True) + "\n")


def _without_prose(region: str, lines: list[str]) -> list[str]:
    """`lines` up to the first line of prose: one that starts like an English sentence and that
    Python's parser rejects where it stands (after the code before the cursor and the lines kept
    so far). Either test alone is too eager: "import os" starts with two words, and a model's
    odd tokens need not parse yet are not prose."""
    kept: list[str] = []
    for line in lines:
        candidate = region + "\n".join([*kept, line])
        sentence = _SENTENCE.match(line.strip())
        if sentence and not keyword.iskeyword(sentence.group(1)) and not _parses(candidate):
            break
        kept.append(line)
    return kept
