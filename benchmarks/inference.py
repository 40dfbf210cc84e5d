"""Inference figures for the embedded model, measured side by side in one run.

    python benchmarks/inference.py [--device auto] [--new-tokens 128] [--repeats 3] [--quality-limit 4]

Prints one table: cold load (dequantise the GGUF) vs cached load; time to first token through
`%%assist`; decode tokens/s of raw `model.generate` vs the magic's path on the same prompt
(goal: ratio >= 0.97); decode tok/s of fp32, bf16 and int8 (CPU only) through
`load_chat_model(...).generate`, each ÷ fp32 and ÷ llama.cpp on the same GGUF with 2 threads
(where llama-cpp-python is installed; else that row says skipped). Timings are medians over interleaved repeats, so
machine noise hits both sides of each ratio alike.

Beside each dtype's speed, its answer quality from the evaluation harness (`coassist eval`'s
own task loading, runner and Wilson interval), on the same loaded model: tasks passed of the
notebook set's first `--quality-limit` tasks per category (0: no quality rows), with the 95%
interval, degenerate answers, and how many tasks pass or fail differently than under fp32. A
faster dtype is only worth having if it answers as well; with 16 tasks the interval is wide,
so the task-by-task agreement with fp32 is the sharper check. The quality pass runs after the
speed repeats, so it does not disturb the timings.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from coassist.eval import EvalSet
    from coassist.eval.runner import TaskResult
    from coassist.eval.tasks import EvalTask
    from coassist.llm.chat import ChatModel, GenerationSettings

os.environ.setdefault("HF_HUB_OFFLINE", "1")

DTYPES = ("float32", "bfloat16", "int8")
PROMPT = "Write a detailed, step-by-step tutorial on cleaning a pandas DataFrame with missing values."
QUALITY_SET: EvalSet = "notebook"
"""The evaluation set the quality rows use: the one the product's defaults are chosen on."""

