"""Run broken cells and their fixes in this process, as `python -m` in a subprocess: the worker
behind `check_error_cases`.

Reads a JSON list of cases on stdin; writes, for each, the error the cell raised as the model
sees it (`coassist.prompt.cell_error`, facts included) and whether the fixed cell ran and passed
its check. Each cell runs in a fresh namespace after its own setup, as a notebook cell would.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import warnings
from dataclasses import asdict
from typing import Any

from coassist.prompt.cell_errors import cell_error, run_as_cell


def check_case(case: dict[str, Any]) -> dict[str, Any]:
    """One case: what its cell raised and whether its fix works, or why it was dropped."""
    namespace: dict[str, Any] = {}
    exec(case["setup"], namespace)  # noqa: S102 - the curriculum's own code
    exception = run_as_cell(case["cell"], namespace, case["filename"])
    if exception is None or type(exception).__name__ != case["raises"]:
        raised = "nothing" if exception is None else f"{type(exception).__name__}: {exception}"
        return {"dropped": f"expected {case['raises']}, the cell raised {raised}"}
    error = cell_error(exception, case["cell"], case["execution_count"])
    if case["expect_fact"] and not any(case["expect_fact"] in fact for fact in error.facts):
        return {"dropped": f"no fact names {case['expect_fact']!r}: {list(error.facts)}"}
    fixed: dict[str, Any] = {}
    exec(case["setup"], fixed)  # noqa: S102
    failure = run_as_cell(case["fixed"], fixed, case["filename"])
    if failure is not None:
        return {"dropped": f"the fix raised {type(failure).__name__}: {failure}"}
    if not eval(case["check"], fixed):  # noqa: S307 - the curriculum's own check
        return {"dropped": f"the fix ran but fails its check {case['check']}"}
    return {"error": asdict(error)}


def main() -> None:
    warnings.simplefilter("ignore")  # pandas' FutureWarnings are not the curriculum's business
    cases = json.load(sys.stdin)
    with contextlib.redirect_stdout(io.StringIO()):  # what the cells print is not the answer
        outcomes = [check_case(case) for case in cases]
    json.dump(outcomes, sys.stdout)


if __name__ == "__main__":
    main()
