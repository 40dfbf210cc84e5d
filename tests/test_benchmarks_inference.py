"""benchmarks/inference.py's quality rows: each dtype answers the harness's notebook tasks on
the model already loaded, and its row sets its pass count beside fp32's and their disagreement."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from coassist.eval import load_tasks
from coassist.llm import load_chat_model

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "inference.py"


def _benchmark_module():
    """The benchmark script, imported by path: benchmarks/ is no package."""
    spec = importlib.util.spec_from_file_location("inference_benchmark", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quality_rows_score_every_dtype_on_the_same_tasks_beside_fp32(tiny_model_dir: Path) -> None:
    inference = _benchmark_module()
    models = {
        "float32": load_chat_model(str(tiny_model_dir), device="cpu", dtype="float32"),
        "int8": load_chat_model(str(tiny_model_dir), device="cpu", dtype="int8"),
    }
    tasks = len(load_tasks(["notebook"], 1))

    rows = inference._quality_rows(models, 1)

    assert list(rows) == ["float32", "int8"]
    passed = rf"(\d+)/{tasks} passed \(95% CI \d+-\d+%\), \d+ degenerate"
    fp32_passed = _matched(passed, rows["float32"][1])
    for dtype, (measure, value, beside) in rows.items():
        assert measure == f"quality: {dtype} (notebook tasks, first 1 per category)"
        _matched(passed, value)
        differ = _matched(
            rf"fp32: {fp32_passed}/{tasks}; pass/fail differs from fp32 on (\d+)/{tasks}", beside
        )
        assert differ <= tasks
    assert rows["float32"][2].endswith(f" on 0/{tasks}")  # greedy: fp32 agrees with itself


def _matched(pattern: str, text: str) -> int:
    """The number `pattern`'s group captures; fails the test when `text` does not match."""
    match = re.fullmatch(pattern, text)
    assert match is not None, f"{text!r} does not match {pattern!r}"
    return int(match[1])