Row = tuple[str, str, str]
"""One table row: measure, value, ratio."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--quality-limit", type=int, default=4, help="notebook tasks per category in the quality rows (0: none)"
    )
    args = parser.parse_args()
    if args.quality_limit < 0:
        parser.error(f"--quality-limit must be a whole number >= 0, got {args.quality_limit}")

    import torch

    from coassist.llm import embedded
    from coassist.llm.loading import load_model_and_tokenizer

    rows: list[Row] = []

    with tempfile.TemporaryDirectory() as cold_root:
        started = time.perf_counter()
        embedded.embedded_model_dir(Path(cold_root))
        cold = time.perf_counter() - started
        os.environ["COASSIST_CACHE"] = cold_root
        started = time.perf_counter()
        loaded = load_model_and_tokenizer("smollm2", device=args.device)
        cached = time.perf_counter() - started
        del loaded
        os.environ.pop("COASSIST_CACHE")
        rows.append(("load: GGUF dequantise (cold, first use)", f"{cold:.2f} s", ""))
        rows.append(("load: from the safetensors cache", f"{cached:.2f} s", f"{cold / cached:.1f}x faster"))

    loaded = load_model_and_tokenizer("smollm2", device=args.device)
    shell = _shell(args.device, args.new_tokens)
    _raw_tokens_per_second(loaded, 8)  # warm-up: first-call allocations hit neither side
    raw_rates, magic_rates, first_tokens = [], [], []
    for _ in range(args.repeats):
        raw_rates.append(_raw_tokens_per_second(loaded, args.new_tokens))
        rate, first = _magic_tokens_per_second(shell)
        magic_rates.append(rate)
        first_tokens.append(first)
    raw, magic = statistics.median(raw_rates), statistics.median(magic_rates)
    rows.append(("time to first token (%%assist)", f"{statistics.median(first_tokens) * 1000:.0f} ms", ""))
    rows.append((f"decode: raw model.generate ({loaded.device}, {_dtype_name(loaded.dtype)})", f"{raw:.1f} tok/s", ""))
    rows.append(("decode: %%assist path (streaming display)", f"{magic:.1f} tok/s", f"{magic / raw:.3f} of raw (goal >= 0.97)"))

    rows += _dtype_rows(args.device, args.new_tokens, args.repeats, args.quality_limit)
    _print_table(rows, torch)


def _dtype_rows(device: str, new_tokens: int, repeats: int, quality_limit: int) -> list[Row]:
    """Each dtype's load time, decode speed and, beside the speed, its answer quality.

    One load per dtype serves both, so speed and quality describe the very same weights.
    """
    from coassist.llm.device import resolve_device

    resolved = resolve_device(device)
    models, rows = _load_dtypes(device, resolved)
    speed, llama_row = _speed_rows(models, str(resolved), new_tokens, repeats)
    quality = _quality_rows(models, quality_limit) if quality_limit else {}
    for dtype in models:
        rows.append(speed[dtype])
        if dtype in quality:
            rows.append(quality[dtype])
    rows.append(llama_row)
    if not quality_limit:
        rows.append(("quality: each dtype on the eval harness", "skipped", "--quality-limit 0"))
    return rows


def _load_dtypes(device: str, resolved) -> tuple[dict[str, ChatModel], list[Row]]:
    """Each dtype the device supports, loaded and warmed up, and the rows of its load time
    (or of why it is skipped: int8 is CPU only)."""
    from coassist.errors import InvalidSetting
    from coassist.llm import GenerationSettings, load_chat_model
    from coassist.llm.device import resolve_quantization

    models: dict[str, ChatModel] = {}
    rows: list[Row] = []
    for dtype in DTYPES:
        try:
            resolve_quantization(dtype, resolved)
        except InvalidSetting as refused:
            rows.append((f"decode: {dtype}", "skipped", str(refused).split(";")[0]))
            continue
        started = time.perf_counter()
        models[dtype] = load_chat_model("smollm2", device=device, dtype=dtype)
        rows.append((f"load: {dtype} (from the safetensors cache)", f"{time.perf_counter() - started:.2f} s", ""))
        models[dtype].generate([{"role": "user", "content": PROMPT}], GenerationSettings(max_new_tokens=8))  # warm-up
    return models, rows


def _speed_rows(
    models: dict[str, ChatModel], device: str, new_tokens: int, repeats: int
) -> tuple[dict[str, Row], Row]:
    """Decode tok/s of each dtype through `ChatModel.generate`, ÷ fp32 and ÷ llama.cpp; and
    the llama.cpp row.

    The dtypes take turns within each repeat, so load from other processes hits all of them.
    """
    from coassist.llm import GenerationSettings

    settings = GenerationSettings(max_new_tokens=new_tokens, temperature=0.0)
    rates: dict[str, list[float]] = {dtype: [] for dtype in models}
    llama_rates: list[float] = []
    llama = _llama_cpp()
    for _ in range(repeats):
        for dtype, model in models.items():
            rates[dtype].append(model.generate([{"role": "user", "content": PROMPT}], settings).tokens_per_second or 0.0)
        if llama is not None:
            llama_rates.append(_llama_cpp_tokens_per_second(llama, new_tokens))
    fp32 = statistics.median(rates["float32"])
    llama_rate = statistics.median(llama_rates) if llama_rates else None
    rows: dict[str, Row] = {}
    for dtype, measured in rates.items():
        rate = statistics.median(measured)
        versus_llama = f", {rate / llama_rate:.2f}x llama.cpp" if llama_rate else ""
        rows[dtype] = (f"decode: {dtype} ({device}, load_chat_model)", f"{rate:.1f} tok/s", f"{rate / fp32:.2f}x fp32{versus_llama}")
    llama_row = "decode: llama.cpp (same GGUF, 2 threads)"
    if llama_rate is None:
        return rows, (llama_row, "skipped", "llama-cpp-python is not installed (needs a C compiler)")
    return rows, (llama_row, f"{llama_rate:.1f} tok/s", "1.00x llama.cpp")


def _quality_rows(models: dict[str, ChatModel], limit: int) -> dict[str, Row]:
    """Each dtype's row of answer quality on the first `limit` notebook tasks per category.

    The harness's own task loading and runner, the same tasks and greedy product defaults for
    every dtype (temperature pinned to 0 whatever the default becomes), so the rows differ by
    the weights' dtype alone.
    """
    from coassist.config import Assist
    from coassist.eval import load_tasks, product_defaults

    assist = Assist(temperature=0.0)
    tasks = load_tasks([QUALITY_SET], limit, assist=assist)
    defaults = product_defaults(assist)
    results = {dtype: _answered(model, tasks, defaults) for dtype, model in models.items()}
    return {dtype: _quality_row(dtype, limit, own, results["float32"]) for dtype, own in results.items()}


def _answered(model: ChatModel, tasks: list[EvalTask], defaults: GenerationSettings) -> list[TaskResult]:
    """The harness's results for every task; Ctrl-C ends the benchmark, since a partial pass
    would compare dtypes on different tasks."""
    from coassist.eval.runner import run_tasks

    run = run_tasks(model, tasks, defaults)
    if run.interrupted:
        raise KeyboardInterrupt
    return run.results


def _quality_row(dtype: str, limit: int, results: list[TaskResult], fp32: list[TaskResult]) -> Row:
    """Passed with its Wilson 95% interval and degenerate answers; beside it, fp32's count and
    the tasks whose pass/fail differs from fp32's (sharper than the wide interval of 16 tasks)."""
    from coassist.eval.report import wilson_interval

    passed = sum(result.passed for result in results)
    low, high = wilson_interval(passed, len(results))
    degenerate = sum(result.degenerate for result in results)
    fp32_passed = {result.task_id: result.passed for result in fp32}
    differ = sum(result.passed != fp32_passed[result.task_id] for result in results)
    n = len(results)
    return (
        f"quality: {dtype} ({QUALITY_SET} tasks, first {limit} per category)",
        f"{passed}/{n} passed (95% CI {low * 100:.0f}-{high * 100:.0f}%), {degenerate} degenerate",
        f"fp32: {sum(fp32_passed.values())}/{n}; pass/fail differs from fp32 on {differ}/{n}",
    )


