"""One prompt builder, below every layer that asks a model: `coassist.prompt` imports nothing of
the notebook, server, evaluation or training layers, and those that build prompts (evaluation,
training, the server) do it through `coassist.prompt`, not through the notebook layer."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_train_layering import imported_modules

PACKAGE = Path(__file__).resolve().parents[1] / "coassist"


def _imports(layer: str) -> dict[str, set[str]]:
    return {
        str(path.relative_to(PACKAGE)): {name for name in imported_modules(path) if name.startswith("coassist.")}
        for path in sorted((PACKAGE / layer).rglob("*.py"))
    }


def test_the_prompt_builder_imports_only_leaves_below_it() -> None:
    allowed = ("coassist.prompt", "coassist.llm.chat", "coassist.errors")
    for module, names in _imports("prompt").items():
        assert all(name.startswith(allowed) for name in names), (module, names)


@pytest.mark.parametrize("layer", ["eval", "train", "server"])
def test_layers_that_build_prompts_use_the_builder_not_the_notebook(layer: str) -> None:
    for module, names in _imports(layer).items():
        assert not [name for name in names if name.startswith("coassist.notebook")], module
