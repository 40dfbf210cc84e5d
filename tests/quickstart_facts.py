"""What the quickstart's answers must say, checked on its executed notebook: facts, not wording.

One check for the tests that run the quickstart (`tests/test_quickstart.py`) and for the
user-install test that runs `coassist demo` from a wheel (`tests/test_user_install.py`).
"""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

from coassist.eval.notebook_tasks import mentions, numbers_in
from coassist.prompt.code_blocks import extract_code

NEXT_TURN = re.compile(r"^\s*(Question|User|Q|Human)\s*:", re.MULTILINE)
"""An answer that writes the user's next turn itself."""


def answers(notebook: Any) -> dict[str, tuple[str, dict[str, Any]]]:
    """Each `%assist`/`%%assist` cell's answer text and provenance, by the cell's first line
    (its second line for `%%assist` cells, where the question starts)."""
    found = {}
    for cell in notebook.cells:
        if cell.cell_type != "code" or not cell.source.lstrip().startswith("%"):
            continue
        for output in cell.get("outputs", []):
            provenance = output.get("metadata", {}).get("coassist")
            if provenance is not None:
                lines = cell.source.strip().splitlines()
                found[lines[1] if lines[0].startswith("%%") and len(lines) > 1 else lines[0]] = (
                    output["data"]["text/plain"],
                    provenance,
                )
    return found


def _answer(notebook: Any, start: str) -> str:
    matches = [text for key, (text, _) in answers(notebook).items() if key.startswith(start)]
    assert matches, f"no answer to a cell starting {start!r}: {list(answers(notebook))}"
    return matches[0]


def check_quickstart(notebook: Any) -> None:
    """Assert what a reader of the quickstart's outputs must see."""
    for question, (text, provenance) in answers(notebook).items():
        assert provenance["finish"] == "stop", f"{question!r} ended with {provenance['finish']}: {text!r}"
        assert provenance["not_kept"] is None, f"{question!r} was not kept ({provenance['not_kept']}): {text!r}"
        assert not NEXT_TURN.search(text), f"{question!r}: the answer writes the next turn: {text!r}"

    missing = _answer(notebook, "Here is my table:")
    assert mentions(missing, "region") and mentions(missing, "revenue"), missing
    assert not mentions(missing, "units"), missing  # it has no missing values
    counts = numbers_in(missing)
    assert counts and set(counts) == {"1"} or not counts and mentions(missing, "one"), missing  # one each

    code = extract_code(_answer(notebook, "Write a Python function `mean(values)`"))
    check = f"{code}\n\nassert mean([1, 2, 3, 4]) == 2.5, mean([1, 2, 3, 4])\nassert mean([7]) == 7\n"
    ran = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, f"the mean code fails:\n{code}\n{ran.stderr[-2000:]}"

    error = _answer(notebook, "%assist error")
    assert mentions(error, "unit") and mentions(error, "units"), error
