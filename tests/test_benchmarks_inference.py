"""benchmarks/inference.py: the quality rows (each precision answers the harness's notebook tasks
on the model already loaded, beside fp32) and the llama.cpp row where llama-cpp-python is absent."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

from coassist.eval import load_tasks
from coassist.llm import load_chat_model

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "inference.py"


def _benchmark_module():
    """The benchmark script, imported by path: benchmarks/ is no package. Registered in
    `sys.modules` as an import would be: its dataclasses look their module up there."""
    spec = importlib.util.spec_from_file_location("inference_benchmark", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_quality_rows_score_every_precision_on_the_same_tasks_beside_fp32(tiny_model_dir: Path) -> None:
    inference = _benchmark_module()
    models = {
        "float32": load_chat_model(str(tiny_model_dir), device="cpu", dtype="float32"),
        "int8": load_chat_model(str(tiny_model_dir), device="cpu", dtype="int8"),
    }
    tasks = len(load_tasks(["notebook"], 1))

    rows = inference._quality_rows(models, 1)

    assert list(rows) == ["float32", "int8"]
    for precision, (name, passed, degenerate, differs, other_answer) in rows.items():
        assert name == precision
        assert re.fullmatch(rf"\d+/{tasks} \(95% CI \d+-\d+%\)", passed), passed
        assert all(re.fullmatch(rf"\d+/{tasks}", cell) for cell in (degenerate, differs, other_answer))
    assert rows["float32"][3:] == (f"0/{tasks}", f"0/{tasks}")  # greedy: fp32 agrees with itself
    assert rows["int8"][4] != f"0/{tasks}"  # int8's random-model answers are other answers


def test_the_llama_cpp_row_says_why_it_is_skipped_where_llama_cpp_python_is_absent(tmp_path: Path) -> None:
    """As in CI: the interpreter asked to run llama.cpp has no llama-cpp-python."""
    inference = _benchmark_module()
    python = tmp_path / "python"  # this interpreter, with llama_cpp made unimportable
    python.write_text(f"#!/bin/sh\nexec {sys.executable} -c 'import sys; sys.modules[\"llama_cpp\"] = None; "
                      f"sys.argv = sys.argv[1:]; exec(open(sys.argv[0]).read())' \"$@\"\n")
    python.chmod(0o755)

    llama = inference._LlamaCpp(str(python), threads=2)
    llama.close()

    assert not llama.ready
    assert llama.note == f"llama-cpp-python is not installed for {sys.executable}"
    [row] = inference._speed_rows([], "bf16-decode", {}, inference.Timings(), llama, {})
    assert row[:3] == ("llama.cpp (same GGUF)", "skipped", llama.note)