def _llama_cpp():
    """llama.cpp on the embedded GGUF with 2 threads, or None where llama-cpp-python is missing.

    It is no project dependency (a source build needing a C compiler): a reference only.
    """
    try:
        from llama_cpp import Llama
    except ImportError:
        return None
    from coassist.llm.embedded import embedded_gguf_path

    return Llama(model_path=str(embedded_gguf_path()), n_threads=2, n_ctx=2048, verbose=False)


def _llama_cpp_tokens_per_second(llama, new_tokens: int) -> float:
    """Decode tok/s after the first token, timed as `Generation.tokens_per_second` is."""
    stream = llama.create_chat_completion(
        [{"role": "user", "content": PROMPT}], max_tokens=new_tokens, temperature=0.0, stream=True
    )
    first, pieces = None, 0
    for chunk in stream:
        if chunk["choices"][0]["delta"].get("content"):
            pieces += 1
            if first is None:
                first = time.perf_counter()
    return (pieces - 1) / (time.perf_counter() - first) if first is not None and pieces > 1 else 0.0


def _raw_tokens_per_second(loaded, new_tokens: int) -> float:
    import torch

    inputs = loaded.tokenizer.apply_chat_template(
        [{"role": "user", "content": PROMPT}], add_generation_prompt=True, return_tensors="pt", return_dict=True
    ).to(loaded.device)
    _sync(loaded.device)
    started = time.perf_counter()
    with torch.inference_mode():
        output = loaded.model.generate(
            **inputs, max_new_tokens=new_tokens, do_sample=False, pad_token_id=loaded.tokenizer.pad_token_id
        )
    _sync(loaded.device)
    generated = output.shape[1] - inputs["input_ids"].shape[1]
    return generated / (time.perf_counter() - started)


def _magic_tokens_per_second(shell) -> tuple[float, float]:
    """Tokens/s and time to first token of one `%%assist` cell: the first piece the display
    shows, and the tokens of the `Generation` the magic's model call returns (its public
    result, so decoding internals can change without breaking the count)."""
    from IPython.utils.capture import capture_output

    from coassist.llm import local
    from coassist.notebook import streaming

    first: list[float] = []
    counted: list[int] = []
    original_append, original_generate = streaming.StreamingDisplay.append, local.LocalChatModel.generate

    def timed_append(self, piece: str) -> None:
        if not first:
            first.append(time.perf_counter())
        original_append(self, piece)

    def counting_generate(self, *args, **kwargs):
        generation = original_generate(self, *args, **kwargs)
        counted.append(generation.new_tokens)
        return generation

    streaming.StreamingDisplay.append = timed_append
    local.LocalChatModel.generate = counting_generate
    try:
        started = time.perf_counter()
        with capture_output():
            shell.run_cell_magic("assist", "--no-history", PROMPT)
        elapsed = time.perf_counter() - started
    finally:
        streaming.StreamingDisplay.append = original_append
        local.LocalChatModel.generate = original_generate
    return counted[0] / elapsed, first[0] - started


def _shell(device: str, new_tokens: int):
    from IPython.testing.globalipapp import start_ipython

    shell = start_ipython()
    shell.run_line_magic("load_ext", "coassist")
    shell.run_line_magic("config", f'Assist.device = "{device}"')
    shell.run_line_magic("config", f"Assist.max_new_tokens = {new_tokens}")
    # The magic's system prompt differs from the raw run's; use the raw one so both see one prompt.
    from coassist.notebook.session import get_session

    get_session(shell).conversation.system_prompt = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
    return shell


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def _dtype_name(dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _print_table(rows: list[Row], torch) -> None:
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU ({os.cpu_count()} cores)"
    print(f"coassist inference benchmark: SmolLM2-135M-Instruct on {device}, torch {torch.__version__}\n")
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    header = ("measure", "value", "ratio")
    widths = [max(w, len(h)) for w, h in zip(widths, header, strict=True)]
    line = " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    print(line)
    print("-|-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
