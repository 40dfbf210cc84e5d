"""Inference figures for the embedded model, measured side by side in one run.

    python benchmarks/inference.py [--device auto] [--new-tokens 128] [--repeats 3]

Prints one table: cold load (dequantise the GGUF) vs cached load; time to first token through
`%%assist`; decode tokens/s of raw `model.generate` vs the magic's path on the same prompt
(goal: ratio >= 0.97); decode tok/s of fp32, bf16 and int8 (CPU only) through
`load_chat_model(...).generate`, each ÷ fp32 and ÷ llama.cpp on the same GGUF with 2 threads
(where llama-cpp-python is installed; else that row says skipped). Timings are medians over interleaved repeats, so
machine noise hits both sides of each ratio alike.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

DTYPES = ("float32", "bfloat16", "int8")
PROMPT = "Write a detailed, step-by-step tutorial on cleaning a pandas DataFrame with missing values."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import torch

    from coassist.llm import embedded
    from coassist.llm.loading import load_model_and_tokenizer

    rows: list[tuple[str, str, str]] = []

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

    rows += _dtype_rows(args.device, args.new_tokens, args.repeats)
    _print_table(rows, torch)


def _dtype_rows(device: str, new_tokens: int, repeats: int) -> list[tuple[str, str, str]]:
    """Decode tok/s of each dtype through `load_chat_model(...).generate`, ÷ fp32 and ÷ llama.cpp.

    The dtypes take turns within each repeat, so load from other processes hits all of them.
    """
    from coassist.errors import InvalidSetting
    from coassist.llm import GenerationSettings, load_chat_model
    from coassist.llm.device import resolve_device, resolve_quantization

    settings = GenerationSettings(max_new_tokens=new_tokens, temperature=0.0)
    resolved = resolve_device(device)
    models, rows = {}, []
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
    for dtype, measured in rates.items():
        rate = statistics.median(measured)
        versus_llama = f", {rate / llama_rate:.2f}x llama.cpp" if llama_rate else ""
        rows.append((f"decode: {dtype} ({resolved}, load_chat_model)", f"{rate:.1f} tok/s", f"{rate / fp32:.2f}x fp32{versus_llama}"))
    if llama_rate is None:
        rows.append(("decode: llama.cpp (same GGUF, 2 threads)", "skipped", "llama-cpp-python is not installed (needs a C compiler)"))
    else:
        rows.append(("decode: llama.cpp (same GGUF, 2 threads)", f"{llama_rate:.1f} tok/s", "1.00x llama.cpp"))
    return rows


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
    """Tokens/s and time to first token of one `%%assist` cell, counted by the streamer itself."""
    from IPython.utils.capture import capture_output

    from coassist.llm import local
    from coassist.notebook import streaming

    first: list[float] = []
    counted: list[int] = []
    original_append, original_flush = streaming.StreamingDisplay.append, local._Rows.flush

    def timed_append(self, piece: str) -> None:
        if not first:
            first.append(time.perf_counter())
        original_append(self, piece)

    def counting_flush(self, final: bool) -> None:
        if final:  # the streamed answer's last piece
            counted.append(len(self.token_ids[0]))
        original_flush(self, final)

    streaming.StreamingDisplay.append = timed_append
    local._Rows.flush = counting_flush
    try:
        started = time.perf_counter()
        with capture_output():
            shell.run_cell_magic("assist", "--no-history", PROMPT)
        elapsed = time.perf_counter() - started
    finally:
        streaming.StreamingDisplay.append = original_append
        local._Rows.flush = original_flush
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


def _print_table(rows: list[tuple[str, str, str]], torch) -> None:
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
