"""The training layer stands on its own: it imports nothing from the review layer, and the one
rule both share (a subtask's text) lives in a neutral module, defined once."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

TRAIN = Path(__file__).resolve().parents[1] / "coassist" / "train"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    names |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    return names


def test_no_training_module_imports_the_review_layer() -> None:
    for path in sorted(TRAIN.glob("*.py")):
        assert not {name for name in imported_modules(path) if name.startswith("coassist.review")}, path.name


def test_importing_the_training_layer_loads_no_review_module() -> None:
    code = (
        "import sys, coassist.train; print(sorted(m for m in sys.modules if m.startswith('coassist.review')))"
    )
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert shown.strip() == "[]"


def test_subtask_text_is_defined_once_and_shared() -> None:
    from coassist import subtask_text as neutral
    from coassist.review import export, prompts
    from coassist.train import router

    assert export.subtask_text is neutral.subtask_text is router.subtask_text
    assert not hasattr(prompts, "subtask_text")
    assert neutral.subtask_text("Clean data", "Drop duplicates") == "Clean data\n\nDrop duplicates"
